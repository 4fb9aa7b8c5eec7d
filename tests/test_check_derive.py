"""`ebmc check` and `ebmc derive` (ebmc/derive.py): gradients three ways, and the derived formulas."""

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
from conftest import EXAMPLES

from ebmc import cli
from ebmc.api import analyse_file
from ebmc.derive import check, derive, latex, latex_name, random_point
from ebmc.ir.graph import Builder
from ebmc.ir.ops import ELEMENTWISE_FUNCTIONS
from ebmc.plugins import registry

RBM = EXAMPLES / "rbm.ebm"

# every elementwise function of the language, on params (an energy must stay affine in each
# unit group), plus the reductions; spin hidden units
ALL_FUNCTIONS = """
model allfun {
    dim k = 4
    dim m = 5
    visible v[k] : bernoulli
    hidden  h[m] : spin
    param W[k, m] ~ normal(0, 0.1)
    param a[k]
    param b[m]
    param s = 1
    energy = -(v @ (tanh(W) + relu(W) + square(W) + abs(W)) @ h)
             - (sigmoid(a) + softplus(a) + log_sigmoid(a) + exp(a)) @ v
             - (log(1 + square(b)) + sqrt(1 + square(b))) @ h
             - sum(v) * mean(b) * logsumexp(b) - (softmax(a) @ v) * s / (1 + s ** 2)
    train cd(k=1)
}
"""

NO_HIDDEN_AND_DEEP = """
model vis {
    dim n_units = 4
    visible x[n_units] : spin
    param c[n_units]
    param alpha = 1
    energy = -(c @ x) * alpha
}
model dbm {
    dim nv = 4
    dim nh = 3
    visible v[nv] : bernoulli
    hidden h1[nh] : bernoulli
    hidden h2[nh] : bernoulli
    param W[nv, nh]
    param U[nh, nh]
    energy = -(v @ W @ h1) - h1 @ U @ h2
}
"""


def run(*args):
    return subprocess.run([sys.executable, "-m", "ebmc", *args], capture_output=True, text=True)


def write(tmp_path, text, name="m.ebm"):
    path = tmp_path / name
    path.write_text(text)
    return path


def scaled_vjp(op: str, factor: float = 2.0):
    """The op table entry of `op` with a vjp that is `factor` times the right one."""
    entry = registry().ops[op]

    def wrong(b, out, g, args, needs):
        parts = entry.vjp(b, out, g, args, needs)
        return [None if p is None else b.add("mul", b.const(factor), p) for p in parts]

    return dataclasses.replace(entry, vjp=wrong)


# ---------------------------------------------------------------- check
def test_check_rbm_passes():
    r = run("check", str(RBM))
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == [
        "model",
        "gradient",
        "max",
        "|autodiff",
        "-",
        "numeric|",
        "max",
        "|symbolic",
        "-",
        "numeric|",
        "max",
        "|autodiff",
        "-",
        "symbolic|",
        "ok",
    ]
    rows = {line.split()[1]: line.split() for line in lines[1:6]}
    assert set(rows) == {"dE/dW", "dE/da", "dE/db", "-dE/dv", "-dE/dh"}
    for row in rows.values():
        assert row[0] == "rbm" and row[-1] == "ok"
        assert all(float(x) < 1e-6 for x in row[2:5])
    assert "checked at n_visible=3, n_hidden=3" in r.stdout
    assert "all 5 gradients agree" in r.stdout


def test_check_every_elementwise_function_passes(tmp_path):
    for name in ELEMENTWISE_FUNCTIONS:  # the model below keeps covering every function
        assert f"{name}(" in ALL_FUNCTIONS
    report = check(analyse_file(write(tmp_path, ALL_FUNCTIONS)))
    assert report.ok, report.table()
    assert [r.gradient for r in report.rows] == ["dE/dW", "dE/da", "dE/db", "dE/ds", "-dE/dv", "-dE/dh"]
    assert all(r.symbolic_numeric is not None and r.symbolic_numeric < 1e-6 for r in report.rows)
    assert report.dims == {"allfun": {"k": 3, "m": 3}}


def test_a_broken_vjp_makes_check_fail(monkeypatch, capsys):
    monkeypatch.setitem(registry().ops, "tensordot", scaled_vjp("tensordot"))
    assert cli.main(["check", str(RBM)]) == 1
    out, err = capsys.readouterr()
    assert "FAIL" in out
    assert "gradients disagree:" in err
    assert "rbm dE/dW: autodiff/numeric, autodiff/symbolic" in err
    assert "symbolic/numeric" not in err  # sympy and central differences do not use the vjp rules


def test_a_broken_vjp_fails_only_the_gradients_through_it(tmp_path, monkeypatch):
    monkeypatch.setitem(registry().ops, "softplus", scaled_vjp("softplus", 1.5))
    report = check(analyse_file(write(tmp_path, ALL_FUNCTIONS)))
    failed = {r.gradient for r in report.rows if not r.ok}
    assert failed == {"dE/da"}  # softplus is applied to `a` only


def test_a_broken_sympy_rule_makes_symbolic_disagree(monkeypatch):
    entry = registry().ops["neg"]
    monkeypatch.setitem(registry().ops, "neg", dataclasses.replace(entry, sympy=lambda values, attrs: values[0]))
    report = check(analyse_file(RBM))
    assert not report.ok
    assert all("autodiff/numeric" not in r.disagree for r in report.rows)
    assert any("symbolic/numeric" in r.disagree for r in report.rows)


def test_large_literal_shapes_skip_sympy_and_check_along_a_direction(tmp_path, monkeypatch):
    big = """
model big {
    dim m = 7
    visible v[60] : bernoulli
    hidden h[m] : bernoulli
    param W[60, 40]
    param U[40, m]
    energy = -(v @ W @ U @ h)
}
"""
    report = check(analyse_file(write(tmp_path, big)))
    assert report.ok
    assert all(r.symbolic_numeric is None for r in report.rows)
    assert any("W has 2400 entries" in n for n in report.notes)
    assert any("symbolic gradients were skipped" in n for n in report.notes)
    assert "-" in report.table().splitlines()[1].split()
    # the directional check still catches a wrong gradient
    monkeypatch.setitem(registry().ops, "tensordot", scaled_vjp("tensordot", 1.01))
    assert not check(analyse_file(write(tmp_path, big))).ok


def test_random_points_take_unit_values_and_are_never_all_one_value(tmp_path):
    (a,) = analyse_file(write(tmp_path, ALL_FUNCTIONS))
    rng = np.random.default_rng(0)
    for _ in range(50):
        x = random_point(a, {"k": 3, "m": 3}, rng)
        assert set(np.unique(x["v"])) == {0.0, 1.0}
        assert set(np.unique(x["h"])) == {-1.0, 1.0}
        assert x["W"].shape == (3, 3) and x["s"].shape == ()


def test_check_is_reproducible():
    first = check(analyse_file(RBM))
    again = check(analyse_file(RBM))
    assert first.rows == again.rows


# ---------------------------------------------------------------- groups made affine on their values
PER_UNIT = """
model perunit {
    dim n = 3
    dim k = 2
    visible v[n] : bernoulli
    hidden h[k] : HTYPE
    param W[n, k] ~ normal(0, 1)
    param b[k]
    param d[k]
    energy = -(v @ W @ h) - sum(exp(h) * b) - sum(relu(d * h + 1)) - h @ (d * h)
}
"""


@pytest.mark.parametrize("h_type", ["bernoulli", "spin"])
def test_a_field_of_a_rewritten_group_is_checked_against_differences_of_the_written_energy(
    tmp_path, h_type, monkeypatch
):
    path = write(tmp_path, PER_UNIT.replace("HTYPE", h_type))
    report = check(analyse_file(path))
    assert report.ok, report.table()
    assert [r.gradient for r in report.rows] == ["dE/dW", "dE/db", "dE/dd", "-dE/dv", "-dE/dh"]
    assert all(r.symbolic_numeric is not None for r in report.rows)
    low, high = ("0", "1") if h_type == "bernoulli" else ("-1", "1")
    assert any(f"-(E(h_j = {high}) - E(h_j = {low}))" in n for n in report.notes), report.notes
    # interpolating between the wrong values is exact nowhere: the difference of the written energy says so
    from ebmc.passes import energy

    real = energy.on_support
    monkeypatch.setattr(energy, "on_support", lambda e, var, values: real(e, var, (values[0], values[1] + 1)))
    bad = check(analyse_file(path))
    assert {r.gradient for r in bad.rows if not r.ok} >= {"-dE/dh"}
    assert "autodiff/numeric" in next(r for r in bad.rows if r.gradient == "-dE/dh").disagree


def test_a_one_unit_group_takes_both_values_over_the_points(tmp_path, monkeypatch):
    """With one unit drawn at random, all points may hold 0 (seed 0 does): the gradients it
    multiplies would vanish at every point and prove nothing."""
    from ebmc import derive as module

    text = "model one {\n visible v[4] : bernoulli\n hidden h : bernoulli\n param w[4]\n energy = -(w @ v) * h\n}\n"
    (a,) = analyse_file(write(tmp_path, text))
    seen = []
    real = module._autodiff
    monkeypatch.setattr(
        module, "_autodiff", lambda a, p, g, values, d: seen.append(float(values["h"])) or real(a, p, g, values, d)
    )
    for seed in range(4):
        seen.clear()
        assert check([a], seed=seed).ok
        assert sorted(set(seen)) == [0.0, 1.0], (seed, seen)


def test_an_energy_that_is_nan_at_a_point_disagrees_with_a_note(tmp_path):
    """sqrt of a param drawn from N(0, 0.5) is NaN somewhere: a NaN is not agreement."""
    text = PER_UNIT.replace("HTYPE", "bernoulli").replace("- h @ (d * h)", "- sum(sqrt(d))")
    report = check(analyse_file(write(tmp_path, text)))
    assert not report.ok
    assert any("the energy is nan at random point" in n for n in report.notes)


# ---------------------------------------------------------------- large models
def _big(params: int, size: int) -> str:
    lines = ["model big {", f"    visible v[{size}] : bernoulli", "    hidden h[2] : bernoulli"]
    lines += [f"    param p{i}[{size}]" for i in range(params)] + [f"    param W[{size}, 2]"]
    lines.append("    energy = -(" + " + ".join(f"p{i} @ v" for i in range(params)) + ") * sum(h) - v @ W @ h")
    return "\n".join(lines + ["}", ""])


def test_large_params_are_sampled_within_a_budget(tmp_path, monkeypatch):
    """20 params of 1999 entries (the 59 s model of issue 5): a sample of entries, and every entry
    along a random direction; the number of energy evaluations is bounded by the budget."""
    from ebmc import derive as module
    from ebmc.ir.evaluate import Plan

    runs = []
    real_run = Plan.run
    monkeypatch.setattr(Plan, "run", lambda self, values: runs.append(1) or real_run(self, values))
    report = check(analyse_file(write(tmp_path, _big(20, 1999))))
    assert report.ok, report.table()
    wrt = 20 + 1 + 2  # p0..p19, W, v, h
    assert len(runs) <= report.points * (2 * module.NUMERIC_BUDGET + 2 * wrt + 8)
    notes = [n for n in report.notes if "chosen at random" in n]
    assert notes and all("along a random direction" in n for n in notes)
    sampled = " ".join(notes)
    assert all(f"p{i}" in sampled for i in range(20)) and "W" in sampled


def test_a_wrong_gradient_of_a_sampled_param_is_still_found(tmp_path, monkeypatch):
    monkeypatch.setitem(registry().ops, "tensordot", scaled_vjp("tensordot", 1.001))
    report = check(analyse_file(write(tmp_path, _big(3, 1999))))
    assert not report.ok
    assert {r.gradient for r in report.rows if not r.ok} >= {"dE/dp0", "dE/dp1", "dE/dp2"}


@pytest.mark.parametrize(
    "body, what",
    [
        # a size written as a number is not shrunk: W has 2,000,000 entries
        (
            "visible v[1000000] : bernoulli\n hidden h[2] : bernoulli\n param W[1000000, 2]\n energy = -(v @ W @ h)",
            "'W'",
        ),
        # small vars, but c * v is 1500 x 1500 in between
        (
            "visible v[1500] : bernoulli\n hidden h[1500] : bernoulli\n param c[1500, 1]\n energy = -sum(h * (c * v))",
            "a value of the energy graph",
        ),
    ],
)
def test_a_model_too_large_to_check_is_a_note_not_a_memory_error(tmp_path, body, what, capsys):
    other = "model fine {\n visible v[2] : bernoulli\n param c[2]\n energy = -(c @ v)\n}\n"
    path = write(tmp_path, f"model huge {{\n {body}\n}}\n" + other)
    report = check(analyse_file(path))
    assert report.ok and list(report.skipped) == ["huge"] and "huge" not in report.dims
    assert report.skipped["huge"].startswith(what) and "more than the 1,000,000" in report.skipped["huge"]
    assert [r.model for r in report.rows] == ["fine", "fine"]
    assert cli.main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "model huge: not checked: " in out and "1 model not checked" in out


# ---------------------------------------------------------------- derive
RBM_TEXT = """\
model rbm
  energy:
    E(v, h) = -(a @ v) - b @ h - v @ W @ h
  conditionals:
    v (bernoulli, independent given h):
      -dE/dv = h @ W.T + a
      p(v = 1 | h) = sigmoid(h @ W.T + a)
    h (bernoulli, independent given v):
      -dE/dh = b + v @ W
      p(h = 1 | v) = sigmoid(b + v @ W)
  free energy:
    F(v) = -log sum_h exp(-E(v, h)) = -(a @ v) - sum(softplus(b + v @ W))
    F(h) = -log sum_v exp(-E(v, h)) = -(b @ h) - sum(softplus(h @ W.T + a))
  gradients:
    dE/dW = -outer(v, h)
    dE/da = -v
    dE/db = -h
"""

RBM_LATEX = r"""% model rbm
% v: bernoulli units, independent given h
% h: bernoulli units, independent given v
\begin{align*}
  E(v, h) &= -a^\top v - b^\top h - v^\top W h \\
  -\frac{\partial E}{\partial v} &= W h + a \\
  p(v = 1 \mid h) &= \sigma(W h + a) \\
  -\frac{\partial E}{\partial h} &= b + W^\top v \\
  p(h = 1 \mid v) &= \sigma(b + W^\top v) \\
  F(v) &= -\log \sum_{h} e^{-E(v, h)} = -a^\top v - \sum_{j} [\mathrm{softplus}(b + W^\top v)]_{j} \\
  F(h) &= -\log \sum_{v} e^{-E(v, h)} = -b^\top h - \sum_{j} [\mathrm{softplus}(W h + a)]_{j} \\
  \frac{\partial E}{\partial W} &= -v h^\top \\
  \frac{\partial E}{\partial a} &= -v \\
  \frac{\partial E}{\partial b} &= -h
\end{align*}
"""


def test_derive_rbm_text():
    r = run("derive", str(RBM))
    assert r.returncode == 0, r.stderr
    assert r.stdout == RBM_TEXT


def test_derive_rbm_latex():
    r = run("derive", str(RBM), "--latex")
    assert r.returncode == 0, r.stderr
    assert r.stdout == RBM_LATEX


def test_derive_without_hidden_units_and_with_interacting_hidden_groups(tmp_path):
    text = derive(analyse_file(write(tmp_path, NO_HIDDEN_AND_DEEP)))
    vis, dbm = text.split("\n\n")
    assert "x (spin, independent):" in vis
    assert "E[x] = tanh(alpha * c)" in vis
    assert "F(x) = E(x) (there are no hidden units)" in vis
    assert "-log Z = -log sum_x exp(-E(x))" in vis
    assert "p(h1 = 1 | v, h2) = sigmoid(h2 @ U.T + v @ W)" in dbm
    assert "F(v): no closed form: the hidden units interact with each other" in dbm
    assert "F(h1, h2) = -log sum_v exp(-E(v, h1, h2)) = -(h1 @ U @ h2) - sum(softplus(h1 @ W.T))" in dbm
    tex = derive(analyse_file(write(tmp_path, NO_HIDDEN_AND_DEEP)), latex=True)
    assert r"\mathbb{E}[x] &= \tanh(\alpha \cdot c)" in tex
    assert r"p(h_{1} = 1 \mid v, h_{2}) &= \sigma(U h_{2} + W^\top v)" in tex
    assert r"\frac{\partial E}{\partial U} &= -h_{1} h_{2}^\top" in tex


# ---------------------------------------------------------------- the LaTeX printer
@pytest.fixture
def b():
    b = Builder()
    b.x = b.var("x", "visible", ("n",))
    b.W = b.var("W", "param", ("n", "m"))
    b.U = b.var("U", "param", ("m", "n"))
    b.s = b.var("s", "param", ())
    return b


@pytest.mark.parametrize(
    "build, expected",
    [
        (lambda b: b.add("div", b.add("sum", b.x), b.numel(("n",))), r"\frac{\sum_{j} x_{j}}{n}"),
        (lambda b: b.add("tensordot", b.add("tensordot", b.x, b.W), b.add("tensordot", b.U, b.x)), "x^\\top W U x"),
        (lambda b: b.add("tensordot", b.add("tensordot", b.U, b.x), b.U), r"U^\top U x"),
        (lambda b: b.add("tensordot", b.add("transpose", b.W, perm=(1, 0)), b.W), r"W^\top W"),
        (lambda b: b.add("tensordot", b.x, b.add("sigmoid", b.x), n=0), r"x (\sigma(x))^\top"),
        (lambda b: b.add("pow", b.add("add", b.x, b.s), b.const(3.0)), "(x + s)^{3}"),
        (lambda b: b.add("square", b.s), "s^{2}"),
        (lambda b: b.add("sub", b.x, b.add("neg", b.x)), "x - (-x)"),
        (lambda b: b.add("neg", b.add("sub", b.x, b.s)), "-(x - s)"),
        (lambda b: b.add("mul", b.add("sum", b.x), b.s), r"(\sum_{j} x_{j}) \cdot s"),
        (lambda b: b.add("mul", b.x, b.add("exp", b.x)), r"x \odot \exp(x)"),
        (lambda b: b.add("mul", b.const(0.5), b.add("square", b.x)), "0.5 x^{2}"),
        (lambda b: b.add("sqrt", b.add("abs", b.add("relu", b.x))), r"\sqrt{\lvert \max(x, 0) \rvert}"),
        (lambda b: b.add("sum", b.add("log_sigmoid", b.x)), r"\sum_{j} [\log \sigma(x)]_{j}"),
        (lambda b: b.add("logsumexp", b.add("softplus", b.W)), r"\operatorname{logsumexp}(\mathrm{softplus}(W))"),
    ],
)
def test_latex_of_nodes(b, build, expected):
    assert latex(b.g, build(b)) == expected


@pytest.mark.parametrize(
    "name, expected",
    [
        ("W", "W"),
        ("W1", "W_{1}"),
        ("W_1", "W_{1}"),
        ("h_k", "h_{k}"),
        ("alpha", r"\alpha"),
        ("sigma_2", r"\sigma_{2}"),
        ("bias", r"\mathit{bias}"),
        ("n_hidden", r"\mathit{n\_hidden}"),
        ("x_", r"\mathit{x\_}"),
        ("_x", r"\mathit{\_x}"),
    ],
)
def test_latex_names(name, expected):
    assert latex_name(name) == expected


def test_latex_of_a_name_with_latex_specials_is_escaped():
    b = Builder()
    b.var("a{b}_%$#&~^\\", "param", ())
    (n,) = b.g.nodes
    assert latex(b.g, n) == r"\mathit{a\{b\}\_\%\$\#\&\~{}\^{}\textbackslash{}}"


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize("command", ["check", "derive"])
def test_error_in_model_is_file_line_col_with_caret(tmp_path, command):
    model = write(tmp_path, RBM.read_text().replace("v @ W @ h", "v @ W2 @ h"), "bad.ebm")
    r = run(command, str(model))
    assert r.returncode == 1
    first, line, caret = r.stderr.splitlines()[:3]
    assert first.startswith(f"{model}:13:39: error: unknown name 'W2'")
    assert line.index("W2") == caret.index("^")
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_missing_file_and_usage_errors(tmp_path):
    r = run("derive", str(tmp_path / "nope.ebm"))
    assert r.returncode == 1 and "nope.ebm" in r.stderr and "Traceback" not in r.stderr
    assert run("check").returncode == 2
    assert run("derive").returncode == 2
    assert run("check", str(RBM), "--latex").returncode == 2
    assert run("derive", str(RBM), "--graph", "energy").returncode == 2


def test_derive_and_check_work_when_a_group_interacts(tmp_path, capsys):
    """The analysis describes any energy; only the backend needs independent groups."""
    from ebmc.cli import main

    model = tmp_path / "bm.ebm"
    model.write_text(
        "model bm {\n  dim n = 3\n  dim m = 2\n  visible v[n] : bernoulli\n  hidden h[m] : bernoulli\n"
        "  param J[n, n] ~ normal(0, 0.5)\n  param W[n, m] ~ normal(0, 0.5)\n"
        "  energy = -(v @ J @ v) - v @ W @ h\n}\n"
    )
    assert main(["derive", str(model)]) == 0
    out = capsys.readouterr().out
    assert "v (bernoulli, its units interact" in out
    assert "p(h = 1 | v) = sigmoid(v @ W)" in out
    assert main(["check", str(model)]) == 0
    capsys.readouterr()
    assert main(["compile", str(model)]) == 0  # sampled unit by unit
