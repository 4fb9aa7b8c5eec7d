"""The graph IR: a networkx.DiGraph with one node per value.

Node attributes: `op` (a key of the op table), `shape` (tuple of ints and dim
names), `attrs` (the op's parameters, a dict), and for leaves `name` and `role`
(var) or `value` (const), and `args`, the tuple of operand nodes. An edge u -> v
has `arg`, u's position among v's operands; an operand used twice (x * x) is
one edge, since a DiGraph has one edge per pair, so read operands with `args(g, n)`.
`g.graph["outputs"]` maps output names to nodes.

Graphs are pure data: passes build new ones with `Builder`.

`formula` writes a node's value in the language's notation. Equal nodes are
shared, so a value written out as a tree can be exponentially longer than its
graph (each layer `u{i} = u{i-1} + tanh(u{i-1})` doubles it). A formula
therefore names a subexpression `_1`, `_2`, ... (no model can have such a
name: the language's names never start with `_`) and defines it on a line
`where _k = ...` after the formula, when

- it occurs more than once in the formula and its text, written with the
  names given so far, is longer than SHARE_LENGTH characters, or
- it would nest NEST_DEPTH operations deep (a name starts the count again).

Leaves (the model's names, numbers) are never named, nor the whole formula.
The `where` lines come in the order of definition, each using only names
defined above it, and the names are numbered in that order; the text is
linear in the size of the graph. Every printer of formulas (text, LaTeX)
names the same subexpressions; the printers are in `ebmc.ir.printing`.
"""

from __future__ import annotations

from collections.abc import Iterable

import networkx as nx

from ..plugins import registry

# when a formula names a subexpression (see the module docstring)
SHARE_LENGTH = 60
NEST_DEPTH = 24

BATCHED_ROLES = ("visible", "hidden", "input", "target", "layer", "output")


def op_table():
    """name -> Op, the built-in ops and every plugin's."""
    return registry().ops


class Builder:
    """Adds nodes to a graph, checking each shape with the op table's rule.

    `add` shares structurally equal nodes (hash-consing), so common
    subexpressions are never built twice.
    """

    def __init__(self, graph: nx.DiGraph | None = None):
        self.g = graph if graph is not None else nx.DiGraph(outputs={})
        # a copied graph shares its attribute values with the original: own the outputs
        self.g.graph["outputs"] = dict(self.g.graph.get("outputs", {}))
        self.ops = op_table()
        self._memo: dict = {}
        for n in self.g.nodes:
            self._memo.setdefault(_key(self.g, n), n)
        self._next = max(self.g.nodes, default=-1) + 1

    # -- reading
    def shape(self, n) -> tuple:
        return self.g.nodes[n]["shape"]

    def attrs(self, n) -> dict:
        return self.g.nodes[n]["attrs"]

    def op(self, n) -> str:
        return self.g.nodes[n]["op"]

    def args(self, n) -> tuple:
        return args(self.g, n)

    # -- building
    def _node(self, op: str, args: tuple, attrs: dict, shape: tuple, **extra) -> int:
        key = (op, args, _freeze(attrs), tuple(sorted(extra.items())), shape if not args else None)
        if key in self._memo:
            return self._memo[key]
        n = self._next
        self._next += 1
        self.g.add_node(n, op=op, shape=tuple(shape), attrs=dict(attrs), args=tuple(args), **extra)
        for i, a in enumerate(args):
            self.g.add_edge(a, n, arg=i)
        self._memo[key] = n
        return n

    def add(self, op: str, *args: int, **attrs) -> int:
        """A node computing `op(*args)`; its shape comes from the op's rule (may raise ShapeError)."""
        entry = self.ops[op]
        shape = entry.shape([self.shape(a) for a in args], attrs)
        return self._node(op, tuple(args), attrs, shape)

    def var(self, name: str, role: str, shape: tuple, **attrs) -> int:
        """A unit group, data array, layer or param; `attrs` are facts about its values that
        rewrites may use (`symmetric=True`: a square matrix equal to its transpose)."""
        return self._node("var", (), {"shape": tuple(shape), **attrs}, tuple(shape), name=name, role=role)

    def const(self, value: float, shape: tuple = ()) -> int:
        return self._node("const", (), {"value": float(value), "shape": tuple(shape)}, tuple(shape))

    def numel(self, shape: tuple) -> int:
        if all(isinstance(d, int) for d in shape):
            size = 1
            for d in shape:
                size *= d
            return self.const(float(size))
        return self._node("numel", (), {"dims": tuple(shape)}, ())

    def leaf(self, d: dict) -> int:
        """A copy of the leaf whose node attributes are d (a var, a number, a size)."""
        extra = {k: v for k, v in d.items() if k not in ("op", "shape", "attrs", "args")}
        return self._node(d["op"], (), d["attrs"], d["shape"], **extra)

    def transpose(self, n: int, perm: tuple) -> int:
        perm = tuple(perm)
        return n if perm == tuple(range(len(perm))) else self.add("transpose", n, perm=perm)

    def output(self, name: str, n: int) -> int:
        self.g.graph["outputs"][name] = n
        return n


def _freeze(attrs: dict):
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in attrs.items()))


def _key(g: nx.DiGraph, n):
    d = g.nodes[n]
    extra = tuple(sorted((k, v) for k, v in d.items() if k not in ("op", "shape", "attrs", "args")))
    a = args(g, n)
    return (d["op"], a, _freeze(d["attrs"]), extra, d["shape"] if not a else None)


def args(g: nx.DiGraph, n) -> tuple:
    """The operands of n, in order."""
    if "args" in g.nodes[n]:
        return g.nodes[n]["args"]
    preds = [(g.edges[p, n]["arg"], p) for p in g.predecessors(n)]
    return tuple(p for _, p in sorted(preds))


def outputs(g: nx.DiGraph) -> dict:
    return g.graph["outputs"]


def leaves(g: nx.DiGraph, role: str | None = None) -> dict:
    """name -> node of every var (of one role, if given)."""
    ops = op_table()
    return {d["name"]: n for n, d in g.nodes(data=True) if ops[d["op"]].named and (role is None or d["role"] == role)}


def batched(g: nx.DiGraph) -> dict:
    """node -> whether its value has a batch axis in generated code.

    Unit groups, data and layers are per sample; params and constants are not;
    everything else is batched when an operand is, and batch reductions are not.
    """
    out = {}
    ops = op_table()
    for n in nx.topological_sort(g):
        d = g.nodes[n]
        entry = ops[d["op"]]
        if entry.named:
            out[n] = d["role"] in BATCHED_ROLES
        elif entry.batch:  # a sum over the batch, or its size
            out[n] = False
        else:
            out[n] = any(out[a] for a in g.predecessors(n))
    return out


def depends_on(g: nx.DiGraph, n, sources: Iterable) -> bool:
    """Whether node n's value depends on any of `sources`."""
    anc = nx.ancestors(g, n) | {n}
    return any(s in anc for s in sources)


def upstream(g: nx.DiGraph, roots: Iterable) -> set:
    """The nodes that `roots` need, roots included (one walk, where nx.ancestors is one per root)."""
    need = set()
    stack = list(roots)
    while stack:
        n = stack.pop()
        if n not in need:
            need.add(n)
            stack.extend(args(g, n))
    return need


def copy_into(b: Builder, src: nx.DiGraph, roots: Iterable, replace: dict | None = None) -> dict:
    """Rebuild the part of `src` that `roots` need into builder b; returns src node -> new node.

    `replace` maps src nodes to nodes of b that stand in for them (substitution).
    """
    mapping = dict(replace or {})
    for n in nx.topological_sort(src.subgraph(upstream(src, roots))):
        if n in mapping:
            continue
        d = src.nodes[n]
        if b.ops[d["op"]].leaf:
            mapping[n] = b.leaf(d)
        else:
            mapping[n] = b.add(d["op"], *(mapping[a] for a in args(src, n)), **d["attrs"])
    return mapping


def describe(g: nx.DiGraph) -> str:
    """A readable listing of the graph, one line a node in topological order."""
    lines = []
    ops = op_table()
    for n in nx.topological_sort(g):
        d = g.nodes[n]
        entry = ops[d["op"]]
        if entry.named:
            what = f"{d['role']} {d['name']}"
        elif entry.value is not None:
            what = f"{d['op']} {entry.value(d['attrs']):g}"
        else:
            extra = {k: v for k, v in d["attrs"].items()}
            what = f"{d['op']}({', '.join(f'%{a}' for a in args(g, n))})" + (f" {extra}" if extra else "")
        lines.append(f"%{n} = {what} : {list(d['shape'])}")
    for name, n in outputs(g).items():
        lines.append(f"{name} = %{n}")
    return "\n".join(lines)


def in_order(g: nx.DiGraph, roots: Iterable) -> list:
    """The nodes that `roots` need, in topological order (operands before their consumers)."""
    return list(nx.topological_sort(g.subgraph(upstream(g, roots))))


def formula(g: nx.DiGraph, n) -> str:
    """The value of node n as a readable formula (for docstrings and `ebmc derive`).

    One line, or, where subexpressions are named (see the module docstring), the formula
    and then one line `where _k = ...` for each name, in the order they are defined.
    """
    from .printing import TextPrinter

    return TextPrinter(g).doprint(n)


def formula_parts(g: nx.DiGraph, n) -> tuple[str, list[tuple[str, str]]]:
    """The formula of node n and its where bindings: [(name, what it stands for)], each
    binding using only the names before it."""
    from .printing import TextPrinter

    return TextPrinter(g).parts(n)


def shared_names(g: nx.DiGraph, n) -> dict:
    """node -> `_k`: the subexpressions the formula of n names, in the order they are defined."""
    from .printing import shared_names as names

    return names(g, n)
