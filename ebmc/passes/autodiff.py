"""Reverse-mode differentiation as a graph-to-graph pass.

Walk the nodes between the inputs and the output in reverse topological order;
each node's adjoint is the sum over its consumers j of (adjoint of j) times the
local partial, which the op table's vjp rule builds from ops:

    v_i' = sum_j v_j' * dv_j/dv_i

The result is a graph that computes the gradients; it is simplified and
emitted like any other.
"""

from __future__ import annotations

import networkx as nx

from ..ir.graph import Builder, args


def reverse_mode(b: Builder, y: int, wrt: list[int]) -> dict[int, int]:
    """Add the gradient of the scalar node y with respect to each node of `wrt` to builder b.

    Returns wrt node -> adjoint node (a zero constant of the right shape where y
    does not depend on it). Every node is read from b.g, which is extended in place.
    """
    g = b.g
    if b.shape(y) != ():
        raise ValueError(f"reverse mode needs a scalar output, got shape {b.shape(y)}")
    upstream = nx.ancestors(g, y) | {y}
    reached = set()
    for w in wrt:
        reached |= (nx.descendants(g, w) | {w}) & upstream
    order = [n for n in nx.topological_sort(g.subgraph(reached))]

    adjoint = {y: b.const(1.0)}
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
            adjoint[a] = part if a not in adjoint else b.add("add", adjoint[a], part)
    return {w: adjoint[w] if w in adjoint else b.const(0.0, b.shape(w)) for w in wrt}


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
