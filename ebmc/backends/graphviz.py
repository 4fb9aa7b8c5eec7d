"""Drawing graphs: IR graph -> DOT (with the `graphviz` package) -> svg or png.

One DOT node per IR node, labelled with its plain op name and shape (by
`LabelPrinter`, a printer like the formulas' and LaTeX's); leaves
are drawn by role (params as boxes, visible and hidden units as ellipses,
data as parallelograms, constants as bare numbers); an output node carries its
name (`E`, `dE/dW`, ...) on its first line and a double border. Edges go from
operand to consumer in operand order, labelled with the position when an op
has several operands (`x * x` has two edges from `x`).

Every label goes through `graphviz.escape` and the package's quoting, so a
name holding quotes, backslashes or `<...>` is drawn as written, never read as
DOT syntax or an HTML label.

DOT is laid out by a system `dot` when there is one, otherwise by
`graphviz-pure` (a self-contained port of Graphviz, a dependency of ebmc).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterable, Mapping

import graphviz
import networkx as nx

from ..errors import EbmcError
from ..ir.graph import args
from ..ir.ops import fmt
from ..ir.printing import Printer

# the graphs `ebmc render --graph` offers, in the order they are listed
GRAPHS = ("energy", "grad", "free_energy", "loss", "backward")
FORMATS = ("svg", "png", "dot")

_LEAF_STYLE = {
    "param": {"shape": "box", "style": "filled", "fillcolor": "#fde68a"},
    "visible": {"shape": "ellipse", "style": "filled", "fillcolor": "#bfdbfe"},
    "hidden": {"shape": "ellipse", "style": "filled,dashed", "fillcolor": "#e5e7eb"},
    "input": {"shape": "parallelogram", "style": "filled", "fillcolor": "#bbf7d0"},
    "target": {"shape": "parallelogram", "style": "filled", "fillcolor": "#fecaca"},
}
_VAR_STYLE = {"shape": "ellipse", "style": "filled", "fillcolor": "#f3f4f6"}  # a role of a plugin's
_CONST_STYLE = {"shape": "plaintext"}
_OP_STYLE = {"shape": "box", "style": "rounded"}


class RenderError(Exception):
    """Graphviz could not be found or failed; the message says what to do."""


# ---------------------------------------------------------------- which graph
def available(analysis) -> list[str]:
    """The graphs of `GRAPHS` that an analysed model has (every model has a backward drawing)."""
    return [name for name in GRAPHS if name in analysis.graphs or name == "backward"]


def select(analysis, which: str) -> tuple[nx.DiGraph, dict[str, str]]:
    """The graph `which` of an analysed energy model, and the label of each of its outputs.

    Raises EbmcError (at the model) naming the graphs the model has when it has no such graph.
    """
    model = analysis.model
    if which not in analysis.graphs:
        have = ", ".join(available(analysis))
        if which == "loss":
            why = "it is an energy model, and a loss belongs to a network"
        elif which in ("energy", "grad", "free_energy") and model.energy is None:
            why = "it is a network (it has a loss, not an energy)"
        elif which == "free_energy":
            why = (
                "its hidden units cannot be summed out in closed form" if analysis.hidden else "it has no hidden units"
            )
        else:
            why = "there is no such graph"
        raise EbmcError(
            f"model '{model.name}' has no '{which}' graph: {why}; its graphs are {have}",
            model.span.line,
            model.span.column,
        )
    g = analysis.graphs[which]
    return g, output_labels(which, g, analysis)


def output_labels(which: str, g: nx.DiGraph, analysis=None) -> dict[str, str]:
    """output name -> how the drawing names it: `E`, `dE/dW`, `F(v)`, ..."""
    names = list(g.graph["outputs"])
    if which == "energy":
        return {"energy": "E"}
    if which == "grad":
        return {p: f"dE/d{p}" for p in names}
    if which in ("free_energy", "free_energy_hidden") and analysis is not None:
        kept = analysis.visible if which == "free_energy" else analysis.hidden
        return {n: f"F({', '.join(kept)})" for n in names}
    if which.startswith("conditional_"):
        x = which[len("conditional_") :]
        return {"field": f"-dE/d{x}", "mean": f"E[{x} | rest]"}
    return {n: n for n in names}


# ---------------------------------------------------------------- DOT
def _label(*lines: str) -> str:
    """A label of literal lines: backslashes and <...> lose their DOT meaning; lines are joined
    with DOT's own line break (the escape sequence backslash-n), a line break inside a line is
    one more line, and any other control character is shown as its Python escape (`\\x00`)."""
    lines = [part for line in lines for part in str(line).splitlines() or [""]]
    shown = ("".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in line) for line in lines)
    return graphviz.nohtml("\\n".join(graphviz.escape(line) for line in shown))


def _number(v: float) -> str:
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else f"{v:g}"


class LabelPrinter(Printer):
    """The lines of a node's label and its style, by `_print_<op>` like every printer; an op
    without a method of its own is its name, its attrs and its shape."""

    def label(self, n) -> tuple[list[str], dict]:
        return self._dispatch(n)

    def _print_var(self, n):
        d = self.g.nodes[n]
        return [d["name"], f"{d['role']} {fmt(d['shape'])}"], _LEAF_STYLE.get(d["role"], _VAR_STYLE)

    def _print_const(self, n):
        shape = self.g.nodes[n]["shape"]
        return [_number(self.attrs(n)["value"]) + ("" if not shape else f" {fmt(shape)}")], _CONST_STYLE

    def _print_numel(self, n):
        return [f"{self.op(n)} of {fmt(self.attrs(n)['dims'])}", fmt(self.g.nodes[n]["shape"])], _OP_STYLE

    def _print_op(self, n, *operands):
        extra = [f"{k}={v}" for k, v in self.attrs(n).items() if k not in ("shape", "dims")]
        return [" ".join([self.op(n), *extra]), fmt(self.g.nodes[n]["shape"])], _OP_STYLE


def add_graph(dot: graphviz.Digraph, g: nx.DiGraph, labels: Mapping[str, str] | None = None, prefix: str = "n") -> None:
    """Add one node per node of g and one edge per operand to `dot`; node ids start with `prefix`."""
    labels = labels or {}
    printer = LabelPrinter(g)
    ids = {n: f"{prefix}{k}" for k, n in enumerate(g.nodes)}
    named: dict = {}
    for name, n in g.graph.get("outputs", {}).items():
        named.setdefault(n, []).append(labels.get(name, name))
    for n in nx.topological_sort(g):
        lines, style = printer.label(n)
        style = dict(style)
        if n in named:
            lines = [", ".join(named[n]) + " =", *lines]
            style["peripheries"] = "2"
        dot.node(ids[n], _label(*lines), **style)
    for n in nx.topological_sort(g):
        operands = args(g, n)
        for i, a in enumerate(operands):
            extra = {"label": str(i), "fontsize": "9", "fontcolor": "#6b7280"} if len(operands) > 1 else {}
            dot.edge(ids[a], ids[n], **extra)


def to_dot(parts: Iterable[tuple[str, nx.DiGraph, Mapping[str, str]]], title: str | None = None) -> graphviz.Digraph:
    """One DOT digraph of several graphs: (title, graph, output labels) each, in a box of its own
    when there are several."""
    parts = list(parts)
    dot = graphviz.Digraph(
        "ebmc",
        graph_attr={"fontname": "Helvetica"},
        node_attr={"fontname": "Helvetica", "fontsize": "11"},
        edge_attr={"fontname": "Helvetica"},
    )
    if title is not None:
        dot.attr(label=_label(title), labelloc="t")
    for i, (name, g, labels) in enumerate(parts):
        if len(parts) == 1:
            add_graph(dot, g, labels, prefix="n")
            continue
        with dot.subgraph(name=f"cluster_{i}") as sub:
            sub.attr(label=_label(name), style="rounded", color="#9ca3af")
            add_graph(sub, g, labels, prefix=f"m{i}n")
    return dot


_ADJOINT_STYLE = {"shape": "box", "style": "rounded,filled", "fillcolor": "#fee2e2", "color": "#b91c1c"}
_ADJOINT_EDGE = {"color": "#b91c1c", "fontcolor": "#b91c1c", "fontsize": "9", "dir": "back"}


def backward_dot(chain, title: str) -> graphviz.Digraph:
    """The forward graph of a network's loss L and, beside each node v_i, its adjoint v_i' = dL/dv_i
    (`passes.backprop.ChainRule`): a forward edge runs from operand to consumer; an adjoint edge
    from v_j' back to v_i', labelled with the part v_j' * dv_j/dv_i it brings, so that each
    adjoint is the sum of the labels of the edges that reach it."""
    g = chain.graph
    dot = graphviz.Digraph(
        "ebmc",
        graph_attr={"fontname": "Helvetica", "rankdir": "TB", "label": _label(title), "labelloc": "t"},
        node_attr={"fontname": "Helvetica", "fontsize": "11"},
        edge_attr={"fontname": "Helvetica"},
    )
    ids = {n: f"n{k}" for k, n in enumerate(chain.forward)}
    printer = LabelPrinter(g)
    for n in chain.forward:
        lines, style = printer.label(n)
        if not printer.entry(n).leaf:  # an operation: its definition from its operands' names
            lines = [chain.definition(n), fmt(g.nodes[n]["shape"])]
        style = dict(style)
        if n == chain.loss:
            style["peripheries"] = "2"
        dot.node(ids[n], _label(*lines), **style)
    params = {n: name for name, n in chain.params.items()}
    for n in chain.forward:
        if n not in chain.table.adjoint:
            continue
        name = chain.names[n]
        lines = [f"{name}' = d{chain.root}/d{name}", fmt(g.nodes[n]["shape"])]
        if chain.consumers(n):
            lines.insert(1, f"= {chain.adjoint_formula(n)}")
        elif n == chain.loss:
            lines.insert(1, "= 1")
        style = dict(_ADJOINT_STYLE, peripheries="2") if n in params else _ADJOINT_STYLE
        with dot.subgraph() as pair:  # a node and its adjoint side by side
            pair.attr(rank="same")
            pair.node(ids[n] + "a", _label(*lines), **style)
            pair.node(ids[n])
    for n in chain.forward:
        operands = args(g, n)
        for i, a in enumerate(operands):
            extra = {"label": str(i), "fontsize": "9", "fontcolor": "#6b7280"} if len(operands) > 1 else {}
            dot.edge(ids[a], ids[n], color="#6b7280", **extra)
    for i, j in chain.table.partials:
        # drawn from v_i' to v_j' with the arrow at v_i', so that the adjoints rank as their nodes do
        dot.edge(ids[i] + "a", ids[j] + "a", label=_label(chain.partial(i, j)), **_ADJOINT_EDGE)
    return dot


# ---------------------------------------------------------------- layout
def renderer() -> list[str] | None:
    """The command that lays out DOT: a system `dot`, else graphviz-pure, else None."""
    found = shutil.which("dot")
    if found:
        return [found]
    # graphviz-pure is a console script of ebmc's own environment, which need not be on PATH
    for where in (None, sysconfig.get_path("scripts"), os.path.dirname(sys.executable)):
        found = shutil.which("graphviz-pure", path=where)
        if found:
            return [found]
    return None


# graphviz-pure's layout time grows steeply with the graph: about 2 s at 250 nodes, 80 s at 500
PURE_LIMIT = 300


def render(source: str, fmt: str, nodes: int = 0) -> bytes:
    """The bytes of the drawing of DOT `source` (a graph of `nodes` nodes) in format `fmt` (svg, png or dot).

    graphviz-pure is refused a graph of more than PURE_LIMIT nodes: it would take minutes."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    if fmt == "dot":
        return (source if source.endswith("\n") else source + "\n").encode("utf-8")
    command = renderer()
    if command is None:
        raise RenderError(
            "no Graphviz found to lay out the graph: install Graphviz (the `dot` command) or "
            "`pip install graphviz-pure==0.2.2`, or write the DOT text with --format dot"
        )
    if os.path.basename(command[0]).startswith("graphviz-pure") and nodes > PURE_LIMIT:
        raise RenderError(
            f"the graph has {nodes} nodes, more than graphviz-pure lays out in reasonable time "
            f"({PURE_LIMIT}); install Graphviz (the `dot` command), or write the DOT text with --format dot"
        )
    try:
        done = subprocess.run([*command, f"-T{fmt}"], input=source.encode("utf-8"), capture_output=True)
    except OSError as exc:
        raise RenderError(f"could not run {command[0]}: {exc}") from None
    if done.returncode != 0 or not done.stdout:
        message = done.stderr.decode("utf-8", errors="replace").strip() or f"exit status {done.returncode}"
        raise RenderError(f"{os.path.basename(command[0])} failed to draw the graph: {message}")
    return done.stdout


def draw(analyses, which: str | None = None, fmt: str = "svg") -> bytes:
    """The drawing of graph `which` of every analysed model (one box per model when there are
    several); by default a network's loss, an energy model's energy. `backward` draws the chain
    rule (`backward_dot`) of one model."""
    if which == "backward":
        return _draw_backward(analyses, fmt)
    parts = []
    for a in analyses:
        name = which or ("energy" if a.model.energy is not None else "loss")
        g, labels = select(a, name)
        parts.append((f"model {a.model.name}: {name}", g, labels))
    title = parts[0][0] if len(parts) == 1 else None
    return render(to_dot(parts, title).source, fmt, sum(g.number_of_nodes() for _, g, _ in parts))


def _draw_backward(analyses, fmt: str) -> bytes:
    from ..passes.backprop import chain_rule

    if len(analyses) != 1:
        names = ", ".join(a.model.name for a in analyses)
        raise EbmcError(
            f"--graph backward draws one model, and the file holds {len(analyses)} ({names}); "
            "put the model in a file of its own"
        )
    model = analyses[0].model
    output = "energy" if model.energy is not None else "loss"
    trained = [name for name, p in model.params.items() if "fixed" not in p.attrs]
    chain = chain_rule(model, trained, output)
    root = chain.root
    title = (
        f"model {model.name}: backward\n"
        f"each adjoint v' = d{root}/dv is the sum over v's consumers u of u' * du/dv (the red edges)"
    )
    nodes = 2 * len(chain.forward)
    return render(backward_dot(chain, title).source, fmt, nodes)
