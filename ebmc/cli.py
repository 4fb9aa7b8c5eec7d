"""The command line: `ebmc compile`, `render`, `check`, `derive`, `plugins`. Argument parsing and printing only."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from .backends.graphviz import FORMATS, GRAPHS, RenderError
from .errors import EbmcError
from .frontend.parser import read_source


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors exit with 2, as argparse does, with a hint
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _dim(text: str) -> tuple[str, int]:
    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=INT, got {text!r}")
    try:
        return name, int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=INT, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ebmc", description="Compile energy-based models to numpy modules.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    c = sub.add_parser("compile", help="write the generated Python module of a model file")
    c.add_argument("file", metavar="FILE")
    c.add_argument("-o", "--output", metavar="OUT", help="where to write (default: FILE with .py)")
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
        metavar="OUT",
        help="where to write, - for standard output (default: FILE with .GRAPH.FORMAT for its suffix)",
    )
    r.add_argument(
        "--graph",
        choices=GRAPHS,
        default="energy",
        help="which graph: the energy, its gradients dE/dtheta, the free energy F(v), or a "
        "network's loss (default: energy)",
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
    sub.add_parser("plugins", help="list unit types, functions, trainers and backends, and where each comes from")
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
    except (RenderError, OSError) as err:
        print(f"ebmc {args.command}: error: {err}", file=sys.stderr)
        return 1


def _source(path: str) -> tuple[str, str | None]:
    try:
        return read_source(path)
    except EbmcError:
        return path, None


def _compile(args) -> int:
    from .api import compile as compile_model

    dims = dict(args.dim)
    compiled = compile_model(Path(args.file), backend=args.backend, **dims)
    out = Path(args.output) if args.output else Path(args.file).with_suffix(".py")
    _write(out, compiled.source.encode("utf-8"), args.file)
    print(out)
    return 0


def _write(out: Path, data: bytes, model_file: str) -> None:
    """Write `data` to `out` through a temporary file, so a failure never leaves a partial file behind."""
    if out.resolve() == Path(model_file).resolve():
        raise EbmcError(f"the output {out} would overwrite the model file; choose another with -o")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".ebmc-", suffix=out.suffix, dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _render(args) -> int:
    from .api import analyse_file
    from .backends.graphviz import draw

    out = Path(args.output) if args.output else None
    fmt = args.format
    if fmt is None:  # from OUT's suffix when it names a format, else svg
        suffix = out.suffix.lower().lstrip(".") if out is not None else ""
        fmt = {"gv": "dot"}.get(suffix, suffix) if suffix in (*FORMATS, "gv") else "svg"
    if out is None:
        out = Path(args.file).with_suffix(f".{args.graph}.{fmt}")
    data = draw(analyse_file(Path(args.file)), args.graph, fmt)
    if args.output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return 0
    _write(out, data, args.file)
    print(out)
    return 0


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


def _plugins() -> int:
    from .ir.ops import FUNCTIONS
    from .plugins import registry

    reg = registry()
    sections = [
        ("unit types", "units", reg.units),
        ("trainers", "trainers", reg.trainers),
        ("backends", "backends", reg.backends),
        ("ops", "ops", reg.ops),
    ]
    for title, kind, table in sections:
        print(f"{title}:")
        for name in sorted(table):
            print(f"  {name:22s} {reg.origins.get((kind, name), '')}")
    print("functions:")
    for name in sorted(FUNCTIONS):
        print(f"  {name:22s} {FUNCTIONS[name].doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
