"""Backpropagation laid out for a person: a network's loss graph, each node's adjoint and each
edge's local partial, every node with a short name.

Reverse mode (`passes.autodiff.backward`) applied to the simplified loss graph gives, for every
node v_i between the params and the loss L, its adjoint v_i' = dL/dv_i, and for every edge
i -> j the part v_j' * dv_j/dv_i of it that consumer j contributes:

    v_i' = sum_j v_j' * dv_j/dv_i

`ebmc render --graph backward` draws that table and `ebmc derive` writes it as formulas. Names:
a var is its own name, a layer its layer's, the loss is `L` (an energy `E`), any other operation `v1`, `v2`,
... in topological order (no model name has this form and a digit: the language's names may,
so a name the model uses is skipped), an adjoint its node's name and a prime.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from ..ir.graph import Builder, in_order, leaves, op_table
from ..ir.lower import model_graph
from ..ir.printing import TextPrinter
from .autodiff import Backward, backward
from .simplify import simplify

ROOT_NAMES = {"loss": "L", "energy": "E"}  # L1, L2, ... where the model has a name L
LAYER_OUTPUT = "layer "  # the outputs of the working graph that keep the layers' nodes through simplify


@dataclass
class ChainRule:
    """The forward graph of a network's loss with the adjoints reverse mode added to it."""

    graph: nx.DiGraph  # forward nodes, then the nodes reverse mode built
    loss: int
    forward: list  # the nodes the loss needs, in topological order
    table: Backward  # adjoints and partials (`passes.autodiff.Backward`)
    names: dict  # forward node -> its short name
    params: dict  # trained param name -> its node
    layers: dict  # layer name -> its node
    root: str = "L"  # the name of the loss (`E` for an energy)

    def adjoint_name(self, n) -> str:
        return self.names[n] + "'"

    def text(self, n, primed=(), expand: bool = False) -> str:
        """The formula of node n, each forward node written by its name and the adjoint of each
        node of `primed` by the adjoint's name; with `expand`, n itself is written out even
        where it has a name."""
        ops = op_table()
        names = {
            m: t for m, t in self.names.items() if ops[self.graph.nodes[m]["op"]].named or self.graph.nodes[m]["args"]
        }
        for m in primed:
            a = self.table.adjoint[m]
            if not self.graph.nodes[a]["args"]:  # a number (L' = 1) is written as itself
                continue
            names.setdefault(a, self.adjoint_name(m))
        if n in names and not (expand and self.graph.nodes[n]["args"]):
            return names[n]
        return TextPrinter(self.graph, names).doprint(n)

    def definition(self, n) -> str:
        """`name = op(operands, by name)` for a forward operation; a leaf's name or number."""
        own = self.text(n, expand=True)
        return own if n not in self.names or own == self.names[n] else f"{self.names[n]} = {own}"

    def adjoint_formula(self, n) -> str:
        """v_i' written from the adjoints of the consumers of v_i: the chain rule at node n."""
        return self.text(self.table.adjoint[n], primed=self.consumers(n))

    def partial(self, i, j) -> str:
        """The part v_j' * dv_j/dv_i of v_i' that consumer j contributes, from v_j'."""
        return self.text(self.table.partials[(i, j)], primed=[j])

    def consumers(self, n) -> list:
        """The forward nodes that take n as an operand and pass an adjoint back to it."""
        return [j for (i, j) in self.table.partials if i == n]


def chain_rule(model, trained: list[str], output: str = "loss") -> ChainRule:
    """The chain rule of `model`'s loss (or `output="energy"`: its energy) with respect to the
    params named in `trained`."""
    b = model_graph(model, output)
    for name, n in b.layers.items():
        b.output(LAYER_OUTPUT + name, n)
    g = simplify(b.g)
    outputs = dict(g.graph["outputs"])
    loss = outputs.pop(output)
    g.graph["outputs"] = {output: loss}
    forward = in_order(g, [loss])
    layers = {k[len(LAYER_OUTPUT) :]: n for k, n in outputs.items()}
    taken = set(model.variables) | set(model.params) | set(layers)
    root = next(r for r in _candidates(ROOT_NAMES[output]) if r not in taken)
    names = _names(g, forward, loss, layers, taken | {root}, root)
    work = Builder(g.copy())
    params = {name: n for name, n in leaves(g, "param").items() if name in trained and n in set(forward)}
    table = backward(work, loss, list(params.values()))
    return ChainRule(work.g, loss, forward, table, names, params, layers, root)


def _candidates(first: str):
    """first, then first1, first2, ...: a name for a value that the model's names may have taken."""
    yield first
    k = 0
    while True:
        k += 1
        yield f"{first}{k}"


def _names(g, forward, loss, layers: dict, taken: set, root: str) -> dict:
    ops = op_table()
    names = {}
    for n in forward:
        d = g.nodes[n]
        if ops[d["op"]].named:
            names[n] = d["name"]
    for name, n in layers.items():
        if n in set(forward):
            names.setdefault(n, name)
    names.setdefault(loss, root)
    fresh = (v for v in (f"v{k}" for k in range(1, 1 << 30)) if v not in taken)
    for n in forward:
        if n not in names and not ops[g.nodes[n]["op"]].leaf:  # numbers are written as themselves
            names[n] = next(fresh)
    return names
