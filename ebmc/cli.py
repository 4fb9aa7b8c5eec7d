"""The command line: `ebmc compile`, `ebmc plugins`. Argument parsing and printing only."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from .errors import EbmcError


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
    c.add_argument("--dim", action="append", type=_dim, default=[], metavar="NAME=INT",
                   help="override a dim of the file (repeatable)")
    c.add_argument("--backend", default="numpy", help="code generator (default: numpy)")
    sub.add_parser("plugins", help="list unit types, functions, trainers and backends, and where each comes from")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "compile":
            return _compile(args)
        return _plugins()
    except EbmcError as err:
        print(err.render(), file=sys.stderr)
        return 1


def _compile(args) -> int:
    from .api import compile as compile_model

    dims = dict(args.dim)
    compiled = compile_model(Path(args.file), backend=args.backend, **dims)
    out = Path(args.output) if args.output else Path(args.file).with_suffix(".py")
    if out.resolve() == Path(args.file).resolve():
        raise EbmcError(f"the output {out} would overwrite the model file; choose another with -o")
    # write to a temporary file first, so a failure never leaves a partial module behind
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".ebmc-", suffix=".py", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(compiled.source)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    print(out)
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
