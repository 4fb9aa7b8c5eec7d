"""The plugin registry: built-ins come through entry points, and a third party's op works end to end."""

import numpy as np
import pytest
from conftest import EXAMPLES

import ebmc
from ebmc.plugins import registry

PLUGIN = """
import numpy as np
from ebmc.backends.numpy.lowerings import Lowering
from ebmc.ir.ops import Op


def _shape(shapes, attrs):
    return shapes[0]


def _numpy(args, attrs, ctx):
    return f"{args[0].code} ** 3"


def _sympy(values, attrs):
    return np.vectorize(lambda x: x**3, otypes=[object])(values[0])


def _vjp(b, out, g, args, needs):
    return [b.add("mul", g, b.add("mul", b.const(3.0), b.add("square", args[0])))]


CUBE = Op(
    "cube",
    1,
    _shape,
    _sympy,
    _vjp,
    elementwise=True,
    scalar=lambda x: x**3,
    lowerings={"numpy": Lowering(_numpy, fresh=True)},
    doc="x ** 3",
)
"""


@pytest.fixture
def cube_plugin(tmp_path, monkeypatch):
    (tmp_path / "fake_ebmc_plugin.py").write_text(PLUGIN)
    info = tmp_path / "fake_ebmc_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-ebmc-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[ebmc.ops]\ncube = fake_ebmc_plugin:CUBE\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.cache_clear()
    yield
    monkeypatch.undo()
    registry.cache_clear()


def test_builtins_are_registered_through_entry_points():
    reg = registry()
    assert {"bernoulli", "spin"} <= set(reg.units)
    assert {"cd", "pcd"} <= set(reg.trainers)
    assert "numpy" in reg.backends
    assert {"tensordot", "sigmoid", "softplus"} <= set(reg.ops)
    assert reg.origins[("units", "bernoulli")].startswith("ebmc: ebmc.units")


def test_a_third_party_op_is_usable_in_a_model(cube_plugin):
    assert registry().origins[("ops", "cube")].startswith("fake-ebmc-plugin")
    source = (
        (EXAMPLES / "rbm.ebm")
        .read_text()
        .replace(
            "energy = -(a @ v) - (b @ h) - v @ W @ h", "energy = -(a @ v) - (b @ h) - v @ W @ h - sum(cube(a) * v)"
        )
    )
    m = ebmc.load(source, n_visible=5, n_hidden=3).Rbm(seed=0)
    rng = np.random.default_rng(0)
    for p in m.params.values():
        p[...] = rng.normal(size=p.shape)
    v = (rng.random((4, 5)) < 0.5).astype(float)
    h = (rng.random((4, 3)) < 0.5).astype(float)
    W, a, b = m.params["W"], m.params["a"], m.params["b"]
    expected = -(v @ a) - (h @ b) - np.einsum("bi,ij,bj->b", v, W, h) - v @ a**3
    np.testing.assert_allclose(m.energy(v=v, h=h), expected, rtol=1e-12)
    # d/da of the batch mean: -mean(v) - 3 a^2 mean(v)
    np.testing.assert_allclose(m.grad(v=v, h=h)["a"], -v.mean(0) - 3 * a**2 * v.mean(0), rtol=1e-12)


def test_plugins_command_names_the_third_party(cube_plugin, capsys):
    from ebmc.cli import main

    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    functions = out[out.index("functions:\n") : out.index("trainers:\n")]  # callable from a model: listed there
    (line,) = [line for line in functions.splitlines() if line.split()[0] == "cube"]
    assert line.split(None, 1)[1].split("  ") == ["fake-ebmc-plugin: fake_ebmc_plugin:CUBE", "x ** 3"]
