"""The generated CD and PCD updates against the same algorithm written out by hand with numpy,
consuming the same random numbers in the same order."""

import copy

import numpy as np
import pytest
from conftest import EXAMPLES

import ebmc


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def bernoulli(rng, p):
    return (rng.random(p.shape) < p).astype(float)


def hand_written_epochs(params, data, rng, *, persistent, k, lr, batch, epochs, momentum, weight_decay):
    """CD-k / PCD-k as in Hinton's guide: statistics at the hidden means, sampled visible units."""
    W, a, b = (params[name].copy() for name in ("W", "a", "b"))
    velocity = {name: 0.0 for name in ("W", "a", "b")}
    n = len(data)
    rng.choice(n, size=min(n, 256), replace=False)  # the rows fit watches for its metrics
    chains = bernoulli(rng, np.full((batch, data.shape[1]), 0.5)) if persistent else None
    for _ in range(epochs):
        order = rng.permutation(n)
        for low in range(0, n, batch):
            v = data[order[low : low + batch]]
            B = len(v)
            h = sigmoid(v @ W + b)
            v_model = chains[:B] if persistent else v
            h_model = sigmoid(v_model @ W + b) if persistent else h
            for _ in range(k):
                h_draw = bernoulli(rng, h_model)
                v_model = bernoulli(rng, sigmoid(h_draw @ W.T + a))
                h_model = sigmoid(v_model @ W + b)
            if persistent:
                chains[:B] = v_model
            stats = {"W": v.T @ h - v_model.T @ h_model, "a": (v - v_model).sum(0), "b": (h - h_model).sum(0)}
            for name, p in (("W", W), ("a", a), ("b", b)):
                step = lr / B * stats[name] - lr * weight_decay * p
                velocity[name] = momentum * velocity[name] + step
                p += velocity[name]
    return {"W": W, "a": a, "b": b}


@pytest.mark.parametrize("trainer", ["cd", "pcd"])
@pytest.mark.parametrize(
    "settings",
    [
        dict(k=1, lr=0.1, batch=16, epochs=2, momentum=0.0, weight_decay=0.0),
        dict(k=3, lr=0.05, batch=10, epochs=3, momentum=0.5, weight_decay=0.01),
    ],
)
def test_generated_update_is_the_hand_written_one(trainer, settings):
    source = (EXAMPLES / "rbm.ebm").read_text().replace("train cd(", f"train {trainer}(")
    model = ebmc.load(source, n_visible=6, n_hidden=4).Rbm(seed=5)
    data = (np.random.default_rng(1).random((53, 6)) < 0.4).astype(float)  # 53: a short last batch
    start = {name: p.copy() for name, p in model.params.items()}
    rng = copy.deepcopy(model.rng)
    model.fit(data, **settings)
    want = hand_written_epochs(start, data, rng, persistent=trainer == "pcd", **settings)
    for name in want:
        np.testing.assert_allclose(model.params[name], want[name], rtol=1e-10, atol=1e-12, err_msg=name)


def test_fit_settings_come_from_the_train_statement():
    source = (EXAMPLES / "rbm.ebm").read_text().replace("epochs=20", "epochs=3")
    model = ebmc.load(source, n_visible=6, n_hidden=4).Rbm(seed=0)
    history = model.fit(np.zeros((10, 6)))
    assert len(history) == 3
    with pytest.raises(TypeError):
        model.fit(np.zeros((10, 6)), epochz=2)
