"""Every unit type end to end: gaussian, softmax, coupled groups of any type, and a third party's.

Each derived number is checked against an independent reference: a closed form written out
here, exact enumeration over every state of a tiny model, or numerical integration.
"""

import itertools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate

import ebmc

GRBM = """
model grbm {
    dim n = 3
    dim m = 2
    visible v[n] : gaussian
    hidden h[m] : bernoulli
    param W[n, m] ~ normal(0, 0.5)
    param a[n] = 0
    param b[m] = 0
    param s[n] = 1
    energy = 0.5 * sum(square(v - a) / square(s)) - (b @ h) - (v / s) @ W @ h
    train cd(k=1, lr=0.01, batch=20, epochs=2)
}
"""

SOFTMAX = """
model srbm {
    dim items = 3
    dim k = 4
    dim m = 2
    visible r[items, k] : softmax
    hidden h[m] : bernoulli
    param W[items, k, m] ~ normal(0, 0.5)
    param a[items, k] ~ normal(0, 0.5)
    param b[m] = 0
    energy = -sum(a * r) - (b @ h) - sum(r * (W @ h))
    train cd(k=1, lr=0.05, batch=10, epochs=2)
}
"""

BM = """
model bm {
    dim n = 4
    dim m = 3
    visible v[n] : spin
    hidden h[m] : bernoulli
    param L[n, n] ~ normal(0, 0.1) : symmetric, zero_diagonal
    param J[m, m] ~ normal(0, 0.1) : symmetric, zero_diagonal
    param W[n, m] ~ normal(0, 0.1)
    param a[n] = 0
    param b[m] = 0
    energy = -(a @ v) - (b @ h) - v @ W @ h - 0.5 * v @ L @ v - 0.5 * h @ J @ h
    train pcd(k=1, lr=0.05, batch=50, epochs=3)
}
"""

VISIBLE_BM = """
model vbm {
    dim n = 5
    visible v[n] : bernoulli
    param L[n, n] ~ normal(0, 0.1) : symmetric, zero_diagonal
    param a[n] = 0
    energy = -(a @ v) - 0.5 * v @ L @ v
    train pcd(k=1, lr=0.1, batch=100, epochs=30)
}
"""

H2 = np.array(list(itertools.product([0.0, 1.0], repeat=2)))


def set_params(m, rng, scale=0.7):
    for name, p in m.params.items():
        value = rng.normal(0, scale, p.shape)
        if "symmetric" in m.param_attrs[name]:
            value = value + value.T
        if "zero_diagonal" in m.param_attrs[name]:
            np.fill_diagonal(value, 0.0)
        p[...] = value


# ---------------------------------------------------------------- gaussian
@pytest.fixture(scope="module")
def grbm():
    m = ebmc.load(GRBM).Grbm(seed=0)
    m.params["s"][...] = [0.5, 1.0, 2.0]
    m.params["a"][...] = [0.3, -1.0, 2.0]
    m.params["W"][...] = np.random.default_rng(1).normal(0, 0.8, (3, 2))
    m.params["b"][...] = [0.2, -0.4]
    return m


def test_gaussian_conditional_is_the_normal_the_quadratic_gives(grbm):
    """v | h ~ N(a + s * (W h), s^2): the precision 1 / s^2 and the shift s * (W h) read off the energy."""
    p = grbm.params
    h = np.array([1.0, 0.0])
    np.testing.assert_allclose(grbm.mean_v(h=h), p["a"] + p["s"] * (p["W"] @ h), rtol=1e-12)
    draws = grbm.sample_v(h=np.tile(h, (40000, 1)))
    np.testing.assert_allclose(draws.mean(axis=0), p["a"] + p["s"] * (p["W"] @ h), atol=4 * 2.0 / 200)
    np.testing.assert_allclose(draws.var(axis=0), p["s"] ** 2, rtol=0.05)


def test_gaussian_free_energies_and_log_partition_against_integration(grbm):
    p = grbm.params

    def log_integral(h):  # log of the integral over v of exp(-E(v, h)), one unit at a time
        total = p["b"] @ h
        for i in range(3):
            field = p["W"][i] @ h

            def weight(x, i=i, field=field):
                return np.exp(-(0.5 * (x - p["a"][i]) ** 2 / p["s"][i] ** 2 - x / p["s"][i] * field))

            total += np.log(integrate.quad(weight, -60, 60, epsabs=1e-13)[0])
        return total

    expected = np.log(sum(np.exp(log_integral(h)) for h in H2))
    assert grbm.log_partition() == pytest.approx(expected, rel=1e-9)
    v = np.array([0.5, -1.0, 3.0])
    by_hand = 0.5 * np.sum((v - p["a"]) ** 2 / p["s"] ** 2) - np.sum(np.logaddexp(0, p["b"] + (v / p["s"]) @ p["W"]))
    assert grbm.free_energy(v=v) == pytest.approx(by_hand, rel=1e-12)
    assert grbm.log_prob(v=v) == pytest.approx(-by_hand - expected, rel=1e-9)


def test_a_gaussian_model_trains_and_takes_any_real_data(grbm):
    data = np.random.default_rng(2).normal(0, 3, (60, 3))
    history = grbm.fit(data, epochs=2)
    assert len(history) == 2 and np.isfinite(history[-1]["free_energy"])
    assert np.all(np.isfinite(grbm.complete(np.array([True, False, True]), v=data[:4])))


PRECISION_OF_A_CONDITION = """
model m {
    visible s : gaussian
    hidden h : bernoulli
    input b
    param w = 0.5
    energy = 0.5 * exp(tanh(b)) * square(s) - w * h
}
"""


def test_a_gaussian_group_whose_condition_sets_its_precision_alone():
    """Regression (found by the fuzzer): the mean of s is 0 whatever b is, and had no batch axis
    while its precision exp(tanh(b)) had one: mean_s gave one number for a batch, and sample_s,
    sample, complete, fit and AIS failed (a float has no dtype; a batch broadcast to a scalar)."""
    m = ebmc.load(PRECISION_OF_A_CONDITION).M(seed=0)
    b = np.array([0.0, 1.0, -2.0])
    np.testing.assert_array_equal(m.mean_s(b=b), np.zeros(3))
    draws = m.sample_s(b=np.repeat(b, 20000)).reshape(3, 20000)
    np.testing.assert_allclose(draws.var(axis=1), np.exp(-np.tanh(b)), rtol=0.05)
    exact = np.log1p(np.exp(0.5)) + 0.5 * np.log(2 * np.pi / np.exp(np.tanh(b)))
    np.testing.assert_allclose(m.log_partition(b=b), exact, rtol=1e-12)
    estimate, _ = m.log_partition(method="ais", runs=50, betas=200, b=b)
    np.testing.assert_allclose(estimate, exact, atol=0.1)
    assert m.sample(4, steps=3, b=b[0]).shape == (4,)
    assert np.all(np.isfinite(m.complete(np.array([True, False, False]), s=draws[:, 0], b=b)))
    assert len(m.fit(draws[0, :30], b=0.5, epochs=1)) == 1


# ---------------------------------------------------------------- softmax
@pytest.fixture(scope="module")
def srbm():
    m = ebmc.load(SOFTMAX).Srbm(seed=3)
    set_params(m, np.random.default_rng(4))
    return m


def onehots(items=3, k=4):
    return np.array([np.eye(k)[list(c)] for c in itertools.product(range(k), repeat=items)])


def test_softmax_conditional_sample_and_enumeration(srbm):
    p = srbm.params
    h = np.array([1.0, 0.0])
    field = p["a"] + p["W"] @ h
    probs = np.exp(field) / np.exp(field).sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(srbm.mean_r(h=h), probs, rtol=1e-12)
    draws = srbm.sample_r(h=np.tile(h, (20000, 1)))
    assert np.all(draws.sum(axis=-1) == 1) and set(np.unique(draws)) <= {0.0, 1.0}
    np.testing.assert_allclose(draws.mean(axis=0), probs, atol=0.02)
    R = onehots()
    E = np.array([[srbm.energy(r=r, h=h) for h in H2] for r in R])
    assert srbm.log_partition() == pytest.approx(np.log(np.exp(-E).sum()), rel=1e-12)
    np.testing.assert_allclose(srbm.free_energy(r=R[:5]), -np.log(np.exp(-E[:5]).sum(axis=1)), rtol=1e-12)
    # F(h) sums the one-hot units out with a log-sum-exp along the last axis
    free_h = srbm._free_energy_hidden(H2)
    np.testing.assert_allclose(free_h, -np.log(np.exp(-E).sum(axis=0)), rtol=1e-12)


def test_softmax_data_must_be_one_hot_and_masks_have_one_entry_per_unit(srbm):
    R = onehots()[:6]
    with pytest.raises(ValueError, match="one-hot"):
        srbm.free_energy(r=R * 0.5)
    mask = np.array([True, False, True])  # one entry per 4-way unit
    out = srbm.complete(mask, steps=20, r=R)
    np.testing.assert_array_equal(out[:, mask], R[:, mask])
    np.testing.assert_allclose(out.sum(axis=-1), 1.0, rtol=1e-12)
    with pytest.raises(ValueError, match="mask"):
        srbm.complete(np.ones((3, 4), dtype=bool), r=R)
    history = srbm.fit(onehots()[::3], mask=np.array([True, True, False]))
    assert len(history) == 2


# ---------------------------------------------------------------- coupled groups
def test_sample_of_a_machine_coupled_inside_both_layers_matches_the_exact_marginal():
    """The issue's 4 + 3 machine with strong couplings inside both layers: total variation < 0.04."""
    m = ebmc.load(BM).Bm(seed=5)
    set_params(m, np.random.default_rng(0), scale=1.0)
    V = np.array(list(itertools.product([-1.0, 1.0], repeat=4)))
    H = np.array(list(itertools.product([0.0, 1.0], repeat=3)))
    E = np.array([[m.energy(v=v, h=h) for h in H] for v in V])
    exact = np.exp(-E).sum(axis=1) / np.exp(-E).sum()
    assert m.log_partition() == pytest.approx(np.log(np.exp(-E).sum()), rel=1e-12)
    draws = m.sample(20000, steps=300)
    index = ((draws > 0) @ (2 ** np.arange(3, -1, -1))).astype(int)
    empirical = np.bincount(index, minlength=16) / len(draws)
    assert 0.5 * np.abs(empirical - exact).sum() < 0.04


def test_a_coupled_machine_keeps_its_attributes_through_training():
    m = ebmc.load(BM).Bm(seed=6)
    data = np.random.default_rng(1).choice([-1.0, 1.0], size=(100, 4))
    m.fit(data)
    for name in ("L", "J"):
        np.testing.assert_array_equal(m.params[name], m.params[name].T)
        assert np.all(np.diagonal(m.params[name]) == 0)


def test_a_fully_visible_machine_learns_its_data_distribution():
    """PCD on a fully visible Boltzmann machine: the KL divergence from the data's distribution
    (enumerated exactly) to the model falls well below the untrained model's."""
    teacher = ebmc.load(VISIBLE_BM).Vbm(seed=7)
    set_params(teacher, np.random.default_rng(2), scale=1.0)
    data = teacher.sample(3000, steps=200)
    states = np.array(list(itertools.product([0.0, 1.0], repeat=5)))
    index = (data @ (2 ** np.arange(4, -1, -1))).astype(int)
    target = np.bincount(index, minlength=32) / len(data)

    def kl(model):
        logp = model.log_prob(v=states)
        keep = target > 0
        return float(np.sum(target[keep] * (np.log(target[keep]) - logp[keep])))

    student = ebmc.load(VISIBLE_BM).Vbm(seed=8)
    before = kl(student)
    student.fit(data, epochs=60, lr=0.05)
    assert np.exp(student.log_prob(v=states)).sum() == pytest.approx(1.0, rel=1e-12)
    assert kl(student) < 0.3 * before


def test_complete_clamps_the_kept_units_of_a_coupled_group():
    m = ebmc.load(VISIBLE_BM).Vbm(seed=9)
    set_params(m, np.random.default_rng(3), scale=1.5)
    v = np.array([[1.0, 0.0, 1.0, 0.0, 1.0]])
    mask = np.array([True, True, False, False, True])
    got = m.complete(mask, steps=4000, v=v)
    np.testing.assert_array_equal(got[0, mask], v[0, mask])
    # the exact conditional of the two free units given the three kept ones
    states = np.array(list(itertools.product([0.0, 1.0], repeat=2)))
    full = np.repeat(v, 4, axis=0)
    full[:, ~mask] = states
    weights = np.exp(-m.energy(v=full))
    expected = (weights[:, None] * states).sum(axis=0) / weights.sum()
    np.testing.assert_allclose(got[0, ~mask], expected, atol=0.04)


def test_a_machine_without_params_or_dims_saves_and_loads(tmp_path):
    """Regression (found by the fuzzer): a fully visible machine of fixed couplings has nothing to
    save; save wrote an empty .npz archive, which load refused as not written by save."""
    m = ebmc.load("model m {\n    visible t[2, 2] : spin\n    energy = -(sum(t) ** 2)\n}\n").M(seed=0)
    assert m.params == {} and m.dims == {}
    assert m.load(m.save(tmp_path / "m.npz")) is m
    # sum(t) is -4, -2, 0, 2 or 4 in 1, 4, 6, 4 and 1 states
    assert m.log_partition() == pytest.approx(np.log(2 * np.exp(16) + 8 * np.exp(4) + 6), rel=1e-12)


COUPLED_GAUSSIAN = """
model cg {
    dim n = 3
    visible v[n] : gaussian
    param L[n, n] ~ normal(0, 0.3) : symmetric, zero_diagonal
    param a[n] ~ normal(0, 1)
    energy = 0.5 * sum(square(v)) - 0.5 * v @ L @ v - a @ v
}
"""


def test_a_gaussian_group_coupled_with_a_zero_diagonal_compiles_and_samples_its_normal():
    """Regression: a coupled gaussian group's sweep was generated with a branch for a zero diagonal
    of the Hessian (no precision), which a gaussian unit cannot have: compiling crashed (KeyError).
    The draws are those of the normal with precision I - L and mean (I - L)^-1 a."""
    m = ebmc.load(COUPLED_GAUSSIAN).Cg(seed=3)
    precision = np.eye(3) - m.params["L"]
    assert np.all(np.linalg.eigvalsh(precision) > 0)
    draws = m.sample(20000, steps=30)
    np.testing.assert_allclose(draws.mean(axis=0), np.linalg.solve(precision, m.params["a"]), atol=0.05)
    np.testing.assert_allclose(np.cov(draws.T), np.linalg.inv(precision), atol=0.05)


COUPLED_GAUSSIAN_OF_A_CONDITION = """
model cgc {
    dim n = 3
    visible v[n] : gaussian
    input b
    param L[n, n] ~ normal(0, 0.3) : symmetric, zero_diagonal
    param a[n] ~ normal(0, 1)
    energy = 0.5 * exp(b) * sum(square(v)) - 0.5 * v @ L @ v - a @ v
}
"""


def test_a_coupled_gaussian_group_whose_hessian_reads_a_condition_samples_its_normal():
    """Regression (found by the fuzzer): the Hessian exp(b) I - L reads the condition, so it is
    no constant to sweep with, and the sweep of a group without a constant Hessian enumerated the
    unit's values, which a gaussian unit has none of (ValueError from np.stack in sample, complete,
    fit and AIS). Each unit's field and precision now come from the energy at three values."""
    m = ebmc.load(COUPLED_GAUSSIAN_OF_A_CONDITION).Cgc(seed=4)
    for b in (0.0, 0.7):
        precision = np.exp(b) * np.eye(3) - m.params["L"]
        mean = np.linalg.solve(precision, m.params["a"])
        draws = m.sample(20000, steps=30, b=b)
        np.testing.assert_allclose(draws.mean(axis=0), mean, atol=0.05)
        np.testing.assert_allclose(np.cov(draws.T), np.linalg.inv(precision), atol=0.05)
        log_z = 0.5 * mean @ m.params["a"] + 0.5 * np.linalg.slogdet(2 * np.pi * np.linalg.inv(precision))[1]
        estimate, _ = m.log_partition(method="ais", runs=100, betas=500, b=np.array([b]))
        assert estimate[0] == pytest.approx(log_z, abs=0.1)
    assert np.all(np.isfinite(m.complete(np.array([True, False, True]), steps=4, v=draws[:2], b=0.0)))
    assert len(m.fit(draws[:50], b=0.0, epochs=1)) == 1


def test_a_coupled_gaussian_group_whose_hessian_is_not_positive_definite_is_refused_when_sampled():
    """Its diagonal is positive, but 1 - L has a negative eigenvalue: the Gibbs chain ran off to
    infinity (an overflow in sample, and AIS returned an estimate of 1e86 without a word)."""
    m = ebmc.load(COUPLED_GAUSSIAN).Cg(seed=0)
    m.params["L"][...] = 3.0 * (1 - np.eye(3))
    with pytest.raises(ValueError, match="not positive definite"):
        m.sample(3, steps=200)
    with pytest.raises(ValueError, match="not positive definite"):
        m.log_partition(method="ais", runs=3, betas=50)


# ---------------------------------------------------------------- a unit type that does not fit
MISFIT = """model m {
    V
    H
    param W[2, 3] ~ normal(0, 0.1)
    param c = 1
    energy = ENERGY
}
"""


@pytest.mark.parametrize(
    "v, h, energy, message",
    [
        (
            "softmax",
            "softmax",
            "-(v @ W @ h) - sum(exp(h))",
            r"'h' is softmax but the energy is not linear in 'h': exp\(h\) at 6:33",
        ),
        (
            "gaussian",
            "bernoulli",
            "-(v @ W @ h) + sum(square(square(v)))",
            r"'v' is gaussian but the energy is not quadratic in 'v': square\(square\(v\)\) at 6:33",
        ),
        ("gaussian", "bernoulli", "-(v @ W @ h)", r"'v' is gaussian but the energy is linear in 'v'"),
        (
            "gaussian",
            "bernoulli",
            "-(v @ W @ h) + c * sum(square(v))",
            r"'v' is gaussian but its curvature d2E/dv2 = .*c.* can be negative",
        ),
    ],
)
def test_a_unit_type_that_does_not_fit_the_energy_is_a_located_error(v, h, energy, message):
    source = MISFIT.replace("V", f"visible v[2] : {v}").replace("H", f"hidden h[3] : {h}")
    with pytest.raises(ebmc.EbmcError, match=message) as info:
        ebmc.compile(source.replace("ENERGY", energy))
    assert info.value.line in (2, 3, 6)


# ---------------------------------------------------------------- a third party's unit type
PLUGIN = """
from ebmc.units import discrete

TERNARY = discrete("ternary", (-1, 0, 1), doc="values {-1, 0, +1}")
"""

TERNARY_MODEL = """
model t {
    dim n = 3
    dim m = 2
    visible v[n] : ternary
    hidden h[m] : ternary
    param W[n, m] ~ normal(0, 0.5)
    param a[n] ~ normal(0, 0.5)
    param c[n] ~ normal(0, 0.5)
    energy = -(a @ v) - v @ W @ h + 0.5 * sum(c * c * square(v))
    train cd(k=1, lr=0.05, batch=10, epochs=3)
}
"""

DRIVER = """
import itertools, json, numpy as np, ebmc
m = ebmc.load(open("model.ebm").read()).T(seed=1)
p = m.params
V = np.array(list(itertools.product([-1.0, 0.0, 1.0], repeat=3)))
H = np.array(list(itertools.product([-1.0, 0.0, 1.0], repeat=2)))
E = np.array([[m.energy(v=v, h=h) for h in H] for v in V])
out = {"log_z": m.log_partition(), "exact_log_z": float(np.log(np.exp(-E).sum()))}
v = V[7]
f = p["W"].T @ v
weights = np.exp(np.outer(f, [-1.0, 0.0, 1.0]))
out["mean_h"] = m.mean_h(v=v).tolist()
out["exact_mean_h"] = (weights @ [-1.0, 0.0, 1.0] / weights.sum(axis=1)).tolist()
fv = p["a"] + p["W"] @ H[4]
wv = np.exp(np.outer(fv, [-1.0, 0.0, 1.0]) - 0.5 * np.outer(p["c"] ** 2, [1.0, 0.0, 1.0]))
out["mean_v"] = m.mean_v(h=H[4]).tolist()
out["exact_mean_v"] = (wv @ [-1.0, 0.0, 1.0] / wv.sum(axis=1)).tolist()
draws = m.sample(500, steps=5)
out["values"] = sorted(set(np.unique(draws).tolist()))
out["epochs"] = len(m.fit(draws))
print(json.dumps(out))
"""


def test_a_third_party_unit_type_installed_through_an_entry_point(tmp_path):
    """A package that only declares `ternary = "ternary_units:TERNARY"` in the `ebmc.units` group:
    compiled, sampled, enumerated, its means checked by hand and trained."""
    (tmp_path / "ternary_units.py").write_text(PLUGIN)
    info = tmp_path / "ternary_units-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ternary-units\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[ebmc.units]\nternary = ternary_units:TERNARY\n")
    (tmp_path / "model.ebm").write_text(TERNARY_MODEL)
    (tmp_path / "driver.py").write_text(DRIVER)
    env = {**os.environ, "PYTHONPATH": str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    listed = subprocess.run(
        [sys.executable, "-m", "ebmc", "plugins"], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert "ternary" in listed.stdout
    r = subprocess.run([sys.executable, "driver.py"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    import json

    out = json.loads(r.stdout)
    assert out["log_z"] == pytest.approx(out["exact_log_z"], rel=1e-12)
    np.testing.assert_allclose(out["mean_h"], out["exact_mean_h"], rtol=1e-12)
    np.testing.assert_allclose(out["mean_v"], out["exact_mean_v"], rtol=1e-12)
    assert out["values"] == [-1.0, 0.0, 1.0] and out["epochs"] == 3


# ---------------------------------------------------------------- conditions
CONDITIONAL = """
model crbm {
    dim n = 4
    dim m = 3
    dim c = 2
    visible v[n] : bernoulli
    hidden h[m] : bernoulli
    input x[c]
    param W[n, m] ~ normal(0, 0.5)
    param A[c, n] ~ normal(0, 0.5)
    param B[c, m] ~ normal(0, 0.5)
    param a[n] = 0
    param b[m] = 0
    energy = -(a @ v) - (b @ h) - v @ W @ h - x @ A @ v - x @ B @ h
    train cd(k=1, lr=0.05, batch=10, epochs=2)
}
"""


def test_a_condition_is_given_to_every_method_and_never_sampled():
    """A conditional RBM: p(v | x) by enumeration at each x, against log_partition(x=...),
    log_prob, free_energy, mean_h and the distribution of sample(n, x=...)."""
    m = ebmc.load(CONDITIONAL).Crbm(seed=0)
    set_params(m, np.random.default_rng(1), scale=0.8)
    p = m.params
    x = np.array([[1.0, -0.5], [0.2, 2.0]])
    V = np.array(list(itertools.product([0.0, 1.0], repeat=4)))
    H = np.array(list(itertools.product([0.0, 1.0], repeat=3)))
    log_z = m.log_partition(x=x)
    assert log_z.shape == (2,)
    estimate, error = m.log_partition(method="ais", x=x, runs=100, betas=1000)
    np.testing.assert_allclose(estimate, log_z, atol=0.1)
    assert error.shape == (2,) and np.all(error < 0.1)
    for i in range(2):
        E = np.array([[m.energy(v=v, h=h, x=x[i]) for h in H] for v in V])
        assert log_z[i] == pytest.approx(np.log(np.exp(-E).sum()), rel=1e-12)
        assert m.log_partition(x=x[i]) == pytest.approx(log_z[i], rel=1e-12)
        xs = np.tile(x[i], (16, 1))
        np.testing.assert_allclose(m.free_energy(v=V, x=xs), -np.log(np.exp(-E).sum(axis=1)), rtol=1e-12)
        np.testing.assert_allclose(np.exp(m.log_prob(v=V, x=xs)).sum(), 1.0, rtol=1e-12)
        by_hand = 1 / (1 + np.exp(-(p["b"] + V[5] @ p["W"] + x[i] @ p["B"])))
        np.testing.assert_allclose(m.mean_h(v=V[5], x=x[i]), by_hand, rtol=1e-12)
        draws = m.sample(20000, steps=20, x=x[i])
        index = (draws @ 2 ** np.arange(3, -1, -1)).astype(int)
        exact = np.exp(-E).sum(axis=1) / np.exp(-E).sum()
        assert 0.5 * np.abs(np.bincount(index, minlength=16) / 20000 - exact).sum() < 0.03
    data = (np.random.default_rng(0).random((50, 4)) < 0.5).astype(float)
    conditions = np.random.default_rng(1).normal(size=(50, 2))
    assert len(m.fit(data, x=conditions)) == 2
    with pytest.raises(ValueError, match="x: expected shape"):
        m.fit(data, x=conditions[:7])
    with pytest.raises(TypeError):
        m.sample(3)  # the condition is required
    got = m.complete(np.array([True, False, True, False]), v=data[:3], x=conditions[:3])
    np.testing.assert_array_equal(got[:, [0, 2]], data[:3, [0, 2]])


SHADOWING = """
model m {
    visible v[3] : bernoulli
    hidden h[2] : bernoulli
    input np[2]
    input time
    input os
    input range
    input free
    input conditions
    param W[3, 2] ~ normal(0, 0.5)
    param A[2, 3] ~ normal(0, 0.5)
    param L[3, 3] ~ normal(0, 0.5) : symmetric, zero_diagonal
    energy = -(v @ W @ h) - np @ A @ v - (time + os - range + free + conditions) * sum(h) - 0.5 * v @ L @ v
    train pcd(k=1, lr=0.05, batch=10, epochs=2)
}
"""


def test_conditions_named_like_the_modules_own_names_shadow_none_of_them():
    """Regression: fit read numpy and time through the names `np` and `time`, sample called `range`
    and log_prob kept F in a local `free`, while their arguments bore the conditions' names: fit
    failed (AttributeError), sample too, and log_prob(free=...) was wrong. The public methods
    now pass the conditions on as a dict, to methods that take no name of the model."""
    m = ebmc.load(SHADOWING).M(seed=0)
    rng = np.random.default_rng(0)
    conditions = {"np": rng.normal(size=(2, 2))} | {k: rng.normal(size=2) for k in SHADOWING_SCALARS}
    V = np.array(list(itertools.product([0.0, 1.0], repeat=3)))
    for i in range(2):
        row = {k: x[i] for k, x in conditions.items()}
        E = np.array([[m.energy(v=v, h=h, **row) for h in H2] for v in V])
        exact = np.log(np.exp(-E).sum(axis=1)) - np.log(np.exp(-E).sum())
        rows = {k: np.repeat(x[None], 8, axis=0) for k, x in row.items()}
        np.testing.assert_allclose(m.log_prob(v=V, **rows), exact, rtol=1e-12)
        log_p, _ = m.log_prob(v=V[2], method="ais", runs=50, betas=300, **row)
        assert log_p == pytest.approx(exact[2], abs=0.15)
    data = (rng.random((20, 3)) < 0.5).astype(float)
    many = {"np": rng.normal(size=(20, 2))} | {k: rng.normal(size=20) for k in SHADOWING_SCALARS}
    assert len(m.fit(data, **many)) == 2
    assert m.sample(2, steps=3, **conditions).shape == (2, 3)
    got = m.complete(np.array([True, False, True]), steps=5, v=data[:2], **conditions)
    np.testing.assert_array_equal(got[:, [0, 2]], data[:2, [0, 2]])


SHADOWING_SCALARS = ("time", "os", "range", "free", "conditions")

NO_EXACT_LOG_Z = """
model m {
    visible r[2] : softmax
    visible w[1] : gaussian
    input ValueError[1]
    param a[2] ~ normal(0, 1)
    param B[1, 1] ~ normal(0, 1)
    energy = -(r @ a) + 0.5 * sum(square(w - ValueError @ B))
}
"""


def test_log_partition_without_an_exact_value_says_so_whatever_the_conditions_are_named():
    """Regression (found by the fuzzer): log_partition raised ValueError by its name, which a
    condition named ValueError shadowed (TypeError: 'numpy.ndarray' object is not callable)."""
    m = ebmc.load(NO_EXACT_LOG_Z).M(seed=0)
    with pytest.raises(ValueError, match="no exact log Z"):
        m.log_partition(ValueError=np.ones(1))
    estimate, _ = m.log_partition(method="ais", runs=50, betas=100, ValueError=np.ones(1))
    exact = np.log(np.exp(m.params["a"]).sum()) + 0.5 * np.log(2 * np.pi)  # the gaussian integrates to sqrt(2 pi)
    assert estimate == pytest.approx(exact, abs=0.1)


@pytest.mark.parametrize("model", ["SHADOWING", "NO_EXACT_LOG_Z", "CONDITIONAL", "GRBM", "SOFTMAX", "COUPLED_SOFTMAX"])
def test_public_methods_that_take_the_models_names_use_no_other_name(model):
    """A public method whose arguments bear the model's names (units, conditions) reads nothing
    but self and its arguments: no module name, builtin or local of its own that a name of the
    model could shadow (the models' own names made plain, so that a use of one shows)."""
    import ast
    import re

    plain = re.sub(r"\b(np|time|os|range|free|conditions|ValueError)\b", r"c_\1", globals()[model])

    fixed = {"self", "n", "steps", "mask", "method", "runs", "betas", "base_data", "data", "verbose"}
    fixed |= {"callback", "monitor", "k", "lr", "batch", "epochs", "momentum", "weight_decay"}
    tree = ast.parse(ebmc.compile(plain).source)
    for cls in (node for node in tree.body if isinstance(node, ast.ClassDef) and not node.name.startswith("_")):
        for f in (node for node in cls.body if isinstance(node, ast.FunctionDef) and not node.name.startswith("_")):
            args = {a.arg for a in f.args.args + f.args.kwonlyargs}
            if args - fixed:
                used = {node.id for node in ast.walk(f) if isinstance(node, ast.Name)}
                assert used <= args, (f.name, sorted(used - args))


def test_a_condition_named_like_an_argument_of_fit_is_refused_at_its_declaration():
    source = NAMED.replace("DECLARATION", "input monitor[2]").replace("NAME", "monitor")
    with pytest.raises(ebmc.EbmcError, match="an argument of fit") as info:
        ebmc.compile(source)
    assert info.value.line == 5


# ---------------------------------------------------------------- annealed importance sampling
def test_ais_agrees_with_enumeration_on_an_rbm_of_20_by_10():
    m = ebmc.load(Path(__file__).parents[1] / "examples" / "rbm.ebm", n_visible=20, n_hidden=10).Rbm(seed=0)
    set_params(m, np.random.default_rng(0), scale=0.5)
    data = m.sample(300, steps=50)
    exact = m.log_partition()
    estimate, error = m.log_partition(method="ais", runs=100, betas=1000, base_data=data)
    assert abs(estimate - exact) < 0.1 and 0 < error < 0.1
    estimate, _ = m.log_partition(method="ais", runs=100, betas=1000)  # a uniform base model
    assert abs(estimate - exact) < 0.1
    log_p, error = m.log_prob(v=data[:4], method="ais", runs=50, betas=500)
    np.testing.assert_allclose(log_p, m.log_prob(v=data[:4]), atol=0.1)


@pytest.mark.parametrize("source, cls", [(BM, "Bm"), (GRBM, "Grbm"), (SOFTMAX, "Srbm")])
def test_ais_agrees_with_enumeration_on_coupled_gaussian_and_softmax_machines(source, cls):
    m = getattr(ebmc.load(source), cls)(seed=1)
    set_params(m, np.random.default_rng(2), scale=0.8)
    if "s" in m.params:
        m.params["s"][...] = np.exp(m.params["s"])  # positive scales
    estimate, error = m.log_partition(method="ais", runs=100, betas=1000)
    assert abs(estimate - m.log_partition()) < 0.1 and error < 0.1


def test_ais_settings_are_checked():
    m = ebmc.load(BM).Bm(seed=1)
    with pytest.raises(ValueError, match="method must be 'exact' or 'ais'"):
        m.log_partition(method="mcmc")
    with pytest.raises(ValueError, match="runs"):
        m.log_partition(method="ais", runs=0)
    with pytest.raises(ValueError, match="betas"):
        m.log_partition(method="ais", betas=1)
    with pytest.raises(ValueError, match="v:"):
        m.log_partition(method="ais", base_data=np.full((3, 4), 0.5) * 3)


NAMED = """
model m {
    visible v[2] : bernoulli
    hidden h[2] : bernoulli
    DECLARATION
    param W[2, 2]
    energy = -(v @ W @ h) - sum(NAME) * sum(h)
    train cd
}
"""


@pytest.mark.parametrize(
    "declaration, why",
    [
        ("visible betas[2] : bernoulli", "an argument of log_prob"),
        ("input lr[2]", "a setting of fit"),
        ("input n[2]", "the first argument of sample"),
        ("input data[2]", "the first argument of fit"),
    ],
)
def test_a_group_named_like_an_argument_of_its_methods_is_refused(declaration, why):
    name = declaration.split()[1].split("[")[0]
    source = NAMED.replace("DECLARATION", declaration).replace("NAME", name)
    with pytest.raises(ebmc.EbmcError, match=why) as info:
        ebmc.compile(source)
    assert info.value.line == 5


def test_derive_shows_the_precision_and_mean_of_a_gaussian_group(capsys):
    from ebmc.cli import main

    path = Path(__file__).parents[1] / "examples" / "grbm.ebm"
    assert main(["derive", str(path)]) == 0
    out = capsys.readouterr().out
    assert "-dE/dv = h @ W.T - v + a" in out  # -dE/dv itself, which depends on v
    assert "d2E/dv2 = 1" in out and "E[v | h] = h @ W.T + a" in out


CHAIN = """
model chain {
    dim n = 8
    visible v[n] : spin
    param L[n, n] : symmetric, zero_diagonal, fixed
    param a[n] ~ normal(0, 0.5)
    energy = -(a @ v) - 0.5 * v @ L @ v
}
"""


def test_a_chain_is_swept_two_colours_at_a_time_and_samples_its_distribution():
    """Couplings between neighbours only: the greedy colouring finds the two classes of a
    checkerboard, each drawn at once, and sample() matches the exact distribution."""
    m = ebmc.load(CHAIN).Chain(seed=0)
    for i in range(7):
        m.params["L"][i, i + 1] = m.params["L"][i + 1, i] = 1.2 * (-1) ** i
    _, classes = m._couplings()["v"]
    assert [c.tolist() for c in classes] == [[0, 2, 4, 6], [1, 3, 5, 7]]
    V = np.array(list(itertools.product([-1.0, 1.0], repeat=8)))
    exact = np.exp(-m.energy(v=V))
    exact /= exact.sum()
    draws = m.sample(40000, steps=60)
    index = ((draws > 0) @ (2 ** np.arange(7, -1, -1))).astype(int)
    assert 0.5 * np.abs(np.bincount(index, minlength=256) / len(draws) - exact).sum() < 0.04


COUPLED_SOFTMAX = """
model csm {
    dim items = 3
    dim k = 3
    visible r[items, k] : softmax
    param A[k, k] ~ normal(0, 1)
    param M[items, items] ~ normal(0, 1) : symmetric, zero_diagonal
    param a[items, k] ~ normal(0, 0.5)
    energy = -sum(a * r) - sum((M @ r) * (r @ A))
}
"""


def test_softmax_units_that_interact_are_drawn_one_unit_at_a_time():
    m = ebmc.load(COUPLED_SOFTMAX).Csm(seed=0)
    R = onehots(3, 3)
    E = m.energy(r=R)
    exact = np.exp(-E) / np.exp(-E).sum()
    assert m.log_partition() == pytest.approx(np.log(np.exp(-E).sum()), rel=1e-12)
    draws = m.sample(20000, steps=30)
    assert np.all(draws.sum(axis=-1) == 1)
    index = draws.argmax(axis=-1) @ np.array([9, 3, 1])
    assert 0.5 * np.abs(np.bincount(index, minlength=27) / len(draws) - exact).sum() < 0.04
    estimate, _ = m.log_partition(method="ais", runs=100, betas=1000)
    assert abs(estimate - m.log_partition()) < 0.1
    mask = np.array([True, False, True])
    got = m.complete(mask, steps=100, r=R[:2])
    np.testing.assert_array_equal(got[:, mask], R[:2][:, mask])


APART = """
model apart {
    dim items = 2
    dim k = 3
    visible r[items, k] : softmax
    hidden h[2] : bernoulli
    param M[items, items] ~ normal(0, 1) : symmetric, zero_diagonal
    param A[k, k] ~ normal(0, 1)
    param b[2] ~ normal(0, 1)
    energy = -sum((M @ r) * (r @ A)) - b @ h
}
"""


def test_interacting_softmax_units_whose_field_reads_no_other_group_are_drawn_given_all_of_them():
    """Regression (found by the fuzzer): a group drawn from the energy at each of its values was
    given only the groups its field reads, but the energy reads every group: sample, complete,
    fit and AIS of a model where r and h do not meet ended in a NameError."""
    m = ebmc.load(APART).Apart(seed=0)
    R = onehots(2, 3)
    E = np.array([[m.energy(r=r, h=h) for h in H2] for r in R])
    exact = np.exp(-E).sum(axis=1) / np.exp(-E).sum()
    draws = m.sample(20000, steps=20)
    index = draws.argmax(axis=-1) @ np.array([3, 1])
    assert 0.5 * np.abs(np.bincount(index, minlength=9) / len(draws) - exact).sum() < 0.04
    estimate, _ = m.log_partition(method="ais", runs=50, betas=300)
    assert abs(estimate - np.log(np.exp(-E).sum())) < 0.1
    assert np.all(m.complete(np.array([True, False]), steps=5, r=R[:3]).sum(axis=-1) == 1)
    assert len(m.fit(R, epochs=1)) == 1
