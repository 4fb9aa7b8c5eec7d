"""The generated class of an energy model: one method per derived quantity.

The math comes from the graphs of `passes/energy.py`, emitted by `emit.py`;
this module lays out the class around them. What every model shares
(construction, argument checks, batching, save and load) is the base class of
`base.py`, copied into the module once; a model class holds the tables it reads
and the model's own methods.

User text reaches the code only as checked identifiers and through `repr`.
The model's names are Python names in two places: as the keyword arguments of
the public methods (`mean_h(v=...)`, exactly as in the file) and as the locals
of the methods that compute (`v @ W`). A local takes the model's name unless
the class uses that name for itself (a local of its own, a builtin, a helper):
`Names` then appends underscores until it is free, so no model name can shadow
the code's own, and the code's own names cannot take a model name.
"""

from __future__ import annotations

import builtins
import contextlib
import keyword
import re
import types

import networkx as nx

from ...errors import EbmcError
from ...frontend.printer import unparse
from ...ir.graph import batched as batched_nodes
from ...ir.graph import formula, leaves
from ...options import rules_for
from ...passes.batch import batch_sums
from ...passes.energy import EnergyAnalysis
from ...passes.simplify import Simplifier, simplify
from ...plugins import registry
from .emit import Emitter, NumpyContext, check_identifier

# the arguments of the generated public methods beside the model's own keyword arrays: a unit
# group or data array of the same name could not be passed (`complete(mask, *, steps, v)`)
METHOD_ARGUMENTS = {
    "self": "the instance argument of every method",
    "mask": "the first argument of complete(mask, ...)",
    "steps": "an argument of complete(mask, steps=..., ...) and sample(n, steps)",
    "method": "an argument of log_prob(..., method=...)",
    "runs": "an argument of log_prob(..., method='ais', runs=...)",
    "betas": "an argument of log_prob(..., method='ais', betas=...)",
    "base_data": "an argument of log_prob(..., method='ais', base_data=...)",
}
# what a condition (an `input`) may not be called beside those: the other arguments of the methods
# that take the conditions as keyword arguments (fit's settings are added per trainer)
CONDITION_ARGUMENTS = {
    "data": "the first argument of fit(data, ...)",
    "n": "the first argument of sample(n, ...)",
    "verbose": "an argument of fit",
    "callback": "an argument of fit",
    "monitor": "an argument of fit",
}

ENUMERATION_LIMIT = 2**20  # states log_partition may enumerate

# how the numpy backend draws each family of unit types: the runtime helper and what it takes
SAMPLERS = {
    "bernoulli": ("sample_bernoulli", ("mean",)),
    "spin": ("sample_spin", ("mean",)),
    "categorical": ("sample_categorical", ("mean",)),
    "gaussian": ("sample_gaussian", ("mean", "precision")),
    "values": ("sample_values", ("field", "precision")),
}

_PLACEHOLDER = re.compile(r"(?<![A-Za-z0-9_])_([NX])(\d+)_(?![A-Za-z0-9_])")


class Names:
    """The Python names of one generated class that come from the model.

    `exact(name)` is the model's name as it is (a keyword argument of a public method);
    `local(name)` a local holding that unit group, data array or param; `derived(name, what)`
    a local the class makes for it (`v_model`, the negative-phase sample of `v`). While the
    class is written each is a placeholder; `resolve` sees every name the class then uses for
    itself and gives each local the wanted name, with underscores appended while it is taken.
    """

    def __init__(self):
        self._exact: list[str] = []
        self._wanted: list[str] = []
        self._keys: dict = {}

    def exact(self, name: str) -> str:
        self._exact.append(check_identifier(name))
        return f"_X{len(self._exact) - 1}_"

    def local(self, name: str) -> str:
        return self._want(("model", name), check_identifier(name))

    def derived(self, name: str, what: str) -> str:
        """A local for `what` of `name`: what is a pattern like '{}_model' or 'keep_{}'."""
        return self._want((what, name), check_identifier(what.format(name)))

    def _want(self, key, wanted: str) -> str:
        if key not in self._keys:
            self._keys[key] = len(self._wanted)
            self._wanted.append(wanted)
        return f"_N{self._keys[key]}_"

    def resolve(self, text: str) -> str:
        """The class text with every placeholder replaced by its final name.

        The names the class uses for itself are read off its compiled code: the locals and
        arguments of every method and every global, builtin and attribute name they use (an
        attribute cannot clash with a local, but counting it costs at most an underscore; the
        names of the methods and class attributes themselves are not locals of any method).
        Compiling also proves the text is valid Python; replacing a placeholder by a checked
        identifier that is no keyword keeps it so.
        """
        own = set()
        module = builtins.compile(text, "<ebmc class>", "exec")
        (body,) = (c for c in module.co_consts if isinstance(c, types.CodeType))  # the class body
        stack = [c for c in body.co_consts if isinstance(c, types.CodeType)]  # its methods
        while stack:
            code = stack.pop()
            own.update(code.co_varnames, code.co_names, code.co_cellvars, code.co_freevars)
            stack.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
        own = {n for n in own if not _PLACEHOLDER.fullmatch(n)}
        taken = own | set(keyword.kwlist) | set(keyword.softkwlist)
        finals = []
        for wanted in self._wanted:
            final = wanted
            while final in taken:
                final += "_"
            taken.add(final)
            finals.append(final)
        return _PLACEHOLDER.sub(lambda m: (finals if m[1] == "N" else self._exact)[int(m[2])], text)


class Code:
    """Lines of Python with indentation."""

    def __init__(self):
        self.lines: list[str] = []
        self.depth = 0

    def __call__(self, *lines: str) -> Code:
        for line in lines:
            self.lines.append(("    " * self.depth + line) if line else "")
        return self

    def block(self, text: str) -> Code:
        """Add a multi-line snippet (its first line sets the indentation)."""
        for line in text.strip("\n").splitlines():
            self(line)
        return self

    def docstring(self, text: str) -> Code:
        """A docstring; its text is a model's words, so it is made safe to sit inside triple quotes."""
        lines = doc_safe(text).strip("\n").splitlines()
        if len(lines) == 1:
            return self(f'"""{lines[0]}"""')
        self(f'"""{lines[0]}')
        for line in lines[1:]:
            self(line)
        return self('"""')

    def wrapped(self, head: str, items, tail: str, width: int = 100) -> Code:
        """`head` + items joined by commas + `tail` on one line, or with the items on a line of their
        own when that is too long (head ends with an opening bracket, tail starts with its closing one)."""
        items = list(items)
        line = f"{head}{', '.join(items)}{tail}"
        if len(line) + 4 * self.depth <= width:
            return self(line)
        self(head)
        rows = [""]
        for item in items:
            joined = f"{rows[-1]}, {item}" if rows[-1] else item
            if rows[-1] and len(joined) + 4 * (self.depth + 1) > width:
                rows[-1] += ","
                rows.append(item)
            else:
                rows[-1] = joined
        self(*("    " + row for row in rows))
        return self(tail)

    @contextlib.contextmanager
    def indent(self):
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def doc_safe(text: str) -> str:
    """Text that can stand inside a triple-quoted docstring and mean the same: backslashes and double
    quotes escaped (a file named with three double quotes cannot end the docstring early), and
    characters that are not printable shown as '?'."""
    if not text.replace("\n", "").isprintable():
        text = "".join(ch if ch.isprintable() or ch == "\n" else "?" for ch in text)
    return text.replace("\\", "\\\\").replace('"', '\\"')


def camel(name: str) -> str:
    """digits_rbm -> DigitsRbm"""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part) or "Model"


def sym(dims: tuple) -> str:
    """A symbolic shape as text: [n_visible, 3]."""
    return "[" + ", ".join(str(d) for d in dims) + "]"


def check_names(model, settings=()) -> None:
    """Refuse, at its declaration, a unit or data name that a generated public method has as an argument
    (`settings`: the trainer's, which fit takes beside the conditions).

    Every other name the language allows is fine: the locals are chosen by `Names`.
    """
    for name in model.params:
        check_identifier(name)
    conditions = {**CONDITION_ARGUMENTS, **{k: "a setting of fit" for k in settings}}
    for name, decl in model.variables.items():
        check_identifier(name)
        taken = {**METHOD_ARGUMENTS, **(conditions if decl.role == "input" else {})}
        if name in taken:
            raise EbmcError(
                f"'{name}' is a name the generated code needs ({taken[name]}); please choose another",
                decl.span.line,
                decl.span.column,
                length=decl.span.length,
            )
    for name in model.dims:
        check_identifier(name)


class _NoBatch:
    """The batch size of a method that has no batched value: no op of its graph may ask for it."""

    def __format__(self, spec):
        raise RuntimeError("internal error: an op asked for the batch size in a method without a batch")

    def __str__(self):
        return self.__format__("")


def split_formula(text: str) -> tuple[str, list[str]]:
    """A printed formula's first line, and the lines that follow it (its `where` bindings, if any)."""
    lines = text.splitlines() or [""]
    return lines[0], lines[1:]


class ClassWriter:
    """What the class writers of every model kind share: the code being written, the model's names
    as Python names, and the emission of graphs into method bodies."""

    def __init__(self, model, ctx: NumpyContext, source_name: str):
        self.m = model
        self.ctx = ctx
        self.code = Code()
        self.names = Names()
        self.source_name = source_name

    def local(self, name: str) -> str:
        return self.names.local(name)

    def derived(self, name: str, what: str) -> str:
        return self.names.derived(name, what)

    def kwargs(self, names) -> str:
        """`v=v, h=h`: the public method's keyword arguments, passed on."""
        return ", ".join(f"{self.names.exact(n)}={self.names.exact(n)}" for n in names)

    def _unpack_params(self, g: nx.DiGraph) -> None:
        """`W, a = self.params["W"], self.params["a"]` for the params g reads."""
        used = [p for p in self.m.params if p in leaves(g, "param")]
        if used:
            rhs = ", ".join(f"self.params[{p!r}]" for p in used)
            self.code(f"{', '.join(self.local(p) for p in used)} = {rhs}")

    def _emit(
        self,
        g: nx.DiGraph,
        outputs: dict | None = None,
        names: dict | None = None,
        inplace=False,
        batch_size: str | None = None,
    ) -> dict:
        """Emit lines computing the outputs of g (all by default) into the current method body.

        names: graph var name -> the code holding it (default: the var's local).
        inplace: overwrite temporaries (for the methods the training loop calls).
        batch_size: the code of the number of samples, where an op needs it; by default the
        first axis of the first batched var the graph reads.
        """
        outputs = outputs if outputs is not None else g.graph["outputs"]
        local = {n: self.local(n) for n in leaves(g) if n in self.m.variables or n in self.m.params}
        local.update(names or {})
        if batch_size is None:
            is_batched = batched_nodes(g)
            found = leaves(g)
            sized = [local[n] for n in local if n in found and is_batched[found[n]]]
            batch_size = f"{sized[0]}.shape[0]" if sized else _NoBatch()
        self.ctx.batch_size = batch_size
        em = Emitter(g, self.ctx, local, inplace=inplace)
        result = em.emit(outputs)
        self.code(*em.lines)
        return result

    def inputs_of(self, g: nx.DiGraph) -> list[str]:
        """The unit groups and data a graph reads, in file order."""
        found = leaves(g)
        return [n for n in self.m.variables if n in found]

    def _formula(self, g: nx.DiGraph, output: str) -> tuple[str, list[str]]:
        return split_formula(formula(g, g.graph["outputs"][output]))

    def _public(self, name: str, args: list[str], doc: str, call: str, extra: str = "") -> None:
        """A public method taking the model's keyword arrays `args` and returning `call`."""
        c = self.code
        sig = ", ".join(["self", *([extra] if extra else []), *(["*"] if args else []), *map(self.names.exact, args)])
        c(f"def {name}({sig}):")
        with c.indent():
            c.docstring(doc)
            c(f"return {call}")
        c("")

    def _graph_method(
        self, name: str, args: list[str], doc: str, g: nx.DiGraph, output: str, inplace=False, dims=None
    ) -> None:
        """A private method computing one output of g from batches of the vars `args` (with `dims`,
        the output is a batch of that shape, even where it has no batch axis of its own)."""
        c = self.code
        c(f"def {name}({', '.join(['self', *map(self.local, args)])}):")
        with c.indent():
            c.docstring(doc)
            self._unpack_params(g)
            result = self._emit(g, {output: g.graph["outputs"][output]}, inplace=inplace)
            code = result[output] if dims is None else self.batched_output(g, output, result[output], dims)
            c(f"return {code}")
        c("")

    def batched_output(self, g: nx.DiGraph, output: str, code: str, dims) -> str:
        """The code of g's output `output` (just emitted), broadcast to (batch,) + dims where it has no
        batch axis of its own: a conditional's mean or field that folds to a number, or reads params
        alone, while its precision reads a condition (`0.5 * exp(x) * square(v)`)."""
        if batched_nodes(g)[g.graph["outputs"][output]]:
            return code
        shape = f"({self.ctx.batch_size},) + self._shape({tuple(dims)!r})"
        return f"np.broadcast_to(np.asarray({code}, dtype=self.dtype), {shape})"

    def return_dict(self, result: dict) -> None:
        """`return {'W': ..., ...}`, one line per output, of what _emit returned."""
        c = self.code
        if not result:
            c("return {}")
            return
        c("return {")
        with c.indent():
            for name, code in result.items():
                c(f"{name!r}: {code},")
        c("}")

    def param_tables(self) -> None:
        """The class attributes of the names, dims and params that the base class `_Model` reads."""
        c, m = self.code, self.m
        c(f"name = {m.name!r}")
        c(f"dim_defaults = {dict(m.dims)!r}")
        c("variables = {")
        with c.indent():
            for name, var in m.variables.items():
                c(f"{name!r}: ({var.role!r}, {tuple(var.dims)!r}, {var.type!r}),")
        c("}")
        c("param_dims = {")
        with c.indent():
            for name, p in m.params.items():
                c(f"{name!r}: {tuple(p.dims)!r},")
        c("}")
        c("param_inits = {")
        with c.indent():
            for name, p in m.params.items():
                c(f"{name!r}: {(p.init.kind, *(float(x) for x in p.init.args))!r},")
        c("}")
        c("param_attrs = {")
        with c.indent():
            for name, p in m.params.items():
                c(f"{name!r}: {tuple(sorted(p.attrs))!r},")
        c("}")

    def option_table(self, options) -> None:
        """`option_rules`: the rule of each setting of the trainer (ebmc/options.py) that fit checks."""
        c = self.code
        c("option_rules = {")
        with c.indent():
            for key, rule in rules_for(options).items():
                c(f"{key!r}: {rule!r},")
        c("}")


class EnergyClass(ClassWriter):
    """Writes the class for one analysed energy model."""

    def __init__(self, analysis: EnergyAnalysis, ctx: NumpyContext, source_name: str):
        super().__init__(analysis.model, ctx, source_name)
        self.a = analysis
        self.formula = unparse(self.m.energy)
        for name, grp in self.a.groups.items():
            if grp.unit.sample not in SAMPLERS:
                var = self.m.units[name]
                raise EbmcError(
                    f"the numpy backend cannot draw '{grp.unit.name}' units: their family "
                    f"'{grp.unit.sample}' is none of {', '.join(SAMPLERS)}",
                    var.span.line,
                    var.span.column,
                    length=var.span.length,
                )
        check_names(self.m, self._trainer().options)
        for name in [*self.m.variables, *self.m.params]:  # the model's names keep their own first
            self.names.local(name)

    # ------------------------------------------------------------ helpers
    @property
    def conds(self) -> list[str]:
        """The model's conditions (`input`s): given to every method that needs them, never sampled."""
        return list(self.m.inputs)

    def conditions_doc(self, rows: str) -> str:
        if not self.conds:
            return ""
        return f"\nThe conditions {', '.join(self.conds)}: one sample (the same for every row) or {rows} rows."

    def conditions_code(self, rows: str, given: str | None = None) -> None:
        """Check the conditions given to a method (`given`: the code of their dict, by default the
        method's keyword arguments) and make each a batch of `rows` rows."""
        if self.conds:
            given = given or self.conditions_dict()
            targets = ", ".join(self.local(x) for x in self.conds)
            self.code(f"{targets}{',' if len(self.conds) == 1 else ''} = self._conditions({given}, {rows})")

    def conditions_dict(self) -> str:
        """`{'x': x}`: the conditions a public method takes as keyword arguments, as a dict."""
        return "{" + ", ".join(f"{x!r}: {self.names.exact(x)}" for x in self.conds) + "}"

    def call(self, kind: str, name: str, count: str, rename: dict | None = None) -> str:
        """`self._mean_X(...)` or `self._sample_X(...)` with the units the conditional reads (their
        locals, or the code `rename` gives); a conditional that reads none gets `count`, the number
        of samples, instead."""
        rename = rename or {}
        args = self.inputs_of(self.a.graphs[f"conditional_{name}"])
        inner = ", ".join(rename.get(a, self.local(a)) for a in args) if args else count
        return f"self._{kind}_{name}({inner})"

    def draws_from_mean(self, name: str) -> bool:
        """Whether a draw of group `name` needs its conditional mean alone."""
        return SAMPLERS[self.a.groups[name].unit.sample][1] == ("mean",)

    def draw(self, name: str, mean: str = "", field: str = "", precision: str = "") -> str:
        """The code of a draw of group `name` from the code of its conditional's mean, field or precision."""
        unit = self.a.groups[name].unit
        helper, needs = SAMPLERS[unit.sample]
        given = {"mean": mean, "field": field, "precision": precision or "0.0"}
        extra = f", {tuple(float(v) for v in unit.values)!r}" if unit.sample == "values" else ""
        return f"{self.ctx.helper(helper)}(self.rng, {', '.join(given[k] for k in needs)}{extra})"

    def returned(self, names: list[str], code=None) -> str:
        """The code of one group's array, or of a dict name -> array for several."""
        code = code or self.local
        if len(names) == 1:
            return code(names[0])
        return "{" + ", ".join(f"{n!r}: {code(n)}" for n in names) + "}"

    # ------------------------------------------------------------ the class
    def write(self) -> str:
        c = self.code
        c(f"class {camel(self.m.name)}(_EnergyModel):")
        with c.indent():
            c.docstring(self._class_doc())
            c("")
            self._tables()
            self._energy()
            self._grad()
            for name in self.a.groups:
                self._conditional(name)
            if "free_energy" in self.a.graphs:
                self._free_energy()
            elif not self.a.hidden:
                self._free_energy_of_energy()
            self._random_states()
            self._sweep_method()
            self._couplings_method()
            self._sample()
            self._reconstruct()
            self._complete()
            self._log_prob()
            self._trainer().write(self)
        while c.lines and not c.lines[-1]:
            c.lines.pop()
        return self.names.resolve(c.text())

    def _class_doc(self) -> str:
        m = self.m
        lines = [f"Energy model `{m.name}` (compiled from {self.source_name}).", "", f"    E = {self.formula}", ""]
        for name, var in m.variables.items():
            lines.append(f"{var.role:8s}{name}{sym(var.dims)} : {var.type}")
        params = ", ".join(f"{p}{sym(q.dims)}" for p, q in m.params.items())
        lines.append(f"params  {params}")
        if m.train is not None:
            opts = ", ".join(f"{k}={v}" for k, v in m.train.options.items())
            lines.append(f"train   {m.train.name}({opts})")
        lines += ["", f"{camel(m.name)}(seed=None, dtype='float64', **dims) builds one; see _Model.__init__."]
        return "\n".join(lines)

    def _tables(self) -> None:
        """The class attributes that the base class reads: names, shapes, inits, unit types, settings."""
        c = self.code
        self.param_tables()
        c("unit_types = {")
        with c.indent():
            for unit in dict.fromkeys(g.unit for g in self.a.groups.values()):
                refuse = (tuple(float(x) for x in unit.refuse[0]), unit.refuse[1]) if unit.refuse else None
                c(f"{unit.name!r}: {{")
                with c.indent():
                    c(f"'support': ({', '.join(self.ctx.number(float(x)) for x in unit.support)}),")
                    c(f"'onehot': {bool(unit.onehot)!r},")
                    c(f"'family': {unit.sample!r},")
                    c(f"'words': {unit.support_words!r},")
                    c(f"'above': {unit.above_hint!r},")
                    c(f"'below': {unit.below_hint!r},")
                    c(f"'refuse': {refuse!r},")
                c("},")
        c("}")
        self.option_table(self._trainer().options)
        c("")

    # ------------------------------------------------------------ derived quantities
    def _energy(self) -> None:
        g = self.a.graphs["energy"]
        args = list(self.m.units) + list(self.m.inputs)
        doc = f"E({', '.join(args)}) = {self.formula}, one value per sample."
        self._public("energy", args, doc, f"self._call(self._energy, {self.kwargs(args)})")
        self._graph_method("_energy", args, doc, g, "energy")

    def _grad(self) -> None:
        c = self.code
        g = simplify(batch_sums(self.a.graphs["grad"]))
        args = list(self.m.units) + list(self.m.inputs)
        doc = (
            "Gradient of the batch-mean energy with respect to every trained param:\n"
            "dict name -> array, mean over the samples of dE/dtheta."
        )
        self._public("grad", args, doc, f"self._mean_gradient({self.kwargs(args)})")
        c(f"def _grad_sums(self, {', '.join(map(self.local, args))}):")
        with c.indent():
            c.docstring("sum over the batch of dE/dtheta for every trained param.")
            self._unpack_params(g)
            self.return_dict(self._emit(g, batch_size=f"{self.local(args[0])}.shape[0]"))
        c("")

    def _conditional(self, name: str) -> None:
        grp = self.a.groups[name]
        if not grp.independent:
            self._coupled(name)
            return
        g = self.a.graphs[f"conditional_{name}"]
        outputs = g.graph["outputs"]
        args = self.inputs_of(g)
        given = ", ".join(args) or "the params"
        field_text, where = self._formula(g, "field")
        precision_text = self._formula(g, "precision")[0] if "precision" in outputs else ""
        template = grp.unit.conditional_text or "E[{x} | {given}] from the field {field}"
        what = template.format(x=name, given=given, field=field_text, precision=precision_text)
        tail = "\n".join(where)
        field_words = (
            f"The field {field_text} is -dE/d{name} at {name} = 0 and {precision_text} is d2E/d{name}2"
            if precision_text
            else f"The field {field_text} is -dE/d{name}"
        )
        doc = (
            f"{what}\n"
            + (f"{tail}\n" if tail else "")
            + f"\n{field_words}; the units of {name} are independent given {given}."
        )
        draw = f"A draw of {name} ~ p({name} | {given}), unit by unit independent, with mean mean_{name}."
        c = self.code
        needs = SAMPLERS[grp.unit.sample][1]
        quadratic = "precision" in outputs and grp.unit.form == "quadratic"
        if args:
            self._public(f"mean_{name}", args, doc, f"self._call(self._mean_{name}, {self.kwargs(args)})")
            doc = what + (f"\n{tail}" if tail else "")
            if quadratic:
                self._checked_mean(name, args, doc, g)
            else:
                self._graph_method(f"_mean_{name}", args, doc, g, "mean", inplace=True, dims=grp.dims)
            self._public(f"sample_{name}", args, draw, f"self._call(self._sample_{name}, {self.kwargs(args)})")
        else:  # the group interacts with no other: its conditional is its marginal, the same for all
            for kind, text in (("mean", doc), ("sample", draw)):
                one = f"{text}\n\nOne sample (no batch axis)."
                self._public(f"{kind}_{name}", [], one, f"self._{kind}_{name}(1)[0]")
            c(f"def _mean_{name}(self, count):")
            with c.indent():
                c.docstring(f"{what}, for each of count samples." + (f"\n{tail}" if tail else ""))
                self._unpack_params(g)
                result = self._emit(g, {"mean": outputs["mean"]})
                c(f"return np.broadcast_to({result['mean']}, (count,) + self._shape({tuple(grp.dims)!r})).copy()")
            c("")
        c(f"def _sample_{name}({', '.join(['self', *(map(self.local, args) if args else ['count'])])}):")
        with c.indent():
            c.docstring(f"{name} ~ p({name} | {given}), drawn from its conditional.")
            if needs == ("mean",):
                inner = ", ".join(map(self.local, args)) if args else "count"
                c(f"return {self.draw(name, mean=f'self._mean_{name}({inner})')}")
            else:
                self._unpack_params(g)
                wanted = {k: outputs[k] for k in needs if k in outputs}
                if quadratic:  # the precision is checked before the draw divides by it
                    c("with np.errstate(divide='ignore', invalid='ignore'):  # a precision <= 0 is refused below")
                    with c.indent():
                        result = self._emit(g, wanted)
                        c(f"{', '.join(result)} = {', '.join(result.values())}")
                    c(f"self._check_precision({name!r}, precision)")
                    result = {k: k for k in result}
                else:
                    result = self._emit(g, wanted)
                first = needs[0]
                if not args:  # the same for every sample: one row per sample
                    shape = f"(count,) + self._shape({tuple(grp.dims)!r})"
                    result[first] = f"np.broadcast_to({result[first]}, {shape})"
                else:
                    result[first] = self.batched_output(g, first, result[first], grp.dims)
                c(f"return {self.draw(name, **result)}")
        c("")

    def _checked_mean(self, name: str, args: list[str], doc: str, g: nx.DiGraph) -> None:
        """`_mean_X` of a quadratic group: field / precision, refused where the precision is not positive."""
        c = self.code
        c(f"def _mean_{name}({', '.join(['self', *map(self.local, args)])}):")
        with c.indent():
            c.docstring(doc)
            self._unpack_params(g)
            outputs = g.graph["outputs"]
            c("with np.errstate(divide='ignore', invalid='ignore'):  # a precision <= 0 is refused below")
            with c.indent():
                result = self._emit(g, {"mean": outputs["mean"], "precision": outputs["precision"]})
                c(f"mean, precision = {result['mean']}, {result['precision']}")
            c(f"self._check_precision({name!r}, precision)")
            c(f"return {self.batched_output(g, 'mean', 'mean', self.a.groups[name].dims)}")
        c("")

    def _coupled(self, name: str) -> None:
        """`_gibbs_X`: a unit-by-unit Gibbs sweep over a group whose units interact."""
        grp = self.a.groups[name]
        g = self.a.graphs[f"field_{name}"]
        read = self.inputs_of(g)  # what the field reads, in file order
        args = self.reads(name)
        others = args[1:]
        given = ", ".join([f"the other units of {name}", *others])
        c = self.code
        x = self.local(name)
        field_text, where = self._formula(g, "field")
        tail = "".join(f"\n    {line}" for line in where)
        coupling = self.a.graphs.get(f"coupling_{name}")
        fast = name in self.fast_coupled()
        tempered = True
        extra = ["keep=None", *(["beta=None", "base=None"] if tempered else []), *(["coupling=None"] if fast else [])]
        signature = ", ".join(["self", *map(self.local, args), *extra])
        if fast:
            g0 = self.a.graphs[f"field0_{name}"]
            read = self.inputs_of(g0)
            text0, where0 = self._formula(g0, "field")
            tail0 = "".join(f"\n    {line}" for line in where0)
            c(f"def _field0_{name}({', '.join(['self', *map(self.local, read)])}):")
            with c.indent():
                whole = f"(-dE/d{name} = {field_text} is f0 - H {name}){tail}"
                c.docstring(f"f0 = -dE/d{name} at {name} = 0 = {text0}{tail0}\n{whole}")
                self._unpack_params(g0)
                result = self._emit(g0, {"field": g0.graph["outputs"]["field"]})
                c(f"return {result['field']}")
            c("")
            c(f"def _coupling_{name}(self):")
            with c.indent():
                c.docstring(
                    f"d2E/d{name}2, the Hessian of the energy in {name} (free of {name}: the energy is quadratic\n"
                    f"in it), as a matrix over the flattened units: H applied to every unit vector."
                )
                c(f"shape = self._shape({tuple(grp.dims)!r})")
                c("size = int(np.prod(shape))")
                c("direction = np.eye(size, dtype=self.dtype).reshape((size,) + shape)")
                self._unpack_params(coupling)
                from ...passes.energy import _direction

                result = self._emit(
                    coupling,
                    {"coupling": coupling.graph["outputs"]["coupling"]},
                    names={_direction(name): "direction"},
                    batch_size="size",
                )
                c(f"return np.broadcast_to({result['coupling']}, (size,) + shape).reshape(size, size)")
            c("")
        c(f"def _gibbs_{name}({signature}):")
        with c.indent():
            if fast:
                c.docstring(
                    f"One sequential Gibbs sweep over the units of {name}, given {', '.join(others) or 'the params'}:\n"
                    f"for each unit j in turn, {name}_j ~ p({name}_j | {given}), from its field\n"
                    f"f_j = f0_j - H[j] @ {name} + H_jj {name}_j (the others' part) and its precision H_jj,\n"
                    f"where H = d2E/d{name}2 is constant (the energy is quadratic in {name}) and f0 is\n"
                    f"-dE/d{name} at {name} = 0. Where the couplings leave classes of units that do not interact\n"
                    "(see _colouring: a chain, a grid), each class is drawn at once. Units where keep (a\n"
                    f"boolean array like {name}) is True keep their values. Vectorised over the batch."
                )
                c("count = " + f"{x}.shape[0]")
                c(f"state = {x}.reshape(count, -1).copy()")
                c(f"field = np.asarray(self._field0_{name}({', '.join(map(self.local, read))}), dtype=self.dtype)")
                c("field = np.broadcast_to(field, " + f"{x}.shape).reshape(count, -1)")
                c("if coupling is None:")
                with c.indent():
                    c(f"coupling = self._coupling_{name}()")
                    c("coupling = coupling, self._colouring(coupling)")
                c("coupling, classes = coupling")
                if tempered:
                    c("if beta is not None:  # beta * E + (1 - beta) * E0: the base adds f0 - p0 x and diag(p0)")
                    with c.indent():
                        c("f0, p0 = (np.broadcast_to(b, " + f"{x}.shape[1:]).ravel() for b in base)")
                        c("field = beta * field + (1.0 - beta) * f0")
                        c("coupling = beta * coupling + (1.0 - beta) * np.diag(p0)")
                c("diagonal = np.diagonal(coupling).copy()")
                if grp.unit.form == "quadratic":
                    c("if not np.all(diagonal > 0):")
                    with c.indent():
                        c(
                            f'raise ValueError(f"the params give the {grp.unit.name} units of {name} a curvature '
                            f"d2E/d{name}2 that is not positive (its smallest diagonal entry is "
                            '{diagonal.min():g}): the distribution has no finite normaliser")'
                        )
                    c("lowest = np.linalg.eigvalsh(coupling)[0]")
                    c("if not lowest > 0:  # else the chain runs off to infinity")
                    with c.indent():
                        c(
                            f'raise ValueError(f"the params give the {grp.unit.name} units of {name} a curvature '
                            f"d2E/d{name}2 that is not positive definite (its smallest eigenvalue is "
                            '{lowest:g}): the distribution has no finite normaliser")'
                        )
                c("keep = None if keep is None else np.broadcast_to(keep, " + f"{x}.shape).reshape(count, -1)")
                c(f"fields = (field + diagonal * state).T.copy()  # f0_j + H_jj {name}_j, one row per unit")
                c("keep = None if keep is None else keep.T")
                if self.two_valued(name):
                    self._two_valued_sweep(name)
                    c(f"return state.reshape({x}.shape)")
                    c("")
                    return
                c("if len(classes) < state.shape[1]:  # the units of one class do not interact: drawn at once")
                with c.indent():
                    c("for units in classes:")
                    with c.indent():
                        c("f = fields[units] - coupling[units] @ state.T")
                        c(f"new = {self._unit_draw(name, 'f', 'diagonal[units, None]')}.T")
                        c("state[:, units] = new if keep is None else np.where(keep[units].T, state[:, units], new)")
                if grp.unit.form == "quadratic":  # every unit has a precision: the diagonal is positive
                    c("else:")
                    with c.indent():
                        self._unit_loop(name, "diagonal[j]")
                else:
                    c("elif diagonal.any():")
                    with c.indent():
                        self._unit_loop(name, "diagonal[j]")
                    c("else:  # a zero diagonal (the usual case): no unit has a precision")
                    with c.indent():
                        self._unit_loop(name, None)
                c(f"return state.reshape({x}.shape)")
            elif not grp.unit.discrete and not grp.unit.onehot:
                self._coupled_continuous(name, others)
            else:
                onehot = grp.unit.onehot
                energy_args = list(self.m.units) + list(self.m.inputs)
                each = f"{len(grp.unit.values)} evaluations" if not onehot else "an evaluation per category"
                c.docstring(
                    f"One sequential Gibbs sweep over the units of {name}, given {', '.join(others) or 'the params'}:\n"
                    f"for each unit j in turn, the energy at each of its values ({grp.unit.values_text}; the\n"
                    f"others as they are), and {name}_j drawn with probabilities softmax(-E). The energy is not\n"
                    f"quadratic in {name}, or its units are one-hot, so each unit costs {each} of it. Units\n"
                    "where keep is True keep their values. Vectorised over the batch."
                )
                c("count = " + f"{x}.shape[0]")
                if onehot:  # a unit is the last axis; its values are the one-hot vectors
                    c(f"values = np.eye({x}.shape[-1], dtype=self.dtype)")
                else:  # a unit is one entry; its values are numbers
                    values = tuple(float(v) for v in grp.unit.values)
                    c(f"values = np.array({values!r}, dtype=self.dtype)[:, None]")
                c(f"state = {x}.reshape(count, -1, values.shape[1]).copy()")
                c(
                    "keep = None if keep is None else np.broadcast_to(keep, "
                    + f"{x}.shape).reshape(state.shape)[:, :, 0]"
                )
                if tempered:
                    c("if beta is not None:")
                    with c.indent():
                        c("f0, p0 = (np.broadcast_to(b, " + f"{x}.shape[1:]).reshape(state.shape[1:]) for b in base)")
                c("for j in range(state.shape[1]):")
                with c.indent():
                    c("old = state[:, j].copy()")
                    c("energies = []")
                    c("for value in values:")
                    with c.indent():
                        c("state[:, j] = value")
                        call_args = ", ".join(
                            f"state.reshape({x}.shape)" if n == name else self.local(n) for n in energy_args
                        )
                        c(f"energies.append(self._energy({call_args}))")
                    c("weights = np.stack(energies, axis=-1)")
                    if tempered:
                        c("if beta is not None:  # beta * E + (1 - beta) * E0")
                        with c.indent():
                            c("base_energy = (0.5 * p0[j] * values**2 - f0[j] * values).sum(axis=-1)")
                            c("weights = beta * weights + (1.0 - beta) * base_energy")
                    softmax, categorical = self.ctx.helper("softmax"), self.ctx.helper("sample_categorical")
                    c(f"new = {categorical}(self.rng, {softmax}(-weights)) @ values")
                    c("state[:, j] = new if keep is None else np.where(keep[:, j, None], old, new)")
                c(f"return state.reshape({x}.shape)")
        c("")

    def two_valued(self, name: str) -> bool:
        """Whether the units of group `name` take one of two numbers (bernoulli, spin, a plugin's)."""
        unit = self.a.groups[name].unit
        return not unit.onehot and unit.values is not None and len(unit.values) == 2

    def _two_valued_sweep(self, name: str) -> None:
        """The loops of a coupled sweep over units of two values a < b: unit j is b with probability
        sigmoid((b - a) f_j - (b**2 - a**2) H_jj / 2), so with logistic noise n_j it is b where
        H[j] @ x < fields_j - (a + b) H_jj / 2 - n_j / (b - a): one product and one comparison a unit."""
        c = self.code
        lo, hi = sorted(float(v) for v in self.a.groups[name].unit.values)
        noise = self.ctx.helper("logistic_noise")
        mid, width = self.ctx.number((lo + hi) / 2), self.ctx.number(hi - lo)
        c("# the noise of the whole sweep at once; unit j takes the upper value where its noise is below its log-odds")
        c(f"noise = {noise}(self.rng, fields.shape, self.dtype)")
        shift = "" if lo + hi == 0 else f" - {mid} * diagonal[:, None]"
        scaled = "noise" if hi - lo == 1 else f"noise / {width}"
        c(f"thresholds = fields{shift} - {scaled}")

        def value(test: str) -> str:
            if (lo, hi) == (0.0, 1.0):
                return test
            return f"{self.ctx.number(lo)} + {width} * ({test})"

        c("if len(classes) < state.shape[1]:  # the units of one class do not interact: drawn at once")
        with c.indent():
            c("for units in classes:")
            with c.indent():
                c(f"new = ({value('coupling[units] @ state.T < thresholds[units]')}).T")
                c("state[:, units] = new if keep is None else np.where(keep[units].T, state[:, units], new)")
        c("else:")
        with c.indent():
            c("for j in range(state.shape[1]):")
            with c.indent():
                c(f"new = {value('state @ coupling[j] < thresholds[j]')}")
                c("state[:, j] = new if keep is None else np.where(keep[j], state[:, j], new)")

    def _unit_loop(self, name: str, precision: str | None) -> None:
        """The loop of a quadratic coupled group's sweep: each unit drawn from its field."""
        c = self.code
        c("for j in range(state.shape[1]):")
        with c.indent():
            c("f = fields[j] - state @ coupling[j]")
            c(f"new = {self._unit_draw(name, 'f', precision)}")
            c("state[:, j] = new if keep is None else np.where(keep[j], state[:, j], new)")

    def _unit_draw(self, name: str, field: str, precision: str | None) -> str:
        """The code of a draw of one unit of group `name` from the code of its field and precision,
        by the unit type's own mean."""
        grp = self.a.groups[name]
        b = Simplifier()
        f = b.var("field:unit", "input", ())
        p = None if precision is None else b.var("precision:unit", "param", ())
        b.output("mean", grp.unit.mean(b, f, p))
        em = Emitter(b.g, self.ctx, {"field:unit": field, "precision:unit": precision or ""})
        mean = em.emit(b.g.graph["outputs"])["mean"]
        self.code(*em.lines)
        return self.draw(name, mean=mean, field=field, precision=precision or "")

    # ------------------------------------------------------------ annealed importance sampling
    def _unit_method(self, name: str, kind: str) -> None:
        """`_unit_mean_X(field, precision)` or `_unit_log_partition_X(field, precision)`: the unit
        type's own formula, on a batch (the mean) or on one field and precision (log Z of the group)."""
        grp = self.a.groups[name]
        b = Simplifier()
        role = "input" if kind == "mean" else "param"
        f = b.var(f"field:{name}", role, grp.dims)
        p = b.var(f"precision:{name}", role, grp.dims)
        rule = grp.unit.mean if kind == "mean" else grp.unit.log_partition
        b.output("out", rule(b, f, p))
        c = self.code
        what = (
            f"E[{name}] of {grp.unit.name} units with weights exp(field * x - precision * x**2 / 2)"
            if kind == "mean"
            else f"sum over the units of {name} of log sum_x exp(field * x - precision * x**2 / 2)"
        )
        c(f"def _unit_{kind}_{name}(self, field, precision):")
        with c.indent():
            c.docstring(f"{what}.")
            names = {f"field:{name}": "field", f"precision:{name}": "precision"}
            result = self._emit(b.g, names=names, batch_size="field.shape[0]" if kind == "mean" else None)
            c(f"return {result['out']}")
        c("")

    def _ais_methods(self) -> None:
        """What _EnergyModel._ais asks of a model: a base model of independent units, its log Z and
        draws, the energy gap E - E0, and a sweep at an inverse temperature."""
        c = self.code
        order = self.a.hidden + self.a.visible
        for name in order:
            grp = self.a.groups[name]
            self._unit_method(name, "mean")
            self._unit_method(name, "log_partition")
            c(f"def _draw_{name}(self, field, precision):")
            with c.indent():
                c.docstring(f"A draw of {name} with weights exp(field * x - precision * x**2 / 2), unit by unit.")
                c("precision = np.broadcast_to(precision, field.shape)")
                mean = f"self._unit_mean_{name}(field, precision)"
                c(f"return {self.draw(name, mean=mean, field='field', precision='precision')}")
            c("")
            if not grp.independent:
                continue
            g = self.a.graphs[f"conditional_{name}"]
            args = self.reads(name)
            outputs = g.graph["outputs"]
            params = [*map(self.local, args)] if args else ["count"]
            c(f"def _tempered_{name}({', '.join(['self', *params, 'beta', 'base'])}):")
            with c.indent():
                c.docstring(
                    f"A draw of {name} from p_beta({name} | rest), for the energy beta * E + (1 - beta) * E0:\n"
                    "its field and precision are beta times the model's plus (1 - beta) times the base's."
                )
                self._unpack_params(g)
                wanted = {"field": outputs["field"]}
                if "precision" in outputs:
                    wanted["precision"] = outputs["precision"]
                result = self._emit(g, wanted)
                c("f0, p0 = base")
                shape = f"(count,) + self._shape({tuple(grp.dims)!r})"
                field = (
                    f"({self.batched_output(g, 'field', result['field'], grp.dims)})"
                    if args
                    else f"np.broadcast_to({result['field']}, {shape})"
                )
                c(f"field = beta * {field} + (1.0 - beta) * f0")
                if "precision" in result:
                    c(f"precision = beta * ({result['precision']}) + (1.0 - beta) * p0")
                else:  # the energy is affine in the group: only the base has a precision
                    c("precision = (1.0 - beta) * p0")
                c(f"return self._draw_{name}(field, precision)")
            c("")
        c("def _ais_base(self, base_data):")
        with c.indent():
            c.docstring(
                "The base model of AIS: dict group -> (field, precision) of independent units, from the\n"
                "marginals of the visible units in `base_data` where given (see _base_field)."
            )
            c("given = self._ais_data(base_data)")
            c("return {")
            with c.indent():
                for name in order:
                    grp = self.a.groups[name]
                    known = f"given[{name!r}]" if grp.role == "visible" else "None"
                    c(f"{name!r}: self._base_field({name!r}, {known}),")
            c("}")
        c("")
        c("def _ais_log_z0(self, base):")
        with c.indent():
            c.docstring("log Z of the base model: the sum of each group's own.")
            c("return float(" + " + ".join(f"self._unit_log_partition_{n}(*base[{n!r}])" for n in order) + ")")
        c("")
        c("def _ais_start(self, base, runs):")
        with c.indent():
            c.docstring("runs draws of every group from the base model.")
            c("state = {}")
            c("for name, (field, precision) in base.items():")
            with c.indent():
                c("state[name] = np.broadcast_to(field, (runs,) + field.shape)")
            c("return {")
            with c.indent():
                for name in order:
                    c(f"{name!r}: self._draw_{name}(state[{name!r}], base[{name!r}][1]),")
            c("}")
        c("")
        units = list(self.m.units)
        c("def _ais_gap(self, state, base, conditions):")
        with c.indent():
            c.docstring("E(x) - E0(x) at each chain's state x (and the conditions, a row for each chain).")
            energy_args = ", ".join([*(f"state[{n!r}]" for n in units), "*conditions"])
            c(f"return self._energy({energy_args}) - self._base_energy(state, base)")
        c("")
        c("def _ais_constants(self):")
        with c.indent():
            c.docstring("What every sweep of one AIS run shares (the Hessians of the coupled groups), or None.")
            c("return self._couplings()" if self.fast_coupled() else "return None")
        c("")
        c("def _ais_step(self, state, beta, base, constants, conditions):")
        with c.indent():
            c.docstring("One Gibbs sweep (see _sweep) of every chain at inverse temperature beta.")
            read = ", ".join([*(f"state[{n!r}]" for n in self.swept()), "*conditions"])
            couplings = ", couplings=constants" if self.fast_coupled() else ""
            c(f"{', '.join(map(self.local, order))} = self._sweep({read}, beta=beta, base=base{couplings})")
            c("return {" + ", ".join(f"{n!r}: {self.local(n)}" for n in order) + "}")
        c("")

    def _free_energy(self) -> None:
        g = self.a.graphs["free_energy"]
        args = self.a.visible + self.conds  # all of them, read or not: log_partition and fit pass every group
        hidden = ", ".join(self.a.hidden)
        text, where = self._formula(g, "free_energy")
        tail = "".join(f"\n{line}" for line in where)
        doc = (
            f"F({', '.join(args)}) = -log sum_{{{hidden}}} exp(-E) = {text}{tail}\n\n"
            f"The hidden units summed out in closed form; one value per sample."
        )
        self._public("free_energy", args, doc, f"self._call(self._free_energy, {self.kwargs(args)})")
        self._graph_method("_free_energy", args, f"F({', '.join(args)}) = {text}{tail}", g, "free_energy")

    def _free_energy_of_energy(self) -> None:
        """A model without hidden units: F(v) = E(v)."""
        args = self.a.visible + self.conds
        doc = (
            f"F({', '.join(args)}) = E({', '.join(args)}): there are no hidden units to sum out; one value per sample."
        )
        self._public("free_energy", args, doc, f"self._call(self._energy, {self.kwargs(args)})")
        self.code("def _free_energy(self, " + ", ".join(map(self.local, args)) + "):")
        with self.code.indent():
            self.code.docstring(doc)
            self.code(f"return self._energy({', '.join(map(self.local, args))})")
        self.code("")

    def _random_states(self) -> None:
        """`_random_X(count)`: random units where chains start: uniform over the values of discrete
        units and the categories of one-hot ones, standard normal for gaussian units."""
        c = self.code
        swept = self.swept()
        for name, grp in self.a.groups.items():
            if name not in swept:
                continue  # drawn given the others before it is read
            unit = grp.unit
            shape = f"(count,) + self._shape({tuple(grp.dims)!r})"
            if unit.sample in ("bernoulli", "spin"):
                mean = self.ctx.number(sum(unit.values) / len(unit.values))
                words, code = unit.values_text, self.draw(name, mean=f"np.full(shape, {mean}, dtype=self.dtype)")
            elif unit.sample == "values":
                words = unit.values_text
                code = f"np.array({tuple(float(v) for v in unit.values)!r}, dtype=self.dtype)"
                code += f"[self.rng.integers({len(unit.values)}, size=shape)]"
            elif unit.sample == "categorical":
                words = "the categories of the last axis"
                code = self.draw(name, mean="np.full(shape, 1.0 / shape[-1], dtype=self.dtype)")
            else:
                words = "a standard normal"
                code = "self.rng.standard_normal(shape, dtype=self.dtype)"
            c(f"def _random_{name}(self, count):")
            with c.indent():
                verb = "from" if unit.sample == "gaussian" else "uniform over"
                c.docstring(f"count draws of {name} with every unit {verb} {words}.")
                c(f"shape = {shape}")
                c(f"return {code}")
            c("")

    def _sweep_method(self) -> None:
        """`_sweep`: the one Gibbs sweep that sample, complete and the trainers use."""
        c = self.code
        order = self.a.hidden + self.a.visible
        state = [*map(self.local, order)]
        read = [*map(self.local, self.swept())]
        conds = [*map(self.local, self.m.inputs)]
        tempered = True
        extra = ["keep=None", *(["beta=None", "base=None"] if tempered else [])]
        extra += ["couplings=None"] if self.fast_coupled() else []
        c(f"def _sweep({', '.join(['self', *read, *conds, *extra])}):")
        with c.indent():
            c.docstring(
                f"One Gibbs sweep: {', '.join(order)} in turn, each drawn given the others: an independent\n"
                "group all at once, a group whose units interact unit by unit. keep: None, or dict visible\n"
                "group -> booleans like it; where True the units keep their values (clamped)."
                + (
                    "\nbeta, base: with an inverse temperature beta, each draw is from the energy\n"
                    "beta * E + (1 - beta) * E0 of annealed importance sampling, E0 the base model's\n"
                    "(dict group -> (field, precision), see _ais_base)."
                    if tempered
                    else ""
                )
                + f"\nReturns the new {', '.join(order)}."
            )
            for name in order:
                grp = self.a.groups[name]
                x = self.local(name)
                kept = f"keep[{name!r}]"
                count = f"{self.local(self.a.visible[0])}.shape[0]"
                if grp.independent:
                    drawn = self.call("sample", name, count)
                    if tempered:
                        given = ", ".join(map(self.local, self.reads(name))) or count
                        c(f"drawn = {drawn} if beta is None else self._tempered_{name}({given}, beta, base[{name!r}])")
                        drawn = "drawn"
                    if grp.role == "visible":
                        c(f"{x} = {drawn} if keep is None else np.where({kept}, {x}, {drawn})")
                    else:
                        c(f"{x} = {drawn}")
                else:
                    args = self.reads(name)
                    keep = f"None if keep is None else {kept}" if grp.role == "visible" else "None"
                    items = [*map(self.local, args), f"keep={keep}"]
                    if tempered:
                        items += ["beta=beta", f"base=None if base is None else base[{name!r}]"]
                    if name in self.fast_coupled():
                        items.append(f"coupling=None if couplings is None else couplings[{name!r}]")
                    c.wrapped(f"{x} = self._gibbs_{name}(", items, ")")
            c(f"return {', '.join(state)}")
        c("")

    def _coupled_continuous(self, name: str, others: list[str]) -> None:
        """The body of `_gibbs_X` for a group of continuous units (gaussian) whose Hessian reads other
        groups or conditions: each unit's field and precision from the energy at three of its values."""
        c = self.code
        x = self.local(name)
        unit = self.a.groups[name].unit.name
        call_args = ", ".join(
            "state.reshape(" + f"{x}.shape)" if n == name else self.local(n)
            for n in list(self.m.units) + list(self.m.inputs)
        )
        c.docstring(
            f"One sequential Gibbs sweep over the units of {name}, given {', '.join(others) or 'the params'}:\n"
            f"for each unit j in turn, its field f_j (-dE/d{name}_j at {name}_j = 0) and precision p_j\n"
            f"(d2E/d{name}_j2) from the energy at {name}_j = -1, 0, 1 (the others as they are; exact, the\n"
            f"energy being quadratic in {name}, whose Hessian here reads other groups or conditions), and\n"
            f"{name}_j drawn from its conditional. Units where keep is True keep their values. Vectorised\n"
            "over the batch."
        )
        c("count = " + f"{x}.shape[0]")
        c(f"state = {x}.reshape(count, -1).copy()")
        c("keep = None if keep is None else np.broadcast_to(keep, " + f"{x}.shape).reshape(state.shape)")
        c("if beta is not None:")
        with c.indent():
            c("f0, p0 = (np.broadcast_to(b, " + f"{x}.shape[1:]).ravel() for b in base)")
        c("for j in range(state.shape[1]):")
        with c.indent():
            c("old = state[:, j].copy()")
            c("energies = []")
            c("for value in (-1.0, 0.0, 1.0):")
            with c.indent():
                c("state[:, j] = value")
                c(f"energies.append(self._energy({call_args}))")
            c("low, middle, high = energies")
            c("field = 0.5 * (low - high)")
            c("precision = low + high - 2.0 * middle")
            c("if beta is not None:  # beta * E + (1 - beta) * E0")
            with c.indent():
                c("field = beta * field + (1.0 - beta) * f0[j]")
                c("precision = beta * precision + (1.0 - beta) * p0[j]")
            c("if not np.all(precision > 0):")
            with c.indent():
                c(
                    f'raise ValueError(f"the params give the {unit} units of {name} a curvature '
                    f"d2E/d{name}2 that is not positive (found "
                    '{precision.min():g}): the distribution has no finite normaliser")'
                )
            c(f"new = self._draw_{name}(field, precision)")
            c("state[:, j] = new if keep is None else np.where(keep[:, j], old, new)")
        c(f"return state.reshape({x}.shape)")

    def reads(self, name: str) -> list[str]:
        """The unit groups and conditions a draw of group `name` reads (its own state first, where
        its units interact)."""
        grp = self.a.groups[name]
        if grp.independent:
            return self.inputs_of(self.a.graphs[f"conditional_{name}"])
        if name in self.fast_coupled():  # from the field and the Hessian: what the field reads
            return [name, *[a for a in self.inputs_of(self.a.graphs[f"field_{name}"]) if a != name]]
        return [name, *[a for a in self.m.variables if a != name]]  # the energy at each value: all of them

    def swept(self) -> list[str]:
        """The groups a sweep reads before it draws them: every visible group, and the hidden groups
        that a draw reads before they are drawn themselves (their own units interact, or an earlier
        hidden group's conditional reads them)."""
        order = self.a.hidden + self.a.visible
        needed, drawn = set(self.a.visible), set()
        for name in order:
            needed |= {r for r in self.reads(name) if r in self.a.groups and r not in drawn}
            drawn.add(name)
        return [n for n in order if n in needed]

    def sweep_call(self, keep: str = "None", code=None) -> str:
        """`h, v = self._sweep(v, keep=...)`: the locals (or `code(name)`) of every group (and the
        Hessians `couplings` of the caller, computed once for all its sweeps, where there are any)."""
        code = code or self.local
        state = ", ".join(map(code, self.a.hidden + self.a.visible))
        read = ", ".join(map(code, self.swept()))
        conds = "".join(f", {self.local(n)}" for n in self.m.inputs)
        couplings = ", couplings=couplings" if self.fast_coupled() else ""
        return f"{state} = self._sweep({read}{conds}, keep={keep}{couplings})"

    def fast_coupled(self) -> list[str]:
        """The groups whose units interact through a Hessian that only the params give (the energy
        is quadratic in them): swept unit by unit from fields and rows of that Hessian."""
        out = []
        for name, grp in self.a.groups.items():
            coupling = self.a.graphs.get(f"coupling_{name}")
            if (
                not grp.independent
                and not grp.unit.onehot
                and coupling is not None
                and not (set(self.inputs_of(coupling)) & set(self.m.variables))
            ):
                out.append(name)
        return out

    def couplings_line(self) -> None:
        """`couplings = self._couplings()` before a caller's sweeps, where there are any."""
        if self.fast_coupled():
            self.code("couplings = self._couplings()  # the params do not change during these sweeps")

    def _couplings_method(self) -> None:
        fast = self.fast_coupled()
        if not fast:
            return
        c = self.code
        c("def _couplings(self):")
        with c.indent():
            c.docstring(
                "dict group -> (d2E/dX2, its classes of units that do not interact) for each group whose\n"
                "units interact quadratically (see _coupling_X and _colouring), computed once for all the\n"
                "sweeps of one call."
            )
            c("hessians = {" + ", ".join(f"{n!r}: self._coupling_{n}()" for n in fast) + "}")
            c("return {name: (hessian, self._colouring(hessian)) for name, hessian in hessians.items()}")
        c("")

    def _start_states(self, count: str, visible: bool = True) -> None:
        """Random states for the groups a sweep reads before it draws them."""
        for name in self.swept():
            if self.a.groups[name].role == "hidden" or visible:
                self.code(f"{self.local(name)} = self._random_{name}({count})")

    def _sample(self) -> None:
        c = self.code
        vis = self.a.visible
        conds = "".join(f", {self.names.exact(x)}" for x in self.conds)
        c(f"def sample(self, n, steps=None{', *' + conds if conds else ''}):")
        with c.indent():
            c.docstring(
                f"n draws of the visible units by Gibbs sampling, `steps` sweeps (default 1000)\n"
                f"from random units; each sweep draws {', '.join(self.a.hidden + vis)} in turn,\n"
                f"each given the others (see _sweep). n and steps are whole numbers >= 1. Returns "
                + ("an array" if len(vis) == 1 else "a dict name -> array")
                + " with n rows."
                + self.conditions_doc("n")
            )
            if conds:  # the conditions bear the model's names: the work is done apart from them
                c(f"return self._sample(n, steps, {self.conditions_dict()})")
        if conds:
            c("")
            c("def _sample(self, n, steps, conditions):")
        with c.indent():
            if conds:
                c.docstring("sample, given the conditions as a dict name -> array.")
            c('n = self._samples("n", n)')
            c('steps = 1000 if steps is None else self._count("steps", steps)')
            self.conditions_code("n", "conditions")
            self._start_states("n")
            self.couplings_line()
            c("for _ in range(steps):")
            with c.indent():
                c(self.sweep_call())
            c(f"return {self.returned(vis)}")
        c("")

    def mean_field(self) -> bool:
        """Whether every group has a closed-form conditional mean (reconstruct is defined)."""
        return "hidden" in self.a.summable and all(g.independent for g in self.a.groups.values())

    def _reconstruct(self) -> None:
        if not self.mean_field():
            return
        c = self.code
        vis = self.a.visible
        doc = (
            "Mean-field reconstruction: the hidden means given the visible units,\nthen the visible means given those."
        )
        self._public(
            "reconstruct", vis + self.conds, doc, f"self._call(self._reconstruct, {self.kwargs(vis + self.conds)})"
        )
        c(f"def _reconstruct(self, {', '.join(map(self.local, vis + self.conds))}):")
        with c.indent():
            c.docstring("E[v | h = E[h | v]] for batches of the visible units.")
            count = f"{self.local(vis[0])}.shape[0]"
            for name in self.a.hidden + vis:
                c(f"{self.local(name)} = {self.call('mean', name, count)}")
            c(f"return {self.returned(vis)}")
        c("")

    def _complete(self) -> None:
        c = self.code
        vis = self.a.visible
        units = {v: self.a.groups[v].unit for v in vis}
        means = "; ".join(f"{unit.mean_words} for the {unit.name} units of {v}" for v, unit in units.items())
        mask_doc = (
            f"mask: booleans (or 0 and 1) shaped like {vis[0]}, or like one sample (the same for every row)."
            if len(vis) == 1
            else "mask: dict group name -> booleans shaped like that group (or like one sample of it)."
        )
        if any(u.onehot for u in units.values()):
            mask_doc += (
                "\nFor one-hot (softmax) units the mask has one entry per unit: the shape without its last axis."
            )
        doc = (
            "Fill in the visible units where mask is False; keep those where it is True.\n\n"
            "A Gibbs chain (see _sweep) with the kept units clamped; each filled unit is the average over\n"
            "the last `steps` sweeps (after steps // 4 sweeps of burn-in) of its conditional mean where\n"
            "its group has one in closed form, else of its draws:\n"
            f"an estimate of E[x | kept units]: {means}.\n"
            f"{mask_doc}\n"
            "The values where mask is False are not read (they may be anything, NaN included).\n"
            "steps: a whole number >= 1."
        )
        c(f"def complete(self, mask, *, steps=200, {', '.join(map(self.names.exact, vis + self.conds))}):")
        with c.indent():
            c.docstring(doc + self.conditions_doc("as many"))
            given = "{" + ", ".join(f"{x!r}: {self.names.exact(x)}" for x in self.conds) + "}"
            c(f"return self._complete(mask, steps, {given}, {self.kwargs(vis)})")
        c("")
        c("def _complete(self, mask, steps, conditions, /, **visible):")
        with c.indent():
            c.docstring("The clamped Gibbs chain of complete, after checking its arguments.")
            c('steps = self._count("steps", steps)')
            c('known, keep, single = self._masked_batches(visible, mask, "the visible units", required=True)')
            count = f"known[{vis[0]!r}].shape[0]"
            if self.conds:
                targets = ", ".join(self.local(x) for x in self.conds)
                c(f"{targets}{',' if len(self.conds) == 1 else ''} = self._conditions(conditions, {count})")
            self._start_states(count, visible=False)
            for v in vis:
                x, total = self.local(v), self.derived(v, "total_{}")
                c(f"{x} = np.where(keep[{v!r}], known[{v!r}], self._random_{v}({count}))")
                c(f"{total} = np.zeros_like({x})")
            c("burn_in = steps // 4")
            self.couplings_line()
            c("for step in range(burn_in + steps):")
            with c.indent():
                c(self.sweep_call("keep"))
                c("if step >= burn_in:")
                with c.indent():
                    for v in vis:
                        total = self.derived(v, "total_{}")
                        if self.a.groups[v].independent:
                            c(f"{total} += {self.call('mean', v, f'{self.local(v)}.shape[0]')}")
                        else:
                            c(f"{total} += {self.local(v)}")
            for v in vis:
                c(f"{self.local(v)} = np.where(keep[{v!r}], known[{v!r}], {self.derived(v, 'total_{}')} / steps)")
            c(f"return self._unbatch({self.returned(vis)}, single)")
        c("")

    def _log_prob(self) -> None:
        """log_partition by enumeration, and log_prob where F(v) exists."""
        c = self.code
        vis = self.a.visible
        groups = self.a.groups
        options = []  # (label, enumerated groups, the method giving -log of their unnormalised weight)
        if "hidden" in self.a.summable and all(groups[n].unit.discrete for n in vis):
            options.append(("visible", vis, "self._free_energy"))
        if not self.a.hidden and all(groups[n].unit.discrete for n in vis):
            options.append(("visible", vis, "self._energy"))
        if "visible" in self.a.summable and self.a.hidden and all(groups[n].unit.discrete for n in self.a.hidden):
            options.append(("hidden", self.a.hidden, "self._free_energy_hidden"))
        if not options and self.a.hidden and all(g.unit.discrete for g in groups.values()):
            options.append(("every", list(self.m.units), "self._energy"))
        conds = self.conds
        has_free = "hidden" in self.a.summable or not self.a.hidden
        cond_args = "".join(f"{self.names.exact(x)}, " for x in conds)
        ais_args = "method='exact', runs=100, betas=1000, base_data=None"
        rows = " (one value per row of the conditions)" if conds else ""
        if has_free:
            args = vis + conds
            given = f" | {', '.join(conds)}" if conds else ""
            c(f"def log_prob(self, *, {', '.join(map(self.names.exact, args))}, {ais_args}):")
            with c.indent():
                c.docstring(
                    f"log p({', '.join(vis)}{given}) = -F - log Z, one value per sample: exactly with\n"
                    "method='exact'; with method='ais', log Z is estimated by annealed importance sampling\n"
                    "(see log_partition) and the result is (log p, the standard error of log Z)."
                )
                arrays = "{" + ", ".join(f"{x!r}: {self.names.exact(x)}" for x in vis) + "}"
                given = self.conditions_dict() if conds else "{}"
                c(f"return self._log_prob({arrays}, {given}, method, runs, betas, base_data)")
            c("")
        sides = {
            "visible": "the visible units (the hidden ones summed out by F(v))" if self.a.hidden else "every unit",
            "hidden": "the hidden units (the visible ones summed out by F(h))",
            "every": "every unit",
        }
        what = "\nor ".join(sides[label] for label, _, _ in options)
        doc = (
            "log Z = log sum over every state of exp(-E)" + rows + "."
            if not options
            else (
                "log Z = log sum over every state of exp(-E)"
                + rows
                + ", exactly, by enumerating the states of\n"
                + what
                + (",\nwhichever has fewer states" if len(options) > 1 else "")
                + f";\nin chunks of {2**14} states with a running log-sum-exp.\n"
                f"At most {ENUMERATION_LIMIT} states (20 binary units): larger models need an estimate\n"
                "(annealed importance sampling, AIS)."
            )
        )
        ais = (
            "method='ais': annealed importance sampling (Neal 2001; Salakhutdinov and Murray 2008),\n"
            "from a base model of independent units (their marginals in `base_data`, the visible\n"
            "array or dict, where given; else uniform) to the model along `betas` inverse\n"
            "temperatures spaced evenly in [0, 1], with `runs` parallel chains, each moved by one\n"
            "Gibbs sweep (see _sweep) at each temperature. Returns (log Z estimate, its standard error)"
            + (", each one value per row of the conditions." if conds else ".")
        )
        specs = [self._state_spec(names) for _, names, _ in options]
        c(f"def log_partition(self, method='exact', *, {cond_args}runs=100, betas=1000, base_data=None):")
        with c.indent():
            c.docstring(doc + "\n\n" + ais)
            c("method = self._method(method, runs, betas, base_data)")
            if conds:
                c("if method == 'ais':")
                with c.indent():
                    given = "{" + ", ".join(f"{x!r}: {self.names.exact(x)}" for x in conds) + "}"
                    c(f"return self._ais_conditional({given}, runs, betas, base_data)")
            else:
                c("if method == 'ais':")
                with c.indent():
                    c("return self._ais(runs, betas, base_data, ())")
            if options and conds:
                c(f"return self._call(self._log_partitions, {self.kwargs(conds)})")
            elif options:
                c("options = [")
                with c.indent():
                    for (_, _, method), spec in zip(options, specs, strict=True):
                        c(f"({method}, {spec}),")
                c("]")
                c("return self._enumerate(options)")
            else:
                c("raise self._no_exact_log_z()  # from the base class: a condition may be named ValueError")
        c("")
        self._ais_methods()
        if options and conds:
            c(f"def _log_partitions(self, {', '.join(map(self.local, conds))}):")
            with c.indent():
                c.docstring("log Z at each row of the conditions, by enumeration (see log_partition).")
                c(f"rows = {self.local(conds[0])}.shape[0]")
                c("out = np.empty(rows)")
                c("for row in range(rows):")
                with c.indent():
                    held = ", ".join(f"{self.local(x)}[row:row + 1]" for x in conds)
                    c(f"given = ({held}{',' if len(conds) == 1 else ''})")
                    c("options = [")
                    with c.indent():
                        for (_, _, method), spec in zip(options, specs, strict=True):
                            c(f"(self._at_conditions({method}, given), {spec}),")
                    c("]")
                    c("out[row] = self._enumerate(options)")
                c("return out")
            c("")
        if any(label == "hidden" for label, _, _ in options):
            g = self.a.graphs["free_energy_hidden"]
            args = self.a.hidden + self.conds
            text, where = self._formula(g, "free_energy")
            tail = "".join(f"\n{line}" for line in where)
            self._graph_method(
                "_free_energy_hidden",
                args,
                f"F({', '.join(args)}) = -log sum over the visible units of exp(-E) = {text}{tail}",
                g,
                "free_energy",
            )

    def _state_spec(self, names) -> str:
        """[(dims, values, one-hot), ...]: how _enumerate makes the states of the groups `names`."""
        items = []
        for n in names:
            unit = self.a.groups[n].unit
            items.append(f"({tuple(self.a.groups[n].dims)!r}, {tuple(float(v) for v in unit.values)!r}, {unit.onehot})")
        return "[" + ", ".join(items) + "]"

    def _trainer(self):
        """The trainer plugin named by `train` (cd when the model names none)."""
        trainers = registry().trainers
        name = self.m.train.name if self.m.train is not None else "cd"
        if name not in trainers:
            span = self.m.train.span
            raise EbmcError(
                f"the '{name}' trainer is not available for energy models in this version of ebmc "
                f"(installed: {', '.join(sorted(trainers))})",
                span.line,
                span.column,
                length=span.length,
            )
        return trainers[name]
