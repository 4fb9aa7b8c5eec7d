"""End to end through the command line, in a fresh process as a user runs it."""

import importlib.metadata
import re
import subprocess
import sys

import pytest
from conftest import EXAMPLES

import ebmc
from ebmc.cli import main
from ebmc.ir.lower import language_functions
from ebmc.plugins import registry

TINY = """model m {
    visible v[3] : bernoulli
    hidden h[2] : bernoulli
    param W[3, 2] ~ normal(0, 0.1)
    param a[3] = 0.5
    LAYER
    energy = -(v @ W @ h) - TERM
}
"""
TINY_NETWORK = """model n {
    input x[3]
    target t[2] : onehot
    output y = dense(x, 2, softmax)
    loss = cross_entropy(y, t)
    TRAIN
}
"""


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "ebmc", *args], capture_output=True, text=True, cwd=cwd)


def test_compile_writes_module_and_prints_path(tmp_path):
    out = tmp_path / "rbm_out.py"
    r = run("compile", str(EXAMPLES / "rbm.ebm"), "-o", str(out), "--dim", "n_hidden=9")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(out)
    namespace = {}
    exec(compile(out.read_text(), str(out), "exec"), namespace)
    assert namespace["Rbm"](seed=0).params["W"].shape == (64, 9)


def test_compile_default_output_is_next_to_the_file(tmp_path):
    model = tmp_path / "m.ebm"
    model.write_text((EXAMPLES / "rbm.ebm").read_text())
    r = run("compile", str(model))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "m.py").exists()


def test_error_in_model_is_file_line_col_with_caret_and_no_output(tmp_path):
    model = tmp_path / "bad.ebm"
    model.write_text((EXAMPLES / "rbm.ebm").read_text().replace("v @ W @ h", "v @ W2 @ h"))
    r = run("compile", str(model))
    assert r.returncode == 1
    first, line, caret = r.stderr.splitlines()[:3]
    assert first.startswith(f"{model}:13:39:")
    assert "error: unknown name 'W2'" in first and "did you mean 'W'" in first
    assert "v @ W2 @ h" in line
    assert caret.strip().startswith("^")
    assert line.index("W2") == caret.index("^")
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "bad.py").exists()


def test_missing_file_is_a_clear_error(tmp_path):
    r = run("compile", str(tmp_path / "nope.ebm"))
    assert r.returncode == 1
    assert "nope.ebm" in r.stderr and "Traceback" not in r.stderr


def test_usage_errors_exit_2():
    assert run().returncode == 2
    assert run("compile").returncode == 2
    assert run("compile", "x.ebm", "--dim", "oops").returncode == 2
    assert run("frobnicate").returncode == 2


@pytest.mark.parametrize("dim", ["n_hidden=\u0663", "n_hidden=\uff12", "n_hidden= 8", "n_hidden=1_0", "n=1e3"])
def test_a_dim_override_is_written_with_the_digits_0_to_9(dim, capsys):
    with pytest.raises(SystemExit) as info:
        main(["compile", str(EXAMPLES / "rbm.ebm"), "--dim", dim])
    assert info.value.code == 2
    assert capsys.readouterr().err.endswith(f"error: argument --dim: expected NAME=INT (digits 0-9), got {dim!r}\n")


def test_version_prints_the_package_version():
    r = run("--version")
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"ebmc {ebmc.__version__}\n"
    assert ebmc.__version__ == importlib.metadata.version("ebmc")  # one version: the metadata reads ebmc.__version__


def plugins_listing(capsys) -> dict[str, dict[str, list[str]]]:
    """`ebmc plugins` as section -> name -> the rest of its line, split on runs of two spaces or more."""
    assert main(["plugins"]) == 0
    sections: dict[str, dict[str, list[str]]] = {}
    for line in capsys.readouterr().out.splitlines():
        if not line.startswith(" "):
            assert line.endswith(":"), line
            table = sections[line[:-1]] = {}
        else:
            name, *rest = re.split(r"\s{2,}", line.strip())
            table[name] = rest
    return sections


def test_plugins_lists_unit_types_functions_trainers_and_backends_with_their_origin(capsys):
    listing = plugins_listing(capsys)
    assert list(listing) == ["unit types", "functions", "trainers", "backends", "rewrites"]
    assert listing["rewrites"]["symmetric-transpose"][0] == "ebmc: ebmc.passes.simplify:RULES"
    assert listing["unit types"]["bernoulli"][0] == "ebmc: ebmc.units:BERNOULLI"
    assert listing["trainers"]["pcd"][0] == "ebmc: ebmc.backends.numpy.trainers:PCD"
    assert listing["backends"]["numpy"][0] == "ebmc: ebmc.backends.numpy:BACKEND"
    functions = listing["functions"]
    assert set(functions) == set(language_functions()) | {"dense"}
    assert functions["sigmoid"] == ["ebmc: the language", "1 / (1 + exp(-x))"]
    assert functions["dense"][0] == "ebmc: the language"
    # ops of the graph IR that no model can call are not listed: internal steps of derivatives, leaves, batch ops
    listed = {name for table in listing.values() for name in table}
    for op in ("sign", "step", "neg", "var", "const", "batch_sum", "batch_tensordot", "tensordot", "sum_to"):
        assert op not in listed


def test_every_function_listed_by_plugins_works_from_a_model_file(capsys):
    functions = language_functions()
    for name in plugins_listing(capsys)["functions"]:
        if name == "dense":
            layer, term = "layer u = dense(a, 2, tanh)", "u @ h"
        elif functions[name].arity == 1:
            layer, term = "", f"sum({name}(a) * v)"
        else:
            layer, term = "", f"sum({name}(sigmoid(a), sigmoid(a)) * v)"
        source = TINY.replace("LAYER", layer).replace("TERM", term)
        assert "class M" in ebmc.compile(source).source, name


def test_every_unit_type_trainer_and_backend_listed_by_plugins_works_from_a_model_file(capsys):
    listing = plugins_listing(capsys)
    for unit in listing["unit types"]:
        term = "(sum(v) - 0.5 * sum(square(v)) - 0.5 * sum(square(h)))" if unit == "gaussian" else "sum(v)"
        ebmc.compile(TINY.replace(": bernoulli", f": {unit}").replace("TERM", term).replace("LAYER", ""))
    for trainer in listing["trainers"]:
        if getattr(registry().trainers[trainer], "kind", "energy") == "network":
            ebmc.compile(TINY_NETWORK.replace("TRAIN", f"train {trainer}"))
        else:
            ebmc.compile(TINY.replace("TERM", "sum(v)").replace("LAYER", f"train {trainer}"))
    for backend in listing["backends"]:
        ebmc.compile(TINY.replace("TERM", "sum(v)").replace("LAYER", ""), backend=backend)


def test_a_built_in_op_that_plugins_does_not_list_cannot_be_called():
    with pytest.raises(ebmc.EbmcError, match="unknown function 'sign'"):
        ebmc.compile(TINY.replace("TERM", "sum(sign(v))").replace("LAYER", ""))


def test_a_file_without_models_is_an_error(tmp_path):
    model = tmp_path / "empty.ebm"
    model.write_text("# nothing here yet\n")
    r = run("compile", str(model))
    assert r.returncode == 1
    assert r.stderr.startswith(f"{model}: error: the file holds no 'model NAME")
    assert not (tmp_path / "empty.py").exists()
