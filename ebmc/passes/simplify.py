"""Simplification: constant folding, algebraic identities, like terms, CSE and dead-code removal.

`Simplifier` is a graph builder that rewrites each node as it is added, so any
pass that builds with it produces simplified graphs; `simplify(g)` rebuilds a
whole graph with it. Common subexpressions are shared by the builder itself
(structurally equal nodes are one node) and rebuilding from the outputs keeps
only what they need (dead code is never copied).

Rewrites are rules, data: a pattern and a replacement (`passes/patterns.py`),
registered through the `ebmc.rewrites` entry point group; ebmc's own are
`RULES` below, registered the same way. `Simplifier.add` tries the rules whose
pattern matches the node being built, in order, and the first that gives a node
wins; that node was itself built with the rules applied, so a graph built by a
Simplifier is a fixpoint of them (simplifying it again changes nothing).

Like terms: a chain of +, - and products with a number is the sum
sum_t c_t * t + c_0 over terms t (equal up to the order of the operands of +
and *), so x - x = 0, (a + x) - x = a and 2 x - x = x; the sum is rebuilt
where terms were alike or it writes fewer minus signs, with a zero of the
result's shape where a cancelled term broadcast it. Numbers come out of
contractions ((c x) @ y = c (x @ y)) and a param declared `symmetric` is its
own transpose, so that 0.5 v @ L + 0.5 v @ L.T meet as like terms: v @ L.

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
from ..plugins import registry
from .patterns import Rule, index, match, number, pattern, x


def rules() -> list[Rule]:
    """Every registered rewrite rule, ebmc's own first, in the order they were registered."""
    return list(registry().rewrites.values())


class Simplifier(Builder):
    """`extra`: rules of a pass's own, tried before the registered ones."""

    def __init__(self, graph: nx.DiGraph | None = None, extra: tuple = ()):
        super().__init__(graph)
        self._all_rules = [*extra, *rules()]
        self._rules = index(self._all_rules, self.ops)  # op name -> the rules that can match its nodes
        self._values: dict = {}  # node -> its value where it is a constant expression (constant_value)
        self._numbers: dict = {}  # node -> whether it is built from numbers alone
        self._terms: dict = {}  # node -> its number as a term of a sum (`term`)
        self._interned: dict = {}

    def add(self, op: str, *args: int, **attrs) -> int:
        candidates = self._rules.get(op)
        if candidates is None:  # an op registered after this builder was made
            candidates = self._rules[op] = index(self._all_rules, {op: self.ops[op]})[op]
        if candidates:
            shape = self.ops[op].shape([self.shape(a) for a in args], attrs)
            for rule in candidates:
                m = match(self, rule, op, args, attrs, shape)
                if m is not None:
                    out = rule.replace(self, m)
                    if out is not None:
                        return out
        return super().add(op, *args, **attrs)

    # -- facts about nodes the rules use
    def value(self, n) -> float | None:
        """The number a constant node holds, else None."""
        d = self.g.nodes[n]
        rule = self.ops[d["op"]].value
        return rule(d["attrs"]) if rule is not None else None

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
            number = self.ops[self.op(m)].value is not None
            self._numbers[m] = number if not operands else all(self._numbers[a] for a in operands)
        return self._numbers[n]

    def term(self, n) -> int:
        """A number for n that is the same for nodes equal up to the order of the operands of the
        commutative ops (v * h and h * v, sum(v * h) and sum(h * v)): like terms are those."""
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
                key = (op, _freeze(self.attrs(m)), tuple(sorted(ids) if self.ops[op].commutative else ids))
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


def rewrite(g: nx.DiGraph, extra) -> nx.DiGraph:
    """g rebuilt with the rules `extra` tried before the registered ones; the nodes that no rule
    changes keep their ids (the builder starts from g and shares equal nodes)."""
    b = Simplifier(g.copy(), tuple(extra))
    mapping = copy_into(b, g, g.graph["outputs"].values())
    b.g.graph["outputs"] = {name: mapping[n] for name, n in g.graph["outputs"].items()}
    return prune(b.g)


def prune(g: nx.DiGraph) -> nx.DiGraph:
    """Drop the nodes no output needs (dead code), keeping graph attributes."""
    keep = upstream(g, g.graph["outputs"].values())
    out = g.subgraph(keep).copy()
    out.graph.update(g.graph)
    return out


# ---------------------------------------------------------------- folding
def _fold_scalar(b: Simplifier, op: str, values: list[float], attrs) -> float | None:
    """The value of op on numbers, by the op's scalar rule; None where it is not a finite number."""
    with np.errstate(all="ignore"):
        try:
            result = float(b.ops[op].scalar(*values))
        except (ArithmeticError, ValueError, TypeError):
            return None
    return result if math.isfinite(result) else None


# ---------------------------------------------------------------- like terms
MAX_TERMS = 64  # a longer chain of + and - is left alone: collecting it at every step would be quadratic


def _signed_terms(b, n, sign: float, out: list) -> int | None:
    """Append n, flattened into (node, coefficient) terms of a sum, to out; returns how many minus
    signs (sub, neg) the chain writes, or None past MAX_TERMS.

    The chain runs through the signed sums of the op table (add, sub, neg) and products with a
    finite number."""
    stack = [(n, sign)]
    minus = 0
    while stack:
        m, c = stack.pop()
        entry = b.ops[b.op(m)]
        if entry.signs is not None:  # a signed sum of its operands: add, sub, neg
            stack += [(a, c * s) for a, s in reversed(list(zip(b.args(m), entry.signs, strict=True)))]
            minus += sum(s < 0 for s in entry.signs)
            continue
        if entry.product:
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


# ---------------------------------------------------------------- the rules
def _same_shape(name):
    """The captured node has the result's shape (dropping the op would not lose a broadcast)."""
    return lambda b, m: b.shape(m[name]) == tuple(m.shape)


def _scalar(b, n) -> bool:
    return b.shape(n) == ()


def _negative(b, n) -> bool:
    return b.value(n) < 0


def _finite_value(b, n) -> bool:
    return math.isfinite(b.value(n))


def _fold(b, m):
    """An elementwise op of constants is a constant, also where an operand is a constant that did
    not fold to a finite number: exp(-1 / 0) is 0."""
    values = [b.value(a) if b.value(a) is not None else b.repeated_number(a) for a in m.args]
    if any(v is None for v in values):
        return None
    folded = _fold_scalar(b, m.op, values, m.attrs)
    return None if folded is None else b.const(folded, m.shape)


def _sum_of_a_number(b, m):
    """sum of c repeated over a shape = c * size(shape)."""
    return b.add("mul", b.const(b.value(m["c"])), b.numel(b.shape(m["c"])))


def _collect_like_terms(b, m):
    """Sum the coefficients of equal terms across a chain of + and -: x - x = 0, (a + x) - x = a,
    a - x + x = a, 2 * x - x = x, and the numbers into one; also where that only writes fewer
    minus signs (x - (-y - z) = x + y + z)."""
    x, y = m.args
    minus = -1.0 if b.ops[m.op].signs[1] < 0 else 1.0
    total = _collect(b, [(x, 1.0), (y, minus)])
    if total is None:
        return None
    total.minus += minus < 0
    if not (total.alike or total.fewer_signs):
        return None
    return _rebuild(b, total, m.shape)


def _negate_chain(b, m):
    """-(-x - y + z) = x + y - z where that writes fewer minus signs."""
    (x,) = m.args
    total = _collect(b, [(x, -1.0)])
    if total is None:
        return None
    total.minus += 1
    if not (total.alike or total.fewer_signs):
        return None
    return _rebuild(b, total, b.shape(x))


def _compose_transposes(b, m):
    inner = b.attrs(m["inner"])["perm"]
    return b.transpose(m["x"], tuple(inner[p] for p in m.attrs["perm"]))


def _symmetric(b, n) -> bool:
    """n is a square matrix declared `symmetric` (W.T is W)."""
    shape = b.shape(n)
    return bool(b.attrs(n).get("symmetric")) and len(shape) == 2 and shape[0] == shape[1]


def _onehot(b, n) -> bool:
    """n is data declared `onehot`: its entries along the last axis are 0 but for one 1."""
    return b.ops[b.op(n)].named and bool(b.attrs(n).get("onehot")) and len(b.shape(n)) > 0


def _ones_where_onehot(b, m):
    """sum along the last axis of one-hot data: 1 for every row."""
    return b.const(1.0, tuple(m.shape))


def _scale_out(b, m):
    """(c * z) @ y = c * (z @ y), a number c: the numbers of a contraction come out, where they
    fold with others and like terms meet."""
    operands = [m["z"] if a == m["scaled"] else a for a in m.args]
    return b.add("mul", b.const(b.value(m["c"])), b.add(m.op, *operands, **m.attrs))


X, Y, Z = x("x"), x("y"), x("z")
ZERO, ONE = number(value=0.0), number(value=1.0)
NEG_X, NEG_Y = pattern("neg", X), pattern("neg", Y)
CONTRACTIONS = ("tensordot", "batch_tensordot")
# the ops that are linear in their one operand and write nothing of their own: -op(x) = op(-x)
_UNARY_LINEAR = ("sum", "sum_last", "sum_to", "batch_sum", "transpose", "broadcast")
_SCALED = pattern("mul", number("c", where=_finite_value), Z, name="scaled", commute=True)


def _rule(name, pat, replace, where=None, doc=""):
    return Rule(name, pat, replace, where, doc)


RULES: list[Rule] = [
    # folding
    _rule(
        "fold",
        pattern(lambda op: op.elementwise and op.scalar is not None),
        _fold,
        doc="an elementwise op of numbers is a number (by the op's scalar rule)",
    ),
    _rule(
        "zero-contraction",
        pattern(CONTRACTIONS, ZERO, X, commute=True),
        lambda b, m: b.const(0.0, m.shape),
        lambda b, m: b.finite(m["x"]),
        "x @ 0 = 0 @ x = 0",
    ),
    _rule(
        "outer-with-a-scalar",
        pattern("tensordot"),
        lambda b, m: b.add("mul", *m.args),
        lambda b, m: m.attrs.get("n", 1) == 0 and any(b.shape(a) == () for a in m.args),
        "a contraction over no axes with a scalar is a product",
    ),
    _rule(
        "zero-sum",
        pattern(("sum", "sum_last", "sum_to", "batch_sum"), ZERO),
        lambda b, m: b.const(0.0, m.shape),
        doc="sum(0) = 0",
    ),
    _rule(
        "sum-of-a-number",
        pattern("sum", number("c", where=lambda b, n: math.isfinite(b.value(n)) and b.shape(n) != ())),
        _sum_of_a_number,
        doc="sum of c repeated = c * size",
    ),
    _rule(
        "broadcast-a-number",
        pattern("broadcast", number("c")),
        lambda b, m: b.const(b.value(m["c"]), tuple(m.attrs["shape"])),
        doc="a number broadcast is the number",
    ),
    # identities
    _rule("add-zero", pattern("add", X, ZERO, commute=True), lambda b, m: m["x"], _same_shape("x"), "x + 0 = x"),
    _rule("add-neg", pattern("add", X, NEG_Y), lambda b, m: b.add("sub", m["x"], m["y"]), doc="x + (-y) = x - y"),
    _rule(
        "add-negative-number",
        pattern("add", X, number("c", where=_negative)),
        lambda b, m: b.add("sub", m["x"], b.const(-b.value(m["c"]), b.shape(m["c"]))),
        doc="x + (-2) = x - 2",
    ),
    _rule("neg-add", pattern("add", NEG_X, Y), lambda b, m: b.add("sub", m["y"], m["x"]), doc="(-x) + y = y - x"),
    _rule("sub-zero", pattern("sub", X, ZERO), lambda b, m: m["x"], _same_shape("x"), "x - 0 = x"),
    _rule("zero-sub", pattern("sub", ZERO, Y), lambda b, m: b.add("neg", m["y"]), _same_shape("y"), "0 - y = -y"),
    _rule("sub-neg", pattern("sub", X, NEG_Y), lambda b, m: b.add("add", m["x"], m["y"]), doc="x - (-y) = x + y"),
    _rule(
        "like-terms",
        pattern(("add", "sub")),
        _collect_like_terms,
        doc="collect like terms and numbers of a chain of + and -",
    ),
    _rule(
        "mul-zero",
        pattern("mul", ZERO, X, commute=True),
        lambda b, m: b.const(0.0, m.shape),
        lambda b, m: b.finite(m["x"]),
        "0 * x = 0",
    ),
    _rule("mul-one", pattern("mul", ONE, X, commute=True), lambda b, m: m["x"], _same_shape("x"), "1 * x = x"),
    _rule(
        "mul-minus-one",
        pattern("mul", number(value=-1.0), X, commute=True),
        lambda b, m: b.add("neg", m["x"]),
        _same_shape("x"),
        "-1 * x = -x",
    ),
    _rule(
        "numbers-of-a-product",
        pattern(
            "mul",
            number("c"),
            pattern("mul", number("d"), Z, commute=True),
            commute=True,
        ),
        lambda b, m: b.add("mul", b.const(b.value(m["c"]) * b.value(m["d"])), m["z"]),
        lambda b, m: _same_shape("z")(b, m) and math.isfinite(b.value(m["c"]) * b.value(m["d"])),
        "c * (d * z) = (c d) * z (numbers repeated over z's shape or less)",
    ),
    _rule(
        "negative-factor",
        pattern("mul", number("c", where=_negative), X, commute=True),
        lambda b, m: b.add("neg", b.add("mul", b.const(-b.value(m["c"]), b.shape(m["c"])), m["x"])),
        doc="(-c) * x = -(c * x): signs outermost",
    ),
    _rule("neg-neg-product", pattern("mul", NEG_X, NEG_Y), lambda b, m: b.add("mul", m["x"], m["y"]), doc="(-x)(-y)"),
    _rule(
        "neg-factor",
        pattern("mul", NEG_X, Y, commute=True),
        lambda b, m: b.add("neg", b.add("mul", m["x"], m["y"])),
        doc="(-x) * y = -(x * y): signs outermost",
    ),
    _rule(
        "zero-div",
        pattern("div", ZERO, Y),
        lambda b, m: b.const(0.0, m.shape),
        lambda b, m: b.finite(m["y"]) and not b.is_value(m["y"], 0.0),
        "0 / y = 0 (0 / 0 is NaN)",
    ),
    _rule("div-one", pattern("div", X, ONE), lambda b, m: m["x"], _same_shape("x"), "x / 1 = x"),
    _rule("neg-div", pattern("div", NEG_X, Y), lambda b, m: b.add("neg", b.add("div", m["x"], m["y"])), doc="(-x)/y"),
    _rule("pow-one", pattern("pow", X, ONE), lambda b, m: m["x"], _same_shape("x"), "x ** 1 = x"),
    _rule(
        "pow-two",
        pattern("pow", X, number(value=2.0)),
        lambda b, m: b.add("square", m["x"]),
        _same_shape("x"),
        "x ** 2 = square(x)",
    ),
    _rule("neg-neg", pattern("neg", NEG_X), lambda b, m: m["x"], doc="-(-x) = x"),
    _rule(
        "neg-sub",
        pattern("neg", pattern("sub", X, Y)),
        lambda b, m: b.add("sub", m["y"], m["x"]),
        lambda b, m: b.shape(m["x"]) == b.shape(m["y"]),
        "-(x - y) = y - x",
    ),
    _rule(
        "contract-negs",
        pattern(CONTRACTIONS, NEG_X, NEG_Y),
        lambda b, m: b.add(m.op, m["x"], m["y"], **m.attrs),
        doc="(-x) @ (-y) = x @ y",
    ),
    _rule(
        "contract-neg",
        pattern(CONTRACTIONS, NEG_X, Y),
        lambda b, m: b.add("neg", b.add(m.op, m["x"], m["y"], **m.attrs)),
        doc="(-x) @ y = -(x @ y)",
    ),
    _rule(
        "contract-with-neg",
        pattern(CONTRACTIONS, X, NEG_Y),
        lambda b, m: b.add("neg", b.add(m.op, m["x"], m["y"], **m.attrs)),
        doc="x @ (-y) = -(x @ y)",
    ),
    _rule(
        "contract-scaled",
        pattern(CONTRACTIONS, _SCALED, Y),
        _scale_out,
        lambda b, m: b.shape(m["z"]) == b.shape(m["scaled"]),
        "(c * x) @ y = c * (x @ y)",
    ),
    _rule(
        "contract-with-scaled",
        pattern(CONTRACTIONS, Y, _SCALED),
        _scale_out,
        lambda b, m: b.shape(m["z"]) == b.shape(m["scaled"]),
        "x @ (c * y) = c * (x @ y)",
    ),
    _rule(
        "pull-neg",
        pattern(_UNARY_LINEAR, NEG_X),
        lambda b, m: b.add("neg", b.add(m.op, m["x"], **m.attrs)),
        doc="op(-x) = -op(x) for sum, transpose, ...",
    ),
    _rule(
        "identity-transpose",
        pattern("transpose", X),
        lambda b, m: m["x"],
        lambda b, m: tuple(m.attrs["perm"]) == tuple(range(len(m.attrs["perm"]))),
        "x.transpose(0, 1, ...) = x",
    ),
    _rule(
        "transpose-transpose",
        pattern("transpose", pattern("transpose", X, name="inner")),
        _compose_transposes,
        doc="transposes compose",
    ),
    _rule(
        "symmetric-transpose",
        pattern("transpose", x("x", where=_symmetric)),
        lambda b, m: m["x"],
        doc="W.T = W for a param declared symmetric",
    ),
    _rule(
        "same-shape",
        pattern(("broadcast", "sum_to"), X),
        lambda b, m: m["x"],
        lambda b, m: b.shape(m["x"]) == tuple(m.attrs["shape"]),
        "broadcasting or summing to the shape a value has is the value",
    ),
    # stable forms: a log of a value that can round to 0, written as a function that cannot
    _rule(
        "log-softmax",
        pattern("log", pattern("softmax", X)),
        lambda b, m: b.add("log_softmax", m["x"]),
        doc="log(softmax(x)) = log_softmax(x) = x - logsumexp(x) along the last axis (no log(0))",
    ),
    _rule(
        "log-sigmoid",
        pattern("log", pattern("sigmoid", X)),
        lambda b, m: b.add("log_sigmoid", m["x"]),
        doc="log(sigmoid(x)) = log_sigmoid(x) = -softplus(-x) (no log(0))",
    ),
    _rule(
        "log-one-minus-sigmoid",
        pattern("log", pattern("sub", ONE, pattern("sigmoid", X, name="s"))),
        lambda b, m: b.add("neg", b.add("softplus", m["x"])),
        lambda b, m: b.shape(m["s"]) == tuple(m.shape),
        "log(1 - sigmoid(x)) = -softplus(x) (no log(0))",
    ),
    _rule(
        "bce-of-sigmoid",
        pattern("bce", pattern("sigmoid", X), Y),
        lambda b, m: b.add("bce_logits", m["x"], m["y"]),
        doc="bce(sigmoid(z), t) = softplus(z) - t * z: finite for any z, and d/dz = sigmoid(z) - t",
    ),
    _rule(
        "onehot-rows",
        pattern("sum_last", x("x", where=_onehot)),
        _ones_where_onehot,
        doc="sum along the last axis of data declared onehot = 1",
    ),
    _rule(
        "onehot-sum",
        pattern("sum", x("x", where=_onehot)),
        _ones_where_onehot,
        lambda b, m: len(b.shape(m["x"])) == 1,
        "sum of a onehot vector = 1",
    ),
    _rule(
        "negate-chain",
        pattern("neg", pattern(("add", "sub"))),
        _negate_chain,
        doc="-(-x - y + z) = x + y - z where that writes fewer minus signs",
    ),
]
