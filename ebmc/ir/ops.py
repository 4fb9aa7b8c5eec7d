"""The op table: one entry per primitive, read by every pass.

Each `Op` carries
  shape(in_shapes, attrs)           the per-sample shape rule (raises ShapeError),
  numpy(args, attrs, ctx)           a numpy expression (args are `Arg`s: code text, shape, batched),
  sympy(values, attrs)              the same computation on object arrays of sympy expressions,
  vjp(b, out, g, args, needs)       the vector-Jacobian product, built from other ops with the
                                    graph builder `b`; returns one adjoint node (or None) per arg.

Shapes are tuples of ints and dim names. Elementwise ops broadcast like numpy;
`tensordot` (the language's `@`) contracts the last `n` axes of its first operand
with the first `n` of its second. Composite functions of the language (`mean`,
`mse`, ...) are in `FUNCTIONS` and expand into primitives when lowered.

The batch axis is not part of any shape. Only three entries know about it:
`batch_size` (a leaf), `batch_sum` (sum over the batch) and `batch_tensordot`
(sum over the batch of a `tensordot` of two batched values, one BLAS call).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

Shape = tuple  # tuple[int | str, ...]


class ShapeError(Exception):
    """A shape rule failed; the message is written for the person who wrote the model."""


@dataclass(frozen=True)
class Arg:
    """One operand as the numpy emitter sees it."""

    code: str
    shape: Shape
    batched: bool


@dataclass(frozen=True)
class Op:
    name: str
    arity: int
    shape: Callable[[list[Shape], dict], Shape]
    numpy: Callable[[list[Arg], dict, Any], str]
    sympy: Callable[[list[np.ndarray], dict], np.ndarray] | None = None
    vjp: Callable | None = None
    elementwise: bool = False
    additive: bool = False  # op(x + y) == op(x) + op(y) in every arg at once (add, sub, neg, ...)
    linear_in: tuple[int, ...] = ()  # args the op is linear in when the others are held fixed
    doc: str = ""
    # numpy, in place: inplace(args, i, attrs, ctx) is a statement that overwrites args[i], a new array
    # of the result's shape that nothing else reads, with the result (None where it cannot)
    inplace: Callable[[list[Arg], int, dict, Any], str | None] | None = None
    fresh: bool = False  # the numpy rule makes a new array (when the result has an axis)
    commutative: bool = False  # op(x, y) == op(y, x)
    signs: tuple[float, ...] | None = None  # the op is sum_i signs[i] * args[i] (add, sub, neg)
    product: bool = False  # the op is the product of its operands: k * z scales z
    leaf: bool = False  # no operands: the node stands for a value of its own (a var, a number, a size)
    named: bool = False  # a leaf that is one of the model's names (`name` and `role` on the node)
    value: Callable[[dict], float] | None = None  # a leaf that is a number: the number, from its attrs
    # how the language writes it, where it is an operator: a template over the operands' texts
    # ({0}, {1}) and its binding strength (1 sum, 2 product, 3 minus sign, 4 power); else op(x, ...)
    notation: tuple[str, int] | None = None


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


# ---------------------------------------------------------------- numpy helpers
def _lift(arg: Arg, rank: int) -> str:
    """Code for a batched operand expanded so that its per-sample axes line up at `rank`."""
    extra = rank - len(arg.shape)
    if not arg.batched or extra <= 0:
        return arg.code
    return f"{arg.code}[:{', None' * extra}]"


def _elementwise(template: str):
    """numpy rule for an elementwise op: `template` uses {0}, {1} for the aligned operands."""

    def emit(args, attrs, ctx):
        rank = max(len(a.shape) for a in args)
        return template.format(*(_lift(a, rank) for a in args))

    return emit


def _helper(name: str, template: str = "{h}({0})"):
    """numpy rule that calls a runtime helper of the generated module."""

    def emit(args, attrs, ctx):
        return template.format(*(a.code for a in args), h=ctx.helper(name))

    return emit


def _per_sample_axes(arg: Arg) -> str:
    """The axis argument covering every per-sample axis of `arg`."""
    first = 1 if arg.batched else 0
    axes = tuple(range(first, first + len(arg.shape)))
    return "None" if not arg.batched else (str(axes[0]) if len(axes) == 1 else str(axes))


def _sum_numpy(args, attrs, ctx):
    (a,) = args
    if not a.shape:
        return a.code
    return f"{a.code}.sum(axis={_per_sample_axes(a)})" if a.batched else f"{a.code}.sum()"


def _logsumexp_numpy(args, attrs, ctx):
    (a,) = args
    if not a.shape:
        return a.code
    return f"{ctx.helper('logsumexp')}({a.code}, axis={_per_sample_axes(a)})"


def _letters(k, start=0):
    return "".join(chr(ord("i") + start + j) for j in range(k))


def _tensordot_numpy(args, attrs, ctx):
    a, b = args
    n = attrs.get("n", 1)
    ra, rb = len(a.shape), len(b.shape)
    if n == 0 and (ra == 0 or rb == 0):
        return _elementwise("{0} * {1}")(args, attrs, ctx)
    if not b.batched:
        if n == 1 and rb <= 2:
            return f"{a.code} @ {b.code}"
        if n == 0 and not a.batched:
            return f"np.multiply.outer({a.code}, {b.code})"
        return f"np.tensordot({a.code}, {b.code}, axes={n})"
    if not a.batched and n == 1 and rb == 1 and ra <= 2:  # (B,k) @ (k,) or (B,k) @ (m,k).T
        return f"{b.code} @ {a.code}" if ra == 1 else f"{b.code} @ {a.code}.T"
    # the general case: einsum with the batch axis 'z' kept in front
    A, K, C = _letters(ra - n), _letters(n, ra - n), _letters(rb - n, ra)
    za = ("z" if a.batched else "") + A + K
    zb = "z" + K + C
    return f"np.einsum('{za},{zb}->z{A}{C}', {a.code}, {b.code})"


def _batch_tensordot_numpy(args, attrs, ctx):
    """sum over the batch of tensordot(a, b, n), both batched: one BLAS contraction."""
    a, b = args
    n = attrs.get("n", 1)
    ra, rb = len(a.shape), len(b.shape)
    if not (a.batched and b.batched):
        # a rewrite can leave an operand the same for every sample (a constant): einsum sums
        # the batch axis of the batched one; with neither batched, the sum is batch_size copies
        A, K, C = _letters(ra - n), _letters(n, ra - n), _letters(rb - n, ra)
        za, zb = ("z" if a.batched else "") + A + K, ("z" if b.batched else "") + K + C
        code = f"np.einsum('{za},{zb}->{A}{C}', {a.code}, {b.code})"
        return code if a.batched or b.batched else f"{ctx.batch_size} * {code}"
    if n == 0 and ra == 1 and rb == 1:
        return f"{a.code}.T @ {b.code}"
    if n == 0 and ra == 0 and rb <= 1:  # (B,) @ (B,) or (B,) @ (B,c)
        return f"{a.code} @ {b.code}"
    axes_a = [0] + list(range(ra - n + 1, ra + 1))
    axes_b = [0] + list(range(1, n + 1))
    return f"np.tensordot({a.code}, {b.code}, axes=({axes_a}, {axes_b}))"


def _batch_sum_numpy(args, attrs, ctx):
    (a,) = args
    # a value that is the same for every sample (a rewrite can fold a batched one to a constant)
    return f"{a.code}.sum(axis=0)" if a.batched else f"{ctx.batch_size} * {a.code}"


def _transpose_code(code: str, rank: int, perm=None, batched=False) -> str:
    perm = tuple(perm) if perm is not None else tuple(reversed(range(rank)))
    if perm == tuple(range(rank)):
        return code
    if not batched and perm == tuple(reversed(range(rank))):
        return f"{code}.T"
    full = (0,) + tuple(p + 1 for p in perm) if batched else perm
    return f"{code}.transpose({', '.join(map(str, full))})"


def _transpose_numpy(args, attrs, ctx):
    (a,) = args
    return _transpose_code(a.code, len(a.shape), attrs["perm"], a.batched)


def _sum_to_numpy(args, attrs, ctx):
    (a,) = args
    target = tuple(attrs["shape"])
    lead = len(a.shape) - len(target)
    off = 1 if a.batched else 0
    summed = [off + i for i in range(lead)]
    kept = [off + lead + i for i, d in enumerate(target) if d == 1 and a.shape[lead + i] != 1]
    code = a.code
    if kept:
        code = f"{code}.sum(axis={tuple(kept)}, keepdims=True)"
    if summed:
        code = f"{code}.sum(axis={tuple(summed) if len(summed) > 1 else summed[0]})"
    return code


def _broadcast_numpy(args, attrs, ctx):
    (a,) = args
    target = tuple(attrs["shape"])
    if a.batched:
        return f"np.broadcast_to({_lift(a, len(target))}, ({ctx.batch_size},) + {ctx.shape(target)})"
    return f"np.broadcast_to({a.code}, {ctx.shape(target)})"


def _const_numpy(args, attrs, ctx):
    value = ctx.number(attrs["value"])
    shape = tuple(attrs.get("shape", ()))
    return value if not shape else f"np.full({ctx.shape(shape)}, {value}, dtype={ctx.dtype})"


def _numel_numpy(args, attrs, ctx):
    return ctx.numel(tuple(attrs["dims"]))


def _leaf_numpy(args, attrs, ctx):
    raise TypeError("leaves are named by the emitter, not computed")


def _inplace_operator(symbol: str, commutative: bool):
    """`t += y` and friends; for a commutative op either operand may be the one overwritten."""

    def rule(args, i, attrs, ctx):
        if i == 1 and not commutative:
            return None
        target, other = args[i], args[1 - i]
        return f"{target.code} {symbol}= {_lift(other, len(target.shape))}"

    return rule


def _inplace_sub(args, i, attrs, ctx):
    if i == 0:
        return _inplace_operator("-", False)(args, i, attrs, ctx)
    return f"np.subtract({_lift(args[0], len(args[1].shape))}, {args[1].code}, out={args[1].code})"


def _inplace_ufunc(call: str):
    """`np.exp(t, out=t)`: `call` is the ufunc's text with {0} for the operand."""

    def rule(args, i, attrs, ctx):
        return f"{call.format(args[0].code)[:-1]}, out={args[0].code})"

    return rule


def _inplace_helper(name: str):
    def rule(args, i, attrs, ctx):
        return f"{ctx.helper(name)}({args[0].code})"

    return rule


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
    return [b.add("mul", g, b.add("step", args[0]))]


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


def _vjp_sum_to(b, out, g, args, needs):
    return [b.add("broadcast", g, shape=b.shape(args[0]))]


def _vjp_broadcast(b, out, g, args, needs):
    return [b.add("sum_to", g, shape=b.shape(args[0]))]


# ---------------------------------------------------------------- the table
def _unary(name, numpy, sympy_rule, vjp, doc, **kw):
    return Op(name, 1, _same, numpy, sympy_rule, vjp, elementwise=True, doc=doc, **kw)


BUILTIN_OPS: list[Op] = [
    # leaves
    Op("var", 0, _target_shape, _leaf_numpy, doc="a unit group, data array, layer or param", leaf=True, named=True),
    Op(
        "const",
        0,
        _target_shape,
        _const_numpy,
        doc="a number, or an array filled with it",
        leaf=True,
        value=lambda attrs: attrs["value"],
    ),
    Op("numel", 0, _scalar, _numel_numpy, doc="the number of entries of a shape", leaf=True),
    Op("batch_size", 0, _scalar, lambda a, t, ctx: ctx.batch_size, doc="the number of samples", leaf=True),
    # elementwise
    _unary(
        "neg",
        _elementwise("-{0}"),
        _vec(lambda x: -x),
        _vjp_neg,
        "-x",
        additive=True,
        linear_in=(0,),
        inplace=_inplace_ufunc("np.negative({0})"),
        fresh=True,
        signs=(-1.0,),
        notation=("-{0}", 3),
    ),
    Op(
        "add",
        2,
        _broadcast,
        _elementwise("{0} + {1}"),
        _vec(lambda x, y: x + y),
        _vjp_add,
        elementwise=True,
        additive=True,
        linear_in=(0, 1),
        doc="x + y",
        inplace=_inplace_operator("+", True),
        fresh=True,
        commutative=True,
        signs=(1.0, 1.0),
        notation=("{0} + {1}", 1),
    ),
    Op(
        "sub",
        2,
        _broadcast,
        _elementwise("{0} - {1}"),
        _vec(lambda x, y: x - y),
        _vjp_sub,
        elementwise=True,
        additive=True,
        linear_in=(0, 1),
        doc="x - y",
        inplace=_inplace_sub,
        fresh=True,
        signs=(1.0, -1.0),
        notation=("{0} - {1}", 1),
    ),
    Op(
        "mul",
        2,
        _broadcast,
        _elementwise("{0} * {1}"),
        _vec(lambda x, y: x * y),
        _vjp_mul,
        elementwise=True,
        linear_in=(0, 1),
        doc="x * y",
        inplace=_inplace_operator("*", True),
        fresh=True,
        commutative=True,
        product=True,
        notation=("{0} * {1}", 2),
    ),
    Op(
        "div",
        2,
        _broadcast,
        _elementwise("{0} / {1}"),
        _vec(lambda x, y: x / y),
        _vjp_div,
        elementwise=True,
        linear_in=(0,),
        doc="x / y",
        notation=("{0} / {1}", 2),
        inplace=_inplace_operator("/", False),
        fresh=True,
    ),
    Op(
        "pow",
        2,
        _broadcast,
        _elementwise("{0} ** {1}"),
        _vec(lambda x, y: x**y),
        _vjp_pow,
        elementwise=True,
        doc="x ** y",
        notation=("{0} ** {1}", 4),
        fresh=True,
    ),
    _unary(
        "exp",
        _elementwise("np.exp({0})"),
        _vec(_lazy("exp")),
        _vjp_exp,
        "exp(x)",
        inplace=_inplace_ufunc("np.exp({0})"),
        fresh=True,
    ),
    _unary(
        "log",
        _elementwise("np.log({0})"),
        _vec(_lazy("log")),
        _vjp_log,
        "log(x)",
        inplace=_inplace_ufunc("np.log({0})"),
        fresh=True,
    ),
    _unary(
        "sqrt",
        _elementwise("np.sqrt({0})"),
        _vec(_lazy("sqrt")),
        _vjp_sqrt,
        "sqrt(x)",
        inplace=_inplace_ufunc("np.sqrt({0})"),
        fresh=True,
    ),
    _unary(
        "abs",
        _elementwise("np.abs({0})"),
        _vec(_lazy("Abs")),
        _vjp_abs,
        "|x|",
        inplace=_inplace_ufunc("np.abs({0})"),
        fresh=True,
    ),
    _unary(
        "square",
        _elementwise("np.square({0})"),
        _vec(lambda x: x**2),
        _vjp_square,
        "x ** 2",
        inplace=_inplace_ufunc("np.square({0})"),
        fresh=True,
    ),
    _unary(
        "sigmoid",
        _helper("sigmoid"),
        _vec(_sym_sigmoid),
        _vjp_sigmoid,
        "1 / (1 + exp(-x))",
        inplace=_inplace_helper("sigmoid_inplace"),
        fresh=True,
    ),
    _unary(
        "tanh",
        _elementwise("np.tanh({0})"),
        _vec(_lazy("tanh")),
        _vjp_tanh,
        "tanh(x)",
        inplace=_inplace_ufunc("np.tanh({0})"),
        fresh=True,
    ),
    _unary(
        "relu", _elementwise("np.maximum({0}, 0)"), _vec(lambda x: sympy.Max(x, 0)), _vjp_relu, "max(x, 0)", fresh=True
    ),
    _unary(
        "softplus",
        _helper("softplus"),
        _vec(_sym_softplus),
        _vjp_softplus,
        "log(1 + exp(x))",
        inplace=_inplace_ufunc("np.logaddexp(0.0, {0})"),
        fresh=True,
    ),
    _unary(
        "log_sigmoid",
        _helper("softplus", "-{h}(-{0})"),
        _vec(lambda x: -_sym_softplus(-x)),
        _vjp_log_sigmoid,
        "-log(1 + exp(-x))",
        fresh=True,
    ),
    _unary("sign", _elementwise("np.sign({0})"), _vec(_lazy("sign")), _vjp_none, "sign(x)"),
    _unary(
        "step",
        _elementwise("np.heaviside({0}, 0.0)"),
        _vec(lambda x: sympy.Heaviside(x, 0)),
        _vjp_none,
        "1 where x > 0, else 0",
    ),
    # contractions, axes and reductions
    Op(
        "tensordot",
        2,
        _tensordot_shape,
        _tensordot_numpy,
        _sym_tensordot,
        _vjp_tensordot,
        linear_in=(0, 1),
        doc="contract the last n axes of x with the first n of y",
        fresh=True,
    ),
    Op(
        "transpose",
        1,
        _transpose_shape,
        _transpose_numpy,
        _sym_transpose,
        _vjp_transpose,
        additive=True,
        linear_in=(0,),
        doc="permute the axes",
    ),
    Op("sum", 1, _scalar, _sum_numpy, _sym_sum, _vjp_sum, additive=True, linear_in=(0,), doc="sum of every entry"),
    Op(
        "sum_last",
        1,
        _sum_last_shape,
        lambda a, t, ctx: f"{a[0].code}.sum(axis=-1, keepdims=True)",
        _sym_sum_last,
        _vjp_sum_last,
        additive=True,
        linear_in=(0,),
        doc="sum along the last axis",
    ),
    Op("logsumexp", 1, _scalar, _logsumexp_numpy, _sym_logsumexp, _vjp_logsumexp, doc="log(sum(exp(x)))"),
    Op(
        "softmax",
        1,
        _last_axis,
        lambda a, t, ctx: f"{ctx.helper('softmax')}({a[0].code})",
        _sym_softmax,
        _vjp_softmax,
        doc="exp(x) / sum(exp(x)) along the last axis",
        fresh=True,
    ),
    Op(
        "sum_to",
        1,
        _sum_to_shape,
        _sum_to_numpy,
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
        _broadcast_numpy,
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
        _batch_sum_numpy,
        None,
        None,
        additive=True,
        linear_in=(0,),
        doc="sum over the samples of a batch",
        fresh=True,
    ),
    Op(
        "batch_tensordot",
        2,
        _tensordot_shape,
        _batch_tensordot_numpy,
        None,
        None,
        doc="sum over the samples of tensordot(x, y, n)",
        fresh=True,
    ),
]

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
    one = b.const(1.0)
    inner = b.add(
        "add",
        b.add("mul", t, b.add("log", y)),
        b.add("mul", b.add("sub", one, t), b.add("log", b.add("sub", one, y))),
    )
    return b.add("neg", _mean(b, inner))


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
