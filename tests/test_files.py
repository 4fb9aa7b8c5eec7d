"""The files `ebmc compile` and `ebmc render` read and write.

Outputs are written atomically with the permissions the umask gives a new file,
only to a new name or over a regular file (never through a symlink, a device, a
FIFO or into a directory), or to standard output with `-o -`. Inputs are read
only from regular files of bounded size. File names that are not UTF-8 are
printed without error.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ebmc import __version__ as ebmc_version
from ebmc import cli
from ebmc.frontend.parser import MAX_FILE_BYTES

TINY = """model m {
    visible v[3] : bernoulli
    hidden h[2] : bernoulli
    param W[3, 2] ~ normal(0, 0.1)
    energy = -(v @ W @ h)
}
"""
BAD = TINY.replace("v @ W @ h", "v @ W2 @ h")

# command -> (extra arguments, the default output's suffix)
COMMANDS = {"compile": ([], ".py"), "render": (["--format", "dot"], ".energy.dot")}


def run(*args, **kwargs):
    """The command line in a fresh process, as a user runs it (bytes in, bytes out)."""
    return subprocess.run([sys.executable, "-m", "ebmc", *args], capture_output=True, timeout=120, **kwargs)


def ebmc(command: str, *args: str) -> int:
    """The command line in this process (fast), with the command's own arguments."""
    return cli.main([command, *args, *COMMANDS[command][0]])


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.fixture
def model(tmp_path) -> Path:
    path = tmp_path / "m.ebm"
    path.write_text(TINY)
    return path


@pytest.fixture
def umask():
    """Set the process's umask for one test: umask(0o077); restored afterwards."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


# ---------------------------------------------------------------- permissions
@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664), (0o027, 0o640)])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_an_output_gets_the_permissions_the_umask_gives_a_new_file(model, umask, command, mask, mode, capsys):
    out = model.with_suffix(COMMANDS[command][1])
    umask(mask)
    assert ebmc(command, str(model)) == 0
    assert mode_of(out) == mode
    out.chmod(0o751)  # a file that is replaced gets a new file's mode too, not its old one
    assert ebmc(command, str(model), "-o", str(out)) == 0
    assert mode_of(out) == mode
    assert listing(model.parent) == sorted(["m.ebm", out.name])  # no temporary file left
    assert capsys.readouterr().out == f"{out}\n{out}\n"


def test_the_umask_of_the_command_line_process_is_followed(model):
    r = run("compile", str(model), umask=0o027)
    assert r.returncode == 0, r.stderr
    assert mode_of(model.with_suffix(".py")) == 0o640
    r = run("compile", str(model), umask=0o022)
    assert r.returncode == 0, r.stderr
    assert mode_of(model.with_suffix(".py")) == 0o644


# ---------------------------------------------------------------- nothing changes on failure
@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_failed_compile_keeps_the_good_output(model, command, capsys):
    out = model.with_suffix(COMMANDS[command][1])
    assert ebmc(command, str(model)) == 0
    good = out.read_bytes()
    model.write_text(BAD)
    assert ebmc(command, str(model)) == 1
    assert "error: unknown name 'W2'" in capsys.readouterr().err
    assert out.read_bytes() == good
    assert listing(model.parent) == sorted(["m.ebm", out.name])


@pytest.mark.parametrize("step", ["fsync", "replace"])
def test_a_failed_write_keeps_the_good_output_and_leaves_no_temporary_file(model, monkeypatch, capsys, step):
    out = model.with_suffix(".py")
    assert cli.main(["compile", str(model)]) == 0
    good = out.read_bytes()
    model.write_text(TINY.replace("normal(0, 0.1)", "normal(0, 0.2)"))  # another module

    def fail(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, step, fail)
    assert cli.main(["compile", str(model)]) == 1
    monkeypatch.undo()
    assert capsys.readouterr().err.endswith("ebmc compile: error: [Errno 28] No space left on device\n")
    assert out.read_bytes() == good
    assert listing(model.parent) == ["m.ebm", "m.py"]


# ---------------------------------------------------------------- outputs that are refused
def _symlink_to_file(path: Path):
    path.with_name("target.py").write_text("keep me\n")
    path.symlink_to("target.py")


def _dangling_symlink(path: Path):
    path.symlink_to("nowhere.py")


def _symlink_to_directory(path: Path):
    path.with_name("dir").mkdir()
    path.symlink_to("dir")


def _directory(path: Path):
    path.mkdir()
    (path / "inside.txt").write_text("keep me\n")


def _fifo(path: Path):
    os.mkfifo(path)


def _socket(path: Path):
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    s.close()


def _device(path: Path):
    try:  # a node of its own like /dev/null's: a test that failed must not replace the system's
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("making a device node needs root")


REFUSED = {
    "symlink to a file": (_symlink_to_file, "a symbolic link"),
    "dangling symlink": (_dangling_symlink, "a symbolic link"),
    "symlink to a directory": (_symlink_to_directory, "a symbolic link"),
    "directory": (_directory, "a directory"),
    "fifo": (_fifo, "a FIFO (named pipe)"),
    "socket": (_socket, "a socket"),
    "device": (_device, "a character device"),
}


def snapshot(directory: Path) -> dict:
    """Every entry of a directory tree: its kind, mode, link target and content."""
    state = {}
    for p in sorted(directory.rglob("*")):
        st = os.lstat(p)
        content = p.read_bytes() if stat.S_ISREG(st.st_mode) else os.readlink(p) if p.is_symlink() else None
        state[str(p.relative_to(directory))] = (st.st_mode, st.st_ino, st.st_rdev, content)
    return state


@pytest.mark.parametrize("kind", list(REFUSED))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_an_output_that_is_not_a_regular_file_is_refused(tmp_path, model, command, kind, capsys):
    make, words = REFUSED[kind]
    out = tmp_path / "out.py"
    make(out)
    before = snapshot(tmp_path)
    assert ebmc(command, str(model), "-o", str(out)) == 1
    assert capsys.readouterr().err == (
        f"ebmc {command}: error: the output '{out}' is {words}; ebmc writes a new file or replaces a "
        "regular file, nothing else: choose another with -o\n"
    )
    assert snapshot(tmp_path) == before  # nothing written through it, replaced, or left behind


def test_the_systems_null_device_is_refused_before_anything_is_written():
    with pytest.raises(cli.OutputError, match="the output '/dev/null' is a character device"):
        cli._check_output(Path("/dev/null"), "m.ebm")


@pytest.mark.parametrize("command", list(COMMANDS))
def test_an_output_that_is_the_model_file_is_refused(tmp_path, model, command, capsys):
    os.link(model, tmp_path / "again.ebm")
    for out in (model, tmp_path / "again.ebm", tmp_path / "." / "m.ebm"):
        assert ebmc(command, str(model), "-o", str(out)) == 1
        assert capsys.readouterr().err == (
            f"ebmc {command}: error: the output '{out}' would overwrite the model file; choose another with -o\n"
        )
    assert model.read_text() == TINY
    assert listing(tmp_path) == ["again.ebm", "m.ebm"]


def test_a_model_file_named_like_its_default_output_is_not_overwritten(tmp_path, capsys):
    model = tmp_path / "m.py"
    model.write_text(TINY)
    assert cli.main(["compile", str(model)]) == 1
    assert "would overwrite the model file" in capsys.readouterr().err
    assert model.read_text() == TINY and listing(tmp_path) == ["m.py"]


# ---------------------------------------------------------------- standard output and usage errors
@pytest.mark.parametrize("command", list(COMMANDS))
def test_dash_writes_to_standard_output(tmp_path, model, command, monkeypatch, capsysbinary):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "file.out"
    assert ebmc(command, str(model), "-o", str(out)) == 0
    capsysbinary.readouterr()
    assert ebmc(command, str(model), "-o", "-") == 0
    captured = capsysbinary.readouterr()
    assert captured.out == out.read_bytes() and captured.err == b""
    assert listing(tmp_path) == ["file.out", "m.ebm"]  # no file named '-'
    assert ebmc(command, str(model), "-o", "./-") == 0  # a file named '-' is written like any other
    assert (tmp_path / "-").read_bytes() == out.read_bytes()


def test_compile_to_standard_output_through_the_command_line(model):
    r = run("compile", str(model), "-o", "-", cwd=model.parent)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b'"""Generated by ebmc') and b"class M" in r.stdout
    assert listing(model.parent) == ["m.ebm"]


@pytest.mark.parametrize("command", list(COMMANDS))
def test_an_empty_output_is_a_usage_error(tmp_path, model, command, capsys):
    with pytest.raises(SystemExit) as info:
        ebmc(command, str(model), "-o", "")
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: ebmc ")
    assert err.endswith(
        f"ebmc {command}: error: argument -o/--output: expected a file name, or - for standard output, got ''\n"
    )
    assert listing(tmp_path) == ["m.ebm"]


# ---------------------------------------------------------------- inputs
def test_an_endless_device_or_a_fifo_is_a_clear_error_not_a_hang(tmp_path):
    fifo = tmp_path / "pipe.ebm"
    os.mkfifo(fifo)  # nobody will ever write to it
    for path, words in (("/dev/zero", "a character device"), (str(fifo), "a FIFO (named pipe)")):
        r = run("compile", path, cwd=tmp_path)  # timeout: a hang fails the test
        assert r.returncode == 1
        assert r.stderr.decode() == f"{path}: error: cannot read '{path}': it is {words}, not a regular file\n"
    assert listing(tmp_path) == ["pipe.ebm"]


def test_a_file_beyond_the_size_limit_is_refused_unread(tmp_path, capsys):
    big = tmp_path / "big.ebm"
    with open(big, "wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)
    assert cli.main(["compile", str(big)]) == 1
    message = f"cannot read '{big}': the file is larger than 10 MB, the limit for a model file"
    assert capsys.readouterr().err == f"{big}: error: {message}\n"
    assert listing(tmp_path) == ["big.ebm"]


# ---------------------------------------------------------------- names that are not UTF-8
def _name(directory: Path, raw: bytes, text: str | None = None) -> Path:
    """directory/raw (a name that is not UTF-8), holding `text` when given."""
    path = Path(os.fsdecode(os.fsencode(directory) + b"/" + raw))
    if text is not None:
        try:
            path.write_text(text)
        except (OSError, UnicodeEncodeError):
            pytest.skip("this file system takes only UTF-8 names")
    return path


# stdout and stderr as strict UTF-8, as in an en_US.UTF-8 session: a lone surrogate cannot be printed
STRICT = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}


def test_a_model_file_whose_name_is_not_utf8_compiles_and_its_path_is_printed(tmp_path):
    model = _name(tmp_path, b"m\xff.ebm", TINY)
    r = run("compile", str(model), env=STRICT)
    assert r.returncode == 0, r.stderr.decode()
    out = _name(tmp_path, b"m\xff.py")
    assert r.stdout == os.fsencode(out) + b"\n"  # the name's own bytes: a script can use it
    assert r.stderr == b""
    assert out.read_text(encoding="utf-8").startswith(f'"""Generated by ebmc {ebmc_version} from m\ufffd.ebm ')


def test_an_error_in_a_file_whose_name_is_not_utf8_is_printed(tmp_path):
    model = _name(tmp_path, b"bad\xff.ebm", BAD)
    r = run("compile", str(model), env=STRICT)
    assert r.returncode == 1
    err = r.stderr.decode("utf-8")
    assert err.startswith(f"{tmp_path}/bad\ufffd.ebm:5:20: error: unknown name 'W2'")
    assert "Traceback" not in err and listing(tmp_path) == ["bad\udcff.ebm"]


def test_a_refused_output_whose_name_is_not_utf8_is_printed(tmp_path, model):
    out = _name(tmp_path, b"o\xff.py", "")
    out.unlink()
    out.mkdir()
    r = run("compile", str(model), "-o", str(out), env=STRICT)
    assert r.returncode == 1
    err = r.stderr.decode("utf-8")
    assert err.startswith(f"ebmc compile: error: the output '{tmp_path}/o\ufffd.py' is a directory")
    assert "Traceback" not in err and listing(out) == []


def test_a_pipe_closed_by_its_reader_stops_the_output_quietly(model):
    p = subprocess.Popen(
        [sys.executable, "-m", "ebmc", "compile", str(model), "-o", "-"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    p.stdout.close()  # as `| head` does when it has read enough: here, before the module is written
    err = p.stderr.read()
    p.stderr.close()
    assert p.wait(timeout=120) == 1
    assert err == b""  # no traceback, no "Exception ignored" from the interpreter's last flush
    assert listing(model.parent) == ["m.ebm"]
