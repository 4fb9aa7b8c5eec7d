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
from ..ir.graph import copy_into, upstream
from .simplify import Simplifier, _number_times, prune


def batch_sums(g: nx.DiGraph, per_sample=(), reuse: bool = False) -> nx.DiGraph:
    """A graph whose outputs are the batch sums of g's outputs, but for those named in `per_sample`,
    which stay one value per sample (sharing the nodes they have in common with the sums).

    reuse: where an output's per-sample value is computed anyway (another output needs it, as
    the backward pass of a network needs dloss/dz at a layer for dloss/dW and for dloss/db), its
    sum is that value summed, not the sum pushed down through it: sum_b (y_b - t_b) is one
    reduction of y - t, not sum_b y_b - sum_b t_b.
    """
    b = Simplifier()
    mapping = copy_into(b, g, g.graph["outputs"].values())
    is_batched = batched_nodes(b.g)
    memo: dict = {}

    def batched(n) -> bool:
        if n not in is_batched:
            is_batched.update(batched_nodes(b.g))
        return is_batched[n]

    def needs(n) -> list:
        """The operands whose batch sums the batch sum of n is built from, in order."""
        operands = b.args(n)
        entry = b.ops[b.op(n)]
        if not batched(n) or entry.leaf:
            return []
        if entry.additive:
            return list(operands)
        hot = [i for i, a in enumerate(operands) if batched(a)]
        if len(hot) == 1 and hot[0] in entry.linear_in:
            return [operands[hot[0]]]
        return []

    def total(n) -> int:
        """The node of sum over the batch of n, from the sums of the operands `needs(n)` names."""
        op = b.op(n)
        operands = b.args(n)
        entry = b.ops[op]
        if not batched(n):
            return b.add("mul", n, b.add("batch_size"))
        if entry.leaf:
            return b.add("batch_sum", n)
        if entry.additive:
            return b.add(op, *(memo[a] for a in operands), **b.attrs(n))
        hot = [i for i, a in enumerate(operands) if batched(a)]
        if entry.batch_sum is not None and len(hot) == len(operands):  # sum_b (v_b @ h_b) = v.T @ h
            return b.add(entry.batch_sum, *operands, **b.attrs(n))
        if len(hot) == 1 and hot[0] in entry.linear_in:
            parts = list(operands)
            parts[hot[0]] = memo[operands[hot[0]]]
            return b.add(op, *parts, **b.attrs(n))
        return b.add("batch_sum", n)

    def sum_of(root) -> int:
        # depth first, operands in order, as a recursion would go, but with a stack of its own:
        # a chain of a thousand layers is as easy as one
        stack = [root]
        while stack:
            n = stack[-1]
            if n in memo:
                stack.pop()
                continue
            todo = [a for a in needs(n) if a not in memo]
            if todo:
                stack.extend(reversed(todo))
                continue
            memo[stack.pop()] = total(n)
        return memo[root]

    outputs = {name: mapping[n] if name in per_sample else sum_of(mapping[n]) for name, n in g.graph["outputs"].items()}
    if reuse:
        computed = upstream(b.g, outputs.values())
        for name, n in g.graph["outputs"].items():
            factor, value = 1.0, mapping[n]
            scaled = _number_times(b, value) if b.ops[b.op(value)].product else None
            if scaled is not None and scaled[1] in computed:  # k * z with z computed: k * sum_b z_b
                factor, value = scaled
            if name not in per_sample and value in computed and batched(value) and not b.ops[b.op(value)].leaf:
                total = b.add("batch_sum", value)
                outputs[name] = total if factor == 1.0 else b.add("mul", b.const(factor), total)
    b.g.graph["outputs"] = outputs
    return prune(b.g)
