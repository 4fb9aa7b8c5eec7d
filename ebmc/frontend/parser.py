"""Source text -> syntax tree (`ebmc.frontend.ast`), with syntax errors written for people.

The grammar is `grammar/ebm.lark`, parsed LALR(1) with Lark's contextual lexer.
The AST is built while parsing (Lark calls `_ToAst` on every reduction), so no
parse tree is kept and nothing here recurses: 10,000 nested parentheses cost a
deep parser stack, not a deep Python stack. Expressions nested more than
`MAX_DEPTH` levels are refused on the spot, so every later pass may recurse freely.

When Lark stops, `_syntax_error` replays the parse to learn the tokens before the
error (open brackets, the statement being written) and what the parser would
have accepted, and turns that into a sentence: "expected ']' to close the '['
at 3:14", "unknown statement 'visibel'; did you mean 'visible'?".
"""

from __future__ import annotations

import errno
import os
import re
import stat
import sys
from copy import copy
from dataclasses import dataclass
from importlib.resources import files

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ..errors import EbmcError, did_you_mean, printable
from . import ast

MAX_DEPTH = 100  # levels of operators, brackets and calls inside one another
MAX_FILE_BYTES = 10_000_000  # a model file larger than this is refused unread (docs/cli.md)
_MAX_WHOLE_DIGITS = len(str(int(sys.float_info.max)))  # 309: no whole number with more digits fits a float

# terminal name -> its text, for keywords and punctuation
KEYWORDS = {w.upper(): w for w in "model dim visible hidden input target param layer output energy loss train".split()}
STATEMENTS = tuple(t for t in KEYWORDS if t != "MODEL")  # terminals that start a statement
PUNCTUATION = {
    "LBRACE": "{",
    "RBRACE": "}",
    "LSQB": "[",
    "RSQB": "]",
    "LPAR": "(",
    "RPAR": ")",
    "COMMA": ",",
    "COLON": ":",
    "EQUAL": "=",
    "TILDE": "~",
    "PLUS": "+",
    "MINUS": "-",
    "POW": "**",
    "STAR": "*",
    "SLASH": "/",
    "AT": "@",
    "DOT_T": ".T",
}
OPENERS = {"LPAR": "RPAR", "LSQB": "RSQB", "LBRACE": "RBRACE"}
CLOSERS = {v: k for k, v in OPENERS.items()}
OPERATORS = {"PLUS", "MINUS", "STAR", "SLASH", "AT", "POW", "DOT_T"}
INITS = ("normal", "uniform", "glorot", "he")

_PARSER: Lark | None = None


def _parser() -> Lark:
    """The Lark parser, built on first use (about 40 ms) and kept for the process."""
    global _PARSER
    if _PARSER is None:
        grammar = files("ebmc.grammar").joinpath("ebm.lark").read_text(encoding="utf-8")
        # No propagate_positions: the callbacks build AST nodes, not Lark trees, and take
        # their spans from the tokens themselves.
        _PARSER = Lark(grammar, parser="lalr", lexer="contextual", transformer=_ToAst(), maybe_placeholders=False)
    return _PARSER


# ---------------------------------------------------------------- reading a file
def read_source(path_or_source) -> tuple[str, str]:
    """(filename, text) of a path or of source text.

    A `str` holding a newline or a `{` is the source itself (filename "<string>");
    any other `str` or an `os.PathLike` names a file, read as UTF-8. The file must be
    a regular file of at most `MAX_FILE_BYTES`: a device, a FIFO or a directory is
    refused without waiting on it. The filename returned is for messages: bytes of the
    name that are not UTF-8 are shown as U+FFFD, so it can always be printed.
    """
    if isinstance(path_or_source, bytes):
        return "<string>", decode(path_or_source)
    if isinstance(path_or_source, str) and ("\n" in path_or_source or "{" in path_or_source):
        return "<string>", _clean(path_or_source)
    if not isinstance(path_or_source, (str, os.PathLike)):
        raise TypeError(f"expected a path or the text of a model, got {type(path_or_source).__name__}")
    path = os.fspath(path_or_source)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    filename = printable(path)
    try:
        data = _read_file(path)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name
        reason = getattr(exc, "strerror", None) or str(exc)
        raise EbmcError(f"cannot read '{filename}': {reason}", filename=filename, source="") from None
    try:
        return filename, decode(data)
    except EbmcError as err:
        raise err.with_context(filename, None) from None


def _read_file(path: str) -> bytes:
    """The bytes of a regular file of at most MAX_FILE_BYTES; OSError with the reason otherwise."""
    # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below, unread
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    with open(fd, "rb") as f:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        if not stat.S_ISREG(mode):
            raise OSError(f"it is {file_kind(mode)}, not a regular file")
        data = f.read(MAX_FILE_BYTES + 1)  # a bounded read: the size fstat reports may be wrong or grow
    if len(data) > MAX_FILE_BYTES:
        raise OSError(f"the file is larger than {MAX_FILE_BYTES // 1_000_000} MB, the limit for a model file")
    return data


def file_kind(mode: int) -> str:
    """What a file of this `st_mode` is, in words: 'a regular file', 'a FIFO', ..."""
    kinds = (
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((words for test, words in kinds if test(mode)), "not a regular file")


def decode(data: bytes) -> str:
    """UTF-8 bytes -> text with '\\n' line ends; an error at the first bad byte or control character."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = _normalize_newlines(data[: exc.start].decode("utf-8"))
        line, column = _position(before, len(before))
        shown = _normalize_newlines(data.decode("utf-8", errors="replace"))
        raise EbmcError(
            f"the file is not valid UTF-8: byte 0x{data[exc.start]:02x}", line, column, source=shown
        ) from None
    return _clean(text)


def _normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


# control characters (tab and line feed aside) and the characters other than
# '\n' that Python's str.splitlines would count as line breaks
_BAD_CHARACTER = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def _clean(text: str) -> str:
    text = _normalize_newlines(text)
    if text.startswith("\ufeff"):  # a byte-order mark is allowed and dropped
        text = text[1:]
    bad = _BAD_CHARACTER.search(text)
    if bad:
        line, column = _position(text, bad.start())
        raise EbmcError(
            f"the file contains the control character U+{ord(bad.group()):04X}; "
            "only tabs and line breaks may appear besides printable text",
            line,
            column,
            source=text,
        )
    return text


def _position(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of text[index]."""
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


# ---------------------------------------------------------------- parsing
def parse_text(text: str) -> ast.Module:
    """The syntax tree of a model file's text (already decoded by `read_source`/`decode`)."""
    text = _clean(text)
    try:
        return _parser().parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(text, exc) from None


def _span(tok: Token) -> ast.Span:
    return ast.Span(tok.line, tok.column, tok.end_line, tok.end_column)


def _join(first: ast.Span, last: ast.Span) -> ast.Span:
    return ast.Span(first.line, first.column, last.end_line, last.end_column)


def _error(message: str, span: ast.Span) -> EbmcError:
    return EbmcError(message, span.line, span.column, length=span.length)


def _shown(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class _E:
    """An expression while parsing: the node, how deeply it nests, its span with parentheses."""

    node: ast.Expr
    depth: int
    span: ast.Span


@dataclass(frozen=True)
class _Number:
    text: str  # as written, with the sign
    value: int | float  # int when written as a whole number
    span: ast.Span


@dataclass(frozen=True)
class _Shape:
    dims: tuple[ast.ShapeDim, ...]
    span: ast.Span


def _number(tok: Token, negative: bool = False, first: Token | None = None) -> _Number:
    """A number as written; one beyond the range of a float (about 1.8e308) is an error, whole or not."""
    text = ("-" if negative else "") + tok.value
    span = _join(_span(first), _span(tok)) if first is not None else _span(tok)
    if tok.value.isdigit():  # only ASCII digits get here: NUMBER is [0-9], not \d
        # A whole number must fit a float too (expressions, inits and options read numbers as floats).
        # The digits are counted first: turning a long run of them into an int takes quadratic time.
        value: int | float | None = int(text) if len(tok.value.lstrip("0")) <= _MAX_WHOLE_DIGITS else None
        fits = value is not None and abs(value) <= sys.float_info.max
    else:
        value = float(text)
        fits = value not in (float("inf"), float("-inf"))
    if not fits:
        raise _error(f"the number '{_shown(text)}' is too large", span)
    return _Number(text, value, span)


def _whole(num: _Number, what: str) -> int:
    if not isinstance(num.value, int):
        raise _error(f"{what} must be a whole number, got {num.text}", num.span)
    return num.value


def _tokens(children, kind: str) -> list[Token]:
    return [c for c in children if isinstance(c, Token) and c.type == kind]


def _end(child) -> ast.Span:
    """The span of a child of a statement, whatever it is."""
    return _span(child) if isinstance(child, Token) else child.span


class _ToAst(Transformer):
    """Lark callbacks, one per grammar rule: children (tokens and built values) -> AST."""

    # -- expressions
    def _nest(self, node, depth: int, span: ast.Span) -> _E:
        if depth > MAX_DEPTH:
            raise _error(
                f"this expression is nested too deeply (more than {MAX_DEPTH} levels of operators, "
                "brackets and calls inside one another); split it up with 'layer' statements",
                span,
            )
        return _E(node, depth, span)

    def number(self, children):
        (tok,) = children
        num = _number(tok)
        return _E(ast.Num(float(num.value), num.span), 0, num.span)

    def name(self, children):
        (tok,) = children
        span = _span(tok)
        return _E(ast.Name(tok.value, span), 0, span)

    def group(self, children):
        lpar, inner, rpar = children
        return self._nest(inner.node, inner.depth + 1, _join(_span(lpar), _span(rpar)))

    def neg(self, children):
        minus, operand = children
        span = _join(_span(minus), operand.span)
        return self._nest(ast.Unary("-", operand.node, span), operand.depth + 1, span)

    def binop(self, children):
        left, op, right = children
        span = _join(left.span, right.span)
        node = ast.BinOp(op.value, left.node, right.node, span)
        return self._nest(node, max(left.depth, right.depth) + 1, span)

    def transpose(self, children):
        operand, dot_t = children
        span = _join(operand.span, _span(dot_t))
        return self._nest(ast.Transpose(operand.node, span), operand.depth + 1, span)

    def call(self, children):
        func, args, rpar = children[0], children[2:-1], children[-1]
        args = args[0] if args else []
        span = _join(_span(func), _span(rpar))
        node = ast.Call(func.value, tuple(a.node for a in args), span, _span(func))
        return self._nest(node, max((a.depth for a in args), default=0) + 1, span)

    def args(self, children):
        return [c for c in children if isinstance(c, _E)]

    # -- pieces of statements
    def signed(self, children):
        if len(children) == 2:
            return _number(children[1], negative=True, first=children[0])
        return _number(children[0])

    def numbers(self, children):
        return [c for c in children if isinstance(c, _Number)]

    def shape_dim(self, children):
        (tok,) = children
        if tok.type == "NAME":
            return ast.ShapeDim(tok.value, _span(tok))
        num = _number(tok)
        return ast.ShapeDim(_whole(num, "a size in a shape"), num.span)

    def shape(self, children):
        dims = tuple(c for c in children if isinstance(c, ast.ShapeDim))
        return _Shape(dims, _join(_span(children[0]), _span(children[-1])))

    def const_init(self, children):
        num = children[1]
        return ast.Init("const", (float(num.value),), num.span)

    def named_init(self, children):
        name = children[1]
        numbers = next((c for c in children if isinstance(c, list)), [])
        return ast.Init(name.value, tuple(float(n.value) for n in numbers), _join(_span(name), _end(children[-1])))

    def attrs(self, children):
        return tuple((t.value, _span(t)) for t in _tokens(children, "NAME"))

    def option(self, children):
        key, value = children[0], children[2]
        if isinstance(value, Token):
            return ast.TrainOption(key.value, value.value, _join(_span(key), _span(value)))
        return ast.TrainOption(key.value, value.value, _join(_span(key), value.span))

    def options(self, children):
        return [c for c in children if isinstance(c, ast.TrainOption)]

    # -- statements
    def dim(self, children):
        kw, name, _, num = children
        value = _whole(num, f"the size of dim '{name.value}'")
        if value <= 0:
            raise _error(f"the size of dim '{name.value}' must be positive, got {num.text}", num.span)
        return ast.Dim(name.value, value, _join(_span(kw), num.span), _span(name))

    def units(self, children):
        kw, name, rest = children[0], children[1], children[2:]
        shape = rest[0].dims if isinstance(rest[0], _Shape) else ()
        type_tok = rest[-1]
        return ast.Units(
            kw.value, name.value, shape, type_tok.value, _join(_span(kw), _span(type_tok)), _span(name), _span(type_tok)
        )

    def data(self, children):
        kw, name, rest = children[0], children[1], children[2:]
        shape = rest[0].dims if rest and isinstance(rest[0], _Shape) else ()
        type_tok = rest[-1] if rest and isinstance(rest[-1], Token) and rest[-1].type == "NAME" else None
        return ast.Data(
            kw.value,
            name.value,
            shape,
            type_tok.value if type_tok else None,
            _join(_span(kw), _end(children[-1])),
            _span(name),
            _span(type_tok) if type_tok else None,
        )

    def param(self, children):
        kw, name, rest = children[0], children[1], children[2:]
        shape = next((c.dims for c in rest if isinstance(c, _Shape)), ())
        init = next((c for c in rest if isinstance(c, ast.Init)), None)
        attrs = next((c for c in rest if isinstance(c, tuple)), ())
        end = attrs[-1][1] if attrs else _end(children[-1])
        return ast.Param(name.value, shape, init, attrs, _join(_span(kw), end), _span(name))

    def layer(self, children):
        kw, name, _, expr = children
        return ast.Layer(kw.value, name.value, expr.node, _join(_span(kw), expr.span), _span(name))

    def energy(self, children):
        kw, _, expr = children
        return ast.Energy(expr.node, _join(_span(kw), expr.span))

    def loss(self, children):
        kw, _, expr = children
        return ast.Loss(expr.node, _join(_span(kw), expr.span))

    def train(self, children):
        kw, name = children[0], children[1]
        options = next((c for c in children if isinstance(c, list)), [])
        return ast.Train(name.value, tuple(options), _join(_span(kw), _end(children[-1])), _span(name))

    def model(self, children):
        kw, name, body = children[0], children[1], children[3:-1]
        return ast.Model(name.value, tuple(body), _join(_span(kw), _span(children[-1])), _span(name))

    def start(self, children):
        return ast.Module(tuple(children))


# ---------------------------------------------------------------- syntax errors
def _syntax_error(text: str, exc: UnexpectedInput) -> EbmcError:
    if isinstance(exc, UnexpectedCharacters):
        return _bad_character(text, exc.pos_in_stream)
    return _Replay(text).error(exc)


def _bad_character(text: str, index: int) -> EbmcError:
    line, column = _position(text, index)
    ch = text[index]
    shown = f"'{ch}'" if ch.isprintable() and not ch.isspace() else f"U+{ord(ch):04X}"
    message = f"unexpected character {shown}"
    word = re.match(r"\.([A-Za-z_]\w*)", text[index:])
    if ch in "\"'":
        message += "; the language has no strings"
    elif ch == ";":
        message += "; statements need no ';' (each begins with its keyword)"
    elif word:
        shown = _shown(word.group())
        message = f"unexpected '{shown}'; the only attribute is '.T' (the transpose)"
    elif not ch.isascii() and ch.isnumeric():  # '٣', '２', '²': digits of other scripts
        message += "; numbers are written with the digits 0-9 only"
    elif not ch.isascii() and ch.isalnum():
        message += "; names use only the letters A-Z and a-z, the digits 0-9 and '_'"
    return EbmcError(message, line, column)


def _text(tok: Token) -> str:
    """What a token looks like in the file, for a message."""
    if tok.type == "$END":
        return "the end of the file"
    return _shown(tok.value)


class _Replay:
    """The parse replayed up to a syntax error, to say what went wrong in words."""

    def __init__(self, text: str):
        self.text = text
        self.tokens: list[Token] = []  # every token before the error
        # The contextual lexer reads a keyword as a name where a name fits, so in
        # `energy =` followed by `train cd` on the next line, 'train' is taken for a
        # name and the parse fails only at 'cd'. A keyword inside a statement means
        # that statement was left unfinished: the error is reported there, with the
        # parser state saved just before it.
        self.restart: tuple[int, object] | None = None

    def _run(self):
        ip = _parser().parse_interactive(self.text)
        # replay without building the AST: the first parse built it up to here without complaint
        ip.parser_state.parse_conf = copy(ip.parser_state.parse_conf)
        ip.parser_state.parse_conf.callbacks = {}
        tokens = self.tokens
        in_statement = False
        try:
            for tok in ip.iter_parse():
                if tok.type in STATEMENTS:
                    in_statement, self.restart = True, None
                elif tok.type in ("MODEL", "LBRACE", "RBRACE"):
                    in_statement, self.restart = False, None
                elif in_statement and self.restart is None and tok.type == "NAME" and tok.value in KEYWORDS.values():
                    self.restart = (len(tokens), ip.copy(deepcopy_values=False))
                tokens.append(tok)
            ip.feed_eof(tokens[-1] if tokens else None)
        except UnexpectedToken as exc:
            if tokens and tokens[-1] is exc.token:
                tokens.pop()
            return exc.token, exc.interactive_parser or ip
        except UnexpectedEOF:
            return Token("$END", ""), ip
        return None, ip  # the replay parsed: cannot happen

    def error(self, original: UnexpectedInput) -> EbmcError:
        bad, ip = self._run()
        if bad is None:
            return EbmcError("syntax error", getattr(original, "line", None), getattr(original, "column", None))
        if self.restart is not None:
            index, ip = self.restart
            bad = self.tokens[index]
            del self.tokens[index:]
            return self._unfinished(bad, ip.accepts())
        return self._describe(bad, ip.accepts())

    # -- the context of the error
    def _open_brackets(self) -> list[Token]:
        stack: list[Token] = []
        for tok in self.tokens:
            if tok.type in OPENERS:
                stack.append(tok)
            elif tok.type in CLOSERS and stack and stack[-1].type == CLOSERS[tok.type]:
                stack.pop()
        return stack

    def _statement(self) -> list[Token]:
        """The tokens of the statement being written, from its keyword; [] between statements."""
        for i in range(len(self.tokens) - 1, -1, -1):
            kind = self.tokens[i].type
            if kind in STATEMENTS or kind == "MODEL":
                return self.tokens[i:]
            if kind in ("LBRACE", "RBRACE"):  # only models have braces
                return []
        return []

    def _model_name(self, brace: Token) -> str:
        i = next(i for i, t in enumerate(self.tokens) if t is brace)
        return self.tokens[i - 1].value

    # -- where the caret goes
    def _at(self, bad: Token, message: str) -> EbmcError:
        """At the offending token (after the last token when the file ended)."""
        if bad.type == "$END":
            prev = self.tokens[-1] if self.tokens else None
            return EbmcError(message, prev.end_line, prev.end_column) if prev else EbmcError(message, 1, 1)
        return EbmcError(message, bad.line, bad.column, length=len(bad.value))

    def _after(self, bad: Token, message: str) -> EbmcError:
        """For 'expected X after Y': at the offending token when it is on Y's line, else just after Y."""
        prev = self.tokens[-1]
        if bad.type != "$END" and bad.line == prev.end_line:
            return self._at(bad, message)
        return EbmcError(message, prev.end_line, prev.end_column)

    # -- the message
    def _unfinished(self, bad: Token, accepts: set) -> EbmcError:
        statement = self._statement()
        brackets = self._open_brackets()
        inner = brackets[-1] if brackets else None
        if inner is not None and inner.type in ("LPAR", "LSQB") and OPENERS[inner.type] in accepts:
            closer = PUNCTUATION[OPENERS[inner.type]]
            return self._after(bad, f"expected '{closer}' to close the '{inner.value}' at {inner.line}:{inner.column}")
        return self._after(bad, f"expected {self._expected(accepts, statement)} after '{self._subject(statement)}'")

    def _describe(self, bad: Token, accepts: set) -> EbmcError:
        brackets = self._open_brackets()
        inner = brackets[-1] if brackets else None
        statement = self._statement()
        prev = self.tokens[-1] if self.tokens else None

        # a ')' or ']' or '}' with nothing open to close
        if bad.type in CLOSERS and not any(t.type == CLOSERS[bad.type] for t in brackets):
            return self._at(bad, f"'{bad.value}' has no matching '{PUNCTUATION[CLOSERS[bad.type]]}'")

        # inside ( ) or [ ]: the bracket is not closed where it should be
        if inner is not None and inner.type in ("LPAR", "LSQB") and OPENERS[inner.type] in accepts:
            if not ({"NAME", "NUMBER"} & accepts):
                closer = PUNCTUATION[OPENERS[inner.type]]
                return self._after(
                    bad, f"expected '{closer}' to close the '{inner.value}' at {inner.line}:{inner.column}"
                )

        # between the statements of a model
        if inner is not None and inner.type == "LBRACE" and "RBRACE" in accepts:
            model = f"model '{self._model_name(inner)}' (opened at {inner.line}:{inner.column})"
            if bad.type == "$END":
                return self._at(bad, f"missing '}}' to close {model}")
            if bad.type == "MODEL":
                return self._at(bad, f"missing '}}' to close {model} before the next model")
            starts_statement = not statement or bad.line > prev.end_line  # on a line of its own
            if bad.type == "NAME" and starts_statement:
                words = [KEYWORDS[t] for t in STATEMENTS]
                return self._at(bad, f"unknown statement '{_shown(bad.value)}'{did_you_mean(bad.value, words)}")
            if starts_statement:
                return self._at(
                    bad,
                    f"expected a statement ({', '.join(KEYWORDS[t] for t in STATEMENTS)}) "
                    f"or '}}', found '{_text(bad)}'",
                )

        # outside any model
        if not brackets and not statement:
            if bad.type in STATEMENTS:
                return self._at(bad, f"'{bad.value}' must be inside a model: model NAME {{ ... }}")
            hint = did_you_mean(bad.value, ["model"]) if bad.type == "NAME" else ""
            return self._at(bad, f"expected a model (model NAME {{ ... }}), found '{_text(bad)}'{hint}")

        return self._after(bad, f"expected {self._expected(accepts, statement)} after '{self._subject(statement)}'")

    def _subject(self, statement: list[Token]) -> str:
        """What the message says the expected thing comes after: the last token, or a declaration so far."""
        prev = self.tokens[-1]
        if len(statement) >= 2 and statement[0].type != "MODEL" and statement[1].type == "NAME":
            rest = [t.type for t in statement[2:]]
            if not rest or (rest[0] == "LSQB" and rest[-1] == "RSQB" and rest.count("RSQB") == 1):
                first = statement[1]
                if first.line == prev.end_line:
                    return _shown(self.text[first.start_pos : prev.end_pos], 60)
        return _text(prev)

    def _expected(self, accepts: set, statement: list[Token]) -> str:
        """What the parser would have accepted, in words."""
        acc = set(accepts) - {"$END"}
        prev = self.tokens[-1]
        kind = statement[0].type if statement else None
        brackets = self._open_brackets()
        in_shape = bool(brackets) and brackets[-1].type == "LSQB"
        in_options = kind == "TRAIN" and any(t.type == "LPAR" for t in statement)
        parts = []
        if {"NAME", "NUMBER", "LPAR"} <= acc and not in_shape:
            parts.append("an expression")
            acc -= {"NAME", "NUMBER", "LPAR", "MINUS"}
        if acc & (OPERATORS - {"MINUS"}):
            parts.append("an operator")
            acc -= OPERATORS
            if prev.type == "NAME":
                acc.discard("LPAR")  # a call
        if in_options and prev.type == "EQUAL":
            parts.append("a number")
            acc -= {"NAME", "NUMBER", "MINUS"}
        if in_shape and {"NAME", "NUMBER"} <= acc:
            parts.append("a size (a whole number or the name of a dim)")
            acc -= {"NAME", "NUMBER"}
        if "NAME" in acc:
            acc.discard("NAME")
            if prev.type == "MODEL":
                parts.append("the name of the model")
            elif prev.type == "TRAIN":
                parts.append("the name of a trainer")
            elif prev.type in STATEMENTS:
                parts.append("a name")
            elif prev.type == "TILDE":
                parts.append("an init (" + " or ".join([", ".join(INITS[:-1]), INITS[-1]]) + ")")
            elif in_options:
                parts.append("the name of an option")
            elif kind == "VISIBLE" or kind == "HIDDEN":
                parts.append("a unit type")
            elif kind in ("INPUT", "TARGET"):
                parts.append("a data type")
            elif kind == "PARAM":
                parts.append("an attribute")
            else:
                parts.append("a name")
        if "NUMBER" in acc:
            acc -= {"NUMBER", "MINUS"}
            parts.append("a whole number" if kind == "DIM" else "a number")
        for term, after in (
            (
                "EQUAL",
                {
                    "DIM": "a size",
                    "PARAM": "a number",
                    "LAYER": "an expression",
                    "OUTPUT": "an expression",
                    "ENERGY": "an expression",
                    "LOSS": "an expression",
                    "TRAIN": "a value",
                },
            ),
            ("TILDE", {"PARAM": "an init"}),
            (
                "COLON",
                {
                    "VISIBLE": "a unit type",
                    "HIDDEN": "a unit type",
                    "INPUT": "a data type",
                    "TARGET": "a data type",
                    "PARAM": "attributes",
                },
            ),
            ("LSQB", {}),
            ("LPAR", {"TRAIN": "options"}),
        ):
            if term in acc:
                acc.discard(term)
                what = after.get(kind)
                if term == "LSQB":
                    parts.append("a shape '[...]'")
                else:
                    sign = PUNCTUATION[term]
                    parts.append(f"'{sign}' and {what}" if what else f"'{sign}'")
        if acc & set(STATEMENTS) or "RBRACE" in acc and not statement:
            acc -= set(STATEMENTS) | {"RBRACE"}
            parts.append("the next statement")
        for term in sorted(acc, key=lambda t: list(PUNCTUATION).index(t) if t in PUNCTUATION else 99):
            word = PUNCTUATION.get(term) or KEYWORDS.get(term)
            if word is not None:
                parts.append(f"'{word}'")
        if not parts:
            return "something else"
        return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]
