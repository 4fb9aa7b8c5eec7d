"""The pattern language of rewrite rules: a rule is a (pattern, replacement) pair, data.

A pattern describes a node by

  op        its op: a name, a tuple of names, a predicate on the op table's entry
            (`lambda op: op.elementwise`), or None for any op;
  args      the operands' patterns, in order (None: any operands);
  name      a capture: the matched node is `m[name]` in the replacement;
  where     a predicate `where(b, n)` on the node (b is the Simplifier, n the node id);
  commute   also try the two operands in the other order.

`pattern(op, *args, ...)` builds one; `x("x")` matches any node and captures it,
`number("c")` a constant leaf (`number("c", value=0.0)` only the number 0).

A `Rule(name, pattern, replace, where=None, doc="")` applies where its pattern
matches the node being built, `op(*args, **attrs)`, whose operands exist
already. `where(b, m)` may refuse the whole match; `replace(b, m)` returns the
node that stands for the built one, or None to leave it alone. The match `m`
holds the captures (`m["x"]`) and the node being built: `m.op`, `m.args`,
`m.attrs` and `m.shape` (its shape).

Rules come through the `ebmc.rewrites` entry point group (a Rule or a list of
them), ebmc's own included, and the Simplifier tries them in the order they
were registered: the first that returns a node wins, and that node was built
with every rule applied to it, so the graph is a fixpoint of the rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Pattern:
    op: Any = None  # str | tuple[str, ...] | Callable[[Op], bool] | None
    args: tuple | None = None
    name: str | None = None
    where: Callable | None = None
    commute: bool = False

    def selects(self, name: str, entry) -> bool:
        """Whether the op `name` (its op-table entry `entry`) can be this pattern's root."""
        if self.op is None:
            return True
        if isinstance(self.op, str):
            return name == self.op
        if isinstance(self.op, tuple):
            return name in self.op
        return bool(self.op(entry))


def pattern(op=None, *args: Pattern, name: str | None = None, where=None, commute: bool = False) -> Pattern:
    """A node of op `op` with operands matching `args` (none given: any operands)."""
    return Pattern(op, tuple(args) if args else None, name, where, commute)


def x(name: str | None = None, where=None) -> Pattern:
    """Any node, captured as `name`."""
    return Pattern(None, None, name, where)


def number(name: str | None = None, value: float | None = None, where=None) -> Pattern:
    """A constant leaf (of any shape: it is one number repeated), captured as `name`."""

    def test(b, n):
        v = b.value(n)
        return v is not None and (value is None or v == value) and (where is None or where(b, n))

    return Pattern("const", None, name, test)


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: Pattern
    replace: Callable
    where: Callable | None = None
    doc: str = ""


@dataclass
class Match:
    """The captures of a matched pattern, and the node being built."""

    op: str
    args: tuple
    attrs: dict
    shape: tuple
    captures: dict = field(default_factory=dict)

    def __getitem__(self, name: str) -> int:
        return self.captures[name]


def match(b, rule: Rule, op: str, args: tuple, attrs: dict, shape: tuple) -> Match | None:
    """The match of rule's pattern at the node `op(*args)` being built, or None.

    The walk has a stack of its own (patterns are small, but nothing here recurses)."""
    root = rule.pattern
    m = Match(op, args, attrs, shape)
    if root.name is not None:
        m.captures[root.name] = None  # the node does not exist yet
    if root.args is not None and not _operands(b, root, args, m):
        return None
    if rule.where is not None and not rule.where(b, m):
        return None
    return m


def _operands(b, p: Pattern, operands: tuple, m: Match) -> bool:
    orders = [operands]
    if p.commute and len(operands) == 2:
        orders.append(operands[::-1])
    for order in orders:
        saved = dict(m.captures)
        if len(order) == len(p.args) and all(_node(b, q, n, m) for q, n in zip(p.args, order, strict=True)):
            return True
        m.captures = saved
    return False


def _node(b, p: Pattern, n: int, m: Match) -> bool:
    """Whether existing node n matches pattern p (captures go into m)."""
    stack = [(p, n)]
    while stack:
        p, n = stack.pop()
        if p.op is not None and not p.selects(b.op(n), b.ops[b.op(n)]):
            return False
        if p.where is not None and not p.where(b, n):
            return False
        if p.name is not None:
            if p.name in m.captures and m.captures[p.name] != n:
                return False  # the same name twice: the same node
            m.captures[p.name] = n
        if p.args is not None:
            if p.commute:  # the two orders: a sub-match of its own
                if not _operands(b, p, b.args(n), m):
                    return False
                continue
            operands = b.args(n)
            if len(operands) != len(p.args):
                return False
            stack.extend(zip(p.args, operands, strict=True))
    return True


def index(rules, ops: dict) -> dict[str, list[Rule]]:
    """op name -> the rules whose pattern can match a node of that op, in registration order."""
    rules = list(rules)
    return {name: [r for r in rules if r.pattern.selects(name, entry)] for name, entry in ops.items()}
