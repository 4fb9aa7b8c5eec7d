"""Evaluate a graph numerically, with the same numpy code the backend emits.

Each node's value is computed by the numpy backend's lowering of its op
(`backends/numpy/lowerings.py`, imported when first needed: the backend is a
later stage, and this evaluator serves tests and checks): the lowering returns
a small expression whose operands are generated temporaries (`t12`, ...), and
that expression is evaluated with the operand values bound to those names. No
user text is ever part of the code. This is the reference every numerical test
uses, so it checks that each value has the shape the op's shape rule promised.

With `batch=B`, batched values (unit groups, data, layers, see
`graph.batched`) carry a leading axis of B samples; with `batch=None` there is
no batch axis and every value is one sample's.

`constant_value` is the same evaluation for a node built from numbers alone
(a constant expression), as the graph is being built: lowering uses it to
refuse a constant that is not a finite number (`1 / 0`, `log(0)`, `exp(1000)`),
and the simplifier to keep such a value from being folded away (0 * (1 / 0)).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import networkx as nx
import numpy as np

from . import runtime
from .graph import args, batched, op_table


def _lowerings():
    """(Arg, lowering) of the numpy backend."""
    from ..backends.numpy.lowerings import Arg, lowering

    return Arg, lowering


# the generated module defines the same functions, from the same source text
HELPERS = {"_" + name: fn for name, fn in runtime.load().items()}


class EvaluationError(Exception):
    """Bad inputs to `evaluate`, or an op whose numpy rule disagrees with its shape rule."""


class NumpyContext:
    """What the numpy lowerings ask of the code they are emitted into.

    The numpy backend has a context with the same five members; this one is for
    evaluation, so dims are known numbers and the batch size is a literal.
    """

    def __init__(self, dims: Mapping[str, int], batch_size: int = 1, dtype: str = "np.float64"):
        self.dims = dict(dims)
        self._batch_size = int(batch_size)
        self._dtype = dtype

    def helper(self, name: str) -> str:
        """The name of the runtime helper function `name`."""
        if "_" + name not in HELPERS:
            raise EvaluationError(f"no runtime helper named {name!r} (known: {', '.join(HELPERS)})")
        return "_" + name

    def shape(self, symshape: tuple) -> str:
        """Code for the tuple of a shape."""
        return repr(resolve(symshape, self.dims))

    def numel(self, symshape: tuple) -> str:
        """Code for the number of entries of a shape (a float, like every other number)."""
        return self.number(float(math.prod(resolve(symshape, self.dims))))

    def number(self, x: float) -> str:
        """Code for a float, including inf and nan: a numpy float of the evaluation's dtype, so that
        1 / 0 is inf, as numpy has it, and not Python's ZeroDivisionError."""
        x = float(x)
        if math.isnan(x):
            return "np.nan"
        if math.isinf(x):
            return "np.inf" if x > 0 else "(-np.inf)"
        return f"{self._dtype}({x!r})"

    @property
    def dtype(self) -> str:
        return self._dtype

    @property
    def batch_size(self) -> str:
        return str(self._batch_size)


# a constant expression with more entries than this is evaluated only where it is one number repeated
CONSTANT_ENTRIES = 4096


def constant_value(b, n, memo: dict) -> np.ndarray | None:
    """The value of node n of builder b if n is built from `const` leaves alone, else None.

    Evaluated in float64: a repeated number by the op's scalar rule, an array by the numpy
    lowerings, like `evaluate`. A value that is one
    number repeated over a shape with dim names (or a large one) is that number, a 0-d array;
    elementwise ops keep such values repeated numbers. None also where the value is unknown
    (a sum over dim names, a rule that fails). `memo` (node -> value or None) is the caller's,
    kept across calls on the same builder.
    """
    ops = op_table()
    stack = [n]
    while stack:
        m = stack[-1]
        if m in memo:
            stack.pop()
            continue
        d = b.g.nodes[m]
        entry = ops[d["op"]]
        if entry.leaf:
            stack.pop()
            memo[m] = np.asarray(float(entry.value(d["attrs"]))) if entry.value is not None else None
            continue
        operands = b.args(m)
        pending = [a for a in operands if a not in memo]
        if pending:
            stack.extend(pending)
            continue
        stack.pop()
        values = [memo[a] for a in operands]
        memo[m] = None if any(v is None for v in values) else _apply_constant(ops[d["op"]], d, operands, values, b)
    return memo[n]


def _small(shape) -> bool:
    return all(isinstance(k, int) for k in shape) and math.prod(shape) <= CONSTANT_ENTRIES


def _apply_constant(op, d, operands, values, b) -> np.ndarray | None:
    shapes = [b.shape(a) for a in operands]
    repeated = op.elementwise and all(v.ndim == 0 for v in values)
    if repeated and op.scalar is not None:  # an elementwise op of repeated numbers is a repeated number
        try:
            return np.asarray(op.scalar(*(float(v) for v in values)), dtype=np.float64)
        except Exception:  # a plugin's rule that cannot run on these numbers: the value is unknown
            return None
    if repeated:  # compute it on one entry
        shapes = [() for _ in operands]
    elif not (_small(d["shape"]) and all(_small(s) for s in shapes)):
        return None
    else:
        values = [np.broadcast_to(v, s) for v, s in zip(values, shapes, strict=True)]
    names = [f"t{i}" for i in range(len(values))]
    Arg, lowering = _lowerings()
    try:
        rule = lowering(op.name).code
        code = rule([Arg(t, s, False) for t, s in zip(names, shapes, strict=True)], d["attrs"], _CONSTANT_CTX)
        with np.errstate(all="ignore"):
            value = np.asarray(
                eval(code, {"np": np, **HELPERS}, dict(zip(names, values, strict=True))), dtype=np.float64
            )
    except Exception:  # a plugin's rule that cannot run on plain arrays: the value is unknown
        return None
    want = () if repeated else d["shape"]
    return value if value.shape == want else None


def resolve(shape: tuple, dims: Mapping[str, int]) -> tuple[int, ...]:
    """A shape with every dim name replaced by its size."""
    try:
        return tuple(d if isinstance(d, int) else int(dims[d]) for d in shape)
    except KeyError as exc:
        raise EvaluationError(f"no size given for dim {exc.args[0]!r} (dims: {dict(dims)})") from None


class Plan:
    """A graph compiled for evaluation: each node's numpy expression, compiled once.

    `run(values)` may then be called many times (finite differences do).
    """

    def __init__(
        self,
        g: nx.DiGraph,
        dims: Mapping[str, int],
        batch: int | None = None,
        outputs: list[str] | None = None,
        dtype=np.float64,
    ):
        self.g = g
        self.dims = dict(dims)
        self.batch = batch
        self.dtype = np.dtype(dtype)
        self.outputs = {name: g.graph["outputs"][name] for name in (outputs or g.graph["outputs"])}
        need = set()
        for n in self.outputs.values():
            need |= nx.ancestors(g, n) | {n}
        self.is_batched = batched(g) if batch is not None else dict.fromkeys(g.nodes, False)
        ctx = NumpyContext(self.dims, batch if batch is not None else 1, f"np.{self.dtype.name}")
        # the code is generated from the op table (no user text), so ordinary builtins are fine;
        # an empty __builtins__ makes np.multiply.outer crash the interpreter (numpy 2.4)
        self.namespace = {"np": np, **HELPERS}
        ops = op_table()
        Arg, lowering = _lowerings()
        self.steps = []  # (node, var name or None, code object or None, operand nodes, expected shape)
        for n in nx.topological_sort(g.subgraph(need)):
            d = g.nodes[n]
            expected = self.full_shape(n)
            if ops[d["op"]].named:
                self.steps.append((n, d["name"], None, (), expected))
                continue
            operands = args(g, n)
            arg_list = [Arg(f"t{a}", g.nodes[a]["shape"], self.is_batched[a]) for a in operands]
            text = lowering(d["op"]).code(arg_list, d["attrs"], ctx)
            code = compile(text, f"<{d['op']} %{n}>", "eval")
            self.steps.append((n, None, (code, text), operands, expected))

    def full_shape(self, n) -> tuple[int, ...]:
        """The numpy shape of node n: its resolved shape, after the batch axis if it has one."""
        shape = resolve(self.g.nodes[n]["shape"], self.dims)
        return ((self.batch,) if self.is_batched[n] else ()) + shape

    def run(self, values: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        env: dict[str, object] = {}
        for n, name, code, operands, expected in self.steps:
            if name is not None:
                if name not in values:
                    raise EvaluationError(f"no value given for {name!r}")
                value = np.array(values[name], dtype=self.dtype)  # a copy: outputs never alias inputs
                if value.shape != expected:
                    raise EvaluationError(f"{name!r} should have shape {expected}, got {value.shape}")
            else:
                compiled, text = code
                value = eval(compiled, self.namespace, {f"t{a}": env[f"t{a}"] for a in operands})
                if np.shape(value) != expected:
                    op = self.g.nodes[n]["op"]
                    raise EvaluationError(
                        f"node %{n} ({op}) computed shape {np.shape(value)} with `{text}`, "
                        f"but its shape rule says {expected}"
                    )
            env[f"t{n}"] = value
        return {name: np.asarray(env[f"t{n}"]) for name, n in self.outputs.items()}


_CONSTANT_CTX = NumpyContext({})


def evaluate(
    g: nx.DiGraph,
    values: Mapping[str, np.ndarray],
    dims: Mapping[str, int],
    batch: int | None = None,
    outputs: list[str] | None = None,
    dtype=np.float64,
) -> dict[str, np.ndarray]:
    """output name -> value of every output of g (or of `outputs`).

    `values` maps var names to arrays; with `batch=B` the batched vars carry a
    leading axis of size B. An output that does not depend on any batched value
    has no batch axis.
    """
    return Plan(g, dims, batch, outputs, dtype).run(values)
