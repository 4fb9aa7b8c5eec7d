"""The generated module of the example RBM, against exact enumeration and hand-written formulas."""

import ast
import warnings

import numpy as np
import pytest
from conftest import EXAMPLES, all_states

import ebmc


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def exact(m):
    """Energies of every (v, h) of the model, enumerated by hand from E = -a.v - b.h - v.W.h."""
    W, a, b = (m.params[k] for k in ("W", "a", "b"))
    V, H = all_states(W.shape[0]), all_states(W.shape[1])
    E = -(V @ a)[:, None] - (H @ b)[None, :] - V @ W @ H.T
    return V, H, E


def test_energy_matches_hand_formula(tiny_rbm):
    V, H, E = exact(tiny_rbm)
    for i in (0, 5, 33, 63):
        got = tiny_rbm.energy(v=np.repeat(V[i][None], len(H), 0), h=H)
        np.testing.assert_allclose(got, E[i], rtol=1e-12)


def test_free_energy_is_minus_log_sum_over_hidden(tiny_rbm):
    V, H, E = exact(tiny_rbm)
    F = -np.log(np.exp(-E).sum(axis=1))
    np.testing.assert_allclose(tiny_rbm.free_energy(v=V), F, rtol=1e-12, atol=1e-12)


def test_log_prob_is_exact_and_normalised(tiny_rbm):
    V, H, E = exact(tiny_rbm)
    logp = np.log(np.exp(-E).sum(axis=1)) - np.log(np.exp(-E).sum())
    np.testing.assert_allclose(tiny_rbm.log_prob(v=V), logp, rtol=1e-10, atol=1e-10)
    assert np.exp(tiny_rbm.log_prob(v=V)).sum() == pytest.approx(1.0, abs=1e-10)


def test_log_partition_enumerates_the_smaller_side(rbm_module):
    # 4 visible, 12 hidden: the visible side is enumerated; 12 visible, 4 hidden: the hidden side
    for nv, nh in ((4, 12), (12, 4)):
        m = rbm_module.Rbm(seed=1, n_visible=nv, n_hidden=nh)
        rng = np.random.default_rng(0)
        for k in m.params:
            m.params[k][...] = rng.normal(0, 0.7, m.params[k].shape)
        V, H, E = exact(m)
        assert m.log_partition() == pytest.approx(np.log(np.exp(-E).sum()), rel=1e-12)


def test_log_prob_beyond_enumeration_names_ais():
    m = ebmc.load(EXAMPLES / "rbm.ebm").Rbm(seed=0)  # 64 x 128
    with pytest.raises(ValueError, match="annealed importance sampling"):
        m.log_prob(v=np.zeros(64))


def test_sample_distribution_within_005_total_variation(tiny_rbm):
    V, H, E = exact(tiny_rbm)
    p = np.exp(-E).sum(axis=1)
    p /= p.sum()
    draws = tiny_rbm.sample(20000, steps=60)
    codes = (draws @ (2 ** np.arange(6)[::-1])).astype(int)  # the row index of itertools.product
    empirical = np.bincount(codes, minlength=64) / len(codes)
    assert 0.5 * np.abs(empirical - p).sum() < 0.05


def test_conditionals_match_hand_formulas(tiny_rbm):
    W, a, b = (tiny_rbm.params[k] for k in ("W", "a", "b"))
    rng = np.random.default_rng(0)
    v = (rng.random((5, 6)) < 0.5).astype(float)
    h = (rng.random((5, 4)) < 0.5).astype(float)
    np.testing.assert_allclose(tiny_rbm.mean_h(v=v), sigmoid(v @ W + b), rtol=1e-12)
    np.testing.assert_allclose(tiny_rbm.mean_v(h=h), sigmoid(h @ W.T + a), rtol=1e-12)
    V, H, E = exact(tiny_rbm)  # and against p(h_j = 1 | v) by enumeration
    joint = np.exp(-E[9])
    np.testing.assert_allclose(tiny_rbm.mean_h(v=V[9]), (joint[:, None] * H).sum(0) / joint.sum(), rtol=1e-10)


def test_samples_are_binary_with_the_right_mean(tiny_rbm):
    v = np.tile((np.arange(6) % 2).astype(float), (40000, 1))
    s = tiny_rbm.sample_h(v=v)
    assert set(np.unique(s)) <= {0.0, 1.0}
    np.testing.assert_allclose(s.mean(0), tiny_rbm.mean_h(v=v[0]), atol=0.01)


def test_grad_against_central_differences(tiny_rbm):
    rng = np.random.default_rng(2)
    v = (rng.random((7, 6)) < 0.5).astype(float)
    h = rng.random((7, 4))
    g = tiny_rbm.grad(v=v, h=h)
    eps = 1e-6
    for name, p in tiny_rbm.params.items():
        fd = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + eps
            up = tiny_rbm.energy(v=v, h=h).mean()
            p[idx] = old - eps
            down = tiny_rbm.energy(v=v, h=h).mean()
            p[idx] = old
            fd[idx] = (up - down) / (2 * eps)
        np.testing.assert_allclose(g[name], fd, atol=1e-7)
    W = tiny_rbm.params["W"]  # and the hand formula dE/dW = -mean v h^T
    np.testing.assert_allclose(g["W"], -(v.T @ h) / 7, rtol=1e-12)
    assert W.shape == g["W"].shape


def test_single_sample_drops_the_batch_axis(tiny_rbm):
    v = np.ones(6)
    assert tiny_rbm.mean_h(v=v).shape == (4,)
    assert tiny_rbm.mean_h(v=v[None]).shape == (1, 4)
    assert np.ndim(tiny_rbm.free_energy(v=v)) == 0
    with pytest.raises(ValueError, match="expected shape"):
        tiny_rbm.mean_h(v=np.ones(5))


def test_no_overflow_at_extreme_params(rbm_module):
    """Params far too large for exp still give finite free energies and probabilities, silently."""
    m = rbm_module.Rbm(seed=0)
    v = (np.random.default_rng(1).random((5, 6)) < 0.5).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for x in (1e4, -1e4):
            m.params["W"][...] = x
            assert np.all(np.isfinite(m.free_energy(v=v)))
            p = m.mean_h(v=v)
            assert np.all((p >= 0) & (p <= 1))


def test_float32_stays_float32(rbm_module):
    m = rbm_module.Rbm(seed=0, dtype="float32")
    data = (np.random.default_rng(0).random((50, 6)) < 0.5).astype(np.float32)
    m.fit(data, epochs=2, batch=10)
    assert all(p.dtype == np.float32 for p in m.params.values())
    assert m.mean_h(v=data).dtype == np.float32
    assert m.sample(3, steps=2).dtype == np.float32


def test_deterministic_for_a_seed(rbm_module):
    data = (np.random.default_rng(0).random((64, 6)) < 0.3).astype(float)
    runs = []
    for _ in range(2):
        m = rbm_module.Rbm(seed=11)
        m.fit(data, epochs=3, batch=16)
        runs.append((m.params["W"].copy(), m.sample(5, steps=3)))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


def _two_pattern_data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    patterns = np.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]], float)
    data = patterns[rng.integers(0, 2, n)]
    flip = rng.random(data.shape) < 0.05
    return np.where(flip, 1 - data, data)


@pytest.mark.parametrize("trainer", ["cd", "pcd"])
def test_fit_learns_a_two_pattern_distribution(trainer):
    source = (EXAMPLES / "rbm.ebm").read_text().replace("train cd(", f"train {trainer}(")
    m = ebmc.load(source, n_visible=6, n_hidden=4).Rbm(seed=0)
    data = _two_pattern_data()
    history = m.fit(data, epochs=60, batch=20, lr=0.1)
    assert [r["epoch"] for r in history] == list(range(1, 61))
    assert set(history[0]) == {"epoch", "recon_error", "free_energy", "seconds"}
    assert history[-1]["recon_error"] < 0.5 * history[0]["recon_error"]
    # the two patterns now hold most of the probability (exact, by enumeration)
    p = np.exp(m.log_prob(v=np.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]], float)))
    assert p.sum() > 0.5


def test_mask_keeps_unobserved_units_out_of_the_gradients(rbm_module):
    m = rbm_module.Rbm(seed=0)
    before = {k: v.copy() for k, v in m.params.items()}
    data = _two_pattern_data(100)
    mask = np.ones_like(data, dtype=bool)
    mask[:, 0] = False  # unit 0 is never observed
    m.fit(data, mask=mask, epochs=5, batch=10, momentum=0.0, weight_decay=0.0)
    np.testing.assert_array_equal(m.params["W"][0], before["W"][0])
    assert m.params["a"][0] == before["a"][0]
    assert not np.array_equal(m.params["W"][1:], before["W"][1:])


def test_complete_estimates_conditional_means(tiny_rbm):
    V, H, E = exact(tiny_rbm)
    p = np.exp(-E).sum(axis=1)
    keep = np.array([True, True, False, True, False, False])
    given = np.array([1.0, 0.0, 0.0, 1.0, 0.0, 0.0])
    match = np.all(V[:, keep] == given[keep], axis=1)
    expected = (p[match, None] * V[match]).sum(0) / p[match].sum()
    rows = np.tile(given, (200, 1))
    got = tiny_rbm.complete(keep, v=rows, steps=400).mean(axis=0)
    np.testing.assert_array_equal(got[keep], given[keep])
    np.testing.assert_allclose(got[~keep], expected[~keep], atol=0.03)


def test_reconstruct_is_mean_field(tiny_rbm):
    W, a, b = (tiny_rbm.params[k] for k in ("W", "a", "b"))
    v = np.eye(6)
    np.testing.assert_allclose(tiny_rbm.reconstruct(v=v), sigmoid(sigmoid(v @ W + b) @ W.T + a), rtol=1e-12)


def test_save_load_round_trip(tiny_rbm, rbm_module, tmp_path):
    path = tmp_path / "rbm.npz"
    tiny_rbm.save(path)
    other = rbm_module.Rbm(seed=99).load(path)
    for k in tiny_rbm.params:
        np.testing.assert_array_equal(other.params[k], tiny_rbm.params[k])
    with pytest.raises(ValueError, match="does not hold this model's dims and params; missing dim.n_hidden"):
        rbm_module.Rbm(seed=0).load(_bad(tmp_path))


def _bad(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, **{"param.W": np.zeros((2, 2))})
    return path


def test_init_dims_and_errors(rbm_module):
    m = rbm_module.Rbm(seed=0, n_hidden=7)
    assert m.params["W"].shape == (6, 7) and m.params["b"].shape == (7,)
    assert np.std(m.params["W"]) == pytest.approx(0.01, rel=0.5)
    with pytest.raises(TypeError, match="unknown dims"):
        rbm_module.Rbm(n_hiden=3)
    with pytest.raises(ValueError, match="dtype"):
        rbm_module.Rbm(dtype="int32")


def test_module_is_standalone_and_named():
    compiled = ebmc.compile(EXAMPLES / "rbm.ebm")
    tree = ast.parse(compiled.source)
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module)
    assert imported <= {"numpy", "time", "os"}
    namespace = {}
    exec(compile(compiled.source, "rbm.py", "exec"), namespace)
    assert namespace["MODELS"] == {"rbm": namespace["Rbm"]}
    import networkx as nx

    assert compiled.graphs and all(nx.is_directed_acyclic_graph(g) for g in compiled.graphs.values())
    assert {"energy", "grad", "free_energy"} <= set(compiled.graphs)


def test_golden_generated_code():
    """A change in the generated code shows up here, to be reviewed (regenerate with
    `ebmc compile examples/rbm.ebm -o tests/golden/rbm.py`)."""
    golden = (EXAMPLES.parent / "tests" / "golden" / "rbm.py").read_text()
    source = ebmc.compile(EXAMPLES / "rbm.ebm").source
    assert source.replace("rbm.ebm", "X") == golden.replace("rbm.ebm", "X")


@pytest.mark.parametrize("name", ["mask", "steps"])
def test_unit_names_the_generated_code_needs_are_refused_at_their_declaration(name):
    source = (EXAMPLES / "rbm.ebm").read_text().replace("hidden  h[n_hidden]", f"hidden  {name}[n_hidden]")
    source = source.replace("(b @ h) - v @ W @ h", f"(b @ {name}) - v @ W @ {name}")
    with pytest.raises(ebmc.EbmcError) as info:
        ebmc.compile(source)
    assert info.value.line == 7 and info.value.column == 5
    assert f"'{name}' is a name the generated code needs" in info.value.message


@pytest.mark.parametrize("name", ["lr", "step", "weight", "delta", "B", "error", "total", "free"])
def test_params_may_have_any_name(name):
    source = (EXAMPLES / "rbm.ebm").read_text().replace("param b[n_hidden]  = 0", f"param {name}[n_hidden]")
    source = source.replace("(b @ h)", f"({name} @ h)")
    m = ebmc.load(source, n_visible=6, n_hidden=4).Rbm(seed=0)
    data = (np.random.default_rng(0).random((20, 6)) < 0.5).astype(float)
    m.fit(data, epochs=2, batch=5, momentum=0.5, weight_decay=0.01)
    assert np.all(np.isfinite(m.params[name])) and np.any(m.params[name] != 0)
    assert set(m.grad(v=data, h=m.mean_h(v=data))) == {"W", "a", name}


def test_a_dim_may_be_called_n():
    source = (EXAMPLES / "rbm.ebm").read_text().replace("n_visible", "n")
    m = ebmc.load(source).Rbm(seed=0, n=5)
    assert m.params["W"].shape == (5, 128)


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (("None",), "not a valid Python name"),
        (("a_b", "aB"), "already the class of model 'a_b'"),
        (("MODELS",), "already the table of models"),
    ],
)
def test_model_names_must_give_distinct_class_names(names, message):
    body = (EXAMPLES / "rbm.ebm").read_text().split("{", 1)[1]
    source = "\n".join(f"model {name} {{{body}" for name in names)
    with pytest.raises(ebmc.EbmcError, match=message):
        ebmc.compile(source)


def test_several_models_in_one_file():
    body = (EXAMPLES / "rbm.ebm").read_text().split("{", 1)[1]
    module = ebmc.load(f"model digits_rbm {{{body}\nmodel small {{{body.replace('= 128', '= 3')}")
    assert set(module.MODELS) == {"digits_rbm", "small"}
    assert module.MODELS["small"] is module.Small
    assert module.DigitsRbm(seed=0).params["W"].shape == (64, 128)
    assert module.Small(seed=0).params["W"].shape == (64, 3)


def test_a_conditional_model_takes_its_condition_everywhere():
    source = (
        (EXAMPLES / "rbm.ebm")
        .read_text()
        .replace("visible v[n_visible] : bernoulli", "input c[3]\n    visible v[n_visible] : bernoulli")
    )
    source = source.replace("- v @ W @ h", "- v @ W @ h - sum(c) * sum(h)")
    m = ebmc.load(source, n_visible=4, n_hidden=3).Rbm(seed=0)
    c = np.array([1.0, 2.0, -0.5])
    v = np.array([1.0, 0.0, 1.0, 1.0])
    by_hand = 1 / (1 + np.exp(-(m.params["b"] + v @ m.params["W"] + c.sum())))
    np.testing.assert_allclose(m.mean_h(v=v, c=c), by_hand, rtol=1e-12)
    assert m.sample(5, steps=3, c=c).shape == (5, 4)


def test_spin_units_against_enumeration():
    source = """
    model ising_rbm {
        dim n = 5
        dim m = 3
        visible s[n] : spin
        hidden  h[m] : spin
        param W[n, m] ~ normal(0, 0.5)
        param c[n] ~ normal(0, 0.5)
        energy = -(c @ s) - s @ W @ h
        train pcd(k=2, lr=0.05, batch=10, epochs=5)
    }
    """
    m = ebmc.load(source).IsingRbm(seed=0)
    S = 2 * all_states(5) - 1
    H = 2 * all_states(3) - 1
    W, c = m.params["W"], m.params["c"]
    E = -(S @ c)[:, None] - S @ W @ H.T
    assert m.log_partition() == pytest.approx(np.log(np.exp(-E).sum()), rel=1e-12)
    np.testing.assert_allclose(m.free_energy(s=S), -np.log(np.exp(-E).sum(1)), rtol=1e-12)
    np.testing.assert_allclose(m.mean_h(s=S[3]), np.tanh(S[3] @ W), rtol=1e-12)
    draws = m.sample(20000, steps=40)
    assert set(np.unique(draws)) == {-1.0, 1.0}
    p = np.exp(-E).sum(1)
    codes = ((draws + 1) / 2 @ (2 ** np.arange(5)[::-1])).astype(int)
    assert 0.5 * np.abs(np.bincount(codes, minlength=32) / len(codes) - p / p.sum()).sum() < 0.05


def test_two_visible_groups_take_and_give_dicts():
    source = """
    model two {
        dim n = 4
        dim m = 3
        visible x[n] : bernoulli
        visible y[2] : bernoulli
        hidden  h[m] : bernoulli
        param W[n, m] ~ normal(0, 0.5)
        param U[2, m] ~ normal(0, 0.5)
        layer both = x @ W + y @ U
        energy = -sum(both * h)
    }
    """
    m = ebmc.load(source).Two(seed=0)
    W, U = m.params["W"], m.params["U"]
    X, Y, H = all_states(4), all_states(2), all_states(3)
    # exact log Z over all (x, y, h), against the enumeration log_partition does
    E = -np.einsum("xi,ij,hj->xh", X, W, H)[:, None, :] - np.einsum("yi,ij,hj->yh", Y, U, H)[None, :, :]
    assert m.log_partition() == pytest.approx(np.log(np.exp(-E).sum()), rel=1e-12)
    data = {"x": np.ones((7, 4)), "y": np.zeros((7, 2))}
    history = m.fit(data, epochs=2, batch=3)
    assert len(history) == 2
    draws = m.sample(3, steps=5)
    assert set(draws) == {"x", "y"} and draws["x"].shape == (3, 4) and draws["y"].shape == (3, 2)
    filled = m.complete({"x": np.ones(4, bool), "y": np.zeros(2, bool)}, **data)
    np.testing.assert_array_equal(filled["x"], data["x"])
    assert np.all((filled["y"] > 0) & (filled["y"] < 1))


def test_groups_that_interact_with_nothing_have_their_marginals():
    """E = -(a @ v) - (b @ h): every unit is independent of every other, p(v = 1) = sigmoid(a)."""
    source = (EXAMPLES / "rbm.ebm").read_text().replace("- v @ W @ h", "- sum(W) * 0")
    m = ebmc.load(source, n_visible=4, n_hidden=3).Rbm(seed=0)
    m.params["a"][...] = [-2.0, -0.5, 0.5, 2.0]
    np.testing.assert_allclose(m.mean_v(), sigmoid(m.params["a"]), rtol=1e-12)
    assert m.sample_v().shape == (4,)
    draws = m.sample(20000, steps=2)
    np.testing.assert_allclose(draws.mean(0), sigmoid(m.params["a"]), atol=0.02)
    data = (np.random.default_rng(0).random((400, 4)) < [0.1, 0.3, 0.6, 0.9]).astype(float)
    m.fit(data, epochs=30, batch=20, lr=0.1)
    np.testing.assert_allclose(m.mean_v(), data.mean(0), atol=0.08)
    V = all_states(4)
    assert np.exp(m.log_prob(v=V)).sum() == pytest.approx(1.0)
