"""The syntax tree of a `.ebm` file: frozen dataclasses, each with the span it came from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True)
class Span:
    """1-based line and column of the first character, and of one past the last."""

    line: int
    column: int
    end_line: int
    end_column: int

    @property
    def length(self) -> int:
        return self.end_column - self.column if self.end_line == self.line else 1


# ---------------------------------------------------------------- expressions
@dataclass(frozen=True)
class Num:
    value: float
    span: Span


@dataclass(frozen=True)
class Name:
    id: str
    span: Span


@dataclass(frozen=True)
class Unary:
    op: str  # "-"
    operand: Expr
    span: Span


@dataclass(frozen=True)
class BinOp:
    op: str  # "+", "-", "*", "/", "**", "@"
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True)
class Transpose:
    operand: Expr
    span: Span


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple[Expr, ...]
    span: Span
    func_span: Span


Expr = Union[Num, Name, Unary, BinOp, Transpose, Call]


# ---------------------------------------------------------------- statements
@dataclass(frozen=True)
class ShapeDim:
    """One entry of a shape: an INT or the name of a dim."""

    value: int | str
    span: Span


@dataclass(frozen=True)
class Dim:
    name: str
    value: int
    span: Span
    name_span: Span


@dataclass(frozen=True)
class Units:
    role: str  # "visible" | "hidden"
    name: str
    shape: tuple[ShapeDim, ...]
    type: str
    span: Span
    name_span: Span
    type_span: Span


@dataclass(frozen=True)
class Data:
    role: str  # "input" | "target"
    name: str
    shape: tuple[ShapeDim, ...]
    type: str | None
    span: Span
    name_span: Span
    type_span: Span | None


@dataclass(frozen=True)
class Init:
    """`= NUMBER` is kind "const" with args (NUMBER,); `~ normal(0, 0.01)` is ("normal", (0, 0.01))."""

    kind: str
    args: tuple[float, ...]
    span: Span


@dataclass(frozen=True)
class Param:
    name: str
    shape: tuple[ShapeDim, ...]
    init: Init | None
    attrs: tuple[tuple[str, Span], ...]
    span: Span
    name_span: Span


@dataclass(frozen=True)
class Layer:
    kind: str  # "layer" | "output"
    name: str
    expr: Expr
    span: Span
    name_span: Span


@dataclass(frozen=True)
class Energy:
    expr: Expr
    span: Span


@dataclass(frozen=True)
class Loss:
    expr: Expr
    span: Span


@dataclass(frozen=True)
class TrainOption:
    key: str
    value: float | int | str
    span: Span


@dataclass(frozen=True)
class Train:
    name: str
    options: tuple[TrainOption, ...]
    span: Span
    name_span: Span


Statement = Union[Dim, Units, Data, Param, Layer, Energy, Loss, Train]


@dataclass(frozen=True)
class Model:
    name: str
    body: tuple[Statement, ...]
    span: Span
    name_span: Span


@dataclass(frozen=True)
class Module:
    models: tuple[Model, ...]
