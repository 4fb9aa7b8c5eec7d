"""The chain rule laid out (`passes/backprop.py`) and drawn (`render --graph backward`).

Every adjoint v_i' the table holds is checked against central differences of the loss with
v_i cut out of the graph and made a free input, so the check does not go through reverse mode;
every adjoint is checked to be the sum of the parts its edges bring; the drawing has a node
for every adjoint and a label on every adjoint edge.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import ebmc
from ebmc.backends.graphviz import backward_dot
from ebmc.ir.evaluate import evaluate
from ebmc.ir.graph import Builder, copy_into
from ebmc.passes.backprop import chain_rule

TANH_MSE = """model net {
    dim n_in = 3
    input x[n_in]
    target t[2]
    layer h = dense(x, 4, tanh)
    layer g = dense(h, 3, sigmoid)
    output y = dense(g, 2, identity)
    loss = mse(y, t)
}
"""
SOFTMAX = """model net {
    input x[3]
    target t[4] : onehot
    layer h = dense(x, 5, relu)
    output y = dense(h, 4, softmax)
    loss = cross_entropy(y, t)
}
"""
SHARED = """model net {
    input x[3]
    target t
    param W[3, 3] ~ normal(0, 0.5)
    layer h = tanh(x @ W)
    layer k = h * h + sigmoid(h @ W)
    output y = sum(k)
    loss = binary_cross_entropy(sigmoid(y), t)
}
"""


def _model(src):
    return ebmc.parse(src)[0]


def _values(model, rng):
    out = {}
    for name, v in model.variables.items():
        x = rng.normal(size=v.shape)
        if v.type == "onehot":
            x = np.eye(v.shape[-1])[rng.integers(v.shape[-1])]
        elif v.role == "target" and not v.shape:
            x = np.array(1.0)
        out[name] = x
    for name, p in model.params.items():
        out[name] = rng.normal(scale=0.7, size=p.shape)
    return out


def _loss_of_node(chain, n):
    """A graph of the loss with node n replaced by a free var `cut`."""
    b = Builder()
    cut = b.var("cut", "input", chain.graph.nodes[n]["shape"])
    mapping = copy_into(b, chain.graph, [chain.loss], replace={n: cut})
    b.output("loss", mapping[chain.loss])
    return b.g


@pytest.mark.parametrize("src", [TANH_MSE, SOFTMAX, SHARED], ids=["tanh-mse", "softmax-ce", "shared"])
def test_every_adjoint_is_the_derivative_of_the_loss_at_its_node(src):
    model = _model(src)
    chain = chain_rule(model, list(model.params))
    rng = np.random.default_rng(0)
    values = _values(model, rng)
    g = chain.graph.copy()
    g.graph["outputs"] = {f"a{n}": a for n, a in chain.table.adjoint.items()}
    g.graph["outputs"].update({f"v{n}": n for n in chain.table.adjoint})
    got = evaluate(g, values, model.dims)
    assert set(chain.table.adjoint) >= set(chain.params.values())
    for n in chain.table.adjoint:
        cut = _loss_of_node(chain, n)
        at = got[f"v{n}"]
        numeric = np.zeros_like(at, dtype=float)
        for idx in np.ndindex(at.shape):
            e = np.zeros_like(at, dtype=float)
            e[idx] = 1e-6
            up = evaluate(cut, {**values, "cut": at + e}, model.dims)["loss"]
            down = evaluate(cut, {**values, "cut": at - e}, model.dims)["loss"]
            numeric[idx] = (up - down) / 2e-6
        np.testing.assert_allclose(got[f"a{n}"], numeric, rtol=1e-5, atol=1e-7, err_msg=chain.names[n])


@pytest.mark.parametrize("src", [TANH_MSE, SHARED], ids=["tanh-mse", "shared"])
def test_each_adjoint_is_the_sum_of_the_parts_its_consumers_bring(src):
    model = _model(src)
    chain = chain_rule(model, list(model.params))
    values = _values(model, np.random.default_rng(1))
    g = chain.graph.copy()
    g.graph["outputs"] = {f"a{n}": a for n, a in chain.table.adjoint.items()}
    g.graph["outputs"].update({f"p{i}_{j}": p for (i, j), p in chain.table.partials.items()})
    got = evaluate(g, values, model.dims)
    for n in chain.table.adjoint:
        if n == chain.loss:
            assert got[f"a{n}"] == 1.0
            continue
        parts = [got[f"p{n}_{j}"] for j in chain.consumers(n)]
        assert parts, chain.names[n]
        np.testing.assert_allclose(got[f"a{n}"], sum(parts), rtol=1e-12, atol=1e-12)


def test_the_chain_rule_of_a_tanh_layer_reads_as_written_by_hand():
    model = _model(TANH_MSE)
    chain = chain_rule(model, list(model.params))
    layer = {chain.names[n]: n for n in chain.forward if n in chain.names}
    assert chain.definition(layer["h"]).startswith("h = tanh(")
    pre = next(a for a in chain.graph.predecessors(layer["h"]))
    # the pre-activation's adjoint is h' * (1 - h ** 2), from the one consumer tanh
    assert chain.adjoint_formula(pre) == "h' * (1 - square(h))"
    assert chain.partial(pre, layer["h"]) == "h' * (1 - square(h))"
    assert chain.adjoint_formula(chain.params["h_W"]).startswith("outer(x, ")


def test_names_never_take_a_model_name():
    src = TANH_MSE.replace("layer h =", "layer L =").replace("dense(h,", "dense(L,")
    src = src.replace("dim n_in = 3", "dim n_in = 3\n    param v1[2] = 0").replace("mse(y, t)", "mse(y + v1, t)")
    model = _model(src)
    chain = chain_rule(model, list(model.params))
    assert chain.root == "L1"
    names = list(chain.names.values())
    assert len(names) == len(set(names))
    assert names.count("v1") == 1  # the param, not an intermediate


def test_the_drawing_has_every_adjoint_and_every_edge_labelled():
    model = _model(SOFTMAX)
    chain = chain_rule(model, list(model.params))
    dot = backward_dot(chain, "model net: backward").source
    adjoint_nodes = re.findall(r"^\s*(n\d+a) \[label=\"([^\"]*)\"", dot, re.M)
    assert len(adjoint_nodes) == len(chain.table.adjoint)
    for _, label in adjoint_nodes:
        assert re.match(r"\S+' = dL/d", label)
    edges = re.findall(r"^\s*(n\d+a) -> (n\d+a) \[(.*)\]$", dot, re.M)
    assert len(edges) == len(chain.table.partials)
    assert all("label=" in attrs and "dir=back" in attrs for _, _, attrs in edges)
    # every forward edge is drawn too
    forward = re.findall(r"^\s*n\d+ -> n\d+ \[", dot, re.M)
    assert len(forward) == sum(len(chain.graph.nodes[n]["args"]) for n in chain.forward)


def test_an_energy_model_has_a_backward_drawing(tmp_path):
    from ebmc.cli import main

    out = tmp_path / "rbm.dot"
    src = tmp_path / "rbm.ebm"
    src.write_text(
        "model rbm {\n visible v[3] : bernoulli\n hidden h[2] : bernoulli\n param W[3, 2]\n energy = -(v @ W @ h)\n}\n"
    )
    assert main(["render", str(src), "--graph", "backward", "-o", str(out)]) == 0
    text = out.read_text()
    assert "W' = dE/dW" in text and "E' = dE/dE" in text


def test_derive_writes_a_networks_layers_and_backpropagation():
    from conftest import EXAMPLES

    from ebmc.api import analyse_file
    from ebmc.derive import derive

    text = derive(analyse_file(EXAMPLES / "mlp.ebm"))
    lines = [line.strip() for line in text.splitlines()]
    # backpropagation through a relu layer and a softmax output under cross-entropy, by hand:
    # the logits' adjoint is y - t, the hidden layer's (y - t) W2^T, relu passes it where h > 0
    for expected in (
        "h = relu(x @ h_W + h_b)",
        "y = softmax(h @ y_W + y_b)",
        "h' = dL/dh = (y - t) @ y_W.T",
        "dL/dh_W = outer(x, h' * step(h))",
        "dL/dh_b = h' * step(h)",
        "dL/dy_W = outer(h, y - t)",
        "dL/dy_b = y - t",
    ):
        assert expected in lines, (expected, text)
    latex = derive(analyse_file(EXAMPLES / "mlp.ebm"), latex=True)
    assert r"\begin{align*}" in latex and r"\frac{\partial L}{\partial h_{W}}" in latex


def test_check_compares_a_networks_gradients_three_ways():
    from conftest import EXAMPLES

    from ebmc.api import analyse_file
    from ebmc.derive import check

    cases = ((EXAMPLES / "mlp.ebm", "h_W h_b y_W y_b"), (TANH_MSE, "h_W h_b g_W g_b y_W y_b"), (SHARED, "W"))
    for src, params in cases:
        report = check(analyse_file(src))
        assert report.ok
        assert [row.gradient for row in report.rows] == [f"dL/d{p}" for p in params.split()]
        assert all(row.symbolic_numeric is not None for row in report.rows)


def test_render_backward_of_the_mlp_example(tmp_path):
    from conftest import EXAMPLES

    from ebmc.cli import main

    out = tmp_path / "mlp.dot"
    assert main(["render", str(EXAMPLES / "mlp.ebm"), "--graph", "backward", "-o", str(out)]) == 0
    dot = out.read_text()
    for p in ("h_W", "h_b", "y_W", "y_b"):
        assert f"{p}' = dL/d{p}" in dot
    assert "L' = dL/dL" in dot and "h' = dL/dh" in dot
