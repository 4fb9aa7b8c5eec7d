"""Simplification: constant folding, algebraic identities, like terms, CSE and dead-code removal.

`Simplifier` is a graph builder that rewrites each node as it is added, so any
pass that builds with it produces simplified graphs; `simplify(g)` rebuilds a
whole graph with it. Common subexpressions are shared by the builder itself
(structurally equal nodes are one node) and rebuilding from the outputs keeps
only what they need (dead code is never copied).

Rewrites are registered per op with `@rewrite("op")`; each returns a node that
replaces `op(*args)` or None to keep it.

Like terms: a chain of +, - and products with a number is the sum
sum_t c_t * t + c_0 over terms t (equal up to the order of the operands of +
and *), so x - x = 0, (a + x) - x = a and 2 x - x = x; the sum is rebuilt
where terms were alike or it writes fewer minus signs, with a zero of the
result's shape where a cancelled term broadcast it.

No rewrite turns an inf or NaN into a number: a constant that does not fold to
a finite number stays an op, and the rules that drop an operand (0 * x = 0,
0 / x = 0, x @ 0 = 0, x - x = 0) keep it when that operand is such a constant
(numpy gives NaN for 0 * inf); 0 / 0 is not 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx
import numpy as np

from ..ir.evaluate import constant_value
from ..ir.graph import Builder, _freeze, copy_into, upstream
from ..ir.ops import broadcast_shapes

REWRITES: dict[str, list] = {}
COMMUTATIVE = ("add", "mul")  # op(x, y) == op(y, x): like terms are equal up to their order


def rewrite(*ops):
    def register(fn):
        for op in ops:
            REWRITES.setdefault(op, []).append(fn)
        return fn

    return register


class Simplifier(Builder):
    def __init__(self, graph: nx.DiGraph | None = None):
        super().__init__(graph)
        self._values: dict = {}  # node -> its value where it is a constant expression (constant_value)
        self._numbers: dict = {}  # node -> whether it is built from numbers alone
        self._terms: dict = {}  # node -> its number as a term of a sum (`term`)
        self._interned: dict = {}

    def add(self, op: str, *args: int, **attrs) -> int:
        for rule in REWRITES.get(op, ()):
            out = rule(self, op, args, attrs)
            if out is not None:
                return out
        return super().add(op, *args, **attrs)

    # -- facts about nodes the rules use
    def value(self, n) -> float | None:
        """The number a constant node holds, else None."""
        d = self.g.nodes[n]
        return d["attrs"]["value"] if d["op"] == "const" else None

    def is_value(self, n, v: float) -> bool:
        return self.value(n) == v

    def finite(self, n) -> bool:
        """Whether n may be dropped as a finite number: anything that reads a var, or a constant
        expression whose value is known and finite (1 / 0 is not; nor one too large to evaluate)."""
        if not self._from_numbers(n):
            return True
        value = constant_value(self, n, self._values)
        return value is not None and bool(np.all(np.isfinite(value)))

    def repeated_number(self, n) -> float | None:
        """The number that constant expression n repeats over its shape (inf and NaN too), else None."""
        if not self._from_numbers(n):
            return None
        value = constant_value(self, n, self._values)
        return float(value) if value is not None and value.ndim == 0 else None

    def _from_numbers(self, n) -> bool:
        stack = [n]
        while stack:
            m = stack[-1]
            if m in self._numbers:
                stack.pop()
                continue
            operands = self.args(m)
            pending = [a for a in operands if a not in self._numbers]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            op = self.op(m)
            self._numbers[m] = op == "const" if not operands else all(self._numbers[a] for a in operands)
        return self._numbers[n]

    def term(self, n) -> int:
        """A number for n that is the same for nodes equal up to the order of the operands of the
        ops in COMMUTATIVE (v * h and h * v, sum(v * h) and sum(h * v)): like terms are those."""
        memo = self._terms
        stack = [n]
        while stack:
            m = stack[-1]
            if m in memo:
                stack.pop()
                continue
            operands = self.args(m)
            pending = [a for a in operands if a not in memo]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            op = self.op(m)
            if not operands:
                key = ("leaf", m)
            else:
                ids = [memo[a] for a in operands]
                key = (op, _freeze(self.attrs(m)), tuple(sorted(ids) if op in COMMUTATIVE else ids))
            memo[m] = self._interned.setdefault(key, len(self._interned))
        return memo[n]

    def is_zero_of(self, n, other) -> bool:
        """n is the number 0 and `other` a finite value, so that 0 * other = 0."""
        return self.is_value(n, 0.0) and self.finite(other)

    def out_shape(self, op, args, attrs) -> tuple:
        return self.ops[op].shape([self.shape(a) for a in args], attrs)


def simplify(g: nx.DiGraph) -> nx.DiGraph:
    """The same outputs, computed by a simplified graph with no dead nodes."""
    b = Simplifier()
    mapping = copy_into(b, g, g.graph["outputs"].values())
    b.g.graph["outputs"] = {name: mapping[n] for name, n in g.graph["outputs"].items()}
    b.g.graph.update({k: v for k, v in g.graph.items() if k != "outputs"})
    return prune(b.g)


def prune(g: nx.DiGraph) -> nx.DiGraph:
    """Drop the nodes no output needs (dead code), keeping graph attributes."""
    keep = upstream(g, g.graph["outputs"].values())
    out = g.subgraph(keep).copy()
    out.graph.update(g.graph)
    return out


# ---------------------------------------------------------------- folding
def _fold_scalar(b: Simplifier, op: str, values: list[float], attrs) -> float | None:
    """The value of op on scalar constants, computed by the op's own numpy rule."""
    from ..ir.evaluate import HELPERS, NumpyContext
    from ..ir.ops import Arg

    names = [f"x{i}" for i in range(len(values))]
    code = b.ops[op].numpy([Arg(n, (), False) for n in names], attrs, NumpyContext({}))
    with np.errstate(all="ignore"):
        try:
            result = float(eval(code, {"np": np, **HELPERS}, dict(zip(names, map(np.float64, values), strict=True))))
        except (ArithmeticError, ValueError, TypeError):
            return None
    return result if math.isfinite(result) else None


@rewrite(
    "neg",
    "add",
    "sub",
    "mul",
    "div",
    "pow",
    "exp",
    "log",
    "sqrt",
    "abs",
    "square",
    "sigmoid",
    "tanh",
    "relu",
    "softplus",
    "log_sigmoid",
    "sign",
    "step",
)
def fold_elementwise(b, op, args, attrs):
    """An elementwise op of constants is a constant, also where an operand is a constant that did
    not fold to a finite number: exp(-1 / 0) is 0."""
    values = [b.value(a) if b.value(a) is not None else b.repeated_number(a) for a in args]
    if any(v is None for v in values):
        return None
    folded = _fold_scalar(b, op, values, attrs)
    return None if folded is None else b.const(folded, b.out_shape(op, args, attrs))


@rewrite("tensordot", "batch_tensordot")
def zero_contraction(b, op, args, attrs):
    """x @ 0 = 0 @ x = 0; a contraction over no axes with a scalar is a product."""
    x, y = args
    if b.is_zero_of(x, y) or b.is_zero_of(y, x):
        return b.const(0.0, b.out_shape(op, args, attrs))
    if op == "tensordot" and attrs.get("n", 1) == 0 and any(b.shape(a) == () for a in args):
        return b.add("mul", *args)
    return None


@rewrite("sum", "sum_last", "sum_to", "batch_sum")
def zero_sum(b, op, args, attrs):
    return b.const(0.0, b.out_shape(op, args, attrs)) if b.is_value(args[0], 0.0) else None


@rewrite("sum")
def sum_of_a_number(b, op, args, attrs):
    """sum of c repeated over a shape = c * size(shape)."""
    v = b.value(args[0])
    if v is None or not math.isfinite(v) or b.shape(args[0]) == ():
        return None
    return b.add("mul", b.const(v), b.numel(b.shape(args[0])))


@rewrite("broadcast")
def constant_broadcast(b, op, args, attrs):
    v = b.value(args[0])
    return b.const(v, tuple(attrs["shape"])) if v is not None else None


# ---------------------------------------------------------------- identities
def _same_shape(b, n, shape) -> bool:
    return b.shape(n) == tuple(shape)


@rewrite("add")
def add_zero(b, op, args, attrs):
    x, y = args
    shape = b.out_shape(op, args, attrs)
    if b.is_value(y, 0.0) and _same_shape(b, x, shape):
        return x
    if b.is_value(x, 0.0) and _same_shape(b, y, shape):
        return y
    if b.op(y) == "neg":  # x + (-y) = x - y
        return b.add("sub", x, b.args(y)[0])
    v = b.value(y)
    if v is not None and v < 0 and b.shape(b.add("sub", x, b.const(-v, b.shape(y)))) == shape:  # x + (-2) = x - 2
        return b.add("sub", x, b.const(-v, b.shape(y)))
    if b.op(x) == "neg":  # (-x) + y = y - x
        return b.add("sub", y, b.args(x)[0])
    return None


@rewrite("sub")
def sub_rules(b, op, args, attrs):
    x, y = args
    shape = b.out_shape(op, args, attrs)
    if b.is_value(y, 0.0) and _same_shape(b, x, shape):
        return x
    if b.is_value(x, 0.0) and _same_shape(b, y, shape):
        return b.add("neg", y)
    if b.op(y) == "neg":  # x - (-y) = x + y
        return b.add("add", x, b.args(y)[0])
    if b.op(x) == "neg" and b.op(y) == "neg":  # (-x) - (-y) = y - x
        return b.add("sub", b.args(y)[0], b.args(x)[0])
    return None


# ---------------------------------------------------------------- like terms
MAX_TERMS = 64  # a longer chain of + and - is left alone: collecting it at every step would be quadratic


def _signed_terms(b, n, sign: float, out: list) -> int | None:
    """Append n, flattened into (node, coefficient) terms of a sum, to out; returns how many minus
    signs (sub, neg) the chain writes, or None past MAX_TERMS.

    The chain runs through add, sub, neg and products with a finite number."""
    stack = [(n, sign)]
    minus = 0
    while stack:
        m, c = stack.pop()
        op = b.op(m)
        if op in ("add", "sub"):
            x, y = b.args(m)
            stack += [(y, -c if op == "sub" else c), (x, c)]
            minus += op == "sub"
            continue
        if op == "neg":
            stack.append((b.args(m)[0], -c))
            minus += 1
            continue
        if op == "mul":
            factor = _number_times(b, m)
            if factor is not None and math.isfinite(c * factor[0]):
                stack.append((factor[1], c * factor[0]))
                continue
        out.append((m, c))
        if len(out) > MAX_TERMS:
            return None
    return minus


def _number_times(b, n) -> tuple[float, int] | None:
    """(k, z) where n is k * z or z * k for a finite number k (a const of any shape that does not
    broadcast z)."""
    x, y = b.args(n)
    for k, z in ((x, y), (y, x)):
        v = b.value(k)
        if v is not None and math.isfinite(v) and b.shape(z) == b.shape(n):
            return v, z
    return None


@dataclass
class _Sum:
    """A chain of + and - as sum_t c_t * t + constant: terms in the order they come."""

    coefficients: dict  # term number -> (its node, its coefficient)
    constant: float
    constant_shape: tuple
    count: int  # terms before collecting (numbers included)
    numbers: int  # how many of them were numbers
    minus: int  # the minus signs the chain was written with

    @property
    def alike(self) -> bool:
        """Whether two of the terms (or two numbers) were collected into one."""
        return len(self.coefficients) + min(self.numbers, 1) < self.count

    @property
    def fewer_signs(self) -> bool:
        """Whether the collected sum is written with fewer minus signs than the chain was."""
        signs = [c for _, c in self.coefficients.values() if c] + ([self.constant] if self.constant else [])
        return sum(c < 0 for c in signs) < self.minus


def _collect(b, chains) -> _Sum | None:
    """The chains (node, sign), flattened and collected; None where a term is not a finite number
    (inf - inf is NaN, not 0) or the chain is too long."""
    terms: list = []
    minus = 0
    for n, sign in chains:
        signs = _signed_terms(b, n, sign, terms)
        if signs is None:
            return None
        minus += signs
    out = _Sum({}, 0.0, (), len(terms), 0, minus)
    for t, c in terms:
        v = b.value(t)
        if v is not None:
            if not math.isfinite(v):
                return None
            out.constant += c * v
            out.constant_shape = broadcast_shapes(out.constant_shape, b.shape(t))
            out.numbers += 1
        elif not b.finite(t):
            return None
        else:  # keyed by the term's number, written as the first node of it that came
            first, total = out.coefficients.get(b.term(t), (t, 0.0))
            out.coefficients[b.term(t)] = (first, total + c)
    return out if math.isfinite(out.constant) else None


def _rebuild(b, total: _Sum, shape: tuple) -> int:
    """The node of the collected sum, of the given shape: a term that cancelled but broadcast the
    result leaves a zero of the result's shape behind."""
    rest = None
    for t, c in total.coefficients.values():
        if c == 0:
            continue
        term = t if abs(c) == 1 else b.add("mul", b.const(abs(c)), t)
        if rest is None:
            rest = term if c > 0 else b.add("neg", term)
        else:
            rest = b.add("add" if c > 0 else "sub", rest, term)
    if rest is None:
        return b.const(total.constant, shape)
    broadcast_lost = b.shape(rest) != shape
    if total.constant == 0 and not broadcast_lost:
        return rest
    number = b.const(abs(total.constant), shape if broadcast_lost else total.constant_shape)
    return b.add("sub" if total.constant < 0 else "add", rest, number)


@rewrite("add", "sub")
def collect_like_terms(b, op, args, attrs):
    """Sum the coefficients of equal terms across a chain of + and -: x - x = 0, (a + x) - x = a,
    a - x + x = a, 2 * x - x = x, and the numbers into one; also where that only writes fewer
    minus signs (x - (-y - z) = x + y + z)."""
    x, y = args
    total = _collect(b, [(x, 1.0), (y, -1.0 if op == "sub" else 1.0)])
    if total is None:
        return None
    total.minus += op == "sub"
    if not (total.alike or total.fewer_signs):
        return None
    return _rebuild(b, total, b.out_shape(op, args, attrs))


@rewrite("mul")
def mul_rules(b, op, args, attrs):
    x, y = args
    shape = b.out_shape(op, args, attrs)
    for one, other in ((x, y), (y, x)):
        if b.is_zero_of(one, other):
            return b.const(0.0, shape)
        if b.is_value(one, 1.0) and _same_shape(b, other, shape):
            return other
        if b.is_value(one, -1.0) and _same_shape(b, other, shape):
            return b.add("neg", other)
    for const, other in ((x, y), (y, x)):  # c * (d * z) = (c d) * z for numbers c, d
        c = b.value(const)
        if c is not None and b.op(other) == "mul" and b.shape(const) == ():
            p, q = b.args(other)
            for d_node, z in ((p, q), (q, p)):
                d = b.value(d_node)
                if d is not None and b.shape(d_node) == () and _same_shape(b, z, shape) and math.isfinite(c * d):
                    return b.add("mul", b.const(c * d), z)
    for const, other in ((x, y), (y, x)):  # (-c) * y = -(c * y), c > 0: keeps signs outermost
        c = b.value(const)
        if c is not None and c < 0:
            return b.add("neg", b.add("mul", b.const(-c, b.shape(const)), other))
    if b.op(x) == "neg" and b.op(y) == "neg":
        return b.add("mul", b.args(x)[0], b.args(y)[0])
    for neg, other in ((x, y), (y, x)):  # (-x) * y = -(x * y): keeps signs outermost
        if b.op(neg) == "neg":
            return b.add("neg", b.add("mul", b.args(neg)[0], other))
    return None


@rewrite("div")
def div_rules(b, op, args, attrs):
    x, y = args
    shape = b.out_shape(op, args, attrs)
    if b.is_zero_of(x, y) and not b.is_value(y, 0.0):  # 0 / 0 is NaN, not 0
        return b.const(0.0, shape)
    if b.is_value(y, 1.0) and _same_shape(b, x, shape):
        return x
    if b.op(x) == "neg":  # (-x) / y = -(x / y): keeps signs outermost
        return b.add("neg", b.add("div", b.args(x)[0], y))
    return None


@rewrite("pow")
def pow_rules(b, op, args, attrs):
    x, y = args
    shape = b.out_shape(op, args, attrs)
    if b.is_value(y, 1.0) and _same_shape(b, x, shape):
        return x
    if b.is_value(y, 2.0) and _same_shape(b, x, shape):
        return b.add("square", x)
    return None


@rewrite("neg")
def neg_neg(b, op, args, attrs):
    (x,) = args
    if b.op(x) == "neg":
        return b.args(x)[0]
    if b.op(x) == "sub":  # -(x - y) = y - x
        p, q = b.args(x)
        return b.add("sub", q, p) if b.shape(p) == b.shape(q) else None
    return None


@rewrite("tensordot", "batch_tensordot")
def pull_negation(b, op, args, attrs):
    """(-x) @ y = -(x @ y): signs move outwards, where they fold with others."""
    x, y = args
    if b.op(x) == "neg" or b.op(y) == "neg":
        x2 = b.args(x)[0] if b.op(x) == "neg" else x
        y2 = b.args(y)[0] if b.op(y) == "neg" else y
        inner = b.add(op, x2, y2, **attrs)
        flips = (b.op(x) == "neg") + (b.op(y) == "neg")
        return inner if flips == 2 else b.add("neg", inner)
    return None


@rewrite("sum", "sum_to", "batch_sum", "transpose", "broadcast")
def pull_negation_linear(b, op, args, attrs):
    (x,) = args
    if b.op(x) == "neg":
        return b.add("neg", b.add(op, b.args(x)[0], **attrs))
    return None


@rewrite("transpose")
def transpose_transpose(b, op, args, attrs):
    (x,) = args
    perm = tuple(attrs["perm"])
    if perm == tuple(range(len(perm))):
        return x
    if b.op(x) == "transpose":
        inner = b.attrs(x)["perm"]
        return b.transpose(b.args(x)[0], tuple(inner[p] for p in perm))
    return None


@rewrite("broadcast", "sum_to")
def same_shape_noop(b, op, args, attrs):
    return args[0] if b.shape(args[0]) == tuple(attrs["shape"]) else None


@rewrite("neg")  # after neg_neg, which writes -(x - y) as y - x
def negate_chain(b, op, args, attrs):
    """-(-x - y + z) = x + y - z where that writes fewer minus signs."""
    (x,) = args
    if b.op(x) not in ("add", "sub"):
        return None
    total = _collect(b, [(x, -1.0)])
    if total is None:
        return None
    total.minus += 1
    if not (total.alike or total.fewer_signs):
        return None
    return _rebuild(b, total, b.shape(x))
