"""Lowering: expressions of the syntax tree -> nodes of the graph IR.

The checker lowers every expression too: shape inference is the op table's
shape rules applied while the graph is built, so the two can never disagree.

A subexpression made of numbers alone is evaluated as it is lowered, and one
that is not a finite number (`1 / 0`, `0 / 0`, `log(0)`, `10 ** 400`,
`exp(1000)`) is an error at its place: compiled, it would make every energy
inf or NaN.
"""

from __future__ import annotations

import weakref

import numpy as np

from ..errors import EbmcError, did_you_mean
from ..frontend import ast
from ..frontend.printer import unparse
from .evaluate import constant_value
from .graph import Builder, op_table
from .ops import FUNCTIONS, Function, ShapeError, fmt

# elementwise ops of the table that are steps of derivatives, not functions of the language
INTERNAL_OPS = ("neg", "sign", "step")

# the attributes of a param declaration that its var node carries
VAR_FACTS = ("symmetric",)
# the data types whose var nodes carry a fact of the same name (rewrites may use it)
DATA_FACTS = ("onehot",)

# operator -> (op, attrs); a contraction's messages are about '@' already
BINARY_OPS = {
    "+": ("add", {}),
    "-": ("sub", {}),
    "*": ("mul", {}),
    "/": ("div", {}),
    "**": ("pow", {}),
    "@": ("tensordot", {"n": 1}),
}


def _error(message: str, span: ast.Span) -> EbmcError:
    return EbmcError(message, span.line, span.column, length=span.length)


def language_functions() -> dict[str, Function]:
    """The functions a model may call: the language's own, and every elementwise op a plugin adds."""
    table = dict(FUNCTIONS)
    for name, op in op_table().items():
        if op.elementwise and op.arity == 1 and name not in table and name not in INTERNAL_OPS:
            table[name] = Function(name, 1, lambda b, x, _op=name: b.add(_op, x), op.doc)
    return table


# builder -> its memo of constant values (node -> value or None), for as long as the builder lives
_CONSTANTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_SHOWN = 60  # a constant expression longer than this is not quoted in the message


def lower_expr(b: Builder, expr: ast.Expr, env: dict) -> int:
    """The node computing `expr`; `env` maps names to nodes. Raises EbmcError at the offending place."""
    method = getattr(_Lowerer, "visit_" + type(expr).__name__)
    n = method(b, expr, env)
    if not isinstance(expr, (ast.Num, ast.Name)):  # numbers are checked by the parser, names where defined
        _check_finite(b, n, expr)
    return n


def _check_finite(b: Builder, n: int, expr: ast.Expr) -> None:
    value = constant_value(b, n, _CONSTANTS.setdefault(b, {}))
    if value is None or np.all(np.isfinite(value)):
        return
    bad = float(value.flat[np.flatnonzero(~np.isfinite(value))[0]])
    text = unparse(expr)
    what = f"this constant expression is {text}," if len(text) <= _SHOWN else "this constant expression"
    raise _error(f"{what} which is not a finite number (it evaluates to {bad})", expr.span)


def _apply(b: Builder, span: ast.Span, op: str, *args: int, what: str = "", **attrs) -> int:
    try:
        return b.add(op, *args, **attrs)
    except ShapeError as exc:
        raise _error(f"{what}{exc}" if what else str(exc), span) from None


class _Lowerer:
    @staticmethod
    def visit_Num(b, e: ast.Num, env):
        return b.const(e.value)

    @staticmethod
    def visit_Name(b, e: ast.Name, env):
        if e.id not in env:
            raise _error(f"unknown name '{e.id}'{did_you_mean(e.id, env)}", e.span)
        return env[e.id]

    @staticmethod
    def visit_Unary(b, e: ast.Unary, env):
        return _apply(b, e.span, "neg", lower_expr(b, e.operand, env))

    @staticmethod
    def visit_BinOp(b, e: ast.BinOp, env):
        left, right = lower_expr(b, e.left, env), lower_expr(b, e.right, env)
        op, attrs = BINARY_OPS[e.op]
        return _apply(b, e.span, op, left, right, what=f"in '{e.op}': " if not attrs else "", **attrs)

    @staticmethod
    def visit_Transpose(b, e: ast.Transpose, env):
        x = lower_expr(b, e.operand, env)
        return b.transpose(x, tuple(reversed(range(len(b.shape(x))))))

    @staticmethod
    def visit_Call(b, e: ast.Call, env):
        if e.func == "dense":
            raise _error("dense(...) can only be the whole right-hand side of a 'layer' or 'output'", e.func_span)
        functions = language_functions()
        fn = functions.get(e.func)
        if fn is None:
            known = list(functions) + ["dense"]
            raise _error(f"unknown function '{e.func}'{did_you_mean(e.func, known)}", e.func_span)
        if len(e.args) != fn.arity:
            plural = "s" if fn.arity != 1 else ""
            raise _error(f"{e.func}() takes {fn.arity} argument{plural}, got {len(e.args)}", e.span)
        nodes = [lower_expr(b, a, env) for a in e.args]
        if fn.arity == 2 and b.shape(nodes[0]) != b.shape(nodes[1]):
            raise _error(
                f"{e.func}() needs its two arguments to have the same shape, "
                f"got {fmt(b.shape(nodes[0]))} and {fmt(b.shape(nodes[1]))}",
                e.span,
            )
        try:
            return fn.expand(b, *nodes)
        except ShapeError as exc:
            raise _error(f"in {e.func}(): {exc}", e.span) from None


def model_graph(model, output: str) -> Builder:
    """The graph of a checked model's `energy` or `loss`, as a builder whose only output is it.

    Units, data and params are vars; layers are expanded where they are used, and
    `.layers` maps each layer's name to its node.
    """
    b = Builder()
    env = lower_model(b, model)
    b.output(output, lower_expr(b, getattr(model, output), env))
    b.layers = {layer.name: env[layer.name] for layer in model.layers}  # for drawings and formulas that name layers
    return b


def lower_model(b: Builder, model) -> dict:
    """name -> node in builder b of every unit group, data array, param and layer of a checked model.

    What a declaration says of the values (a param `symmetric`, data `onehot`) is an attribute of
    the var node, known to the rewrites.
    """
    env = {}
    for name, var in model.variables.items():
        facts = {var.type: True} if var.type in DATA_FACTS and var.role in ("input", "target") else {}
        env[name] = b.var(name, var.role, var.dims, **facts)
    for name, p in model.params.items():
        facts = {a: True for a in sorted(p.attrs) if a in VAR_FACTS}
        env[name] = b.var(name, "param", p.dims, **facts)
    for layer in model.layers:
        env[layer.name] = lower_expr(b, layer.expr, env)
    return env
