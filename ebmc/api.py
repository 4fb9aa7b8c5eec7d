"""The Python API: compile and load model files (`ebmc.parse` is the front end's)."""

from __future__ import annotations

import builtins
import os
import types
from dataclasses import dataclass, field

import networkx as nx

from .errors import EbmcError
from .frontend.check import check_module
from .frontend.parser import parse_text, read_source
from .passes.energy import EnergyAnalysis, analyse
from .passes.network import NetworkAnalysis, analyse_network
from .plugins import registry


@dataclass
class Compiled:
    """The result of `compile`: the generated module's text and the graphs behind it."""

    source: str
    graphs: dict[str, nx.DiGraph] = field(default_factory=dict)
    models: list = field(default_factory=list)


def compile(path_or_source, *, backend: str = "numpy", **dims) -> Compiled:  # noqa: A001
    """Parse, check, analyse and generate code.

    `.source` is the generated module's text; `.graphs` maps "<model>.<graph>" to the
    DAGs it was generated from (and the bare graph name too when the file holds one model).
    """
    from . import __version__

    filename, text = read_source(path_or_source)
    backends = registry().backends
    if backend not in backends:
        raise EbmcError(f"unknown backend '{backend}'; available: {', '.join(sorted(backends))}")
    with _pointing_into(filename, text):
        analyses = _analyse(text, dims)
        source = backends[backend].generate(analyses, os.path.basename(filename), __version__)
    graphs = {}
    for a in analyses:
        for key, g in a.graphs.items():
            graphs[f"{a.model.name}.{key}"] = g
            if len(analyses) == 1:
                graphs[key] = g
    return Compiled(source, graphs, [a.model for a in analyses])


def analyse_file(path_or_source, **dims) -> list[EnergyAnalysis | NetworkAnalysis]:
    """Parse, check and analyse every model of a file: what `compile` does before generating code."""
    filename, text = read_source(path_or_source)
    with _pointing_into(filename, text):
        return _analyse(text, dims)


def _analyse(text: str, dims: dict) -> list[EnergyAnalysis | NetworkAnalysis]:
    """Each model analysed by the pass of its kind: an energy model's groups, or a network's graphs."""
    models = check_module(parse_text(text), dims)
    if not models:
        raise EbmcError("the file holds no 'model NAME { ... }' block: nothing to compile")
    return [analyse(m) if m.is_energy_model else analyse_network(m) for m in models]


class _pointing_into:
    """Fill in the file name and text of any EbmcError raised inside the block."""

    def __init__(self, filename: str, text: str):
        self.filename, self.text = filename, text

    def __enter__(self):
        return self

    def __exit__(self, kind, err, tb):
        if isinstance(err, EbmcError):
            err.with_context(self.filename, self.text)
        return False


def load(path_or_source, **dims) -> types.ModuleType:
    """Compile and import: returns the generated module (classes and MODELS)."""
    compiled = compile(path_or_source, **dims)
    name = "ebmc_generated_" + "_".join(m.name for m in compiled.models)
    module = types.ModuleType(name)
    module.__file__ = f"<ebmc:{name}>"
    exec(builtins.compile(compiled.source, module.__file__, "exec"), module.__dict__)
    return module
