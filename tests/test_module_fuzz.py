"""Fuzzing the whole pipeline: model files, written at random or mutated from real ones, through
`ebmc.compile`, `derive` and `check`, and every generated module driven on random valid data.

What must hold for every source:
- `compile` returns a module, or raises an EbmcError that renders with a place inside the file;
  the same for `analyse_file`, `derive` (text and LaTeX) and, for a part of the sources, `check`
  (which must also not report a disagreement: the three gradients of a well-defined energy agree);
- the module imports, and for every class of MODELS each public method, called with valid
  arguments (units of their unit type: bernoulli, spin, gaussian, softmax one-hot along the last
  axis; the conditions of the model, always given; the right shapes, a batch or one sample; masks
  with one entry per unit, a K-way unit counted once), returns finite numbers of the right kind:
  means in the unit type's range (softmax means summing to 1), draws among its values, kept
  units kept, log Z exact and by AIS (estimate and standard error, one per row of the
  conditions), saved params loaded back equal; the only errors a valid call may end in are the
  ValueErrors the docs promise (log Z too large to enumerate or not exact, a fit that diverged, a
  curvature that the params make non-positive);
- on small models the numbers are right: free energy, log Z (exact, and AIS within 0.3 nats and
  five standard errors), log_prob and every conditional mean against sums over all states of
  the discrete groups (softmax units K-way) of the module's own `energy`, its gaussian groups
  integrated out in closed form (the energy is quadratic in them: its constant, field and
  Hessian read off the energy at a few points, and checked at another), at given conditions;
  and `grad` against central differences of the energy.
The models are random (bernoulli, spin, gaussian and softmax groups; couplings inside a group,
fully visible machines; inputs) or mutations of real model files.
Any other exception, a warning (warnings are errors here), a NaN or a wrong number is a failure.
Failures are collected over the whole run, grouped by kind, the first source of each kind
minimised, and all reported at the end.

EBMC_FUZZ_CASES sets the number of sources (CI: the default below), EBMC_FUZZ_SEED the seed;
EBMC_FUZZ_STATS names a file to write the counts to, as JSON.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import json
import os
import random
import re
import signal
import tempfile
import time
import traceback
import warnings
from collections import Counter
from dataclasses import dataclass

import networkx as nx
import numpy as np
from models import (
    BM,
    CONDITIONAL,
    GRBM,
    LAYERED,
    MIXED,
    RBM,
    SCALAR,
    SOFTMAX,
    SPIN,
    SQUARE,
    TWO,
    non_finite,
    strict_call,
    strict_file_call,
)

import ebmc
import ebmc.api
import ebmc.derive
from ebmc.frontend.parser import KEYWORDS, PUNCTUATION

CASES = int(os.environ.get("EBMC_FUZZ_CASES", "200"))
SEED = int(os.environ.get("EBMC_FUZZ_SEED", "5"))
STATS = os.environ.get("EBMC_FUZZ_STATS")
CHECK_EVERY = 4  # `check` (sympy) on one analysed source in CHECK_EVERY
CASE_SECONDS = 120  # a case that takes longer is a failure of its own (output or time that explodes)
MINIMISE_SECONDS = 90  # for all the kinds of failure together
GENERATED_MODULE = "<ebmc-fuzz>"
ORACLE_UNITS = 12  # brute-force sums over at most 2**ORACLE_UNITS states

# ---------------------------------------------------------------- names
FUNCTIONS = "exp log sqrt abs square sigmoid tanh relu softplus log_sigmoid".split()
PLAIN = "v h u x y z g q s t a b c d w W U V J K r p e f".split()
REFUSED = "self mask steps lambda None match _x __init__ exp sum dense energy model seed dtype".split()


def _names_of_the_generated_code() -> list[str]:
    """Every name the generated module uses for itself (locals, arguments, methods, module names)
    and the builtins a user might shadow: a model may use them all, and the code must not mind."""
    found = set()
    for source in (RBM, GRBM, BM, SOFTMAX, CONDITIONAL):  # every kind of unit, coupled groups, conditions
        found |= _names_in(ebmc.compile(source).source)
    found |= {"range", "int", "min", "max", "print", "bool", "len", "list", "dict", "float", "ValueError"}
    found |= {"TypeError", "isinstance", "zip", "iter", "next", "super", "object", "type", "id", "str"}
    found |= {"count", "data", "lr", "v_model", "h_model", "n", "rows", "np", "os", "time", "MODELS"}
    keywords = set(KEYWORDS.values()) | set(FUNCTIONS) | {"sum", "mean", "logsumexp", "softmax", "dense"}
    return sorted(n for n in found if not n.startswith("_") and n not in keywords | set(REFUSED) and n.isidentifier())


def _names_in(source: str) -> set[str]:
    tree = ast.parse(source)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.arg):
            found.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            found.add(node.name)
    return found


TRICKY = _names_of_the_generated_code()
MODEL_NAMES = "m rbm m2 a_b aB Rbm digits_rbm model_a range count".split()
REFUSED_MODEL_NAMES = "ValueError np MODELS lambda".split()

# ---------------------------------------------------------------- train statements
VALID_OPTIONS = {
    "k": ["1", "2", "3", "1.0"],
    "lr": ["0.01", "0.05", "0.1", "0.001", "1.", ".2"],
    "batch": ["1", "3", "10", "4.0", "100"],
    "epochs": ["1", "2", "3"],
    "momentum": ["0", "0.5", "0.9", "0.0"],
    "weight_decay": ["0", "0.001", "0.01"],
}
INVALID_OPTIONS = {
    "k": ["0", "-1", "2.5", "fast"],
    "lr": ["0", "-0.1", "1e999", "x"],
    "batch": ["0", "-4", "0.5"],
    "epochs": ["0", "2.7"],
    "momentum": ["1", "1.5", "-0.5"],
    "weight_decay": ["-1", "-0.001"],
    "foo": ["1"],
    "beta": ["0.9"],
}


@dataclass
class Group:
    name: str
    role: str  # "visible", "hidden" or "input" (a condition, always given)
    unit: str  # "bernoulli", "spin", "gaussian" or "softmax"; "real" for an input
    shape: tuple  # dim names (str) and sizes (int)

    @property
    def discrete(self) -> bool:
        return self.unit in ("bernoulli", "spin")


def shape_text(shape) -> str:
    return "[" + ", ".join(map(str, shape)) + "]" if shape else ""


class ModelWriter:
    """One random energy model in the language, with random names, shapes, unit types and terms.

    The groups are bernoulli, spin, gaussian or softmax (`r[items, K]`), visible, hidden (or none:
    a fully visible machine) and inputs (conditions). The terms are those of real energy models
    (linear, bilinear, layers of them, functions of one group, couplings inside a group, terms of
    the params alone, terms of the inputs) and random expressions of the right shapes. A gaussian
    group gets a quadratic term of positive curvature (`0.5 * sum(square(v - a) / square(s))`) and
    meets other gaussian groups in no term, so that exp(-E) has a finite integral; now and then a
    term that the compiler must refuse is written instead (a curvature that may be negative, a
    softmax group inside a non-linear function). Functions that are not defined everywhere get
    arguments inside their domain (`log(1 + square(x))`), so that the energy itself is a finite
    number wherever the units and params are: a warning or a NaN in a call is then the generated
    code's fault, not the model's.
    """

    def __init__(self, rng: random.Random, name: str):
        self.rng = rng
        self.name = name
        self.taken: set[str] = set()
        self.dims: dict[str, int] = {}
        self.groups: list[Group] = []
        self.params: list[tuple[str, tuple, str]] = []  # name, shape, the rest of the statement
        self.layers: list[tuple[str, tuple, str]] = []  # name, shape, expression

    # ------------------------------------------------------------ names and shapes
    def fresh(self) -> str:
        r = self.rng.random()
        pool = PLAIN if r < 0.62 else TRICKY if r < 0.996 else REFUSED
        for _ in range(30):
            name = self.rng.choice(pool)
            if name not in self.taken or self.rng.random() < 0.002:  # now and then a duplicate, refused
                break
        else:
            name = f"{self.rng.choice(PLAIN)}{len(self.taken)}"
        self.taken.add(name)
        return name

    def size(self):
        if self.dims and self.rng.random() < 0.6:
            return self.rng.choice(list(self.dims))
        return self.rng.choice([1, 2, 2, 3, 3])

    def group_shape(self, unit: str = "bernoulli") -> tuple:
        r = self.rng.random()
        if unit == "softmax":  # one-hot along the last axis: K-way units
            if r < 0.03:
                return ()  # refused: a softmax group needs a last axis
            k = self.rng.choice([2, 3, 3]) if r < 0.8 or not self.dims else self.rng.choice(list(self.dims))
            return (k,) if r < 0.5 else (self.size(), k)
        if unit in ("gaussian", "real"):
            return () if r < 0.25 else (self.size(),) if r < 0.9 else (self.size(), self.size())
        if r < 0.2:
            return ()
        if r < 0.85:
            return (self.size(),)
        return (self.size(), self.size())

    def unit_type(self, role: str) -> str:
        if role == "input":
            return "real"
        weights = [4, 3, 2, 2] if role == "visible" else [4, 3, 1, 2]
        unit = self.rng.choices(["bernoulli", "spin", "gaussian", "softmax"], weights)[0]
        if unit == "gaussian" and any(g.unit == "gaussian" for g in self.groups) and self.rng.random() < 0.7:
            unit = "bernoulli"
        return unit

    def param(self, shape: tuple) -> str:
        same = [p for p in self.params if p[1] == shape]
        if same and self.rng.random() < 0.25:
            return self.rng.choice(same)[0]  # a param used twice
        name = self.fresh()
        inits = ["", " = 0.5", " = -1", " ~ normal(0, 0.1)", " ~ normal(0, 1)", " ~ uniform(-1, 1)"]
        if shape:
            inits += [" ~ glorot", " ~ he", " ~ glorot()"]
        rest = self.rng.choice(inits)
        r = self.rng.random()
        square = len(shape) == 2 and shape[0] == shape[1]
        if r < 0.003 and not square:
            rest += " : symmetric"  # refused: the param is not square
        elif r < 0.05:
            rest += " : fixed"
        elif r < 0.1 and square:
            rest += self.rng.choice([" : symmetric", " : zero_diagonal", " : symmetric, zero_diagonal"])
        self.params.append((name, shape, rest))
        return name

    def scalar(self) -> str:
        return self.param(())

    def positive(self, shape: tuple) -> str:
        """A param that starts away from 0: the scale of a gaussian group (divided by)."""
        name = self.fresh()
        self.params.append((name, shape, self.rng.choice([" = 1", " = 0.5", " ~ uniform(0.5, 2)"])))
        return name

    def layer(self, expression: str, shape: tuple) -> str:
        name = self.fresh()
        self.layers.append((name, shape, expression))
        return name

    # ------------------------------------------------------------ random expressions of a shape
    def expr(self, shape: tuple, depth: int) -> str:
        r = self.rng.random()
        if depth <= 0 or r < 0.25:
            return self.atom(shape)
        if r < 0.45:
            return self.function(self.expr(shape, depth - 1), safe=False)
        if r < 0.65:
            op = self.rng.choice(["+", "-", "*", "*"])
            left, right = self.expr(shape, depth - 1), self.expr(shape, depth - 1)
            if self.rng.random() < 0.3:
                right = self.rng.choice(["2", "0.5", "1", self.scalar()])  # broadcast from a scalar
            return f"({left} {op} {right})"
        if r < 0.72:
            x = self.expr(shape, depth - 1)
            return self.rng.choice(
                [f"({x}) ** 2", f"({x}) ** 3", f"({x}) ** 0", f"({x}) ** 1", f"(1 + square({x})) ** 0.5"]
            )
        if r < 0.77:
            x = self.expr(shape, depth - 1)
            return self.rng.choice([f"({x}) / 2", f"({x}) / (1 + square({self.expr(shape, depth - 1)}))"])
        if r < 0.87 and len(shape) < 2:
            d = self.size()
            i = self.rng.randrange(len(shape) + 1) if len(shape) == 1 else 0
            left, right = shape[:i] + (d,), (d,) + shape[i:]
            return f"({self.expr(left, depth - 1)} @ {self.expr(right, depth - 1)})"
        if r < 0.92 and len(shape) == 2:
            return f"({self.expr(shape[::-1], depth - 1)}).T"
        if r < 0.95 and shape:
            return f"softmax({self.expr(shape, depth - 1)})"
        if not shape:
            inner = self.rng.choice([(), (self.size(),), (self.size(), self.size())])
            reduce = self.rng.choice(["sum", "sum", "mean", "logsumexp"])
            return f"{reduce}({self.expr(inner, depth - 1)})"
        return self.atom(shape)

    def atom(self, shape: tuple) -> str:
        # gaussian and softmax groups inside random expressions are mostly refused: now and then
        groups = [g.name for g in self.groups if g.shape == shape and (g.discrete or self.rng.random() < 0.15)]
        layers = [name for name, s, _ in self.layers if s == shape]
        r = self.rng.random()
        if groups and r < 0.45:
            return self.rng.choice(groups)
        if layers and r < 0.6:
            return self.rng.choice(layers)
        return self.param(shape)

    def function(self, x: str, safe: bool) -> str:
        """A function of the language applied to x, inside its domain; with safe=True, one that
        keeps values small (x itself small: a unit, a param)."""
        f = self.rng.choice(FUNCTIONS)
        if f == "exp":
            return f"exp({x})" if safe else f"exp(tanh({x}))"
        if f == "log":
            return self.rng.choice([f"log(1 + square({x}))", f"log(softplus({x}) + 1)", f"log(sigmoid({x}) + 0.5)"])
        if f == "sqrt":
            return self.rng.choice([f"sqrt(1 + square({x}))", f"sqrt(softplus({x}) + 0.5)"])
        return f"{f}({x})"

    # ------------------------------------------------------------ terms of an energy
    def coefficient(self) -> str:
        s = self.scalar() if self.rng.random() < 0.5 else None
        return self.rng.choice(
            ["", "", "", "0.5 * ", "2 * "] + ([f"exp({s}) * ", f"tanh({s}) * ", f"{s} ** 2 * "] if s else [])
        )

    def linear(self, x: Group) -> str:
        n, s = x.name, x.shape
        if not s:
            return self.rng.choice([f"{self.scalar()} * {n}", f"{n} * {self.scalar()}", n, f"{n} / 2"])
        if len(s) == 1:
            a = self.param(s)
            return self.rng.choice([f"{a} @ {n}", f"{n} @ {a}", f"sum({a} * {n})", f"sum({n} * {a}) / 2"])
        return self.rng.choice([f"sum({self.param(s)} * {n})", f"{self.param(s[:1])} @ {n} @ {self.param(s[1:])}"])

    def bilinear(self, x: Group, y: Group) -> str:
        a, b = x.name, y.name
        if len(x.shape) == 1 and len(y.shape) == 1:
            w = self.param((x.shape[0], y.shape[0]))
            return self.rng.choice(
                [f"{a} @ {w} @ {b}", f"{b} @ {w}.T @ {a}", f"sum(({a} @ {w}) * {b})", f"({a} @ {w}) @ {b}"]
            )
        if not x.shape:
            if len(y.shape) == 1 and self.rng.random() < 0.5:
                return f"{a} * ({self.param(y.shape)} @ {b})"
            return f"{a} * sum({self.param(y.shape)} * {b})"
        if len(x.shape) == 2 and len(y.shape) == 1:
            return f"sum({a} * ({self.param(x.shape + y.shape)} @ {b}))"
        return f"sum({a}) * sum({b}) * {self.scalar()}"

    def layered(self, x: Group, y: Group) -> str:
        """y coupled to x through a chain of layers."""
        if len(x.shape) != 1 or len(y.shape) != 1:
            return self.bilinear(x, y)
        shape = y.shape
        if self.rng.random() < 0.3:  # layers of params alone, then a bilinear form through them
            w = self.param((x.shape[0], y.shape[0]))
            name = self.layer(
                self.rng.choice([f"tanh({w}) * exp({self.scalar()})", f"{w} * 2", f"({w} + {w}) / 2"]),
                (x.shape[0], y.shape[0]),
            )
            return f"{x.name} @ {name} @ {y.name}"
        name = self.layer(f"{x.name} @ {self.param((x.shape[0], shape[0]))} + {self.param(shape)}", shape)
        for _ in range(self.rng.randrange(4)):
            b, s = self.param(shape), self.scalar()
            step = self.rng.choice(
                [f"{name} * {s}", f"{name} + {b}", f"2 * {name} - {b}", f"{name} / 2", f"{name}.T", f"-{name}"]
                + [f"tanh({name})", f"{name} + tanh({name})", f"sigmoid({name}) * {s}"]  # x's units then interact
            )
            name = self.layer(step, shape)
        return self.rng.choice([f"{name} @ {y.name}", f"{y.name} @ {name}", f"sum({name} * {y.name})"])

    def one_group(self, x: Group) -> str:
        """A function of each unit of x alone (no coupling: each term holds one unit)."""
        inner = x.name if self.rng.random() < 0.5 else f"({x.name} * {self.param(x.shape)} + {self.param(x.shape)})"
        f = self.function(inner, safe=inner == x.name)
        return f if not x.shape else f"sum({f})"

    def coupling(self, x: Group) -> str:
        """A term in which the units of x interact: mostly a symmetric coupling with a zero diagonal
        (`v @ L @ v`, a Boltzmann machine; small for a gaussian group, whose precision must stay
        positive definite), else other interactions (a coupled group of any form for binary units,
        refused for a gaussian or softmax group where it is not quadratic or not linear)."""
        n = x.name
        if len(x.shape) == 1 and x.unit != "softmax" and self.rng.random() < 0.7:
            size = x.shape[0]
            scale = "0.1 * " if x.unit == "gaussian" else self.rng.choice(["", "0.5 * ", "0.5 * "])
            return f"{scale}({n} @ {self.symmetric(size)} @ {n})"
        if x.unit == "softmax" and len(x.shape) == 2 and self.rng.random() < 0.8:
            items, k = x.shape
            return f"sum(({self.symmetric(items)} @ {n}) * ({n} @ {self.param((k, k))}))"
        if x.unit == "softmax" and self.rng.random() < 0.8:
            return self.linear(x)  # the units of a one-unit softmax group cannot interact
        if len(x.shape) == 1:
            return self.rng.choice(
                [f"{n} @ {self.param(x.shape * 2)} @ {n}", f"sum({n}) ** 2", f"softplus({self.param(x.shape)} @ {n})"]
            )
        return self.rng.choice([f"{n} * {n} * {self.scalar()}" if not x.shape else f"sum({n}) ** 2", f"logsumexp({n})"])

    def symmetric(self, size) -> str:
        name = self.fresh()
        init = self.rng.choice(["", " ~ normal(0, 0.1)", " ~ normal(0, 0.3)", " ~ uniform(-0.2, 0.2)"])
        self.params.append((name, (size, size), init + " : symmetric, zero_diagonal"))
        return name

    def quadratic(self, x: Group) -> str | None:
        """The term of a gaussian group that makes exp(-E) integrable: quadratic with a curvature
        that is positive for every value of the params; now and then one that the compiler must
        refuse (a curvature of any sign, a quartic, none)."""
        n, shape = x.name, x.shape
        total = (lambda e: f"sum({e})") if shape else (lambda e: e)
        inputs = [g for g in self.groups if g.role == "input"]
        r = self.rng.random()
        if r < 0.02:
            return None  # linear only: refused
        if r < 0.04:
            return f"{self.scalar()} * {total(f'square({n})')}"  # a curvature of either sign: refused
        if r < 0.06:
            return total(f"square(square({n}))")  # not quadratic: refused
        if r < 0.07:
            return f"-0.5 * {total(f'square({n})')}"  # negative: refused
        options = [
            f"0.5 * {total(f'square({n} - {self.param(shape)})')}",
            f"{total(f'square({n})')} / 2",
            f"0.5 * {total(f'square({n} - {self.param(shape)}) / square({self.positive(shape)})')}",
            f"{total(f'exp({self.scalar()}) * square({n})')}",
            f"0.5 * {total(f'square({n})')} * (1 + square({self.scalar()}))",
        ]
        for c in inputs:  # the mean, or the curvature, depends on a condition
            if len(c.shape) == 1 and len(shape) == 1:
                options.append(f"0.5 * sum(square({n} - {c.name} @ {self.param((c.shape[0], shape[0]))}))")
            if not c.shape:
                options.append(f"0.5 * exp(tanh({c.name})) * {total(f'square({n})')}")
        return self.rng.choice(options)

    def meet(self, x: Group, y: Group) -> bool:
        """Whether a term may hold both x and y: two gaussian groups meet rarely (the joint
        curvature of a random coupling between them need not be positive)."""
        return x.unit != "gaussian" or y.unit != "gaussian" or self.rng.random() < 0.03

    def constant(self) -> str:
        r = self.rng.random()
        if r < 0.1:  # constants that fold to inf or NaN: a compile error with a place
            return self.rng.choice(["1/0", "10 ** 400", "0/0", "log(0)", "1e999", "(-1) ** 0.5", "sqrt(-1)"])
        if r < 0.5:
            return self.rng.choice(["2.5", "1", "log(2)", "exp(1) / 3", "0"])
        p = self.param(self.rng.choice([(), (self.size(),), (self.size(), self.size())]))
        return self.rng.choice(
            [f"0.1 * sum(square({p}))", f"sum(log(1 + square({p})))", f"sum(tanh({p}))", f"mean({p}) ** 2"]
        )

    def energy(self) -> str:
        units = [g for g in self.groups if g.role != "input"]
        visible = [g for g in units if g.role == "visible"]
        hidden = [g for g in units if g.role == "hidden"]
        inputs = [g for g in self.groups if g.role == "input"]
        terms = []  # (body, its sign or None: drawn)
        for _ in range(self.rng.randint(1, 4)):
            r = self.rng.random()
            x = self.rng.choice(units)
            others = [g for g in units + inputs if g is not x and self.meet(x, g)]
            pairs = [(v, h) for v in visible for h in hidden if self.meet(v, h)]
            if r < 0.3 and pairs:
                v, h = self.rng.choice(pairs)
                body = self.coefficient() + "(" + self.bilinear(v, h) + ")"
            elif r < 0.4 and others:
                body = self.bilinear(x, self.rng.choice(others))
            elif r < 0.52 and pairs:
                v, h = self.rng.choice(pairs)
                layered = (v.discrete and h.discrete) or self.rng.random() < 0.2
                body = self.layered(v, h) if layered else self.bilinear(v, h)
            elif r < 0.6:
                body = self.linear(x)
            elif r < 0.68:
                body = self.one_group(x) if x.discrete or self.rng.random() < 0.15 else self.linear(x)
            elif r < 0.76 or (r < 0.84 and not hidden):
                body = self.coupling(x)
            elif r < 0.84 and inputs:
                body = self.bilinear(self.rng.choice(inputs), self.rng.choice(units))
            elif r < 0.92:
                body = self.constant()
            else:
                body = f"sum({self.expr(self.rng.choice([(), (self.size(),)]), 3)})"
            terms.append((body, None))
        if not hidden and self.rng.random() < 0.6:
            terms.append((self.coupling(self.rng.choice(visible)), None))  # a fully visible Boltzmann machine
        for g in units:
            if g.unit == "gaussian" and (q := self.quadratic(g)) is not None:
                terms.append((q, "+"))
        used = set(re.findall(r"[A-Za-z_]\w*", " ".join(t for t, _ in terms) + " ".join(e for _, _, e in self.layers)))
        for g in self.groups:
            if g.name not in used and self.rng.random() < 0.99:  # else unused: refused at its declaration
                terms.append((self.linear(g), None))
        signs = [sign or self.rng.choice(["-", "-", "+"]) for _, sign in terms]
        terms = [body for body, _ in terms]
        if self.rng.random() < 0.04:  # a term and its negation: the groups it held may cancel out
            i = self.rng.randrange(len(terms))
            terms.append(terms[i])
            signs.append("+" if signs[i] == "-" else "-")
        text = ""
        for body, sign in zip(terms, signs, strict=True):
            wrapped = f"({body})" if sign == "-" else body
            text += (f" {sign} " if text else ("-" if sign == "-" else "")) + wrapped
        return text

    # ------------------------------------------------------------ the model
    def train(self) -> str | None:
        r = self.rng.random()
        if r < 0.2:
            return None
        if r < 0.24:
            return "train " + self.rng.choice(["hebbian", "storkey", "sgd(lr=0.1)", "adam", "cdd", "cd(lr=fast)"])
        trainer = self.rng.choice(["cd", "cd", "pcd"])
        if r < 0.3:
            return f"train {trainer}" + self.rng.choice(["", "()"])
        options = []
        for key in self.rng.sample(list(VALID_OPTIONS), self.rng.randint(1, 6)):
            if self.rng.random() < 0.03:
                key = key if self.rng.random() < 0.8 else self.rng.choice(["foo", "beta"])
                options.append(f"{key}={self.rng.choice(INVALID_OPTIONS[key])}")
            else:
                options.append(f"{key}={self.rng.choice(VALID_OPTIONS[key])}")
        if self.rng.random() < 0.02:
            options.append(options[0])  # an option given twice
        return f"train {trainer}({', '.join(options)}{',' if self.rng.random() < 0.1 else ''})"

    def write(self) -> str:
        for _ in range(self.rng.randint(0, 3)):
            self.dims[self.fresh()] = self.rng.choice([1, 2, 2, 3, 3, 4])
        roles = ["visible"] * self.rng.choice([1, 1, 2]) + ["hidden"] * self.rng.choice([0, 1, 1, 1, 2])
        roles += ["input"] * self.rng.choice([0, 0, 0, 0, 1, 1, 2])
        for role in roles:
            unit = self.unit_type(role)
            self.groups.append(Group(self.fresh(), role, unit, self.group_shape(unit)))
        energy = self.energy()
        train = self.train()
        declarations = [f"dim {k} = {v}" for k, v in self.dims.items()]
        declarations += [
            f"{g.role} {g.name}{shape_text(g.shape)}" + ("" if g.role == "input" else f" : {g.unit}")
            for g in self.groups
        ]
        declarations += [f"param {n}{shape_text(s)}{rest}" for n, s, rest in self.params]
        if self.rng.random() < 0.15:  # declarations may come in any order, and after their use
            self.rng.shuffle(declarations)
        statements = declarations + [f"layer {n} = {e}" for n, _, e in self.layers] + [f"energy = {energy}"]
        statements += [train] if train else []
        body = ""
        for s in statements:
            r = self.rng.random()
            body += ("  " if r < 0.1 else "\n    ") + s + ("  # why" if r > 0.97 else "")
        return f"model {self.name} {{{body}\n}}\n"


def generated_source(rng: random.Random) -> str:
    count = 1 if rng.random() < 0.85 else 2
    names = [rng.choice(MODEL_NAMES if rng.random() < 0.97 else REFUSED_MODEL_NAMES) for _ in range(count)]
    return "\n".join(ModelWriter(rng, name).write() for name in names)


# ---------------------------------------------------------------- mutations of real files
BASES = {"rbm": RBM, "spin": SPIN, "two": TWO, "scalar": SCALAR, "mixed": MIXED, "layered": LAYERED, "sym": SQUARE}
BASES |= {"grbm": GRBM, "bm": BM, "softmax": SOFTMAX, "crbm": CONDITIONAL}
BASES["both"] = RBM + "\n" + TWO
TOKEN = re.compile(r"[A-Za-z_]\w*|\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+|#[^\n]*|\*\*|\.T\b|\s+|\S")
REPLACEMENTS = sorted(
    set(KEYWORDS.values())
    | set(PUNCTUATION.values())
    | set(FUNCTIONS)
    | {"sum", "mean", "logsumexp", "softmax", "bernoulli", "spin", "gaussian", "binary"}
    | {"cd", "pcd", "k", "lr", "batch", "epochs", "momentum", "weight_decay", "normal", "uniform", "glorot", "he"}
    | {"fixed", "symmetric", "zero_diagonal", "0", "1", "2", "3", "0.5", "-1", "1e-3", "v", "h", "W", "a", "b"}
    | {"range", "n", "data", "v_model", "count", "int", "self", "mask", "steps", "T", "v1", "v2", "s", "z", "g"}
)


CLASSES = [  # tokens that may stand in for each other: an edit among them often keeps the file valid
    {"+", "-", "*", "/", "@", "**"},
    {"bernoulli", "spin", "gaussian", "softmax"},
    {"cd", "pcd", "hebbian"},
    {"normal", "uniform", "glorot", "he"},
    {"visible", "hidden", "input"},
    {"fixed", "symmetric", "zero_diagonal"},
    {"k", "lr", "batch", "epochs", "momentum", "weight_decay"},
    set(FUNCTIONS) | {"sum", "mean", "logsumexp", "softmax"},
]
NUMBERS = ["0", "1", "2", "3", "4", "0.5", "1e-3", "0.01", "2.5"]  # small: no init so large that exp overflows
PARTIAL = {"/", "**", "log", "sqrt"}  # defined on part of the reals only


def partial_uses(tokens) -> list[tuple[str, str]]:
    """Each use of a partial function or operator with the token after it (its operand's start)."""
    solid = [t for t in tokens if not t.isspace() and not t.startswith("#")]
    return [(t, solid[i + 1] if i + 1 < len(solid) else "") for i, t in enumerate(solid) if t in PARTIAL]


def mutated_source(rng: random.Random) -> tuple[str, str]:
    """A base file with 1 to 3 token edits: mostly a token replaced by one of its kind (a name by
    a name of the file, a number by a number, an operator by an operator), else a token deleted,
    duplicated, swapped with another or replaced by any token."""
    base = rng.choice(sorted(BASES))
    original = TOKEN.findall(BASES[base])
    names = sorted({t for t in original if t.isidentifier() and t not in KEYWORDS.values()})
    # an edit that divides by a param that starts at 0 (or takes the log of one) makes the model's
    # own energy infinite: then a warning is the model's fault, not the code's; such edits are drawn again
    tokens = original
    while tokens is original or partial_uses(tokens) != partial_uses(original):
        tokens = edited(list(original), names, rng)
    text = "".join(tokens)
    return base, text if "\n" in text else text + "\n"  # keep it source text, not a path


def edited(tokens: list[str], names: list[str], rng: random.Random) -> list[str]:
    for _ in range(rng.choice([1, 1, 2, 3])):
        solid = [i for i, t in enumerate(tokens) if not t.isspace() and not t.startswith("#")]
        kind = rng.choice(["delete", "duplicate", "swap", "replace"] + ["alike"] * 6)
        if kind == "alike":
            solid = [i for i in solid if tokens[i][0].isalnum() or any(tokens[i] in c for c in CLASSES)]
        i, j = rng.choice(solid), rng.choice(solid)
        token = tokens[i]
        same = next((c for c in CLASSES if token in c), None)
        if kind == "alike" and same:
            tokens[i] = rng.choice(sorted(same))
        elif kind == "alike" and token[0].isdigit():
            tokens[i] = rng.choice(NUMBERS)
        elif kind == "alike" and token not in KEYWORDS.values():
            tokens[i] = rng.choice(names + ["range", "n", "data", "v_model", "count"])
        elif kind == "alike":
            pass  # a keyword: left as it is
        elif kind == "delete":
            del tokens[i]
        elif kind == "duplicate":
            tokens.insert(i, token + " ")
        elif kind == "swap":
            tokens[i], tokens[j] = tokens[j], tokens[i]
        else:
            tokens[i] = rng.choice(REPLACEMENTS)
    return tokens


def small_dims(source: str, rng: random.Random) -> dict[str, int]:
    """Overrides that shrink the large dims a file declares (the file's small sizes are kept)."""
    found = dict(re.findall(r"\bdim\s+([A-Za-z_]\w*)\s*=\s*(\d+)", source))
    return {name: rng.randint(2, 5) for name, size in found.items() if int(size) > 6}


# ---------------------------------------------------------------- the driver
class CaseTimeout(BaseException):  # not an Exception: nothing in ebmc may catch it
    pass


@dataclass
class Failure:
    kind: str  # the signature: what failed and how, without the case's names
    detail: str
    source: str
    dims: dict
    case: str


def kind_of(label: str, exc: BaseException) -> str:
    """'fit: NameError: name … is not defined': numbers and quoted names taken out, so that one
    bug in many models is one kind."""
    message = str(exc).split("\n")[0]
    message = re.sub(r"\b[A-Za-z_]\w*\.(?=\w+\(\))", "", message)  # the class of a method: every model has one
    message = re.sub(r"\barguments?\b", "argument(s)", message)
    message = re.sub(r"'[^']*'|\"[^\"]*\"", "…", message)
    message = re.sub(r"\d+(\.\d+)?(e[-+]?\d+)?", "N", message)
    return f"{label}: {type(exc).__name__}: {message[:90]}"


def where(exc: BaseException) -> str:
    """The last frames of the traceback, with the generated code's lines."""
    frames = traceback.extract_tb(exc.__traceback__)[-4:]
    return " <- ".join(
        f"{f.name} ({os.path.basename(f.filename)}:{f.lineno}: {(f.line or '').strip()[:80]})" for f in frames[::-1]
    )


class Run:
    """The outcome of one source: the failures and the counts of what happened."""

    def __init__(self, source: str, dims: dict, case: str, seed: int, check: bool, stages=("analysis", "module")):
        self.source, self.dims, self.case, self.seed, self.do_check = source, dims, case, seed, check
        self.stages = stages
        self.failures: list[Failure] = []
        self.counts: Counter = Counter()

    def fail(self, kind: str, detail: str):
        self.failures.append(Failure(kind, detail, self.source, self.dims, self.case))

    # ------------------------------------------------------------ compile, derive, check
    def pipeline(self):
        out = strict_call(ebmc.compile, self.source, **self.dims)
        compiled = None
        if out.returned:
            self.counts["compiled"] += 1
            compiled = out.value
            for key, g in compiled.graphs.items():
                if not nx.is_directed_acyclic_graph(g):
                    self.fail("compile: a graph is not a DAG", key)
        elif isinstance(out.error, ebmc.EbmcError):
            self.counts["refused by compile (EbmcError)"] += 1
            self.rendered("compile", out.error)
        else:
            self.fail(kind_of("compile", out.error), where(out.error))
        if "analysis" in self.stages:
            self.analysis()
        if compiled is not None and "module" in self.stages:
            self.module(compiled.source)

    def rendered(self, stage: str, err: ebmc.EbmcError):
        try:
            text = err.render()
        except Exception as exc:  # noqa: BLE001
            self.fail(kind_of(f"{stage}: EbmcError.render", exc), where(exc))
            return
        lines = self.source.split("\n")
        if not text.startswith(f"{err.filename}:") or err.source is None:
            self.fail(f"{stage}: an EbmcError without its file", text)
        elif err.line is not None and not 1 <= err.line <= len(lines):
            self.fail(f"{stage}: an EbmcError at a line outside the file", text)
        elif err.line is None and re.search(r"is (gaussian|softmax) but", text):
            self.fail(f"{stage}: a unit type that does not fit the energy, refused without a place", text)
        if re.search(r"is (gaussian|softmax) but", text):
            self.counts["unit types refused (EbmcError)"] += 1

    def analysis(self):
        out = strict_call(ebmc.api.analyse_file, self.source, **self.dims)
        if isinstance(out.error, ebmc.EbmcError):
            self.counts["refused by analyse_file (EbmcError)"] += 1
            self.rendered("analyse_file", out.error)
            return
        if not out.returned:
            self.fail(kind_of("analyse_file", out.error), where(out.error))
            return
        self.counts["analysed"] += 1
        analyses = out.value
        for latex in (False, True):
            label = "derive --latex" if latex else "derive"
            got = strict_call(ebmc.derive.derive, analyses, latex=latex)
            if isinstance(got.error, ebmc.EbmcError):
                self.counts[f"refused by {label} (EbmcError)"] += 1
                self.rendered(label, got.error)
            elif not got.returned:
                self.fail(kind_of(label, got.error), where(got.error))
            elif not isinstance(got.value, str) or not got.value:
                self.fail(f"{label}: no text", repr(got.value)[:200])
        if not self.do_check:
            return
        self.counts["checked"] += 1
        got = strict_call(ebmc.derive.check, analyses, points=1)
        if isinstance(got.error, ebmc.EbmcError):
            self.counts["refused by check (EbmcError)"] += 1
            self.rendered("check", got.error)
        elif not got.returned:
            self.fail(kind_of("check", got.error), where(got.error))
        else:
            report = got.value
            text = strict_call(lambda: report.table() + "\n" + report.summary())
            if not text.returned:
                self.fail(kind_of("check: the report", text.error), where(text.error))
            elif not report.ok:
                self.fail("check: the gradients disagree", text.value)

    # ------------------------------------------------------------ the generated module
    def module(self, text: str):
        namespace: dict = {}
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                exec(compile(text, GENERATED_MODULE, "exec"), namespace)
            except Exception as exc:  # noqa: BLE001
                self.fail(kind_of("import of the module", exc), where(exc))
                return
        rng = np.random.default_rng(self.seed)
        with tempfile.TemporaryDirectory() as folder:
            for cls in namespace["MODELS"].values():
                self.counts["classes"] += 1
                try:
                    ModelDriver(self, cls, rng, folder).run()
                except Exception as exc:  # noqa: BLE001 - a long run must not end at one case
                    self.fail(kind_of("the fuzz test's own checks", exc), traceback.format_exc())


ALLOWED = {  # the ValueErrors a valid call may end in, by method: what the docs promise
    "log_partition": ("exact enumeration", "has no exact log Z"),
    "log_prob": ("exact enumeration", "has no exact log Z"),
    "fit": ("stopped being finite",),
}
# any call that samples a coupled gaussian group whose params make a curvature non-positive (docs/units.md)
SAMPLED = ("curvature",)
AIS = {"runs": 3, "betas": 6}  # the driver's AIS calls: finite numbers of the right shapes, soon
ORACLE_AIS = {"runs": 32, "betas": 300}  # the oracle's, against enumeration: 0.3 nats + 5 standard errors, |log Z| < 30


class ModelDriver:
    """Every public method of one generated class, called with valid arguments and checked."""

    def __init__(self, run: Run, cls, rng: np.random.Generator, folder: str):
        self.owner, self.cls, self.rng, self.folder = run, cls, rng, folder

    def call(self, label: str, fn, /, *args, **kwargs):
        """fn(...) strictly: the value, or None when it raised (a failure unless ALLOWED)."""
        self.owner.counts["calls"] += 1
        out = (strict_file_call if label in ("save", "load") else strict_call)(fn, *args, **kwargs)
        if out.returned:
            found = non_finite(out.value)
            if found:
                self.owner.fail(f"{label}: a result that is not a finite real number", found)
                return None
            return out.value
        method = label.split(" ")[0]
        allowed = ALLOWED.get(method, ()) + SAMPLED
        if isinstance(out.error, ValueError) and any(words in str(out.error) for words in allowed):
            self.owner.counts[f"{method}: refused as documented"] += 1
        elif out.refused:
            self.owner.fail(kind_of(f"{label} refused valid arguments", out.error), f"{out.error}\n{where(out.error)}")
        else:
            self.owner.fail(kind_of(label, out.error), where(out.error))
        return None

    def wrong(self, label: str, detail: str):
        self.owner.fail(f"{label}: {detail.split(':')[0]}", detail)

    # ------------------------------------------------------------ values
    def units(self, name: str, rows: int | None) -> np.ndarray:
        """Valid values of a group: 0/1 (or probabilities) for bernoulli, -1/+1 (or means) for spin,
        any real numbers for gaussian units and inputs, one-hot along the last axis for softmax."""
        shape = self.shapes[name] if rows is None else (rows, *self.shapes[name])
        kind = self.types[name]
        if kind in ("gaussian", "real"):
            return self.rng.normal(0.0, 1.5 if kind == "gaussian" else 1.0, shape)
        if kind == "softmax":
            return np.eye(shape[-1])[self.rng.integers(0, shape[-1], shape[:-1])]
        if kind == "spin":
            return (
                self.rng.uniform(-1, 1, shape) if self.rng.random() < 0.1 else self.rng.choice([-1.0, 1.0], size=shape)
            )
        if self.rng.random() < 0.2:
            return self.rng.random(shape)
        return self.rng.choice([0.0, 1.0], size=shape)

    def unit_shape(self, name: str) -> tuple:
        """The shape of a mask of the group: one entry per unit (per K-way unit for softmax)."""
        return self.shapes[name][:-1] if self.types[name] == "softmax" else self.shapes[name]

    def in_range(self, label: str, name: str, x, draws: bool, shape: tuple):
        x = np.asarray(x)
        if x.shape != shape:
            self.wrong(label, f"wrong shape: {name} has shape {x.shape}, expected {shape}")
            return
        kind = self.types[name]
        if kind == "gaussian":
            return  # any finite real number (checked by call)
        low = -1.0 if kind == "spin" else 0.0
        if draws and not np.isin(x, [low, 1.0]).all():
            self.wrong(label, f"draws that are not unit values: {name} holds {x[~np.isin(x, [low, 1.0])][:3]}")
        elif not draws and not ((x >= low) & (x <= 1.0)).all():
            self.wrong(label, f"means out of range: {name} holds {x.min()} .. {x.max()}")
        elif kind == "softmax" and x.size and not np.allclose(x.sum(axis=-1), 1.0, rtol=0, atol=1e-5):
            self.wrong(label, f"softmax units that do not sum to 1: {name} sums to {x.sum(axis=-1).ravel()[:3]}")

    def per_visible(self, value, label, draws, rows):
        value = value if isinstance(value, dict) or len(self.visible) > 1 else {self.visible[0]: value}
        if not isinstance(value, dict) or sorted(value) != sorted(self.visible):
            self.wrong(
                label, f"wrong groups: {type(value).__name__} {sorted(value) if isinstance(value, dict) else ''}"
            )
            return None
        for name in self.visible:
            self.in_range(label, name, value[name], draws, ((rows,) if rows is not None else ()) + self.shapes[name])
        return value

    def estimate(self, label: str, out, shape: tuple, error_shape: tuple | None = None):
        """An AIS result: (estimate, standard error), of `shape` and `error_shape`, the error >= 0."""
        error_shape = shape if error_shape is None else error_shape
        if out is None:
            return
        if not isinstance(out, tuple) or len(out) != 2:
            self.wrong(label, f"not a pair (estimate, standard error): {type(out).__name__}")
        elif np.shape(out[0]) != shape or np.shape(out[1]) != error_shape:
            self.wrong(
                label, f"wrong shape: {np.shape(out[0])} and {np.shape(out[1])}, expected {shape}, {error_shape}"
            )
        elif np.any(np.asarray(out[1]) < 0):
            self.wrong(label, f"a negative standard error: {out[1]}")

    # ------------------------------------------------------------ the calls
    def run(self):
        cls = self.cls
        dtype = "float64" if self.rng.random() < 0.85 else "float32"
        m = self.call("__init__", cls, seed=int(self.rng.integers(1000)), dtype=dtype)
        if m is None:
            return
        self.m = m
        self.types = {k: t for k, (role, _, t) in cls.variables.items()}
        self.shapes = {
            k: tuple(m.dims[d] if isinstance(d, str) else d for d in dims) for k, (_, dims, _) in cls.variables.items()
        }
        self.visible = [k for k, (role, _, _) in cls.variables.items() if role == "visible"]
        self.conds = [k for k, (role, _, _) in cls.variables.items() if role == "input"]
        groups = [k for k in cls.variables if k not in self.conds]
        if self.conds:
            self.owner.counts["classes with conditions"] += 1
        for kind in sorted({self.types[k] for k in groups}):
            self.owner.counts[f"classes with {kind} groups"] += 1
        if any(not hasattr(m, f"mean_{k}") for k in groups):
            self.owner.counts["classes with coupled groups"] += 1
        if all(k in self.visible for k in groups):
            self.owner.counts["fully visible classes"] += 1
        rows = int(self.rng.integers(1, 9))
        single = self.rng.random() < 0.15
        batch = {k: self.units(k, rows) for k in cls.variables}
        given = {k: v[0] for k, v in batch.items()} if single else batch
        n = None if single else rows
        visible = {k: given[k] for k in self.visible}
        conds = {k: given[k] for k in self.conds}
        scalar_shape = () if single else (rows,)
        per_condition = scalar_shape if self.conds else ()  # log Z: one value per row of the conditions

        for label, fn in [("energy", m.energy), ("free_energy", getattr(m, "free_energy", None))]:
            if fn is None:
                continue
            args = given if label == "energy" else visible | conds
            out = self.call(label, fn, **args)
            if out is not None and np.shape(out) != scalar_shape:
                self.wrong(label, f"wrong shape: {np.shape(out)}, expected {scalar_shape}")
        out = self.call("grad", m.grad, **given)
        if out is not None:
            if not isinstance(out, dict) or not set(out) <= set(m.params):
                self.wrong("grad", f"not a dict of params: {type(out).__name__}")
            else:
                for k, g in out.items():
                    if np.shape(g) != m.params[k].shape:
                        self.wrong("grad", f"wrong shape: dE/d{k} is {np.shape(g)}, param {m.params[k].shape}")
        for x in groups:
            for kind in ("mean", "sample"):
                fn = getattr(m, f"{kind}_{x}", None)
                if fn is None:
                    continue
                params = inspect.signature(fn).parameters
                out = self.call(f"{kind}_X", fn, **{k: given[k] for k in params})
                if out is not None:
                    self.in_range(
                        f"{kind}_X", x, out, kind == "sample", (scalar_shape if params else ()) + self.shapes[x]
                    )
        out = self.call("reconstruct", m.reconstruct, **visible, **conds) if hasattr(m, "reconstruct") else None
        if out is not None:
            self.per_visible(out, "reconstruct", False, n)
        if hasattr(m, "log_partition"):
            out = self.call("log_partition", m.log_partition, **conds)
            if out is not None and np.shape(out) != per_condition:
                self.wrong("log_partition", f"wrong shape: {np.shape(out)}, expected {per_condition}")
            base = {k: batch[k] for k in self.visible} if self.rng.random() < 0.3 else None
            base = base if base is None or len(self.visible) > 1 else base[self.visible[0]]
            out = self.call("log_partition ais", m.log_partition, method="ais", base_data=base, **AIS, **conds)
            self.estimate("log_partition ais", out, per_condition)
        if hasattr(m, "log_prob"):
            out = self.call("log_prob", m.log_prob, **visible, **conds)
            density = any(self.types[k] == "gaussian" for k in self.visible)  # may be above 1
            if out is not None and np.shape(out) != scalar_shape:
                self.wrong("log_prob", f"wrong shape: {np.shape(out)}, expected {scalar_shape}")
            elif out is not None and not density and np.any(np.asarray(out) > 1e-6):
                self.wrong("log_prob", f"a log probability above 0: {np.max(out)}")
            out = self.call("log_prob ais", m.log_prob, method="ais", **AIS, **visible, **conds)
            self.estimate("log_prob ais", out, scalar_shape, per_condition)  # the error of log Z
        draws = 2
        some = {k: batch[k][0] if self.rng.random() < 0.5 else self.units(k, draws) for k in self.conds}
        out = self.call("sample", m.sample, draws, steps=2, **some)
        if out is not None:
            self.per_visible(out, "sample", True, draws)
        masks = {k: self.rng.random((rows, *self.unit_shape(k))) < 0.5 for k in self.visible}
        if single:
            masks = {k: v[0] for k, v in masks.items()}
        mask = masks if len(self.visible) > 1 else masks[self.visible[0]]
        out = self.call("complete", m.complete, mask, steps=2, **visible, **conds)
        if out is not None and self.per_visible(out, "complete", False, n) is not None:
            out = out if isinstance(out, dict) else {self.visible[0]: out}
            for k in self.visible:
                if not np.array_equal(np.asarray(out[k])[masks[k]], np.asarray(visible[k], dtype=m.dtype)[masks[k]]):
                    self.wrong("complete", f"kept units changed: {k}")
        data = {k: batch[k] for k in self.visible}
        data = data if len(self.visible) > 1 else data[self.visible[0]]
        fit_mask = None
        if self.rng.random() < 0.3:
            fit_mask = {k: self.rng.random((rows, *self.unit_shape(k))) < 0.7 for k in self.visible}
            fit_mask = fit_mask if len(self.visible) > 1 else fit_mask[self.visible[0]]
        fit_conds = {k: batch[k] if self.rng.random() < 0.8 else batch[k][0] for k in self.conds}
        history = self.call(
            "fit", m.fit, data, fit_mask, epochs=1, batch=int(self.rng.integers(1, rows + 1)), **fit_conds
        )
        if history is not None and (not isinstance(history, list) or len(history) != 1):
            self.wrong("fit", f"wrong history: {history!r}"[:200])
        if non_finite(m.params):
            self.wrong("fit", f"params not finite after fit: {non_finite(m.params)}")
        path = self.call("save", m.save, os.path.join(self.folder, f"{cls.name}.npz"))
        if path is not None:
            other = strict_call(cls, seed=1, dtype=dtype)
            loaded = self.call("load", other.value.load, path) if other.returned else None
            if loaded is not None:
                if other.value.dims != m.dims or any(
                    not np.array_equal(other.value.params[k], v) for k, v in m.params.items()
                ):
                    self.wrong("load", "params differ: the params loaded back are not the params saved")
        if dtype == "float64":
            Oracle(self).run()


def log_sum_exp(x, axis):
    top = x.max(axis=axis, keepdims=True)
    return (top + np.log(np.exp(x - top).sum(axis=axis, keepdims=True))).squeeze(axis)


class Oracle:
    """On small float64 models, the derived numbers against brute force over the module's own
    energy, at random params (N(0, 0.5) moved 0.2 away from 0: off the kinks of relu and abs,
    scales that divide not near 0) that hold what their declarations say (a symmetric param is
    symmetric: the compiler may use that W.T is W).

    The discrete groups are enumerated (softmax units K-way); the gaussian ones are integrated out
    in closed form: the energy is quadratic in them, E(y) = c - f.y + y.H.y / 2, with c, f and H
    read off the energy at 0, +-e_i and e_i + e_j (and checked at one random point), so that
    log of the integral of exp(-E) is -c + f.H^-1.f / 2 + log det(2 pi H^-1) / 2 and their mean
    is H^-1 f. The inputs are given, as a batch of rows, like the visible units."""

    def __init__(self, driver: ModelDriver):
        self.d = driver
        self.m = driver.cls(seed=2)
        for name, p in self.m.params.items():
            value = driver.rng.normal(0.0, 0.5, p.shape)
            p[...] = value + 0.2 * np.sign(value)
            if "symmetric" in self.m.param_attrs[name]:
                p[...] = (p + p.T) / 2
            if "zero_diagonal" in self.m.param_attrs[name]:
                np.fill_diagonal(p, 0.0)
        self.sizes = {k: int(np.prod(s)) for k, s in driver.shapes.items()}
        self.units = [k for k in driver.types if k not in driver.conds]

    def count(self, names) -> int:
        """The number of joint states of the discrete groups `names`."""
        total = 1
        for k in names:
            shape = self.d.shapes[k]
            total *= shape[-1] ** int(np.prod(shape[:-1])) if self.d.types[k] == "softmax" else 2 ** self.sizes[k]
        return total

    def states(self, names) -> dict[str, np.ndarray]:
        """Every joint state of the discrete groups `names`: dict name -> array with one row per state."""
        d = self.d
        columns = []  # the values of each unit, one row each: a one-hot row for a K-way unit
        for k in names:
            if d.types[k] == "softmax":
                columns += [np.eye(d.shapes[k][-1])] * int(np.prod(d.shapes[k][:-1]))
            else:
                columns += [np.array([[-1.0], [1.0]] if d.types[k] == "spin" else [[0.0], [1.0]])] * self.sizes[k]
        index = np.array(list(itertools.product(*(range(len(c)) for c in columns))), dtype=int)
        index = index.reshape(len(index), len(columns))  # one row (no unit) for no groups
        flat = np.concatenate([c[index[:, u]] for u, c in enumerate(columns)] + [np.zeros((len(index), 0))], axis=1)
        out, start = {}, 0
        for k in names:
            out[k] = flat[:, start : start + self.sizes[k]].reshape((-1, *d.shapes[k]))
            start += self.sizes[k]
        return out

    def marginal(self, fixed: dict, free: list[str]):
        """At each row of `fixed` (dict name -> batch) and each joint state of the discrete groups of
        `free`, with the gaussian groups of `free` integrated out: (log weights (rows, states),
        dict group -> (rows, states, *shape): the state of a discrete group, the mean of a gaussian
        one); None where the energy is not finite there, or is not quadratic in the gaussian units
        with a positive definite curvature (where the oracle cannot say)."""
        d = self.d
        discrete = [k for k in free if d.types[k] != "gaussian"]
        gaussian = [k for k in free if d.types[k] == "gaussian"]
        states = self.states(discrete)
        count = self.count(discrete)
        g = sum(self.sizes[k] for k in gaussian)
        eye = np.eye(g)
        pairs = list(itertools.combinations(range(g), 2))
        points = np.concatenate(
            [np.zeros((1, g)), eye, -eye, np.array([eye[i] + eye[j] for i, j in pairs] or np.zeros((0, g)))]
            + [d.rng.normal(0.0, 1.0, (1, g))]
        )
        P = len(points) if g else 1
        rows = len(next(iter(fixed.values()))) if fixed else 1
        if rows * count * P > 60000:
            return None
        args = {k: np.repeat(v, count * P, axis=0) for k, v in fixed.items()}
        args |= {k: np.tile(np.repeat(v, P, axis=0), (rows,) + (1,) * (v.ndim - 1)) for k, v in states.items()}
        start = 0
        for k in gaussian:
            part = points[:, start : start + self.sizes[k]].reshape((P, *d.shapes[k]))
            args[k] = np.tile(part, (rows * count,) + (1,) * len(d.shapes[k]))
            start += self.sizes[k]
        out = strict_call(self.m.energy, **args)
        if not out.returned or non_finite(out.value):
            return None
        E = np.asarray(out.value, dtype=float).reshape(rows, count, P)
        values = {k: np.broadcast_to(v, (rows, *v.shape)) for k, v in states.items()}
        if not g:
            return -E[..., 0], values
        c, up, down = E[..., 0], E[..., 1 : 1 + g], E[..., 1 + g : 1 + 2 * g]
        f = (down - up) / 2  # -dE/dy at 0
        diagonal = up + down - 2 * c[..., None]
        H = np.zeros((rows, count, g, g))
        H[..., range(g), range(g)] = diagonal
        for i, (a, b) in enumerate(pairs):
            H[..., a, b] = H[..., b, a] = (
                E[..., 1 + 2 * g + i] - c + f[..., a] + f[..., b] - (diagonal[..., a] + diagonal[..., b]) / 2
            )
        y = points[-1]
        predicted = c - f @ y + 0.5 * np.einsum("i,...ij,j->...", y, H, y)
        if not np.allclose(predicted, E[..., -1], rtol=1e-7, atol=1e-7):
            self.d.owner.counts["oracle: not quadratic in the gaussian units together"] += 1
            return None  # two gaussian groups that meet
        if np.linalg.eigvalsh(H).min() <= 1e-6:
            self.d.owner.counts["oracle: no finite integral at its params"] += 1
            return None  # no finite integral at these params
        self.d.owner.counts["oracle: gaussian units integrated out"] += 1
        mean = np.linalg.solve(H, f[..., None])[..., 0]
        log_w = -c + 0.5 * (f * mean).sum(axis=-1) + 0.5 * g * np.log(2 * np.pi) - 0.5 * np.linalg.slogdet(H)[1]
        start = 0
        for k in gaussian:
            values[k] = mean[..., start : start + self.sizes[k]].reshape((rows, count, *d.shapes[k]))
            start += self.sizes[k]
        return log_w, values

    def close(self, label: str, got, expected, atol=1e-7, rtol=1e-6):
        self.d.owner.counts["oracle comparisons"] += 1
        if callable(got):
            out = strict_call(got)
            if not out.returned:
                return  # reported by the driver already
            got = out.value
        if np.shape(got) != np.shape(expected) or not np.allclose(got, expected, rtol=rtol, atol=atol):
            worst = (
                np.max(np.abs(np.asarray(got, dtype=float) - expected))
                if np.shape(got) == np.shape(expected)
                else "shape"
            )
            self.d.wrong(label, f"wrong numbers: off by {worst} from brute force over the energy")

    def run(self):
        d, m = self.d, self.m
        discrete = [k for k in self.units if d.types[k] != "gaussian"]
        if (
            self.count(discrete) > 2**ORACLE_UNITS
            or sum(self.sizes[k] for k in self.units) - sum(self.sizes[k] for k in discrete) > 6
        ):
            return
        self.d.owner.counts["oracle runs"] += 1
        rows = 3
        batch = {k: d.units(k, rows) for k in d.types}
        conds = {k: batch[k] for k in d.conds}
        visible = {k: batch[k] for k in d.visible}
        hidden = [k for k in self.units if k not in d.visible]
        whole = self.marginal(conds, self.units)
        if whole is None:
            return
        log_z = log_sum_exp(whole[0], axis=1)  # one per row of the conditions (one row without them)
        log_z = log_z if conds else log_z[0]
        if hasattr(m, "log_partition"):
            self.close("log_partition", lambda: m.log_partition(**conds), log_z)
            # AIS from a base of independent units: 300 temperatures suffice where log Z is moderate
            out = strict_call(m.log_partition, method="ais", **ORACLE_AIS, **conds)
            if out.returned and np.max(np.abs(log_z)) < 30:
                self.d.owner.counts["oracle comparisons"] += 1
                estimate, error = out.value
                if np.any(np.abs(estimate - log_z) > 0.3 + 5 * np.asarray(error)):
                    self.d.wrong(
                        "log_partition ais",
                        f"far from log Z: {estimate} +- {error}, exact {log_z} (brute force over the energy)",
                    )
        if hasattr(m, "free_energy"):
            part = self.marginal(visible | conds, hidden)
            if part is not None:
                free = -log_sum_exp(part[0], axis=1)
                self.close("free_energy", lambda: m.free_energy(**visible, **conds), free)
                if hasattr(m, "log_prob"):
                    self.close("log_prob", lambda: m.log_prob(**visible, **conds), -free - log_z)
        for x in self.units:
            fn = getattr(m, f"mean_{x}", None)
            if fn is None:
                continue
            given = list(inspect.signature(fn).parameters)
            rest = [k for k in self.units if k not in given and k != x]
            part = self.marginal({k: batch[k] for k in given}, [x, *rest])
            if part is None:
                continue
            log_w, values = part
            p = np.exp(log_w - log_w.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            expected = np.einsum("rs,rs...->r...", p, values[x])
            self.close(
                "mean_X",
                lambda fn=fn, given=given: fn(**{k: batch[k] for k in given}),
                expected if given else expected[0],
            )
        got = strict_call(m.grad, **batch)
        if got.returned and isinstance(got.value, dict):
            for name, param in m.params.items():
                if "fixed" in m.param_attrs[name]:
                    continue
                fd = np.zeros(param.shape)
                for index in np.ndindex(param.shape):
                    old = param[index]
                    ends = []
                    for step in (1e-6, -1e-6):
                        param[index] = old + step
                        ends.append(strict_call(lambda: m.energy(**batch).mean()))
                    param[index] = old
                    if not all(e.returned and np.isfinite(e.value) for e in ends):
                        return
                    fd[index] = (ends[0].value - ends[1].value) / 2e-6
                self.close("grad", got.value.get(name, np.zeros(param.shape)), fd, atol=1e-5, rtol=1e-4)


# ---------------------------------------------------------------- running cases
def run_case(source: str, dims: dict, case: str, seed: int, check: bool, stages=("analysis", "module")) -> Run:
    run = Run(source, dims, case, seed, check, stages)

    def timeout(signum, frame):
        raise CaseTimeout

    old = signal.signal(signal.SIGALRM, timeout)
    signal.setitimer(signal.ITIMER_REAL, CASE_SECONDS)
    try:
        run.pipeline()
    except CaseTimeout:
        run.fail(f"slow: a case took more than {CASE_SECONDS} s", "")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    return run


def cases(count: int, seed: int):
    """(label, source, dims, seed) for `count` sources: half written at random, half mutated."""
    for i in range(count):
        rng = random.Random(f"{seed}:{i}")
        if i % 2 == 0:
            source = generated_source(rng)
            label = f"generated #{i}"
        else:
            base, source = mutated_source(rng)
            label = f"mutated {base} #{i}"
        yield label, source, small_dims(source, rng), rng.randrange(2**32)


class Minimiser:
    """Smaller sources that still fail the same way: whole models dropped, then runs of lines,
    then single lines, then terms of an energy, while the failure stays. Runs are remembered, so
    that the kinds of failure of one source share them; only the stage that failed is run."""

    def __init__(self, seconds: float):
        self.deadline = time.monotonic() + seconds
        self.seen: dict[tuple, set[str]] = {}

    def kinds(self, source: str, failure: Failure, seed: int, check: bool) -> set[str]:
        stage = failure.kind.split(":")[0].split(" ")[0]
        stages = {"compile": (), "analyse_file": ("analysis",), "derive": ("analysis",), "check": ("analysis",)}.get(
            stage, ("analysis", "module") if stage == "slow" else ("module",)
        )
        key = (source, stages, check)
        if key not in self.seen:
            run = run_case(source, failure.dims, failure.case, seed, check, stages)
            self.seen[key] = {f.kind for f in run.failures}
        return self.seen[key]

    def minimise(self, failure: Failure, seed: int, check: bool) -> str:
        current = failure.source

        def smaller(candidate: str) -> bool:
            """Whether candidate still fails so; if it does, it becomes the current source."""
            nonlocal current
            if candidate == current or time.monotonic() > self.deadline:
                return False
            if failure.kind not in self.kinds(candidate, failure, seed, check):
                return False
            current = candidate
            return True

        # one statement a line, so that each can be dropped alone
        smaller(re.sub(r"(?<=\S)  (?=(?:dim|visible|hidden|param|layer|energy|train) )", "\n    ", current))
        models = re.split(r"\n(?=model )", current)
        for i in range(len(models) if len(models) > 1 else 0):
            if smaller("\n".join(models[:i] + models[i + 1 :])):
                break
        while time.monotonic() < self.deadline:
            before = current
            self.drop_lines(current.split("\n"), smaller)
            self.drop_terms(current.split("\n"), smaller)
            if current == before:
                break
        return current

    def drop_lines(self, lines: list[str], smaller):
        """Runs of lines dropped, from half the file down to one line at a time."""
        size = max(1, len(lines) // 2)
        while size >= 1 and time.monotonic() < self.deadline:
            i, removed = 0, False
            while i < len(lines):
                chunk = lines[i : i + size]
                if not all(line.strip() in ("", "}") or line.lstrip().startswith("model ") for line in chunk):
                    if smaller("\n".join(lines[:i] + lines[i + size :])):
                        lines, removed = lines[:i] + lines[i + size :], True
                        continue
                i += size
            if not removed:
                size //= 2

    def drop_terms(self, lines: list[str], smaller):
        """Terms of each energy dropped, one at a time."""
        for i in range(len(lines)):
            head, sep, _ = lines[i].partition("energy =")
            j = 0
            while sep and j < len(terms := top_level_terms(lines[i].partition("energy =")[2])) and len(terms) > 1:
                rest = "".join(terms[:j] + terms[j + 1 :]).strip().removeprefix("+").strip()
                candidate = lines[:i] + [f"{head}energy = {rest}"] + lines[i + 1 :]
                if smaller("\n".join(candidate)):
                    lines = candidate
                else:
                    j += 1


def top_level_terms(expression: str) -> list[str]:
    """The expression cut before each + or - that is a binary operator outside brackets."""
    terms, depth, start, last = [], 0, 0, ""
    for i, ch in enumerate(expression):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif (
            ch in "+-"
            and depth == 0
            and last
            and (last.isalnum() or last in ")]_")
            and not re.search(r"\d[eE]$", expression[:i])
        ):
            terms.append(expression[start:i])
            start = i
        if not ch.isspace():
            last = ch
    return [*terms, expression[start:]]


def test_compile_derive_check_and_the_generated_module_on_random_and_mutated_models():
    start = time.monotonic()
    failures: dict[str, list[Failure]] = {}
    counts: Counter = Counter()
    for i, (label, source, dims, seed) in enumerate(cases(CASES, SEED)):
        counts["sources"] += 1
        counts["generated" if label.startswith("generated") else "mutated"] += 1
        check = i % CHECK_EVERY == 0
        run = run_case(source, dims, label, seed, check)
        counts.update(run.counts)
        for f in run.failures:
            f.detail += f"\n(case {label}, seed {seed}, check {check})"
            failures.setdefault(f.kind, []).append(f)
    counts["seconds"] = round(time.monotonic() - start)
    counts["failures"] = sum(len(v) for v in failures.values())
    counts["sources that failed"] = len({f.case for v in failures.values() for f in v})
    summary = {"counts": dict(counts), "failures by kind": {k: len(v) for k, v in sorted(failures.items())}}
    print(json.dumps(summary, indent=1))
    if STATS:
        with open(STATS, "w") as f:
            json.dump(summary, f, indent=1)
    if not failures:
        return
    # one section per smallest source: the kinds of failure that it shows, each with its first case
    minimiser = Minimiser(MINIMISE_SECONDS)
    sections: dict[str, list[str]] = {}
    for kind, found in sorted(failures.items(), key=lambda kv: kv[1][0].case):
        first = found[0]
        seed, check = re.search(r"seed (\d+), check (\w+)\)$", first.detail).groups()
        smallest = minimiser.minimise(first, int(seed), check == "True")
        cases_text = ", ".join(f.case for f in found[:4]) + (" ..." if len(found) > 4 else "")
        sections.setdefault(smallest, []).append(
            f"* {kind}\n  {len(found)} times ({cases_text}); dims {first.dims}\n  {first.detail.strip()}".replace(
                "\n", "\n  "
            )
        )
    report = [f"--- source (minimised):\n{source.strip()}\n" + "\n".join(kinds) for source, kinds in sections.items()]
    head = f"{counts['failures']} failures of {len(failures)} kinds in {counts['sources that failed']} sources"
    head += f" of {counts['sources']}"
    raise AssertionError(head + "\n" + json.dumps(summary, indent=1) + "\n\n" + "\n\n".join(report))
