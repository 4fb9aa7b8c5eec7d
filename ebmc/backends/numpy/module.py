"""The generated class of an energy model: one method per derived quantity.

The math comes from the graphs of `passes/energy.py`, emitted by `emit.py`;
this module lays out the class around them. User names reach the code only as
checked identifiers (locals and dict keys); numbers only through `repr`.
"""

from __future__ import annotations

import networkx as nx

from ...errors import EbmcError
from ...frontend.printer import unparse
from ...ir.graph import leaves
from ...passes.batch import batch_sums
from ...passes.energy import EnergyAnalysis
from ...passes.simplify import simplify
from ...plugins import registry
from .emit import Emitter, NumpyContext, check_identifier


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
        if '"""' in text or "\\" in text:
            raise ValueError("docstring text may not contain triple quotes or backslashes")
        lines = text.strip("\n").splitlines()
        if len(lines) == 1:
            return self(f'"""{lines[0]}"""')
        self(f'"""{lines[0]}')
        for line in lines[1:]:
            self(line)
        return self('"""')

    def indent(self):
        code = self

        class _Indent:
            def __enter__(self):
                code.depth += 1

            def __exit__(self, *exc):
                code.depth -= 1

        return _Indent()

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def camel(name: str) -> str:
    """digits_rbm -> DigitsRbm"""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part) or "Model"


def sym(dims: tuple) -> str:
    """A symbolic shape as text: [n_visible, 3]."""
    return "[" + ", ".join(str(d) for d in dims) + "]"


# locals of the generated methods that also hold the model's own names (units, data, params)
METHOD_LOCALS = frozenset(
    "data mask k lr batch epochs momentum weight_decay verbose n masks velocity watch history epoch start "
    "order low rows m record watched metrics deltas steps burn_in step single sums name total count".split()
)


def derived_locals(unit: str) -> dict[str, str]:
    """The locals the generated methods make for a unit group, and what each holds."""
    return {
        f"{unit}_all": f"the training data of '{unit}'",
        f"{unit}_model": f"the negative-phase sample of '{unit}'",
        f"keep_{unit}": f"the mask of '{unit}' in complete()",
        f"known_{unit}": f"the given values of '{unit}' in complete()",
        f"total_{unit}": f"the running sum of '{unit}' in complete()",
        f"mean_{unit}": f"the conditional mean of '{unit}' in complete()",
    }


def check_names(model) -> None:
    """Refuse, at its declaration, a unit or data name that a generated method needs for itself.

    Params are locals only of the methods that compute from the graphs, beside unit names and
    `_t` temporaries, so any name the language allows is fine for them.
    """
    taken = {name: "a local variable of the generated methods" for name in METHOD_LOCALS}
    for unit in model.units:
        taken.update(derived_locals(unit))
    for name in model.params:
        check_identifier(name)
    for name, decl in model.variables.items():
        check_identifier(name)
        if name in taken:
            raise EbmcError(
                f"'{name}' is a name the generated code needs ({taken[name]}); please choose another",
                decl.span.line,
                decl.span.column,
                length=decl.span.length,
            )


class EnergyClass:
    """Writes the class for one analysed energy model."""

    def __init__(self, analysis: EnergyAnalysis, ctx: NumpyContext, source_name: str):
        self.a = analysis
        self.m = analysis.model
        self.ctx = ctx
        self.code = Code()
        self.source_name = source_name
        self.formula = unparse(self.m.energy)
        for name, grp in self.a.groups.items():
            if not grp.independent:
                var = self.m.units[name]
                raise EbmcError(
                    f"the energy couples the units of '{name}' with each other, so they are not independent "
                    "given the other groups; the numpy backend of this version samples whole groups only "
                    "(unit-by-unit Gibbs sampling is not available yet)",
                    var.span.line,
                    var.span.column,
                    length=var.span.length,
                )
        for var in self.m.inputs.values():
            raise EbmcError(
                f"'{var.name}' makes this a conditional energy model; the numpy backend of this version "
                "generates unconditional models only (every group visible or hidden)",
                var.span.line,
                var.span.column,
                length=var.span.length,
            )
        check_names(self.m)
        for name in self.m.dims:
            check_identifier(name)

    # ------------------------------------------------------------ helpers
    @staticmethod
    def _unpack(names) -> str:
        """The target list for unpacking _batches: (v,) or (v, h)."""
        return f"({names[0]},)" if len(names) == 1 else f"({', '.join(names)})"

    def _unpack_params(self, g: nx.DiGraph) -> None:
        """`W, a = self.params["W"], self.params["a"]` for the params g reads."""
        used = [p for p in self.m.params if p in leaves(g, "param")]
        if used:
            rhs = ", ".join(f"self.params[{p!r}]" for p in used)
            self.code(f"{', '.join(used)} = {rhs}")

    def _emit(
        self,
        g: nx.DiGraph,
        outputs: dict | None = None,
        names: dict | None = None,
        targets: dict | None = None,
        inplace: bool = False,
    ) -> dict:
        """Emit lines computing the outputs of g (all by default) into the current method body.

        inplace: overwrite temporaries (for the methods the training loop calls).
        """
        outputs = outputs if outputs is not None else g.graph["outputs"]
        local = {n: n for n in leaves(g)}
        local.update(names or {})
        em = Emitter(g, self.ctx, local, inplace=inplace)
        result = em.emit(outputs, targets)
        self.code(*em.lines)
        return result

    def _inputs_of(self, g: nx.DiGraph) -> list[str]:
        """The unit groups and data a graph reads, in file order."""
        found = leaves(g)
        return [n for n in self.m.variables if n in found]

    # ------------------------------------------------------------ the class
    def write(self) -> str:
        c = self.code
        cls = camel(self.m.name)
        c(f"class {cls}:")
        with c.indent():
            c.docstring(self._class_doc())
            c("")
            self._class_attributes()
            self._init()
            self._plumbing()
            self._energy()
            self._grad()
            for name in self.a.groups:
                self._conditional(name)
            if "free_energy" in self.a.graphs:
                self._free_energy()
            self._random_states()
            self._sample()
            self._reconstruct()
            self._complete()
            self._log_prob()
            self._trainer().write(self)
            self._save_load()
        return c.text()

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
        return "\n".join(lines)

    def _class_attributes(self) -> None:
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
        c("")

    def _init(self) -> None:
        c, m = self.code, self.m
        c("def __init__(self, *, seed=None, dtype='float64', **dims):")
        with c.indent():
            c.docstring(
                "A model with freshly initialised params.\n\n"
                "seed: for numpy's default_rng (initial params, sampling, shuffling).\n"
                "dtype: 'float32' or 'float64'.\n"
                "dims: sizes overriding the file's `dim` values."
            )
            c.block("""
unknown = sorted(set(dims) - set(self.dim_defaults))
if unknown:
    raise TypeError(f"unknown dims {unknown}; this model has {sorted(self.dim_defaults)}")
self.dims = {**self.dim_defaults, **{k: int(v) for k, v in dims.items()}}
for key, value in self.dims.items():
    if value < 1:
        raise ValueError(f"dim {key} must be a positive int, got {value}")
self.dtype = np.dtype(dtype)
if self.dtype not in (np.float32, np.float64):
    raise ValueError(f"dtype must be float32 or float64, got {self.dtype}")
self.rng = np.random.default_rng(seed)
self.params = {""")
            with c.indent():
                for name, p in m.params.items():
                    c(f"{name!r}: {self._init_expr(p)},")
            c("}")
            for name, p in m.params.items():
                if "symmetric" in p.attrs:
                    c(f"self.params[{name!r}] = self._symmetric(self.params[{name!r}])")
                if "zero_diagonal" in p.attrs:
                    c(f"np.fill_diagonal(self.params[{name!r}], 0.0)")
        c("")

    def _init_expr(self, p) -> str:
        shape = f"self._shape({tuple(p.dims)!r})"
        init = p.init
        num = self.ctx.number
        if init.kind == "const":
            return f"np.full({shape}, {num(init.args[0])}, dtype=self.dtype)"
        if init.kind == "normal":
            mean, std = init.args
            return f"self.rng.normal({num(mean)}, {num(std)}, size={shape}).astype(self.dtype)"
        if init.kind == "uniform":
            low, high = init.args
            return f"self.rng.uniform({num(low)}, {num(high)}, size={shape}).astype(self.dtype)"
        if init.kind in ("glorot", "he"):
            return f"self._{init.kind}({shape})"
        raise ValueError(f"unknown init {init.kind}")

    def _plumbing(self) -> None:
        c = self.code
        c.block('''
def _shape(self, dims):
    """A declared shape with its dim names replaced by their sizes."""
    return tuple(self.dims[d] if isinstance(d, str) else d for d in dims)

def _batches(self, **arrays):
    """The arrays as batches (axis 0 = sample), and whether they were single samples.

    An array with the declared shape is one sample; with one more leading axis, a batch.
    """
    out, single, size = [], None, None
    for name, x in arrays.items():
        x = np.asarray(x, dtype=self.dtype)
        shape = self._shape(self.variables[name][1])
        if x.shape == shape:
            is_single, x = True, x[None]
        elif x.shape[1:] == shape:
            is_single = False
        else:
            raise ValueError(f"{name}: expected shape {shape} or (batch, *{shape}), got {x.shape}")
        if single is not None and is_single != single:
            raise ValueError("pass either single samples or batches to one call, not both")
        if size is not None and x.shape[0] != size:
            raise ValueError(f"{name}: batch of {x.shape[0]}, but the other arrays have {size}")
        out.append(x)
        single, size = is_single, x.shape[0]
    return out, single

@staticmethod
def _unbatch(x, single):
    """Drop the batch axis again when the caller passed single samples."""
    return x[0] if single else x
''')
        if any(p.init.kind in ("glorot", "he") for p in self.m.params.values()):
            c.block('''

def _glorot(self, shape):
    """Uniform in +-sqrt(6 / (fan_in + fan_out)) (Glorot and Bengio, 2010)."""
    fan_in, fan_out = (shape[0], shape[-1]) if shape else (1, 1)
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return self.rng.uniform(-limit, limit, size=shape).astype(self.dtype)

def _he(self, shape):
    """Normal with std sqrt(2 / fan_in) (He et al., 2015)."""
    fan_in = shape[0] if shape else 1
    return self.rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape).astype(self.dtype)
''')
        if any("symmetric" in p.attrs for p in self.m.params.values()):
            c.block('''

@staticmethod
def _symmetric(w):
    """(w + w.T) / 2: the nearest symmetric matrix."""
    return 0.5 * (w + w.T)
''')
        c("")

    def _public(self, name: str, args: list[str], doc: str, inner: str, extra_params: str = "") -> None:
        """A public method taking keyword arrays, calling its batched twin `_name`."""
        c = self.code
        sig = ", ".join(["self", "*", *args]) + (f", {extra_params}" if extra_params else "")
        c(f"def {name}({sig}):")
        with c.indent():
            c.docstring(doc)
            if args:
                c(f"{self._unpack(args)}, single = self._batches({', '.join(f'{a}={a}' for a in args)})")
            c(f"return self._unbatch({inner}, single)")
        c("")

    def _private(self, name: str, args: list[str], doc: str, g: nx.DiGraph, output: str, inplace: bool = False) -> None:
        c = self.code
        c(f"def {name}({', '.join(['self', *args])}):")
        with c.indent():
            c.docstring(doc)
            self._unpack_params(g)
            result = self._emit(g, {output: g.graph["outputs"][output]}, inplace=inplace)
            c(f"return {result[output]}")
        c("")

    # ------------------------------------------------------------ derived quantities
    def _energy(self) -> None:
        g = self.a.graphs["energy"]
        args = list(self.m.units) + list(self.m.inputs)
        doc = f"E({', '.join(args)}) = {self.formula}, one value per sample."
        self._public("energy", args, doc, f"self._energy({', '.join(args)})")
        self._private("_energy", args, doc, g, "energy")

    def _grad(self) -> None:
        c = self.code
        g = simplify(batch_sums(self.a.graphs["grad"]))
        args = list(self.m.units) + list(self.m.inputs)
        c(f"def grad(self, *, {', '.join(args)}):")
        with c.indent():
            c.docstring(
                "Gradient of the batch-mean energy with respect to every trained param:\n"
                "dict name -> array, mean over the samples of dE/dtheta."
            )
            c(f"{self._unpack(args)}, single = self._batches({', '.join(f'{a}={a}' for a in args)})")
            c("sums = self._grad_sums(" + ", ".join(args) + ")")
            c(f"count = {args[0]}.shape[0]")
            c("return {name: np.asarray(total / count, dtype=self.dtype) for name, total in sums.items()}")
        c("")
        c(f"def _grad_sums(self, {', '.join(args)}):")
        with c.indent():
            c.docstring("sum over the batch of dE/dtheta for every trained param.")
            self._unpack_params(g)
            self.ctx.batch_size = f"{args[0]}.shape[0]"
            result = self._emit(g)
            c("return {")
            with c.indent():
                for name in g.graph["outputs"]:
                    c(f"{name!r}: {result[name]},")
            c("}")
        c("")

    def _conditional(self, name: str) -> None:
        grp = self.a.groups[name]
        g = self.a.graphs[f"conditional_{name}"]
        args = self._inputs_of(g)
        given = ", ".join(args) or "the params"
        # a formula that names subexpressions ends in lines `where _k = ...`: they follow the sentence
        field_text, *where = self._formula(g, "field").split("\n")
        where_text = "".join(f"\n{line}" for line in where)
        if grp.unit.name == "bernoulli":
            what = f"p({name} = 1 | {given}) = sigmoid({field_text})"
        elif grp.unit.name == "spin":
            what = f"E[{name} | {given}] = tanh({field_text})"
        else:
            what = f"E[{name} | {given}] from the field {field_text}"
        doc = (
            f"{what}{where_text}\n\n"
            f"The field {field_text} is -dE/d{name}; the units of {name} are independent given {given}."
        )
        sampler = self.ctx.helper(f"sample_{grp.unit.sample}")
        draw = f"A draw of {name} ~ p({name} | {given}), unit by unit independent, with mean mean_{name}."
        c = self.code
        if args:
            self._public(f"mean_{name}", args, doc, f"self._mean_{name}({', '.join(args)})")
            self._private(f"_mean_{name}", args, what + where_text, g, "mean", inplace=True)
            self._public(f"sample_{name}", args, draw, f"self._sample_{name}({', '.join(args)})")
            inner = ", ".join(args)
        else:  # the group interacts with no other: its conditional is its marginal, the same for all
            for kind, text in (("mean", doc), ("sample", draw)):
                c(f"def {kind}_{name}(self):")
                with c.indent():
                    c.docstring(text)
                    c(f"return self._{kind}_{name}(1)[0]")
                c("")
            c(f"def _mean_{name}(self, count):")
            with c.indent():
                c.docstring(f"{what}, for each of count samples.{where_text}")
                self._unpack_params(g)
                result = self._emit(g, {"mean": g.graph["outputs"]["mean"]})
                c(f"return np.broadcast_to({result['mean']}, (count,) + self._shape({tuple(grp.dims)!r})).copy()")
            c("")
            inner = "count"
        c(f"def _sample_{name}({', '.join(['self', *(args or ['count'])])}):")
        with c.indent():
            c.docstring(f"{name} ~ p({name} | {given}), drawn from mean_{name}.")
            c(f"return {sampler}(self.rng, self._mean_{name}({inner}))")
        c("")

    def call(self, kind: str, name: str, count: str, rename: dict | None = None) -> str:
        """`self._mean_X(...)` or `self._sample_X(...)` with the units the conditional reads (renamed
        as asked); a conditional that reads none gets `count`, the number of samples, instead."""
        rename = rename or {}
        args = self._inputs_of(self.a.graphs[f"conditional_{name}"])
        inner = ", ".join(rename.get(a, a) for a in args) if args else count
        return f"self._{kind}_{name}({inner})"

    def _formula(self, g: nx.DiGraph, output: str) -> str:
        from ...ir.graph import formula

        return formula(g, g.graph["outputs"][output])

    def _free_energy(self) -> None:
        g = self.a.graphs["free_energy"]
        args = self._inputs_of(g)
        hidden = ", ".join(self.a.hidden)
        text = self._formula(g, "free_energy")
        doc = (
            f"F({', '.join(args)}) = -log sum_{{{hidden}}} exp(-E) = {text}\n\n"
            f"The hidden units summed out in closed form; one value per sample."
        )
        self._public("free_energy", args, doc, f"self._free_energy({', '.join(args)})")
        self._private("_free_energy", args, f"F({', '.join(args)}) = {text}", g, "free_energy")

    def _sweep_lines(self, count: str, sample: bool = True) -> list[str]:
        """One block-Gibbs sweep: every hidden group, then every visible group, given the others."""
        kind = "sample" if sample else "mean"
        return [f"{name} = {self.call(kind, name, count)}" for name in self.a.hidden + self.a.visible]

    def _initial_state(self, name: str, count: str) -> str:
        return f"self._random_{name}({count})"

    def _random_states(self) -> None:
        """`_random_X(count)`: uniformly random units, where chains start."""
        c = self.code
        for name in self.a.visible:
            grp = self.a.groups[name]
            sampler = self.ctx.helper(f"sample_{grp.unit.sample}")
            mean = self.ctx.number(sum(grp.unit.values) / len(grp.unit.values))
            c(f"def _random_{name}(self, count):")
            with c.indent():
                c.docstring(f"count draws of {name} with every unit uniform over {grp.unit.values}.")
                c(f"shape = (count,) + self._shape({tuple(grp.dims)!r})")
                c(f"return {sampler}(self.rng, np.full(shape, {mean}, dtype=self.dtype))")
            c("")

    def _sample(self) -> None:
        c = self.code
        vis = self.a.visible
        c("def sample(self, n, steps=None):")
        with c.indent():
            c.docstring(
                f"n draws of the visible units by block Gibbs sampling, `steps` sweeps (default 1000)\n"
                f"from uniformly random units; each sweep draws {', '.join(self.a.hidden + vis)} in turn,\n"
                f"each given the others. Returns "
                + ("an array" if len(vis) == 1 else "a dict name -> array")
                + " with n rows."
            )
            c("steps = 1000 if steps is None else int(steps)")
            for name in vis:
                c(f"{name} = {self._initial_state(name, 'int(n)')}")
            c("for _ in range(steps):")
            with c.indent():
                c(*self._sweep_lines("int(n)"))
            c(f"return {vis[0]}" if len(vis) == 1 else "return {" + ", ".join(f"{v!r}: {v}" for v in vis) + "}")
        c("")

    def _reconstruct(self) -> None:
        c = self.code
        vis = self.a.visible
        c(f"def reconstruct(self, *, {', '.join(vis)}):")
        with c.indent():
            c.docstring(
                "Mean-field reconstruction: the hidden means given the visible units,\n"
                "then the visible means given those."
            )
            c(f"{self._unpack(vis)}, single = self._batches({', '.join(f'{v}={v}' for v in vis)})")
            c(*self._sweep_lines(f"{vis[0]}.shape[0]", sample=False))
            if len(vis) == 1:
                c(f"return self._unbatch({vis[0]}, single)")
            else:
                c("return {" + ", ".join(f"{v!r}: self._unbatch({v}, single)" for v in vis) + "}")
        c("")

    def _complete(self) -> None:
        c = self.code
        vis = self.a.visible
        c(f"def complete(self, mask, *, steps=200, {', '.join(vis)}):")
        with c.indent():
            c.docstring(
                "Fill in the visible units where mask is False; keep those where it is True.\n\n"
                "A Gibbs chain with the kept units clamped; each filled unit is the average of its\n"
                "conditional mean over the last `steps` sweeps (after steps // 4 sweeps of burn-in),\n"
                "an estimate of E[x | kept units]: a probability for bernoulli units.\n"
                + (
                    "mask: boolean, shaped like the visible array."
                    if len(vis) == 1
                    else "mask: dict name -> boolean array shaped like that group."
                )
            )
            c(f"{self._unpack(vis)}, single = self._batches({', '.join(f'{v}={v}' for v in vis)})")
            for v in vis:
                src = "mask" if len(vis) == 1 else f"mask[{v!r}]"
                c(f"keep_{v} = np.broadcast_to(np.asarray({src}, dtype=bool), {v}.shape)")
                c(f"known_{v} = {v}")
                c(f"{v} = np.where(keep_{v}, known_{v}, {self._initial_state(v, f'{v}.shape[0]')})")
                c(f"total_{v} = np.zeros_like(known_{v})")
            c("burn_in = steps // 4")
            c("for step in range(burn_in + steps):")
            with c.indent():
                count = f"{vis[0]}.shape[0]"
                for name in self.a.hidden:
                    c(f"{name} = {self.call('sample', name, count)}")
                for v in vis:
                    sampler = self.ctx.helper(f"sample_{self.a.groups[v].unit.sample}")
                    c(f"mean_{v} = {self.call('mean', v, count)}")
                    c(f"{v} = np.where(keep_{v}, known_{v}, {sampler}(self.rng, mean_{v}))")
                c("if step >= burn_in:")
                with c.indent():
                    for v in vis:
                        c(f"total_{v} += mean_{v}")
            for v in vis:
                c(f"{v} = np.where(keep_{v}, known_{v}, total_{v} / max(steps, 1))")
            if len(vis) == 1:
                c(f"return self._unbatch({vis[0]}, single)")
            else:
                c("return {" + ", ".join(f"{v!r}: self._unbatch({v}, single)" for v in vis) + "}")
        c("")

    def _log_prob(self) -> None:
        c = self.code
        vis = self.a.visible
        if "hidden" not in self.a.summable:
            return
        units = registry().units
        sides = {}
        for side in ("visible", "hidden"):
            names = self.a.visible if side == "visible" else self.a.hidden
            other = "hidden" if side == "visible" else "visible"
            if other in self.a.summable and all(len(units[self.a.groups[n].unit.name].values) == 2 for n in names):
                sides[side] = names
        c(f"def log_prob(self, *, {', '.join(vis)}):")
        with c.indent():
            c.docstring(f"log p({', '.join(vis)}) = -F({', '.join(vis)}) - log Z, exactly (see log_partition).")
            c(f"{self._unpack(vis)}, single = self._batches({', '.join(f'{v}={v}' for v in vis)})")
            c(f"return self._unbatch(-self._free_energy({', '.join(vis)}) - self.log_partition(), single)")
        c("")
        c("def log_partition(self):")
        with c.indent():
            c.docstring(
                "log Z = log sum over every state of exp(-E), exactly: the side with fewer units\n"
                "(visible or hidden, at most 20 units) is enumerated, the other summed out in closed form\n"
                "by its free energy. Larger models need an estimate (annealed importance sampling, AIS)."
            )
            sizes = {
                side: " + ".join(f"int(np.prod(self._shape({tuple(self.a.groups[n].dims)!r})))" for n in names)
                for side, names in sides.items()
            }
            for side, expr in sizes.items():
                c(f"size_{side} = {expr}")
            names = list(sides)
            sized = [f"size_{side}" for side in names]
            c(f"smallest = min({', '.join(sized)})" if len(sized) > 1 else f"smallest = {sized[0]}")
            c("if smallest > 20:")
            with c.indent():
                c("raise ValueError(")
                c('    "log_partition: exact enumeration needs a side of at most 20 units, "')
                c('    f"the smallest here has {smallest}; estimate log Z with annealed importance sampling (AIS)"')
                c(")")
            free = {"visible": "self._free_energy", "hidden": "self._free_energy_hidden"}
            calls = {
                side: f"self._enumerate(size_{side}, {free[side]}, {self._split_spec(sides[side])})" for side in names
            }
            if len(names) > 1:
                c(f"if size_{names[0]} == smallest:")
                with c.indent():
                    c(f"return {calls[names[0]]}")
            c(f"return {calls[names[-1]]}")
        c("")
        if "hidden" in sides and "free_energy_hidden" in self.a.graphs:
            g = self.a.graphs["free_energy_hidden"]
            args = self._inputs_of(g)
            self._private(
                "_free_energy_hidden",
                args,
                f"F({', '.join(args)}) = -log sum over the visible units of exp(-E) = "
                f"{self._formula(g, 'free_energy')}",
                g,
                "free_energy",
            )
        c.block('''
def _enumerate(self, size, free_energy, groups):
    """log sum over all 2**size states of exp(-free_energy(state)), in chunks of 2**14 states."""
    bits = np.arange(size)
    total = -np.inf
    for start in range(0, 2**size, 2**14):
        codes = np.arange(start, min(2**size, start + 2**14))
        states = ((codes[:, None] >> bits) & 1).astype(self.dtype)
        parts, offset = [], 0
        for dims, low, high in groups:
            shape = self._shape(dims)
            count = int(np.prod(shape))
            chunk = states[:, offset:offset + count].reshape((-1,) + shape)
            parts.append(low + (high - low) * chunk)
            offset += count
        terms = -free_energy(*parts)
        top = max(total, float(terms.max()))
        total = top + np.log(np.exp(total - top) + np.exp(terms - top).sum())
    return float(total)
''')
        c("")

    def _split_spec(self, names) -> str:
        items = []
        for n in names:
            values = self.a.groups[n].unit.values
            items.append(f"({tuple(self.a.groups[n].dims)!r}, {values[0]!r}, {values[1]!r})")
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

    def _save_load(self) -> None:
        self.code.block('''
def save(self, path):
    """Write the dims and params to an .npz file."""
    arrays = {f"param.{k}": v for k, v in self.params.items()}
    arrays.update({f"dim.{k}": np.asarray(v) for k, v in self.dims.items()})
    np.savez(path, **arrays)

def load(self, path):
    """Read dims and params written by save (in place; returns self)."""
    with np.load(path) as f:
        dims = {k[4:]: int(f[k]) for k in f.files if k.startswith("dim.")}
        params = {k[6:]: np.array(f[k], dtype=self.dtype) for k in f.files if k.startswith("param.")}
    if set(params) != set(self.params):
        raise ValueError(f"{path}: params {sorted(params)} do not match this model's {sorted(self.params)}")
    self.dims.update(dims)
    for k, v in params.items():
        if v.shape != self._shape(self.param_dims[k]):
            raise ValueError(f"{path}: param {k} has shape {v.shape}, expected {self._shape(self.param_dims[k])}")
    self.params = params
    return self
''')
