"""Unit types: what a group of random variables can take, and its conditional given a field.

A group X that the energy makes conditionally independent has the energy
E = E0 - sum_j f_j x_j with the field f = -dE/dX free of X, so each unit is
independent given the others:

    p(x_j | rest) = exp(f_j x_j) / sum_{x in values} exp(f_j x)

`mean` and `log_partition` build, from the field node, the graph of E[x_j | rest]
and of sum_j log sum_x exp(f_j x) (what summing the group out adds to -F).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class UnitType:
    name: str
    values: tuple[float, ...]  # the values one unit takes (for exact enumeration)
    mean: Callable  # (builder, field) -> node of E[x | field]
    log_partition: Callable  # (builder, field) -> scalar node: sum_j log sum_x exp(field_j * x)
    sample: str  # how a draw is made from the mean: "bernoulli" or "spin"
    doc: str


def _bernoulli_mean(b, field):
    return b.add("sigmoid", field)


def _bernoulli_log_partition(b, field):
    return b.add("sum", b.add("softplus", field))


def _spin_mean(b, field):
    return b.add("tanh", field)


def _spin_log_partition(b, field):
    # log(exp(f) + exp(-f)) = softplus(2f) - f
    two_f = b.add("mul", b.const(2.0), field)
    return b.add("sum", b.add("sub", b.add("softplus", two_f), field))


BERNOULLI = UnitType(
    "bernoulli",
    (0.0, 1.0),
    _bernoulli_mean,
    _bernoulli_log_partition,
    "bernoulli",
    "values {0, 1}; p(x = 1 | rest) = sigmoid(-dE/dx)",
)
SPIN = UnitType(
    "spin",
    (-1.0, 1.0),
    _spin_mean,
    _spin_log_partition,
    "spin",
    "values {-1, +1}; E[x | rest] = tanh(-dE/dx)",
)
