"""End to end through the command line, in a fresh process as a user runs it."""

import importlib.metadata
import subprocess
import sys

import pytest
from conftest import EXAMPLES

import ebmc
from ebmc.cli import main


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


def test_plugins_lists_builtins():
    r = run("plugins")
    assert r.returncode == 0
    for word in ("bernoulli", "cd", "pcd", "numpy", "sigmoid", "tensordot"):
        assert word in r.stdout


def test_a_file_without_models_is_an_error(tmp_path):
    model = tmp_path / "empty.ebm"
    model.write_text("# nothing here yet\n")
    r = run("compile", str(model))
    assert r.returncode == 1
    assert r.stderr.startswith(f"{model}: error: the file holds no 'model NAME")
    assert not (tmp_path / "empty.py").exists()
