"""One printer base: text formulas, LaTeX and graph labels dispatch on the op, and fall back on the op table."""

from __future__ import annotations

import pytest

from ebmc.backends.graphviz import LabelPrinter
from ebmc.derive import LatexPrinter
from ebmc.ir.graph import Builder, formula
from ebmc.ir.ops import Op
from ebmc.ir.printing import Printer, TextPrinter
from ebmc.plugins import registry


def _same(shapes, attrs):
    return shapes[0]


@pytest.fixture
def plugin_ops():
    reg = registry()
    ops = [Op("cube", 1, _same, notation=("{0} ** 3", 4)), Op("wobble", 2, _same)]
    for op in ops:
        reg.add("ops", op, "test: throw-away")
    yield
    for op in ops:
        del reg.ops[op.name]
        del reg.origins[("ops", op.name)]


def test_the_printers_are_one_family():
    for cls in (TextPrinter, LatexPrinter, LabelPrinter):
        assert issubclass(cls, Printer)


def test_an_op_without_a_method_is_written_from_the_op_table(plugin_ops):
    b = Builder()
    x, y = b.var("x", "visible", (3,)), b.var("y", "param", (3,))
    cubed = b.add("cube", b.add("add", x, y))
    n = b.add("wobble", cubed, x)
    assert formula(b.g, cubed) == "(x + y) ** 3"
    assert formula(b.g, n) == "wobble((x + y) ** 3, x)"
    assert LatexPrinter(b.g).doprint(n) == r"\operatorname{wobble}(\operatorname{cube}(x + y), x)"
    assert LabelPrinter(b.g).label(n)[0] == ["wobble", "[3]"]


def test_a_negated_product_of_a_number_is_written_with_the_number_negated():
    b = Builder()
    v = b.var("v", "visible", (3,))
    assert formula(b.g, b.add("neg", b.add("mul", b.const(0.5), v))) == "-0.5 * v"
    assert formula(b.g, b.add("neg", b.add("mul", v, b.const(0.5)))) == "-(v * 0.5)"


def test_a_number_times_a_product_needs_no_parentheses():
    """c * (x @ W) is (c * x) @ W: the language's left-to-right reading gives the same value."""
    b = Builder()
    v, W = b.var("v", "visible", (3,)), b.var("W", "param", (3, 3))
    vW = b.add("tensordot", v, W, n=1)
    assert formula(b.g, b.add("mul", b.const(0.5), vW)) == "0.5 * v @ W"
    assert formula(b.g, b.add("mul", v, vW)) == "v * (v @ W)"
    assert formula(b.g, b.add("mul", b.const(0.5), b.add("add", v, v))) == "0.5 * (v + v)"


def test_latex_writes_a_symmetric_param_untransposed():
    b = Builder()
    v, L = b.var("v", "visible", (3,)), b.var("L", "param", (3, 3), symmetric=True)
    W = b.var("W", "param", (3, 3))
    assert LatexPrinter(b.g).doprint(b.add("tensordot", v, L, n=1)) == "L v"
    assert LatexPrinter(b.g).doprint(b.add("tensordot", v, W, n=1)) == r"W^\top v"
