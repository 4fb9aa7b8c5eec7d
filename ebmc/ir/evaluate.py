"""Evaluate a graph numerically, with the same numpy code the backend emits.

Each node's value is computed by the op table's `numpy` rule: the rule returns
a small expression whose operands are generated temporaries (`t12`, ...), and
that expression is evaluated with the operand values bound to those names. No
user text is ever part of the code. This is the reference every numerical test
uses, so it checks that each value has the shape the op's shape rule promised.

With `batch=B`, batched values (unit groups, data, layers, see
`graph.batched`) carry a leading axis of B samples; with `batch=None` there is
no batch axis and every value is one sample's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import networkx as nx
import numpy as np

from . import runtime
from .graph import args, batched, op_table
from .ops import Arg

# the generated module defines the same functions, from the same source text
HELPERS = {"_" + name: fn for name, fn in runtime.load().items()}


class EvaluationError(Exception):
    """Bad inputs to `evaluate`, or an op whose numpy rule disagrees with its shape rule."""


class NumpyContext:
    """What the op table's numpy rules ask of the code they are emitted into.

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
        """Code for a float, including inf and nan."""
        x = float(x)
        if math.isnan(x):
            return "np.nan"
        if math.isinf(x):
            return "np.inf" if x > 0 else "(-np.inf)"
        return repr(x) if x >= 0 else f"({x!r})"

    @property
    def dtype(self) -> str:
        return self._dtype

    @property
    def batch_size(self) -> str:
        return str(self._batch_size)


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
        self.steps = []  # (node, var name or None, code object or None, operand nodes, expected shape)
        for n in nx.topological_sort(g.subgraph(need)):
            d = g.nodes[n]
            expected = self.full_shape(n)
            if d["op"] == "var":
                self.steps.append((n, d["name"], None, (), expected))
                continue
            operands = args(g, n)
            arg_list = [Arg(f"t{a}", g.nodes[a]["shape"], self.is_batched[a]) for a in operands]
            text = ops[d["op"]].numpy(arg_list, d["attrs"], ctx)
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
