"""The Python API: parse, compile and load model files."""

from __future__ import annotations

import importlib.util
import os
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx

from .errors import EbmcError
from .frontend.check import parse
from .passes.energy import analyse
from .plugins import registry


@dataclass
class Compiled:
    """The result of `compile`: the generated module's text and the graphs behind it."""

    source: str
    graphs: dict[str, nx.DiGraph] = field(default_factory=dict)
    models: list = field(default_factory=list)


def compile(path_or_source, *, backend: str = "numpy", **dims) -> Compiled:  # noqa: A001
    """Parse, check, analyse and generate code. `.graphs` maps "<model>.<graph>" to DAGs
    (and the bare graph name too when the file holds one model)."""
    from . import __version__

    models = parse(path_or_source, **dims)
    filename, text = _input(path_or_source)
    backends = registry().backends
    if backend not in backends:
        raise EbmcError(f"unknown backend '{backend}'; available: {', '.join(sorted(backends))}")
    analyses = []
    for m in models:
        if m.energy is None:
            raise EbmcError(
                f"model '{m.name}' has a loss: networks are not supported by this version of the "
                "numpy backend", m.span.line, m.span.column, length=m.span.length,
            )
        try:
            analyses.append(analyse(m))
        except EbmcError as err:
            raise err.with_context(filename, text) from None
    try:
        source = backends[backend].generate(analyses, os.path.basename(filename), __version__)
    except EbmcError as err:
        raise err.with_context(filename, text) from None
    graphs = {}
    for a in analyses:
        for key, g in a.graphs.items():
            graphs[f"{a.model.name}.{key}"] = g
            if len(analyses) == 1:
                graphs[key] = g
    return Compiled(source, graphs, models)


def _input(path_or_source) -> tuple[str, str | None]:
    """The file name errors should show, and the text (read as parse reads it)."""
    if isinstance(path_or_source, str) and ("\n" in path_or_source or "{" in path_or_source):
        return "<string>", path_or_source
    path = os.fspath(path_or_source)
    try:
        return path, Path(path).read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return path, None


def load(path_or_source, **dims) -> types.ModuleType:
    """Compile and import: returns the generated module (classes and MODELS)."""
    compiled = compile(path_or_source, **dims)
    name = "ebmc_generated_" + "_".join(m.name for m in compiled.models)
    module = types.ModuleType(name)
    module.__file__ = f"<ebmc:{name}>"
    exec(builtins_compile(compiled.source, module.__file__, "exec"), module.__dict__)
    return module


builtins_compile = __builtins__["compile"] if isinstance(__builtins__, dict) else __builtins__.compile


def import_file(path: str | Path) -> types.ModuleType:
    """Import a generated module from its file."""
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module
