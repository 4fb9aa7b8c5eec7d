"""The graphs that learning needs, built here so that every backend emits the same ones.

`statistics_graph`: per trained param, sum over the batch of dE/dtheta at the model's samples
minus the same at the data (the direction of a CD/PCD step). `monitor_graph`: the mean-field
reconstruction of the visible groups and F(v), in one graph so that they share their products.
"""

from __future__ import annotations

from ..ir.graph import copy_into, leaves
from .batch import batch_sums
from .simplify import Simplifier, simplify


def model_var(name: str) -> str:
    """The name of the negative-phase sample of unit group `name` in the statistics graph: not an
    identifier, so that it cannot be taken for one of the model's own names."""
    return f"{name}:model"


def statistics_graph(grad_graph, hidden: list[str], visible: list[str]):
    """Per param: sum_b dE/dtheta(model sample) - sum_b dE/dtheta(data).

    The model side reads the units renamed `model_var(name)`; theta moves along +lr/B times this.
    """
    sums = batch_sums(grad_graph)
    b = Simplifier()
    data = copy_into(b, sums, sums.graph["outputs"].values())
    found = leaves(sums)
    renamed = {}
    for name in hidden + visible:
        if name in found:
            d = sums.nodes[found[name]]
            renamed[found[name]] = b.var(model_var(name), d["role"], d["shape"])
    model = copy_into(b, sums, sums.graph["outputs"].values(), replace=renamed)
    outputs = {}
    for p, n in sums.graph["outputs"].items():
        outputs[p] = b.add("sub", model[n], data[n])
    b.g.graph["outputs"] = outputs
    return simplify(b.g)


def monitor_graph(a):
    """Outputs `recon_<v>` (the mean-field reconstruction of each visible group) and `free` (F(v)),
    in one graph, so that the products they share are computed once."""
    b = Simplifier()
    hidden_means = {}
    for h in a.hidden:
        g = a.graphs[f"conditional_{h}"]
        out = g.graph["outputs"]["mean"]
        hidden_means[h] = copy_into(b, g, [out])[out]
    outputs = {}
    for v in a.visible:
        g = a.graphs[f"conditional_{v}"]
        out = g.graph["outputs"]["mean"]
        given = {n: hidden_means[name] for name, n in leaves(g).items() if name in hidden_means}
        outputs[f"recon_{v}"] = copy_into(b, g, [out], replace=given)[out]
    free = a.graphs["free_energy"]
    out = free.graph["outputs"]["free_energy"]
    outputs["free"] = copy_into(b, free, [out])[out]
    b.g.graph["outputs"] = outputs
    return b.g
