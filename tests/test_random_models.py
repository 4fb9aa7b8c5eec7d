"""Random energy models, compiled and checked against brute force.

For each model the generated module's own `energy` is the reference (some terms are
not affine in a group, only on its values, as in exp(h)): the
gradient against central differences of it, the free energy, the conditional
means and log Z against sums over every state of it. What is checked is the
analysis (independence, fields, summing out), autodiff, the batch sums and the
code generation, all at once.
"""

import inspect
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ebmc

TERMS = [  # (text, the groups it reads)
    ("-(c @ v)", {"v"}),
    ("-(b @ h)", {"h"}),
    ("-(v @ W @ h)", {"v", "h"}),
    ("-sum((v @ W) * h)", {"v", "h"}),
    ("-(h @ W.T @ v) * 0.5", {"v", "h"}),
    ("-s * (c @ v)", {"v"}),
    ("-tanh(s) * sum(h)", {"h"}),
    ("-(u @ U @ h)", {"u", "h"}),
    ("-(d @ u)", {"u"}),
    ("+ 0.1 * sum(square(c))", set()),
    ("-sum(v * c) / 2", {"v"}),
    ("-(v @ W @ h) * exp(s)", {"v", "h"}),
    # not affine in a group, but affine on its two values: each term holds one unit
    ("-sum(exp(h) * b)", {"h"}),
    ("+ sum(square(v + 0.5) * c) / 3", {"v"}),  # not square(v): for spins that is 1, and v would cancel
    ("-(h + 1) @ (b * h)", {"h"}),
    ("-sum(relu(c * v - 0.5))", {"v"}),
    ("-sum(exp(v) * (W @ tanh(h)))", {"v", "h"}),
]

models = st.fixed_dictionaries(
    {
        "v_type": st.sampled_from(["bernoulli", "spin"]),
        "h_type": st.sampled_from(["bernoulli", "spin"]),
        "with_u": st.booleans(),
        "terms": st.lists(st.integers(0, len(TERMS) - 1), min_size=1, max_size=4, unique=True),
    }
)


def source_of(spec) -> str:
    terms = [TERMS[i] for i in spec["terms"] if spec["with_u"] or "u" not in TERMS[i][1]]
    used = set().union(*(g for _, g in terms))
    for group, term in (("v", "-(c @ v)"), ("h", "-(b @ h)"), ("u", "-(d @ u)")):
        if group not in used and (group != "u" or spec["with_u"]):
            terms.append((term, {group}))  # every group takes part in the energy
    energy = " ".join(t for t, _ in terms).removeprefix("+ ")
    groups = ["    visible v[n] : " + spec["v_type"], "    hidden h[m] : " + spec["h_type"]]
    if spec["with_u"]:
        groups.append("    visible u[2] : bernoulli")
    return "\n".join(
        [
            "model random {",
            "    dim n = 3",
            "    dim m = 2",
            *groups,
            "    param W[n, m] ~ normal(0, 1)",
            "    param U[2, m] ~ normal(0, 1)",
            "    param c[n] ~ normal(0, 1)",
            "    param b[m] ~ normal(0, 1)",
            "    param d[2] ~ normal(0, 1)",
            "    param s ~ normal(0, 1)",
            f"    energy = {energy}",
            "}",
        ]
    )


def states(model, name):
    shape = model._shape(model.variables[name][1])
    values = (-1.0, 1.0) if model.variables[name][2] == "spin" else (0.0, 1.0)
    return np.array(list(itertools.product(values, repeat=int(np.prod(shape))))).reshape((-1, *shape))


@settings(max_examples=80, deadline=None, derandomize=True, database=None)
@given(models)
def test_random_energy_models_agree_with_brute_force(spec):
    source = source_of(spec)
    m = ebmc.load(source).Random(seed=0)
    visible = [k for k, v in m.variables.items() if v[0] == "visible"]
    V = {k: states(m, k) for k in visible}
    H = states(m, "h")
    # every joint visible state, and every hidden state for each
    combos = list(itertools.product(*(range(len(V[k])) for k in visible)))
    vis_rows = {k: np.array([V[k][c[i]] for c in combos]) for i, k in enumerate(visible)}
    E = np.array([[m.energy(**{k: vis_rows[k][r] for k in visible}, h=hh) for hh in H] for r in range(len(combos))])

    # free energy and log Z against the sums
    F = -np.log(np.exp(-E).sum(axis=1))
    np.testing.assert_allclose(m.free_energy(**vis_rows), F, rtol=1e-9, atol=1e-9, err_msg=source)
    assert m.log_partition() == pytest.approx(np.log(np.exp(-E).sum()), rel=1e-9, abs=1e-9), source
    # E[h | v] against the sum over h
    p = np.exp(-(E - E.min(axis=1, keepdims=True)))
    p /= p.sum(axis=1, keepdims=True)
    reads = [k for k in inspect.signature(m.mean_h).parameters if k in vis_rows]
    got = m.mean_h(**{k: vis_rows[k] for k in reads}) if reads else np.broadcast_to(m.mean_h(), (len(combos), 2))
    np.testing.assert_allclose(got, p @ H, rtol=1e-9, atol=1e-9, err_msg=source)

    # the gradient against central differences of the generated energy
    rng = np.random.default_rng(1)
    rows = rng.integers(0, len(combos), 5)
    batch = {k: vis_rows[k][rows] for k in visible} | {"h": H[rng.integers(0, len(H), 5)]}
    g = m.grad(**batch)
    for name, param in m.params.items():
        fd = np.zeros_like(param)
        for idx in np.ndindex(param.shape):
            old = param[idx]
            param[idx] = old + 1e-6
            up = m.energy(**batch).mean()
            param[idx] = old - 1e-6
            down = m.energy(**batch).mean()
            param[idx] = old
            fd[idx] = (up - down) / 2e-6
        np.testing.assert_allclose(g.get(name, 0.0) + np.zeros_like(param), fd, atol=1e-6, err_msg=f"{name}\n{source}")

    # training runs and keeps the params finite
    data = batch if len(visible) > 1 else batch["v"]
    data = {k: v for k, v in data.items() if k != "h"} if isinstance(data, dict) else data
    m.fit(data, epochs=2, batch=2, momentum=0.5, weight_decay=0.01)
    assert all(np.all(np.isfinite(p)) for p in m.params.values())
