"""Unit types: what a group of random variables can take, and its conditional given a field.

A unit type is a plugin (entry point group `ebmc.units`): everything the compiler and the
generated code need to know about one kind of unit, so that no pass or backend compares
unit-type names.

Given the rest of the model, the energy of a group X that the analysis
(`passes/energy.py`) finds conditionally independent is, unit by unit,

    E = E0 - sum_j f_j x_j + sum_j p_j x_j^2 / 2

with the field f = -dE/dX at X = 0 and the precision p = d^2E/dX^2 (zero for an energy
affine in X), both free of X. So each unit is independent of the others given the rest,

    p(x_j | rest) proportional to exp(f_j x_j - p_j x_j^2 / 2)

over the unit's values (a sum for discrete units, an integral for gaussian ones). `form` says
what the energy must be in a group of the type: "affine" (p = 0) or "quadratic" (p > 0).
`mean(b, f, p)` and `log_partition(b, f, p)` build, with the graph builder b, the graph of
E[x_j | rest] and of sum_j log sum_x exp(f_j x - p_j x^2 / 2) (what summing the group out
adds to -F); p is None for an affine group. `sample` names the family of distributions a
backend draws from ("bernoulli" and "spin" from the mean, "values" from the field and
precision, "gaussian" from the mean and precision, "categorical" from the probabilities of a
one-hot unit along the last axis). `values` are the states of one unit (for enumeration and
for chains' random starts); a `onehot` type's unit is the whole last axis of its group, and
its states are the K one-hot vectors.

The rest is what the generated code needs to check data and to describe the units in its
docstrings: `support` (the interval the values of data and of means lie in), `refuse` (value
sets that are the wrong encoding, with the fix), and the words. Hints are format strings that
may use {top} and {bottom}, the largest and smallest value found, and {half}, half of {top}.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class UnitType:
    name: str
    values: tuple[float, ...]  # the values one unit takes (for exact enumeration); () for continuous units
    mean: Callable  # (builder, field, precision or None) -> node of E[x | rest]
    log_partition: Callable  # (builder, field, precision or None) -> scalar node: sum_j log sum_x exp(...)
    sample: str  # the family a backend draws from: "bernoulli", "spin", "values", "gaussian", "categorical"
    doc: str
    form: str = "affine"  # what the energy must be in a group of this type: "affine" or "quadratic"
    onehot: bool = False  # a unit is the last axis of the group, one-hot (softmax units)
    support: tuple[float, float] = (0.0, 1.0)  # data and means lie in [low, high]
    support_words: str = ""  # "bernoulli units take values in [0, 1] (...)"
    above_hint: str = ""  # how to fix data above the support
    below_hint: str = ""  # how to fix data below it
    refuse: tuple = ()  # (values, why): data made only of these values (one of them the first) is refused
    values_text: str = ""  # "{0, 1}"
    mean_words: str = ""  # what E[x | rest] is: "a probability"
    conditional_text: str = ""  # "p({x} = 1 | {given}) = sigmoid({field})"; may use {precision}

    @property
    def discrete(self) -> bool:
        """Whether the states of a unit can be enumerated."""
        return bool(self.values)

    def states(self, size: int) -> int:
        """How many states one unit has, in a group whose last axis has `size` entries."""
        return size if self.onehot else len(self.values)


def _minus_half(b, field, precision):
    """f - p / 2: for a unit in {0, 1}, x^2 = x, so the precision shifts the field."""
    return field if precision is None else b.add("sub", field, b.add("mul", b.const(0.5), precision))


def _bernoulli_mean(b, field, precision=None):
    return b.add("sigmoid", _minus_half(b, field, precision))


def _bernoulli_log_partition(b, field, precision=None):
    return b.add("sum", b.add("softplus", _minus_half(b, field, precision)))


def _spin_mean(b, field, precision=None):  # x^2 = 1: the precision only shifts the energy
    return b.add("tanh", field)


def _spin_log_partition(b, field, precision=None):
    # log(exp(f - p/2) + exp(-f - p/2)) = softplus(2f) - f - p/2
    two_f = b.add("mul", b.const(2.0), field)
    out = b.add("sub", b.add("softplus", two_f), field)
    if precision is not None:
        out = b.add("sub", out, b.add("mul", b.const(0.5), precision))
    return b.add("sum", out)


def _gaussian_mean(b, field, precision):
    return b.add("div", field, precision)


def _gaussian_log_partition(b, field, precision):
    # log integral of exp(f x - p x^2 / 2) dx = f^2 / (2 p) + log(2 pi) / 2 - log(p) / 2
    quadratic = b.add("div", b.add("mul", b.const(0.5), b.add("square", field)), precision)
    scale = b.add("mul", b.const(0.5), b.add("sub", b.const(math.log(2 * math.pi)), b.add("log", precision)))
    return b.add("sum", b.add("add", quadratic, scale))


def _softmax_mean(b, field, precision=None):
    return b.add("softmax", field)


def _softmax_log_partition(b, field, precision=None):
    return b.add("sum", b.add("logsumexp_last", field))


def discrete(name: str, values, doc: str = "", **words) -> UnitType:
    """A unit type whose units take a few numbers, e.g. discrete("ternary", (-1, 0, 1)): its mean,
    log-partition and sampler are those of any distribution over `values` given a field."""
    states = tuple(float(v) for v in values)
    if len(states) < 2 or len(set(states)) != len(states):
        raise ValueError(f"unit type {name!r}: needs at least two different values, got {values!r}")

    def precision_or_zero(b, precision):
        return b.const(0.0) if precision is None else precision

    def mean(b, field, precision=None):
        return b.add("values_moment", field, precision_or_zero(b, precision), values=states, k=1)

    def log_partition(b, field, precision=None):
        return b.add("sum", b.add("values_moment", field, precision_or_zero(b, precision), values=states, k=0))

    text = "{" + ", ".join(f"{v:g}" for v in states) + "}"
    defaults = {
        "support": (min(states), max(states)),
        "support_words": f"{name} units take values in [{min(states):g}, {max(states):g}]",
        "above_hint": f"map the data onto the values {text}",
        "below_hint": f"map the data onto the values {text}",
        "values_text": text,
        "mean_words": "a mean",
        "conditional_text": "E[{x} | {given}] over the values "
        + text.replace("{", "{{").replace("}", "}}")
        + " with weights exp({field} * s)",
    }
    defaults.update(words)
    return UnitType(name, states, mean, log_partition, "values", doc or f"values {text}", **defaults)


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
GAUSSIAN = UnitType(
    "gaussian",
    (),
    _gaussian_mean,
    _gaussian_log_partition,
    "gaussian",
    "real values; given the rest, normal with mean f / p and variance 1 / p, from E's quadratic",
    form="quadratic",
    support=(-math.inf, math.inf),
    support_words="gaussian units take real values",
    values_text="the real numbers",
    mean_words="a mean",
    conditional_text="{x} | {given} ~ N(mean, 1 / precision) with mean = field / precision, field = {field}, "
    "precision = {precision}",
)
SOFTMAX = UnitType(
    "softmax",
    (0.0, 1.0),
    _softmax_mean,
    _softmax_log_partition,
    "categorical",
    "one-hot along the last axis; p(x = e_k | rest) = softmax(-dE/dx)_k",
    onehot=True,
    support=(0.0, 1.0),
    support_words="softmax units are one-hot along the last axis (or probabilities summing to 1 there)",
    above_hint="one-hot encode the data along the last axis",
    below_hint="one-hot encode the data along the last axis",
    values_text="the one-hot vectors of the last axis",
    mean_words="one probability per category",
    conditional_text="p({x} = e_k | {given}) = softmax({field})_k along the last axis",
)
