"""The op table: numpy rules with and without the batch axis, shape rules, sympy rules.

The references are independent of the rules under test: a plain numpy formula
per case (opcases.py), the per-sample value stacked over the batch, and the
op's sympy rule evaluated on numbers.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import sympy
from cases import BATCH, CASES, DIMS, case_graph, case_values, resolve

from ebmc.ir.evaluate import EvaluationError, NumpyContext, evaluate
from ebmc.ir.graph import Builder, batched
from ebmc.ir.ops import FUNCTIONS, OPS, ShapeError, broadcast_shapes
from ebmc.passes.symbolic import sympy_attrs

LEAVES = ("var", "const", "numel", "batch_size")
BATCH_OPS = ("batch_sum", "batch_tensordot")
FLAGGED = [
    pytest.param(case, flags, id=f"{case.id}-{''.join('B' if f else 'u' for f in flags)}")
    for case in CASES
    for flags in itertools.product([False, True], repeat=len(case.shapes))
]


def sample(values, flags, s):
    """The values of sample s: batched operands sliced, the others as they are."""
    return {k: (v[s] if f else v) for (k, v), f in zip(values.items(), flags, strict=True)}


def test_every_op_is_covered():
    covered = {case.op for case in CASES} | set(LEAVES) | set(BATCH_OPS)
    assert set(OPS) <= covered, f"ops without a test case: {set(OPS) - covered}"


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_unbatched_matches_numpy_reference(case):
    rng = np.random.default_rng(0)
    values = case_values(rng, case)
    got = evaluate(case_graph(case).g, values, DIMS)["y"]
    want = case.ref(*values.values())
    assert got.shape == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case, flags", FLAGGED)
def test_batched_equals_per_sample_stack(case, flags):
    """The batched emission is the per-sample one stacked, for every choice of batched operands."""
    rng = np.random.default_rng(1)
    g = case_graph(case, flags).g
    values = case_values(rng, case, flags, BATCH)
    got = evaluate(g, values, DIMS, batch=BATCH)["y"]
    per_sample = np.stack([evaluate(g, sample(values, flags, s), DIMS)["y"] for s in range(BATCH)])
    if not any(flags):  # nothing batched: one value for all samples, no batch axis
        assert got.shape == per_sample.shape[1:]
        got = np.broadcast_to(got, per_sample.shape)
    np.testing.assert_allclose(got, per_sample, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_sympy_rule_agrees_with_numpy(case):
    rng = np.random.default_rng(2)
    values = case_values(rng, case)
    want = evaluate(case_graph(case).g, values, DIMS)["y"]
    to_sympy = np.vectorize(lambda x: sympy.Float(float(x)), otypes=[object])
    out = OPS[case.op].sympy([to_sympy(v) for v in values.values()], sympy_attrs(case.attrs, DIMS))
    got = np.asarray(out, dtype=object).astype(np.float64)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- the batch ops
TENSORDOTS = [c for c in CASES if c.op == "tensordot"]


@pytest.mark.parametrize("case, flags", [p for p in FLAGGED if p.values[0].op == "tensordot"])
def test_batch_tensordot_is_sum_over_samples(case, flags):
    """Both operands batched is the fused BLAS call; with a constant operand it still sums the batch."""
    rng = np.random.default_rng(3)
    b = Builder()
    xs = [
        b.var(f"x{i}", "visible" if f else "param", s) for i, (s, f) in enumerate(zip(case.shapes, flags, strict=True))
    ]
    b.output("y", b.add("batch_tensordot", *xs, **case.attrs))
    assert not batched(b.g)[b.g.graph["outputs"]["y"]]
    values = case_values(rng, case, flags, BATCH)
    got = evaluate(b.g, values, DIMS, batch=BATCH)["y"]
    want = sum(case.ref(*sample(values, flags, s).values()) for s in range(BATCH))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(), (3,), (2, "N")])
@pytest.mark.parametrize("is_batched", [False, True])
def test_batch_sum_is_sum_over_samples(shape, is_batched):
    rng = np.random.default_rng(4)
    b = Builder()
    b.output("y", b.add("batch_sum", b.var("x", "visible" if is_batched else "param", shape)))
    x = rng.normal(size=((BATCH,) if is_batched else ()) + resolve(shape))
    got = evaluate(b.g, {"x": x}, DIMS, batch=BATCH)["y"]
    want = x.sum(axis=0) if is_batched else BATCH * x
    np.testing.assert_allclose(got, want, rtol=1e-12)


# ---------------------------------------------------------------- leaves
def test_leaves():
    b = Builder()
    b.output("c", b.const(2.5))
    b.output("full", b.const(-1.5, (2, "N")))
    b.output("inf", b.const(float("-inf"), (2,)))
    b.output("count", b.numel(("N", "M", 4)))
    b.output("named", b.add("numel", dims=("N", "M")))
    b.output("batch", b.add("batch_size"))
    got = evaluate(b.g, {}, DIMS, batch=5)
    assert got["c"] == 2.5
    np.testing.assert_array_equal(got["full"], np.full((2, 3), -1.5))
    np.testing.assert_array_equal(got["inf"], [-np.inf, -np.inf])
    assert got["count"] == 24.0 and got["named"] == 6.0
    assert got["batch"] == 5


def test_context_numbers_are_code():
    ctx = NumpyContext(DIMS)
    ns = {"np": np}
    for x in (0.0, 1.5, -2.25, 1e-300, float("inf"), float("-inf")):
        assert eval("0 - " + ctx.number(x), ns) == -x
    assert np.isnan(eval(ctx.number(float("nan")), ns))
    assert eval(ctx.shape(("N", 2)), ns) == (3, 2) and eval(ctx.shape(("M",)), ns) == (2,)
    assert eval(ctx.shape(()), ns) == ()
    assert eval(ctx.numel(("N", "M")), ns) == 6


def test_evaluate_reports_bad_inputs():
    b = Builder()
    b.output("y", b.add("exp", b.var("v", "visible", ("N",))))
    with pytest.raises(EvaluationError, match="no value given for 'v'"):
        evaluate(b.g, {}, DIMS, batch=2)
    with pytest.raises(EvaluationError, match=r"should have shape \(2, 3\)"):
        evaluate(b.g, {"v": np.zeros(3)}, DIMS, batch=2)
    with pytest.raises(EvaluationError, match="no size given for dim 'N'"):
        evaluate(b.g, {"v": np.zeros(3)}, {})


def test_helpers_are_stable():
    b = Builder()
    x = b.var("x", "param", (3,))
    for f in ("sigmoid", "softplus", "log_sigmoid", "logsumexp", "softmax"):
        b.output(f, b.add(f, x))
    got = evaluate(b.g, {"x": np.array([-1000.0, 0.0, 1000.0])}, DIMS)
    assert np.all(np.isfinite(np.concatenate([np.ravel(v) for v in got.values()])))
    # float64 computes exp(-x) with its argument at most 700: sigmoid(-1000) is 1e-304, not 5e-435
    np.testing.assert_allclose(got["sigmoid"], [0.0, 0.5, 1.0], atol=1e-300)
    np.testing.assert_allclose(got["softplus"], [0.0, np.log(2.0), 1000.0])
    np.testing.assert_allclose(got["log_sigmoid"], [-1000.0, -np.log(2.0), 0.0])
    np.testing.assert_allclose(got["logsumexp"], 1000.0)
    np.testing.assert_allclose(got["softmax"], [0.0, 0.0, 1.0])


def test_float32():
    b = Builder()
    x = b.var("x", "visible", (3,))
    b.output("y", b.add("sum", b.add("sigmoid", b.add("mul", x, b.const(2.0, (2, 3))))))
    b.output("step", b.add("step", x))  # a number, not a bool: sign(step(x)) must work
    got = evaluate(b.g, {"x": np.ones((4, 3))}, DIMS, batch=4, dtype=np.float32)
    assert got["y"].dtype == np.float32 and got["y"].shape == (4,)
    assert got["step"].dtype == np.float32


# ---------------------------------------------------------------- shape rules
@pytest.mark.parametrize(
    "shapes, want",
    [
        (((), ()), ()),
        (((3,), ()), (3,)),
        (((2, 1), (1, 3)), (2, 3)),
        (((4, 1, "N"), (2, 1)), (4, 2, "N")),
        ((("N",), (2, "N")), (2, "N")),
        (((1,), ("M",)), ("M",)),
    ],
)
def test_broadcast_shapes(shapes, want):
    assert broadcast_shapes(*shapes) == want


def test_broadcast_mismatch():
    with pytest.raises(ShapeError, match=r"shapes \[2, 3\] and \[4\] do not broadcast \(axis -1: 3 vs 4\)"):
        broadcast_shapes((2, 3), (4,))
    b = Builder()
    with pytest.raises(ShapeError, match="N vs M"):
        b.add("add", b.var("x", "param", ("N",)), b.var("y", "param", ("M",)))


def test_tensordot_shapes():
    b = Builder()
    W = b.var("W", "param", ("N", "M"))
    v = b.var("v", "visible", ("N",))
    h = b.var("h", "hidden", ("M",))
    assert b.shape(b.add("tensordot", v, W, n=1)) == ("M",)
    assert b.shape(b.add("tensordot", v, b.add("tensordot", W, h, n=1), n=1)) == ()
    assert b.shape(b.add("tensordot", v, h, n=0)) == ("N", "M")
    assert b.shape(b.add("tensordot", W, W, n=2)) == ()
    with pytest.raises(ShapeError, match=r"\[N, M\] @ \[N, M\] pairs M with N"):
        b.add("tensordot", W, W, n=1)
    with pytest.raises(ShapeError, match="the right side is a scalar"):
        b.add("tensordot", v, b.const(2.0), n=1)
    with pytest.raises(ShapeError, match="the left side is a scalar"):
        b.add("tensordot", b.const(2.0), v, n=1)
    with pytest.raises(ShapeError):
        b.add("tensordot", v, W, n=2)


def test_other_shape_rules():
    b = Builder()
    x = b.var("x", "param", (2, 3))
    s = b.var("s", "param", ())
    assert b.shape(b.add("transpose", x, perm=(1, 0))) == (3, 2)
    assert b.shape(b.add("sum_last", x)) == (2, 1)
    assert b.shape(b.add("sum_to", x, shape=(1, 3))) == (1, 3)
    assert b.shape(b.add("broadcast", x, shape=(4, 2, 3))) == (4, 2, 3)
    with pytest.raises(ShapeError, match=r"axes \(0, 0\) do not permute"):
        b.add("transpose", x, perm=(0, 0))
    with pytest.raises(ShapeError, match="softmax needs at least one axis"):
        b.add("softmax", s)
    with pytest.raises(ShapeError, match="last axis needs at least one axis"):
        b.add("sum_last", s)
    with pytest.raises(ShapeError, match=r"cannot sum a \[2, 3\] value down to \[2\]"):
        b.add("sum_to", x, shape=(2,))
    with pytest.raises(ShapeError, match="cannot sum"):
        b.add("sum_to", x, shape=(4, 2, 3))
    with pytest.raises(ShapeError, match=r"cannot broadcast a \[2, 3\] value to \[3, 3\]"):
        b.add("broadcast", x, shape=(3, 3))
    with pytest.raises(ShapeError, match="cannot broadcast"):
        b.add("broadcast", x, shape=(3,))


def test_functions_expand_to_the_formula():
    rng = np.random.default_rng(5)
    b = Builder()
    y = b.var("y", "output", ("N",))
    t = b.var("t", "target", ("N",))
    for name, fn in FUNCTIONS.items():
        b.output(name, fn.expand(b, *([y, t] if fn.arity == 2 else [y])))
    yv, tv = rng.uniform(0.1, 0.9, size=(2, 3)), rng.uniform(0.1, 0.9, size=(2, 3))
    got = evaluate(b.g, {"y": yv, "t": tv}, DIMS, batch=2)
    np.testing.assert_allclose(got["mean"], yv.mean(axis=1))
    np.testing.assert_allclose(got["mse"], ((yv - tv) ** 2).mean(axis=1))
    np.testing.assert_allclose(got["cross_entropy"], -(tv * np.log(yv)).sum(axis=1))
    bce = -(tv * np.log(yv) + (1 - tv) * np.log(1 - yv)).mean(axis=1)
    np.testing.assert_allclose(got["binary_cross_entropy"], bce)
    np.testing.assert_allclose(got["logsumexp"], np.log(np.exp(yv).sum(axis=1)))
