"""Energies that are not affine in a two-valued group, but whose units do not interact: every
function of one unit is affine on its two values (passes/energy.py `on_support`).

The reference is exact enumeration: every state of a tiny model, its energy from a numpy
formula written here (and from the generated module's own `energy`, which must agree), then
the conditional means, the free energy and log Z as sums over the states, against the
generated module's `mean_v`, `mean_h`, `free_energy` and `log_partition`.
"""

import inspect
import itertools

import numpy as np
import pytest

import ebmc
from ebmc.ir.evaluate import evaluate
from ebmc.passes.energy import analyse

N, K = 3, 2
VALUES = {"bernoulli": (0.0, 1.0), "spin": (-1.0, 1.0)}


def _relu(x):
    return np.maximum(x, 0.0)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


BASE = "-(c @ v) - (b @ h) - v @ W @ h"


def base(p, v, h):
    return -(v @ p["c"]) - h @ p["b"] - np.einsum("si,ij,sj->s", v, p["W"], h)


# (energy after BASE, the same energy in numpy: params, v [S, N], h [S, K] -> [S])
ENERGIES = {
    "exp(h)": ("- sum(exp(h))", lambda p, v, h: -np.exp(h).sum(1)),
    "square and cube": (
        "- sum(d * square(h)) - sum(h ** 3) + 0.5 * sum(square(v) * c)",
        lambda p, v, h: -(p["d"] * h**2).sum(1) - (h**3).sum(1) + 0.5 * (v**2 * p["c"]).sum(1),
    ),
    "relu of an affine unit": (
        "- sum(relu(d * h + b)) - sum(relu(2 * v - c))",
        lambda p, v, h: -_relu(p["d"] * h + p["b"]).sum(1) - _relu(2 * v - p["c"]).sum(1),
    ),
    "quadratic in each unit": (
        "- h @ (d * h) + (v * c) @ v",
        lambda p, v, h: -(h * p["d"] * h).sum(1) + (v * p["c"] * v).sum(1),
    ),
    "function of a unit times another group": (
        "- sum(exp(v) * (W @ h)) - sum(sigmoid(c * v)) - s * sum(softplus(h))",
        lambda p, v, h: (
            -(np.exp(v) * (h @ p["W"].T)).sum(1) - _sigmoid(p["c"] * v).sum(1) - p["s"] * np.logaddexp(0, h).sum(1)
        ),
    ),
    "functions of units of both groups": (
        "- sum(exp(v) @ (P * exp(h)))",
        lambda p, v, h: -np.einsum("si,ij,sj->s", np.exp(v), p["P"], np.exp(h)),
    ),
}


def source(energy: str, v_type: str, h_type: str) -> str:
    return f"""
model tiny {{
    dim n = {N}
    dim k = {K}
    visible v[n] : {v_type}
    hidden h[k] : {h_type}
    param W[n, k] ~ normal(0, 1)
    param P[n, k] ~ normal(0, 1)
    param c[n]
    param b[k]
    param d[k]
    param s
    energy = {energy}
}}
"""


def states(values, n):
    return np.array(list(itertools.product(values, repeat=n)))


def random_params(m, rng):
    for p in m.params.values():
        p[...] = rng.normal(0, 0.8, p.shape)
    return {k: v.copy() for k, v in m.params.items()}


def brute_force(E, V, H):
    """free energies, log Z, E[h | v] (one row per v), E[v | h] (one row per h) from E[v, h]."""
    F = -np.logaddexp.reduce(-E, axis=1)
    log_z = np.logaddexp.reduce(-E.ravel())
    ph = np.exp(-(E - E.min(axis=1, keepdims=True)))
    ph /= ph.sum(axis=1, keepdims=True)
    pv = np.exp(-(E - E.min(axis=0, keepdims=True)))
    pv /= pv.sum(axis=0, keepdims=True)
    return F, log_z, ph @ H, pv.T @ V


def given(method, **values):
    """method called with the values it reads (a conditional reads only the groups it needs)."""
    reads = [k for k in inspect.signature(method).parameters if k in values]
    return method(**{k: values[k] for k in reads})


def _call(method, values: dict, rows: int):
    """A group that interacts with no other has its marginal: the same for every row."""
    got = given(method, **values)
    return np.broadcast_to(got, (rows,) + np.shape(got)[-1:])


@pytest.mark.parametrize(
    "types", [("bernoulli", "bernoulli"), ("spin", "spin"), ("bernoulli", "spin"), ("spin", "bernoulli")]
)
@pytest.mark.parametrize("name", list(ENERGIES))
def test_conditionals_free_energy_and_log_z_are_exact(name, types):
    text, formula = ENERGIES[name]
    v_type, h_type = types
    m = ebmc.load(source(f"{BASE} {text}", v_type, h_type)).Tiny(seed=0)
    p = random_params(m, np.random.default_rng(len(name)))
    V, H = states(VALUES[v_type], N), states(VALUES[h_type], K)
    rows_v, rows_h = np.repeat(V, len(H), axis=0), np.tile(H, (len(V), 1))
    E = (base(p, rows_v, rows_h) + formula(p, rows_v, rows_h)).reshape(len(V), len(H))
    np.testing.assert_allclose(m.energy(v=rows_v, h=rows_h).reshape(E.shape), E, rtol=1e-12, atol=1e-12)

    F, log_z, mean_h, mean_v = brute_force(E, V, H)
    np.testing.assert_allclose(m.free_energy(v=V), F, rtol=1e-10, atol=1e-10)
    assert m.log_partition() == pytest.approx(log_z, rel=1e-10, abs=1e-10)
    np.testing.assert_allclose(_call(m.mean_h, {"v": V}, len(V)), mean_h, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(_call(m.mean_v, {"h": H}, len(H)), mean_v, rtol=1e-10, atol=1e-10)


def test_bernoulli_conditional_is_sigmoid_of_the_energy_difference():
    """p(h_j = 1 | v) = sigmoid(E(h_j = 0) - E(h_j = 1)), with the other hidden units anywhere."""
    m = ebmc.load(source(f"{BASE} - sum(exp(h)) - sum(h ** 3)", "bernoulli", "bernoulli")).Tiny(seed=0)
    random_params(m, np.random.default_rng(5))
    rng = np.random.default_rng(6)
    v = rng.integers(0, 2, (7, N)).astype(float)
    h = rng.integers(0, 2, (7, K)).astype(float)
    for j in range(K):
        on, off = h.copy(), h.copy()
        on[:, j], off[:, j] = 1.0, 0.0
        want = _sigmoid(m.energy(v=v, h=off) - m.energy(v=v, h=on))
        np.testing.assert_allclose(m.mean_h(v=v)[:, j], want, rtol=1e-12)


def test_one_unit_group_any_function_of_it():
    """A group of one unit (a literal shape): every value is a function of that unit, even through
    a contraction, a relu of a product or a square of a sum."""
    text = """
model one {
    dim k = 3
    visible u : spin
    visible w[1] : bernoulli
    hidden h[k] : bernoulli
    param q[k]
    param b[k]
    param r
    energy = -sum(relu(u * q + b) * h) - square(sum(w) * r + u) - (w @ (w * r)) * u - b @ h
}
"""
    m = ebmc.load(text).One(seed=0)
    p = random_params(m, np.random.default_rng(3))
    U, Wv, H = np.array([-1.0, 1.0]), np.array([[0.0], [1.0]]), states((0.0, 1.0), 3)
    vis = [(u, w) for u in U for w in Wv]
    E = np.array(
        [
            [
                -(_relu(u * p["q"] + p["b"]) * h).sum()
                - (w.sum() * p["r"] + u) ** 2
                - (w @ (w * p["r"])) * u
                - p["b"] @ h
                for h in H
            ]
            for u, w in vis
        ]
    )
    uu, ww = np.array([u for u, _ in vis]), np.array([w for _, w in vis])
    F, log_z, mean_h, _ = brute_force(E, np.zeros((len(vis), 1)), H)
    np.testing.assert_allclose(m.free_energy(u=uu, w=ww), F, rtol=1e-10)
    assert m.log_partition() == pytest.approx(log_z, rel=1e-10)
    np.testing.assert_allclose(m.mean_h(u=uu), mean_h, rtol=1e-10)
    for u, w in vis:  # E[u | h, w] and p(w = 1 | h, u) by enumerating the one unit
        e_u = np.array([[float(m.energy(u=x, w=w, h=h)) for x in U] for h in H])
        p_u = np.exp(-e_u) / np.exp(-e_u).sum(1, keepdims=True)
        got = given(m.mean_u, h=H, w=np.tile(w, (len(H), 1)))
        np.testing.assert_allclose(np.broadcast_to(got, len(H)), p_u @ U, rtol=1e-10)
        e_w = np.array([[float(m.energy(u=u, w=x, h=h)) for x in Wv] for h in H])
        p_w = np.exp(-e_w) / np.exp(-e_w).sum(1, keepdims=True)
        got = given(m.mean_w, h=H, u=np.full(len(H), u))
        np.testing.assert_allclose(np.broadcast_to(got, (len(H), 1))[:, 0], p_w[:, 1], rtol=1e-10)


@pytest.mark.parametrize("h_type", ["bernoulli", "spin"])
def test_a_relu_of_a_contraction_times_a_unit(h_type):
    """-sum(relu(v @ W + b) * h): h is independent given v (exact conditional and free energy), and
    the units of v really interact (through the relu of a sum over them): no closed form for v."""
    (model,) = ebmc.parse(source("-sum(relu(v @ W + b) * h) - (c @ v)", "bernoulli", h_type))
    a = analyse(model)
    assert a.groups["h"].independent and not a.groups["v"].independent
    rng = np.random.default_rng(4)
    p = {k: rng.normal(0, 0.8, q.shape) for k, q in model.params.items()}
    V, H = states((0.0, 1.0), N), states(VALUES[h_type], K)
    E = np.array([[-(_relu(v @ p["W"] + p["b"]) * h).sum() - p["c"] @ v for h in H] for v in V])
    F, _, mean_h, _ = brute_force(E, V, H)
    for i, v in enumerate(V):
        got = evaluate(a.graphs["conditional_h"], {"v": v, **p}, model.dims)
        np.testing.assert_allclose(got["mean"], mean_h[i], rtol=1e-10)
        free = evaluate(a.graphs["free_energy"], {"v": v, **p}, model.dims)["free_energy"]
        assert float(free) == pytest.approx(F[i], rel=1e-10)
    module = ebmc.load(source("-sum(relu(v @ W + b) * h) - (c @ v)", "bernoulli", h_type))
    assert_samples_match(module.Tiny(seed=1), p, h_type)


@pytest.mark.parametrize(
    "energy, coupled",
    [
        ("-(c @ v) - sum(h) * sum(h) - v @ W @ h", "h"),
        ("-(c @ v) - h @ Q @ h - v @ W @ h + sum(exp(h))", "h"),
        ("-(v @ W @ h) ** 2", "v"),
        ("-(c @ v) - (v @ W @ h) ** 2", "v"),
        ("-(c @ v) - sum(exp(W @ h) * v)", "h"),
    ],
)
@pytest.mark.parametrize("h_type", ["bernoulli", "spin"])
def test_units_that_really_interact_stay_coupled(energy, coupled, h_type):
    text = source(energy, "bernoulli", h_type).replace("param s", "param s\n    param Q[k, k]")
    (model,) = ebmc.parse(text)
    a = analyse(model)
    assert not a.groups[coupled].independent
    m = ebmc.load(text).Tiny(seed=1)  # sampled unit by unit
    rng = np.random.default_rng(5)
    assert_samples_match(m, {k: rng.normal(0, 0.8, q.shape) for k, q in m.params.items()}, h_type)


def assert_samples_match(m, params, h_type, draws=4000, steps=60):
    """The distribution of sample() (visible units, after `steps` sweeps) against the exact marginal
    p(v) by enumeration of the module's energy: total variation within sampling error."""
    for k, value in params.items():
        m.params[k][...] = value
    V, H = states((0.0, 1.0), N), states(VALUES[h_type], K)
    E = np.array([[m.energy(v=v, h=h) for h in H] for v in V])
    weights = np.exp(-(E - E.min()))
    p = weights.sum(axis=1) / weights.sum()
    got = m.sample(draws, steps=steps)
    index = (got @ (2 ** np.arange(N - 1, -1, -1))).astype(int)
    empirical = np.bincount(index, minlength=len(V)) / draws
    assert 0.5 * np.abs(empirical - p).sum() < 0.05


def test_sum_of_exp_of_a_bernoulli_group_compiles():
    """The case of issue 5: `sum(exp(h))` is not a coupling."""
    m = ebmc.load(source(f"{BASE} - sum(exp(h))", "bernoulli", "bernoulli")).Tiny(seed=0)
    p = random_params(m, np.random.default_rng(0))
    v = np.array([[1.0, 0.0, 1.0]])
    np.testing.assert_allclose(m.mean_h(v=v), _sigmoid(v @ p["W"] + p["b"] + np.e - 1), rtol=1e-12)


@pytest.mark.parametrize("tail", ["- sum(log(h))", "+ sum(h * log(h))", "+ sum(1 / h)"])
def test_an_energy_not_finite_at_a_value_of_the_units_is_an_error_at_the_group(tail):
    with pytest.raises(ebmc.EbmcError, match="the energy is not a finite number where a unit of 'h' is 0") as info:
        ebmc.compile(source(f"{BASE} {tail}", "bernoulli", "bernoulli"))
    assert info.value.line == 6


def test_a_function_finite_at_a_value_through_an_infinite_step_is_not_an_error():
    """exp(-1 / h) is 0 at h = 0, though -1 / h is not finite there."""
    text = source(f"{BASE} - sum(exp(-1 / (h + 0)))", "bernoulli", "bernoulli")
    m = ebmc.load(text).Tiny(seed=0)
    p = random_params(m, np.random.default_rng(1))
    v = np.array([[0.0, 1.0, 1.0]])
    np.testing.assert_allclose(m.mean_h(v=v), _sigmoid(v @ p["W"] + p["b"] + np.exp(-1.0)), rtol=1e-12)


@pytest.mark.parametrize("types", [("bernoulli", "bernoulli"), ("spin", "spin")])
@pytest.mark.parametrize("name", list(ENERGIES))
def test_given_groups_at_fractional_values_are_taken_as_written(name, types):
    """Probabilities (bernoulli) and means (spin) are valid values of a given group: the free energy,
    the conditional of the other group and grad then follow the energy as written at those values,
    with only the group summed over (or drawn) on its two values."""
    text, formula = ENERGIES[name]
    v_type, h_type = types
    m = ebmc.load(source(f"{BASE} {text}", v_type, h_type)).Tiny(seed=0)
    p = random_params(m, np.random.default_rng(7 + len(name)))
    rng = np.random.default_rng(3)
    low = VALUES[v_type][0]
    v = rng.uniform(low, 1.0, (4, N))  # fractional visible values
    H = states(VALUES[h_type], K)

    def energy(v, h):
        return base(p, v, h) + formula(p, v, h)

    E = np.array([[energy(row[None], h[None])[0] for h in H] for row in v])
    F, _, mean_h, _ = brute_force(E, v, H)
    np.testing.assert_allclose(m.free_energy(v=v), F, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(_call(m.mean_h, {"v": v}, len(v)), mean_h, rtol=1e-10, atol=1e-10)
    h = rng.uniform(VALUES[h_type][0], 1.0, (4, K))
    grads = m.grad(v=v, h=h)
    for key, value in grads.items():  # central differences of the energy as written
        fd = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            old = p[key][index]
            ends = []
            for step in (1e-6, -1e-6):
                p[key][index] = old + step
                ends.append(energy(v, h).mean())
            p[key][index] = old
            fd[index] = (ends[0] - ends[1]) / 2e-6
        np.testing.assert_allclose(value, fd, rtol=1e-5, atol=1e-6, err_msg=key)
