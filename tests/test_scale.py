"""Models deep in layers: output linear in the graph, and no walk that recursion limits can stop.

Every formula printed with its `where` lines is evaluated with numpy and compared
with the IR evaluator; every generated module against a numpy version of the model
written here.
"""

import ast
import time

import numpy as np
import pytest

import ebmc
from ebmc.api import analyse_file
from ebmc.derive import check, derive, latex
from ebmc.ir.evaluate import evaluate
from ebmc.ir.graph import NEST_DEPTH, SHARE_LENGTH, Builder, formula, formula_parts
from ebmc.passes.batch import batch_sums
from ebmc.passes.symbolic import MAX_DEPTH, SymbolicError, lambdify, symbolic_gradients, to_sympy

N = 4  # the dim n of the models below

# layer bodies: the text, and the same step in numpy
TWICE = ("s{i} = s{p} + s{p}", lambda u: u + u)
RESIDUAL = ("s{i} = s{p} + tanh(s{p})", lambda u: u + np.tanh(u))
HALF_RESIDUAL = ("s{i} = tanh(s{p}) * 0.5 + s{p}", lambda u: np.tanh(u) * 0.5 + u)
TANH = ("s{i} = tanh(s{p})", np.tanh)


def layered(depth: int, body: str) -> str:
    """An RBM whose hidden units also see `depth` layers of params: E = -sum(s_depth * h) - v V h - b h."""
    layers = "\n".join(f"    layer {body.format(i=i, p=i - 1)}" for i in range(1, depth + 1))
    return f"""model deep {{
    dim n = {N}
    visible v[n] : bernoulli
    hidden h[n] : bernoulli
    param W[n, n] ~ normal(0, 0.5)
    param V[n, n] ~ normal(0, 0.5)
    param b[n] ~ normal(0, 0.5)
    param c[n] ~ normal(0, 1)
    layer s0 = c @ W
{layers}
    energy = -sum(s{depth} * h) - v @ V @ h - b @ h
}}
"""


def analyse(tmp_path, source):
    path = tmp_path / "deep.ebm"
    path.write_text(source)
    (analysis,) = analyse_file(path)
    return analysis


def reference(params, step, depth, v, h):
    """energy, free energy and p(h = 1 | v) of `layered(depth, ...)`, in plain numpy."""
    s = params["c"] @ params["W"]
    for _ in range(depth):
        s = step(s)
    field = s + v @ params["V"] + params["b"]
    energy = -(h * s).sum(axis=1) - np.einsum("bi,ij,bj->b", v, params["V"], h) - h @ params["b"]
    return energy, -np.logaddexp(0.0, field).sum(axis=1), 1 / (1 + np.exp(-field))


FUNCTIONS = {
    "tanh": np.tanh,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "softplus": lambda x: np.logaddexp(0.0, x),
    "square": np.square,
    "sum": np.sum,
    "outer": np.outer,
}


def run_formula(text: str, values: dict):
    """The value of a printed formula: its `where` lines assigned in order, then the formula itself
    (the notation is numpy's, one sample)."""
    main, *where = text.split("\n")
    env = {**FUNCTIONS, **values}
    for line in where:
        name, _, body = line.removeprefix("where ").partition(" = ")
        assert name.startswith("_") and name[1:].isdigit(), line
        assert name not in env, f"{name} defined twice"
        env[name] = eval(body, env)
    return eval(main, env)


def point(analysis, rng):
    names = {"v": (N,), "h": (N,), "W": (N, N), "V": (N, N), "b": (N,), "c": (N,)}
    values = {k: rng.normal(0, 0.5, shape) for k, shape in names.items()}
    values["v"], values["h"] = (rng.random(N) < 0.5).astype(float), (rng.random(N) < 0.5).astype(float)
    return values


def assert_formulas_compute_the_graphs(analysis, rng):
    """Every formula `ebmc derive` prints, with its where lines, against the graph it prints."""
    values = point(analysis, rng)
    dims = {"n": N}
    graphs = [analysis.graphs[k] for k in ("energy", "free_energy", "conditional_h", "grad")]
    for g in graphs:
        want = evaluate(g, values, dims)
        for name, n in g.graph["outputs"].items():
            got = run_formula(formula(g, n), values)
            np.testing.assert_allclose(got, want[name], rtol=1e-9, atol=1e-9, err_msg=formula(g, n))


# ---------------------------------------------------------------- 13: linear output
def test_compile_time_and_module_size_grow_linearly_with_the_layers():
    sizes, times, longest = {}, {}, {}
    for depth in (10, 20, 40):
        start = time.perf_counter()
        source = ebmc.compile(layered(depth, RESIDUAL[0])).source
        times[depth] = time.perf_counter() - start
        sizes[depth] = len(source)
        tree = ast.parse(source)
        docs = [ast.get_docstring(x, clean=False) for x in ast.walk(tree) if isinstance(x, ast.FunctionDef)]
        longest[depth] = max(len(line) for doc in docs if doc for line in doc.splitlines())
    assert sizes[40] < 5 * sizes[10], sizes  # each layer doubled the docstrings before
    # a line holds a sum of distinct terms (like terms are collected into flat sums), but no longer
    # a copy of every layer below: its length does not grow with the depth
    assert longest[40] <= 2 * longest[10] + 3 * SHARE_LENGTH, longest
    assert times[40] < 10 * times[10] + 2.0, times


def test_a_module_of_many_shared_layers_computes_the_model():
    depth = 40
    module = ebmc.load(layered(depth, RESIDUAL[0]))
    model = module.Deep(seed=1)
    rng = np.random.default_rng(0)
    v = (rng.random((5, N)) < 0.5).astype(float)
    h = (rng.random((5, N)) < 0.5).astype(float)
    energy, free, mean = reference(model.params, RESIDUAL[1], depth, v, h)
    np.testing.assert_allclose(model.energy(v=v, h=h), energy, rtol=1e-10)
    np.testing.assert_allclose(model.free_energy(v=v), free, rtol=1e-10)
    np.testing.assert_allclose(model.mean_h(v=v), mean, rtol=1e-10, atol=1e-12)
    doc = module.Deep.mean_h.__doc__
    assert "where _1 = " in doc and doc.index("where _1") < doc.index("The field")


@pytest.mark.parametrize("body", [TWICE, RESIDUAL], ids=["twice", "residual"])
def test_derived_formulas_name_what_is_shared_and_compute_the_graphs(tmp_path, body):
    analysis = analyse(tmp_path, layered(6, body[0]))
    text = derive([analysis])
    if body is TWICE:  # s + s is collected into 2 * s, layer by layer: nothing is left to share
        assert "E(v, h) = -sum(64 * c @ W * h) - v @ V @ h - b @ h" in text
    else:
        assert "where _1 = " in text
    assert_formulas_compute_the_graphs(analysis, np.random.default_rng(1))


def test_derive_of_doubling_layers_is_fast_and_linear(tmp_path):
    out = {}
    for depth in (24, 40):
        analysis = analyse(tmp_path, layered(depth, TWICE[0]))
        start = time.perf_counter()
        out[depth] = (derive([analysis]), derive([analysis], latex=True))
        assert time.perf_counter() - start < 10
    for k in (0, 1):
        assert len(out[40][k]) < 2.5 * len(out[24][k])  # 40 / 24 layers; as a tree, 2**16 times longer
    text, tex = out[40]
    assert max(map(len, text.splitlines())) < 4 * SHARE_LENGTH + 60
    # LaTeX names the same subexpressions, as rows of the align block
    assert text.count("where _") == tex.count(r"\text{where } \_")
    assert tex.count(r"\begin{align*}") == 1 and "\n\n" not in tex.strip()


def test_small_formulas_name_nothing_and_long_shared_ones_are_named():
    b = Builder()
    x = b.var("x", "visible", ("n",))
    w = b.var("W", "param", ("n", "n"))
    short = b.add("tanh", b.add("tensordot", x, w, n=1))  # tanh(x @ W)
    assert formula(b.g, b.add("mul", short, short)) == "tanh(x @ W) * tanh(x @ W)"
    long = short
    while len(formula(b.g, long)) <= SHARE_LENGTH:
        long = b.add("sigmoid", b.add("add", long, x))
    once = b.add("sum", long)
    twice = b.add("sub", b.add("sum", long), b.add("sum", b.add("exp", long)))
    assert "\n" not in formula(b.g, once)
    text, where = formula_parts(b.g, twice)
    assert text == "sum(_1) - sum(exp(_1))" and where == [("_1", formula(b.g, long))]
    assert latex(b.g, twice).splitlines()[1].startswith(r"\text{where } \_1 = \sigma(")


def test_deep_formulas_are_cut_into_lines_of_bounded_depth():
    b = Builder()
    x = b.var("x", "visible", ("n",))
    y = x
    for _ in range(3 * NEST_DEPTH + 5):
        y = b.add("tanh", y)
    text, where = formula_parts(b.g, y)
    assert len(where) == 3
    for line in [text] + [body for _, body in where]:
        assert line.count("tanh(") <= NEST_DEPTH
    assert where[0][1] == "tanh(" * NEST_DEPTH + "x" + ")" * NEST_DEPTH
    x = np.linspace(-2, 2, 5)
    want = x
    for _ in range(3 * NEST_DEPTH + 5):
        want = np.tanh(want)
    np.testing.assert_allclose(run_formula(formula(b.g, y), {"x": x}), want, rtol=1e-12)


# ---------------------------------------------------------------- 14: no depth limit reached
@pytest.mark.parametrize("body", [TANH, HALF_RESIDUAL], ids=["tanh", "half-residual"])
def test_250_layers_compile_into_a_module_that_runs(body):
    depth = 250
    module = ebmc.load(layered(depth, body[0]))
    model = module.Deep(seed=2)
    rng = np.random.default_rng(3)
    v = (rng.random((4, N)) < 0.5).astype(float)
    h = (rng.random((4, N)) < 0.5).astype(float)
    energy, free, mean = reference(model.params, body[1], depth, v, h)
    for got, want in ((model.energy(v=v, h=h), energy), (model.free_energy(v=v), free), (model.mean_h(v=v), mean)):
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_600_layers_derive(tmp_path):
    analysis = analyse(tmp_path, layered(600, TANH[0]))
    text = derive([analysis])
    tex = derive([analysis], latex=True)
    assert "where _" in text and r"\text{where } \_" in tex
    assert max(map(len, text.splitlines())) < 40 * NEST_DEPTH
    values = point(analysis, np.random.default_rng(4))
    g = analysis.graphs["energy"]
    np.testing.assert_allclose(
        run_formula(formula(g, g.graph["outputs"]["energy"]), values), evaluate(g, values, {"n": N})["energy"]
    )


def test_150_tanh_layers_check_with_a_note_instead_of_sympy(tmp_path):
    report = check([analyse(tmp_path, layered(150, TANH[0]))])
    assert report.ok and report.rows
    assert all(r.symbolic_numeric is None for r in report.rows)
    assert any("no symbolic gradients" in n and "levels deep" in n for n in report.notes), report.notes


@pytest.mark.parametrize("op", ["tanh", "sigmoid"])
def test_sympy_handles_every_expression_it_accepts(op):
    """Chains of op: one deeper than MAX_DEPTH allows is a SymbolicError, and the deepest whose
    derivative sympy accepts gets gradients that agree with the chain rule."""

    def chain(k):
        b = Builder()
        x = b.var("x", "param", (2,))
        y = x
        for _ in range(k):
            y = b.add(op, y)
        b.output("out", b.add("sum", y))
        return b.g

    k = 1
    while True:
        try:
            to_sympy(chain(k + 1), {})
        except SymbolicError as exc:
            assert "levels deep" in str(exc)
            break
        k += 1
    assert MAX_DEPTH // 5 <= k <= MAX_DEPTH
    while True:  # a derivative nests a few levels deeper than its value
        try:
            grads = symbolic_gradients(chain(k), "out", ["x"], {})
            break
        except SymbolicError as exc:
            assert "levels deep" in str(exc)
            k -= 1
    x = np.array([0.3, -0.2])
    got = lambdify(chain(k), grads, {})({"x": x})["x"]
    f = {"tanh": np.tanh, "sigmoid": lambda t: 1 / (1 + np.exp(-t))}[op]
    df = {"tanh": lambda t: 1 - np.tanh(t) ** 2, "sigmoid": lambda t: f(t) * (1 - f(t))}[op]
    want, y = np.ones(2), x
    for _ in range(k):
        want, y = want * df(y), f(y)
    np.testing.assert_allclose(got, want, rtol=1e-8)


def test_batch_sums_of_a_chain_thousands_deep():
    b = Builder()
    x = b.var("x", "visible", ("n",))
    w = b.var("w", "param", ("n",))
    y = x
    for _ in range(1500):
        y = b.add("add", y, b.add("mul", y, w))  # each layer linear in the one before
    b.output("out", y)
    values = {"x": np.random.default_rng(5).normal(size=(3, 2)), "w": np.full(2, 1e-3)}
    want = evaluate(b.g, values, {"n": 2}, batch=3)["out"].sum(axis=0)
    got = evaluate(batch_sums(b.g), values, {"n": 2}, batch=3)["out"]
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_latex_of_a_chain_of_products_thousands_deep():
    b = Builder()
    x = b.var("x", "visible", ("n",))
    w = b.var("W", "param", ("n", "n"))
    y = x
    for _ in range(1500):
        y = b.add("tensordot", y, w, n=1)  # x @ W @ W ...: written through transposes, (W^T)^T...
    out = b.add("tensordot", y, x, n=1)
    text, where = formula_parts(b.g, out)
    tex = latex(b.g, out)
    assert len(where) == 1500 // NEST_DEPTH
    assert tex.count(r"\text{where } \_") == len(where)
