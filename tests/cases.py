"""Graphs shared by the tests: one case per op, random expression graphs, and the classic models.

Op cases: operand shapes, attrs, domains, references.

Each case is one op applied to operands of given per-sample shapes, with a
plain numpy reference for one sample and a domain for each operand's random
values ("any", "pos" for log/sqrt/pow bases, "nonzero" away from kinks and poles).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from ebmc.ir.graph import Builder
from ebmc.ir.ops import FUNCTIONS, ShapeError

DIMS = {"N": 3, "M": 2}
BATCH = 3


@dataclass(frozen=True)
class Case:
    op: str
    shapes: tuple
    ref: object  # numpy function of the operand values (one sample) -> value
    attrs: dict = field(default_factory=dict)
    domains: tuple = ()

    @property
    def id(self) -> str:
        attrs = ",".join(f"{k}={v}" for k, v in self.attrs.items() if k != "shape")
        if "shape" in self.attrs:
            attrs += f"->{list(self.attrs['shape'])}"
        return f"{self.op}({' '.join(str(list(s)) for s in self.shapes)}){attrs}"

    def domain(self, i) -> str:
        return self.domains[i] if i < len(self.domains) else "any"


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


UNARY = {
    "neg": (np.negative, "any"),
    "exp": (np.exp, "any"),
    "log": (np.log, "pos"),
    "sqrt": (np.sqrt, "pos"),
    "abs": (np.abs, "nonzero"),
    "square": (np.square, "any"),
    "sigmoid": (_sigmoid, "any"),
    "tanh": (np.tanh, "any"),
    "relu": (lambda x: np.maximum(x, 0.0), "nonzero"),
    "softplus": (lambda x: np.log1p(np.exp(x)), "any"),
    "log_sigmoid": (lambda x: -np.log1p(np.exp(-x)), "any"),
    "sign": (np.sign, "nonzero"),
    "step": (lambda x: (x > 0).astype(float), "nonzero"),
}
UNARY_SHAPES = [(), (3,), (2, "N"), (2, 3, 2)]

BINARY = {
    "add": (np.add, ("any", "any")),
    "sub": (np.subtract, ("any", "any")),
    "mul": (np.multiply, ("any", "any")),
    "div": (np.divide, ("any", "nonzero")),
    "pow": (np.power, ("pos", "any")),
}
BINARY_SHAPES = [
    ((), ()),
    ((3,), (3,)),
    ((), (3,)),
    ((3,), ()),
    ((2, 3), (3,)),
    ((3,), (2, 3)),
    ((2, 1), (1, 3)),
    ((2, 3, 4), (3, 1)),
    ((4,), (2, 3, 4)),
    (("N",), (2, "N")),
]


def _tensordot_cases():
    out = []
    for n in (0, 1, 2):
        for ra, rb in itertools.product(range(4), repeat=2):
            if ra < n or rb < n or (n == 1 and (ra == 0 or rb == 0)):
                continue
            a = (2, 3, 5)[: ra - n] + (4, "N")[:n]
            b = (4, "N")[:n] + (5, 2, 6)[: rb - n]
            out.append(Case("tensordot", (a, b), lambda x, y, n=n: np.tensordot(x, y, axes=n), {"n": n}))
    return out


def _sum_to(x, shape):
    x = x.sum(axis=tuple(range(x.ndim - len(shape))))
    kept = tuple(i for i, d in enumerate(shape) if d == 1 and x.shape[i] != 1)
    return x.sum(axis=kept, keepdims=True) if kept else x


def _moment(values, k):
    """log sum_s exp(f s - p s^2 / 2) (k = 0) or E[s^k], written out by hand."""

    def ref(f, p):
        f, p = np.broadcast_arrays(f, p)
        w = np.stack([np.exp(f * s - 0.5 * p * s * s) for s in values])
        if k == 0:
            return np.log(w.sum(axis=0))
        return sum(wi * s**k for wi, s in zip(w, values, strict=True)) / w.sum(axis=0)

    return ref


def _softmax(x):
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def resolve(shape):
    return tuple(DIMS.get(d, d) for d in shape)


SUM_TO = [
    ((2, 3), (3,)),
    ((2, 3), (1, 3)),
    ((2, 3), (2, 1)),
    ((2, 3), ()),
    ((4, 2, 3), (2, 1)),
    ((2, 3), (2, 3)),
    ((4, 2, 3), (1, 1)),
    (("N", 2), (2,)),
    ((2, 3), (1, 1)),
    ((3,), ()),
]
BROADCAST = [
    ((3,), (2, 3)),
    ((), (2, 3)),
    ((1, 3), (2, 3)),
    ((2, 1), (2, 3)),
    ((3,), ("N", 2, 3)),
    ((), ()),
    ((2, 1), (4, 2, 3)),
]

CASES: list[Case] = [
    *(Case(op, (s,), f, domains=(d,)) for op, (f, d) in UNARY.items() for s in UNARY_SHAPES),
    *(Case(op, shapes, f, domains=d) for op, (f, d) in BINARY.items() for shapes in BINARY_SHAPES),
    *_tensordot_cases(),
    *(
        Case("transpose", (tuple((2, 3, 4)[:r]),), lambda x, p=p: np.transpose(x, p), {"perm": p})
        for r in range(4)
        for p in itertools.permutations(range(r))
    ),
    *(Case("sum", (s,), np.sum) for s in [(), (3,), (2, 3), (2, "N", 4)]),
    *(Case("logsumexp", (s,), lambda x: np.log(np.exp(x).sum())) for s in [(), (3,), (2, 3), (2, 3, 4)]),
    *(Case("sum_last", (s,), lambda x: x.sum(axis=-1, keepdims=True)) for s in [(3,), (2, "N"), (2, 3, 4)]),
    *(Case("softmax", (s,), _softmax) for s in [(3,), (2, "N"), (2, 3, 4)]),
    *(Case("log_softmax", (s,), lambda x: np.log(_softmax(x))) for s in [(3,), (2, "N"), (2, 3, 4)]),
    *(
        Case("bce", shapes, lambda y, t: -(t * np.log(y) + (1 - t) * np.log(1 - y)), domains=("unit", "unit"))
        for shapes in [((), ()), ((3,), (3,)), ((2, 3), (3,)), ((3,), ())]
    ),
    *(
        Case(
            "bce_logits",
            shapes,
            lambda z, t: -(t * np.log(_sigmoid(z)) + (1 - t) * np.log(1 - _sigmoid(z))),
            domains=("any", "unit"),
        )
        for shapes in [((), ()), ((3,), (3,)), ((2, 3), (3,)), ((3,), (2, 3))]
    ),
    *(
        Case("logsumexp_last", (s,), lambda x: np.log(np.exp(x).sum(axis=-1, keepdims=True)))
        for s in [(3,), (2, 3), (2, 3, 4)]
    ),
    *(
        Case("values_moment", shapes, _moment(values, k), {"values": values, "k": k})
        for values in [(-1.0, 0.0, 1.0), (0.0, 1.0, 2.0, 5.0)]
        for k in (0, 1, 2)
        for shapes in [((3,), (3,)), ((2, 3), ())]
    ),
    *(Case("sum_to", (src,), lambda x, t=t: _sum_to(x, resolve(t)), {"shape": t}) for src, t in SUM_TO),
    *(Case("broadcast", (src,), lambda x, t=t: np.broadcast_to(x, resolve(t)), {"shape": t}) for src, t in BROADCAST),
]


def random_value(rng, shape, domain):
    shape = resolve(shape)
    if domain == "pos":
        return rng.uniform(0.5, 2.0, size=shape)
    if domain == "unit":
        return rng.uniform(0.1, 0.9, size=shape)
    if domain == "nonzero":
        return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.5, 2.0, size=shape)
    return rng.uniform(-2.0, 2.0, size=shape)


def case_graph(case: Case, flags=None):
    """A graph computing `case` on vars x0, x1 (batched ones are 'visible', the others 'param')."""
    flags = flags or (False,) * len(case.shapes)
    b = Builder()
    xs = [
        b.var(f"x{i}", "visible" if f else "param", s) for i, (s, f) in enumerate(zip(case.shapes, flags, strict=True))
    ]
    b.output("y", b.add(case.op, *xs, **case.attrs))
    return b


def case_values(rng, case: Case, flags=None, batch=None):
    flags = flags or (False,) * len(case.shapes)
    values = {}
    for i, (s, f) in enumerate(zip(case.shapes, flags, strict=True)):
        lead = (batch,) if f and batch is not None else ()
        values[f"x{i}"] = random_value(rng, lead + tuple(s), case.domain(i))
    return values


# ---------------------------------------------------------------- random expression graphs
# A graph is described by a list of steps (op, i, j): apply op to pool[i] (and pool[j]), where
# the pool starts with the leaves and grows by one node a step. Steps whose shapes do not fit
# are skipped. Leaf values are in [-1, 1] and the ops keep values bounded, so nothing overflows.
RANDOM_LEAVES = {"x": ("visible", (3,)), "y": ("param", (3,)), "W": ("param", (3, 3)), "s": ("param", ())}
SMOOTH_OPS = (
    "add",
    "sub",
    "mul",
    "neg",
    "tanh",
    "sigmoid",
    "square",
    "tensordot",
    "outer",
    "transpose",
    "sum",
    "sum_last",
    "sum_to",
    "broadcast",
    "pow",
    "softmax",
    "logsumexp",
    "softplus",
)
ALL_RANDOM_OPS = (*SMOOTH_OPS, "relu", "abs", "step", "sign")


def build_random(steps, ops=ALL_RANDOM_OPS):
    """(builder, output node): the scalar sum of the last node built by `steps`."""
    b = Builder()
    pool = [b.var(name, role, shape) for name, (role, shape) in RANDOM_LEAVES.items()]
    pool += [b.const(0.0), b.const(1.0), b.const(-1.0), b.const(0.0, (3,)), b.const(2.0, (3, 1))]
    exponents = [b.const(1.0), b.const(2.0)]
    for op, i, j in steps:
        op = ops[op % len(ops)]
        x, y = pool[i % len(pool)], pool[j % len(pool)]
        rank = len(b.shape(x))
        try:
            if op == "tensordot":
                n = b.add("tensordot", x, y, n=1)
            elif op == "outer":
                n = b.add("tensordot", x, y, n=0) if rank + len(b.shape(y)) <= 3 else None
            elif op == "transpose":
                n = b.add("transpose", x, perm=tuple(reversed(range(rank))))
            elif op == "sum_to":
                n = b.add("sum_to", x, shape=tuple(b.shape(x)[1:]))
            elif op == "broadcast":
                n = b.add("broadcast", x, shape=(2,) + tuple(b.shape(x))) if rank < 3 else None
            elif op == "pow":
                n = b.add("pow", x, exponents[j % 2])
            elif op in ("add", "sub", "mul"):
                n = b.add(op, x, y)
            else:
                n = b.add(op, x)
        except ShapeError:
            n = None
        if n is not None:
            pool.append(n)
    out = b.add("sum", pool[-1])
    b.output("out", out)
    return b, out


def random_leaf_values(rng, batch=None):
    return {
        name: rng.uniform(-1.0, 1.0, size=((batch,) if role == "visible" and batch else ()) + shape)
        for name, (role, shape) in RANDOM_LEAVES.items()
    }


# ---------------------------------------------------------------- the classic models
def rbm():
    b = Builder()
    v, h = b.var("v", "visible", ("nv",)), b.var("h", "hidden", ("nh",))
    a, c = b.var("a", "param", ("nv",)), b.var("b", "param", ("nh",))
    W = b.var("W", "param", ("nv", "nh"))
    vWh = b.add("tensordot", b.add("tensordot", v, W, n=1), h, n=1)
    energy = b.add("sub", b.add("sub", b.add("neg", b.add("tensordot", a, v, n=1)), b.add("tensordot", c, h, n=1)), vWh)
    b.output("energy", energy)
    return b


RBM_DIMS = {"nv": 4, "nh": 3}


def rbm_values(rng, batch=BATCH):
    return {
        "v": rng.integers(0, 2, size=(batch, 4)).astype(float),
        "h": rng.integers(0, 2, size=(batch, 3)).astype(float),
        "a": rng.normal(size=4),
        "b": rng.normal(size=3),
        "W": rng.normal(size=(4, 3)),
    }


MLP_DIMS = {"d": 3, "k": 2, "c": 3}


def mlp():
    """cross_entropy(softmax(relu(x W1 + b1) W2 + b2), t), built from the language's FUNCTIONS."""
    b = Builder()
    x, t = b.var("x", "input", ("d",)), b.var("t", "target", ("c",))
    W1, b1 = b.var("W1", "param", ("d", "k")), b.var("b1", "param", ("k",))
    W2, b2 = b.var("W2", "param", ("k", "c")), b.var("b2", "param", ("c",))
    hidden = FUNCTIONS["relu"].expand(b, b.add("add", b.add("tensordot", x, W1, n=1), b1))
    y = FUNCTIONS["softmax"].expand(b, b.add("add", b.add("tensordot", hidden, W2, n=1), b2))
    b.output("loss", FUNCTIONS["cross_entropy"].expand(b, y, t))
    return b


def mlp_values(rng, batch=BATCH):
    t = np.eye(3)[rng.integers(0, 3, size=batch)] if batch else np.eye(3)[1]
    lead = (batch,) if batch else ()
    return {
        "x": rng.normal(size=lead + (3,)),
        "t": t,
        "W1": rng.normal(size=(3, 2)),
        "b1": rng.normal(size=2) + 0.5,
        "W2": rng.normal(size=(2, 3)),
        "b2": rng.normal(size=3),
    }
