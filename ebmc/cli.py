"""The command line: `ebmc compile`, `render`, `check`, `derive`, `plugins`, `--version`. No compiler logic."""

from __future__ import annotations

import argparse
import os
import re
import secrets
import stat
import sys
from pathlib import Path

from . import __version__
from .backends.graphviz import FORMATS, GRAPHS, RenderError
from .errors import EbmcError, printable
from .frontend.parser import file_kind, read_source

STDOUT = "-"  # `-o -`: write to standard output


class OutputError(Exception):
    """An output that ebmc refuses to write (exit 1, printed as `ebmc COMMAND: error: ...`)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors exit with 2, as argparse does, with a hint
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _dim(text: str) -> tuple[str, int]:
    # ASCII only, as in a model file: int() alone would take ' 8', '1_0' and other scripts' digits ('٣')
    match = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)=(-?[0-9]+)", text)
    try:
        return match.group(1), int(match.group(2))
    except (AttributeError, ValueError):  # no match, or more digits than int() converts
        raise argparse.ArgumentTypeError(f"expected NAME=INT (digits 0-9), got {text!r}") from None


def _output(text: str) -> str:
    if not text:
        raise argparse.ArgumentTypeError(f"expected a file name, or {STDOUT} for standard output, got ''")
    return text


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ebmc", description="Compile energy-based models to numpy modules.")
    p.add_argument("--version", action="version", version=f"ebmc {__version__}", help="print the version and exit")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    c = sub.add_parser("compile", help="write the generated Python module of a model file")
    c.add_argument("file", metavar="FILE")
    c.add_argument(
        "-o",
        "--output",
        type=_output,
        metavar="OUT",
        help="where to write, - for standard output (default: FILE with .py)",
    )
    c.add_argument(
        "--dim",
        action="append",
        type=_dim,
        default=[],
        metavar="NAME=INT",
        help="override a dim of the file (repeatable)",
    )
    c.add_argument("--backend", default="numpy", help="code generator (default: numpy)")
    r = sub.add_parser("render", help="draw a computation graph of a model file (svg, png or DOT)")
    r.add_argument("file", metavar="FILE")
    r.add_argument(
        "-o",
        "--output",
        type=_output,
        metavar="OUT",
        help="where to write, - for standard output (default: FILE with .GRAPH.FORMAT for its suffix)",
    )
    r.add_argument(
        "--graph",
        choices=GRAPHS,
        default=None,
        help="which graph: the energy, its gradients dE/dtheta, the free energy F(v), a "
        "network's loss, or the chain rule of the loss (energy) with every adjoint and local "
        "partial (default: the energy, a network's loss)",
    )
    r.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="svg, png or the DOT text (default: from OUT's suffix, else svg)",
    )
    k = sub.add_parser("check", help="compare autodiff, symbolic and numerical gradients of every param")
    k.add_argument("file", metavar="FILE")
    d = sub.add_parser("derive", help="print the energy, conditionals, free energy and gradients as formulas")
    d.add_argument("file", metavar="FILE")
    d.add_argument("--latex", action="store_true", help="write the formulas in LaTeX")
    sub.add_parser(
        "plugins", help="list unit types, functions, trainers, backends and rewrite rules, and where each comes from"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    commands = {"compile": _compile, "render": _render, "check": _check, "derive": _derive}
    try:
        if args.command in commands:
            return commands[args.command](args)
        return _plugins()
    except EbmcError as err:
        if err.filename is None and getattr(args, "file", None) is not None:
            err.with_context(*_source(args.file))  # an error found after parsing points into the file too
        print(err.render(), file=sys.stderr)
        return 1
    except BrokenPipeError:  # `ebmc compile m.ebm -o - | head`: the reader has gone; stop quietly
        _silence_stdout()
        return 1
    except (RenderError, OutputError, OSError) as err:
        # an OSError names a path as the OS gave it, perhaps with bytes that are not UTF-8
        print(printable(f"ebmc {args.command}: error: {err}"), file=sys.stderr)
        return 1


def _source(path: str) -> tuple[str, str | None]:
    try:
        return read_source(path)
    except EbmcError:
        return printable(path), None


def _compile(args) -> int:
    from .api import compile as compile_model

    compiled = compile_model(Path(args.file), backend=args.backend, **dict(args.dim))
    _emit(args, compiled.source.encode("utf-8"), ".py")
    return 0


def _render(args) -> int:
    from .api import analyse_file
    from .backends.graphviz import draw

    fmt = args.format
    if fmt is None:  # from OUT's suffix when it names a format, else svg
        suffix = Path(args.output).suffix.lower().lstrip(".") if args.output not in (None, STDOUT) else ""
        fmt = {"gv": "dot"}.get(suffix, suffix) if suffix in (*FORMATS, "gv") else "svg"
    analyses = analyse_file(Path(args.file))
    which = args.graph or ("energy" if all(a.model.energy is not None for a in analyses) else "loss")
    _emit(args, draw(analyses, which, fmt), f".{which}.{fmt}")
    return 0


# ---------------------------------------------------------------- writing the output
def _emit(args, data: bytes, default_suffix: str) -> None:
    """Write `data` to `-o OUT` (default: FILE with `default_suffix`) and print its path, or to stdout for `-o -`."""
    if args.output == STDOUT:
        _write_stdout(data)
        return
    out = Path(args.output) if args.output is not None else Path(args.file).with_suffix(default_suffix)
    _write(out, data, args.file)
    _write_stdout(os.fsencode(out) + b"\n")  # the name's own bytes, even where they are not UTF-8


def _check_output(out: Path, model_file: str) -> None:
    """Refuse to replace anything but a regular file (a device, FIFO, symlink or directory), or the model file."""
    try:
        mode = os.lstat(out).st_mode
    except FileNotFoundError:
        return  # a new name
    if not stat.S_ISREG(mode):
        raise OutputError(
            f"the output '{out}' is {file_kind(mode)}; ebmc writes a new file or replaces a regular file, "
            "nothing else: choose another with -o"
        )
    if _same_file(out, model_file):
        raise OutputError(f"the output '{out}' would overwrite the model file; choose another with -o")


def _same_file(a, b) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # b is gone: nothing of it to overwrite
        return False


def _write(out: Path, data: bytes, model_file: str) -> None:
    """Write `data` to `out` atomically: into a new file beside it, then renamed over it.

    A failure never leaves a partial output or the temporary file behind. The new file gets
    the permissions the umask gives any new file (0644 under umask 022), as the kernel sets them.
    """
    _check_output(out, model_file)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_beside(out)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # the data is on disk before the name points at it
        _check_output(out, model_file)  # again, just before: something may have appeared there while writing
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _create_beside(out: Path) -> tuple[int, Path]:
    """A new empty file in out's directory, opened for writing, with mode 0666 less the umask.

    Not tempfile.mkstemp: it makes files 0600, and the output keeps the temporary file's mode.
    O_EXCL: a name that exists, even as a symlink, is never opened.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = out.with_name(f".ebmc-{secrets.token_hex(6)}{out.suffix}")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free name for a temporary file in '{out.parent}'")


def _write_stdout(data: bytes) -> None:
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # a text-only stream put in place of stdout (tests, embedding)
        sys.stdout.write(printable(data.decode("utf-8", "surrogateescape")))
        return
    buffer.write(data)
    buffer.flush()


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush does not fail again on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


# ---------------------------------------------------------------- the other commands
def _check(args) -> int:
    from .api import analyse_file
    from .derive import check

    report = check(analyse_file(Path(args.file)))
    print(report.table())
    print(report.summary(), file=sys.stdout if report.ok else sys.stderr)
    return 0 if report.ok else 1


def _derive(args) -> int:
    from .api import analyse_file
    from .derive import derive

    print(derive(analyse_file(Path(args.file)), latex=args.latex))
    return 0


LANGUAGE = "ebmc: the language"  # where the language's own functions come from
DENSE = ("dense", "ACT(x @ NAME_W + NAME_b), in layer NAME = dense(x, N, ACT)")


def _plugins() -> int:
    """What a model file can use (each entry works from one), where it comes from, and what it is."""
    from .ir.lower import language_functions
    from .ir.ops import FUNCTIONS
    from .plugins import registry

    reg = registry()

    def rows(kind: str, table: dict) -> list[tuple[str, str, str]]:
        return [(name, reg.origins.get((kind, name), ""), getattr(table[name], "doc", "")) for name in sorted(table)]

    # the functions a model may call: the language's own, and plugins' one-argument elementwise ops
    # (a built-in op such as `sign` or `batch_sum` is an internal step and is not listed)
    functions = [
        (name, LANGUAGE if name in FUNCTIONS else reg.origins.get(("ops", name), ""), fn.doc)
        for name, fn in language_functions().items()
    ]
    functions = sorted([*functions, (DENSE[0], LANGUAGE, DENSE[1])])
    sections = [
        ("unit types", rows("units", reg.units)),
        ("functions", functions),
        ("trainers", rows("trainers", reg.trainers)),
        ("backends", rows("backends", reg.backends)),
        ("rewrites", [(name, reg.origins.get(("rewrites", name), ""), r.doc) for name, r in reg.rewrites.items()]),
    ]
    for title, table in sections:
        print(f"{title}:")
        width = max((len(origin) for _, origin, _ in table), default=0)
        for name, origin, doc in table:
            print(f"  {name:22s} {origin:{width}s}  {doc}".rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
