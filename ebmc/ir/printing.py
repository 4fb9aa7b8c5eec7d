"""Printing graph nodes: one base class, a `_print_<op>` method per op (SymPy's printer dispatch).

`Printer` writes a node from its operands' texts: `_print_<op>(n, *operands)`
returns (text, binding strength), and an op without a method of its own (a
plugin's) is written by `_print_op` from its op-table entry: its `notation`
(a template and a binding strength) where it has one, else `op(x, ...)`.
Operands are wrapped in parentheses by binding strength (`_wrap`, `_infix`),
the same rule for every printer. The text formulas (`TextPrinter`, below), the
LaTeX of `ebmc derive --latex` (`derive.LatexPrinter`) and the node labels of
drawings (`backends.graphviz.LabelPrinter`) are subclasses.

A printer walks the nodes a root needs in topological order, operands first,
so that each method finds its operands written: printing never recurses, however
deep the graph. Subexpressions that are shared and long, or nested deeply, are
named `_1`, `_2`, ... (see `ebmc.ir.graph`) by the text printer as it goes; the
other printers name the same ones.
"""

from __future__ import annotations

import networkx as nx

from .graph import NEST_DEPTH, SHARE_LENGTH, args, in_order, op_table

ATOM = 9  # the binding strength of a name, a number, a call: never wrapped


class Printer:
    """Node -> (text, binding strength)."""

    def __init__(self, g: nx.DiGraph, given: dict | None = None):
        self.g = g
        self.ops = op_table()
        # node -> the text it is written as wherever it is an operand: names a caller gives
        # values (a network's layers `h`, adjoints `h'`), written in this printer's own notation
        self.given: dict = dict(given or {})
        self.names: dict = {}  # node -> the text of its name, for the subexpressions on where lines
        self._memo: dict = {}  # node -> its own (text, binding strength)

    # -- reading the graph
    def op(self, n) -> str:
        return self.g.nodes[n]["op"]

    def entry(self, n):
        """n's entry of the op table."""
        return self.ops[self.op(n)]

    def rank(self, n) -> int:
        return len(self.g.nodes[n]["shape"])

    def attrs(self, n) -> dict:
        return self.g.nodes[n]["attrs"]

    def is_number(self, n) -> bool:
        return self.entry(n).value is not None

    def is_name(self, n) -> bool:
        return self.entry(n).named

    # -- printing
    def shared(self, n) -> dict:
        """node -> `_k`: the subexpressions the formula of n names (the text printer decides)."""
        return shared_names(self.g, n, self.given)

    def name_text(self, name: str) -> str:
        return name

    def parts(self, n) -> tuple[str, list[tuple[str, str]]]:
        """The text of node n, and its where bindings [(name, text)], each using only the names
        before it."""
        self.names = {m: self.name_text(name) for m, name in self.shared(n).items()}
        self.names.update({m: text for m, text in self.given.items() if m != n})
        self._memo = {}
        for m in in_order(self.g, [n]):
            self._own(m)
        return self._own(n)[0], [(name, self._own(m)[0]) for m, name in self.names.items() if m not in self.given]

    def where(self, name: str, body: str) -> str:
        return f"where {name} = {body}"

    def doprint(self, n) -> str:
        """The text of node n, then one line for each of its where bindings."""
        text, where = self.parts(n)
        return "\n".join([text, *(self.where(name, body) for name, body in where)])

    def _print(self, n) -> tuple[str, int]:
        """n as its consumers write it: its name where it has one."""
        if n in self.names:
            return self.names[n], ATOM
        return self._own(n)

    def _own(self, n) -> tuple[str, int]:
        if n not in self._memo:
            self._memo[n] = self._dispatch(n)
        return self._memo[n]

    def _dispatch(self, n):
        method = getattr(self, f"_print_{self.op(n)}", None) or self._print_op
        return method(n, *args(self.g, n))

    def _print_op(self, n, *operands):
        """An op without a method: its notation from the op table, else a call."""
        notation = self.entry(n).notation
        if notation is not None:
            return self._infix(notation[0], notation[1], operands)
        return self._call(self.function(n), operands)

    def function(self, n) -> str:
        """The name of the function that writes an op without a notation."""
        return self.op(n)

    # -- precedence, the same for every printer
    def _wrap(self, n, at_least: int) -> str:
        """n's text, in parentheses unless it binds at least as tightly as `at_least`."""
        text, prec = self._print(n)
        return text if prec >= at_least else f"({text})"

    def _infix(self, template: str, prec: int, operands, right_assoc: bool = False) -> tuple[str, int]:
        """An operator: an operand binding less tightly is wrapped, and one as tightly too unless it
        is the first of a left-associative operator."""
        texts = []
        for i, a in enumerate(operands):
            text, p = self._print(a)
            tighter = p > prec or (p == prec and i == 0 and not right_assoc)
            texts.append(text if tighter else f"({text})")
        return template.format(*texts), prec

    def _call(self, fn: str, operands) -> tuple[str, int]:
        return f"{fn}({', '.join(self._print(a)[0] for a in operands)})", ATOM


def number_text(v: float) -> str:
    v = float(v)
    return str(int(v)) if v.is_integer() and abs(v) < 1e15 else f"{v:g}"


class TextPrinter(Printer):
    """The language's own notation: `sigmoid(b + v @ W)`."""

    def shared(self, n) -> dict:
        return {}  # decided while writing (`parts`)

    def parts(self, n):
        """Write every node n needs, operands first, naming subexpressions as it goes: one
        that occurs more than once with a text longer than SHARE_LENGTH, or nested NEST_DEPTH deep."""
        order = in_order(self.g, [n])
        uses = dict.fromkeys(order, 0)
        for m in order:
            for a in args(self.g, m):
                uses[a] += 1
        self.names = {m: text for m, text in self.given.items() if m != n}
        self._memo = {}
        depth: dict = {}
        for m in order:
            operands = args(self.g, m)
            text, prec = self._own(m)
            leaf = self.entry(m).leaf or m in self.names  # a given name is written as a leaf is
            inner = [depth[a] for a in operands]
            # a node written as its one operand (a broadcast) nests nothing
            same = len(operands) == 1 and self._print(operands[0]) == (text, prec)
            depth[m] = 0 if leaf else max(inner, default=0) + (not same)
            long_and_shared = uses[m] > 1 and len(text) > SHARE_LENGTH
            if m != n and not leaf and (long_and_shared or depth[m] >= NEST_DEPTH):
                self.names[m] = f"_{len(self.names) + 1}"
                depth[m] = 0
        where = [(name, self._own(m)[0]) for m, name in self.names.items() if m not in self.given]
        return self._own(n)[0], where

    def _print_var(self, n):
        return self.g.nodes[n]["name"], ATOM

    def _print_const(self, n):
        v = self.attrs(n)["value"]
        text = str(int(v)) if float(v).is_integer() else f"{v:g}"
        return text, (ATOM if v >= 0 else 3)

    def _print_numel(self, n):
        return "size(" + ", ".join(map(str, self.attrs(n)["dims"])) + ")", ATOM

    def _print_neg(self, n, x):
        text, prec = self._print(x)
        if prec == 2 and text[:1].isdigit():  # -(0.5 * x) is -0.5 * x: a product starting with a number
            return f"-{text}", 2
        return self._print_op(n, x)

    def _print_mul(self, n, x, y):
        if self.is_number(x) and self._print(y)[1] == 2:  # c * (x @ y) is (c * x) @ y: c * x @ y
            return f"{self._print(x)[0]} * {self._print(y)[0]}", 2
        return self._print_op(n, x, y)

    def _print_pow(self, n, x, y):
        return self._infix("{0} ** {1}", 4, (x, y), right_assoc=True)

    def _contraction(self, n, x, y, prefix: str = ""):
        k = self.attrs(n).get("n", 1)
        if k == 1:
            return f"{prefix}{self._wrap(x, 2)} @ {self._wrap(y, 3)}", 2
        fn = "outer" if k == 0 else f"tensordot{k}"
        return f"{prefix}{fn}({self._print(x)[0]}, {self._print(y)[0]})", ATOM

    def _print_tensordot(self, n, x, y):
        return self._contraction(n, x, y)

    def _print_batch_tensordot(self, n, x, y):
        return self._contraction(n, x, y, "sum_batch ")

    def _print_transpose(self, n, x):
        return f"{self._wrap(x, ATOM)}.T", ATOM

    def _print_broadcast(self, n, x):  # broadcasting is implicit in formulas, as in the language
        return self._print(x)

    def _print_sum_to(self, n, x):
        if self.attrs(n)["shape"] == ():
            return f"sum({self._print(x)[0]})", ATOM
        return self._print_op(n, x)


def shared_names(g: nx.DiGraph, n, given: dict | None = None) -> dict:
    """node -> `_k`: the subexpressions the formula of n names, in the order they are defined
    (with the nodes of `given` written by the names given them)."""
    printer = TextPrinter(g, given)
    printer.parts(n)
    return {m: name for m, name in printer.names.items() if m not in printer.given}
