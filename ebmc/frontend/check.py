"""Checking a parsed file: names, dims, types, inits, attributes, trainers and shapes.

`parse` is `ebmc.parse`: text or file in, a list of `CheckedModel`s out, or an
`EbmcError` that points at the place in the file. Shapes are inferred by
lowering every expression with `ebmc.ir.lower.lower_expr`, so the checker and
the compiler apply the very same shape rules (the op table's).

Order inside a model: dims, units, data and params are declarations and may be
used anywhere in their model; layers are computed in file order, so a layer may
use only the layers above it. `dense(x, N, ACT)` is rewritten here into
`ACT(x @ NAME_W + NAME_b)` with the two params it declares.
"""

from __future__ import annotations

import keyword
import numbers
from collections.abc import Iterator, Mapping

from ..errors import EbmcError, did_you_mean
from ..ir.graph import Builder
from ..ir.lower import language_functions, lower_expr
from ..ir.ops import ACTIVATIONS, FUNCTIONS, fmt
from ..options import RULES, _check_option
from ..plugins import registry
from . import ast
from .model import CheckedModel, LayerDef, Parameter, TrainSpec, Variable, resolve
from .parser import KEYWORDS, MAX_DEPTH, parse_text, read_source

UNIT_TYPES = ("bernoulli", "spin", "gaussian", "softmax")
DATA_TYPES = ("real", "binary", "onehot")
INITS = {"normal": ("mean", "std"), "uniform": ("low", "high"), "glorot": (), "he": ()}
ATTRS = ("symmetric", "zero_diagonal", "fixed")
CD_OPTIONS = ("k", "lr", "batch", "epochs", "momentum", "weight_decay")
TRAINER_OPTIONS = {
    "cd": CD_OPTIONS,
    "pcd": CD_OPTIONS,
    "hebbian": (),
    "storkey": (),
    "sgd": ("lr", "batch", "epochs", "momentum"),
    "adam": ("lr", "batch", "epochs"),
}
ENERGY_TRAINERS = ("cd", "pcd", "hebbian", "storkey")
LOSS_TRAINERS = ("sgd", "adam")
# names the generated Python module uses for itself, whatever the model: `self` is the first argument
# of every method, and the model's names are keyword arguments of them (the backend refuses, at the
# declaration, the few other argument names of its methods; every other name is free)
GENERATED_NAMES = frozenset({"self"})
MAX_SIZE = 2**62  # no array axis can be longer (numpy indexes with 64-bit integers)
# dims are keyword arguments of the generated constructor, beside these
CONSTRUCTOR_ARGUMENTS = frozenset({"seed", "dtype"})
PYTHON_KEYWORDS = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist)
LANGUAGE_KEYWORDS = frozenset(KEYWORDS.values())


def parse(path_or_source, **dims) -> list[CheckedModel]:
    """Parse and check a model file; one `CheckedModel` per `model` block, in file order.

    `path_or_source` is a path (`str` or `os.PathLike`) or the text of a model
    (a `str` holding a newline or a `{`). `dims` override the `dim` values of
    every model that declares them. Raises `EbmcError` for any mistake in the file.
    """
    filename, text = "<string>", ""
    try:
        filename, text = read_source(path_or_source)
        return check_module(parse_text(text), dims)
    except EbmcError as err:
        raise err.with_context(filename, text) from None


def check_module(module: ast.Module, overrides: dict | None = None) -> list[CheckedModel]:
    """Check every model of a parsed file; `overrides` maps dim names to sizes."""
    overrides = _check_overrides(module, overrides or {})
    seen: dict[str, ast.Span] = {}
    out = []
    for model in module.models:
        if model.name in seen:
            raise _error(
                f"there is already a model named '{model.name}'",
                model.name_span,
                notes=(_first(model.name, seen[model.name]),),
            )
        seen[model.name] = model.name_span
        out.append(_ModelChecker(model, overrides).check())
    return out


def _check_overrides(module: ast.Module, overrides: dict) -> dict[str, int]:
    known = sorted({s.name for m in module.models for s in m.body if isinstance(s, ast.Dim)})
    out = {}
    for name, value in overrides.items():
        if name not in known:
            listing = f" (the dims are {_listing(known, 'and')})" if known else " (it has no dims)"
            raise EbmcError(f"no model in the file has a dim named '{name}'{did_you_mean(name, known)}{listing}")
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 < value <= MAX_SIZE:
            raise EbmcError(f"the size given for dim '{name}' must be a positive whole number, got {value!r}")
        out[name] = int(value)
    return out


# ---------------------------------------------------------------- helpers
def _error(message: str, span: ast.Span, notes: tuple[str, ...] = ()) -> EbmcError:
    return EbmcError(message, span.line, span.column, length=span.length, notes=notes)


def _first(name: str, span: ast.Span, verb: str = "defined") -> str:
    return f"'{name}' was first {verb} at {span.line}:{span.column}"


def _a(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def _listing(words, last: str = "or") -> str:
    words = list(words)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + f" {last} " + words[-1]


def reserved(name: str, functions=None, kind: str = "") -> str | None:
    """Why `name` cannot name a dim, unit group, data array, param or layer; None if it can.

    `functions`: the names of the functions a model may call (default: the language's and the plugins').
    """
    functions = language_functions() if functions is None else functions
    if name in PYTHON_KEYWORDS and not name.startswith("_"):
        return f"'{name}' is a Python keyword and cannot be used as a name"
    if name in LANGUAGE_KEYWORDS:
        return f"'{name}' is a keyword of the model language and cannot be used as a name"
    if name in FUNCTIONS or name == "dense" or name in functions:
        return f"'{name}' is the name of a function and cannot be used as a name"
    if name.startswith("_"):
        return f"'{name}' starts with '_': such names are kept for the generated code"
    if name in GENERATED_NAMES:
        return f"'{name}' is used by the generated code and cannot be used as a name"
    if kind == "dim" and name in CONSTRUCTOR_ARGUMENTS:
        return f"'{name}' is an argument of the generated class's constructor and cannot name a dim"
    return None


def _walk(expr: ast.Expr) -> Iterator[ast.Expr]:
    """Every node of an expression, parents first, left to right; no recursion."""
    stack = [expr]
    while stack:
        e = stack.pop()
        yield e
        if isinstance(e, (ast.Unary, ast.Transpose)):
            stack.append(e.operand)
        elif isinstance(e, ast.BinOp):
            stack += [e.right, e.left]
        elif isinstance(e, ast.Call):
            stack += reversed(e.args)


def _check_depth(expr: ast.Expr) -> None:
    """Refuse expressions nested deeper than the parser allows (for trees not made by the parser)."""
    stack = [(expr, 0)]
    while stack:
        e, depth = stack.pop()
        if depth > MAX_DEPTH + 3:  # + 3: the rewriting of dense(...) adds a call and two operators
            raise _error(f"this expression is nested too deeply (more than {MAX_DEPTH} levels)", e.span)
        if isinstance(e, (ast.Unary, ast.Transpose)):
            stack.append((e.operand, depth + 1))
        elif isinstance(e, ast.BinOp):
            stack += [(e.left, depth + 1), (e.right, depth + 1)]
        elif isinstance(e, ast.Call):
            stack += [(a, depth + 1) for a in e.args]


def _known_trainers() -> dict:
    """name -> the registered trainer object (None for a trainer of the language not registered yet)."""
    out: dict = dict.fromkeys(TRAINER_OPTIONS)
    out.update(registry().trainers)
    return out


def _trainer_keys(name: str, trainer) -> tuple[str, ...] | None:
    """The option keys a trainer accepts; None when any key is accepted (a plugin that does not say)."""
    options = getattr(trainer, "options", None)
    if isinstance(options, dict):
        return tuple(options)
    return TRAINER_OPTIONS.get(name)


class _Env(Mapping):
    """name -> graph node, for `lower_expr`; a name's `var` node is made when an expression uses it."""

    def __init__(self, b: Builder):
        self.b = b
        self.roles: dict[str, tuple[str, tuple]] = {}

    def declare(self, name: str, role: str, dims: tuple) -> None:
        self.roles[name] = (role, dims)

    def __getitem__(self, name: str) -> int:
        role, dims = self.roles[name]
        return self.b.var(name, role, dims)

    def __contains__(self, name) -> bool:
        return name in self.roles

    def __iter__(self):
        return iter(self.roles)

    def __len__(self) -> int:
        return len(self.roles)


# ---------------------------------------------------------------- one model
class _ModelChecker:
    def __init__(self, model: ast.Model, overrides: dict[str, int]):
        self.model = model
        self.overrides = overrides
        self.defined: dict[str, tuple[str, ast.Span]] = {}  # name -> (what it is, where it is defined)
        self.dims: dict[str, int] = {}
        self.variables: dict[str, Variable] = {}
        self.params: dict[str, Parameter] = {}
        self.layer_at: dict[str, int] = {}  # layer (and dense param) name -> index of its statement
        self.b = Builder()
        self.env = _Env(self.b)
        self.functions = language_functions()  # the language's and the plugins' elementwise ones
        # dense(x, N, ACT) takes the language's activations and any plugin's elementwise function
        self.activations = (*ACTIVATIONS, *(f for f in self.functions if f not in FUNCTIONS))

    def check(self) -> CheckedModel:
        body = self.model.body
        energy, loss, train = self._singletons()
        self.is_energy = energy is not None
        for i, s in enumerate(body):
            self._declare_names(i, s)
        for s in body:
            if isinstance(s, ast.Dim):
                if isinstance(s.value, bool) or not isinstance(s.value, int) or s.value <= 0:  # a tree made by hand
                    raise _error(f"the size of dim '{s.name}' must be a positive whole number", s.span)
                if s.value > MAX_SIZE:
                    raise _error(f"the size of dim '{s.name}' is too large for an array (at most 2**62)", s.span)
                self.dims[s.name] = self.overrides.get(s.name, s.value)
        for s in body:
            if isinstance(s, (ast.Units, ast.Data)):
                self._variable(s, energy, loss)
            elif isinstance(s, ast.Param):
                self._param(s)
        dense_params: dict[int, list[Parameter]] = {}
        layers = []
        for i, s in enumerate(body):
            if isinstance(s, ast.Layer):
                layers.append(self._layer(i, s, energy, dense_params))
        params = {}
        for i, s in enumerate(body):  # declared and dense-made params, in file order
            if isinstance(s, ast.Param):
                params[s.name] = self.params[s.name]
            for p in dense_params.get(i, ()):
                params[p.name] = p
        energy_expr = self._scalar(energy.expr, "energy", len(body)) if energy else None
        loss_expr = self._scalar(loss.expr, "loss", len(body)) if loss else None
        if energy is not None and not any(v.role == "visible" for v in self.variables.values()):
            raise _error("an energy model needs at least one group of 'visible' units", energy.span)
        return CheckedModel(
            name=self.model.name,
            dims=dict(self.dims),
            variables=dict(self.variables),
            params=params,
            layers=tuple(layers),
            energy=energy_expr,
            loss=loss_expr,
            train=self._train(train) if train else None,
            span=self.model.span,
        )

    # -- which statements the model has
    def _singletons(self):
        found: dict[type, ast.Statement] = {}
        words = {ast.Energy: "energy", ast.Loss: "loss", ast.Train: "train"}
        for s in self.model.body:
            kind = type(s)
            if kind in words:
                if kind in found:
                    first = found[kind].span
                    raise _error(
                        f"a model has at most one '{words[kind]}' statement; "
                        f"the first is at {first.line}:{first.column}",
                        s.span,
                    )
                found[kind] = s
        energy, loss, train = found.get(ast.Energy), found.get(ast.Loss), found.get(ast.Train)
        if energy is not None and loss is not None:
            first, second = sorted((energy, loss), key=lambda s: (s.span.line, s.span.column))
            word = "energy" if first is energy else "loss"
            raise _error(
                f"a model has an 'energy' (a model of units) or a 'loss' (a network), not both; "
                f"this one already has a '{word}' at {first.span.line}:{first.span.column}",
                second.span,
            )
        if energy is None and loss is None:
            raise _error(f"model '{self.model.name}' has neither an 'energy' nor a 'loss'", self.model.name_span)
        return energy, loss, train

    # -- the one namespace of a model
    def _declare(self, name: str, span: ast.Span, what: str) -> None:
        why = reserved(name, self.functions, what)
        if why:
            raise _error(why, span)
        if name in self.defined:
            raise _error(
                f"'{name}' is already defined (as {_a(self.defined[name][0])})",
                span,
                notes=(_first(name, self.defined[name][1]),),
            )
        self.defined[name] = (what, span)

    def _declare_names(self, i: int, s: ast.Statement) -> None:
        if isinstance(s, ast.Dim):
            self._declare(s.name, s.name_span, "dim")
        elif isinstance(s, ast.Units):
            self._declare(s.name, s.name_span, f"group of {s.role} units")
        elif isinstance(s, ast.Data):
            self._declare(s.name, s.name_span, f"{s.role}")
        elif isinstance(s, ast.Param):
            self._declare(s.name, s.name_span, "param")
        elif isinstance(s, ast.Layer):
            self._declare(s.name, s.name_span, s.kind)
            self.layer_at[s.name] = i
            call = s.expr
            if isinstance(call, ast.Call) and call.func == "dense":
                for made in (f"{s.name}_W", f"{s.name}_b"):
                    if made in self.defined:
                        raise _error(
                            f"dense(...) in {s.kind} '{s.name}' declares the param '{made}', "
                            f"but '{made}' is already defined",
                            call.func_span,
                            notes=(_first(made, self.defined[made][1]),),
                        )
                    self.defined[made] = (f"param made by dense(...) in {s.kind} '{s.name}'", call.func_span)
                    self.layer_at[made] = i

    # -- shapes
    def _shape(self, shape: tuple[ast.ShapeDim, ...]) -> tuple:
        out = []
        for d in shape:
            if isinstance(d.value, int):
                if d.value <= 0:
                    raise _error(f"a size in a shape must be positive, got {d.value}", d.span)
                if d.value > MAX_SIZE:
                    raise _error("this size is too large for an array (at most 2**62)", d.span)
            elif d.value not in self.dims:
                if d.value in self.defined:
                    what = self.defined[d.value][0]
                    raise _error(f"'{d.value}' is {_a(what)}, not a dim; a shape lists whole numbers and dims", d.span)
                raise _error(f"unknown dim '{d.value}'{did_you_mean(d.value, self.dims)}", d.span)
            out.append(d.value)
        return tuple(out)

    # -- units and data
    def _variable(self, s: ast.Units | ast.Data, energy, loss) -> None:
        dims = self._shape(s.shape)
        if isinstance(s, ast.Units):
            if loss is not None:
                raise _error(
                    f"'{s.role}' units belong to an energy model, but this model has a 'loss' (at "
                    f"{loss.span.line}:{loss.span.column}); a network takes 'input' and 'target' data",
                    s.span,
                )
            unit_types = list(UNIT_TYPES) + [t for t in registry().units if t not in UNIT_TYPES]
            kind = s.type
            if kind not in unit_types:
                if kind in DATA_TYPES:
                    raise _error(
                        f"'{kind}' is a data type; units take a unit type: {_listing(unit_types)}", s.type_span
                    )
                raise _error(f"unknown unit type '{kind}'{did_you_mean(kind, unit_types)}", s.type_span)
            if kind == "softmax" and not dims:
                raise _error(
                    f"softmax units choose one of several along their last axis, so they need "
                    f"a shape, but '{s.name}' has none",
                    s.type_span,
                )
        else:
            if s.role == "target" and energy is not None:
                raise _error(
                    f"a 'target' belongs to a network with a 'loss', but this model has an 'energy' (at "
                    f"{energy.span.line}:{energy.span.column})",
                    s.span,
                )
            kind = s.type or "real"
            if kind not in DATA_TYPES:
                span = s.type_span or s.span
                if kind in UNIT_TYPES:
                    raise _error(
                        f"'{kind}' is a unit type; {s.role} data take a data type: {_listing(DATA_TYPES)}", span
                    )
                raise _error(f"unknown data type '{kind}'{did_you_mean(kind, DATA_TYPES)}", span)
            if kind == "onehot" and not dims:
                raise _error(
                    f"onehot data are one-hot along their last axis, so they need a shape, but '{s.name}' has none",
                    s.type_span or s.span,
                )
        self.variables[s.name] = Variable(s.name, s.role, dims, resolve(dims, self.dims), kind, s.span)
        self.env.declare(s.name, s.role, dims)

    # -- params
    def _param(self, s: ast.Param) -> None:
        dims = self._shape(s.shape)
        init = s.init if s.init is not None else ast.Init("const", (0.0,), s.span)
        self._check_init(init, s.name, dims)
        attrs: dict[str, ast.Span] = {}
        for attr, span in s.attrs:
            if attr not in ATTRS:
                raise _error(f"unknown attribute '{attr}'{did_you_mean(attr, ATTRS)}", span)
            if attr in attrs:
                raise _error(f"the attribute '{attr}' is given twice", span)
            if attr in ("symmetric", "zero_diagonal") and (len(dims) != 2 or dims[0] != dims[1]):
                raise _error(
                    f"'{attr}' needs a square matrix (the same dim on both axes), but '{s.name}' has shape {fmt(dims)}",
                    span,
                )
            attrs[attr] = span
        self.params[s.name] = Parameter(s.name, dims, resolve(dims, self.dims), init, frozenset(attrs), s.span)
        self.env.declare(s.name, "param", dims)

    def _check_init(self, init: ast.Init, name: str, dims: tuple) -> None:
        if init.kind == "const":
            return
        if init.kind not in INITS:
            raise _error(f"unknown init '{init.kind}'{did_you_mean(init.kind, INITS)}", init.span)
        wanted = INITS[init.kind]
        form = f"{init.kind}({', '.join(wanted)})" if wanted else init.kind
        if len(init.args) != len(wanted):
            got = len(init.args)
            raise _error(
                f"{form} takes {len(wanted) or 'no'} number{'s' if len(wanted) != 1 else ''}, got {got}", init.span
            )
        if init.kind == "normal" and init.args[1] < 0:
            raise _error(f"the std of normal(mean, std) cannot be negative, got {init.args[1]:g}", init.span)
        if init.kind == "uniform" and init.args[0] > init.args[1]:
            raise _error(
                f"uniform(low, high) needs low <= high, got low {init.args[0]:g} and high {init.args[1]:g}", init.span
            )
        if init.kind in ("glorot", "he") and not dims:
            raise _error(f"{init.kind} scales by the sizes of the axes, but '{name}' is a scalar", init.span)

    # -- layers
    def _layer(self, index: int, s: ast.Layer, energy, dense_params: dict) -> LayerDef:
        if s.kind == "output" and energy is not None:
            raise _error(
                f"an 'output' belongs to a network with a 'loss', but this model has an 'energy' "
                f"(at {energy.span.line}:{energy.span.column}); use 'layer'",
                s.span,
            )
        expr = s.expr
        if isinstance(expr, ast.Call) and expr.func == "dense":
            expr, made = self._dense(index, s, expr)
            dense_params[index] = made
        node = self._lower(expr, index)
        dims = self.b.shape(node)
        self.env.declare(s.name, s.kind, dims)
        return LayerDef(s.name, s.kind, expr, dims, resolve(dims, self.dims), s.span)

    def _dense(self, index: int, s: ast.Layer, call: ast.Call) -> tuple[ast.Expr, list[Parameter]]:
        """`dense(x, N, ACT)` -> `ACT(x @ NAME_W + NAME_b)` and the params NAME_W, NAME_b."""
        if len(call.args) != 3:
            raise _error(f"dense(x, N, ACT) takes 3 arguments, got {len(call.args)}", call.span)
        x, size, act = call.args
        if isinstance(size, ast.Num):
            if size.value != int(size.value) or size.value <= 0:
                raise _error(
                    f"the size N in dense(x, N, ACT) must be a positive whole number or a dim, got {size.value:g}",
                    size.span,
                )
            n: int | str = int(size.value)
        elif isinstance(size, ast.Name):
            n = self._shape((ast.ShapeDim(size.id, size.span),))[0]
        else:
            raise _error("the size N in dense(x, N, ACT) must be a whole number or a dim", size.span)
        if not isinstance(act, ast.Name):
            raise _error(
                f"the activation ACT in dense(x, N, ACT) must be one of {_listing(self.activations)}", act.span
            )
        if act.id not in self.activations:
            raise _error(f"unknown activation '{act.id}'{did_you_mean(act.id, self.activations)}", act.span)
        x_dims = self.b.shape(self._lower(x, index))
        if len(x_dims) != 1:
            raise _error(f"dense(x, N, ACT) needs x to be a vector (one axis), but it has shape {fmt(x_dims)}", x.span)
        sp = call.span
        w_name, b_name = f"{s.name}_W", f"{s.name}_b"
        w_dims, b_dims = (x_dims[0], n), (n,)
        made = [
            Parameter(w_name, w_dims, resolve(w_dims, self.dims), ast.Init("glorot", (), sp), frozenset(), sp),
            Parameter(b_name, b_dims, resolve(b_dims, self.dims), ast.Init("const", (0.0,), sp), frozenset(), sp),
        ]
        for p in made:
            self.env.declare(p.name, "param", p.dims)
        expr: ast.Expr = ast.BinOp("+", ast.BinOp("@", x, ast.Name(w_name, sp), sp), ast.Name(b_name, sp), sp)
        if act.id != "identity":
            expr = ast.Call(act.id, (expr,), sp, call.func_span)
        return expr, made

    # -- expressions
    def _lower(self, expr: ast.Expr, index: int) -> int:
        """The graph node of an expression of the statement at `index` (the shape is inferred on the way)."""
        _check_depth(expr)
        for e in _walk(expr):
            if isinstance(e, ast.Name):
                self._check_use(e, index)
            elif isinstance(e, ast.Call) and e.func == "dense":
                raise _error("dense(...) can only be the whole right-hand side of a 'layer' or 'output'", e.func_span)
            elif isinstance(e, ast.Call) and e.func not in self.functions:
                known = [*self.functions, "dense"]
                raise _error(f"unknown function '{e.func}'{did_you_mean(e.func, known)}", e.func_span)
        return lower_expr(self.b, expr, self.env)

    def _check_use(self, e: ast.Name, index: int) -> None:
        """Errors clearer than 'unknown name' for a name that exists but cannot be used here."""
        name = e.id
        if name in self.dims:
            raise _error(f"'{name}' is a dim (a size), not a value; it cannot be used in an expression", e.span)
        if name in self.functions or name == "dense":
            raise _error(f"'{name}' is a function; call it as {name}(...)", e.span)
        if name in self.layer_at and name not in self.env:
            at = self.layer_at[name]
            layer = self.model.body[at]
            if at == index and name == layer.name:
                raise _error(f"{layer.kind} '{name}' cannot use itself", e.span)
            what = (
                f"{layer.kind} '{name}'"
                if name == layer.name
                else (f"'{name}', made by dense(...) in {layer.kind} '{layer.name}'")
            )
            raise _error(
                f"{what} is defined further down (at {layer.span.line}:{layer.span.column}); "
                "a layer can only use the layers above it",
                e.span,
            )

    def _scalar(self, expr: ast.Expr, what: str, index: int) -> ast.Expr:
        node = self._lower(expr, index)
        shape = self.b.shape(node)
        if shape != ():
            raise _error(
                f"the {what} must be a scalar (one number per sample), but this expression has shape {fmt(shape)}",
                expr.span,
            )
        return expr

    # -- training
    def _train(self, s: ast.Train) -> TrainSpec:
        trainers = _known_trainers()
        if s.name not in trainers:
            raise _error(f"unknown trainer '{s.name}'{did_you_mean(s.name, trainers)}", s.name_span)
        if s.name in ENERGY_TRAINERS and not self.is_energy:
            raise _error(
                f"the trainer '{s.name}' trains an energy model, but this model has a 'loss'; "
                + _installed_for("network", LOSS_TRAINERS),
                s.name_span,
            )
        if s.name in LOSS_TRAINERS and self.is_energy:
            raise _error(
                f"the trainer '{s.name}' trains a network with a 'loss', but this model has an "
                f"'energy'; " + _installed_for("energy model", ENERGY_TRAINERS),
                s.name_span,
            )
        keys = _trainer_keys(s.name, trainers[s.name])
        options: dict = {}
        first: dict[str, ast.Span] = {}
        for opt in s.options:
            if keys is not None and opt.key not in keys:
                if not keys:
                    raise _error(f"the trainer '{s.name}' takes no options", opt.span)
                hint = did_you_mean(opt.key, keys) or f" (its options are {_listing(keys, 'and')})"
                raise _error(f"unknown option '{opt.key}' for the trainer '{s.name}'{hint}", opt.span)
            if opt.key in first:
                raise _error(
                    f"the option '{opt.key}' is given twice",
                    opt.span,
                    notes=(_first(opt.key, first[opt.key], "given"),),
                )
            first[opt.key] = opt.span
            defaults = getattr(trainers[s.name], "options", None)
            text_ok = isinstance(defaults, dict) and isinstance(defaults.get(opt.key), str)
            options[opt.key] = _option_value(opt, text_ok)
        return TrainSpec(s.name, options, s.span)


def _installed_for(what: str, names) -> str:
    """'a network trains with sgd or adam', naming only the trainers that are installed."""
    installed = [n for n in names if n in registry().trainers]
    if not installed:
        return f"this version of ebmc has no trainer for a {what} yet"
    return f"{_a(what)} trains with {_listing(installed)}"


def _option_value(opt: ast.TrainOption, text_ok: bool = False):
    """The value of a trainer option, checked by its rule (ebmc/options.py: the same check and words
    as the generated `fit`): an int for k/batch/epochs, a float for lr and the rates.

    A bare name (`method=fast`) is accepted only where a plugin's trainer has a text default.
    """
    key, value = opt.key, opt.value
    if text_ok and isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _error(f"the option '{key}' must be a number, got '{value}'", opt.span)
    if key not in RULES:
        return value
    try:
        return _check_option(f"'{key}'", value, RULES[key])
    except (TypeError, ValueError) as exc:
        raise _error(str(exc), opt.span) from None
