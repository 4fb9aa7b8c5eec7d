"""The checker: shapes inferred, dense rewritten, dims resolved and overridden, models assembled."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import EXAMPLES

import ebmc
from ebmc.errors import EbmcError
from ebmc.frontend import ast
from ebmc.frontend.check import parse

DECLS = """
    dim a = 2
    dim b = 3
    dim c = 4
    dim items = 6
    visible v[a] : bernoulli
    visible u[b] : bernoulli
    hidden h[c] : bernoulli
    visible r[items, 5] : softmax
    input x[a, b]
    input y[b]
    input col[a, 1]
    input s
    param W[a, c]
    param K[items, 5, c]
    param M[a, b, c]
    param q
"""


def layer_dims(expr: str, extra: str = "") -> tuple:
    """The symbolic shape the checker infers for `expr` (written as a layer of a test model)."""
    (model,) = parse(f"model m {{ {DECLS} {extra}\n layer out = {expr}\n energy = sum(v) }}")
    return model.layers[-1].dims


@pytest.mark.parametrize(
    "expr, dims",
    [
        # leaves and numbers
        ("v", ("a",)),
        ("3", ()),
        ("q", ()),
        # elementwise with numpy broadcasting
        ("v + 1", ("a",)),
        ("x * y", ("a", "b")),
        ("y * x", ("a", "b")),
        ("col * y", ("a", "b")),
        ("col + x", ("a", "b")),
        ("s * x - q", ("a", "b")),
        ("x / 2 ** y", ("a", "b")),
        ("-x", ("a", "b")),
        # '@' contracts the last axis of the left with the first of the right
        ("v @ W", ("c",)),
        ("W @ h", ("a",)),
        ("v @ W @ h", ()),
        ("v @ v", ()),
        ("K @ h", ("items", 5)),
        ("M @ h", ("a", "b")),
        ("v @ M", ("b", "c")),
        ("v @ M @ h", ("b",)),
        ("x @ y", ("a",)),
        ("(v @ W) * h", ("c",)),
        # transpose reverses the axes
        ("W.T", ("c", "a")),
        ("M.T", ("c", "b", "a")),
        ("W.T @ v", ("c",)),
        ("h @ W.T", ("a",)),
        ("v.T", ("a",)),
        ("q.T", ()),
        ("x.T.T", ("a", "b")),
        # elementwise functions keep the shape
        ("exp(x)", ("a", "b")),
        ("sigmoid(v @ W)", ("c",)),
        ("log_sigmoid(W)", ("a", "c")),
        ("relu(-x) + softplus(x) * tanh(y) - sqrt(abs(x)) / square(y)", ("a", "b")),
        # reductions give a scalar; softmax keeps the shape
        ("sum(x)", ()),
        ("mean(K)", ()),
        ("logsumexp(v)", ()),
        ("softmax(x)", ("a", "b")),
        ("softmax(K @ h)", ("items", 5)),
        ("sum(r * (K @ h))", ()),
        # losses are scalars
        ("cross_entropy(softmax(y), y)", ()),
        ("binary_cross_entropy(sigmoid(x), x)", ()),
        ("mse(v @ W, h)", ()),
    ],
)
def test_inferred_shapes(expr, dims):
    assert layer_dims(expr) == dims


def test_layers_resolve_their_shapes_and_chain():
    (m,) = parse(f"model m {{ {DECLS} layer p = sigmoid(v @ W)\n layer p2 = p * h + 1\n energy = -sum(p2) }}")
    assert [(layer.name, layer.kind, layer.dims, layer.shape) for layer in m.layers] == [
        ("p", "layer", ("c",), (4,)),
        ("p2", "layer", ("c",), (4,)),
    ]


def test_literal_sizes_in_shapes():
    (m,) = parse("model m { visible v[3] : spin\n param W[3, 5]\n energy = sum(v @ W) }")
    assert m.params["W"].dims == (3, 5) and m.params["W"].shape == (3, 5)


# ---------------------------------------------------------------- the example
def test_rbm_example_checked():
    (m,) = parse(EXAMPLES / "rbm.ebm")
    assert m.name == "rbm" and m.is_energy_model and m.loss is None
    assert m.dims == {"n_visible": 64, "n_hidden": 128}
    assert list(m.variables) == ["v", "h"]
    assert list(m.visible) == ["v"] and list(m.hidden) == ["h"]
    v = m.variables["v"]
    assert (v.role, v.dims, v.shape, v.type) == ("visible", ("n_visible",), (64,), "bernoulli")
    assert list(m.params) == ["W", "a", "b"]
    w = m.params["W"]
    assert (w.dims, w.shape, w.init.kind, w.init.args, w.attrs) == (
        ("n_visible", "n_hidden"),
        (64, 128),
        "normal",
        (0.0, 0.01),
        frozenset(),
    )
    assert m.params["a"].init.kind == "const" and m.params["a"].init.args == (0.0,)
    assert m.train.name == "cd"
    assert m.train.options == {"k": 1, "lr": 0.05, "batch": 100, "epochs": 20, "momentum": 0.5}
    assert isinstance(m.train.options["k"], int) and isinstance(m.train.options["lr"], float)
    assert isinstance(m.energy, ast.BinOp)
    assert m.shape_of("W") == (64, 128)


def test_parse_is_the_public_api(tmp_path):
    f = tmp_path / "rbm.ebm"
    f.write_bytes((EXAMPLES / "rbm.ebm").read_bytes())
    assert ebmc.parse is parse
    assert [m.name for m in ebmc.parse(str(f))] == ["rbm"]
    assert [m.name for m in ebmc.parse((EXAMPLES / "rbm.ebm").read_text())] == ["rbm"]


def test_default_init_is_const_zero_at_the_param():
    (m,) = parse("model m {\n visible v[2] : spin\n param w[2]\n energy = sum(v * w) }")
    assert m.params["w"].init == ast.Init("const", (0.0,), ast.Span(3, 2, 3, 12))


def test_params_and_attrs():
    (m,) = parse("""model hop {
        dim n_units = 5
        visible s[n_units] : spin
        param W[n_units, n_units] ~ normal(0, 1) : symmetric, zero_diagonal, fixed
        param b[n_units] = -0.5 : fixed
        energy = -0.5 * s @ W @ s - b @ s
        train hebbian
    }""")
    assert m.params["W"].attrs == frozenset({"symmetric", "zero_diagonal", "fixed"})
    assert m.params["b"].init.args == (-0.5,)
    assert m.train.name == "hebbian" and m.train.options == {}


# ---------------------------------------------------------------- dense
NET = """model net {
    dim n_in = 4
    dim n_hid = 8
    input x[n_in]
    target t[3] : onehot
    layer h = dense(x, n_hid, relu)
    output p = dense(h, 3, softmax)
    layer z = dense(h, 2, identity)
    loss = cross_entropy(p, t) + 0.01 * sum(h_W ** 2)
    train adam(lr=0.01, batch=32, epochs=5)
}"""


def test_dense_declares_params_in_file_order():
    (m,) = parse(NET)
    assert not m.is_energy_model and m.energy is None
    assert list(m.params) == ["h_W", "h_b", "p_W", "p_b", "z_W", "z_b"]
    w, b = m.params["h_W"], m.params["h_b"]
    assert (w.dims, w.shape, w.init.kind) == (("n_in", "n_hid"), (4, 8), "glorot")
    assert (b.dims, b.shape, b.init.kind, b.init.args) == (("n_hid",), (8,), "const", (0.0,))
    assert m.params["p_W"].dims == ("n_hid", 3)
    assert [(layer.name, layer.kind, layer.dims) for layer in m.layers] == [
        ("h", "layer", ("n_hid",)),
        ("p", "output", (3,)),
        ("z", "layer", (2,)),
    ]
    assert list(m.inputs) == ["x"] and list(m.targets) == ["t"]
    assert m.variables["t"].type == "onehot" and m.variables["x"].type == "real"


def test_dense_is_rewritten_with_the_call_spans():
    (m,) = parse(NET)
    h = m.layers[0].expr
    call_span = ast.Span(6, 15, 6, 36)
    assert isinstance(h, ast.Call) and h.func == "relu" and h.span == call_span
    assert h.func_span == ast.Span(6, 15, 6, 20)
    (inner,) = h.args
    assert inner == ast.BinOp(
        "+",
        ast.BinOp("@", ast.Name("x", ast.Span(6, 21, 6, 22)), ast.Name("h_W", call_span), call_span),
        ast.Name("h_b", call_span),
        call_span,
    )
    # identity: no call around it
    z = m.layers[2].expr
    assert isinstance(z, ast.BinOp) and z.op == "+"
    assert m.params["h_W"].span == call_span


def test_dense_of_a_layer_sized_by_a_literal():
    (m,) = parse("model m { input x[3]\n layer h = dense(x * 2, 7, tanh)\n loss = sum(h) }")
    assert m.params["h_W"].dims == (3, 7) and m.layers[0].dims == (7,)


# ---------------------------------------------------------------- dims
def test_dim_overrides_apply_to_every_model_that_declares_them():
    src = """
    model one { dim n_visible = 4
                dim n_hidden = 3
                visible v[n_visible] : bernoulli
                hidden h[n_hidden] : bernoulli
                param W[n_visible, n_hidden]
                energy = -v @ W @ h }
    model two { dim n_visible = 9
                visible v[n_visible] : spin
                energy = -sum(v) }
    """
    one, two = parse(src, n_visible=11)
    assert one.dims == {"n_visible": 11, "n_hidden": 3} and two.dims == {"n_visible": 11}
    assert one.params["W"].shape == (11, 3) and one.params["W"].dims == ("n_visible", "n_hidden")
    assert two.variables["v"].shape == (11,)
    one, two = parse(src, n_hidden=np.int64(5))
    assert one.dims["n_hidden"] == 5 and type(one.dims["n_hidden"]) is int


def test_a_dim_may_be_used_before_its_declaration():
    (m,) = parse("model m { visible v[k] : spin\n dim k = 3\n energy = sum(v) }")
    assert m.variables["v"].shape == (3,)


def test_declarations_may_follow_the_energy():
    (m,) = parse("model m { energy = -sum(v * b)\n visible v[2] : spin\n param b[2] }")
    assert list(m.variables) == ["v"] and list(m.params) == ["b"]


def test_several_models_in_order():
    models = parse(
        "model b { visible v : gaussian\n energy = v ** 2 }\n"
        "model a { input x\n target t\n output y = 2 * x\n loss = (y - t) ** 2 }"
    )
    assert [m.name for m in models] == ["b", "a"]
    assert models[0].variables["v"].dims == () and models[0].variables["v"].type == "gaussian"
    assert models[1].layers[0].kind == "output"


def test_an_energy_model_may_have_inputs_and_layers():
    (m,) = parse("""model crbm {
        dim k = 3
        input c[k]
        visible v[k] : bernoulli
        hidden h[k] : bernoulli
        param W[k, k]
        param U[k, k]
        layer bias = c @ U
        energy = -v @ W @ h - bias @ h
        train pcd(k=2, weight_decay=0.001)
    }""")
    assert list(m.inputs) == ["c"] and m.layers[0].dims == ("k",)
    assert m.train.options == {"k": 2, "weight_decay": 0.001}


def test_trainer_options_convert():
    (m,) = parse("model m { visible v : spin\n energy = v\n train cd(k=2.0, lr=1, momentum=0) }")
    assert m.train.options == {"k": 2, "lr": 1.0, "momentum": 0.0}
    assert isinstance(m.train.options["k"], int) and isinstance(m.train.options["lr"], float)


def test_every_model_is_checked_with_its_own_builder():
    src = "model a { visible v[2] : spin\n energy = sum(v) }\nmodel b { visible v[3] : spin\n energy = sum(v) }"
    a, b = parse(src)
    assert a.variables["v"].shape == (2,) and b.variables["v"].shape == (3,)


def test_loss_model_with_sgd():
    (m,) = parse(
        "model reg { input x[2]\n target t\n param w[2]\n output y = x @ w\n loss = mse(y, t)\n"
        " train sgd(lr=0.1, momentum=0.9) }"
    )
    assert m.loss is not None and m.train.options == {"lr": 0.1, "momentum": 0.9}


# ---------------------------------------------------------------- plugins
class _Trainer:
    name = "annealing"
    options = {"steps_per_epoch": 10, "schedule": "linear"}


class _Units:
    name = "potts"


def test_plugin_trainers_and_unit_types(monkeypatch):
    from ebmc.plugins import registry

    monkeypatch.setitem(registry().trainers, "annealing", _Trainer())
    monkeypatch.setitem(registry().units, "potts", _Units())
    (m,) = parse(
        "model m { visible v[3] : potts\n energy = sum(v)\n train annealing(steps_per_epoch=5, schedule=cosine) }"
    )
    assert m.variables["v"].type == "potts"
    assert m.train.name == "annealing" and m.train.options == {"steps_per_epoch": 5, "schedule": "cosine"}
    with pytest.raises(EbmcError) as info:
        parse("model m { visible v : spin\n energy = v\n train annealing(step_per_epoch=5) }")
    assert info.value.message == (
        "unknown option 'step_per_epoch' for the trainer 'annealing'; did you mean 'steps_per_epoch'?"
    )


def test_the_parser_and_the_checker_agree_on_the_inits():
    from ebmc.frontend import check, parser

    assert tuple(check.INITS) == parser.INITS


@pytest.mark.parametrize(
    ("source", "column"),
    [
        ("model m { dim n = 1" + "0" * 300 + " visible v[n] : bernoulli energy = sum(v) }", 11),
        ("model m { visible v[" + "9" * 30 + "] : bernoulli energy = sum(v) }", 21),
    ],
)
def test_sizes_beyond_any_array_are_refused(source, column):
    with pytest.raises(EbmcError, match="too large for an array") as info:
        parse(source)
    assert (info.value.line, info.value.column) == (1, column)
