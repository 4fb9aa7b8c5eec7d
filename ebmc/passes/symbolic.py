"""Symbolic differentiation with sympy, independent of the reverse-mode pass.

At small concrete dims every var becomes an array of sympy symbols (`W[0,1]`,
`v[2]`, a scalar var is just its name), every node an object array of sympy
expressions built by the op table's `sympy` rules, and the gradient of a
scalar output is `sympy.diff` with respect to every symbol of a var. The values
are one sample's: the batch does not exist here.

This is slow and exact: a second opinion on autodiff for dims of 2 to 4, and
the closed forms the energy analysis reads.

Sympy's algorithms (diff, free_symbols, printing) recurse over the expression
tree, and the printed code nests a parenthesis per level, which Python's
parser refuses beyond 200. So an expression nested more than MAX_DEPTH levels
deep (a chain of layers) is a SymbolicError, raised as soon as it is built;
and should sympy or the parser still give up on one (RecursionError,
SyntaxError), that is a SymbolicError too, never a crash.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from contextlib import contextmanager

import networkx as nx
import numpy as np
import sympy
from sympy.printing.numpy import NumPyPrinter

from ..ir.evaluate import resolve
from ..ir.graph import args, leaves, op_table

# levels of a sympy expression tree (a symbol is one); deeper is refused. Sympy itself fails
# near 140 (a chain of 140 tanh, or 34 sigmoid: 1 / (1 + exp(-x)) is four levels)
MAX_DEPTH = 60


class SymbolicError(Exception):
    """The graph cannot be turned into sympy expressions."""


def expression_depth(expr, memo: dict | None = None) -> int:
    """The number of levels of a sympy expression tree, without recursion.

    `memo` (id -> (expression, depth)) may be shared between calls, so that the
    subexpressions common to many expressions are walked once; it holds on to the
    expressions, so an id is never reused while it is in the memo.
    """
    memo = {} if memo is None else memo
    stack = [expr]
    while stack:
        e = stack[-1]
        if id(e) in memo:
            stack.pop()
            continue
        operands = getattr(e, "args", ())
        pending = [a for a in operands if id(a) not in memo]
        if pending:
            stack.extend(pending)
            continue
        stack.pop()
        memo[id(e)] = (e, 1 + max((memo[id(a)][1] for a in operands), default=0))
    return memo[id(expr)][1]


def _too_deep(what: str, depth: int) -> SymbolicError:
    return SymbolicError(
        f"{what} is nested {depth} levels deep as a sympy expression, and sympy's recursive "
        f"algorithms are trusted with {MAX_DEPTH}"
    )


@contextmanager
def _shallow(what: str):
    """Turns sympy's and Python's own depth limits into a SymbolicError."""
    try:
        yield
    except (RecursionError, SyntaxError) as exc:
        raise SymbolicError(f"{what} is nested too deeply for sympy ({type(exc).__name__})") from None


def var_symbols(name: str, shape: tuple[int, ...]) -> np.ndarray:
    """An object array of real symbols named `name[i,j]` (just `name` for a scalar)."""
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        label = f"{name}[{','.join(map(str, idx))}]" if idx else name
        out[idx] = sympy.Symbol(label, real=True)
    return out


def sympy_attrs(attrs: dict, dims: Mapping[str, int]) -> dict:
    """An op's attrs as its sympy rule wants them: a `shape` attr also resolved, as `concrete_shape`,
    and `dims` as `concrete_dims`."""
    out = dict(attrs)
    if "shape" in attrs:
        out["concrete_shape"] = resolve(attrs["shape"], dims)
    if "dims" in attrs:
        out["concrete_dims"] = resolve(attrs["dims"], dims)
    return out


def to_sympy(g: nx.DiGraph, dims: Mapping[str, int], roots=None) -> dict:
    """node -> object ndarray of sympy expressions, for the nodes `roots` (default: the outputs) need."""
    ops = op_table()
    roots = list(g.graph["outputs"].values()) if roots is None else list(roots)
    need = set()
    for r in roots:
        need |= nx.ancestors(g, r) | {r}
    values = {}
    memo: dict = {}
    for n in nx.topological_sort(g.subgraph(need)):
        d = g.nodes[n]
        shape = resolve(d["shape"], dims)
        op = d["op"]
        if ops[op].named:
            out = var_symbols(d["name"], shape)
        elif ops[op].sympy is None:
            raise SymbolicError(
                f"op '{op}' (node %{n}) has no sympy rule, so it cannot be differentiated symbolically"
                + (" (it works on the whole batch, and symbolic values are one sample's)" if ops[op].batch else "")
            )
        else:
            operands = [values[a] for a in args(g, n)]
            with _shallow(f"the value of {op} (node %{n})"):
                out = np.asarray(ops[op].sympy(operands, sympy_attrs(d["attrs"], dims)), dtype=object)
            depth = max((expression_depth(x, memo) for x in out.ravel()), default=0)
            if depth > MAX_DEPTH:
                raise _too_deep(f"the value of {op} (node %{n})", depth)
        if out.shape != shape:
            raise SymbolicError(f"the sympy rule of '{op}' (node %{n}) gave shape {out.shape}, expected {shape}")
        values[n] = out
    return values


def symbolic_gradients(g: nx.DiGraph, output: str, wrt: list[str], dims: Mapping[str, int]) -> dict:
    """name -> object ndarray of d(output)/d(name[i, ...]) for every entry, by sympy.diff.

    A var the output does not depend on gets an array of zeros.
    """
    y = g.graph["outputs"][output]
    found = leaves(g)
    missing = [w for w in wrt if w not in found]
    if missing:
        raise KeyError(f"no var named {', '.join(map(repr, missing))} in the graph")
    expr = to_sympy(g, dims, [y])[y]
    if expr.shape != ():
        raise SymbolicError(f"symbolic gradients need a scalar output, {output!r} has shape {expr.shape}")
    expr = expr.item()
    grads = {}
    memo: dict = {}
    for name in wrt:
        syms = var_symbols(name, resolve(g.nodes[found[name]]["shape"], dims))
        with _shallow(f"d{output}/d{name}"):
            grads[name] = np.vectorize(lambda s: sympy.diff(expr, s), otypes=[object])(syms)
        depth = max((expression_depth(x, memo) for x in grads[name].ravel()), default=0)
        if depth > MAX_DEPTH:
            raise _too_deep(f"d{output}/d{name}", depth)
    return grads


class _FlatPrinter(NumPyPrinter):
    """numpy code in which the symbol with index i is `_x[i]`.

    sympy.lambdify would substitute a Dummy for every symbol whose name is not
    an identifier (`W[0,1]`), rebuilding the whole expression once per symbol,
    which is slow for large expressions; printing the symbols directly is not,
    and keeps var names out of the code.
    """

    def __init__(self, index: dict):
        super().__init__({"fully_qualified_modules": True, "inline": True})
        self.index = index

    def _print_Symbol(self, expr):
        return f"_x[{self.index[expr]}]"


def lambdify(g: nx.DiGraph, exprs: Mapping[str, np.ndarray], dims: Mapping[str, int]):
    """A function values -> name -> float ndarray evaluating `exprs` numerically (one sample).

    `values` maps the name of every var the expressions use to its array (no batch axis).
    """
    with _shallow("the expressions"):
        flat_exprs = {
            name: [sympy.sympify(x) for x in np.asarray(e, dtype=object).ravel()] for name, e in exprs.items()
        }
        used = set().union(*(x.free_symbols for xs in flat_exprs.values() for x in xs))
        shapes = {name: resolve(g.nodes[n]["shape"], dims) for name, n in leaves(g).items()}
        shapes = {name: shape for name, shape in shapes.items() if used & set(var_symbols(name, shape).ravel())}
        symbols = [s for name, shape in shapes.items() for s in var_symbols(name, shape).ravel()]
        printer = _FlatPrinter({s: i for i, s in enumerate(symbols)})
        code = {name: f"lambda _x: [{', '.join(printer.doprint(x) for x in xs)}]" for name, xs in flat_exprs.items()}
        # the modules the printed code names (numpy, and functools for Max of many args)
        namespace = {m.split(".")[0]: importlib.import_module(m.split(".")[0]) for m in printer.module_imports}
        fns = {name: eval(text, {"numpy": np, **namespace}) for name, text in code.items()}

    def run(values: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        flat = np.concatenate(
            [np.asarray(values[name], dtype=np.float64).reshape(shape).ravel() for name, shape in shapes.items()]
            + [np.zeros(0)]
        )
        return {
            name: np.array([float(v) for v in fn(flat)], dtype=np.float64).reshape(np.shape(exprs[name]))
            for name, fn in fns.items()
        }

    return run


def evaluate_symbolic_gradients(
    g: nx.DiGraph, output: str, wrt: list[str], values: Mapping[str, np.ndarray], dims: Mapping[str, int]
) -> dict[str, np.ndarray]:
    """symbolic_gradients evaluated at one sample's `values`: the number to compare autodiff with."""
    return lambdify(g, symbolic_gradients(g, output, wrt, dims), dims)(values)
