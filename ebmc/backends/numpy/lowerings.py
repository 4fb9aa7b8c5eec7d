"""The numpy lowering of every op: how the numpy backend computes what the op table means.

One `Lowering` per op name (as JAX registers a lowering per primitive and
platform): `code(args, attrs, ctx)` is a numpy expression of the operands,
which are `Arg`s (their code, per-sample shape, and whether they have a batch
axis in front); `inplace(args, i, attrs, ctx)` is a statement that overwrites
args[i], a new array of the result's shape that nothing else reads, with the
result (None where it cannot); `fresh` says the expression makes a new array
(when the result has an axis). `ctx` is the emitter's context: `ctx.helper(name)`
names a runtime helper (`ir/runtime.py`), `ctx.shape`, `ctx.numel`,
`ctx.number`, `ctx.dtype`, `ctx.batch_size` write the rest.

An op of a plugin brings its own: `Op(..., lowerings={"numpy": Lowering(...)})`
(see docs/plugins.md); `lowering(name)` finds the built-in one, else the op's.
The emitter (`emit.py`) and the evaluator of tests (`ir/evaluate.py`) both read
lowerings from here only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...ir.graph import op_table
from ...ir.ops import Shape


@dataclass(frozen=True)
class Arg:
    """One operand as the numpy emitter sees it."""

    code: str
    shape: Shape
    batched: bool


@dataclass(frozen=True)
class Lowering:
    code: Callable[[list[Arg], dict, Any], str]
    inplace: Callable[[list[Arg], int, dict, Any], str | None] | None = None
    fresh: bool = False


# ---------------------------------------------------------------- builders
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
    if n == ra == rb and n >= 1:  # every axis and the batch: one dot product of the flat arrays
        return f"np.vdot({a.code}, {b.code})"
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


# ---------------------------------------------------------------- the lowerings
def _ufunc(name: str, inplace: bool = True) -> Lowering:
    """An elementwise numpy function `np.NAME(x)`, and `np.NAME(t, out=t)` in place."""
    call = f"np.{name}({{0}})"
    return Lowering(_elementwise(call), _inplace_ufunc(call) if inplace else None, fresh=True)


def _batch_size_numpy(args, attrs, ctx):
    return ctx.batch_size


def _sum_last_numpy(args, attrs, ctx):
    return f"{args[0].code}.sum(axis=-1, keepdims=True)"


def _softmax_numpy(args, attrs, ctx):
    return f"{ctx.helper('softmax')}({args[0].code})"


def _step_numpy(args, attrs, ctx):
    """1 where x > 0, else 0, as numbers of the dtype (np.heaviside is many times slower)."""
    return f"np.greater({args[0].code}, 0).astype({ctx.dtype})"


def _log_softmax_numpy(args, attrs, ctx):
    return f"{ctx.helper('log_softmax')}({args[0].code})"


def _bce_logits_numpy(args, attrs, ctx):
    rank = max(len(a.shape) for a in args)
    z, t = (_lift(a, rank) for a in args)
    return f"{ctx.helper('bce_logits')}({z}, {t})"


def _logsumexp_last_numpy(args, attrs, ctx):
    return f"{ctx.helper('logsumexp_last')}({args[0].code})"


def _moment_numpy(args, attrs, ctx):
    f, p = args
    rank = max(len(a.shape) for a in args)
    values = tuple(float(v) for v in attrs["values"])
    return f"{ctx.helper('values_moment')}({_lift(f, rank)}, {_lift(p, rank)}, {values!r}, {int(attrs['k'])})"


LOWERINGS: dict[str, Lowering] = {
    # leaves
    "var": Lowering(_leaf_numpy),
    "const": Lowering(_const_numpy),
    "numel": Lowering(_numel_numpy),
    "batch_size": Lowering(_batch_size_numpy),
    # elementwise
    "neg": Lowering(_elementwise("-{0}"), _inplace_ufunc("np.negative({0})"), fresh=True),
    "add": Lowering(_elementwise("{0} + {1}"), _inplace_operator("+", True), fresh=True),
    "sub": Lowering(_elementwise("{0} - {1}"), _inplace_sub, fresh=True),
    "mul": Lowering(_elementwise("{0} * {1}"), _inplace_operator("*", True), fresh=True),
    "div": Lowering(_elementwise("{0} / {1}"), _inplace_operator("/", False), fresh=True),
    "pow": Lowering(_elementwise("{0} ** {1}"), fresh=True),
    "exp": _ufunc("exp"),
    "log": _ufunc("log"),
    "sqrt": _ufunc("sqrt"),
    "abs": _ufunc("abs"),
    "square": _ufunc("square"),
    "sigmoid": Lowering(_helper("sigmoid"), _inplace_helper("sigmoid_inplace"), fresh=True),
    "tanh": _ufunc("tanh"),
    "relu": Lowering(_elementwise("np.maximum({0}, 0)"), _inplace_ufunc("np.maximum({0}, 0)"), fresh=True),
    "softplus": Lowering(_helper("softplus"), _inplace_ufunc("np.logaddexp(0.0, {0})"), fresh=True),
    "log_sigmoid": Lowering(_helper("softplus", "-{h}(-{0})"), fresh=True),
    "sign": Lowering(_elementwise("np.sign({0})")),
    "step": Lowering(_step_numpy),
    # contractions, axes and reductions
    "tensordot": Lowering(_tensordot_numpy, fresh=True),
    "transpose": Lowering(_transpose_numpy),
    "sum": Lowering(_sum_numpy),
    "sum_last": Lowering(_sum_last_numpy),
    "logsumexp": Lowering(_logsumexp_numpy),
    "softmax": Lowering(_softmax_numpy, fresh=True),
    "log_softmax": Lowering(_log_softmax_numpy, fresh=True),
    # the losses' terms; bce as written (y in (0, 1): log(0) is -inf), bce_logits finite for any z
    "bce": Lowering(_elementwise("-({1} * np.log({0}) + (1.0 - {1}) * np.log1p(-{0}))"), fresh=True),
    "bce_logits": Lowering(_bce_logits_numpy, fresh=True),
    "sum_to": Lowering(_sum_to_numpy),
    "broadcast": Lowering(_broadcast_numpy),
    # the batch
    "batch_sum": Lowering(_batch_sum_numpy, fresh=True),
    "batch_tensordot": Lowering(_batch_tensordot_numpy, fresh=True),
    # the distributions of unit types
    "logsumexp_last": Lowering(_logsumexp_last_numpy, fresh=True),
    "values_moment": Lowering(_moment_numpy, fresh=True),
}


class LoweringError(Exception):
    """An op that the numpy backend cannot compute: no built-in lowering, and none of its own."""


def lowering(name: str) -> Lowering:
    """The numpy lowering of op `name`: the built-in one, else the one the op brings."""
    found = LOWERINGS.get(name)
    if found is not None:
        return found
    op = op_table().get(name)
    found = op.lowerings.get("numpy") if op is not None else None
    if found is None:
        raise LoweringError(f"op '{name}' has no numpy lowering (give its Op lowerings={{'numpy': Lowering(...)}})")
    if callable(found) and not isinstance(found, Lowering):  # an expression rule alone
        return Lowering(found)
    return found
