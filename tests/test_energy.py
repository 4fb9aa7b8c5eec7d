"""The energy analysis: independence, conditionals and the free energy, from the graph alone."""

import numpy as np
import pytest

import ebmc
from ebmc.api import analyse_file
from ebmc.derive import derive
from ebmc.ir.evaluate import evaluate
from ebmc.passes.energy import analyse

RBM = """
model rbm {
    dim nv = 5
    dim m = 3
    visible v[nv] : bernoulli
    hidden h[m] : bernoulli
    param W[nv, m] ~ normal(0, 1)
    param a[nv]
    param b[m]
    energy = -(a @ v) - (b @ h) - v @ W @ h
}
"""


def test_rbm_groups_are_independent_and_summable():
    (model,) = ebmc.parse(RBM)
    a = analyse(model)
    assert all(g.independent for g in a.groups.values())
    assert a.summable == {"hidden", "visible"}


def test_free_energy_graph_equals_hand_formula():
    (model,) = ebmc.parse(RBM)
    a = analyse(model)
    rng = np.random.default_rng(0)
    W, av, bh = rng.normal(size=(5, 3)), rng.normal(size=5), rng.normal(size=3)
    v = (rng.random(5) < 0.5).astype(float)
    out = evaluate(a.graphs["free_energy"], {"v": v, "W": W, "a": av, "b": bh}, model.dims)
    expected = -(av @ v) - np.logaddexp(0, v @ W + bh).sum()
    assert float(out["free_energy"]) == pytest.approx(expected, rel=1e-12)


def test_field_is_minus_energy_derivative():
    (model,) = ebmc.parse(RBM)
    a = analyse(model)
    rng = np.random.default_rng(1)
    W, av, bh = rng.normal(size=(5, 3)), rng.normal(size=5), rng.normal(size=3)
    h = (rng.random(3) < 0.5).astype(float)
    out = evaluate(a.graphs["conditional_v"], {"h": h, "W": W, "a": av, "b": bh}, model.dims)
    np.testing.assert_allclose(out["field"], W @ h + av, rtol=1e-12)
    np.testing.assert_allclose(out["mean"], 1 / (1 + np.exp(-(W @ h + av))), rtol=1e-12)


def test_interaction_inside_a_group_makes_it_coupled_with_a_constant_hessian():
    source = RBM.replace("energy = -(a @ v)", "param J[nv, nv]\n    energy = -(v @ J @ v) - (a @ v)")
    (model,) = ebmc.parse(source)
    a = analyse(model)
    assert a.groups["v"].form == "coupled" and a.groups["v"].quadratic
    assert a.groups["h"].form == "affine"
    assert "coupling_v" in a.graphs and "conditional_v" not in a.graphs


def test_hidden_hidden_coupling_has_no_free_energy_but_visible_side_is_summable():
    source = RBM.replace("hidden h[m] : bernoulli", "hidden h[m] : bernoulli\n    hidden g[m] : bernoulli")
    source = source.replace("energy = -(a @ v)", "param U[m, m]\n    energy = -(h @ U @ g) - (a @ v)")
    (model,) = ebmc.parse(source)
    a = analyse(model)
    assert "hidden" not in a.summable
    assert "free_energy" not in a.graphs


def test_a_group_the_energy_does_not_use_is_reported():
    source = RBM.replace("hidden h[m] : bernoulli", "hidden h[m] : bernoulli\n    hidden g[3] : bernoulli")
    with pytest.raises(ebmc.EbmcError, match="the energy does not depend on 'g'") as info:
        ebmc.compile(source)
    assert (info.value.line, info.value.column) == (7, 5)


# ---------------------------------------------------------------- groups that cancel
CANCEL = RBM.replace("energy = -(a @ v) - (b @ h) - v @ W @ h", "energy = ENERGY")


@pytest.mark.parametrize(
    "energy, group, line",
    [
        ("-(b @ h) - v @ W @ h + v @ W @ h", "v", 5),  # the energy of issue 5: v cancels
        ("-(a @ v) - v @ W @ h + v @ W @ h", "h", 6),
        ("-(a @ v) - sum(h * (v @ W)) + sum((v @ W) * h)", "h", 6),  # the other order of a product
        ("-(b @ h) + v @ W @ h - sum((v @ W) * h)", "v", 5),  # cancels only once h is summed out
    ],
)
def test_a_group_that_cancels_is_an_error_at_the_group_not_invalid_code(energy, group, line):
    source = CANCEL.replace("ENERGY", energy)
    for run in (ebmc.compile, lambda s: derive(analyse_file(s))):
        with pytest.raises(ebmc.EbmcError, match=f"does not depend on '{group}'") as info:
            run(source)
        assert (info.value.line, info.value.column) == (line, 5)


def test_derive_prints_the_energy_with_like_terms_collected():
    source = CANCEL.replace("ENERGY", "-(a @ v) - (b @ h) - v @ W @ h + v @ W @ h - v @ W @ h + 2 * (a @ v) - a @ v")
    text = derive(analyse_file(source))
    assert "E(v, h) = -(b @ h) - v @ W @ h" in text
    m = ebmc.load(source).Rbm(seed=0)
    rng = np.random.default_rng(0)
    m.params["a"][...] = rng.normal(size=5)
    v, h = rng.integers(0, 2, (4, 5)).astype(float), rng.integers(0, 2, (4, 3)).astype(float)
    W, b = m.params["W"], m.params["b"]
    np.testing.assert_allclose(m.energy(v=v, h=h), -(h @ b) - np.einsum("si,ij,sj->s", v, W, h), rtol=1e-12)
