"""The op table: one entry per primitive, what it means, read by every pass.

Each `Op` carries
  shape(in_shapes, attrs)           the per-sample shape rule (raises ShapeError),
  sympy(values, attrs)              the computation on object arrays of sympy expressions,
  vjp(b, out, g, args, needs)       the vector-Jacobian product, built from other ops with the
                                    graph builder `b`; returns one adjoint node (or None) per arg,
  scalar(*floats)                   the value on numbers, for constant folding (None: not folded),

and flags that passes read instead of comparing op names: leaf, named (a
var), value (a constant's number), elementwise, additive, linear_in,
commutative, signs (a signed sum), product, batch (sees the batch axis),
batch_sum (the op that sums this one over the batch), and notation (how
formulas write it). How an op is computed belongs to a backend: the numpy
backend's lowerings are in `ebmc/backends/numpy/lowerings.py`, and an op of a
plugin may bring its own in `lowerings` (backend name -> lowering).

Shapes are tuples of ints and dim names. Elementwise ops broadcast like numpy;
`tensordot` (the language's `@`) contracts the last `n` axes of its first operand
with the first `n` of its second. Composite functions of the language (`mean`,
`mse`, ...) are in `FUNCTIONS` and expand into primitives when lowered.

The batch axis is not part of any shape. Only three entries know about it:
`batch_size` (a leaf), `batch_sum` (sum over the batch) and `batch_tensordot`
(sum over the batch of a `tensordot` of two batched values, one BLAS call).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

Shape = tuple  # tuple[int | str, ...]


class ShapeError(Exception):
    """A shape rule failed; the message is written for the person who wrote the model."""


@dataclass(frozen=True)
class Op:
    name: str
    arity: int
    shape: Callable[[list[Shape], dict], Shape]
    sympy: Callable[[list[np.ndarray], dict], np.ndarray] | None = None
    vjp: Callable | None = None
    elementwise: bool = False
    additive: bool = False  # op(x + y) == op(x) + op(y) in every arg at once (add, sub, neg, ...)
    linear_in: tuple[int, ...] = ()  # args the op is linear in when the others are held fixed
    doc: str = ""
    scalar: Callable[..., float] | None = None  # the value on floats (constant folding); may raise or be inf
    commutative: bool = False  # op(x, y) == op(y, x)
    signs: tuple[float, ...] | None = None  # the op is sum_i signs[i] * args[i] (add, sub, neg)
    product: bool = False  # the op is the product of its operands: k * z scales z
    leaf: bool = False  # no operands: the node stands for a value of its own (a var, a number, a size)
    named: bool = False  # a leaf that is one of the model's names (`name` and `role` on the node)
    value: Callable[[dict], float] | None = None  # a leaf that is a number: the number, from its attrs
    # how the language writes it, where it is an operator: a template over the operands' texts
    # ({0}, {1}) and its binding strength (1 sum, 2 product, 3 minus sign, 4 power); else op(x, ...)
    notation: tuple[str, int] | None = None
    batch: bool = False  # sees the batch axis: a sum over the samples (not batched itself) or their number
    batch_sum: str | None = None  # the op that is the sum over the batch of this one, every operand batched
    # how backends compute it where they have no lowering of their own: backend name -> lowering
    lowerings: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    # what is known of the sign of every entry from the operands': sign_rule(signs, attrs) -> "+" (> 0),
    # "0+" (>= 0), "-", "0-" or None (unknown); None as a rule: nothing is known
    sign_rule: Callable[[list, dict], str | None] | None = None
    # the degree as a polynomial in some variable from the operands' degrees, for an op that is
    # neither additive nor linear in its operands (square doubles it); None: not a polynomial
    degree: Callable[[list, dict], float] | None = None


# ---------------------------------------------------------------- shape rules
def fmt(shape: Shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]" if shape else "scalar"


def broadcast_shapes(*shapes: Shape) -> Shape:
    """numpy broadcasting on symbolic shapes: entries match when equal or one of them is 1."""
    rank = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(rank):
        # in the order the shapes were given, so the message reads like the expression
        ds = list(
            dict.fromkeys(s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0 and s[len(s) - rank + i] != 1)
        )
        if len(ds) > 1:
            raise ShapeError(
                "shapes " + " and ".join(fmt(s) for s in shapes) + " do not broadcast "
                f"(axis {i - rank}: {' vs '.join(str(d) for d in ds)})"
            )
        out.append(ds[0] if ds else 1)
    return tuple(out)


def _same(shapes, attrs):
    return shapes[0]


def _broadcast(shapes, attrs):
    return broadcast_shapes(*shapes)


def _scalar(shapes, attrs):
    return ()


def _tensordot_shape(shapes, attrs):
    a, b = shapes
    n = attrs.get("n", 1)
    if n == 1 and (not a or not b):
        side = "left" if not a else "right"
        raise ShapeError(f"'@' needs an array on both sides, but the {side} side is a scalar (use '*')")
    if len(a) < n or len(b) < n or tuple(a[len(a) - n :]) != tuple(b[:n]):
        raise ShapeError(
            f"'@' contracts the last axis of the left side with the first axis of the right side, "
            f"but {fmt(a)} @ {fmt(b)} pairs {a[-1] if a else '-'} with {b[0] if b else '-'}"
        )
    return tuple(a[: len(a) - n]) + tuple(b[n:])


def _transpose_shape(shapes, attrs):
    (a,) = shapes
    perm = attrs["perm"]
    if sorted(perm) != list(range(len(a))):
        raise ShapeError(f"axes {perm} do not permute a {fmt(a)} value")
    return tuple(a[p] for p in perm)


def _last_axis(shapes, attrs):
    (a,) = shapes
    if not a:
        raise ShapeError("softmax needs at least one axis (it normalises along the last one)")
    return a


def _log_softmax_shape(shapes, attrs):
    (a,) = shapes
    if not a:
        raise ShapeError("log_softmax needs at least one axis (it normalises along the last one)")
    return a


def _sum_last_shape(shapes, attrs):
    (a,) = shapes
    if not a:
        raise ShapeError("sum along the last axis needs at least one axis")
    return tuple(a[:-1]) + (1,)


def _target_shape(shapes, attrs):
    return tuple(attrs["shape"])


def _sum_to_shape(shapes, attrs):
    (a,) = shapes
    target = tuple(attrs["shape"])
    try:
        ok = len(target) <= len(a) and broadcast_shapes(a, target) == tuple(a)
    except ShapeError:
        ok = False
    if not ok:
        raise ShapeError(f"cannot sum a {fmt(a)} value down to {fmt(target)}")
    return target


def _broadcast_to_shape(shapes, attrs):
    (a,) = shapes
    target = tuple(attrs["shape"])
    try:
        ok = len(a) <= len(target) and broadcast_shapes(a, target) == target
    except ShapeError:
        ok = False
    if not ok:
        raise ShapeError(f"cannot broadcast a {fmt(a)} value to {fmt(target)}")
    return target


# ---------------------------------------------------------------- sympy rules
class _LazySympy:
    """sympy, imported on first use: compiling a model should not pay for importing it."""

    def __getattr__(self, name):
        import sympy as real

        return getattr(real, name)


sympy = _LazySympy()


def _lazy(name):
    return lambda *args: getattr(sympy, name)(*args)


def _vec(f):
    fv = np.vectorize(f, otypes=[object])

    def rule(values, attrs):
        return fv(*values)

    return rule


def _sym_number(value: float):
    if math.isinf(value):
        return sympy.oo if value > 0 else -sympy.oo
    if math.isnan(value):
        return sympy.nan
    return sympy.Integer(int(value)) if float(value).is_integer() else sympy.Float(value)


def _sym_const(values, attrs):
    return np.full(attrs["concrete_shape"], _sym_number(attrs["value"]), dtype=object)


def _sym_numel(values, attrs):
    return np.asarray(sympy.Integer(math.prod(attrs["concrete_dims"])), dtype=object)


def _sym_sigmoid(x):
    return 1 / (1 + sympy.exp(-x))


def _sym_softplus(x):
    return sympy.log(1 + sympy.exp(x))


def _sym_tensordot(values, attrs):
    a, b = values
    n = attrs.get("n", 1)
    return np.asarray(np.tensordot(a, b, axes=n), dtype=object)


def _sym_sum(values, attrs):
    return np.asarray(sympy.Add(*np.asarray(values[0]).ravel()), dtype=object)


def _sym_logsumexp(values, attrs):
    return np.asarray(sympy.log(sympy.Add(*[sympy.exp(x) for x in np.asarray(values[0]).ravel()])), dtype=object)


def _sym_softmax(values, attrs):
    x = np.asarray(values[0], dtype=object)
    e = np.vectorize(sympy.exp, otypes=[object])(x)
    return e / e.sum(axis=-1, keepdims=True)


def _sym_log_softmax(values, attrs):
    x = np.asarray(values[0], dtype=object)
    e = np.vectorize(sympy.exp, otypes=[object])(x)
    return x - np.vectorize(sympy.log, otypes=[object])(e.sum(axis=-1, keepdims=True))


def _sym_bce(y, t):
    return -(t * sympy.log(y) + (1 - t) * sympy.log(1 - y))


def _sym_bce_logits(z, t):
    return _sym_softplus(z) - t * z


def _sym_sum_last(values, attrs):
    return np.asarray(values[0], dtype=object).sum(axis=-1, keepdims=True)


def _sym_transpose(values, attrs):
    return np.transpose(np.asarray(values[0], dtype=object), attrs["perm"])


def _sym_sum_to(values, attrs):
    x = np.asarray(values[0], dtype=object)
    target = attrs["concrete_shape"]
    lead = x.ndim - len(target)
    if lead:
        x = x.sum(axis=tuple(range(lead)))
    kept = tuple(i for i, d in enumerate(target) if d == 1 and x.shape[i] != 1)
    return x.sum(axis=kept, keepdims=True) if kept else x


def _sym_broadcast(values, attrs):
    return np.broadcast_to(np.asarray(values[0], dtype=object), attrs["concrete_shape"]).copy()


# ---------------------------------------------------------------- vjp rules
# b is the graph builder; out, g and args are node ids; needs[i] says whether
# args[i] needs an adjoint. Broadcasting is undone by the autodiff pass itself.
def _vjp_neg(b, out, g, args, needs):
    return [b.add("neg", g)]


def _vjp_add(b, out, g, args, needs):
    return [g, g]


def _vjp_sub(b, out, g, args, needs):
    return [g, b.add("neg", g) if needs[1] else None]


def _vjp_mul(b, out, g, args, needs):
    x, y = args
    return [b.add("mul", g, y) if needs[0] else None, b.add("mul", g, x) if needs[1] else None]


def _vjp_div(b, out, g, args, needs):
    x, y = args
    return [
        b.add("div", g, y) if needs[0] else None,
        b.add("neg", b.add("div", b.add("mul", g, out), y)) if needs[1] else None,
    ]


def _vjp_pow(b, out, g, args, needs):
    x, y = args
    dx = dy = None
    if needs[0]:  # y * x ** (y - 1)
        dx = b.add("mul", g, b.add("mul", y, b.add("pow", x, b.add("sub", y, b.const(1.0)))))
    if needs[1]:  # out * log(x)
        dy = b.add("mul", g, b.add("mul", out, b.add("log", x)))
    return [dx, dy]


def _vjp_exp(b, out, g, args, needs):
    return [b.add("mul", g, out)]


def _vjp_log(b, out, g, args, needs):
    return [b.add("div", g, args[0])]


def _vjp_sqrt(b, out, g, args, needs):
    return [b.add("div", g, b.add("mul", b.const(2.0), out))]


def _vjp_abs(b, out, g, args, needs):
    return [b.add("mul", g, b.add("sign", args[0]))]


def _vjp_square(b, out, g, args, needs):
    return [b.add("mul", g, b.add("mul", b.const(2.0), args[0]))]


def _vjp_sigmoid(b, out, g, args, needs):
    return [b.add("mul", g, b.add("mul", out, b.add("sub", b.const(1.0), out)))]


def _vjp_tanh(b, out, g, args, needs):
    return [b.add("mul", g, b.add("sub", b.const(1.0), b.add("square", out)))]


def _vjp_relu(b, out, g, args, needs):
    # step(relu(x)) = step(x): read the output, so that x itself is not needed after the forward
    # pass (a training step may compute relu in place)
    return [b.add("mul", g, b.add("step", out))]


def _vjp_softplus(b, out, g, args, needs):
    return [b.add("mul", g, b.add("sigmoid", args[0]))]


def _vjp_log_sigmoid(b, out, g, args, needs):
    return [b.add("mul", g, b.add("sigmoid", b.add("neg", args[0])))]


def _vjp_none(b, out, g, args, needs):
    return [None] * len(args)


def _move_front(rank: int, k: int) -> tuple[int, ...]:
    """The permutation that moves the last k axes to the front."""
    return tuple(range(rank - k, rank)) + tuple(range(rank - k))


def _vjp_tensordot(b, out, g, args, needs):
    x, y = args
    n = b.attrs(out).get("n", 1)
    rx, ry = len(b.shape(x)), len(b.shape(y))
    dx = dy = None
    if needs[0]:  # contract g's trailing (C) axes with y's trailing axes
        dx = b.add("tensordot", g, b.transpose(y, _move_front(ry, ry - n)), n=ry - n)
    if needs[1]:  # contract x's leading (A) axes with g's leading axes
        dy = b.add("tensordot", b.transpose(x, _move_front(rx, n)), g, n=rx - n)
    return [dx, dy]


def _vjp_transpose(b, out, g, args, needs):
    perm = b.attrs(out)["perm"]
    inverse = tuple(sorted(range(len(perm)), key=lambda i: perm[i]))
    return [b.transpose(g, inverse)]


def _vjp_sum(b, out, g, args, needs):
    return [b.add("broadcast", g, shape=b.shape(args[0]))]


def _vjp_sum_last(b, out, g, args, needs):
    return [b.add("broadcast", g, shape=b.shape(args[0]))]


def _vjp_logsumexp(b, out, g, args, needs):
    (x,) = args
    return [b.add("mul", g, b.add("exp", b.add("sub", x, out)))]


def _vjp_softmax(b, out, g, args, needs):
    inner = b.add("sum_last", b.add("mul", g, out))
    return [b.add("mul", out, b.add("sub", g, inner))]


def _vjp_log_softmax(b, out, g, args, needs):
    """g - softmax(x) * sum(g) along the last axis: for a one-hot g = -t, softmax(x) - t."""
    (x,) = args
    return [b.add("sub", g, b.add("mul", b.add("softmax", x), b.add("sum_last", g)))]


def _vjp_bce(b, out, g, args, needs):
    """d/dy = (y - t) / (y (1 - y)), d/dt = log(1 - y) - log(y)."""
    y, t = args
    one = b.const(1.0)
    dy = dt = None
    if needs[0]:
        dy = b.add("mul", g, b.add("div", b.add("sub", y, t), b.add("mul", y, b.add("sub", one, y))))
    if needs[1]:
        dt = b.add("mul", g, b.add("sub", b.add("log", b.add("sub", one, y)), b.add("log", y)))
    return [dy, dt]


def _vjp_bce_logits(b, out, g, args, needs):
    """d/dz = sigmoid(z) - t, d/dt = -z."""
    z, t = args
    dz = b.add("mul", g, b.add("sub", b.add("sigmoid", z), t)) if needs[0] else None
    dt = b.add("neg", b.add("mul", g, z)) if needs[1] else None
    return [dz, dt]


def _vjp_sum_to(b, out, g, args, needs):
    return [b.add("broadcast", g, shape=b.shape(args[0]))]


def _vjp_broadcast(b, out, g, args, needs):
    return [b.add("sum_to", g, shape=b.shape(args[0]))]


# ---------------------------------------------------------------- scalar rules (constant folding)
def _np_scalar(fn):
    """A scalar rule from a numpy function: the numbers numpy computes at run time, on floats."""

    def rule(*xs):
        with np.errstate(all="ignore"):
            return float(fn(*map(np.float64, xs)))

    return rule


def _scalar_sigmoid(x):
    return np.tanh(x * 0.5) * 0.5 + 0.5  # as the runtime helper computes it


def _scalar_softplus(x):
    return np.logaddexp(0.0, x)


def _scalar_bce(y, t):
    return -(t * np.log(y) + (1.0 - t) * np.log1p(-y))


def _scalar_bce_logits(z, t):
    return np.logaddexp(0.0, z) - t * z


# ---------------------------------------------------------------- the table
def _unary(name, sympy_rule, vjp, doc, scalar, **kw):
    return Op(name, 1, _same, sympy_rule, vjp, elementwise=True, doc=doc, scalar=_np_scalar(scalar), **kw)


BUILTIN_OPS: list[Op] = [
    # leaves
    Op(
        "var",
        0,
        _target_shape,
        leaf=True,
        named=True,
        doc="a unit group, data array, layer or param",
    ),
    Op(
        "const",
        0,
        _target_shape,
        _sym_const,
        leaf=True,
        value=lambda attrs: attrs["value"],
        doc="a number, or an array filled with it",
    ),
    Op("numel", 0, _scalar, _sym_numel, leaf=True, doc="the number of entries of a shape"),
    Op("batch_size", 0, _scalar, leaf=True, batch=True, doc="the number of samples"),
    # elementwise
    _unary(
        "neg",
        _vec(lambda x: -x),
        _vjp_neg,
        "-x",
        np.negative,
        additive=True,
        linear_in=(0,),
        signs=(-1.0,),
        notation=("-{0}", 3),
    ),
    Op(
        "add",
        2,
        _broadcast,
        _vec(lambda x, y: x + y),
        _vjp_add,
        elementwise=True,
        additive=True,
        linear_in=(0, 1),
        commutative=True,
        signs=(1.0, 1.0),
        scalar=_np_scalar(np.add),
        notation=("{0} + {1}", 1),
        doc="x + y",
    ),
    Op(
        "sub",
        2,
        _broadcast,
        _vec(lambda x, y: x - y),
        _vjp_sub,
        elementwise=True,
        additive=True,
        linear_in=(0, 1),
        signs=(1.0, -1.0),
        scalar=_np_scalar(np.subtract),
        notation=("{0} - {1}", 1),
        doc="x - y",
    ),
    Op(
        "mul",
        2,
        _broadcast,
        _vec(lambda x, y: x * y),
        _vjp_mul,
        elementwise=True,
        linear_in=(0, 1),
        commutative=True,
        product=True,
        scalar=_np_scalar(np.multiply),
        notation=("{0} * {1}", 2),
        doc="x * y",
    ),
    Op(
        "div",
        2,
        _broadcast,
        _vec(lambda x, y: x / y),
        _vjp_div,
        elementwise=True,
        linear_in=(0,),
        scalar=_np_scalar(np.divide),
        notation=("{0} / {1}", 2),
        doc="x / y",
    ),
    Op(
        "pow",
        2,
        _broadcast,
        _vec(lambda x, y: x**y),
        _vjp_pow,
        elementwise=True,
        scalar=_np_scalar(np.power),
        notation=("{0} ** {1}", 4),
        doc="x ** y",
    ),
    _unary("exp", _vec(_lazy("exp")), _vjp_exp, "exp(x)", np.exp),
    _unary("log", _vec(_lazy("log")), _vjp_log, "log(x)", np.log),
    _unary("sqrt", _vec(_lazy("sqrt")), _vjp_sqrt, "sqrt(x)", np.sqrt),
    _unary("abs", _vec(_lazy("Abs")), _vjp_abs, "|x|", np.abs),
    _unary("square", _vec(lambda x: x**2), _vjp_square, "x ** 2", np.square),
    _unary("sigmoid", _vec(_sym_sigmoid), _vjp_sigmoid, "1 / (1 + exp(-x))", _scalar_sigmoid),
    _unary("tanh", _vec(_lazy("tanh")), _vjp_tanh, "tanh(x)", np.tanh),
    _unary("relu", _vec(lambda x: sympy.Max(x, 0)), _vjp_relu, "max(x, 0)", lambda x: np.maximum(x, 0)),
    _unary("softplus", _vec(_sym_softplus), _vjp_softplus, "log(1 + exp(x))", _scalar_softplus),
    _unary(
        "log_sigmoid",
        _vec(lambda x: -_sym_softplus(-x)),
        _vjp_log_sigmoid,
        "-log(1 + exp(-x))",
        lambda x: -_scalar_softplus(-x),
    ),
    _unary("sign", _vec(_lazy("sign")), _vjp_none, "sign(x)", np.sign),
    _unary(
        "step",
        _vec(lambda x: sympy.Heaviside(x, 0)),
        _vjp_none,
        "1 where x > 0, else 0",
        lambda x: np.heaviside(x, 0.0),
    ),
    # contractions, axes and reductions
    Op(
        "tensordot",
        2,
        _tensordot_shape,
        _sym_tensordot,
        _vjp_tensordot,
        linear_in=(0, 1),
        batch_sum="batch_tensordot",
        doc="contract the last n axes of x with the first n of y",
    ),
    Op(
        "transpose",
        1,
        _transpose_shape,
        _sym_transpose,
        _vjp_transpose,
        additive=True,
        linear_in=(0,),
        doc="permute the axes",
    ),
    Op("sum", 1, _scalar, _sym_sum, _vjp_sum, additive=True, linear_in=(0,), doc="sum of every entry"),
    Op(
        "sum_last",
        1,
        _sum_last_shape,
        _sym_sum_last,
        _vjp_sum_last,
        additive=True,
        linear_in=(0,),
        doc="sum along the last axis",
    ),
    Op("logsumexp", 1, _scalar, _sym_logsumexp, _vjp_logsumexp, doc="log(sum(exp(x)))"),
    Op("softmax", 1, _last_axis, _sym_softmax, _vjp_softmax, doc="exp(x) / sum(exp(x)) along the last axis"),
    Op(
        "log_softmax",
        1,
        _log_softmax_shape,
        _sym_log_softmax,
        _vjp_log_softmax,
        doc="log(softmax(x)) = x - logsumexp(x) along the last axis, computed without log(0)",
    ),
    # the losses' elementwise terms: `bce` as written, `bce_logits` the stable form of bce(sigmoid(z), t)
    Op(
        "bce",
        2,
        _broadcast,
        _vec(_sym_bce),
        _vjp_bce,
        elementwise=True,
        scalar=_np_scalar(_scalar_bce),
        doc="-(t * log(y) + (1 - t) * log(1 - y)), the binary cross-entropy of y against t",
    ),
    Op(
        "bce_logits",
        2,
        _broadcast,
        _vec(_sym_bce_logits),
        _vjp_bce_logits,
        elementwise=True,
        scalar=_np_scalar(_scalar_bce_logits),
        doc="softplus(z) - t * z, the binary cross-entropy of sigmoid(z) against t",
    ),
    Op(
        "sum_to",
        1,
        _sum_to_shape,
        _sym_sum_to,
        _vjp_sum_to,
        additive=True,
        linear_in=(0,),
        doc="sum the axes that broadcasting added",
    ),
    Op(
        "broadcast",
        1,
        _broadcast_to_shape,
        _sym_broadcast,
        _vjp_broadcast,
        additive=True,
        linear_in=(0,),
        doc="repeat to a larger shape",
    ),
    # the batch
    Op(
        "batch_sum",
        1,
        _same,
        additive=True,
        linear_in=(0,),
        batch=True,
        doc="sum over the samples of a batch",
    ),
    Op("batch_tensordot", 2, _tensordot_shape, batch=True, doc="sum over the samples of tensordot(x, y, n)"),
]


# ---------------------------------------------------------------- unit types' distributions
def _logsumexp_last_shape(shapes, attrs):
    (a,) = shapes
    if not a:
        raise ShapeError("logsumexp along the last axis needs at least one axis")
    return tuple(a[:-1]) + (1,)


def _sym_logsumexp_last(values, attrs):
    x = np.asarray(values[0], dtype=object)
    e = np.vectorize(sympy.exp, otypes=[object])(x)
    return np.vectorize(sympy.log, otypes=[object])(e.sum(axis=-1, keepdims=True))


def _vjp_logsumexp_last(b, out, g, args, needs):
    (x,) = args
    return [b.add("mul", g, b.add("exp", b.add("sub", x, out)))]


def _moment_shape(shapes, attrs):
    if not attrs.get("values") or int(attrs.get("k", 0)) < 0:
        raise ShapeError("a moment of a discrete unit needs its values and a power k >= 0")
    return broadcast_shapes(*shapes)


def _sym_moment(values, attrs):
    """k = 0: log sum_s exp(f s - p s^2 / 2); k >= 1: E[s^k] under those weights."""
    states, k = attrs["values"], int(attrs["k"])

    def one(f, p):
        weights = [sympy.exp(f * s - p * s * s / 2) for s in states]
        total = sympy.Add(*weights)
        if k == 0:
            return sympy.log(total)
        return sympy.Add(*[w * s**k for w, s in zip(weights, states, strict=True)]) / total

    return np.vectorize(one, otypes=[object])(*values)


def _vjp_moment(b, out, g, args, needs):
    """d E[s^k]/df = E[s^(k+1)] - E[s^k] E[s], d E[s^k]/dp = -(E[s^(k+2)] - E[s^k] E[s^2]) / 2;
    for k = 0 (log Z): E[s] and -E[s^2] / 2."""
    f, p = args
    attrs = b.attrs(out)
    k, values = int(attrs["k"]), attrs["values"]

    def moment(j):
        return b.add("values_moment", f, p, values=values, k=j)

    here = b.const(1.0) if k == 0 else out
    df = b.add("sub", moment(k + 1), b.add("mul", here, moment(1))) if k else moment(1)
    dp = b.add("sub", moment(k + 2), b.add("mul", here, moment(2))) if k else moment(2)
    return [
        b.add("mul", g, df) if needs[0] else None,
        b.add("mul", g, b.add("mul", b.const(-0.5), dp)) if needs[1] else None,
    ]


BUILTIN_OPS += [
    Op(
        "logsumexp_last",
        1,
        _logsumexp_last_shape,
        _sym_logsumexp_last,
        _vjp_logsumexp_last,
        doc="log(sum(exp(x))) along the last axis",
    ),
    Op(
        "values_moment",
        2,
        _moment_shape,
        _sym_moment,
        _vjp_moment,
        elementwise=True,
        doc="of a unit with the given values and weights exp(f s - p s^2 / 2): log Z (k = 0) or E[s^k]",
    ),
]

# ---------------------------------------------------------------- sign rules
_NEGATED = {"+": "-", "0+": "0-", "-": "+", "0-": "0+", None: None}


def _sign_const(signs, attrs):
    v = attrs["value"]
    return "+" if v > 0 else "-" if v < 0 else "0+"


def _sign_add(signs, attrs):
    a, b = signs
    for positive, weak in (("+", "0+"), ("-", "0-")):
        if a in (positive, weak) and b in (positive, weak):
            return positive if positive in (a, b) else weak
    return None


def _sign_sub(signs, attrs):
    return _sign_add([signs[0], _NEGATED[signs[1]]], attrs)


def _sign_product(signs, attrs):
    a, b = signs
    if a is None or b is None:
        return None
    negative = (a in ("-", "0-")) != (b in ("-", "0-"))
    strict = a in ("+", "-") and b in ("+", "-")
    return ("-" if strict else "0-") if negative else ("+" if strict else "0+")


def _sign_div(signs, attrs):  # x / y with y >= 0 is treated as x / y with y > 0 (1 / 0 is inf, not negative)
    a, b = signs
    return _sign_product([a, {"0+": "+", "0-": "-"}.get(b, b)], attrs)


def _sign_pow(signs, attrs):
    return "+" if signs[0] == "+" else None


def _same_sign(signs, attrs):
    return signs[0]


def _sign_of(value):
    return lambda signs, attrs: value


_SIGN_RULES = {
    "const": _sign_const,
    "numel": _sign_of("+"),
    "batch_size": _sign_of("+"),
    "neg": lambda signs, attrs: _NEGATED[signs[0]],
    "add": _sign_add,
    "sub": _sign_sub,
    "mul": _sign_product,
    "tensordot": _sign_product,
    "div": _sign_div,
    "pow": _sign_pow,
    "exp": _sign_of("+"),
    "sqrt": _sign_of("0+"),
    "abs": _sign_of("0+"),
    "square": _sign_of("0+"),
    "sigmoid": _sign_of("+"),
    "softplus": _sign_of("+"),
    "relu": _sign_of("0+"),
    "softmax": _sign_of("+"),
    "log_softmax": _sign_of("0-"),
    "tanh": _same_sign,
    "transpose": _same_sign,
    "sum": _same_sign,
    "sum_last": _same_sign,
    "sum_to": _same_sign,
    "broadcast": _same_sign,
    "batch_sum": _same_sign,
}
BUILTIN_OPS = [replace(op, sign_rule=_SIGN_RULES[op.name]) if op.name in _SIGN_RULES else op for op in BUILTIN_OPS]
_DEGREE_RULES = {"square": lambda degrees, attrs: 2 * degrees[0]}
BUILTIN_OPS = [replace(op, degree=_DEGREE_RULES[op.name]) if op.name in _DEGREE_RULES else op for op in BUILTIN_OPS]

OPS: dict[str, Op] = {op.name: op for op in BUILTIN_OPS}


# ---------------------------------------------------------------- language functions
@dataclass(frozen=True)
class Function:
    """A function the language offers. `expand(b, *args)` builds it from ops (args are node ids)."""

    name: str
    arity: int
    expand: Callable
    doc: str


def _simple(op):
    return lambda b, *args: b.add(op, *args)


def _mean(b, x):
    return b.add("div", b.add("sum", x), b.numel(b.shape(x)))


def _cross_entropy(b, y, t):
    return b.add("neg", b.add("sum", b.add("mul", t, b.add("log", y))))


def _binary_cross_entropy(b, y, t):
    """mean of the elementwise terms (op `bce`); a rewrite makes bce(sigmoid(z), t) bce_logits(z, t)."""
    return _mean(b, b.add("bce", y, t))


def _mse(b, y, t):
    return _mean(b, b.add("square", b.add("sub", y, t)))


ELEMENTWISE_FUNCTIONS = ("exp", "log", "sqrt", "abs", "square", "sigmoid", "tanh", "relu", "softplus", "log_sigmoid")

FUNCTIONS: dict[str, Function] = {
    **{f: Function(f, 1, _simple(f), OPS[f].doc) for f in ELEMENTWISE_FUNCTIONS},
    "sum": Function("sum", 1, _simple("sum"), "sum of every entry (a scalar)"),
    "mean": Function("mean", 1, _mean, "mean of every entry (a scalar)"),
    "logsumexp": Function("logsumexp", 1, _simple("logsumexp"), "log(sum(exp(x))) (a scalar)"),
    "softmax": Function("softmax", 1, _simple("softmax"), "exp(x) / sum(exp(x)) along the last axis"),
    "cross_entropy": Function("cross_entropy", 2, _cross_entropy, "-sum(t * log(y))"),
    "binary_cross_entropy": Function(
        "binary_cross_entropy", 2, _binary_cross_entropy, "-mean(t * log(y) + (1 - t) * log(1 - y))"
    ),
    "mse": Function("mse", 2, _mse, "mean((y - t) ** 2)"),
}

# what `dense(x, N, ACT)` accepts as ACT
ACTIVATIONS = (*ELEMENTWISE_FUNCTIONS, "softmax", "identity")
