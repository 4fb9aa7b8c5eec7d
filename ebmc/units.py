"""Unit types: what a group of random variables can take, and its conditional given a field.

A group X that the energy makes conditionally independent has the energy
E = E0 - sum_j f_j x_j with the field f = -dE/dX free of X, so each unit is
independent given the others:

    p(x_j | rest) = exp(f_j x_j) / sum_{x in values} exp(f_j x)

`mean` and `log_partition` build, from the field node, the graph of E[x_j | rest]
and of sum_j log sum_x exp(f_j x) (what summing the group out adds to -F).

The rest is what the generated code needs to check data and to describe the units
in its docstrings: `support` (the interval the values of data and of means lie in),
`refuse` (value sets that are the wrong encoding, with the fix), and the words.
Hints are format strings that may use {top} and {bottom}, the largest and smallest
value found, and {half}, half of {top}.
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
    support: tuple[float, float] = (0.0, 1.0)  # data and means lie in [low, high]
    support_words: str = ""  # "bernoulli units take values in [0, 1] (...)"
    above_hint: str = ""  # how to fix data above the support
    below_hint: str = ""  # how to fix data below it
    refuse: tuple = ()  # (values, why): data made only of these values (one of them the first) is refused
    values_text: str = ""  # "{0, 1}"
    mean_words: str = ""  # what E[x | rest] is: "a probability"
    conditional_text: str = ""  # "p({x} = 1 | {given}) = sigmoid({field})"


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
    support=(0.0, 1.0),
    support_words="bernoulli units take values in [0, 1] (0/1 data, or probabilities)",
    above_hint="scale or binarise the data, e.g. data / {top:g} or data > {half:g}",
    below_hint="for -1/+1 data declare the units spin, or map the data with (data + 1) / 2",
    values_text="{0, 1}",
    mean_words="a probability",
    conditional_text="p({x} = 1 | {given}) = sigmoid({field})",
)
SPIN = UnitType(
    "spin",
    (-1.0, 1.0),
    _spin_mean,
    _spin_log_partition,
    "spin",
    "values {-1, +1}; E[x | rest] = tanh(-dE/dx)",
    support=(-1.0, 1.0),
    support_words="spin units take values in [-1, 1] (-1/+1 data, or means)",
    above_hint="scale the data into [-1, 1], e.g. 2 * data / {top:g} - 1",
    below_hint="scale the data into [-1, 1]",
    refuse=(
        (0.0, 1.0),
        "the data hold only 0 and 1, but spin units take -1 and +1: map the data with 2 * data - 1, "
        "or declare the units bernoulli",
    ),
    values_text="{-1, +1}",
    mean_words="a mean in [-1, 1]",
    conditional_text="E[{x} | {given}] = tanh({field})",
)
