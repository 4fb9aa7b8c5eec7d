"""Simplification: each rewrite does what it says, and no rewrite changes a value.

The reference for "no change" is evaluating the graph before and after on
random inputs, for hand-written graphs, gradient graphs and random ones.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from cases import MLP_DIMS, RBM_DIMS, build_random, mlp, mlp_values, random_leaf_values, rbm, rbm_values
from hypothesis import given, settings
from hypothesis import strategies as st

from ebmc.ir.evaluate import evaluate
from ebmc.ir.graph import Builder, args, describe
from ebmc.passes.autodiff import gradient_graph
from ebmc.passes.simplify import simplify


def simplified(b: Builder, n: int):
    """(graph, output node, its op) of `n` simplified on its own."""
    b.output("out", n)
    g = simplify(b.g)
    out = g.graph["outputs"]["out"]
    return g, out, g.nodes[out]["op"]


def leaf(g, n):
    """The var name or const value at node n."""
    d = g.nodes[n]
    return d["name"] if d["op"] == "var" else d["attrs"]["value"]


def assert_same_values(before: nx.DiGraph, after: nx.DiGraph, values, dims, batch=3):
    want = evaluate(before, values, dims, batch=batch)
    got = evaluate(after, values, dims, batch=batch)
    for name in want:
        np.testing.assert_allclose(
            np.broadcast_to(got[name], want[name].shape),
            want[name],
            rtol=1e-10,
            atol=1e-13,
            equal_nan=True,
            err_msg=name,
        )


@pytest.fixture
def b():
    return Builder()


# ---------------------------------------------------------------- folding
def test_constants_fold(b):
    two, three = b.const(2.0), b.const(3.0)
    g, out, op = simplified(b, b.add("mul", b.add("add", two, three), b.add("exp", b.const(0.0))))
    assert op == "const" and leaf(g, out) == 5.0
    assert len(g) == 1


def test_folding_keeps_the_shape(b):
    g, out, op = simplified(b, b.add("add", b.const(1.0, (2, 3)), b.const(0.5, (3,))))
    assert op == "const" and leaf(g, out) == 1.5 and g.nodes[out]["shape"] == (2, 3)


def test_folding_through_functions(b):
    g, out, op = simplified(b, b.add("sigmoid", b.add("sub", b.const(1.0), b.const(1.0))))
    assert op == "const" and leaf(g, out) == 0.5


@pytest.mark.parametrize(
    "op, operands",
    [("log", [0.0]), ("log", [-1.0]), ("div", [1.0, 0.0]), ("sqrt", [-1.0]), ("pow", [-8.0, 1 / 3])],
)
def test_non_finite_results_are_not_folded(b, op, operands):
    """log(0) or 1/0 stays an op: numpy then gives inf or nan at run time, as it would unsimplified."""
    g, out, got_op = simplified(b, b.add(op, *(b.const(v) for v in operands)))
    assert got_op == op


# ---------------------------------------------------------------- identities
X, Y, W = ("x", "visible", (3,)), ("y", "param", (3,)), ("W", "param", (3, 3))


def _vars(b):
    return b.var(*X), b.var(*Y), b.var(*W)


@pytest.mark.parametrize(
    "build, want",
    [
        (lambda b, x, y, W: b.add("add", x, b.const(0.0)), "x"),
        (lambda b, x, y, W: b.add("add", b.const(0.0), x), "x"),
        (lambda b, x, y, W: b.add("sub", x, b.const(0.0)), "x"),
        (lambda b, x, y, W: b.add("mul", x, b.const(1.0)), "x"),
        (lambda b, x, y, W: b.add("mul", b.const(1.0), x), "x"),
        (lambda b, x, y, W: b.add("div", x, b.const(1.0)), "x"),
        (lambda b, x, y, W: b.add("pow", x, b.const(1.0)), "x"),
        (lambda b, x, y, W: b.add("neg", b.add("neg", x)), "x"),
        (lambda b, x, y, W: b.add("transpose", b.add("transpose", W, perm=(1, 0)), perm=(1, 0)), "W"),
        (lambda b, x, y, W: b.add("sum_to", x, shape=(3,)), "x"),
        (lambda b, x, y, W: b.add("broadcast", x, shape=(3,)), "x"),
        (lambda b, x, y, W: b.add("mul", x, b.const(0.0)), 0.0),
        (lambda b, x, y, W: b.add("div", b.const(0.0), x), 0.0),
        (lambda b, x, y, W: b.add("tensordot", x, b.const(0.0, (3, 3)), n=1), 0.0),
        (lambda b, x, y, W: b.add("sum", b.const(0.0, (3,))), 0.0),
        (lambda b, x, y, W: b.add("broadcast", b.const(2.0), shape=(2, 3)), 2.0),
    ],
)
def test_identities_remove_the_op(b, build, want):
    x, y, W = _vars(b)
    g, out, _ = simplified(b, build(b, x, y, W))
    assert leaf(g, out) == want, describe(g)


@pytest.mark.parametrize(
    "build, want",
    [
        (lambda b, x, y, W: b.add("sub", b.const(0.0), x), "neg(x)"),
        (lambda b, x, y, W: b.add("mul", x, b.const(-1.0)), "neg(x)"),
        (lambda b, x, y, W: b.add("pow", x, b.const(2.0)), "square(x)"),
        (lambda b, x, y, W: b.add("neg", b.add("sub", x, y)), "sub(y, x)"),
        (lambda b, x, y, W: b.add("add", x, b.add("neg", y)), "sub(x, y)"),
        (lambda b, x, y, W: b.add("add", b.add("neg", x), y), "sub(y, x)"),
        (lambda b, x, y, W: b.add("sub", x, b.add("neg", y)), "add(x, y)"),
        (lambda b, x, y, W: b.add("mul", b.add("neg", x), b.add("neg", y)), "mul(x, y)"),
        (lambda b, x, y, W: b.add("mul", b.add("neg", x), y), "neg(mul(x, y))"),
        (lambda b, x, y, W: b.add("tensordot", b.add("neg", x), W, n=1), "neg(tensordot(x, W))"),
        (lambda b, x, y, W: b.add("tensordot", b.add("neg", x), b.add("neg", W), n=1), "tensordot(x, W)"),
        (lambda b, x, y, W: b.add("sum", b.add("neg", x)), "neg(sum(x))"),
        (lambda b, x, y, W: b.add("tensordot", x, b.const(2.0), n=0), "mul(x, 2)"),
    ],
)
def test_identities_rewrite(b, build, want):
    x, y, W = _vars(b)
    g, out, _ = simplified(b, build(b, x, y, W))
    assert formula(g, out) == want, describe(g)


def formula(g, n) -> str:
    """The node as op(args...) down to the leaves, for comparing structure."""
    d = g.nodes[n]
    if d["op"] in ("var", "const"):
        v = leaf(g, n)
        return v if isinstance(v, str) else f"{v:g}"
    return f"{d['op']}({', '.join(formula(g, a) for a in args(g, n))})"


@pytest.mark.parametrize(
    "build",
    [
        lambda b, x: b.add("add", x, b.const(0.0, (2, 3))),  # the zero broadcasts x: not just x
        lambda b, x: b.add("mul", x, b.const(1.0, (2, 3))),
        lambda b, x: b.add("sub", b.const(0.0, (2, 3)), x),
        lambda b, x: b.add("div", x, b.const(1.0, (2, 1, 3))),
        lambda b, x: b.add("pow", x, b.const(1.0, (2, 3))),
    ],
)
def test_identities_keep_a_broadcast_shape(b, build):
    x = b.var("x", "visible", (3,))
    before = build(b, x)
    b.output("out", before)
    g = simplify(b.g)
    assert g.nodes[g.graph["outputs"]["out"]]["shape"] == b.shape(before)
    assert_same_values(b.g, g, {"x": np.arange(9.0).reshape(3, 3) - 4}, {})


# ---------------------------------------------------------------- like terms
S = ("s", "param", ())  # a scalar: a term that broadcasts nothing


def _chain_vars(b):
    return b.var(*X), b.var(*Y), b.var(*S)


@pytest.mark.parametrize(
    "build, want",
    [
        (lambda b, x, y, s: b.add("sub", x, x), 0.0),
        (lambda b, x, y, s: b.add("sub", b.add("add", y, x), x), "y"),  # (a + x) - x = a
        (lambda b, x, y, s: b.add("add", b.add("sub", y, x), x), "y"),  # a - x + x = a
        (lambda b, x, y, s: b.add("add", x, b.add("neg", x)), 0.0),  # x + (-x) = 0
        (lambda b, x, y, s: b.add("add", b.add("neg", x), x), 0.0),
        (lambda b, x, y, s: b.add("sub", b.add("sub", b.add("neg", y), x), b.add("neg", x)), "neg(y)"),
        (lambda b, x, y, s: b.add("sub", b.add("mul", b.const(2.0), x), x), "x"),  # 2 x - x = x
        (lambda b, x, y, s: b.add("sub", b.add("mul", x, b.const(0.5)), b.add("mul", b.const(0.5), x)), 0.0),
        (
            lambda b, x, y, s: b.add("add", b.add("add", b.add("add", x, b.const(1.0)), b.const(2.0)), x),
            "add(mul(2, x), 3)",  # x + 1 + 2 + x
        ),
        (lambda b, x, y, s: b.add("sub", b.add("add", b.add("add", x, b.const(1.0)), b.const(2.0)), b.const(3.0)), "x"),
        (lambda b, x, y, s: b.add("sub", x, b.add("sub", b.add("neg", y), s)), "add(add(x, y), s)"),  # fewer signs
        (lambda b, x, y, s: b.add("neg", b.add("sub", b.add("neg", x), y)), "add(y, x)"),
        (lambda b, x, y, s: b.add("mul", y, x), "mul(y, x)"),  # nothing to share: kept as written
    ],
)
def test_like_terms_are_collected(b, build, want):
    x, y, s = _chain_vars(b)
    g, out, _ = simplified(b, build(b, x, y, s))
    got = leaf(g, out) if g.nodes[out]["op"] in ("var", "const") else formula(g, out)
    assert got == want, describe(g)
    rng = np.random.default_rng(0)
    values = {"x": rng.normal(size=(3, 3)), "y": rng.normal(size=3), "s": rng.normal()}
    assert_same_values(b.g, g, values, {})


def test_terms_alike_up_to_the_order_of_a_product_cancel(b):
    x, y, s = _chain_vars(b)
    xy, yx = b.add("mul", x, y), b.add("mul", y, x)
    g, out, _ = simplified(b, b.add("sub", b.add("sum", xy), b.add("sum", yx)))
    assert leaf(g, out) == 0.0
    b2 = Builder()
    x2, y2, _ = _chain_vars(b2)
    g, out, _ = simplified(b2, b2.add("add", b2.add("mul", y2, x2), b2.add("add", x2, b2.add("mul", x2, y2))))
    assert formula(g, out) == "add(mul(2, mul(y, x)), x)", describe(g)  # the first of the two is kept


@pytest.mark.parametrize(
    "build",
    [
        lambda b, x, y, s: b.add("sub", b.add("add", s, x), x),  # s + x - x: x broadcast s to [3]
        lambda b, x, y, s: b.add("add", b.add("sub", s, x), x),
        lambda b, x, y, s: b.add("sub", b.add("add", s, b.var("M", "param", (2, 3))), b.var("M", "param", (2, 3))),
        lambda b, x, y, s: b.add("sub", b.add("add", b.const(1.0), x), x),
        lambda b, x, y, s: b.add("sub", b.add("add", s, b.const(1.0, (2, 3))), b.const(1.0, (2, 3))),
        lambda b, x, y, s: b.add("sub", b.add("add", s, b.var("C", "param", (2, 1))), b.var("C", "param", (2, 1))),
    ],
)
def test_a_cancelled_term_that_broadcast_leaves_a_zero_of_the_right_shape(b, build):
    x, y, s = _chain_vars(b)
    before = build(b, x, y, s)
    b.output("out", before)
    g = simplify(b.g)
    out = g.graph["outputs"]["out"]
    assert g.nodes[out]["shape"] == b.shape(before)
    assert "M" not in {d.get("name") for _, d in g.nodes(data=True)}
    rng = np.random.default_rng(2)
    values = {
        "x": rng.normal(size=(3, 3)),
        "s": rng.normal(),
        "M": rng.normal(size=(2, 3)),
        "C": rng.normal(size=(2, 1)),
    }
    assert_same_values(b.g, g, values, {})


def test_a_long_chain_is_left_alone_and_keeps_its_value(b):
    x, y, s = _chain_vars(b)
    total = x
    for i in range(200):
        total = b.add("add", total, b.add("mul", b.const(float(i + 2)), y))
    total = b.add("sub", total, x)
    g, out, _ = simplified(b, total)
    rng = np.random.default_rng(3)
    assert_same_values(b.g, g, {"x": rng.normal(size=(3, 3)), "y": rng.normal(size=3)}, {})


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["add", "sub", "neg", "twice"]), st.integers(0, 5), st.booleans()),
        min_size=1,
        max_size=10,
    )
)
def test_random_chains_of_sums_keep_value_and_shape(steps):
    """Chains of + and - over terms of shapes that broadcast, terms repeated so that many cancel."""
    b = Builder()
    pool = [b.var("x", "visible", (3,)), b.var("y", "param", ()), b.var("z", "param", (2, 1)), b.const(1.5)]
    pool += [b.add("exp", pool[0]), b.add("mul", b.const(-2.0), pool[1])]
    total = pool[0]
    for kind, i, right in steps:
        t = pool[i % len(pool)]
        if kind == "neg":
            total = b.add("neg", total)
        elif kind == "twice":
            total = b.add("add", total, b.add("mul", b.const(2.0), t) if right else t)
        else:
            total = b.add(kind, total, t) if right else b.add(kind, t, total)
    b.output("out", total)
    g = simplify(b.g)
    assert g.nodes[g.graph["outputs"]["out"]]["shape"] == b.shape(total)
    rng = np.random.default_rng(len(steps))
    values = {"x": rng.normal(size=(3, 3)), "y": rng.normal(), "z": rng.normal(size=(2, 1))}
    assert_same_values(b.g, g, values, {})
    assert len(simplify(g)) == len(g)


# ---------------------------------------------------------------- CSE and DCE
def test_cse_merges_a_repeated_subexpression():
    """A graph built by hand (not hash-consed) with exp(x @ W) twice: one node afterwards."""
    g = nx.DiGraph(outputs={})
    g.add_node(0, op="var", shape=(3,), attrs={"shape": (3,)}, name="x", role="visible")
    g.add_node(1, op="var", shape=(3, 2), attrs={"shape": (3, 2)}, name="W", role="param")
    for first in (2, 4):
        g.add_node(first, op="tensordot", shape=(2,), attrs={"n": 1})
        g.add_edge(0, first, arg=0)
        g.add_edge(1, first, arg=1)
        g.add_node(first + 1, op="exp", shape=(2,), attrs={})
        g.add_edge(first, first + 1, arg=0)
    g.add_node(6, op="mul", shape=(2,), attrs={})
    g.add_edge(3, 6, arg=0)
    g.add_edge(5, 6, arg=1)
    g.graph["outputs"]["out"] = 6
    s = simplify(g)
    ops = sorted(d["op"] for _, d in s.nodes(data=True))
    assert ops == ["exp", "mul", "tensordot", "var", "var"], describe(s)
    mul = s.graph["outputs"]["out"]
    assert len(set(args(s, mul))) == 1  # exp(x @ W) * exp(x @ W): one node used twice
    rng = np.random.default_rng(0)
    assert_same_values(g, s, {"x": rng.normal(size=(3, 3)), "W": rng.normal(size=(3, 2))}, {})


def test_builder_never_builds_a_node_twice(b):
    x, y, W = _vars(b)
    first = b.add("sigmoid", b.add("tensordot", x, W, n=1))
    again = b.add("sigmoid", b.add("tensordot", x, W, n=1))
    assert first == again and len(b.g) == 5


def test_dce_drops_unused_nodes(b):
    x, y, W = _vars(b)
    b.add("exp", b.add("tensordot", W, W, n=1))  # never used
    kept = b.add("add", x, y)
    b.output("out", b.add("add", kept, b.add("mul", b.add("exp", W), b.const(0.0, (3, 3)))))
    g = simplify(b.g)
    assert sorted(d["op"] for _, d in g.nodes(data=True)) == ["add", "add", "const", "var", "var"], describe(g)
    assert "W" not in {d.get("name") for _, d in g.nodes(data=True)}


def test_simplify_keeps_graph_attributes_and_leaves_the_input_alone(b):
    x, y, W = _vars(b)
    b.output("out", b.add("add", x, b.const(0.0)))
    b.g.graph["model"] = "rbm"
    before = describe(b.g)
    g = simplify(b.g)
    assert g.graph["model"] == "rbm" and describe(b.g) == before


# ---------------------------------------------------------------- values never change
def _gradients(g, output, wrt):
    return gradient_graph(g, output, wrt)


GRAPHS = {
    "rbm": (lambda: rbm().g, lambda rng: rbm_values(rng), RBM_DIMS),
    "rbm-grad": (lambda: _gradients(rbm().g, "energy", ["W", "a", "b", "v", "h"]), rbm_values, RBM_DIMS),
    "mlp": (lambda: mlp().g, mlp_values, MLP_DIMS),
    "mlp-grad": (lambda: _gradients(mlp().g, "loss", ["W1", "b1", "W2", "b2", "x"]), mlp_values, MLP_DIMS),
}


@pytest.mark.parametrize("name", list(GRAPHS))
def test_simplify_keeps_values(name):
    build, values, dims = GRAPHS[name]
    g = build()
    s = simplify(g)
    assert len(s) <= len(g)
    assert_same_values(g, s, values(np.random.default_rng(1)), dims)


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6)),
        min_size=1,
        max_size=12,
    )
)
def test_simplify_keeps_values_of_random_graphs(steps):
    b, _ = build_random(steps)
    s = simplify(b.g)
    assert_same_values(b.g, s, random_leaf_values(np.random.default_rng(len(steps)), batch=3), {})
    again = simplify(s)
    assert len(again) == len(s), (describe(s), describe(again))  # nothing left to rewrite


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6)), min_size=1, max_size=8))
def test_simplify_keeps_values_of_random_gradient_graphs(steps):
    b, _ = build_random(steps)
    g = gradient_graph(b.g, "out", ["x", "y", "W", "s"])
    assert_same_values(g, simplify(g), random_leaf_values(np.random.default_rng(0), batch=3), {})
