"""Ops mean, backends lower: the numpy lowerings, an op's own lowering, and folding by scalar rules."""

from __future__ import annotations

import numpy as np
import pytest

from ebmc.backends.numpy.emit import Emitter, NumpyContext
from ebmc.backends.numpy.lowerings import LOWERINGS, Lowering, LoweringError, lowering
from ebmc.ir.evaluate import evaluate
from ebmc.ir.graph import Builder
from ebmc.ir.ops import BUILTIN_OPS, Op
from ebmc.passes.simplify import simplify
from ebmc.plugins import registry


def _same(shapes, attrs):
    return shapes[0]


@pytest.fixture
def add_op():
    """Register throw-away ops in the registry for one test."""
    reg = registry()
    added = []

    def add(op):
        reg.add("ops", op, "test: throw-away")
        added.append(op.name)
        return op

    yield add
    for name in added:
        del reg.ops[name]
        del reg.origins[("ops", name)]


def test_every_builtin_op_has_a_numpy_lowering_and_no_numpy_code_of_its_own():
    assert {op.name for op in BUILTIN_OPS} <= set(LOWERINGS)
    for op in BUILTIN_OPS:
        assert not hasattr(op, "numpy") and not op.lowerings


def test_an_op_brings_its_own_lowering(add_op):
    add_op(Op("twice", 1, _same, elementwise=True, lowerings={"numpy": Lowering(lambda a, t, ctx: f"2 * {a[0].code}")}))
    b = Builder()
    x = b.var("x", "visible", (3,))
    b.output("y", b.add("twice", x))
    values = {"x": np.arange(6.0).reshape(2, 3)}
    np.testing.assert_array_equal(evaluate(b.g, values, {}, batch=2)["y"], 2 * values["x"])
    em = Emitter(b.g, NumpyContext(), {"x": "x"})
    assert em.emit({"y": b.g.graph["outputs"]["y"]}) == {"y": "2 * x"}


def test_a_bare_function_is_a_lowering(add_op):
    add_op(Op("thrice", 1, _same, lowerings={"numpy": lambda a, t, ctx: f"3 * {a[0].code}"}))
    found = lowering("thrice")
    assert isinstance(found, Lowering) and not found.fresh and found.inplace is None


def test_an_op_without_a_lowering_is_an_error_naming_it(add_op):
    add_op(Op("nowhere", 1, _same))
    with pytest.raises(LoweringError, match="'nowhere' has no numpy lowering"):
        lowering("nowhere")


def test_folding_uses_the_scalar_rule_not_the_lowering(add_op):
    """The lowering would give 2 x, the scalar rule 2 x + 1: the folded constant is the rule's."""
    add_op(
        Op(
            "odd",
            1,
            _same,
            elementwise=True,
            scalar=lambda x: 2 * x + 1,
            lowerings={"numpy": Lowering(lambda a, t, ctx: f"2 * {a[0].code}")},
        )
    )
    b = Builder()
    b.output("y", b.add("odd", b.const(3.0)))
    g = simplify(b.g)
    d = g.nodes[g.graph["outputs"]["y"]]
    assert d["op"] == "const" and d["attrs"]["value"] == 7.0


def test_an_op_without_a_scalar_rule_is_not_folded(add_op):
    add_op(Op("opaque", 1, _same, elementwise=True, lowerings={"numpy": lambda a, t, ctx: a[0].code}))
    b = Builder()
    b.output("y", b.add("opaque", b.const(3.0)))
    g = simplify(b.g)
    assert g.nodes[g.graph["outputs"]["y"]]["op"] == "opaque"
