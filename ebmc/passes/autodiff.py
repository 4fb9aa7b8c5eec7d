"""Reverse-mode differentiation as a graph-to-graph pass.

Walk the nodes between the inputs and the output in reverse topological order;
each node's adjoint is the sum over its consumers j of (adjoint of j) times the
local partial, which the op table's vjp rule builds from ops:

    v_i' = sum_j v_j' * dv_j/dv_i

The result is a graph that computes the gradients; it is simplified and
emitted like any other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from ..ir.graph import Builder, args


@dataclass
class Backward:
    """What reverse mode built, as a side table over the builder's graph.

    adjoint: forward node -> its adjoint node v_i' (every node between `wrt` and y);
    partials: (operand i, consumer j) -> the node of v_j' * dv_j/dv_i, the part of v_i'
    that j contributes (summed to the operand's shape);
    order: the forward nodes that have adjoints, in topological order.
    Hash-consing may make an adjoint node equal a forward node (the adjoint of `x` in
    `sum(x)` is a broadcast 1, the adjoint of a sum's terms is the sum's adjoint), which
    is why adjoints are a table and not marks on nodes.
    """

    adjoint: dict = field(default_factory=dict)
    partials: dict = field(default_factory=dict)
    order: list = field(default_factory=list)


def reverse_mode(b: Builder, y: int, wrt: list[int]) -> dict[int, int]:
    """Add the gradient of the scalar node y with respect to each node of `wrt` to builder b.

    Returns wrt node -> adjoint node (a zero constant of the right shape where y
    does not depend on it). Every node is read from b.g, which is extended in place.
    """
    adjoint = backward(b, y, wrt).adjoint
    return {w: adjoint[w] if w in adjoint else b.const(0.0, b.shape(w)) for w in wrt}


def backward(b: Builder, y: int, wrt: list[int]) -> Backward:
    """Reverse mode from the scalar node y back to the nodes of `wrt`, with its side table."""
    g = b.g
    if b.shape(y) != ():
        raise ValueError(f"reverse mode needs a scalar output, got shape {b.shape(y)}")
    upstream = nx.ancestors(g, y) | {y}
    reached = set()
    for w in wrt:
        reached |= (nx.descendants(g, w) | {w}) & upstream
    order = [n for n in nx.topological_sort(g.subgraph(reached))]

    out = Backward(adjoint={y: b.const(1.0)})
    adjoint = out.adjoint
    for n in reversed(order):
        if n not in adjoint or b.ops[g.nodes[n]["op"]].leaf:
            continue
        operands = args(g, n)
        needs = [a in reached for a in operands]
        op = g.nodes[n]["op"]
        rule = b.ops[op].vjp
        if rule is None:
            raise ValueError(f"cannot differentiate through '{op}' (node %{n}): it has no vjp rule")
        parts = rule(b, n, adjoint[n], operands, needs)
        for a, part, need in zip(operands, parts, needs, strict=True):
            if not need or part is None:
                continue
            part = unbroadcast(b, part, b.shape(a))
            out.partials[(a, n)] = part if (a, n) not in out.partials else b.add("add", out.partials[(a, n)], part)
            adjoint[a] = part if a not in adjoint else b.add("add", adjoint[a], part)
    out.order = [n for n in order if n in adjoint]
    return out


def unbroadcast(b: Builder, n: int, shape: tuple) -> int:
    """Sum away the axes that broadcasting added, so that n has `shape` again."""
    return n if b.shape(n) == tuple(shape) else b.add("sum_to", n, shape=tuple(shape))


def gradient_graph(g: nx.DiGraph, output: str, wrt: list[str]) -> nx.DiGraph:
    """A new graph whose outputs are d(output)/d(name) for each var name in wrt."""
    b = Builder(g.copy())
    y = g.graph["outputs"][output]
    names = {d["name"]: n for n, d in g.nodes(data=True) if b.ops[d["op"]].named}
    targets = [names[w] for w in wrt]
    grads = reverse_mode(b, y, targets)
    b.g.graph["outputs"] = {w: grads[names[w]] for w in wrt}
    return b.g
