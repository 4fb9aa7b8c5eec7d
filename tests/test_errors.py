"""Mistakes in model files: one case per kind, each with its exact message and place.

The place is the 1-based line and column the caret points at. Most cases edit
examples/rbm.ebm, so the lines are those of that file.
"""

from __future__ import annotations

import warnings

import pytest
from conftest import EXAMPLES

import ebmc
from ebmc.errors import EbmcError

RBM = (EXAMPLES / "rbm.ebm").read_text()


def rbm(old: str, new: str) -> str:
    """examples/rbm.ebm with one edit."""
    assert old in RBM, old
    return RBM.replace(old, new, 1)


def em(line: str, tail: str = "    energy = sum(v)\n}\n") -> str:
    """A small energy model with `line` as its line 3."""
    return "model m {\n    visible v[3] : bernoulli\n" + line + "\n" + tail


def error_of(source: str, **dims) -> EbmcError:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # plugins of the other stages still being written
        with pytest.raises(EbmcError) as info:
            ebmc.parse(source, **dims)
    return info.value


CASES = {
    "unclosed_bracket": (
        rbm("v[n_visible] :", "v[n_visible :"),
        6,
        25,
        "expected ']' to close the '[' at 6:14",
    ),
    "unknown_statement": (
        rbm("visible v", "visibel v"),
        6,
        5,
        "unknown statement 'visibel'; did you mean 'visible'?",
    ),
    "missing_expression": (
        rbm("energy = -(a @ v) - (b @ h) - v @ W @ h", "energy ="),
        13,
        13,
        "expected an expression after '='",
    ),
    "unexpected_character": (
        rbm("- v @ W @ h", "- v @ W $ h"),
        13,
        41,
        "unexpected character '$'",
    ),
    "missing_brace": (
        RBM.rstrip().rstrip("}"),
        15,
        63,
        "missing '}' to close model 'rbm' (opened at 2:11)",
    ),
    "missing_unit_type": (
        rbm(": bernoulli\n    hidden", "\n    hidden"),
        6,
        25,
        "expected ':' and a unit type after 'v[n_visible]'",
    ),
    "unmatched_paren": (
        rbm("-(a @ v)", "-a @ v)"),
        13,
        20,
        "')' has no matching '('",
    ),
    "unclosed_paren": (
        rbm("-(a @ v)", "-(a @ v"),
        13,
        43,
        "expected ')' to close the '(' at 13:15",
    ),
    "statement_outside_model": (
        "dim n_visible = 3\n",
        1,
        1,
        "'dim' must be inside a model: model NAME { ... }",
    ),
    "misspelled_model": (
        "modle rbm {\n}\n",
        1,
        1,
        "expected a model (model NAME { ... }), found 'modle'; did you mean 'model'?",
    ),
    "keyword_after_unfinished_expression": (
        rbm("- v @ W @ h", "- v @ W @"),
        13,
        42,
        "expected an expression after '@'",
    ),
    "dim_not_whole": (
        rbm("n_hidden  = 128", "n_hidden  = 12.5"),
        4,
        21,
        "the size of dim 'n_hidden' must be a whole number, got 12.5",
    ),
    "dim_not_positive": (
        rbm("n_hidden  = 128", "n_hidden  = 0"),
        4,
        21,
        "the size of dim 'n_hidden' must be positive, got 0",
    ),
    "number_too_large": (
        rbm("normal(0, 0.01)", "normal(0, 1e400)"),
        9,
        46,
        "the number '1e400' is too large",
    ),
    # digits of other scripts, which Python's \d and int() accept
    "arabic_indic_digit_dim": (
        rbm("n_hidden  = 128", "n_hidden  = ٣"),
        4,
        21,
        "unexpected character '٣'; numbers are written with the digits 0-9 only",
    ),
    "fullwidth_digit_shape": (
        rbm("h[n_hidden]", "h[２]"),
        7,
        15,
        "unexpected character '２'; numbers are written with the digits 0-9 only",
    ),
    "digit_after_digits": (
        rbm("- v @ W @ h", "- v @ W @ h + 1٣"),
        13,
        48,
        "unexpected character '٣'; numbers are written with the digits 0-9 only",
    ),
    "digit_in_fraction": (
        rbm("lr=0.05", "lr=0.٠٥"),
        15,
        24,
        "unexpected character '٠'; numbers are written with the digits 0-9 only",
    ),
    "superscript_digit": (
        rbm("- v @ W @ h", "- v @ W @ h²"),
        13,
        44,
        "unexpected character '²'; numbers are written with the digits 0-9 only",
    ),
    "string": (
        rbm("train cd(", 'train "cd"('),
        15,
        11,
        "unexpected character '\"'; the language has no strings",
    ),
    "semicolon": (
        rbm("- v @ W @ h", "- v @ W @ h;"),
        13,
        44,
        "unexpected character ';'; statements need no ';' (each begins with its keyword)",
    ),
    "attribute": (
        rbm("- v @ W @ h", "- v @ W.t @ h"),
        13,
        40,
        "unexpected '.t'; the only attribute is '.T' (the transpose)",
    ),
    "model_inside_model": (
        "model a {\n    dim k = 2\nmodel b {\n}\n",
        3,
        1,
        "missing '}' to close model 'a' (opened at 1:9) before the next model",
    ),
    "missing_name": (
        rbm("dim n_hidden", "dim"),
        4,
        10,
        "expected a name after 'dim'",
    ),
    "missing_init": (
        rbm("~ normal(0, 0.01)", "~"),
        9,
        35,
        "expected an init (normal, uniform, glorot or he) after '~'",
    ),
    "param_value_not_number": (
        rbm("param a[n_visible] = 0", "param a[n_visible] = zero"),
        10,
        26,
        "expected a number after '='",
    ),
    "non_ascii": (
        rbm("- v @ W @ h", "- v @ W @ η"),
        13,
        43,
        "unexpected character 'η'; names use only the letters A-Z and a-z, the digits 0-9 and '_'",
    ),
    "shape_not_whole": (
        rbm("v[n_visible]", "v[6.5]"),
        6,
        15,
        "a size in a shape must be a whole number, got 6.5",
    ),
    "empty_shape": (
        rbm("v[n_visible]", "v[]"),
        6,
        15,
        "expected a size (a whole number or the name of a dim) after '['",
    ),
    "missing_equals": (
        rbm("    energy", "    layer z sigmoid(v)\n    energy"),
        13,
        13,
        "expected '=' and an expression after 'z'",
    ),
    "unknown_name": (
        rbm("v @ W @ h", "v @ W2 @ h"),
        13,
        39,
        "unknown name 'W2'; did you mean 'W'?",
    ),
    "unknown_function": (
        rbm("-(a @ v)", "-sigmod(a @ v)"),
        13,
        15,
        "unknown function 'sigmod'; did you mean 'sigmoid'?",
    ),
    "unknown_unit_type": (
        rbm("h[n_hidden]  : bernoulli", "h[n_hidden]  : bernouli"),
        7,
        28,
        "unknown unit type 'bernouli'; did you mean 'bernoulli'?",
    ),
    "data_type_for_units": (
        rbm("h[n_hidden]  : bernoulli", "h[n_hidden]  : binary"),
        7,
        28,
        "'binary' is a data type; units take a unit type: bernoulli, spin, gaussian or softmax",
    ),
    "unit_type_for_data": (
        em("    input c[3] : spin"),
        3,
        18,
        "'spin' is a unit type; input data take a data type: real, binary or onehot",
    ),
    "unknown_data_type": (
        em("    input c[3] : onehat"),
        3,
        18,
        "unknown data type 'onehat'; did you mean 'onehot'?",
    ),
    "unknown_init": (
        rbm("~ normal(0, 0.01)", "~ nromal(0, 0.01)"),
        9,
        36,
        "unknown init 'nromal'; did you mean 'normal'?",
    ),
    "init_arity": (
        rbm("~ normal(0, 0.01)", "~ normal(0.01)"),
        9,
        36,
        "normal(mean, std) takes 2 numbers, got 1",
    ),
    "glorot_with_numbers": (
        rbm("~ normal(0, 0.01)", "~ glorot(1)"),
        9,
        36,
        "glorot takes no numbers, got 1",
    ),
    "negative_std": (
        rbm("~ normal(0, 0.01)", "~ normal(0, -1)"),
        9,
        36,
        "the std of normal(mean, std) cannot be negative, got -1",
    ),
    "uniform_reversed": (
        rbm("~ normal(0, 0.01)", "~ uniform(1, -1)"),
        9,
        36,
        "uniform(low, high) needs low <= high, got low 1 and high -1",
    ),
    "glorot_scalar": (
        em("    param w ~ he"),
        3,
        15,
        "he scales by the sizes of the axes, but 'w' is a scalar",
    ),
    "unknown_attribute": (
        rbm("~ normal(0, 0.01)", "~ normal(0, 0.01) : fixd"),
        9,
        54,
        "unknown attribute 'fixd'; did you mean 'fixed'?",
    ),
    "attribute_twice": (
        rbm("~ normal(0, 0.01)", "~ normal(0, 0.01) : fixed, fixed"),
        9,
        61,
        "the attribute 'fixed' is given twice",
    ),
    "symmetric_not_square": (
        rbm("~ normal(0, 0.01)", ": symmetric"),
        9,
        36,
        "'symmetric' needs a square matrix (the same dim on both axes), but 'W' has shape [n_visible, n_hidden]",
    ),
    "zero_diagonal_not_matrix": (
        em("    param w[3] : zero_diagonal"),
        3,
        18,
        "'zero_diagonal' needs a square matrix (the same dim on both axes), but 'w' has shape [3]",
    ),
    "unknown_trainer": (
        rbm("train cd(", "train cdd("),
        15,
        11,
        "unknown trainer 'cdd'; did you mean 'cd'?",
    ),
    "unknown_option": (
        rbm("momentum=0.5", "momentun=0.5"),
        15,
        50,
        "unknown option 'momentun' for the trainer 'cd'; did you mean 'momentum'?",
    ),
    "unknown_option_no_match": (
        rbm("momentum=0.5", "beta=0.5"),
        15,
        50,
        "unknown option 'beta' for the trainer 'cd' (its options are k, lr, batch, epochs, momentum and weight_decay)",
    ),
    "no_options": (
        rbm("train cd(k=1, lr=0.05, batch=100, epochs=20, momentum=0.5)", "train hebbian(lr=0.1)"),
        15,
        19,
        "the trainer 'hebbian' takes no options",
    ),
    "option_twice": (
        rbm("epochs=20", "lr=0.1"),
        15,
        39,
        "the option 'lr' is given twice",
    ),
    "option_not_number": (
        rbm("epochs=20", "epochs=many"),
        15,
        39,
        "the option 'epochs' must be a number, got 'many'",
    ),
    "k_not_whole": (
        rbm("k=1", "k=1.5"),
        15,
        14,
        "'k' must be a whole number of at least 1, got 1.5 (a fraction is not rounded)",
    ),
    "lr_not_positive": (
        rbm("lr=0.05", "lr=0"),
        15,
        19,
        "'lr' must be a number greater than 0, got 0",
    ),
    "momentum_too_big": (
        rbm("momentum=0.5", "momentum=1"),
        15,
        50,
        "'momentum' must be a number of at least 0 and less than 1, got 1",
    ),
    "weight_decay_negative": (
        rbm("momentum=0.5", "weight_decay=-0.1"),
        15,
        50,
        "'weight_decay' must be a number of at least 0, got -0.1",
    ),
    "cd_for_network": (
        "model net {\n    input x[2]\n    target t\n    output y = sum(x)\n    loss = (y - t) ** 2\n    train cd\n}\n",
        6,
        11,
        "the trainer 'cd' trains an energy model, but this model has a 'loss'; a network trains with sgd or adam",
    ),
    "sgd_for_energy": (
        rbm("train cd(k=1, lr=0.05, batch=100, epochs=20, momentum=0.5)", "train sgd"),
        15,
        11,
        "the trainer 'sgd' trains a network with a 'loss', but this model has an 'energy'; "
        "an energy model trains with cd or pcd",
    ),
    "duplicate_name": (
        rbm("param b[n_hidden]", "param W[n_hidden]"),
        11,
        11,
        "'W' is already defined (as a param)",
    ),
    "duplicate_across_kinds": (
        rbm("param b[n_hidden]", "param n_hidden[n_hidden]"),
        11,
        11,
        "'n_hidden' is already defined (as a dim)",
    ),
    "python_keyword": (
        rbm("param a[n_visible]", "param lambda[n_visible]"),
        10,
        11,
        "'lambda' is a Python keyword and cannot be used as a name",
    ),
    "soft_keyword": (
        rbm("param a[n_visible]", "param match[n_visible]"),
        10,
        11,
        "'match' is a Python keyword and cannot be used as a name",
    ),
    "language_keyword": (
        em("    layer output = v * 2"),
        3,
        11,
        "'output' is a keyword of the model language and cannot be used as a name",
    ),
    "function_name": (
        rbm("param a[n_visible]", "param exp[n_visible]"),
        10,
        11,
        "'exp' is the name of a function and cannot be used as a name",
    ),
    "generated_name": (
        rbm("param a[n_visible]", "param self[n_visible]"),
        10,
        11,
        "'self' is used by the generated code and cannot be used as a name",
    ),
    "underscore": (
        rbm("param a[n_visible]", "param _a[n_visible]"),
        10,
        11,
        "'_a' starts with '_': such names are kept for the generated code",
    ),
    "later_layer": (
        em("    layer p = q * 2\n    layer q = v + 1"),
        3,
        15,
        "layer 'q' is defined further down (at 4:5); a layer can only use the layers above it",
    ),
    "layer_uses_itself": (
        em("    layer p = p * 2"),
        3,
        15,
        "layer 'p' cannot use itself",
    ),
    "energy_not_scalar": (
        rbm("energy = -(a @ v) - (b @ h) - v @ W @ h", "energy = -(a @ v) - b * h"),
        13,
        14,
        "the energy must be a scalar (one number per sample), but this expression has shape [n_hidden]",
    ),
    "loss_not_scalar": (
        "model net {\n    input x[2]\n    loss = x * 2\n}\n",
        3,
        12,
        "the loss must be a scalar (one number per sample), but this expression has shape [2]",
    ),
    "two_energies": (
        em("    energy = -sum(v)"),
        4,
        5,
        "a model has at most one 'energy' statement; the first is at 3:5",
    ),
    "energy_and_loss": (
        em("    loss = sum(v)"),
        4,
        5,
        "a model has an 'energy' (a model of units) or a 'loss' (a network), not both; "
        "this one already has a 'loss' at 3:5",
    ),
    "neither_energy_nor_loss": (
        "model m {\n    visible v[3] : bernoulli\n}\n",
        1,
        7,
        "model 'm' has neither an 'energy' nor a 'loss'",
    ),
    "no_visible_units": (
        "model m {\n    hidden h[3] : bernoulli\n    energy = sum(h)\n}\n",
        3,
        5,
        "an energy model needs at least one group of 'visible' units",
    ),
    "units_in_network": (
        "model net {\n    input x[2]\n    hidden h[2] : bernoulli\n    loss = sum(x)\n}\n",
        3,
        5,
        "'hidden' units belong to an energy model, but this model has a 'loss' (at 4:5); "
        "a network takes 'input' and 'target' data",
    ),
    "target_in_energy_model": (
        em("    target t[3]"),
        3,
        5,
        "a 'target' belongs to a network with a 'loss', but this model has an 'energy' (at 4:5)",
    ),
    "output_in_energy_model": (
        em("    output p = v * 2"),
        3,
        5,
        "an 'output' belongs to a network with a 'loss', but this model has an 'energy' (at 4:5); use 'layer'",
    ),
    "softmax_scalar": (
        em("    hidden k : softmax"),
        3,
        16,
        "softmax units choose one of several along their last axis, so they need a shape, but 'k' has none",
    ),
    "onehot_scalar": (
        em("    input k : onehot"),
        3,
        15,
        "onehot data are one-hot along their last axis, so they need a shape, but 'k' has none",
    ),
    "unknown_dim": (
        rbm("h[n_hidden]", "h[n_hiden]"),
        7,
        15,
        "unknown dim 'n_hiden'; did you mean 'n_hidden'?",
    ),
    "param_as_dim": (
        rbm("param W[n_visible, n_hidden]", "param W[n_visible, b]"),
        9,
        24,
        "'b' is a param, not a dim; a shape lists whole numbers and dims",
    ),
    "zero_size": (
        rbm("v[n_visible]", "v[0]"),
        6,
        15,
        "a size in a shape must be positive, got 0",
    ),
    "dim_in_expression": (
        rbm("- v @ W @ h", "- v @ W @ h * n_hidden"),
        13,
        47,
        "'n_hidden' is a dim (a size), not a value; it cannot be used in an expression",
    ),
    "function_as_value": (
        rbm("- v @ W @ h", "- v @ W @ h * exp"),
        13,
        47,
        "'exp' is a function; call it as exp(...)",
    ),
    "dense_arguments": (
        "model net {\n    input x[4]\n    layer h = dense(x, 8)\n    loss = sum(h)\n}\n",
        3,
        15,
        "dense(x, N, ACT) takes 3 arguments, got 2",
    ),
    "dense_size": (
        "model net {\n    input x[4]\n    layer h = dense(x, k_hid, relu)\n    loss = sum(h)\n}\n",
        3,
        24,
        "unknown dim 'k_hid'",
    ),
    "dense_size_fraction": (
        "model net {\n    input x[4]\n    layer h = dense(x, 2.5, relu)\n    loss = sum(h)\n}\n",
        3,
        24,
        "the size N in dense(x, N, ACT) must be a positive whole number or a dim, got 2.5",
    ),
    "dense_activation": (
        "model net {\n    input x[4]\n    layer h = dense(x, 8, sigmod)\n    loss = sum(h)\n}\n",
        3,
        27,
        "unknown activation 'sigmod'; did you mean 'sigmoid'?",
    ),
    "dense_matrix_input": (
        "model net {\n    input x[4, 2]\n    layer h = dense(x, 8, relu)\n    loss = sum(h)\n}\n",
        3,
        21,
        "dense(x, N, ACT) needs x to be a vector (one axis), but it has shape [4, 2]",
    ),
    "dense_inside_expression": (
        "model net {\n    input x[4]\n    layer h = 2 * dense(x, 8, relu)\n    loss = sum(h)\n}\n",
        3,
        19,
        "dense(...) can only be the whole right-hand side of a 'layer' or 'output'",
    ),
    "dense_param_clash": (
        "model net {\n    input x[4]\n    param h_W[4, 8]\n    layer h = dense(x, 8, relu)\n    loss = sum(h)\n}\n",
        4,
        15,
        "dense(...) in layer 'h' declares the param 'h_W', but 'h_W' is already defined",
    ),
    "dense_param_clash_after": (
        "model net {\n    input x[4]\n    layer h = dense(x, 8, relu)\n    param h_b[8]\n    loss = sum(h)\n}\n",
        4,
        11,
        "'h_b' is already defined (as a param made by dense(...) in layer 'h')",
    ),
    "matmul_mismatch": (
        rbm("- v @ W @ h", "- h @ W @ v"),
        13,
        35,
        "'@' contracts the last axis of the left side with the first axis of the right side, "
        "but [n_hidden] @ [n_visible, n_hidden] pairs n_hidden with n_visible",
    ),
    "broadcast_mismatch": (
        rbm("- v @ W @ h", "- sum(v * h)"),
        13,
        39,
        "in '*': shapes [n_visible] and [n_hidden] do not broadcast (axis -1: n_visible vs n_hidden)",
    ),
    "call_arity": (
        rbm("- v @ W @ h", "- sum(v, h)"),
        13,
        35,
        "sum() takes 1 argument, got 2",
    ),
    "duplicate_model": (
        RBM + "\n" + RBM.replace("# Binary", "# again"),
        19,
        7,
        "there is already a model named 'rbm'",
    ),
}


# A whole number too large for a float, wherever a number goes: (old, new with {N} for the number,
# line, column). The lines are too long for CASES, whose test shows them whole.
TOO_LARGE = {
    "energy": ("- v @ W @ h", "- v @ W @ h + {N}", 13, 47),
    "dim": ("n_hidden  = 128", "n_hidden  = {N}", 4, 21),
    "shape": ("v[n_visible]", "v[{N}]", 6, 15),
    "init": ("param a[n_visible] = 0", "param a[n_visible] = -{N}", 10, 26),
    "init_argument": ("normal(0, 0.01)", "normal({N}, 0.01)", 9, 43),
    "option": ("momentum=0.5", "momentum={N}", 15, 59),
}


@pytest.mark.parametrize("number", ["1" + "0" * 400, str(2 * 10**308), "0" * 500 + "1" + "0" * 310, "9" * 100_000])
@pytest.mark.parametrize("place", list(TOO_LARGE))
def test_whole_number_too_large_for_a_float(place, number):
    old, new, line, column = TOO_LARGE[place]
    err = error_of(rbm(old, new.replace("{N}", number)))
    sign = "-" if place == "init" else ""
    assert (err.line, err.column) == (line, column)
    assert err.message == f"the number '{(sign + number)[:37]}...' is too large"
    shown, caret = err.render().splitlines()[1:3]
    assert shown[caret.index("^")] in "-0123456789"  # under the number, in a window of the long line


def test_the_largest_whole_numbers_that_fit_a_float_are_fine():
    (m,) = ebmc.parse(rbm("param a[n_visible] = 0", "param a[n_visible] = " + "0" * 400 + str(10**308)))
    assert m.params["a"].init.args == (1e308,)


@pytest.mark.parametrize("name", list(CASES))
def test_mistake(name):
    source, line, column, message = CASES[name]
    err = error_of(source)
    assert (err.line, err.column, err.message) == (line, column, message)
    assert err.filename == "<string>" and err.source is not None
    lines = err.render().splitlines()
    assert lines[0] == f"<string>:{line}:{column}: error: {message}"
    assert lines[1].rstrip() == "    " + source.splitlines()[line - 1].expandtabs(1).rstrip()
    assert lines[2].index("^") == 4 + column - 1


def test_render_underlines_the_whole_token():
    err = error_of(rbm("v @ W @ h", "v @ W2 @ h"))
    assert err.render() == (
        "<string>:13:39: error: unknown name 'W2'; did you mean 'W'?\n"
        "        energy = -(a @ v) - (b @ h) - v @ W2 @ h\n"
        "                                          ^~"
    )


def test_duplicate_names_note_the_first_definition():
    err = error_of(rbm("param b[n_hidden]", "param W[n_hidden]"))
    assert err.notes == ("'W' was first defined at 9:11",)
    assert err.render().endswith("\nnote: 'W' was first defined at 9:11")


def test_duplicate_model_note():
    err = error_of(CASES["duplicate_model"][0])
    assert err.notes == ("'rbm' was first defined at 2:7",)


def test_dense_clash_notes():
    assert error_of(CASES["dense_param_clash"][0]).notes == ("'h_W' was first defined at 3:11",)
    assert error_of(CASES["dense_param_clash_after"][0]).notes == ("'h_b' was first defined at 3:15",)


def test_errors_in_a_file_name_the_file(tmp_path):
    f = tmp_path / "bad.ebm"
    f.write_text(rbm("v @ W @ h", "v @ W2 @ h"))
    err = error_of(f)
    assert err.filename == str(f)
    assert str(err).startswith(f"{f}:13:39: error: unknown name 'W2'")


def test_missing_file():
    err = error_of("missing.ebm")
    assert err.message == "cannot read 'missing.ebm': No such file or directory"
    assert err.line is None and err.filename == "missing.ebm"
    assert err.render() == "missing.ebm: error: cannot read 'missing.ebm': No such file or directory"


def test_invalid_utf8_file(tmp_path):
    f = tmp_path / "bad.ebm"
    f.write_bytes(RBM.encode().replace(b"# Binary", b"# Bin\xffary"))
    err = error_of(f)
    assert (err.line, err.column, err.message) == (1, 6, "the file is not valid UTF-8: byte 0xff")
    assert err.filename == str(f)
    assert err.render().splitlines()[2] == "         ^"


def test_nul_byte_in_a_file(tmp_path):
    f = tmp_path / "nul.ebm"
    f.write_bytes(RBM.encode().replace(b"n_hidden  = 128", b"n_hidden  = 1\x0028"))
    err = error_of(f)
    assert (err.line, err.column) == (4, 22)
    assert err.message.startswith("the file contains the control character U+0000")
    assert "?" in err.render().splitlines()[1]  # shown, not printed raw


@pytest.mark.parametrize(
    "dims, message",
    [
        (
            {"n_hiden": 3},
            "no model in the file has a dim named 'n_hiden'; did you mean 'n_hidden'? "
            "(the dims are n_hidden and n_visible)",
        ),
        ({"size": 3}, "no model in the file has a dim named 'size' (the dims are n_hidden and n_visible)"),
        ({"n_hidden": 0}, "the size given for dim 'n_hidden' must be a positive whole number, got 0"),
        ({"n_hidden": -2}, "the size given for dim 'n_hidden' must be a positive whole number, got -2"),
        ({"n_hidden": 2.0}, "the size given for dim 'n_hidden' must be a positive whole number, got 2.0"),
        ({"n_hidden": "8"}, "the size given for dim 'n_hidden' must be a positive whole number, got '8'"),
        ({"n_hidden": True}, "the size given for dim 'n_hidden' must be a positive whole number, got True"),
    ],
)
def test_bad_dim_overrides(dims, message):
    err = error_of(RBM, **dims)
    assert err.message == message and err.line is None


def test_override_of_a_file_without_dims():
    err = error_of("model m { visible v : spin\n energy = v }", k=3)
    assert err.message == "no model in the file has a dim named 'k' (it has no dims)"
