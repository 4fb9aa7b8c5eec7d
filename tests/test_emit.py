"""The numpy emitter: the statements it writes compute what the graph says, in place or not."""

import numpy as np
from cases import RBM_DIMS, build_random, random_leaf_values, rbm, rbm_values
from hypothesis import given, settings
from hypothesis import strategies as st

from ebmc.backends.numpy.emit import MAX_NESTING, Emitter, NumpyContext
from ebmc.ir import runtime
from ebmc.ir.evaluate import evaluate
from ebmc.ir.graph import Builder, leaves
from ebmc.passes.autodiff import gradient_graph
from ebmc.passes.simplify import simplify

BATCH = 3


def run_emitted(g, values, dims, inplace):
    """Emit g's outputs as the body of a function, run it; also return its source."""
    ctx = NumpyContext(dims_code="dims", dtype_code="np.float64", batch_size="B")
    names = sorted(leaves(g))
    em = Emitter(g, ctx, {n: n for n in names}, inplace=inplace)
    result = em.emit(g.graph["outputs"])
    body = [*em.lines, "return {" + ", ".join(f"{k!r}: {v}" for k, v in result.items()) + "}"]
    source = f"def f({', '.join([*names, 'dims', 'B'])}):\n" + "\n".join("    " + line for line in body)
    namespace = {"np": np, **{"_" + k: v for k, v in runtime.load().items()}}
    exec(source, namespace)
    copies = {k: np.array(v) for k, v in values.items() if k in names}
    out = namespace["f"](**copies, dims=dims, B=BATCH)
    for k in copies:  # writing in place must never touch an input
        np.testing.assert_array_equal(copies[k], values[k], err_msg=f"input {k} was overwritten\n{source}")
    return out, source


def assert_emits_the_graph(g, values, dims):
    want = evaluate(g, values, dims, batch=BATCH)
    for inplace in (False, True):
        got, source = run_emitted(g, values, dims, inplace)
        for name in want:
            np.testing.assert_allclose(
                np.broadcast_to(got[name], np.shape(want[name])),
                want[name],
                rtol=1e-10,
                atol=1e-12,
                equal_nan=True,
                err_msg=f"{name}\n{source}",
            )


steps = st.lists(st.tuples(*[st.integers(0, 10**6)] * 3), min_size=1, max_size=12)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(steps)
def test_random_graphs(steps):
    b, _ = build_random(steps)
    assert_emits_the_graph(simplify(b.g), random_leaf_values(np.random.default_rng(1), batch=BATCH), {})


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(steps)
def test_random_gradient_graphs(steps):
    b, _ = build_random(steps)
    g = simplify(gradient_graph(b.g, "out", ["x", "y", "W", "s"]))
    assert_emits_the_graph(g, random_leaf_values(np.random.default_rng(2), batch=BATCH), {})


def test_inplace_overwrites_the_product_for_the_field():
    g = simplify(gradient_graph(rbm().g, "energy", ["h"]))  # dE/dh = -(v @ W) - b
    values = rbm_values(np.random.default_rng(0))
    assert_emits_the_graph(g, values, RBM_DIMS)
    _, source = run_emitted(g, values, RBM_DIMS, inplace=True)
    assert "_t1 = v @ W" in source and ("_t1 += b" in source or "-= b" in source or "out=_t1" in source)


def test_a_deep_chain_of_values_used_once_is_cut_into_statements_of_bounded_depth():
    """Inlined, 400 layers would be one expression of 400 nested calls: more than Python parses."""
    b = Builder()
    x = b.var("x", "visible", ("N",))
    w = b.var("W", "param", ("N",))
    y = x
    for i in range(400):
        y = b.add("tanh", b.add("mul", y, w)) if i % 2 else b.add("add", b.add("tanh", y), w)
    b.output("out", b.add("sum", y))
    rng = np.random.default_rng(3)
    values = {"x": rng.normal(size=(BATCH, 3)), "W": rng.normal(size=3)}
    assert_emits_the_graph(b.g, values, {"N": 3})
    for inplace in (False, True):
        _, source = run_emitted(b.g, values, {"N": 3}, inplace)
        body = source.splitlines()[1:]
        assert max(line.count("(") for line in body) <= 2 * MAX_NESTING
        assert len(body) >= 800 // MAX_NESTING
