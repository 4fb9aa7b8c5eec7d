"""Expressions back to text, as a person would write them (used in docstrings and `derive`)."""

from __future__ import annotations

from . import ast

# binding strength: higher binds tighter
_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "@": 2, "neg": 3, "**": 4}
RIGHT_ASSOCIATIVE = frozenset({"**"})  # the operators of the language that group from the right


def unparse(e: ast.Expr) -> str:
    return _text(e)[0]


def _number(v: float) -> str:
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else repr(float(v))


def _text(e) -> tuple[str, int]:
    if isinstance(e, ast.Num):
        return _number(e.value), 9
    if isinstance(e, ast.Name):
        return e.id, 9
    if isinstance(e, ast.Transpose):
        inner, p = _text(e.operand)
        return (f"{inner}.T" if p >= 9 else f"({inner}).T"), 9
    if isinstance(e, ast.Call):
        return f"{e.func}({', '.join(_text(a)[0] for a in e.args)})", 9
    if isinstance(e, ast.Unary):
        inner, p = _text(e.operand)
        return (f"-{inner}" if p > _PREC["neg"] else f"-({inner})"), _PREC["neg"]
    if isinstance(e, ast.BinOp):
        prec = _PREC[e.op]
        left, lp = _text(e.left)
        right, rp = _text(e.right)
        if e.op in RIGHT_ASSOCIATIVE:
            left = left if lp > prec else f"({left})"
            right = right if rp >= prec else f"({right})"
        else:
            left = left if lp >= prec else f"({left})"
            right = right if rp > prec else f"({right})"
        return f"{left} {e.op} {right}", prec
    raise TypeError(type(e).__name__)
