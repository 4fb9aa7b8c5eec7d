"""Robustness: whatever the input, `parse` returns models or raises an EbmcError that renders.

Never another exception, never a RecursionError, never a hang; the error's
line and column are inside the file, and no message shows Lark's own names
for the tokens.
"""

from __future__ import annotations

import random
import re
import sys
import time
import warnings

import pytest
from conftest import EXAMPLES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ebmc.errors import EbmcError
from ebmc.frontend.check import parse
from ebmc.frontend.model import CheckedModel
from ebmc.frontend.parser import KEYWORDS, MAX_DEPTH, PUNCTUATION, _parser, parse_text

RBM = (EXAMPLES / "rbm.ebm").read_text()
NET = """model net {
    dim n_in = 4
    dim n_hid = 8
    input x[n_in]
    target y[3] : onehot
    layer h = dense(x, n_hid, relu)
    output p = dense(h, 3, softmax)
    loss = cross_entropy(p, y) + 0.5 * sum(h_W ** 2) - -x.T @ h_W @ h_b
    train adam(lr=0.01, batch=32, epochs=5)
}
"""
BASES = [RBM, NET, RBM + "\n" + NET]
WORDS = "x v W h n_visible 1 2.5 1e3 -1 dense( sum( glorot softmax cd(k=1) symmetric fixed é $ ; ' . lambda _x"
TOKENS = [
    *KEYWORDS.values(),
    *PUNCTUATION.values(),
    *WORDS.split(),
    "\n",
    " ",
    "# c\n",
    "normal(0, 1)",
    "\x00",
    "\t",
    "\r",
]
TOKENS.append("9" * 30)
LARK_NAMES = {t.name for t in _parser().terminals} | {"$END"}
SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


def outcome(source) -> list[CheckedModel] | EbmcError:
    """Parse; assert that the result is models or a well-formed error, and return it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # plugins of the other stages still being written
        try:
            models = parse(source)
        except EbmcError as err:
            check_error(err)
            return err
    assert isinstance(models, list) and all(isinstance(m, CheckedModel) for m in models)
    return models


def check_error(err: EbmcError) -> None:
    text = err.render()
    assert text.startswith(f"{err.filename}:")
    assert err.source is not None and err.filename is not None
    words = set(re.findall(r"[A-Z_$][A-Z0-9_]+", err.message.replace("model NAME {", "")))
    written = set(re.findall(r"[A-Z_$][A-Z0-9_]+", err.source))  # the file's own words may be quoted
    assert not (words - written) & LARK_NAMES, err.message
    assert "__ANON" not in err.message and "Token(" not in err.message
    if err.line is not None:
        lines = err.source.split("\n")
        assert 1 <= err.line <= len(lines), (err.line, len(lines))
        if err.column is not None:
            assert 1 <= err.column <= len(lines[err.line - 1]) + 1, (err.column, lines[err.line - 1])
            assert len(text.splitlines()) >= 3  # the line and the caret


def mutate(base: str, edits) -> str:
    s = base
    for kind, pos, arg in edits:
        i = pos % (len(s) + 1)
        if kind == "delete":
            s = s[:i] + s[i + arg :]
        elif kind == "insert":
            s = s[:i] + arg + s[i:]
        elif kind == "replace":
            s = s[:i] + arg + s[i + 1 :]
        else:
            s = s[:i]
    return s


EDITS = st.one_of(
    st.tuples(st.just("delete"), st.integers(0, 2000), st.integers(1, 30)),
    st.tuples(st.just("insert"), st.integers(0, 2000), st.sampled_from(TOKENS) | st.text(max_size=4)),
    st.tuples(st.just("replace"), st.integers(0, 2000), st.characters()),
    st.tuples(st.just("truncate"), st.integers(0, 2000), st.none()),
)


@settings(SETTINGS, max_examples=400)
@given(st.sampled_from(BASES), st.lists(EDITS, min_size=1, max_size=5))
def test_mutated_examples(base, edits):
    source = mutate(base, edits)
    if "\n" not in source and "{" not in source:
        source += "\n"  # keep it source text, not a path
    outcome(source)


@settings(SETTINGS, max_examples=250)
@given(st.lists(st.sampled_from(TOKENS), max_size=40))
def test_token_soup(tokens):
    outcome("model m {\n" + " ".join(tokens) + "\n}\n")
    outcome(" ".join(tokens) + "\n")


@settings(SETTINGS, max_examples=150)
@given(st.binary(max_size=300))
def test_random_bytes(data):
    outcome(data)


@settings(SETTINGS, max_examples=100)
@given(st.text(max_size=200))
def test_random_text(text):
    outcome("model m {\n" + text)


def test_unmutated_bases_parse():
    for base in BASES:
        assert isinstance(outcome(base), list)


# ---------------------------------------------------------------- explicit cases
def test_seeded_random_bytes():
    rng = random.Random(1234)
    for _ in range(50):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 500)))
        assert isinstance(outcome(data), EbmcError)


def test_printable_noise_after_a_valid_model():
    rng = random.Random(99)
    for _ in range(50):
        noise = "".join(rng.choice("{}[]()=:~,+-*/@.#abcT01 \n") for _ in range(rng.randrange(1, 60)))
        outcome(RBM + noise)


def test_nul_byte():
    err = outcome(RBM.replace("128", "1\x0028"))
    assert isinstance(err, EbmcError) and err.message.startswith("the file contains the control character U+0000")


def test_invalid_utf8_bytes():
    err = outcome(RBM.encode().replace(b"64", b"6\xc34"))
    assert isinstance(err, EbmcError) and err.message == "the file is not valid UTF-8: byte 0xc3"
    assert (err.line, err.column) == (3, 22)


@pytest.mark.parametrize(
    "expr",
    [
        "(" * 10_000 + "v" + ")" * 10_000,
        "(" * 10_000 + "v",
        "-" * 10_000 + "sum(v)",
        " + ".join(["sum(v)"] * 10_000),
        " ** ".join(["sum(v)"] * 10_000),
        "exp(" * 10_000 + "v" + ")" * 10_000,
        "v" + ".T" * 10_000,
    ],
)
def test_deep_nesting_is_an_error_not_a_crash(expr):
    start = time.perf_counter()
    err = outcome(f"model m {{\n visible v[3] : spin\n energy = {expr}\n}}\n")
    assert isinstance(err, EbmcError) and err.line == 3
    assert "nested too deeply" in err.message or "to close the '('" in err.message
    assert time.perf_counter() - start < 5


def test_depth_checks_do_not_recurse():
    """The depth limit holds even with a Python stack too small for any recursive walk."""
    source = "model m {\n visible v[3] : spin\n energy = " + "(" * 5000 + "v" + ")" * 5000 + "\n}"
    _parser()  # built beforehand
    depth = len(__import__("inspect").stack(0))
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + 80)
    try:
        with pytest.raises(EbmcError, match="nested too deeply"):
            parse_text(source)
    finally:
        sys.setrecursionlimit(old)


def test_nesting_at_the_limit_compiles_through_the_checker():
    inner = "(" * (MAX_DEPTH - 2) + "v" + ")" * (MAX_DEPTH - 2)
    (m,) = outcome(f"model m {{\n visible v[3] : spin\n energy = sum({inner})\n}}\n")
    assert m.energy is not None
    terms = " + ".join(["sum(v)"] * MAX_DEPTH)
    assert isinstance(outcome(f"model m {{\n visible v[3] : spin\n energy = {terms}\n}}\n"), list)


def test_one_megabyte_of_statements_parses_in_seconds():
    lines = [f"    param p{i}[n_visible, n_hidden] ~ normal(0, 0.01) : fixed\n" for i in range(20_000)]
    source = RBM.replace("    energy", "".join(lines) + "    energy")
    assert len(source) > 1_000_000
    start = time.perf_counter()
    (m,) = outcome(source)
    assert len(m.params) == 20_003
    assert time.perf_counter() - start < 20  # about 3 s; generous for a loaded machine


def test_one_megabyte_of_models():
    source = "\n".join(RBM.replace("model rbm", f"model rbm{i}") for i in range(1_000_000 // len(RBM) + 1))
    models = outcome(source)
    assert len(models) > 2000 and models[-1].params["W"].shape == (64, 128)


def test_an_error_at_the_end_of_a_long_file():
    source = "\n".join(RBM.replace("model rbm", f"model rbm{i}") for i in range(1000)).rstrip()[:-1]
    err = outcome(source)
    assert isinstance(err, EbmcError) and err.message.startswith("missing '}' to close model 'rbm999'")


def test_a_megabyte_on_one_line():
    err = outcome("model m {\n energy = " + "x" * 1_000_000 + "\n}")
    assert isinstance(err, EbmcError) and err.line == 2
    assert len(err.render().splitlines()[1]) < 300  # a window of the line, not all of it


def test_every_terminal_has_words_for_messages():
    for t in _parser().terminals:
        assert t.name in PUNCTUATION or t.name in KEYWORDS or t.name in ("NAME", "NUMBER", "COMMENT", "WS")
