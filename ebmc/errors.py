"""Errors in a model file, rendered the way a person wants to read them.

model.ebm:3:14: error: unknown name 'W2'; did you mean 'W'?
    energy = -(a @ v) - v @ W2 @ h
                             ^~
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable


class EbmcError(Exception):
    """An error in a model file, with the place it points at (1-based line and column)."""

    def __init__(
        self,
        message: str,
        line: int | None = None,
        column: int | None = None,
        *,
        filename: str | None = None,
        source: str | None = None,
        length: int = 1,
        notes: tuple[str, ...] = (),
    ):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.filename = filename
        self.source = source
        self.length = max(1, length)
        self.notes = tuple(notes)

    def with_context(self, filename: str | None, source: str | None) -> EbmcError:
        """Fill in the file name and text where they are still unknown; returns self."""
        if self.filename is None:
            self.filename = filename
        if self.source is None:
            self.source = source
        return self

    def render(self) -> str:
        """`FILE:LINE:COL: error: MESSAGE`, then the source line and a caret under the place."""
        where = self.filename or "<string>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        out = [f"{where}: error: {self.message}"]
        text = self._source_line()
        if text is not None and self.column is not None:
            shown = text.expandtabs(1).rstrip("\n")
            if len(shown) > 200:  # keep a huge line readable: a window around the column
                start = max(0, self.column - 100)
                shown = shown[start : start + 200]
                col = self.column - start
            else:
                col = self.column
            col = max(1, min(col, len(shown) + 1))
            length = max(1, min(self.length, len(shown) - col + 1))
            out.append("    " + shown)
            out.append("    " + " " * (col - 1) + "^" + "~" * (length - 1))
        out.extend(f"note: {n}" for n in self.notes)
        return "\n".join(out)

    def _source_line(self) -> str | None:
        if self.source is None or self.line is None:
            return None
        lines = self.source.splitlines()
        if 1 <= self.line <= len(lines):
            return "".join(ch if ch.isprintable() or ch == "\t" else "?" for ch in lines[self.line - 1])
        return None

    def __str__(self) -> str:
        return self.render()


_SURROGATE = re.compile("[\ud800-\udfff]")


def printable(text: str) -> str:
    """`text` with every lone surrogate shown as U+FFFD, so that it can be printed and encoded as UTF-8.

    `os.fsdecode` turns each byte of a file name that is not UTF-8 into a lone surrogate
    (b"m\\xff.ebm" -> "m\\udcff.ebm"), which no UTF-8 stream accepts.
    """
    return _SURROGATE.sub("\ufffd", text)


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """'; did you mean 'x'?' for the closest candidate, or '' when none is close."""
    close = difflib.get_close_matches(word, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""
