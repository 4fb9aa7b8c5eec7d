"""What the tests that drive generated modules share: model sources, a strict way to call a
method, and the state a refused call must leave as it was.

A call of a generated method has three outcomes that a test accepts or refuses:
    returned   (its numbers must then all be finite),
    refused    (a ValueError or TypeError: the module said no, and changed nothing),
    broken     (any other exception, or a warning: numpy's RuntimeWarnings are errors here).
"""

from __future__ import annotations

import gc
import sys
import warnings
from dataclasses import dataclass
from numbers import Number

import numpy as np
from conftest import EXAMPLES

RBM = (EXAMPLES / "rbm.ebm").read_text()
SPIN = RBM.replace(": bernoulli", ": spin").replace("model rbm", "model spin_rbm")
TWO = """model two {
    dim n = 3
    visible v1[n] : bernoulli
    visible v2[2] : bernoulli
    hidden h[4] : bernoulli
    param W1[n, 4] ~ normal(0, 0.1)
    param W2[2, 4] ~ normal(0, 0.1)
    param b[4] = 0
    energy = -(v1 @ W1 @ h) - v2 @ W2 @ h - b @ h
}
"""
SCALAR = """model m {
    visible v[3] : bernoulli
    hidden h : bernoulli
    param W[3] ~ normal(0, 0.5)
    energy = -(h * sum(W * v))
}
"""
# one group of each kind of unit and shape, a fixed and a scaled coupling, and persistent chains
MIXED = """model mixed {
    dim n = 3
    dim m = 2
    visible s[n] : spin
    visible g : bernoulli
    hidden h[m] : bernoulli
    hidden z[2, m] : spin
    param W[n, m] ~ normal(0, 0.3)
    param U[2, m, n] ~ uniform(-0.5, 0.5) : fixed
    param c[n] = 0.5
    param t ~ normal(0, 1)
    param q[m]
    energy = -(c @ s) - exp(t) * (s @ W @ h) - sum(z * (U @ s)) - g * (q @ h) + 0.5 * t ** 2
    train pcd(k=2, lr=0.01, batch=4, epochs=3, momentum=0.5, weight_decay=0.001)
}
"""
LAYERED = """model layered {
    dim n = 4
    visible v[n] : bernoulli
    hidden h[3] : spin
    param W[n, 3] ~ glorot
    param b[3]
    param a[n] ~ he
    param s = 1
    layer pre = v @ W + b
    layer scaled = pre * sigmoid(s) - b / 2
    energy = -(scaled @ h) - a @ v + 0.1 * sum(square(W))
    train cd(k=1, lr=0.1, batch=8, epochs=2)
}
"""
SQUARE = """model sym {
    dim n = 3
    visible v[n] : spin
    hidden h[n] : bernoulli
    param J[n, n] ~ normal(0, 1) : symmetric, zero_diagonal
    param b[n]
    energy = -(v @ J @ h) - b @ h
    train cd
}
"""


@dataclass
class Outcome:
    """What a strict call gave: `value` when it returned, `error` when it raised, and whether the
    error is one a generated module may raise (ValueError or TypeError)."""

    value: object = None
    error: BaseException | None = None

    @property
    def returned(self) -> bool:
        return self.error is None

    @property
    def refused(self) -> bool:
        return isinstance(self.error, (ValueError, TypeError)) and not isinstance(self.error, Warning)


class IgnoredInDestructor(Exception):
    """An exception that Python could only print, raised while the call ran: a ResourceWarning of a
    file left open, say, which a destructor raised when the warning filter made it an error."""


def strict_call(fn, /, *args, **kwargs) -> Outcome:
    """fn(*args, **kwargs) with every warning turned into an exception."""
    return _strict(fn, args, kwargs, collect=False)


def strict_file_call(fn, /, *args, **kwargs) -> Outcome:
    """strict_call, then a garbage collection: a file the call left open is a failure too."""
    return _strict(fn, args, kwargs, collect=True)


def _strict(fn, args, kwargs, collect: bool) -> Outcome:
    ignored = []
    hook, sys.unraisablehook = sys.unraisablehook, ignored.append
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                out = Outcome(value=fn(*args, **kwargs))
            except Exception as exc:  # noqa: BLE001 - every kind is sorted out by the caller
                out = Outcome(error=exc)
            if collect:
                if out.error is not None:
                    out.error.__context__ = None  # the error it replaced holds the frames, and their files
                gc.collect()
    finally:
        sys.unraisablehook = hook
    if ignored:
        first = ignored[0]
        return Outcome(error=IgnoredInDestructor(f"{type(first.exc_value).__name__}: {first.exc_value}"))
    return out


def non_finite(value, where: str = "result") -> str | None:
    """Where a number in value (arrays, numbers, dicts, lists and tuples of them) is NaN,
    infinite or complex, or None when every number is a finite real one."""
    if isinstance(value, dict):
        for key, item in value.items():
            found = non_finite(item, f"{where}[{key!r}]")
            if found:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found = non_finite(item, f"{where}[{i}]")
            if found:
                return found
        return None
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufc" or isinstance(value, (Number, np.generic)):
        array = np.asarray(value)
        if array.dtype.kind == "c":
            return f"{where} is complex: {array.ravel()[:3]!r}"
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            index = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
            return f"{where} holds {array[index]!r} at {index}" if index else f"{where} is {array!r}"
    return None


def snapshot(model) -> tuple:
    """The model's state: its params (values and identities), dims and random state."""
    return (
        {k: v.copy() for k, v in model.params.items()},
        {k: id(v) for k, v in model.params.items()},
        dict(model.dims),
        model.rng.bit_generator.state,
    )


def changes(model, before: tuple) -> str | None:
    """What differs in the model from the snapshot `before`, or None when nothing does."""
    params, ids, dims, state = before
    if model.dims != dims:
        return f"dims changed from {dims} to {model.dims}"
    if {k: id(v) for k, v in model.params.items()} != ids:
        return "params were replaced"
    for k, v in params.items():
        if not np.array_equal(model.params[k], v, equal_nan=True):
            return f"param {k} changed"
    if model.rng.bit_generator.state != state:
        return "the random state advanced"
    return None


# the unit types beyond the two binary ones, coupled groups and conditions, as bases to mutate (no
# division: an edit of a number could make a divisor 0, and the model's own energy infinite)
GRBM = (EXAMPLES / "grbm.ebm").read_text()
BM = (EXAMPLES / "bm.ebm").read_text()
SOFTMAX = """model srbm {
    dim items = 3
    dim k = 3
    visible r[items, k] : softmax
    hidden h[2] : bernoulli
    param W[items, k, 2] ~ normal(0, 0.5)
    param a[items, k] ~ normal(0, 0.5)
    param b[2] = 0
    energy = -sum(a * r) - (b @ h) - sum(r * (W @ h))
    train cd(k=1, lr=0.05, batch=10, epochs=2)
}
"""
CONDITIONAL = """model crbm {
    dim n = 3
    dim c = 2
    visible v[n] : gaussian
    hidden h[2] : spin
    input x[c]
    param W[n, 2] ~ normal(0, 0.5)
    param A[c, n] ~ normal(0, 0.5)
    param B[c, 2] ~ normal(0, 0.5)
    param s[n] = 0
    energy = 0.5 * sum(square(v - x @ A) * exp(s)) - v @ W @ h - x @ B @ h
    train pcd(k=1, lr=0.01, batch=10, epochs=2)
}
"""
