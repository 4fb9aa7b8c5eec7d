"""Networks end to end: the generated forward, loss, grad, predict, fit, save and load.

Every number is checked against an independent reference: the formulas of each layer, loss and
gradient written out here in numpy (backpropagation by hand), and central finite differences of
the hand-written loss. Learning is checked on data made here (three gaussian blobs) and on
scikit-learn's digits.
"""

from __future__ import annotations

import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
from conftest import EXAMPLES

import ebmc
from ebmc.ir.graph import formula

D_IN, D_HIDDEN, D_OUT = 4, 5, 3
ACTIVATIONS = ("tanh", "relu", "sigmoid", "softmax", "identity")
LOSSES = {  # loss -> the output layer's activation and the target's data type
    "cross_entropy": ("softmax", "onehot"),
    "binary_cross_entropy": ("sigmoid", "binary"),
    "mse": ("identity", "real"),
}


def network(act: str = "tanh", loss: str = "cross_entropy", train: str = "adam(lr=0.01)", out_act=None) -> str:
    out_act = out_act or LOSSES[loss][0]
    kind = LOSSES[loss][1]
    return f"""model net {{
    dim n_in = {D_IN}
    dim n_hidden = {D_HIDDEN}
    dim n_out = {D_OUT}
    input x[n_in]
    target t[n_out] : {kind}
    layer h = dense(x, n_hidden, {act})
    output y = dense(h, n_out, {out_act})
    loss = {loss}(y, t)
    train {train}
}}
"""


_MODULES: dict = {}


def build(source: str, **kw):
    """A network of the source (modules compiled once per source)."""
    if source not in _MODULES:
        _MODULES[source] = ebmc.load(source)
    return _MODULES[source].Net(**kw)


# ---------------------------------------------------------------- the references, by hand
def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


ACT = {
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
    "sigmoid": sigmoid,
    "softmax": softmax,
    "identity": lambda z: z,
}


def act_backward(act, z, a, g):
    """dloss/dz from dloss/da, a = act(z)."""
    if act == "tanh":
        return g * (1.0 - a**2)
    if act == "relu":
        return g * (z > 0)
    if act == "sigmoid":
        return g * a * (1.0 - a)
    if act == "softmax":
        return a * (g - (g * a).sum(axis=-1, keepdims=True))
    return g


def loss_by_hand(loss, y, t):
    if loss == "cross_entropy":
        return -(t * np.log(y)).sum(axis=-1)
    if loss == "binary_cross_entropy":
        return -(t * np.log(y) + (1 - t) * np.log(1 - y)).mean(axis=-1)
    return ((y - t) ** 2).mean(axis=-1)


def forward_by_hand(p, x, act, out_act):
    z1 = x @ p["h_W"] + p["h_b"]
    h = ACT[act](z1)
    z2 = h @ p["y_W"] + p["y_b"]
    return z1, h, z2, ACT[out_act](z2)


def grad_by_hand(p, x, t, act, loss):
    """Backpropagation written out: the batch-mean gradient of the loss."""
    out_act = LOSSES[loss][0]
    z1, h, z2, y = forward_by_hand(p, x, act, out_act)
    n = y.shape[-1]
    # dloss/dz2 of each loss with its output activation: the textbook forms
    dz2 = {"cross_entropy": y - t, "binary_cross_entropy": (y - t) / n, "mse": 2 * (y - t) / n}[loss]
    dh = dz2 @ p["y_W"].T
    dz1 = act_backward(act, z1, h, dh)
    rows = x.shape[0]
    return {"h_W": x.T @ dz1 / rows, "h_b": dz1.sum(0) / rows, "y_W": h.T @ dz2 / rows, "y_b": dz2.sum(0) / rows}


def numeric_grad(f, params, eps=1e-6):
    """Central differences of the scalar f(params) in every entry of every param."""
    out = {}
    for name, value in params.items():
        g = np.zeros_like(value)
        for i in np.ndindex(value.shape):
            saved = value[i]
            value[i] = saved + eps
            up = f(params)
            value[i] = saved - eps
            down = f(params)
            value[i] = saved
            g[i] = (up - down) / (2 * eps)
        out[name] = g
    return out


def data(loss, rows, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, D_IN))
    kind = LOSSES[loss][1]
    if kind == "onehot":
        t = np.eye(D_OUT)[rng.integers(0, D_OUT, size=rows)]
    elif kind == "binary":
        t = rng.integers(0, 2, size=(rows, D_OUT)).astype(float)
    else:
        t = rng.normal(size=(rows, D_OUT))
    return x, t


# ---------------------------------------------------------------- forward, loss and grad
@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("loss", list(LOSSES))
def test_forward_loss_and_grad_match_the_formulas_and_finite_differences(act, loss):
    m = build(network(act, loss), seed=1)
    for name in ("h_b", "y_b"):  # biases away from 0, so that every path is exercised
        m.params[name][...] = np.random.default_rng(2).normal(size=m.params[name].shape)
    p = {k: v.copy() for k, v in m.params.items()}
    x, t = data(loss, 7)
    out_act = LOSSES[loss][0]
    want_y = forward_by_hand(p, x, act, out_act)[3]
    np.testing.assert_allclose(m.forward(x=x)["y"], want_y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(m.loss(x=x, t=t), loss_by_hand(loss, want_y, t), rtol=1e-10, atol=1e-12)
    got = m.grad(x=x, t=t)
    assert set(got) == set(p)
    by_hand = grad_by_hand(p, x, t, act, loss)

    def mean_loss(params):
        return loss_by_hand(loss, forward_by_hand(params, x, act, out_act)[3], t).mean()

    numeric = numeric_grad(mean_loss, {k: v.copy() for k, v in p.items()})
    for name in p:
        np.testing.assert_allclose(got[name], by_hand[name], rtol=1e-9, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(got[name], numeric[name], rtol=1e-5, atol=1e-7, err_msg=name)
    # one sample: the same numbers without the batch axis
    one = m.grad(x=x[3], t=t[3])
    for name in p:
        np.testing.assert_allclose(one[name], grad_by_hand(p, x[3:4], t[3:4], act, loss)[name], rtol=1e-9, atol=1e-12)
    assert np.ndim(m.loss(x=x[3], t=t[3])) == 0
    assert m.forward(x=x[3])["y"].shape == (D_OUT,)


@pytest.mark.parametrize(
    "output, loss, kind, by_hand",
    [
        # y from no softmax or sigmoid: the losses as written, for y in (0, 1)
        ("0.5 * sigmoid(h @ w) + 0.25", "binary_cross_entropy", "binary", None),
        ("exp(h @ w) / sum(exp(h @ w))", "cross_entropy", "onehot", None),
        ("sigmoid(h @ w)", "mse", "real", None),
    ],
)
def test_losses_as_written_where_they_are_not_fused(output, loss, kind, by_hand):
    source = f"""model net {{
    input x[{D_IN}]
    target t[{D_OUT}] : {kind}
    param w[{D_IN}, {D_OUT}] ~ normal(0, 0.5)
    layer h = tanh(x)
    output y = {output}
    loss = {loss}(y, t)
}}
"""
    m = ebmc.load(source).Net(seed=3)
    x = np.random.default_rng(4).normal(size=(6, D_IN))
    t = {"binary": np.eye(2)[[0, 1, 1, 0, 1, 0]][:, :1].repeat(D_OUT, 1), "onehot": np.eye(D_OUT)[[0, 1, 2, 0, 1, 2]]}
    t = t.get(kind, np.random.default_rng(5).uniform(size=(6, D_OUT)))
    w = m.params["w"].copy()

    def hand(w):
        z = np.tanh(x) @ w
        y = {"binary": 0.5 * sigmoid(z) + 0.25, "onehot": np.exp(z) / np.exp(z).sum(1, keepdims=True)}
        return y.get(kind, sigmoid(z))

    np.testing.assert_allclose(m.loss(x=x, t=t), loss_by_hand(loss, hand(w), t), rtol=1e-10)
    numeric = numeric_grad(lambda q: loss_by_hand(loss, hand(q["w"]), t).mean(), {"w": w.copy()})
    np.testing.assert_allclose(m.grad(x=x, t=t)["w"], numeric["w"], rtol=1e-5, atol=1e-8)


def test_he_init_and_every_activation_of_dense_compile():
    for act in ("exp", "log", "sqrt", "abs", "square", "softplus", "log_sigmoid", *ACTIVATIONS):
        source = network(act).replace("layer h", "param extra[n_hidden] ~ he : fixed\n    layer h")
        m = build(source, seed=0)
        assert m.params["extra"].std() > 0 and m.params["h_W"].shape == (D_IN, D_HIDDEN)


def test_the_graphs_and_the_fused_gradient_at_the_logits():
    compiled = ebmc.compile(network("relu"))
    assert {"forward", "loss", "grad", "step"} <= set(compiled.graphs)
    loss = compiled.graphs["loss"]
    ops = {d["op"] for _, d in loss.nodes(data=True)}
    assert "log_softmax" in ops and "log" not in ops and "softmax" not in ops
    grad = compiled.graphs["grad"]
    # dloss/dy_b is dloss/dz at the logits: softmax(z) - t exactly (a onehot row sums to 1)
    assert formula(grad, grad.graph["outputs"]["y_b"]) == "softmax(relu(x @ h_W + h_b) @ y_W + y_b) - t"
    bce = ebmc.compile(network("tanh", "binary_cross_entropy")).graphs
    assert "bce_logits" in {d["op"] for _, d in bce["loss"].nodes(data=True)}
    assert formula(bce["grad"], bce["grad"].graph["outputs"]["y_b"]).endswith(
        "* (sigmoid(tanh(x @ h_W + h_b) @ y_W + y_b) - t)"
    )


def test_backward_reuses_the_forward_and_computes_nothing_twice():
    source = ebmc.compile(network("relu")).source
    body = source[source.index("def _backward") : source.index("def predict")]
    code = body[body.index('"""', body.index('"""') + 3) :]
    assert len(re.findall(r"@ h_W\b(?!\.T)", code)) == 1 and len(re.findall(r"@ y_W\b(?!\.T)", code)) == 1
    # softmax as exp(log_softmax): one shift, exp and sum for the loss, the output and the gradient
    assert code.count("_log_softmax(") == 1 and not re.findall(r"(?<!log)_softmax\(", code)
    assert code.count("np.maximum(") == 1
    assert "np.einsum" not in code and "for " not in code


# ---------------------------------------------------------------- stability
@pytest.mark.parametrize("loss", ["cross_entropy", "binary_cross_entropy"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_logits_of_1e4_give_finite_losses_and_gradients_without_warnings(loss, dtype):
    m = build(network("identity", loss), seed=0, dtype=dtype)
    m.params["h_W"][...] = np.eye(D_IN, D_HIDDEN)
    m.params["y_W"][...] = np.eye(D_HIDDEN, D_OUT)
    x = np.array([[1e4, -1e4, 0.0, 0.0], [-1e4, 1e4, 1e4, 0.0]])
    t = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])  # the wrong class at +1e4: a loss of about 1e4 or 2e4
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        losses = m.loss(x=x, t=t)
        grads = m.grad(x=x, t=t)
        m.fit(x, t, epochs=1, batch=2)
    assert np.all(np.isfinite(losses)) and losses.min() > 1e3
    assert all(np.all(np.isfinite(g)) for g in grads.values())
    if loss == "cross_entropy":  # dloss/dz = softmax(z) - t: 1 at the wrong class, -1 at the right one
        z = x @ np.eye(D_IN, D_OUT)
        np.testing.assert_allclose(grads["y_b"], (softmax(z) - t).mean(0), atol=1e-6)


# ---------------------------------------------------------------- learning
def blobs(rows=600, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 2.0], [-1.8, -1.0], [1.8, -1.0]])
    labels = np.arange(rows) % 3
    x = centres[labels] + rng.normal(scale=0.9, size=(rows, 2))
    return x, labels


BLOBS = """model blobs {
    input x[2]
    target t[3] : onehot
    layer h = dense(x, 16, tanh)
    output y = dense(h, 3, softmax)
    loss = cross_entropy(y, t)
}
"""


@pytest.mark.parametrize("settings", [{"lr": 0.1, "momentum": 0.9}, {"lr": 0.01}], ids=["sgd", "adam"])
def test_three_blobs_are_learned_within_40_epochs(settings):
    trainer = "sgd" if "momentum" in settings else "adam"
    m = ebmc.load(BLOBS.replace("loss =", f"train {trainer}\n    loss =")).Blobs(seed=0)
    x, labels = blobs()
    history = m.fit(x, np.eye(3)[labels], epochs=40, batch=32, **settings)
    assert len(history) == 40 and history[-1]["loss"] < history[0]["loss"]
    test_x, test_labels = blobs(seed=1)
    assert (m.predict(x=test_x) == test_labels).mean() > 0.85
    assert history[-1]["accuracy"] > 0.85


def test_digits_reach_097():
    sklearn = pytest.importorskip("sklearn.datasets")
    from sklearn.model_selection import train_test_split

    images, labels = sklearn.load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        images / 16.0, labels, test_size=0.2, stratify=labels, random_state=0
    )
    m = ebmc.load(EXAMPLES / "mlp.ebm").Mlp(seed=0)
    history = m.fit(x_train, np.eye(10)[y_train], validation=(x_test, np.eye(10)[y_test]))
    accuracy = (m.predict(x=x_test) == y_test).mean()
    assert accuracy >= 0.97
    assert history[-1]["val_accuracy"] == pytest.approx(accuracy)


# ---------------------------------------------------------------- arguments are checked
def snapshot(m):
    return {k: v.copy() for k, v in m.params.items()}, m.rng.bit_generator.state


def assert_unchanged(m, before):
    params, state = before
    for k, v in params.items():
        np.testing.assert_array_equal(m.params[k], v)
    assert m.rng.bit_generator.state == state


@pytest.mark.parametrize(
    "call, kind, words",
    [
        (lambda m, x, t: m.fit(x[:, :3], t), ValueError, "x: expected shape (4,)"),
        (lambda m, x, t: m.fit(x, t[:5]), ValueError, "t: 5 rows, but the other arrays have 20"),
        (lambda m, x, t: m.fit(np.where(x > 1, np.nan, x), t), ValueError, "x: every value must be a finite number"),
        (lambda m, x, t: m.fit(x, 0.5 * t), ValueError, "t: onehot data take the values 0 and 1"),
        (lambda m, x, t: m.fit(x, np.ones_like(t)), ValueError, "t: onehot data have exactly one 1"),
        (lambda m, x, t: m.fit(x, t, lr=-0.1), ValueError, "lr must be a number greater than 0"),
        (lambda m, x, t: m.fit(x, t, batch=0), ValueError, "batch must be a whole number of at least 1"),
        (lambda m, x, t: m.fit(x, t, epochs=2.5), ValueError, "epochs must be a whole number"),
        (lambda m, x, t: m.fit(x, t, beta1=1.0), ValueError, "beta1 must be a number of at least 0 and less than 1"),
        (lambda m, x, t: m.fit(x, t, eps=0), ValueError, "eps must be a number greater than 0"),
        (lambda m, x, t: m.fit(x, t, patience=-1), ValueError, "patience must be a whole number of at least 0"),
        (lambda m, x, t: m.fit(x, t, lr="fast"), TypeError, "lr must be a number"),
        (lambda m, x, t: m.fit(x, t, verbose=1), TypeError, "verbose must be True or False"),
        (lambda m, x, t: m.fit(x, t, callback=3), TypeError, "callback must be callable"),
        (lambda m, x, t: m.fit(x, t, validation=x), TypeError, "validation must be None or a pair"),
        (lambda m, x, t: m.fit(x, t, validation=(x, t[:, :2])), ValueError, "validation t: expected shape (3,)"),
        (lambda m, x, t: m.fit(x, t, validation=(x[:0], t[:0])), ValueError, "validation inputs: no rows"),
        (lambda m, x, t: m.fit({"z": x}, t), ValueError, "inputs: the keys must be the inputs x; missing x; unknown z"),
        (lambda m, x, t: m.fit(x[:0], t[:0]), ValueError, "inputs: no rows to train on"),
        (lambda m, x, t: m.fit(x.astype(str), t), TypeError, "x: expected an array of numbers"),
        (lambda m, x, t: m.loss(x=x, t=t[0]), ValueError, "t: pass either single samples or batches"),
        (lambda m, x, t: m.forward(x=x[:, None]), ValueError, "x: expected shape (4,)"),
        (lambda m, x, t: m.predict(x=np.full(4, np.inf)), ValueError, "x: every value must be a finite number"),
        (lambda m, x, t: m.grad(x=x, t=t - 1), ValueError, "t: onehot data take the values 0 and 1"),
        (lambda m, x, t: m.grad(x=x[:0], t=t[:0]), ValueError, "no rows"),
    ],
)
def test_bad_arguments_are_named_errors_that_change_nothing(call, kind, words):
    m = build(network(), seed=0)
    x, t = data("cross_entropy", 20)
    before = snapshot(m)
    with pytest.raises(kind) as info:
        call(m, x, t)
    assert words in str(info.value)
    assert_unchanged(m, before)


def test_sgd_settings_are_checked_too():
    m = build(network(train="sgd(lr=0.1, momentum=0.5)"), seed=0)
    x, t = data("cross_entropy", 20)
    before = snapshot(m)
    for settings, words in [
        ({"momentum": 1.0}, "momentum must be a number of at least 0 and less than 1"),
        ({"nesterov": 2}, "nesterov must be a whole number of at least 0 and less than 2"),
        ({"nesterov": True, "momentum": 0.0}, "nesterov needs momentum > 0"),
    ]:
        with pytest.raises(ValueError, match=words):
            m.fit(x, t, **settings)
    assert_unchanged(m, before)


def test_binary_targets_are_zero_or_one():
    m = build(network("tanh", "binary_cross_entropy"), seed=0)
    x, t = data("binary_cross_entropy", 10)
    with pytest.raises(ValueError, match=r"t: binary data take the values 0 and 1; found 0.5 at row 0, column 0"):
        m.loss(x=x, t=np.full_like(t, 0.5))


def test_a_divergent_fit_puts_the_params_back_and_says_so():
    m = build(network("identity", "mse", train="sgd"), seed=0)
    x, t = data("mse", 50)
    kept = [snapshot(m)[0]]  # the params before each epoch
    with pytest.raises(ValueError, match=r"fit: in epoch \d+ the params or the metrics stopped being finite"):
        m.fit(1e6 * x, t, lr=1e6, epochs=20, callback=lambda model, record: kept.append(snapshot(model)[0]))
    for k, v in kept[-1].items():  # as they were before the epoch that diverged
        np.testing.assert_array_equal(m.params[k], v)


# ---------------------------------------------------------------- fit, predict and the history
def test_history_validation_callback_and_early_stopping():
    m = build(network(), seed=0)
    x, t = data("cross_entropy", 60)
    vx, vt = data("cross_entropy", 30, seed=9)
    seen = []
    history = m.fit(x, t, validation=(vx, vt), epochs=5, callback=lambda model, record: seen.append(record))
    assert [r["epoch"] for r in history] == [1, 2, 3, 4, 5] and seen == history
    assert set(history[0]) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"}
    assert history[-1]["val_loss"] == pytest.approx(m.loss(x=vx, t=vt).mean())
    assert history[-1]["val_accuracy"] == pytest.approx((m.predict(x=vx) == vt.argmax(1)).mean())
    assert len(m.fit(x, t, epochs=5, callback=lambda model, record: False)) == 1
    # random targets: the validation loss soon stops improving; the best epoch's params come back
    best = {}

    def keep(model, record):
        if record["val_loss"] <= min([r["val_loss"] for r in best.get("history", [])] + [np.inf]):
            best["params"] = {k: v.copy() for k, v in model.params.items()}
        best.setdefault("history", []).append(record)

    history = m.fit(x, t, validation=(vx, vt), epochs=200, lr=0.05, patience=3, callback=keep)
    assert len(history) < 200
    losses = [r["val_loss"] for r in history]
    assert np.argmin(losses) == len(history) - 4
    for k, v in best["params"].items():
        np.testing.assert_array_equal(m.params[k], v)


def test_predict_gives_classes_for_a_onehot_target_and_the_output_otherwise():
    m = build(network(), seed=0)
    x, _ = data("cross_entropy", 8)
    np.testing.assert_array_equal(m.predict(x=x), m.forward(x=x)["y"].argmax(1))
    assert m.predict(x=x[0]) == m.forward(x=x[0])["y"].argmax()
    r = build(network("tanh", "mse"), seed=0)
    np.testing.assert_array_equal(r.predict(x=x), r.forward(x=x)["y"])


def test_seeds_make_runs_the_same_and_save_load_round_trips(tmp_path):
    x, t = data("cross_entropy", 40)
    a, b = build(network(), seed=5), build(network(), seed=5)
    ha, hb = a.fit(x, t, epochs=3), b.fit(x, t, epochs=3)
    assert [r["loss"] for r in ha] == [r["loss"] for r in hb]
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    c = build(network(), seed=6)
    assert not np.array_equal(c.params["h_W"], a.params["h_W"])
    path = a.save(tmp_path / "net")
    c.load(path)
    np.testing.assert_array_equal(c.forward(x=x)["y"], a.forward(x=x)["y"])
    with pytest.raises(ValueError, match="saved with n_hidden=5"):
        build(network(), n_hidden=7).load(path)


@pytest.mark.parametrize("trainer", ["sgd(momentum=0.9, nesterov=1)", "sgd", "adam"])
def test_float32_trains_in_float32(trainer):
    m = build(network(train=trainer), seed=0, dtype="float32")
    x, t = data("cross_entropy", 40)
    m.fit(x, t, epochs=2)
    assert all(p.dtype == np.float32 for p in m.params.values())
    assert m.forward(x=x)["y"].dtype == np.float32 and m.grad(x=x, t=t)["h_W"].dtype == np.float32


def test_one_sgd_step_is_the_formula():
    """lr, momentum and nesterov as PyTorch has them: v = mu v + g; theta -= lr * (g + mu v) (nesterov)."""
    m = build(network(train="sgd"), seed=0)
    x, t = data("cross_entropy", 8)
    p = {k: v.copy() for k, v in m.params.items()}
    g = grad_by_hand(p, x, t, "tanh", "cross_entropy")
    m.fit(x, t, epochs=1, batch=8, lr=0.1, momentum=0.9, nesterov=True)
    for k in p:  # the first step: v = g, theta -= lr * (g + 0.9 g)
        np.testing.assert_allclose(m.params[k], p[k] - 0.1 * 1.9 * g[k], rtol=1e-10, atol=1e-12)


def test_one_adam_step_is_the_formula():
    m = build(network(), seed=0)
    x, t = data("cross_entropy", 8)
    p = {k: v.copy() for k, v in m.params.items()}
    g = grad_by_hand(p, x, t, "tanh", "cross_entropy")
    m.fit(x, t, epochs=1, batch=8, lr=0.01)
    for k in p:  # the first step: m_hat = g, v_hat = g ** 2
        want = p[k] - 0.01 * g[k] / (np.abs(g[k]) + 1e-8)
        np.testing.assert_allclose(m.params[k], want, rtol=1e-9, atol=1e-12)


def test_several_inputs_and_targets_are_dicts():
    source = """model two {
    input a[3]
    input b[2]
    target c[2] : onehot
    target r[1]
    layer u = dense(a, 4, tanh)
    layer w = dense(b, 4, relu)
    layer h = u + w
    output p = dense(h, 2, softmax)
    output q = dense(h, 1, identity)
    loss = cross_entropy(p, c) + mse(q, r)
}
"""
    m = ebmc.load(source).Two(seed=0)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(10, 3)), rng.normal(size=(10, 2))
    c, r = np.eye(2)[rng.integers(0, 2, 10)], rng.normal(size=(10, 1))
    history = m.fit({"a": a, "b": b}, {"c": c, "r": r}, epochs=2)
    assert set(history[0]) == {"epoch", "loss", "accuracy", "seconds"}
    predicted = m.predict(a=a, b=b)
    assert set(predicted) == {"p", "q"} and predicted["p"].shape == (10,) and predicted["q"].shape == (10, 1)
    with pytest.raises(TypeError, match="inputs: this model has 2 inputs"):
        m.fit(a, {"c": c, "r": r})


def test_a_models_names_never_shadow_the_generated_codes():
    """Inputs, params and layers named like the generated code's own locals and helpers."""
    source = """model clash {
    input np[2]
    target update[2] : onehot
    param lr[2, 2] ~ normal(0, 0.5)
    param moments[2] = 0
    param scale = 1
    layer work = tanh(np @ lr + moments) * scale
    output steps = softmax(work)
    loss = cross_entropy(steps, update)
}
"""
    m = ebmc.load(source).Clash(seed=0)
    x = np.array([[1.0, -1.0], [0.5, 2.0]])
    y = softmax(np.tanh(x @ m.params["lr"]))
    np.testing.assert_allclose(m.forward(np=x)["steps"], y)
    m.fit({"np": x}, {"update": np.eye(2)}, epochs=2)


def test_what_a_network_cannot_be_is_an_error_at_its_place():
    unused_param = network().replace("layer h", "param spare[2]\n    layer h")
    with pytest.raises(ebmc.EbmcError, match="the param 'spare' is not used by the loss") as info:
        ebmc.compile(unused_param)
    assert info.value.line == 7
    unused_target = network().replace("target t", "target extra[2]\n    target t")
    with pytest.raises(ebmc.EbmcError, match="the target 'extra' is not used by the loss"):
        ebmc.compile(unused_target)
    fixed = unused_param.replace("param spare[2]", "param spare[2] : fixed")
    assert "class Net" in ebmc.compile(fixed).source


def test_a_scalar_param_a_onehot_target_of_two_axes_and_a_softmax_against_real_targets():
    """cross_entropy of softmax against real targets (dloss/dz = softmax(z) * sum(t) - t, not y - t)."""
    source = """model m {
    input x[3]
    target t[2, 4] : onehot
    target s[4]
    param W[3, 2, 4] ~ normal(0, 0.5)
    param V[3, 4] ~ normal(0, 0.5)
    param c = 0.5
    output y = softmax(c * (x @ W))
    output p = softmax(x @ V)
    loss = cross_entropy(y, t) + cross_entropy(p, s)
}
"""
    m = ebmc.load(source).M(seed=0)
    rng = np.random.default_rng(0)
    x, t, s = rng.normal(size=(5, 3)), np.eye(4)[rng.integers(0, 4, (5, 2))], rng.uniform(size=(5, 4))

    def mean_loss(q):
        y = softmax(q["c"] * np.tensordot(x, q["W"], axes=1))
        p = softmax(x @ q["V"])
        return (-(t * np.log(y)).sum((1, 2)) - (s * np.log(p)).sum(1)).mean()

    params = {k: v.copy() for k, v in m.params.items()}
    assert m.loss(x=x, t=t, s=s).mean() == pytest.approx(mean_loss(params))
    numeric = numeric_grad(mean_loss, params)
    for k, g in m.grad(x=x, t=t, s=s).items():
        np.testing.assert_allclose(g, numeric[k], rtol=1e-5, atol=1e-8, err_msg=k)
    history = m.fit(x, {"t": t, "s": s}, epochs=2, batch=2)
    assert 0 <= history[-1]["accuracy"] <= 1  # over both rows of t: the pair y, t is onehot
    predicted = m.predict(x=x)
    assert predicted["y"].shape == (5, 2) and predicted["p"].shape == (5, 4)


def test_a_module_with_an_energy_model_and_a_network_stands_alone(tmp_path):
    source = (EXAMPLES / "rbm.ebm").read_text() + "\n" + (EXAMPLES / "mlp.ebm").read_text()
    path = tmp_path / "both.py"
    path.write_text(ebmc.compile(source).source)
    script = (
        "import sys; sys.modules['ebmc'] = None\n"  # importing ebmc would fail
        "import importlib.util, numpy as np\n"
        f"spec = importlib.util.spec_from_file_location('both', {str(path)!r})\n"
        "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
        "net = mod.Mlp(seed=0); rbm = mod.Rbm(seed=0)\n"
        "net.fit(np.zeros((4, 64)), np.eye(10)[:4], epochs=1); rbm.fit(np.zeros((4, 64)), epochs=1)\n"
        "print(sorted(mod.MODELS), [m for m in sys.modules if m.startswith('ebmc') and sys.modules[m] is not None])\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['mlp', 'rbm'] []"


@pytest.mark.parametrize("trainer", ["sgd(lr=0.1, momentum=0.5)", "adam(lr=0.01)"])
def test_symmetric_and_zero_diagonal_params_stay_so_through_training(trainer):
    """Found by the network fuzzer: fit moved a symmetric, zero_diagonal param off both."""
    source = f"""model n {{
    input x[3]
    target t[3]
    param W[3, 3] ~ normal(0, 0.5) : symmetric, zero_diagonal
    output y = tanh(x @ W)
    loss = mse(y, t)
    train {trainer}
}}
"""
    m = ebmc.load(source).N(seed=0)
    rng = np.random.default_rng(0)
    m.fit(rng.normal(size=(8, 3)), rng.normal(size=(8, 3)), epochs=2, batch=3)
    w = m.params["W"]
    np.testing.assert_array_equal(w, w.T)
    np.testing.assert_array_equal(np.diagonal(w), 0)
