"""The parser: text -> syntax tree, with spans; reading files; the grammar's precedence."""

from __future__ import annotations

import os

import pytest
from conftest import EXAMPLES

from ebmc.errors import EbmcError
from ebmc.frontend import ast
from ebmc.frontend.parser import MAX_DEPTH, MAX_FILE_BYTES, decode, parse_text, read_source


def body(statements: str) -> tuple:
    (model,) = parse_text("model m {\n" + statements + "\n}\n").models
    return model.body


def expr(text: str) -> ast.Expr:
    (stmt,) = body(f"energy = {text}")
    return stmt.expr


def show(e: ast.Expr) -> str:
    """A fully parenthesised rendering, to check precedence and associativity."""
    if isinstance(e, ast.Num):
        return f"{e.value:g}"
    if isinstance(e, ast.Name):
        return e.id
    if isinstance(e, ast.Unary):
        return f"(-{show(e.operand)})"
    if isinstance(e, ast.BinOp):
        return f"({show(e.left)} {e.op} {show(e.right)})"
    if isinstance(e, ast.Transpose):
        return f"{show(e.operand)}.T"
    return f"{e.func}({', '.join(show(a) for a in e.args)})"


def span(*args) -> ast.Span:
    return ast.Span(*args)


# ---------------------------------------------------------------- the example
def test_rbm_example_parses_to_the_expected_statements():
    (model,) = parse_text((EXAMPLES / "rbm.ebm").read_text()).models
    assert model.name == "rbm"
    assert model.name_span == span(2, 7, 2, 10)
    kinds = [type(s).__name__ for s in model.body]
    assert kinds == ["Dim", "Dim", "Units", "Units", "Param", "Param", "Param", "Energy", "Train"]
    dim = model.body[0]
    assert (dim.name, dim.value, dim.span, dim.name_span) == ("n_visible", 64, span(3, 5, 3, 23), span(3, 9, 3, 18))
    v = model.body[2]
    assert (v.role, v.name, v.type) == ("visible", "v", "bernoulli")
    assert [d.value for d in v.shape] == ["n_visible"]
    assert v.type_span == span(6, 28, 6, 37)
    w = model.body[4]
    assert w.init == ast.Init("normal", (0.0, 0.01), span(9, 36, 9, 51))
    assert [d.value for d in w.shape] == ["n_visible", "n_hidden"]
    assert model.body[5].init == ast.Init("const", (0.0,), span(10, 26, 10, 27))
    train = model.body[8]
    assert train.name == "cd"
    assert [(o.key, o.value) for o in train.options] == [
        ("k", 1),
        ("lr", 0.05),
        ("batch", 100),
        ("epochs", 20),
        ("momentum", 0.5),
    ]
    assert isinstance(train.options[0].value, int) and isinstance(train.options[1].value, float)
    assert train.options[1].span == span(15, 19, 15, 26)


# ---------------------------------------------------------------- expressions
@pytest.mark.parametrize(
    "text, expected",
    [
        ("a + b * c", "(a + (b * c))"),
        ("a - b - c", "((a - b) - c)"),
        ("a / b / c", "((a / b) / c)"),
        ("a @ b * c", "((a @ b) * c)"),
        ("a * b @ c", "((a * b) @ c)"),
        ("v @ W @ h", "((v @ W) @ h)"),
        ("-x ** 2", "(-(x ** 2))"),
        ("x ** -1", "(x ** (-1))"),
        ("a ** b ** c", "(a ** (b ** c))"),
        ("-a * b", "((-a) * b)"),
        ("- -a", "(-(-a))"),
        ("-x.T", "(-x.T)"),
        ("x.T ** 2", "(x.T ** 2)"),
        ("x.T.T", "x.T.T"),
        ("exp(x).T", "exp(x).T"),
        ("(a + b).T @ c", "((a + b).T @ c)"),
        ("(a + b) * c", "((a + b) * c)"),
        ("mse(sigmoid(x @ W), t)", "mse(sigmoid((x @ W)), t)"),
        ("-(a @ v) - (b @ h) - v @ W @ h", "(((-(a @ v)) - (b @ h)) - ((v @ W) @ h))"),
        ("2 * .5 + 1e-3 - 1.5E+2 + 3.", "((((2 * 0.5) + 0.001) - 150) + 3)"),
    ],
)
def test_precedence_and_associativity(text, expected):
    assert show(expr(text)) == expected


def test_numbers_are_floats_in_expressions():
    e = expr("3")
    assert isinstance(e, ast.Num) and e.value == 3.0 and isinstance(e.value, float)


def test_expression_spans():
    e = expr("-(a @ v) - v @ W @ h")  # energy = starts at column 1 of line 2
    assert isinstance(e, ast.BinOp) and e.op == "-"
    assert e.span == span(2, 10, 2, 30)
    neg = e.left
    assert isinstance(neg, ast.Unary) and neg.span == span(2, 10, 2, 18)  # includes the ')'
    inner = neg.operand
    assert inner.span == span(2, 12, 2, 17)  # without the parentheses
    assert e.right.span == span(2, 21, 2, 30)
    assert e.right.right == ast.Name("h", span(2, 29, 2, 30))


def test_call_spans():
    e = expr("sigmoid(x @ W)")
    assert isinstance(e, ast.Call) and e.func == "sigmoid" and len(e.args) == 1
    assert e.span == span(2, 10, 2, 24)
    assert e.func_span == span(2, 10, 2, 17)


def test_transpose_span():
    e = expr("W.T")
    assert isinstance(e, ast.Transpose) and e.span == span(2, 10, 2, 13)


def test_calls_with_zero_one_two_arguments_and_a_trailing_comma():
    assert expr("f()").args == ()
    assert len(expr("f(a)").args) == 1
    assert len(expr("f(a, b)").args) == 2
    assert len(expr("f(a, b,)").args) == 2


def test_expressions_run_over_several_lines_and_comments():
    (e,) = body("energy = -(a @ v)   # the visible bias\n   - b @ h  # hidden\n\n   - v @ W @ h")
    assert show(e.expr) == "(((-(a @ v)) - (b @ h)) - ((v @ W) @ h))"
    assert e.span == span(2, 1, 5, 15)


def test_T_is_only_a_transpose_after_a_dot():
    assert expr("T * x.T") == ast.BinOp(
        "*",
        ast.Name("T", span(2, 10, 2, 11)),
        ast.Transpose(ast.Name("x", span(2, 14, 2, 15)), span(2, 14, 2, 17)),
        span(2, 10, 2, 17),
    )


# ---------------------------------------------------------------- statements
def test_every_statement_form():
    stmts = body("""
        dim n = 3
        visible v[n] : bernoulli
        hidden h[n, 2] : softmax
        visible s : gaussian
        input x[n]
        target t[n] : onehot
        param W[n, n] ~ uniform(-1, 1) : symmetric, zero_diagonal
        param c = -2.5
        param d[n] ~ glorot
        param e[n] ~ he() : fixed
        layer y = x * 2
        output z = dense(y, n, relu)
        loss = mse(z, t)
        train sgd(
            lr=0.1,
            batch=10,
        )
    """)
    dim, v, h, s, x, t, w, c, d, e, y, z, loss, train = stmts
    assert (dim.name, dim.value) == ("n", 3)
    assert [sd.value for sd in h.shape] == ["n", 2]
    assert s.shape == () and s.type == "gaussian"
    assert (x.role, x.type, x.type_span) == ("input", None, None)
    assert (t.role, t.type) == ("target", "onehot")
    assert w.init.kind == "uniform" and w.init.args == (-1.0, 1.0)
    assert [a for a, _ in w.attrs] == ["symmetric", "zero_diagonal"]
    assert w.attrs[1][1] == span(9, 53, 9, 66)
    assert c.shape == () and c.init == ast.Init("const", (-2.5,), span(10, 19, 10, 23))
    assert d.init.kind == "glorot" and d.init.args == ()
    assert e.init.kind == "he" and [a for a, _ in e.attrs] == ["fixed"]
    assert (y.kind, y.name) == ("layer", "y")
    assert z.kind == "output" and isinstance(z.expr, ast.Call) and z.expr.func == "dense"
    assert isinstance(loss, ast.Loss)
    assert train.name == "sgd" and [(o.key, o.value) for o in train.options] == [("lr", 0.1), ("batch", 10)]
    assert train.span == span(16, 9, 19, 10)


def test_param_without_init_or_shape():
    (p,) = body("param w")
    assert (p.name, p.shape, p.init, p.attrs) == ("w", (), None, ())


def test_train_without_options_and_with_empty_parentheses():
    (a,) = body("train hebbian")
    (b,) = body("train storkey()")
    assert (a.name, a.options, b.name, b.options) == ("hebbian", (), "storkey", ())


def test_train_option_given_as_a_name_is_kept_as_text():
    (t,) = body("train cd(k=fast)")
    assert t.options[0].value == "fast"


def test_keywords_are_whole_words():
    stmts = body("input inputs[dims2]\nparam params\nlayer layered = inputs")
    assert [s.name for s in stmts] == ["inputs", "params", "layered"]


def test_a_keyword_where_a_name_is_expected_is_read_as_a_name():
    # the checker then refuses it, with a clear message (see test_errors.py)
    (layer,) = body("layer output = x")
    assert layer.name == "output"


def test_several_models_and_an_empty_file():
    module = parse_text("model a { dim x = 1 }\n# between\nmodel b {}\n")
    assert [m.name for m in module.models] == ["a", "b"]
    assert module.models[1].body == ()
    assert parse_text("").models == ()
    assert parse_text("# only a comment").models == ()


def test_statements_need_no_line_breaks():
    (m,) = parse_text("model m { dim n = 2 visible v[n] : spin energy = sum(v) train hebbian }").models
    assert [type(s).__name__ for s in m.body] == ["Dim", "Units", "Energy", "Train"]


def test_model_names_may_be_keywords():
    (m,) = parse_text("model energy { }").models
    assert m.name == "energy"


# ---------------------------------------------------------------- nesting
def test_nesting_up_to_the_limit_is_fine():
    depth = MAX_DEPTH
    e = expr("(" * depth + "x" + ")" * depth)
    assert e == ast.Name("x", span(2, 10 + depth, 2, 11 + depth))


@pytest.mark.parametrize(
    "text",
    [
        "(" * (MAX_DEPTH + 1) + "x" + ")" * (MAX_DEPTH + 1),
        "-" * (MAX_DEPTH + 1) + "x",
        " + ".join(["x"] * (MAX_DEPTH + 2)),
        "exp(" * (MAX_DEPTH + 1) + "x" + ")" * (MAX_DEPTH + 1),
        "x" + ".T" * (MAX_DEPTH + 1),
        " ** ".join(["x"] * (MAX_DEPTH + 2)),
    ],
)
def test_nesting_beyond_the_limit_is_an_error(text):
    with pytest.raises(EbmcError, match="nested too deeply") as info:
        expr(text)
    assert info.value.line == 2


# ---------------------------------------------------------------- reading
def test_read_source_decides_between_path_and_text(tmp_path):
    f = tmp_path / "m.ebm"
    f.write_text("model m {}\n")
    assert read_source(f) == (str(f), "model m {}\n")
    assert read_source(str(f)) == (str(f), "model m {}\n")
    assert read_source("model m {}") == ("<string>", "model m {}")
    assert read_source("# a\n") == ("<string>", "# a\n")


def test_read_source_missing_file():
    with pytest.raises(EbmcError) as info:
        read_source("no/such/file.ebm")
    assert info.value.message == "cannot read 'no/such/file.ebm': No such file or directory"
    assert info.value.line is None and info.value.filename == "no/such/file.ebm"


def test_read_source_directory(tmp_path):
    with pytest.raises(EbmcError, match="cannot read"):
        read_source(tmp_path)


def test_line_ends_are_normalised_and_a_bom_dropped():
    assert decode(b"\xef\xbb\xbfmodel m {\r\n}\r") == "model m {\n}\n"


def test_invalid_utf8_points_at_the_byte():
    with pytest.raises(EbmcError) as info:
        decode(b"model m {\n  # caf\xe9\n}")
    err = info.value
    assert err.message == "the file is not valid UTF-8: byte 0xe9"
    assert (err.line, err.column) == (2, 8)
    assert "# caf\ufffd" in err.source


def test_control_characters_are_refused_where_they_are():
    for ch in ("\x00", "\x07", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\u2028"):
        with pytest.raises(EbmcError) as info:
            parse_text(f"model m {{\n  dim n{ch} = 1\n}}")
        assert info.value.message.startswith(f"the file contains the control character U+{ord(ch):04X}")
        assert (info.value.line, info.value.column) == (2, 8)


def test_tabs_are_fine():
    (m,) = parse_text("model m {\n\tdim n\t= 2\n}").models
    assert m.body[0].name_span == span(2, 6, 2, 7)


def test_read_source_refuses_a_device_without_reading_it():
    with pytest.raises(EbmcError) as info:
        read_source("/dev/zero")  # endless: read whole, it would be a MemoryError
    assert info.value.message == "cannot read '/dev/zero': it is a character device, not a regular file"


def test_read_source_refuses_a_fifo_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "m.ebm"
    os.mkfifo(fifo)
    with pytest.raises(EbmcError) as info:
        read_source(fifo)  # a blocking open would wait here for ever
    assert info.value.message == f"cannot read '{fifo}': it is a FIFO (named pipe), not a regular file"


def test_read_source_refuses_a_file_beyond_the_limit(tmp_path):
    f = tmp_path / "big.ebm"
    with open(f, "wb") as out:
        out.truncate(MAX_FILE_BYTES + 1)  # sparse: no time spent writing it
    with pytest.raises(EbmcError) as info:
        read_source(f)
    assert info.value.message == f"cannot read '{f}': the file is larger than 10 MB, the limit for a model file"
    assert info.value.filename == str(f) and info.value.line is None


def test_read_source_reads_a_file_at_the_limit(tmp_path):
    f = tmp_path / "m.ebm"
    f.write_bytes(b"model m {}\n" + b" " * (MAX_FILE_BYTES - 11))
    filename, text = read_source(f)
    assert len(text) == MAX_FILE_BYTES and text.startswith("model m {}")


def test_a_file_name_that_is_not_utf8_is_shown_with_replacement_characters(tmp_path):
    name = os.fsdecode(os.fsencode(tmp_path) + b"/m\xff.ebm")
    try:
        with open(name, "w") as f:
            f.write("model m {}\n")
    except (OSError, UnicodeEncodeError):
        pytest.skip("this file system takes only UTF-8 names")
    filename, text = read_source(name)
    assert filename == f"{tmp_path}/m\ufffd.ebm" and text == "model m {}\n"
    with pytest.raises(EbmcError) as info:
        read_source(name + ".missing")
    assert info.value.filename == filename + ".missing"
    info.value.render().encode("utf-8")  # printable: no lone surrogate left
