"""The functions of the language at inputs of +-1e4: finite values and gradients, no warning."""

import warnings

import numpy as np
import pytest

from ebmc.ir.evaluate import evaluate
from ebmc.ir.ops import FUNCTIONS
from ebmc.passes.autodiff import reverse_mode
from ebmc.passes.simplify import Simplifier

X = np.array([-1e4, -30.0, -1.0, 0.0, 1.0, 30.0, 1e4])
EXPECTED = {  # written out by hand, in the limits
    "sigmoid": 1 / (1 + np.exp(-np.clip(X, -700, 700))),
    "tanh": np.tanh(X),
    "softplus": np.where(X > 0, X, 0.0) + np.log1p(np.exp(-np.abs(X))),
    "log_sigmoid": -(np.where(-X > 0, -X, 0.0) + np.log1p(np.exp(-np.abs(X)))),
    "relu": np.maximum(X, 0.0),
    "abs": np.abs(X),
    "logsumexp": 1e4,
    "softmax": np.eye(len(X))[-1],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_stable_at_large_inputs(name):
    b = Simplifier()
    x = b.var("x", "input", (len(X),))
    y = FUNCTIONS[name].expand(b, x)
    b.output("y", y)
    total = y if b.shape(y) == () else b.add("sum", b.add("mul", y, b.const(1.0, b.shape(y))))
    b.output("grad", reverse_mode(b, total, [x])[x])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = evaluate(b.g, {"x": X}, {}, batch=None)
    np.testing.assert_allclose(out["y"], EXPECTED[name], rtol=1e-12, atol=1e-300)
    assert np.all(np.isfinite(out["grad"]))
