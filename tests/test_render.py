"""Drawing graphs (ebmc/backends/graphviz.py) and `ebmc render`."""

import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from conftest import EXAMPLES

import ebmc.backends.graphviz as gv
from ebmc.api import analyse_file
from ebmc.backends.graphviz import RenderError, draw, render, select, to_dot
from ebmc.ir.graph import Builder

SVG = "{http://www.w3.org/2000/svg}"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# names a model cannot have, but a graph built by hand (or by a plugin) can
NASTY = [
    'q"uote',
    "back\\slash",
    "<b>html</b>",
    "tail\\",
    '\\"',
    "two\nlines",
    "\\N",
    "{x}|<p>",
    'x"; y [color=red',
    "é€",
]
CONTROL = "nul\x00tab\t"  # drawn as its Python escapes

VISIBLE_ONLY = """
model vis {
    dim n = 4
    visible x[n] : spin
    param c[n]
    energy = -(c @ x)
}
""".replace("dim n = 4", "dim m = 4").replace("[n]", "[m]")

NETWORK = """model net {
    input x[4]
    target t[2]
    output y = dense(x, 2, softmax)
    loss = cross_entropy(y, t)
    train sgd(lr=0.1)
}
"""


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "ebmc", *args], capture_output=True, text=True, cwd=cwd)


@pytest.fixture(scope="module")
def rbm():
    (a,) = analyse_file(EXAMPLES / "rbm.ebm")
    return a


def dot_nodes(source: str) -> list[str]:
    """The ids of the node statements of a DOT text."""
    return re.findall(r"^\s*(m?\d*n\d+) \[", source, flags=re.M)


def svg_texts(data: bytes) -> list[str]:
    root = ET.fromstring(data)  # well-formed XML, or this raises
    assert root.tag == SVG + "svg"
    return ["".join(t.itertext()) for t in root.iter(SVG + "text")]


def nasty_graph():
    b = Builder()
    xs = [b.var(name, "param", (2,)) for name in [*NASTY, CONTROL]]
    y = xs[0]
    for x in xs[1:]:
        y = b.add("add", y, x)
    b.output('out"<>\\', b.add("sum", b.add("mul", y, b.const(-1.5))))
    return b.g


# ---------------------------------------------------------------- DOT
@pytest.mark.parametrize("which", ["energy", "grad", "free_energy"])
def test_one_dot_node_per_graph_node_and_one_edge_per_operand(rbm, which):
    g, labels = select(rbm, which)
    source = to_dot([(which, g, labels)]).source
    assert len(dot_nodes(source)) == g.number_of_nodes()
    operands = sum(len(d["args"]) for _, d in g.nodes(data=True))
    assert source.count(" -> ") == operands


def test_energy_dot_names_ops_leaves_and_the_output(rbm):
    g, labels = select(rbm, "energy")
    source = to_dot([("energy", g, labels)]).source
    for text in (
        "tensordot",
        "neg",
        "sub",
        "W\\nparam [n_visible, n_hidden]",
        "v\\nvisible [n_visible]",
        "h\\nhidden [n_hidden]",
        "E =\\nsub",
    ):
        assert text in source
    # leaves are drawn by role
    lines = {line.split('label="')[1].split("\\n")[0]: line for line in source.splitlines() if 'label="' in line}
    assert "shape=box" in lines["W"] and "shape=ellipse" in lines["v"] and "dashed" in lines["h"]


def test_grad_graph_labels_each_gradient(rbm):
    g, labels = select(rbm, "grad")
    assert labels == {"W": "dE/dW", "a": "dE/da", "b": "dE/db"}
    source = to_dot([("grad", g, labels)]).source
    for name in ("dE/dW =", "dE/da =", "dE/db =", "tensordot n=0"):
        assert name in source


def test_operands_are_numbered_in_order():
    b = Builder()
    x, y = b.var("x", "param", ()), b.var("y", "param", ())
    b.output("d", b.add("sub", y, x))
    source = to_dot([("g", b.g, {})]).source
    ids = {name: node for node, name in re.findall(r'(n\d+) \[label="(\w)\\n', source)}
    assert re.search(rf"{ids['y']} -> n\d+ \[label=0", source)
    assert re.search(rf"{ids['x']} -> n\d+ \[label=1", source)


def test_an_operand_used_twice_has_two_edges():
    b = Builder()
    x = b.var("x", "param", (3,))
    b.output("y", b.add("mul", x, x))
    assert to_dot([("g", b.g, {})]).source.count(" -> ") == 2


def test_several_models_are_boxes_of_one_drawing(tmp_path):
    path = tmp_path / "two.ebm"
    text = (EXAMPLES / "rbm.ebm").read_text()
    path.write_text(text + "\n" + text.replace("model rbm", "model rbm2"))
    source = draw(analyse_file(path), "energy", "dot").decode()
    assert "subgraph cluster_0" in source and "subgraph cluster_1" in source
    assert "model rbm2: energy" in source
    assert len(set(dot_nodes(source))) == len(dot_nodes(source))  # ids are unique across models


# ---------------------------------------------------------------- labels that are not identifiers
def test_special_characters_are_escaped_by_the_library():
    source = to_dot([("t", nasty_graph(), {})], title='title "<x>\\').source
    # every quote inside a label is escaped, so each statement is one well-formed line
    for line in source.splitlines():
        if "label=" in line:
            body = line.split("label=", 1)[1]
            assert re.match(r'("([^"\\]|\\.)*"|[-\w.]+)( |\]|$)', body), line
    assert '"q\\"uote\\nparam [2]"' in source
    assert "back\\\\slash" in source


def test_special_characters_render_as_written():
    source = to_dot([("t", nasty_graph(), {})], title='title "<x>\\').source
    texts = svg_texts(render(source, "svg"))
    for name in NASTY:
        for line in name.splitlines():
            assert line in texts, line
    assert 'out"<>\\ =' in texts
    assert "nul\\x00tab\\t" in texts
    assert 'title "<x>\\' in texts
    assert render(source, "png").startswith(PNG_MAGIC)


# ---------------------------------------------------------------- rendering
def test_svg_is_valid_xml(rbm):
    texts = svg_texts(draw([rbm], "energy", "svg"))
    assert "E =" in texts and "tensordot n=1" in texts


def test_png_has_the_png_magic(rbm):
    assert draw([rbm], "grad", "png").startswith(PNG_MAGIC)


def test_dot_format_is_the_dot_text(rbm):
    data = draw([rbm], "free_energy", "dot").decode()
    assert data.startswith("digraph ebmc {") and "softplus" in data and "F(v) =" in data


def test_graphviz_pure_is_used_without_a_system_dot(rbm, monkeypatch):
    real_which = shutil.which
    monkeypatch.setattr(gv.shutil, "which", lambda name, **kw: None if name == "dot" else real_which(name, **kw))
    command = gv.renderer()
    assert command is not None and "graphviz-pure" in command[0]
    assert b"<svg" in draw([rbm], "energy", "svg")


def test_no_renderer_is_a_clear_error(rbm, monkeypatch):
    monkeypatch.setattr(gv.shutil, "which", lambda name, **kw: None)
    with pytest.raises(RenderError, match="--format dot"):
        draw([rbm], "energy", "svg")
    assert draw([rbm], "energy", "dot").startswith(b"digraph")  # needs no renderer


# ---------------------------------------------------------------- graphs a model does not have
def test_loss_of_an_energy_model_names_the_graphs_it_has(rbm):
    with pytest.raises(Exception) as info:
        select(rbm, "loss")
    assert "energy, grad, free_energy" in str(info.value.message)


def test_free_energy_without_hidden_units(tmp_path):
    path = tmp_path / "vis.ebm"
    path.write_text(VISIBLE_ONLY)
    (a,) = analyse_file(path)
    with pytest.raises(Exception) as info:
        select(a, "free_energy")
    assert "no hidden units" in info.value.message and "energy, grad" in info.value.message


# ---------------------------------------------------------------- the command line
def test_render_default_output_next_to_the_file(tmp_path):
    model = tmp_path / "m.ebm"
    model.write_text((EXAMPLES / "rbm.ebm").read_text())
    r = run("render", str(model))
    assert r.returncode == 0, r.stderr
    out = tmp_path / "m.energy.svg"
    assert r.stdout.strip() == str(out)
    svg_texts(out.read_bytes())
    r = run("render", str(model), "--graph", "grad", "--format", "png")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "m.grad.png").read_bytes().startswith(PNG_MAGIC)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.ebm", "m.energy.svg", "m.grad.png"]  # no temp files


def test_render_output_and_format_from_its_suffix(tmp_path):
    out = tmp_path / "sub" / "g.png"
    r = run("render", str(EXAMPLES / "rbm.ebm"), "-o", str(out), "--graph", "free_energy")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(out)
    assert out.read_bytes().startswith(PNG_MAGIC)
    out = tmp_path / "g.gv"
    assert run("render", str(EXAMPLES / "rbm.ebm"), "-o", str(out)).returncode == 0
    assert out.read_text().startswith("digraph")
    out = tmp_path / "g.txt"  # an unknown suffix: svg, as --format says
    assert run("render", str(EXAMPLES / "rbm.ebm"), "-o", str(out)).returncode == 0
    svg_texts(out.read_bytes())


def test_render_to_standard_output():
    r = run("render", str(EXAMPLES / "rbm.ebm"), "--format", "dot", "-o", "-")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("digraph ebmc {")


def test_render_loss_of_an_energy_model_is_an_error_naming_its_graphs(tmp_path):
    r = run("render", str(EXAMPLES / "rbm.ebm"), "--graph", "loss", cwd=tmp_path)
    assert r.returncode == 1
    first = r.stderr.splitlines()[0]
    assert first.startswith(f"{EXAMPLES / 'rbm.ebm'}:2:1: error: model 'rbm' has no 'loss' graph")
    assert "energy, grad, free_energy" in first
    assert "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_render_the_loss_of_a_network(tmp_path):
    model = tmp_path / "net.ebm"
    model.write_text(NETWORK)
    r = run("render", str(model), "--graph", "loss", "--format", "dot")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "net.loss.dot").read_text().startswith("digraph")


def test_render_unknown_graph_or_format_is_a_usage_error():
    r = run("render", str(EXAMPLES / "rbm.ebm"), "--graph", "energy2")
    assert r.returncode == 2
    assert "invalid choice: 'energy2'" in r.stderr and "free_energy" in r.stderr
    assert run("render", str(EXAMPLES / "rbm.ebm"), "--format", "pdf").returncode == 2
    assert run("render").returncode == 2


def test_render_error_in_model_is_file_line_col_with_caret(tmp_path):
    model = tmp_path / "bad.ebm"
    model.write_text((EXAMPLES / "rbm.ebm").read_text().replace("v @ W @ h", "v @ W2 @ h"))
    r = run("render", str(model))
    assert r.returncode == 1
    first, line, caret = r.stderr.splitlines()[:3]
    assert first.startswith(f"{model}:13:39: error: unknown name 'W2'")
    assert line.index("W2") == caret.index("^")
    assert "Traceback" not in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.ebm"]


def test_graphviz_pure_is_not_given_a_graph_it_would_take_minutes_over(monkeypatch):
    monkeypatch.setattr(gv, "renderer", lambda: ["/somewhere/bin/graphviz-pure"])
    ran = []
    monkeypatch.setattr(gv.subprocess, "run", lambda *a, **k: ran.append(a))
    with pytest.raises(RenderError, match=r"the graph has 301 nodes, .*graphviz-pure.*--format dot"):
        render("digraph { a }", "svg", nodes=gv.PURE_LIMIT + 1)
    assert ran == []
    assert render("digraph { a }", "dot", nodes=10**6).startswith(b"digraph")  # DOT text needs no layout
