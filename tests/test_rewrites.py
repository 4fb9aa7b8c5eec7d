"""Rewrite rules as data: the pattern language, the registry, fixpoints and the short forms they give."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from cases import build_random, random_leaf_values
from hypothesis import given, settings
from hypothesis import strategies as st

from ebmc.api import analyse_file
from ebmc.derive import derive
from ebmc.ir.evaluate import evaluate
from ebmc.ir.graph import Builder, args, formula
from ebmc.passes.autodiff import gradient_graph
from ebmc.passes.patterns import Rule, number, pattern, x
from ebmc.passes.simplify import RULES, Simplifier, simplify
from ebmc.plugins import registry

BM = """
model bm {
  dim n = 6
  dim m = 3
  visible v[n] : bernoulli
  hidden h[m] : bernoulli
  param L[n, n] ~ normal(0, 0.1) : symmetric, zero_diagonal
  param W[n, m] ~ normal(0, 0.1)
  param a[n] = 0
  param b[m] = 0
  energy = -(a @ v) - (b @ h) - v @ W @ h - 0.5 * v @ L @ v
}
"""

TWO = """
model two {
  dim n = 5
  dim k = 3
  dim m = 4
  visible v[n] : bernoulli
  visible y[k] : bernoulli
  hidden h[m] : bernoulli
  param W[n, m] ~ normal(0, 0.1)
  param U[k, m] ~ normal(0, 0.1)
  param a[n] = 0
  param b[k] = 0
  param c[m] = 0
  energy = -(a @ v) - (b @ y) - (c @ h) - v @ W @ h - y @ U @ h
}
"""


def fields(source: str) -> dict[str, str]:
    """group -> the formula of its field -dE/dX, as `ebmc derive` prints it."""
    (analysis,) = analyse_file(source)
    out = {}
    for name in analysis.groups:
        g = analysis.graphs[f"field_{name}"]
        out[name] = formula(g, g.graph["outputs"]["field"])
    return out


def terms(text: str) -> set[str]:
    """The terms of a formula that is a plain sum (no sign but +, no parentheses)."""
    assert "-" not in text and "(" not in text, text
    return set(text.split(" + "))


def test_the_field_of_a_coupled_symmetric_group_is_a_short_sum():
    """-dE/dv of -0.5 v L v with L symmetric is v @ L: L.T is L, and 0.5 v L + 0.5 v L is collected."""
    f = fields(BM)
    assert terms(f["v"]) == {"a", "v @ L", "h @ W.T"}
    assert terms(f["h"]) == {"b", "v @ W"}


def test_the_fields_of_two_visible_groups_are_short_sums():
    f = fields(TWO)
    assert terms(f["v"]) == {"a", "h @ W.T"}
    assert terms(f["y"]) == {"b", "h @ U.T"}
    assert terms(f["h"]) == {"c", "v @ W", "y @ U"}


def test_derive_prints_no_double_negation():
    for source in (BM, TWO):
        text = derive(analyse_file(source))
        assert "- (-" not in text and "-(-" not in text and "0.5 * v @ L.T" not in text, text


def test_without_symmetric_the_transpose_stays():
    f = fields(BM.replace(": symmetric, zero_diagonal", ""))
    assert "L.T" in f["v"], f["v"]


# ---------------------------------------------------------------- the pattern language
def test_patterns_capture_commute_and_refuse():
    b = Simplifier()
    v = b.var("v", "visible", (3,))
    zero = b.const(0.0)
    rule = Rule("t", pattern("add", x("x"), number(value=0.0), commute=True), lambda b, m: m["x"])
    from ebmc.passes.patterns import match

    m = match(b, rule, "add", (zero, v), {}, (3,))
    assert m is not None and m["x"] == v
    assert match(b, rule, "add", (v, v), {}, (3,)) is None
    same = Rule("same", pattern("mul", x("x"), x("x")), lambda b, m: m["x"])
    assert match(b, same, "mul", (v, v), {}, (3,)) is not None
    assert match(b, same, "mul", (v, zero), {}, (3,)) is None


def test_every_builtin_rule_is_registered_through_the_entry_point():
    reg = registry()
    assert [r.name for r in RULES] == [n for n in reg.rewrites if reg.origins[("rewrites", n)].startswith("ebmc:")]
    assert len({r.name for r in RULES}) == len(RULES)


@pytest.fixture
def extra_rule():
    """A throw-away rule registered as a plugin's would be: exp(log(x)) = x."""
    rule = Rule("exp-log", pattern("exp", pattern("log", x("x"))), lambda b, m: m["x"], doc="exp(log(x)) = x")
    reg = registry()
    reg.add("rewrites", rule, "test: throw-away")
    yield rule
    del reg.rewrites[rule.name]
    del reg.origins[("rewrites", rule.name)]


def test_a_registered_rule_is_applied(extra_rule):
    b = Builder()
    v = b.var("v", "visible", (3,))
    b.output("out", b.add("exp", b.add("log", v)))
    g = simplify(b.g)
    assert g.graph["outputs"]["out"] == next(n for n, d in g.nodes(data=True) if d.get("name") == "v")


def test_without_the_rule_nothing_happens():
    b = Builder()
    v = b.var("v", "visible", (3,))
    b.output("out", b.add("exp", b.add("log", v)))
    g = simplify(b.g)
    assert g.nodes[g.graph["outputs"]["out"]]["op"] == "exp"


def test_plugins_lists_the_rules(extra_rule, capsys):
    from ebmc.cli import main

    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    rewrites = out[out.index("rewrites:\n") :]
    assert any(line.split()[:2] == ["exp-log", "test:"] for line in rewrites.splitlines())
    assert any(line.split()[0] == "symmetric-transpose" for line in rewrites.splitlines()[1:])


# ---------------------------------------------------------------- fixpoint and values
def canonical(g: nx.DiGraph) -> list:
    """The graph's structure, independent of node numbering: one entry a node in topological order
    from the outputs, operands as positions in that order."""
    order = {}
    out = []
    for n in nx.lexicographical_topological_sort(g, key=lambda n: _sort_key(g, n)):
        d = g.nodes[n]
        order[n] = len(order)
        extra = tuple(sorted((k, v) for k, v in d.items() if k not in ("args", "attrs")))
        out.append((extra, tuple(sorted(d["attrs"].items())), tuple(order[a] for a in args(g, n))))
    return sorted(out, key=repr) + sorted(g.graph["outputs"])


def _sort_key(g, n):
    d = g.nodes[n]
    return repr((d["op"], d.get("name"), sorted(d["attrs"].items())))


def assert_fixpoint(g: nx.DiGraph) -> None:
    once = simplify(g)
    twice = simplify(once)
    assert len(twice) == len(once)
    assert canonical(twice) == canonical(once)


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(st.lists(st.tuples(*[st.integers(0, 10**6)] * 3), min_size=1, max_size=12))
def test_simplified_random_graphs_are_fixpoints(steps):
    b, _ = build_random(steps)
    assert_fixpoint(b.g)


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6)), min_size=1, max_size=8))
def test_simplified_gradient_graphs_are_fixpoints_and_keep_values(steps):
    b, _ = build_random(steps)
    g = gradient_graph(b.g, "out", ["x", "y", "W", "s"])
    assert_fixpoint(g)
    values = random_leaf_values(np.random.default_rng(0), batch=3)
    want, got = evaluate(g, values, {}, batch=3), evaluate(simplify(g), values, {}, batch=3)
    for name in want:
        np.testing.assert_allclose(np.broadcast_to(got[name], want[name].shape), want[name], rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("source", [BM, TWO])
def test_the_derived_graphs_of_the_models_are_fixpoints(source):
    (analysis,) = analyse_file(source)
    for key, g in analysis.graphs.items():
        assert canonical(simplify(g)) == canonical(simplify(simplify(g))), key


def test_symmetric_transpose_keeps_the_value():
    b = Builder()
    L = b.var("L", "param", (3, 3), symmetric=True)
    v = b.var("v", "visible", (3,))
    b.output("out", b.add("tensordot", v, b.transpose(L, (1, 0)), n=1))
    g = simplify(b.g)
    assert formula(g, g.graph["outputs"]["out"]) == "v @ L"
    rng = np.random.default_rng(0)
    A = rng.normal(size=(3, 3))
    values = {"L": A + A.T, "v": rng.normal(size=(2, 3))}
    np.testing.assert_allclose(evaluate(g, values, {}, batch=2)["out"], evaluate(b.g, values, {}, batch=2)["out"])
