"""Sums over the batch, pushed down to where they are cheapest.

The IR is per sample; a gradient of a batch-mean is the sum over the samples
of a per-sample gradient. `batch_sums` rewrites sum_b x_b for each output so
that the sum lands on a contraction where it can: sum_b outer(v_b, h_b)
becomes one matrix product v.T @ h (`batch_tensordot`), sum_b (x_b + c) becomes
sum_b x_b + B c, and so on through every op the table marks as linear.
"""

from __future__ import annotations

import networkx as nx

from ..ir.graph import batched as batched_nodes
from ..ir.graph import copy_into
from .simplify import Simplifier, prune


def batch_sums(g: nx.DiGraph) -> nx.DiGraph:
    """A graph whose outputs are the batch sums of g's outputs."""
    b = Simplifier()
    mapping = copy_into(b, g, g.graph["outputs"].values())
    is_batched = batched_nodes(b.g)
    memo: dict = {}

    def batched(n) -> bool:
        if n not in is_batched:
            is_batched.update(batched_nodes(b.g))
        return is_batched[n]

    def total(n) -> int:
        """The node of sum over the batch of n."""
        if n in memo:
            return memo[n]
        op = b.op(n)
        operands = b.args(n)
        entry = b.ops[op]
        if not batched(n):
            out = b.add("mul", n, b.add("batch_size"))
        elif op == "var":
            out = b.add("batch_sum", n)
        elif entry.additive:
            parts = [total(a) for a in operands]
            out = b.add(op, *parts, **b.attrs(n))
        else:
            hot = [i for i, a in enumerate(operands) if batched(a)]
            if op == "tensordot" and len(hot) == 2:
                out = b.add("batch_tensordot", *operands, **b.attrs(n))
            elif len(hot) == 1 and hot[0] in entry.linear_in:
                parts = list(operands)
                parts[hot[0]] = total(operands[hot[0]])
                out = b.add(op, *parts, **b.attrs(n))
            else:
                out = b.add("batch_sum", n)
        memo[n] = out
        return out

    b.g.graph["outputs"] = {name: total(mapping[n]) for name, n in g.graph["outputs"].items()}
    return prune(b.g)
