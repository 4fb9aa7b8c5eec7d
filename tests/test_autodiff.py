"""Reverse mode against independent references: central differences, hand-derived
gradients of the classic energies, and sympy's own differentiation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from cases import (
    BATCH,
    CASES,
    DIMS,
    MLP_DIMS,
    RBM_DIMS,
    SMOOTH_OPS,
    build_random,
    case_graph,
    case_values,
    mlp,
    mlp_values,
    random_leaf_values,
    rbm,
    rbm_values,
    resolve,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from ebmc.ir.evaluate import evaluate
from ebmc.ir.graph import Builder, describe
from ebmc.ir.ops import FUNCTIONS, OPS
from ebmc.passes.autodiff import gradient_graph, reverse_mode
from ebmc.passes.gradcheck import central_differences, check_gradients, reverse_mode_gradients
from ebmc.passes.simplify import simplify
from ebmc.passes.symbolic import SymbolicError, evaluate_symbolic_gradients, symbolic_gradients

RTOL, ATOL = 1e-5, 1e-6


def assert_gradients_ok(rows):
    bad = [row for row in rows if not row[3]]
    assert not bad, f"gradients disagree with central differences: {bad}"


def weighted(b: Builder, y: int) -> int:
    """sum(y * r) for a param r of y's shape: a scalar whose gradient is every entry's vjp."""
    return b.output("loss", b.add("sum", b.add("mul", y, b.var("r", "param", b.shape(y)))))


DIFFERENTIABLE = [
    pytest.param(case, flags, id=f"{case.id}-{''.join('B' if f else 'u' for f in flags)}")
    for case in CASES
    for flags in itertools.product([False, True], repeat=len(case.shapes))
]


@pytest.mark.parametrize("case, flags", DIFFERENTIABLE)
def test_vjp_against_central_differences(case, flags):
    """Every op's vjp, with every choice of batched operands (per-sample gradients)."""
    rng = np.random.default_rng(0)
    b = case_graph(case, flags)
    weighted(b, b.g.graph["outputs"]["y"])
    values = case_values(rng, case, flags, BATCH)
    values["r"] = rng.normal(size=resolve(b.shape(b.g.graph["outputs"]["y"])))
    wrt = [f"x{i}" for i in range(len(case.shapes))]
    assert_gradients_ok(check_gradients(b.g, "loss", wrt, values, DIMS, RTOL, ATOL, batch=BATCH))


def test_every_op_has_a_vjp_or_is_not_differentiable():
    for name, op in OPS.items():
        if name not in ("var", "const", "numel", "batch_size", "batch_sum", "batch_tensordot"):
            assert op.vjp is not None, name


# ---------------------------------------------------------------- the classic energies
def test_rbm_energy_gradients_by_hand():
    """E = -a.v - b.h - v W h.

    dE/dW = -v h^T, dE/da = -v, dE/db = -h, dE/dv = -(a + W h), dE/dh = -(b + W^T v).
    """
    rng = np.random.default_rng(1)
    g, x = rbm().g, rbm_values(rng)
    got = reverse_mode_gradients(g, "energy", ["W", "a", "b", "v", "h"], x, RBM_DIMS, batch=BATCH)
    v, h = x["v"], x["h"]
    np.testing.assert_allclose(got["W"], -np.einsum("si,sj->sij", v, h))
    np.testing.assert_allclose(got["a"], -v)
    np.testing.assert_allclose(got["b"], -h)
    np.testing.assert_allclose(got["v"], -(x["a"] + h @ x["W"].T))
    np.testing.assert_allclose(got["h"], -(x["b"] + v @ x["W"]))
    assert_gradients_ok(check_gradients(g, "energy", ["W", "a", "b", "v", "h"], x, RBM_DIMS, batch=BATCH))


def test_rbm_field_of_the_hidden_units():
    """The field -dE/dh is b + W^T v, and the simplified graph computes it without h."""
    g = rbm().g
    field = simplify(gradient_graph(g, "energy", ["h"]))
    assert "h" not in {d.get("name") for _, d in field.nodes(data=True)}, describe(field)
    rng = np.random.default_rng(2)
    x = rbm_values(rng)
    got = evaluate(field, x, RBM_DIMS, batch=BATCH)["h"]
    np.testing.assert_allclose(-got, x["b"] + x["v"] @ x["W"])


def test_quadratic_energy():
    """E = -0.5 v W v: dE/dW = -0.5 v v^T, dE/dv = -0.5 (W + W^T) v (W need not be symmetric)."""
    b = Builder()
    v, W = b.var("v", "visible", ("n",)), b.var("W", "param", ("n", "n"))
    b.output("energy", b.add("mul", b.const(-0.5), b.add("tensordot", b.add("tensordot", v, W, n=1), v, n=1)))
    rng = np.random.default_rng(3)
    x = {"v": rng.normal(size=(BATCH, 3)), "W": rng.normal(size=(3, 3))}
    got = reverse_mode_gradients(b.g, "energy", ["W", "v"], x, {"n": 3}, batch=BATCH)
    np.testing.assert_allclose(got["W"], -0.5 * np.einsum("si,sj->sij", x["v"], x["v"]))
    np.testing.assert_allclose(got["v"], -0.5 * x["v"] @ (x["W"] + x["W"].T))
    assert_gradients_ok(check_gradients(b.g, "energy", ["W", "v"], x, {"n": 3}, batch=BATCH))


def test_operand_used_twice():
    """x * x and x + x: one node is both operands (a DiGraph holds one edge per pair)."""
    b = Builder()
    x = b.var("x", "visible", (3,))
    b.output("y", b.add("sum", b.add("add", b.add("mul", x, x), x)))
    rng = np.random.default_rng(4)
    values = {"x": rng.normal(size=(BATCH, 3))}
    np.testing.assert_allclose(
        evaluate(b.g, values, {}, batch=BATCH)["y"], (values["x"] ** 2 + values["x"]).sum(axis=1)
    )
    got = reverse_mode_gradients(b.g, "y", ["x"], values, {}, batch=BATCH)["x"]
    np.testing.assert_allclose(got, 2 * values["x"] + 1)


MLP_PARAMS = ["W1", "b1", "W2", "b2"]


def test_mlp_loss_by_hand():
    """Backprop written out: dz2 = softmax(z2) sum(t) - t, dz1 = (W2 dz2) * [z1 > 0]."""
    rng = np.random.default_rng(5)
    p = mlp_values(rng)
    z1 = p["x"] @ p["W1"] + p["b1"]
    a1 = np.maximum(z1, 0)
    z2 = a1 @ p["W2"] + p["b2"]
    y = np.exp(z2) / np.exp(z2).sum(axis=1, keepdims=True)
    dz2 = y * p["t"].sum(axis=1, keepdims=True) - p["t"]
    dz1 = (dz2 @ p["W2"].T) * (z1 > 0)
    got = reverse_mode_gradients(mlp().g, "loss", MLP_PARAMS + ["x"], p, MLP_DIMS, batch=BATCH)
    np.testing.assert_allclose(got["W2"], np.einsum("si,sj->sij", a1, dz2))
    np.testing.assert_allclose(got["b2"], dz2)
    np.testing.assert_allclose(got["W1"], np.einsum("si,sj->sij", p["x"], dz1))
    np.testing.assert_allclose(got["b1"], dz1)
    np.testing.assert_allclose(got["x"], dz1 @ p["W1"].T)
    assert_gradients_ok(check_gradients(mlp().g, "loss", MLP_PARAMS, p, MLP_DIMS, batch=BATCH))


@pytest.mark.parametrize("loss", ["mse", "binary_cross_entropy", "cross_entropy"])
def test_losses_over_named_dims(loss):
    """mean() divides by size(n): a numel leaf for a named dim, a constant in the gradient."""
    b = Builder()
    x, t = b.var("x", "input", ("n",)), b.var("t", "target", ("n",))
    W = b.var("W", "param", ("n", "n"))
    y = FUNCTIONS["sigmoid"].expand(b, b.add("tensordot", x, W, n=1))
    b.output("loss", FUNCTIONS[loss].expand(b, y, t))
    rng = np.random.default_rng(6)
    values = {
        "x": rng.normal(size=(BATCH, 3)),
        "t": rng.uniform(0.1, 0.9, size=(BATCH, 3)),
        "W": rng.normal(size=(3, 3)),
    }
    assert_gradients_ok(check_gradients(b.g, "loss", ["W", "x"], values, {"n": 3}, batch=BATCH))


def test_unreached_wrt_gives_zeros():
    b = rbm()
    b.var("c", "param", ("nh", "nh"))  # in the graph, but the energy does not use it
    x = rbm_values(np.random.default_rng(7))
    x["c"] = np.ones((3, 3))
    got = reverse_mode_gradients(b.g, "energy", ["c", "a"], x, RBM_DIMS, batch=BATCH)
    assert got["c"].shape == (BATCH, 3, 3) and not got["c"].any()
    np.testing.assert_allclose(central_differences(b.g, "energy", ["c"], x, RBM_DIMS, batch=BATCH)["c"], 0.0)


def test_gradient_of_the_output_itself():
    b = Builder()
    s = b.var("s", "param", ())
    b.output("s", s)
    got = evaluate(simplify(gradient_graph(b.g, "s", ["s"])), {"s": 2.0}, {})["s"]
    assert got == 1.0


def test_central_differences_of_a_scalar_param():
    """sum(s) of a scalar s is s itself: the evaluator must not hand back the input array."""
    b = Builder()
    s = b.var("s", "param", ())
    b.output("y", b.add("sum", b.add("sum", s)))
    np.testing.assert_allclose(central_differences(b.g, "y", ["s"], {"s": 0.3}, {}, batch=2)["s"], [1.0, 1.0])


def test_reverse_mode_needs_a_scalar():
    b = Builder()
    x = b.var("x", "param", (3,))
    with pytest.raises(ValueError, match="scalar output"):
        reverse_mode(b, b.add("exp", x), [x])


def test_no_vjp_rule_is_a_clear_error():
    b = Builder()
    x = b.var("x", "visible", (3,))
    y = b.add("sum", b.add("batch_sum", x))
    with pytest.raises(ValueError, match="cannot differentiate through 'batch_sum'"):
        reverse_mode(b, y, [x])


def test_gradient_graph_leaves_the_input_graph_alone():
    b = rbm()
    before = describe(b.g)
    gradient_graph(b.g, "energy", ["W", "h"])
    assert describe(b.g) == before


# ---------------------------------------------------------------- random graphs
@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6)),
        min_size=1,
        max_size=10,
    )
)
def test_random_graphs_against_central_differences(steps):
    b, _ = build_random(steps, SMOOTH_OPS)
    values = random_leaf_values(np.random.default_rng(len(steps)), batch=2)
    assert_gradients_ok(check_gradients(b.g, "out", ["x", "y", "W", "s"], values, {}, batch=2))


# ---------------------------------------------------------------- sympy's opinion
def assert_matches_symbolic(g, output, wrt, one_sample, dims):
    want = evaluate_symbolic_gradients(g, output, wrt, one_sample, dims)
    got = reverse_mode_gradients(g, output, wrt, one_sample, dims)
    for name in wrt:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-9, atol=1e-12, err_msg=name)


def test_symbolic_rbm():
    x = {k: (v[0] if k in ("v", "h") else v) for k, v in rbm_values(np.random.default_rng(8)).items()}
    assert_matches_symbolic(rbm().g, "energy", ["W", "a", "b", "v", "h"], x, RBM_DIMS)
    grads = symbolic_gradients(rbm().g, "energy", ["W"], RBM_DIMS)
    assert str(grads["W"][1, 2]) == "-h[2]*v[1]"


def test_symbolic_mlp():
    assert_matches_symbolic(mlp().g, "loss", MLP_PARAMS + ["x"], mlp_values(np.random.default_rng(9), None), MLP_DIMS)


SYMBOLIC_CASES = [c for c in CASES if c.op not in ("sign", "step") and len(c.shapes[0]) <= 2]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in SYMBOLIC_CASES])
def test_symbolic_agrees_with_autodiff_per_op(case):
    rng = np.random.default_rng(10)
    b = case_graph(case)
    weighted(b, b.g.graph["outputs"]["y"])
    values = case_values(rng, case)
    values["r"] = rng.normal(size=resolve(b.shape(b.g.graph["outputs"]["y"])))
    assert_matches_symbolic(b.g, "loss", [f"x{i}" for i in range(len(case.shapes))], values, DIMS)


def test_symbolic_unreached_is_zero_and_batch_ops_are_refused():
    b = rbm()
    b.var("c", "param", ("nh",))
    grads = symbolic_gradients(b.g, "energy", ["c"], RBM_DIMS)
    assert all(e == 0 for e in grads["c"].ravel())
    b2 = Builder()
    b2.output("y", b2.add("sum", b2.add("batch_sum", b2.var("x", "visible", (2,)))))
    with pytest.raises(SymbolicError, match="'batch_sum' .* has no sympy rule"):
        symbolic_gradients(b2.g, "y", ["x"], {})
