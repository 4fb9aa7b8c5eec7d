"""From a graph to numpy statements.

Each node becomes the expression its numpy lowering writes (`lowerings.py`); a node used once
is inlined into its consumer, one used several times (or an output) is bound
to a temporary, so the text reads like a person's numpy. An expression that
would nest more than MAX_NESTING nodes deep is bound too: however long a chain
of layers, no statement nests deeper than that (Python's parser refuses 200
nested parentheses, and `ast` and `compile` recurse over the nesting), and
every walk here is a loop over the nodes in topological order. Only generated
names and checked identifiers ever appear in the code.
"""

from __future__ import annotations

import ast as pyast
import keyword
import math

import networkx as nx

from ...ir.graph import args as node_args
from ...ir.graph import batched as batched_nodes
from ...ir.graph import op_table
from .lowerings import Arg, lowering

MAX_NESTING = 12  # nodes inlined into one another; a deeper expression is bound to a temporary


def check_identifier(name: str) -> str:
    """A user name about to appear in generated code: it must be a plain identifier."""
    if not name.isidentifier() or keyword.iskeyword(name) or not name.isascii():
        raise ValueError(f"not a safe identifier: {name!r}")
    return name


class NumpyContext:
    """What the numpy lowerings may ask of the code being generated."""

    def __init__(self, dims_code: str = "self.dims", dtype_code: str = "self.dtype", batch_size: str = "B"):
        self.dims_code = dims_code
        self.dtype = dtype_code
        self.batch_size = batch_size
        self.helpers_used: set[str] = set()

    def helper(self, name: str) -> str:
        self.helpers_used.add(name)
        return "_" + name

    def dim(self, d) -> str:
        return str(d) if isinstance(d, int) else f"{self.dims_code}[{check_identifier(d)!r}]"

    def shape(self, shape) -> str:
        items = [self.dim(d) for d in shape]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"

    def numel(self, shape) -> str:
        return " * ".join(self.dim(d) for d in shape) if shape else "1"

    def number(self, value: float) -> str:
        if math.isnan(value):
            return "np.nan"
        if math.isinf(value):
            return "np.inf" if value > 0 else "-np.inf"
        if float(value).is_integer() and abs(value) < 1e15:
            return f"{value:.1f}"
        return repr(float(value))


def tidy(code: str) -> str:
    """The expression with only the parentheses Python needs (the emitter adds them freely)."""
    return pyast.unparse(pyast.parse(code, mode="eval"))


def _is_atom(code: str) -> bool:
    """Whether code can be an operand without parentheses."""
    try:
        node = pyast.parse(code, mode="eval").body
    except SyntaxError:
        return False
    if isinstance(node, pyast.Constant):
        return not code.startswith("-")
    return isinstance(node, (pyast.Name, pyast.Call, pyast.Attribute, pyast.Subscript))


def _free_to_repeat(code: str) -> bool:
    """Whether code costs nothing to evaluate twice: a name, a number, or an attribute or constant
    index of one (`W.T`, `x.shape[0]`); a call or an operator computes, so a value used twice is
    bound to a temporary instead."""
    try:
        node = pyast.parse(code, mode="eval").body
    except SyntaxError:
        return False
    while isinstance(node, (pyast.Attribute, pyast.Subscript)):
        if isinstance(node, pyast.Subscript) and not isinstance(node.slice, pyast.Constant):
            return False
        node = node.value
    return isinstance(node, (pyast.Name, pyast.Constant))


class Emitter:
    """Emits the computation of some outputs of graph g as assignment lines.

    `names` maps var names to the code that holds them (locals of the method);
    unit groups, data and layers are batched, params are not (see graph.batched).
    `inplace`: where an operand is a new array that nothing else reads and has the
    result's shape, overwrite it (`t += b` instead of `t + b`): fewer allocations
    and passes over memory, for the methods the training loop calls.
    """

    def __init__(
        self,
        g: nx.DiGraph,
        ctx: NumpyContext,
        names: dict[str, str],
        prefix: str = "_t",
        inplace: bool = False,
    ):
        self.g = g
        self.inplace = inplace
        self.ctx = ctx
        self.names = names
        self.ops = op_table()
        self.prefix = prefix
        self.batched = batched_nodes(g)
        self.lines: list[str] = []
        self._temps = 0

    def emit(self, outputs: dict[str, int], targets: dict[str, str] | None = None) -> dict[str, str]:
        """Write the lines that compute `outputs`; returns output name -> code holding its value.

        `targets` names the variable an output is assigned to (else it may stay an expression).
        """
        targets = targets or {}
        need = set()
        for n in outputs.values():
            need |= nx.ancestors(self.g, n) | {n}
        sub = self.g.subgraph(need)
        out_nodes = set(outputs.values())
        uses = {n: sum(node_args(sub, s).count(n) for s in sub.successors(n)) for n in sub}
        fresh = {n for n in sub if uses[n] == 1 and n not in out_nodes and self._makes_array(n)}
        code: dict[int, str] = {}
        depth: dict[int, int] = {}  # how many nodes the code of each node nests, itself included
        for n in nx.topological_sort(sub):
            if self.inplace and self._overwrite(n, code, fresh):
                continue
            expr = self._expr(n, code)
            inlined = [depth[a] for a in node_args(self.g, n) if not self._is_temp(code[a])]
            depth[n] = 0 if self._cheap(n) else 1 + max(inlined, default=0)
            # an output is read where it is returned, so one more use makes it shared
            shared = uses[n] + (n in out_nodes) > 1 and not _free_to_repeat(expr)
            if n in out_nodes and not shared:
                code[n] = expr
            elif not self._cheap(n) and (shared or depth[n] >= MAX_NESTING):
                code[n] = self._bind(expr)
            else:
                code[n] = expr
        result = {}
        for name, n in outputs.items():
            if name in targets:
                self.lines.append(f"{targets[name]} = {tidy(code[n])}")
                result[name] = targets[name]
            else:
                result[name] = tidy(code[n])
        return result

    def _makes_array(self, n) -> bool:
        """Whether n's code makes a new ndarray (an op that allocates, with at least one axis)."""
        d = self.g.nodes[n]
        return lowering(d["op"]).fresh and (self.batched[n] or len(d["shape"]) > 0)

    def _overwrite(self, n, code: dict, fresh: set) -> bool:
        """Compute n by overwriting an operand that is a new array nothing else reads."""
        d = self.g.nodes[n]
        rule = lowering(d["op"]).inplace
        if rule is None:
            return False
        operands = node_args(self.g, n)
        for i, a in enumerate(operands):
            if a not in fresh or self.g.nodes[a]["shape"] != d["shape"] or self.batched[a] != self.batched[n]:
                continue
            if operands.count(a) > 1:
                continue
            target = code[a] if self._is_temp(code[a]) else self._bind(code[a])
            args = [self._arg(b, code) for b in operands]
            args[i] = Arg(target, d["shape"], self.batched[n])
            statement = rule(args, i, d["attrs"], self.ctx)
            if statement is None:
                code[a] = target
                continue
            self.lines.append(pyast.unparse(pyast.parse(statement)))
            code[n] = target
            return True
        return False

    def _is_temp(self, text: str) -> bool:
        return text.startswith(self.prefix) and text[len(self.prefix) :].isdigit()

    def _cheap(self, n) -> bool:
        return self.ops[self.g.nodes[n]["op"]].leaf

    def _bind(self, expr: str) -> str:
        self._temps += 1
        name = f"{self.prefix}{self._temps}"
        self.lines.append(f"{name} = {tidy(expr)}")
        return name

    def _expr(self, n, code: dict) -> str:
        d = self.g.nodes[n]
        if self.ops[d["op"]].named:
            return self.names[d["name"]]
        operands = [self._arg(a, code) for a in node_args(self.g, n)]
        return lowering(d["op"]).code(operands, d["attrs"], self.ctx)

    def _arg(self, a, code: dict) -> Arg:
        c = code[a]
        return Arg(c if _is_atom(c) else f"({c})", self.g.nodes[a]["shape"], self.batched[a])
