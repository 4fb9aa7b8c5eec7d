"""Constants that are not finite numbers: a located error where they are written, and never
folded or rewritten away (ebmc/ir/lower.py, ebmc/ir/evaluate.py constant_value, ebmc/passes/simplify.py)."""

import math

import numpy as np
import pytest

import ebmc
from ebmc.api import analyse_file
from ebmc.derive import check, derive
from ebmc.ir.evaluate import constant_value, evaluate
from ebmc.ir.graph import Builder
from ebmc.passes.simplify import Simplifier, simplify

RBM = """model m {
    dim n = 3
    dim k = 2
    visible v[n] : bernoulli
    hidden h[k] : bernoulli
    param W[n, k] ~ normal(0, 1)
    param a[n]
    param b[k]
    energy = -(a @ v) - (b @ h) - v @ W @ h TAIL
}
"""
LINE = 9
START = RBM.splitlines()[LINE - 1].index("TAIL") + 1  # the column where TAIL is written


def source(tail: str) -> str:
    return RBM.replace("TAIL", tail)


# (what is written after the energy, the part the caret is under, what numpy makes of it)
BAD = [
    ("+ 1/0", "1/0", math.inf),
    ("+ 0/0", "0/0", math.nan),
    ("+ 10 ** 400", "10 ** 400", math.inf),
    ("+ log(0)", "log(0)", -math.inf),
    ("+ exp(1000)", "exp(1000)", math.inf),
    ("- sqrt(-1) * 0", "sqrt(-1)", math.nan),
    ("+ 0 * exp(1000)", "exp(1000)", math.inf),  # the innermost non-finite part
    ("- mean(log(2 - 2) * v)", "log(2 - 2)", -math.inf),
    ("+ binary_cross_entropy(0, 1)", "binary_cross_entropy(0, 1)", math.inf),
]


@pytest.mark.parametrize("tail, part, value", BAD, ids=[c[0] for c in BAD])
def test_a_constant_that_is_not_finite_is_an_error_at_its_place(tail, part, value):
    with pytest.raises(ebmc.EbmcError) as info:
        ebmc.parse(source(tail))
    err = info.value
    assert "which is not a finite number" in err.message
    assert f"it evaluates to {value}" in err.message
    column = START + tail.index(part)
    assert (err.line, err.column, err.length) == (LINE, column, len(part))
    rendered = err.render().splitlines()
    assert rendered[0].startswith(f"<string>:{LINE}:{column}: error: this constant expression is ")
    assert rendered[-1] == "    " + " " * (column - 1) + "^" + "~" * (len(part) - 1)


@pytest.mark.parametrize("tail", ["+ 1/0", "+ log(0)", "+ 0/0", "+ 10 ** 400"])
def test_every_command_refuses_it(tail, tmp_path):
    path = tmp_path / "bad.ebm"
    path.write_text(source(tail))
    for run in (
        ebmc.compile,
        ebmc.load,
        analyse_file,
        lambda p: check(analyse_file(p)),
        lambda p: derive(analyse_file(p)),
    ):
        with pytest.raises(ebmc.EbmcError, match="not a finite number"):
            run(path)


def test_a_constant_layer_is_checked_where_it_is_defined():
    text = source("- c * sum(h)").replace("    energy", "    layer c = log(0) * 2\n    energy")
    with pytest.raises(ebmc.EbmcError, match=r"log\(0\), which is not a finite number") as info:
        ebmc.parse(text)
    assert info.value.line == 9


@pytest.mark.parametrize("tail, want", [("+ exp(-1000)", 0.0), ("+ 2 ** -2000", 0.0), ("+ 1/3 - 1/3", 0.0)])
def test_finite_constants_compile_and_keep_their_value(tail, want):
    m = ebmc.load(source(tail)).M(seed=0)
    v, h = np.array([1.0, 0.0, 1.0]), np.array([0.0, 1.0])
    plain = ebmc.load(source("")).M(seed=0)
    assert m.energy(v=v, h=h) == pytest.approx(plain.energy(v=v, h=h) + want, abs=1e-12)


# ---------------------------------------------------------------- the simplifier keeps them
def _simplified(build):
    b = Simplifier()
    b.output("out", build(b))
    return simplify(b.g)


def _value(g, **values):
    return evaluate(g, values, {"n": 3})["out"]


@pytest.mark.parametrize(
    "build",
    [
        lambda b: b.add("mul", b.const(0.0), b.add("div", b.const(1.0), b.const(0.0))),  # 0 * (1/0)
        lambda b: b.add("div", b.const(0.0), b.const(0.0)),  # 0 / 0
        lambda b: b.add("div", b.const(0.0, (3,)), b.const(0.0)),
        lambda b: b.add("mul", b.add("log", b.const(0.0)), b.const(0.0, ("n",))),  # log(0) * 0
        lambda b: b.add("tensordot", b.const(0.0, (3,)), b.add("div", b.const(1.0, (3,)), b.const(0.0)), n=1),
        lambda b: b.add("sub", b.add("div", b.const(1.0), b.const(0.0)), b.add("div", b.const(1.0), b.const(0.0))),
        lambda b: b.add(  # (x + 1/0) - 1/0
            "sub",
            b.add("add", b.var("x", "param", ()), b.add("div", b.const(1.0), b.const(0.0))),
            b.add("div", b.const(1.0), b.const(0.0)),
        ),
        lambda b: b.add("mul", b.const(1e300), b.add("mul", b.const(1e300), b.var("x", "param", ()))),
    ],
    ids=["0*(1/0)", "0/0", "zeros/0", "log(0)*zeros", "zeros@(1/0)", "1/0-1/0", "(x+1/0)-1/0", "1e300*(1e300*x)"],
)
def test_no_rewrite_makes_a_number_of_an_inf_or_nan(build):
    """Evaluated before and after simplifying: the same inf and NaN, and the same numbers."""
    g = _simplified(build)
    plain = Builder()  # no rewrites at all
    plain.output("out", build(plain))
    with np.errstate(all="ignore"):
        got = np.asarray(_value(g, x=np.float64(1e-300)))
        want = np.asarray(_value(plain.g, x=np.float64(1e-300)))
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(got[~np.isnan(got)], want[~np.isnan(want)])


def test_zero_over_something_else_is_still_zero():
    g = _simplified(lambda b: b.add("div", b.const(0.0), b.add("exp", b.var("x", "param", ()))))
    (out,) = g.graph["outputs"].values()
    assert g.nodes[out]["op"] == "const" and g.nodes[out]["attrs"]["value"] == 0.0
    g = _simplified(lambda b: b.add("mul", b.const(0.0), b.add("div", b.const(1.0), b.const(4.0))))
    (out,) = g.graph["outputs"].values()
    assert g.nodes[out]["op"] == "const" and g.nodes[out]["attrs"]["value"] == 0.0


def test_constant_value_of_repeated_numbers_and_sums():
    b = Builder()
    memo = {}
    big = b.add("exp", b.const(2.0, ("n", 5)))  # a shape with a dim name: one number repeated
    assert constant_value(b, big, memo).shape == () and float(constant_value(b, big, memo)) == pytest.approx(math.e**2)
    assert constant_value(b, b.add("sum", big), memo) is None  # how many entries is not known
    small = b.add("sum", b.add("mul", b.const(2.0, (2, 3)), b.const(0.5, (3,))))
    assert float(constant_value(b, small, memo)) == 6.0
    assert constant_value(b, b.add("add", big, b.var("x", "param", ())), memo) is None
