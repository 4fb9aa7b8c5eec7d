"""The generated module is as strict as the compiler: every misuse a new user tries is a ValueError
or TypeError that names the argument, raised before anything changes (params, dims, rng state).

Each test reproduces one misuse of the robustness issue (item numbers in the test names' comments).
"""

from __future__ import annotations

import contextlib
import os
import warnings

import numpy as np
import pytest
from models import RBM, SPIN, TWO

import ebmc


@pytest.fixture(scope="module")
def rbm_class():
    return ebmc.load(RBM, n_visible=6, n_hidden=4).Rbm


@pytest.fixture(scope="module")
def spin_class():
    return ebmc.load(SPIN, n_visible=6, n_hidden=4).SpinRbm


@pytest.fixture(scope="module")
def two_class():
    return ebmc.load(TWO).Two


def binary(rows, cols, seed=0):
    return (np.random.default_rng(seed).random((rows, cols)) < 0.5).astype(float)


@contextlib.contextmanager
def unchanged(model):
    """Assert that the block leaves the model's params, dims and random state exactly as they were."""
    params = {k: v.copy() for k, v in model.params.items()}
    ids = {k: id(v) for k, v in model.params.items()}
    dims = dict(model.dims)
    state = model.rng.bit_generator.state
    yield
    assert model.dims == dims
    assert {k: id(v) for k, v in model.params.items()} == ids
    for k, v in params.items():
        np.testing.assert_array_equal(model.params[k], v)
    assert model.rng.bit_generator.state == state


def refused(model, call, kind, *words):
    """call() raises `kind` with every one of `words` in its message, and changes nothing."""
    with unchanged(model), pytest.raises(kind) as info:
        call()
    for word in words:
        assert word in str(info.value), (word, str(info.value))
    return str(info.value)


# ---------------------------------------------------------------- 1. fit's data and settings
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_fit_refuses_data_that_is_not_finite(rbm_class, bad):
    m = rbm_class(seed=0)
    data = binary(20, 6)
    data[3, 2] = bad
    refused(m, lambda: m.fit(data, epochs=1), ValueError, "v:", "finite", "row 3, column 2")


def test_fit_refuses_raw_pixels_for_bernoulli_units_with_a_hint(rbm_class):
    m = rbm_class(seed=0)
    data = np.zeros((5, 6))
    data[0, 3] = 16.0
    message = refused(m, lambda: m.fit(data, epochs=1), ValueError, "v: bernoulli units take values in [0, 1]")
    assert "found 16 at row 0, column 3" in message and "data / 16 or data > 8" in message


def test_probabilities_are_valid_bernoulli_data(rbm_class):
    m = rbm_class(seed=0)
    history = m.fit(np.random.default_rng(0).random((20, 6)), epochs=1, batch=5)
    assert np.isfinite(history[0]["recon_error"])


def test_spin_units_refuse_zero_one_data_as_the_wrong_encoding(spin_class):
    m = spin_class(seed=0)
    message = refused(m, lambda: m.fit(binary(20, 6), epochs=1), ValueError, "v:", "2 * data - 1")
    assert "only 0 and 1" in message
    refused(m, lambda: m.fit(3 * binary(20, 6), epochs=1), ValueError, "v: spin units take values in [-1, 1]")
    m.fit(2 * binary(20, 6) - 1, epochs=1, batch=5)  # the right encoding trains


def test_fit_refuses_empty_data(rbm_class):
    m = rbm_class(seed=0)
    refused(m, lambda: m.fit(np.zeros((0, 6)), epochs=1), ValueError, "data: no rows")


@pytest.mark.parametrize(
    ("setting", "value", "kind", "words"),
    [
        ("lr", -0.1, ValueError, "lr must be a number greater than 0, got -0.1"),
        ("lr", 0, ValueError, "lr must be a number greater than 0, got 0"),
        ("lr", float("nan"), ValueError, "lr must be"),
        ("lr", "0.1", TypeError, "lr must be a number"),
        ("momentum", 1.5, ValueError, "momentum must be a number of at least 0 and less than 1, got 1.5"),
        ("momentum", -1, ValueError, "momentum must be"),
        ("weight_decay", -1, ValueError, "weight_decay must be a number of at least 0, got -1"),
        ("epochs", 2.7, ValueError, "epochs must be a whole number of at least 1, got 2.7 (a fraction is not rounded)"),
        ("epochs", 0, ValueError, "epochs must be a whole number of at least 1, got 0"),
        ("batch", True, TypeError, "batch must be a number, got bool"),
        ("k", 0, ValueError, "k must be a whole number"),
        ("verbose", "yes", TypeError, "verbose must be True or False"),
        ("callback", 3, TypeError, "callback must be callable"),
    ],
)
def test_fit_refuses_settings_out_of_range(rbm_class, setting, value, kind, words):
    m = rbm_class(seed=0)
    refused(m, lambda: m.fit(binary(20, 6), **{setting: value}), kind, words)


def test_the_module_and_the_compiler_refuse_a_setting_in_the_same_words(rbm_class):
    with pytest.raises(ebmc.EbmcError) as info:
        ebmc.compile(RBM.replace("lr=0.05", "lr=-0.1"))
    m = rbm_class(seed=0)
    message = refused(m, lambda: m.fit(binary(20, 6), lr=-0.1), ValueError, "lr")
    assert info.value.message == "'lr' " + message.partition(" ")[2]


def test_whole_settings_given_as_whole_floats_are_taken(rbm_class):
    m = rbm_class(seed=0)
    assert len(m.fit(binary(20, 6), epochs=2.0, batch=np.int64(5), k=1.0)) == 2


@pytest.mark.parametrize(("value", "kind"), [(2.5, ValueError), (0, ValueError), (-3, ValueError), (True, TypeError)])
def test_dims_must_be_whole_positive_numbers(rbm_class, value, kind):
    with pytest.raises(kind, match="n_hidden must be"):
        rbm_class(n_hidden=value)
    assert rbm_class(seed=0, n_hidden=3.0).params["b"].shape == (3,)


@pytest.mark.parametrize(("seed", "kind"), [(-1, ValueError), (1.5, TypeError), ("x", TypeError)])
def test_seed_is_checked(rbm_class, seed, kind):
    with pytest.raises(kind, match="seed must be"):
        rbm_class(seed=seed)


def test_dtype_is_checked(rbm_class):
    with pytest.raises(ValueError, match="dtype must be 'float32' or 'float64', got 'int32'"):
        rbm_class(dtype="int32")
    with pytest.raises(TypeError, match="dtype must be"):
        rbm_class(dtype="no such type")


def test_a_diverging_fit_is_undone_and_reported(rbm_class):
    m = rbm_class(seed=0)
    before = {k: v.copy() for k, v in m.params.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="in epoch 1 the params or the metrics stopped being finite"):
            m.fit(binary(50, 6), lr=1e308, epochs=3, batch=5)
    for k, v in before.items():
        np.testing.assert_array_equal(m.params[k], v)


def test_callback_sees_each_record_and_can_stop_training(rbm_class):
    m = rbm_class(seed=0)
    seen = []

    def stop_after_two(model, record):
        seen.append((model, record["epoch"]))
        return record["epoch"] < 2

    history = m.fit(binary(20, 6), epochs=5, batch=5, callback=stop_after_two)
    assert [r["epoch"] for r in history] == [1, 2] and seen == [(m, 1), (m, 2)]


# ---------------------------------------------------------------- 2. counts of samples and sweeps
@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda m: m.sample(-1), "n must be a whole number of at least 1, got -1"),
        (lambda m: m.sample(0), "n must be"),
        (lambda m: m.sample(2.5), "n must be"),
        (lambda m: m.sample(3, steps=-5), "steps must be a whole number of at least 1, got -5"),
        (lambda m: m.sample(3, steps=0), "steps must be"),
        (lambda m: m.complete(np.ones(6, bool), steps=0, v=np.ones(6)), "steps must be"),
    ],
)
def test_counts_must_be_whole_and_positive(rbm_class, call, words):
    m = rbm_class(seed=0)
    refused(m, lambda: call(m), ValueError, words)


# ---------------------------------------------------------------- 3. masks
def test_a_mask_of_the_wrong_shape_is_named(rbm_class):
    m = rbm_class(seed=0)
    v = binary(4, 6)
    refused(m, lambda: m.complete(np.ones((4, 5), bool), v=v), ValueError, "mask: expected shape (4, 6)", "(4, 5)")
    refused(m, lambda: m.fit(v, mask=np.ones(3, bool)), ValueError, "mask: expected shape")


def test_a_mask_must_be_boolean(rbm_class):
    m = rbm_class(seed=0)
    v = binary(4, 6)
    mask = np.ones((4, 6))
    mask[1, 2] = 0.3
    refused(m, lambda: m.complete(mask, v=v), ValueError, "mask: expected booleans (or 0 and 1); found 0.3")
    refused(m, lambda: m.complete(np.full((4, 6), "yes"), v=v), TypeError, "mask: expected booleans")
    kept = m.complete(np.ones((4, 6)), v=v)  # 0/1 numbers are a mask too
    np.testing.assert_array_equal(kept, v)


def test_complete_reads_only_the_kept_units(rbm_class):
    m = rbm_class(seed=0)
    v = binary(3, 6)
    mask = np.ones((3, 6), bool)
    mask[:, 4:] = False
    corrupted = v.copy()
    corrupted[:, 4:] = np.nan  # unknown values may be anything
    filled = m.complete(mask, steps=20, v=corrupted)
    np.testing.assert_array_equal(filled[:, :4], v[:, :4])
    assert np.all((filled[:, 4:] > 0) & (filled[:, 4:] < 1))
    corrupted[0, 0] = 7.0  # a kept unit is checked
    refused(m, lambda: m.complete(mask, v=corrupted), ValueError, "v: bernoulli units", "row 0, column 0")


def test_one_samples_mask_applies_to_every_row(rbm_class):
    m = rbm_class(seed=0)
    v = binary(3, 6)
    mask = np.array([True, True, True, False, False, False])
    filled = m.complete(mask, steps=10, v=v)
    np.testing.assert_array_equal(filled[:, :3], v[:, :3])


# ---------------------------------------------------------------- 4. several visible groups
def test_two_groups_need_a_dict_with_exactly_their_names(two_class):
    m = two_class(seed=0)
    v1, v2 = binary(10, 3), binary(10, 2)
    refused(m, lambda: m.fit(v1), TypeError, "data: this model has 2 visible groups (v1, v2); pass a dict")
    refused(m, lambda: m.fit({"v1": v1}), ValueError, "data: the keys must be the visible groups v1, v2", "missing v2")
    refused(m, lambda: m.fit({"v1": v1, "v2": v2, "v3": v2}), ValueError, "unknown v3")
    refused(m, lambda: m.fit({"v1": v1, "v2": v2[:7]}), ValueError, "v2: 7 rows, but the other arrays have 10")
    refused(m, lambda: m.fit({"v1": v1, "v2": v2}, mask=np.ones((10, 3))), TypeError, "mask: this model has 2")
    assert len(m.fit({"v1": v1, "v2": v2}, epochs=1, batch=5)) == 1


# ---------------------------------------------------------------- 5. save and load
def test_load_of_other_dims_is_refused_unless_resize_is_asked(rbm_class, tmp_path):
    small, big = rbm_class(seed=1), rbm_class(seed=2, n_hidden=9)
    path = big.save(tmp_path / "big.npz")
    message = refused(small, lambda: small.load(path), ValueError, "n_hidden=9", "n_hidden=4", "resize=True")
    assert str(path) in message
    small.load(path, resize=True)
    assert small.dims["n_hidden"] == 9
    np.testing.assert_array_equal(small.params["W"], big.params["W"])


def test_a_half_valid_file_changes_nothing(rbm_class, tmp_path):
    m = rbm_class(seed=0)
    path = tmp_path / "bad.npz"
    arrays = {f"param.{k}": v for k, v in rbm_class(seed=5, n_hidden=3).params.items()}
    arrays["param.W"] = np.zeros((2, 2))
    np.savez(path, **arrays, **{"dim.n_visible": np.asarray(6), "dim.n_hidden": np.asarray(3)})
    refused(m, lambda: m.load(path, resize=True), ValueError, "param W must be (6, 3) numbers, got (2, 2)")
    arrays["param.W"] = np.full((6, 3), np.nan)
    np.savez(path, **arrays, **{"dim.n_visible": np.asarray(6), "dim.n_hidden": np.asarray(3)})
    refused(m, lambda: m.load(path, resize=True), ValueError, "param W holds values that are not finite")


def test_save_and_load_agree_on_the_file_name(rbm_class, tmp_path):
    m = rbm_class(seed=0)
    written = m.save(tmp_path / "noext")
    assert written == str(tmp_path / "noext.npz") and os.path.exists(written)
    other = rbm_class(seed=1).load(tmp_path / "noext")
    np.testing.assert_array_equal(other.params["W"], m.params["W"])
    assert sorted(os.listdir(tmp_path)) == ["noext.npz"]  # no temporary file left behind


def test_save_into_a_directory_is_refused(rbm_class, tmp_path):
    m = rbm_class(seed=0)
    refused(m, lambda: m.save(tmp_path), ValueError, "is a directory")
    refused(m, lambda: m.save(3), TypeError, "path must be a file name")
    assert os.listdir(tmp_path) == []


def test_save_follows_the_umask(rbm_class, tmp_path):
    old = os.umask(0o027)
    try:
        path = rbm_class(seed=0).save(tmp_path / "m.npz")
    finally:
        os.umask(old)
    assert os.stat(path).st_mode & 0o777 == 0o640


@pytest.mark.parametrize("kind", ["text", "npy", "empty", "damaged"])
def test_files_not_written_by_save_are_named(rbm_class, tmp_path, kind):
    path = tmp_path / "other.npz"
    if kind == "text":
        path.write_text("W = 1\n")
    elif kind == "npy":
        np.save(tmp_path / "other.npy", np.zeros(3))
        path = tmp_path / "other.npy"
    elif kind == "empty":
        path.write_bytes(b"")
    else:
        rbm_class(seed=0).save(path)
        path.write_bytes(path.read_bytes()[:60])
    m = rbm_class(seed=0)
    target = str(path) if str(path).endswith(".npz") else str(path) + ".npz"
    if kind == "npy":
        refused(m, lambda: m.load(path), FileNotFoundError)  # save never writes other.npy
        os.replace(path, target)
    refused(m, lambda: m.load(target), ValueError, target, "not")


# ---------------------------------------------------------------- 8. docstrings of the model's units
def test_docstrings_describe_the_models_own_units(spin_class, rbm_class):
    assert "a mean in [-1, 1] for the spin units of v" in spin_class.complete.__doc__
    assert "probability" not in spin_class.complete.__doc__
    assert "uniform over {-1, +1}" in spin_class._random_v.__doc__
    assert "uniform over {0, 1}" in rbm_class._random_v.__doc__
    assert "E[h | v] = tanh(" in spin_class.mean_h.__doc__
    assert "p(h = 1 | v) = sigmoid(" in rbm_class.mean_h.__doc__


# ---------------------------------------------------------------- 11. a group without a unit axis
def test_a_scalar_group_broadcast_against_another_runs():
    source = "model m { visible v[3] : bernoulli  hidden h : bernoulli  param W[3]  energy = -(h * sum(W * v)) }"
    m = ebmc.load(source).M(seed=0)
    m.params["W"][...] = [0.5, -1.0, 2.0]
    v = binary(8, 3)
    np.testing.assert_allclose(m.mean_h(v=v), 1 / (1 + np.exp(-(v @ m.params["W"]))))
    h = np.array([0.0, 1.0, 1.0])
    np.testing.assert_allclose(m.mean_v(h=h), 1 / (1 + np.exp(-np.outer(h, m.params["W"]))))
    assert m.sample(4, steps=3).shape == (4, 3)
    assert len(m.fit(v, epochs=1, batch=4)) == 1
    assert m.reconstruct(v=v).shape == (8, 3) and m.complete(np.ones(3, bool), steps=2, v=v).shape == (8, 3)
    states = np.array([[i >> j & 1 for j in range(3)] for i in range(8)], dtype=float)
    free = -np.log(1 + np.exp(states @ m.params["W"]))
    np.testing.assert_allclose(m.log_partition(), np.log(np.sum(np.exp(-free))))


# ---------------------------------------------------------------- 12. names of the model and of the code
@pytest.mark.parametrize("name", ["int", "range", "min", "bool", "max", "print", "ValueError", "n", "data", "lr"])
def test_unit_groups_may_have_the_names_of_builtins_and_of_the_codes_locals(name):
    source = RBM.replace("hidden  h[n_hidden]", f"hidden  {name}[n_hidden]")
    source = source.replace("(b @ h) - v @ W @ h", f"(b @ {name}) - v @ W @ {name}")
    m = ebmc.load(source, n_visible=6, n_hidden=4).Rbm(seed=0)
    v = binary(12, 6)
    assert len(m.fit(v, epochs=2, batch=4, verbose=False)) == 2
    assert m.sample(3, steps=2).shape == (3, 6)
    assert m.complete(np.ones(6, bool), steps=2, v=v).shape == (12, 6)
    mean = getattr(m, f"mean_{name}")(v=v)
    np.testing.assert_allclose(mean, 1 / (1 + np.exp(-(m.params["b"] + v @ m.params["W"]))))
    with pytest.raises(ValueError, match="lr must be"):  # the error path still works
        m.fit(v, lr=-1)


@pytest.mark.parametrize("name", ["v_model", "count", "h_model", "n", "rows", "np", "time", "history", "total_v"])
def test_params_may_have_the_names_of_the_codes_locals(name):
    source = RBM.replace("param b[n_hidden]  = 0", f"param {name}[n_hidden]").replace("(b @ h)", f"({name} @ h)")
    module = ebmc.load(source, n_visible=6, n_hidden=4)
    m = module.Rbm(seed=0)
    m.params[name][...] = 0.3
    v = binary(12, 6)
    history = m.fit(v, epochs=2, batch=4)
    plain = ebmc.load(RBM, n_visible=6, n_hidden=4).Rbm(seed=0)  # the same model with its usual names
    plain.params["b"][...] = 0.3
    expected = plain.fit(v, epochs=2, batch=4)
    assert [dict(r, seconds=0) for r in history] == [dict(r, seconds=0) for r in expected]
    np.testing.assert_allclose(m.params[name], plain.params["b"])
    np.testing.assert_array_equal(m.sample(2, steps=2), plain.sample(2, steps=2))


def test_a_model_named_like_a_builtin_is_refused():
    with pytest.raises(ebmc.EbmcError, match="class name 'ValueError' is already a Python builtin"):
        ebmc.compile(RBM.replace("model rbm", "model ValueError"))


# ---------------------------------------------------------------- 19. inits too large for float32
def test_an_init_too_large_for_float32_is_a_construction_error():
    module = ebmc.load(RBM.replace("normal(0, 0.01)", "normal(0, 1e300)"), n_visible=6, n_hidden=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="param W: values up to .* do not fit in float32"):
            module.Rbm(seed=0, dtype="float32")
        assert np.isfinite(module.Rbm(seed=0).params["W"]).all()  # float64 holds them


# ---------------------------------------------------------------- 15. file names in the docstrings
@pytest.mark.parametrize("name", ['a"""b.ebm', "back\\slash.ebm", 'quote".ebm', "tab\tname.ebm"])
def test_any_file_name_makes_a_valid_module(tmp_path, name):
    path = tmp_path / name
    path.write_text(RBM)
    source = ebmc.compile(path, n_visible=6, n_hidden=4).source
    namespace = {}
    exec(compile(source, "m.py", "exec"), namespace)
    shown = name.replace("\t", "?")
    assert f"from {shown}" in namespace["__doc__"] and f"compiled from {shown}" in namespace["Rbm"].__doc__


def test_a_file_name_that_is_not_utf8_makes_a_valid_module(tmp_path):
    path = os.path.join(os.fsencode(tmp_path), b"m\xff.ebm")
    with open(path, "wb") as f:
        f.write(RBM.encode())
    source = ebmc.compile(os.fsdecode(path), n_visible=6, n_hidden=4).source
    source.encode("utf-8")  # no lone surrogates in the text
    assert "from m\ufffd.ebm" in source
