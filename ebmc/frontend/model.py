"""A checked model: what `ebmc.parse` returns and what lowering reads.

Shapes appear twice: `dims` keeps the names written in the file (so the generated
class can be built with other sizes), `shape` has them resolved to ints.
Expressions are the checker's: `dense(...)` is already rewritten into
`ACT(x @ NAME_W + NAME_b)`, every name refers to a declared variable.
"""

from __future__ import annotations

from dataclasses import dataclass

from .ast import Expr, Init, Span

SymShape = tuple  # tuple[int | str, ...]: ints and dim names


@dataclass(frozen=True)
class Variable:
    """A unit group, a data array or a layer value.

    role: "visible", "hidden", "input", "target", "layer" or "output".
    type: the unit type ("bernoulli", "spin", "gaussian", "softmax") for units,
    the data type ("real", "binary", "onehot") for data, "real" for layers.
    """

    name: str
    role: str
    dims: SymShape
    shape: tuple[int, ...]
    type: str
    span: Span


@dataclass(frozen=True)
class Parameter:
    """A learned tensor. attrs is a subset of {"symmetric", "zero_diagonal", "fixed"}."""

    name: str
    dims: SymShape
    shape: tuple[int, ...]
    init: Init
    attrs: frozenset[str]
    span: Span


@dataclass(frozen=True)
class LayerDef:
    name: str
    kind: str  # "layer" | "output"
    expr: Expr
    dims: SymShape
    shape: tuple[int, ...]
    span: Span


@dataclass(frozen=True)
class TrainSpec:
    name: str
    options: dict
    span: Span


@dataclass(frozen=True)
class CheckedModel:
    name: str
    dims: dict[str, int]
    variables: dict[str, Variable]  # units and data, in file order
    params: dict[str, Parameter]  # declared and dense-generated, in file order
    layers: tuple[LayerDef, ...]  # in file order (each refers only to earlier names)
    energy: Expr | None
    loss: Expr | None
    train: TrainSpec | None
    span: Span

    @property
    def units(self) -> dict[str, Variable]:
        """The random variables of an energy model: visible and hidden groups."""
        return {k: v for k, v in self.variables.items() if v.role in ("visible", "hidden")}

    @property
    def visible(self) -> dict[str, Variable]:
        return {k: v for k, v in self.variables.items() if v.role == "visible"}

    @property
    def hidden(self) -> dict[str, Variable]:
        return {k: v for k, v in self.variables.items() if v.role == "hidden"}

    @property
    def inputs(self) -> dict[str, Variable]:
        return {k: v for k, v in self.variables.items() if v.role == "input"}

    @property
    def targets(self) -> dict[str, Variable]:
        return {k: v for k, v in self.variables.items() if v.role == "target"}

    @property
    def is_energy_model(self) -> bool:
        return self.energy is not None

    def shape_of(self, name: str) -> tuple[int, ...]:
        """Resolved shape of a variable, param or layer."""
        if name in self.params:
            return self.params[name].shape
        if name in self.variables:
            return self.variables[name].shape
        for layer in self.layers:
            if layer.name == name:
                return layer.shape
        raise KeyError(name)


def resolve(dims: SymShape, values: dict[str, int]) -> tuple[int, ...]:
    """Symbolic shape -> ints."""
    return tuple(d if isinstance(d, int) else values[d] for d in dims)
