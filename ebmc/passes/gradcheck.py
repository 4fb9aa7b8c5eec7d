"""Gradient checking: reverse mode against central differences.

    dy/dx_i ~ (y(x + eps e_i) - y(x - eps e_i)) / (2 eps)

The output is a per-sample scalar. With `batch=B`, gradients are per sample:
shape (B,) + the var's shape, dy_s/dx for each sample s (for a param this is
the sample's own contribution, before any sum over the batch).
"""

from __future__ import annotations

from collections.abc import Mapping

import networkx as nx
import numpy as np

from ..ir.evaluate import Plan, evaluate, resolve
from ..ir.graph import batched, leaves
from .autodiff import gradient_graph
from .simplify import simplify


def _per_sample(value: np.ndarray, batch: int | None, shape: tuple) -> np.ndarray:
    """value broadcast to (batch,) + shape: a value with no batch axis is the same for every sample."""
    return np.broadcast_to(value, ((batch,) if batch is not None else ()) + tuple(shape))


def _var_nodes(g: nx.DiGraph, names) -> dict:
    found = leaves(g)
    missing = [w for w in names if w not in found]
    if missing:
        raise KeyError(f"no var named {', '.join(map(repr, missing))} in the graph (vars: {', '.join(found)})")
    return {w: found[w] for w in names}


def central_differences(
    g: nx.DiGraph,
    output: str,
    wrt_names: list[str],
    values: Mapping[str, np.ndarray],
    dims: Mapping[str, int],
    eps: float = 1e-6,
    batch: int | None = None,
) -> dict[str, np.ndarray]:
    """name -> d(output)/d(name) by central differences, in float64.

    A batched var's entry is perturbed in every sample at once: sample s's
    output depends only on sample s's entry, so one pair of evaluations gives
    the entry's derivative for every sample.
    """
    nodes = _var_nodes(g, wrt_names)
    is_batched = batched(g) if batch is not None else dict.fromkeys(g.nodes, False)
    plan = Plan(g, dims, batch, [output], np.float64)
    if g.nodes[g.graph["outputs"][output]]["shape"] != ():
        raise ValueError(f"central differences need a scalar output, {output!r} is not")
    point = {k: np.array(v, dtype=np.float64) for k, v in values.items()}
    grads = {}
    for name, n in nodes.items():
        shape = resolve(g.nodes[n]["shape"], dims)
        grad = np.zeros(((batch,) if batch is not None else ()) + shape)
        x = point[name]
        for idx in np.ndindex(*shape):
            at = (slice(None),) + idx if is_batched[n] else idx
            saved = x[at].copy()
            x[at] = saved + eps
            up = _per_sample(plan.run(point)[output], batch, ())
            x[at] = saved - eps
            down = _per_sample(plan.run(point)[output], batch, ())
            x[at] = saved
            grad[(slice(None),) + idx if batch is not None else idx] = (up - down) / (2 * eps)
        grads[name] = grad
    return grads


def reverse_mode_gradients(
    g: nx.DiGraph,
    output: str,
    wrt_names: list[str],
    values: Mapping[str, np.ndarray],
    dims: Mapping[str, int],
    batch: int | None = None,
) -> dict[str, np.ndarray]:
    """name -> d(output)/d(name) from the simplified reverse-mode gradient graph, per sample."""
    nodes = _var_nodes(g, wrt_names)
    grad_graph = simplify(gradient_graph(g, output, list(wrt_names)))
    got = evaluate(grad_graph, values, dims, batch)
    return {w: _per_sample(got[w], batch, resolve(g.nodes[nodes[w]]["shape"], dims)) for w in wrt_names}


def check_gradients(
    g: nx.DiGraph,
    output: str,
    wrt: list[str],
    values: Mapping[str, np.ndarray],
    dims: Mapping[str, int],
    rtol: float = 1e-5,
    atol: float = 1e-7,
    batch: int | None = None,
    eps: float = 1e-6,
) -> list[tuple[str, float, float, bool]]:
    """One row (name, max abs err, max rel err, ok) per var of `wrt`.

    ok means |reverse - numeric| <= atol + rtol * |numeric| everywhere; the
    relative error is |reverse - numeric| / max(|numeric|, atol).
    """
    numeric = central_differences(g, output, wrt, values, dims, eps, batch)
    reverse = reverse_mode_gradients(g, output, wrt, values, dims, batch)
    rows = []
    for name in wrt:
        err = np.abs(reverse[name] - numeric[name])
        scale = np.abs(numeric[name])
        ok = bool(np.all(err <= atol + rtol * scale))
        rel = err / np.maximum(scale, atol)
        rows.append((name, float(err.max(initial=0.0)), float(rel.max(initial=0.0)), ok))
    return rows
