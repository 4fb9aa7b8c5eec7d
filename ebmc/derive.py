"""What the compiler derives for a model, checked and shown: `ebmc check` and `ebmc derive`.

`check` computes the gradient of the energy with respect to every trained param,
and the field -dE/dX of every unit group, three independent ways at a few random
points, with every dim shrunk to at most 3:

    autodiff   the derived graphs the generated code runs (reverse mode, simplified),
    symbolic   sympy.diff of the energy built from the op table's sympy rules,
    numeric    central differences (E(x + eps) - E(x - eps)) / (2 eps) of the energy,

and says where they disagree. The derived graphs come from the energy as the
analysis rewrote it onto the values of two-valued units (`passes/energy.py`),
equal to the energy as written at every point checked (units take their
values there): sympy differentiates the rewritten energy, central differences
the written one. For a group rewritten that way the field is not a derivative
of the written energy but a difference of it, so its numeric reference is

    -dE/dx_j = -(E(x_j = b) - E(x_j = a)) / (b - a)        (a, b: the unit's values)

of the written energy, where the group is independent (else the rewritten
energy's central differences).

Numeric differences cost two evaluations an entry, so at most NUMERIC_BUDGET
entries of a model are taken by differences, shared among its vars (each gets
at least one): a var with more entries than its share has that many chosen at
random, and all of it is also compared along a random direction u (the central
difference of E(x + t u) against gradient . u). A model with a value (a var or
an intermediate) of more than CHECK_LIMIT entries even with dims shrunk (sizes
written as numbers are not shrunk) is not checked: the report says so in a
note, and that is not a disagreement. Every such choice is a note.

`derive` prints the energy, the conditional of
every unit group, the free energy and the gradients as formulas, in the
language's own notation or in LaTeX.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from .ir.evaluate import Plan, evaluate, resolve
from .ir.graph import args, formula, formula_parts, leaves
from .ir.printing import Printer, TextPrinter
from .passes.symbolic import SymbolicError, lambdify, symbolic_gradients

MAX_DIM = 3  # every dim is shrunk to at most this, so that sympy stays fast
PARAM_STD = 0.5  # params ~ N(0, PARAM_STD)
SYMBOLIC_LIMIT = 400  # beyond this many scalar entries (dims written as numbers), sympy is skipped
POINTS = 3  # random points each gradient is compared at
NUMERIC_BUDGET = 240  # entries taken by numeric differences, per model and point, shared among its vars
CHECK_LIMIT = 1_000_000  # a model with a value of more entries (after shrinking) is not checked
EPS = 1e-6
RTOL, ATOL = 1e-5, 1e-6


# ---------------------------------------------------------------- check
@dataclass(frozen=True)
class CheckRow:
    """One gradient of one model: the largest differences between the three ways of computing it.

    A difference is None where that way could not be used (see `CheckReport.notes`).
    """

    model: str
    gradient: str  # "dE/dW" for a param, "-dE/dv" (the field) for a unit group
    autodiff_numeric: float
    symbolic_numeric: float | None
    autodiff_symbolic: float | None
    disagree: tuple[str, ...] = ()  # the pairs out of tolerance, e.g. ("autodiff/numeric",)

    @property
    def ok(self) -> bool:
        return not self.disagree


@dataclass
class CheckReport:
    rows: list[CheckRow] = field(default_factory=list)
    dims: dict[str, dict[str, int]] = field(default_factory=dict)  # model -> the dims checked at
    notes: list[str] = field(default_factory=list)
    seed: int = 0
    points: int = POINTS
    skipped: dict[str, str] = field(default_factory=dict)  # model -> why it was not checked

    @property
    def ok(self) -> bool:
        """No gradient disagrees (a model too large to check is in `skipped`, not a disagreement)."""
        return all(r.ok for r in self.rows)

    def table(self) -> str:
        """The rows as an aligned text table."""
        header = (
            "model",
            "gradient",
            "max |autodiff - numeric|",
            "max |symbolic - numeric|",
            "max |autodiff - symbolic|",
            "ok",
        )
        body = [
            (
                r.model,
                r.gradient,
                _err(r.autodiff_numeric),
                _err(r.symbolic_numeric),
                _err(r.autodiff_symbolic),
                "ok" if r.ok else "FAIL",
            )
            for r in self.rows
        ]
        widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
        return "\n".join(
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [header, *body]
        )

    def summary(self) -> str:
        """One line per model on where it was checked, then the verdict."""
        lines = []
        for model, dims in self.dims.items():
            at = ", ".join(f"{k}={v}" for k, v in dims.items()) or "no dims"
            lines.append(
                f"model {model}: checked at {at}, {self.points} random points (params ~ N(0, "
                f"{PARAM_STD}), units and data drawn from their types' values, seed {self.seed})"
            )
        lines += [f"model {model}: not checked: {why}" for model, why in self.skipped.items()]
        lines.extend(f"note: {n}" for n in self.notes)
        unchecked = f"; {len(self.skipped)} model{'s' if len(self.skipped) != 1 else ''} not checked" * bool(
            self.skipped
        )
        if not self.rows and self.skipped:
            lines.append(f"no gradients were checked{unchecked}")
        elif self.ok:
            lines.append(
                f"all {len(self.rows)} gradients agree (tolerance {ATOL:g} + {RTOL:g} * |reference|){unchecked}"
            )
        else:
            lines.append("gradients disagree:")
            lines += [f"  {r.model} {r.gradient}: {', '.join(r.disagree)}" for r in self.rows if not r.ok]
        return "\n".join(lines)


def _err(x: float | None) -> str:
    if x is None:
        return "-"
    return "0" if x == 0 else f"{x:.1e}"


def _differ(x: np.ndarray, reference: np.ndarray) -> tuple[float, bool]:
    """max |x - reference|, and whether it is out of tolerance somewhere (a NaN is)."""
    with np.errstate(invalid="ignore"):
        err = np.abs(x - reference)
        return float(err.max(initial=0.0)), bool(np.any(~(err <= ATOL + RTOL * np.abs(reference))))


def shrunk_dims(model, max_size: int = MAX_DIM) -> dict[str, int]:
    return {k: min(v, max_size) for k, v in model.dims.items()}


def random_point(analysis, dims: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A value for every var of the model: units from their unit type's values, data by its type,
    params ~ N(0, PARAM_STD), made symmetric or zero on the diagonal where declared so. Drawn in
    file order, so a seed always gives the same point.

    A group of several units always holds more than one value: where every unit of a binary
    group is 0, the gradients that the group multiplies vanish and prove nothing.
    """
    model = analysis.model
    out = {}
    for name, var in model.variables.items():
        shape = resolve(var.dims, dims)
        group = getattr(analysis, "groups", {}).get(name)  # a network has no unit groups
        choices = group.unit.values if group is not None else (0.0, 1.0) if var.type == "binary" else ()
        if choices:
            x = rng.choice(np.asarray(choices, dtype=float), size=shape)
            if x.size > 1 and np.all(x == x.flat[0]):
                x.flat[rng.integers(x.size)] = next(c for c in choices if c != x.flat[0])
            out[name] = x
        elif var.type == "onehot" and shape:
            out[name] = np.eye(shape[-1])[rng.integers(shape[-1], size=shape[:-1])]
        else:
            out[name] = rng.normal(0.0, 1.0, shape)
    for name, p in model.params.items():
        value = rng.normal(0.0, PARAM_STD, resolve(p.dims, dims))
        if "symmetric" in p.attrs:  # what the declaration says holds: the derived graphs may use it
            value = (value + value.T) / 2
        if "zero_diagonal" in p.attrs:
            np.fill_diagonal(value, 0.0)
        out[name] = value
    return out


def _largest_value(analysis, dims) -> tuple[str, int]:
    """(what, entries) of the largest value the check would hold: a var or an intermediate."""
    best = ("", 0)
    for key, g in analysis.graphs.items():
        for _, d in g.nodes(data=True):
            try:
                size = math.prod(resolve(d["shape"], dims))
            except Exception:  # a dim the model does not have (a plugin's graph): not ours to size
                continue
            if size > best[1]:
                what = f"'{d['name']}'" if "name" in d else f"a value of the {key.replace('_', ' ')} graph"
                best = (what, size)
    return best


@dataclass(frozen=True)
class _Numeric:
    """How one var's gradient is taken numerically at each point."""

    graph: nx.DiGraph  # the energy differentiated
    entries: np.ndarray  # flat indices taken one by one
    direction: np.ndarray | None  # all of the var along this direction too (None: every entry is taken)
    values: tuple[float, float] | None = None  # a unit's two values: a difference between them, not a derivative


def _shares(sizes: dict[str, int], budget: int) -> dict[str, int]:
    """Entries per var: the budget shared out, smallest vars first, each at least one."""
    out, left = {}, budget
    order = sorted(sizes, key=lambda w: sizes[w])
    for i, w in enumerate(order):
        out[w] = min(sizes[w], max(1, left // (len(order) - i)))
        left -= out[w]
    return out


def _check_dims(analysis, report: CheckReport, max_size: int) -> dict | None:
    """The dims a model is checked at (recorded in `report`), or None where even with every dim
    shrunk a value is too large to evaluate (the report says so)."""
    model = analysis.model
    dims = shrunk_dims(model, max_size)
    what, size = _largest_value(analysis, dims)
    if size > CHECK_LIMIT:
        report.skipped[model.name] = (
            f"{what} has {size:,} entries even with every dim shrunk to {max_size} (sizes written as numbers "
            f"are not shrunk), more than the {CHECK_LIMIT:,} the check evaluates; write large sizes as dims"
        )
        return None
    report.dims[model.name] = dims
    return dims


def check_model(analysis, report: CheckReport, max_size: int = MAX_DIM, points: int = POINTS) -> None:
    """Add one row per trained param and per unit group of an analysed energy model to `report`:
    the largest differences over `points` random points."""
    model = analysis.model
    dims = _check_dims(analysis, report, max_size)
    if dims is None:
        return
    written = analysis.graphs["energy"]
    energy = analysis.graphs.get("energy_support", written)
    found = leaves(energy)
    params = [p for p in analysis.trained_params if p in found]
    groups = [x for x in analysis.groups if x in found]
    wrt = params + groups
    rng = np.random.default_rng(report.seed)
    at = [random_point(analysis, dims, rng) for _ in range(points)]
    for name, grp in analysis.groups.items():  # a one-unit group that is 0 at every point proves nothing either
        if points > 1 and all(np.array_equal(p[name], at[0][name]) for p in at):
            x = at[-1][name]
            x.flat[0] = next(c for c in grp.unit.values if c != x.flat[0])

    sizes = {w: int(np.size(at[0][w])) for w in wrt}
    how = _numeric_plan(analysis, wrt, sizes, at[0], rng)
    _sampling_notes(report, model.name, how, sizes, max_size)
    for w in groups:
        if how[w].values is not None:
            low, high = how[w].values
            report.notes.append(
                f"model {model.name}: the units of {w} take the values {low:g} and {high:g} only, where the "
                f"energy was made affine in each of them; -dE/d{w} is checked against -(E({w}_j = {high:g}) - "
                f"E({w}_j = {low:g})) / {high - low:g} of the energy as written"
            )
    symbolic = None
    total = sum(int(np.size(at[0][w])) for w in found)
    if total > SYMBOLIC_LIMIT:
        report.notes.append(
            f"model {model.name}: {total} scalar entries even with dims shrunk to "
            f"{max_size}; the symbolic gradients were skipped"
        )
    else:
        try:
            symbolic = lambdify(energy, symbolic_gradients(energy, "energy", wrt, dims), dims)
        except SymbolicError as exc:
            report.notes.append(f"model {model.name}: no symbolic gradients ({exc})")

    plan = Plan(written, dims, None, ["energy"])
    for i, values in enumerate(at):
        with np.errstate(all="ignore"):
            e = float(plan.run(values)["energy"])
        if not math.isfinite(e):
            report.notes.append(
                f"model {model.name}: the energy is {e} at random point {i + 1} (a function outside its "
                "domain, as sqrt or log of a negative param?); gradients that are not numbers there disagree"
            )
    labels = {w: f"dE/d{w}" if w in params else f"-dE/d{w}" for w in wrt}

    def autodiff(values):
        return _autodiff(analysis, params, groups, values, dims)

    _compare(report, model.name, labels, at, how, dims, autodiff, symbolic)


def _compare(report, model: str, labels: dict, at: list, how: dict, dims, autodiff, symbolic, output="energy") -> None:
    """One row of `report` per var of `labels` (name -> the gradient's name in the table): the
    largest differences between autodiff (`autodiff(values)`), `symbolic` (or None) and numeric
    differences of `output` at the points `at`."""
    wrt = list(labels)
    worst = {w: {"autodiff/numeric": 0.0, "symbolic/numeric": 0.0, "autodiff/symbolic": 0.0} for w in wrt}
    bad = {w: set() for w in wrt}
    plans: dict = {}
    for values in at:
        with np.errstate(all="ignore"):  # an inf on the way is numpy's business; a NaN at the end disagrees
            numeric = _numeric(how, values, dims, plans, output)
            ways = {"autodiff": autodiff(values)}
            if symbolic is not None:
                ways["symbolic"] = symbolic(values)
        for w in wrt:
            pairs = [("autodiff", "numeric"), ("symbolic", "numeric"), ("autodiff", "symbolic")]
            for x, y in pairs:
                if x not in ways or (y != "numeric" and y not in ways):
                    continue
                if y == "numeric":
                    got, ref = _taken(ways[x][w], how[w]), numeric[w]
                else:
                    got, ref = ways[x][w], ways[y][w]
                err, out_of_tolerance = _differ(got, ref)
                key = f"{x}/{y}"
                worst[w][key] = max(worst[w][key], err)
                if out_of_tolerance:
                    bad[w].add(key)
    sym = symbolic is not None
    for w in wrt:
        e = worst[w]
        report.rows.append(
            CheckRow(
                model,
                labels[w],
                e["autodiff/numeric"],
                e["symbolic/numeric"] if sym else None,
                e["autodiff/symbolic"] if sym else None,
                tuple(k for k in e if k in bad[w]),
            )
        )


def check_network(analysis, report: CheckReport, max_size: int = MAX_DIM, points: int = POINTS) -> None:
    """Add one row per trained param of an analysed network to `report`: dL/dtheta of the loss of one
    sample by the graph the generated code runs, by sympy and by central differences, at `points`
    random points (inputs ~ N(0, 1), targets of their data type: one-hot rows, 0/1 or N(0, 1))."""
    model = analysis.model
    dims = _check_dims(analysis, report, max_size)
    if dims is None:
        return
    loss = analysis.graphs["loss"]
    params = [p for p in analysis.trained_params if p in leaves(loss)]
    rng = np.random.default_rng(report.seed)
    at = [random_point(analysis, dims, rng) for _ in range(points)]
    sizes = {w: int(np.size(at[0][w])) for w in params}
    shares = _shares(sizes, NUMERIC_BUDGET)
    how = {}
    for w in params:
        sampled = shares[w] < sizes[w]
        take = np.sort(rng.choice(sizes[w], shares[w], replace=False)) if sampled else np.arange(sizes[w])
        how[w] = _Numeric(loss, take, rng.normal(size=np.shape(at[0][w])) if sampled else None)
    _sampling_notes(report, model.name, how, sizes, max_size)
    symbolic = None
    total = sum(int(np.size(at[0][w])) for w in leaves(loss))
    if total > SYMBOLIC_LIMIT:
        report.notes.append(
            f"model {model.name}: {total} scalar entries even with dims shrunk to {max_size}; the symbolic "
            "gradients were skipped"
        )
    else:
        try:
            symbolic = lambdify(loss, symbolic_gradients(loss, "loss", params, dims), dims)
        except SymbolicError as exc:
            report.notes.append(f"model {model.name}: no symbolic gradients ({exc})")

    def autodiff(values):
        grads = evaluate(analysis.graphs["grad"], values, dims, outputs=params)
        return {p: np.broadcast_to(grads[p], np.shape(values[p])) for p in params}

    _compare(report, model.name, {p: f"dL/d{p}" for p in params}, at, how, dims, autodiff, symbolic, "loss")


def _numeric_plan(analysis, wrt, sizes, point, rng) -> dict:
    """name -> how its gradient is taken numerically: the entries (all, or a random share of the
    budget) and a random direction where not all; for a group made affine on its two values, the
    difference between them on the written energy where the group is independent."""
    written = analysis.graphs["energy"]
    energy = analysis.graphs.get("energy_support", written)
    shares = _shares(sizes, NUMERIC_BUDGET)
    how = {}
    for w in wrt:
        grp = analysis.groups.get(w)
        discrete = grp is not None and grp.on_support and grp.independent
        sampled = shares[w] < sizes[w]
        take = np.sort(rng.choice(sizes[w], shares[w], replace=False)) if sampled else np.arange(sizes[w])
        direction = rng.normal(size=np.shape(point[w])) if sampled and not discrete else None
        graph = written if grp is None or not grp.on_support or discrete else energy
        how[w] = _Numeric(graph, take, direction, tuple(sorted(grp.unit.values)) if discrete else None)
    return how


def _sampling_notes(report: CheckReport, model: str, how: dict, sizes: dict, max_size: int) -> None:
    """One note per (entries taken, size) of the vars not taken whole."""
    partial: dict = {}
    for w, h in how.items():
        if len(h.entries) < sizes[w]:
            partial.setdefault((len(h.entries), sizes[w], h.direction is not None), []).append(w)
    for (k, size, along), names in partial.items():
        listing = ", ".join(names)
        whose = f"each of {listing}" if len(names) > 1 else listing
        rest = "; all of it along a random direction" if along else ""
        report.notes.append(
            f"model {model}: {whose} has {size} entries even with dims shrunk to {max_size}: {k} of them, "
            f"chosen at random, were checked by numeric differences{rest}"
        )


def _autodiff(analysis, params, groups, values, dims) -> dict[str, np.ndarray]:
    """dE/dtheta from the derived gradient graph, and dE/dX = -field from each conditional's graph."""
    out = {}
    if params:
        grads = evaluate(analysis.graphs["grad"], values, dims)
        out.update({p: np.broadcast_to(grads[p], np.shape(values[p])) for p in params})
    for x in groups:
        field = evaluate(analysis.graphs[f"field_{x}"], values, dims, outputs=["field"])["field"]
        out[x] = -np.broadcast_to(field, np.shape(values[x]))
    return out


def _numeric(how: dict, values, dims, plans: dict, output: str = "energy") -> dict[str, np.ndarray]:
    """name -> its derivatives at the entries taken (then, where there is one, along the direction):
    central differences of its graph, or the difference between a unit's two values."""
    out = {}
    for w, h in how.items():
        key = id(h.graph)
        if key not in plans:
            plans[key] = Plan(h.graph, dims, None, [output])
        plan = plans[key]

        def energy_at(x, w=w, plan=plan):
            return float(plan.run({**values, w: x})[output])

        x = np.array(values[w], dtype=np.float64)
        flat = x.reshape(-1)  # a view: writing an entry of flat writes x
        taken = []
        for i in h.entries:
            saved = flat[i]
            low, high = h.values if h.values is not None else (saved - EPS, saved + EPS)
            flat[i] = high
            up = energy_at(x)
            flat[i] = low
            down = energy_at(x)
            flat[i] = saved
            taken.append((up - down) / (high - low))
        if h.direction is not None:
            up, down = energy_at(x + EPS * h.direction), energy_at(x - EPS * h.direction)
            taken.append((up - down) / (2 * EPS))
        out[w] = np.asarray(taken)
    return out


def _taken(gradient: np.ndarray, h: _Numeric) -> np.ndarray:
    """The gradient at the entries numeric differences took, and along their direction."""
    flat = np.asarray(gradient, dtype=np.float64).reshape(-1)
    parts = [flat[h.entries]]
    if h.direction is not None:
        parts.append([np.sum(flat * h.direction.reshape(-1))])
    return np.concatenate(parts)


def check(analyses, seed: int = 0, max_size: int = MAX_DIM, points: int = POINTS) -> CheckReport:
    """Compare autodiff, symbolic and numerical gradients of every analysed model."""
    report = CheckReport(seed=seed, points=points)
    for a in analyses:
        (check_model if a.model.energy is not None else check_network)(a, report, max_size, points)
    return report


# ---------------------------------------------------------------- derive
@dataclass(frozen=True)
class Conditional:
    group: str
    unit: str  # the unit type's name
    given: tuple[str, ...]
    binary: bool  # values {0, 1}: the mean is p(x = 1 | ...)
    field: tuple  # (graph, node) of -dE/dX
    mean: tuple  # (graph, node) of E[X | rest]
    independent: bool = True  # False: the units of X interact, the field depends on X itself
    precision: tuple | None = None  # (graph, node) of d2E/dX2, for a quadratic group


@dataclass(frozen=True)
class Derivation:
    """What the compiler derived for one energy model, as (graph, node) pairs to print."""

    model: str
    variables: tuple[str, ...]  # the arguments of E: unit groups, then conditions
    energy: tuple
    conditionals: tuple[Conditional, ...]
    free_energies: tuple[tuple[str, str, tuple], ...]  # (kept, summed out, (graph, node))
    gradients: tuple[tuple[str, tuple], ...]  # (param, (graph, node))
    no_free_energy: str | None  # why F(v) has no closed form, when it has none
    visible: tuple[str, ...] = ()  # the arguments of F(v): visible groups, then conditions


def derivation(analysis) -> Derivation:
    model = analysis.model
    units = list(analysis.groups)
    conditions = [n for n, v in model.variables.items() if v.role == "input"]
    energy = analysis.graphs["energy"]
    conditionals = []
    for name, grp in analysis.groups.items():
        g = analysis.graphs[f"conditional_{name}" if grp.independent else f"field_{name}"]
        out = g.graph["outputs"]
        given = tuple(u for u in units if u != name) + tuple(conditions)
        whole = analysis.graphs[f"field_{name}"]  # -dE/dX itself (the conditional's field is at X = 0)
        conditionals.append(
            Conditional(
                name,
                grp.unit.name,
                given,
                tuple(grp.unit.values) == (0.0, 1.0),
                (whole, whole.graph["outputs"]["field"]),
                (g, out.get("mean", out["field"])),
                grp.independent,
                (g, out["precision"]) if "precision" in out else None,
            )
        )
    free = []
    for key, kept, summed in (
        ("free_energy", analysis.visible, analysis.hidden),
        ("free_energy_hidden", analysis.hidden, analysis.visible),
    ):
        if key in analysis.graphs:
            g = analysis.graphs[key]
            free.append((", ".join(kept + conditions), ", ".join(summed), (g, g.graph["outputs"]["free_energy"])))
    why = None
    if "free_energy" not in analysis.graphs and analysis.hidden:
        why = "the hidden units interact with each other, so they do not sum out"
    grad = analysis.graphs["grad"]
    gradients = tuple(
        (p, (grad, grad.graph["outputs"][p])) for p in analysis.trained_params if p in grad.graph["outputs"]
    )
    return Derivation(
        model.name,
        tuple(units + conditions),
        (energy, energy.graph["outputs"]["energy"]),
        tuple(conditionals),
        tuple(free),
        gradients,
        why,
        tuple(analysis.visible + conditions),
    )


class TextStyle:
    """The language's own notation: `p(h = 1 | v) = sigmoid(b + v @ W)`.

    A formula that names subexpressions (see `ebmc.ir.graph`) is followed by its lines
    `where _k = ...`, indented one step more.
    """

    def parts(self, g, n) -> tuple[str, list[tuple[str, str]]]:
        """The formula of node n, and its where bindings [(name, text)]."""
        return formula_parts(g, n)

    def formula(self, g, n) -> str:
        return formula(g, n)

    def equation(self, indent: str, lhs: str, node: tuple, rhs_prefix: str = "") -> list[str]:
        """`lhs = formula` and its where lines, as lines indented by `indent`."""
        text, where = self.parts(*node)
        return [f"{indent}{lhs} = {rhs_prefix}{text}"] + [f"{indent}  where {name} = {body}" for name, body in where]

    def energy(self, d: Derivation) -> str:
        return f"E({', '.join(d.variables)})"

    def field(self, c: Conditional) -> str:
        return f"-dE/d{c.group}"

    def precision(self, c: Conditional) -> str:
        return f"d2E/d{c.group}2"

    def mean(self, c: Conditional) -> str:
        given = f" | {', '.join(c.given)}" if c.given else ""
        return f"p({c.group} = 1{given})" if c.binary else f"E[{c.group}{given}]"

    def free_energy(self, kept: str, summed: str, d: Derivation) -> str:
        """`F(v) = -log sum_h exp(-E(v, h))`; with nothing kept, the log partition function."""
        lhs = f"F({kept})" if kept else "-log Z"
        return f"{lhs} = -log sum_{summed} exp(-{self.energy(d)})"

    def gradient(self, p: str) -> str:
        return f"dE/d{p}"

    def derive(self, d: Derivation) -> str:
        out = [f"model {d.model}", "  energy:", *self.equation("    ", self.energy(d), d.energy), "  conditionals:"]
        for c in d.conditionals:
            if not c.independent:
                out += [
                    f"    {c.group} ({c.unit}, its units interact: the field depends on {c.group} itself):",
                    *self.equation("      ", self.field(c), c.field),
                ]
                continue
            given = f", independent given {', '.join(c.given)}" if c.given else ", independent"
            out += [
                f"    {c.group} ({c.unit}{given}):",
                *self.equation("      ", self.field(c), c.field),
                *(self.equation("      ", self.precision(c), c.precision) if c.precision else []),
                *self.equation("      ", self.mean(c), c.mean),
            ]
        out.append("  free energy:")
        if d.no_free_energy:
            out.append(f"    F({', '.join(d.visible)}): no closed form: {d.no_free_energy}")
        elif len(d.visible) == len(d.variables):
            out.append(f"    F({', '.join(d.visible)}) = {self.energy(d)} (there are no hidden units)")
        for kept, summed, node in d.free_energies:
            lhs, _, definition = self.free_energy(kept, summed, d).partition(" = ")
            out += self.equation("    ", lhs, node, f"{definition} = ")
        out.append("  gradients:")
        for p, node in d.gradients:
            out += self.equation("    ", self.gradient(p), node)
        return "\n".join(out)


class LatexStyle(TextStyle):
    r"""LaTeX, one `align*` block per model: `p(h = 1 \mid v) &= \sigma(b + W^\top v)`.

    The where bindings of a formula are rows of their own after it:
    `\text{where } \_1 &= ...`.
    """

    def parts(self, g, n) -> tuple[str, list[tuple[str, str]]]:
        return LatexPrinter(g).parts(n)

    def formula(self, g, n) -> str:
        return latex(g, n)

    def _names(self, names) -> str:
        return ", ".join(latex_name(x) for x in names)

    def energy(self, d: Derivation) -> str:
        return f"E({self._names(d.variables)})"

    def field(self, c: Conditional) -> str:
        return rf"-\frac{{\partial E}}{{\partial {latex_name(c.group)}}}"

    def precision(self, c: Conditional) -> str:
        return rf"\frac{{\partial^2 E}}{{\partial {latex_name(c.group)}^2}}"

    def mean(self, c: Conditional) -> str:
        x = latex_name(c.group)
        given = rf" \mid {self._names(c.given)}" if c.given else ""
        return f"p({x} = 1{given})" if c.binary else rf"\mathbb{{E}}[{x}{given}]"

    def free_energy(self, kept: str, summed: str, d: Derivation) -> str:
        lhs = f"F({self._names(kept.split(', '))})" if kept else r"-\log Z"
        summed_tex = self._names(summed.split(", "))
        return rf"{lhs} = -\log \sum_{{{summed_tex}}} e^{{-{self.energy(d)}}}"

    def gradient(self, p: str) -> str:
        return rf"\frac{{\partial E}}{{\partial {latex_name(p)}}}"

    def rows(self, lhs: str, node: tuple, rhs_prefix: str = "") -> list[tuple[str, str]]:
        """The (lhs, rhs) rows of `lhs = formula` and of its where bindings."""
        text, where = self.parts(*node)
        return [(lhs, rhs_prefix + text)] + [(rf"\text{{where }} {name}", body) for name, body in where]

    def derive(self, d: Derivation) -> str:
        lines = self.rows(self.energy(d), d.energy)
        notes = []
        for c in d.conditionals:
            if not c.independent:
                notes.append(f"% {c.group}: {c.unit} units that interact (the field depends on {c.group} itself)")
                lines += self.rows(self.field(c), c.field)
                continue
            notes.append(
                f"% {c.group}: {c.unit} units, independent" + (f" given {', '.join(c.given)}" if c.given else "")
            )
            lines += self.rows(self.field(c), c.field)
            lines += self.rows(self.precision(c), c.precision) if c.precision else []
            lines += self.rows(self.mean(c), c.mean)
        for kept, summed, node in d.free_energies:
            lhs, _, definition = self.free_energy(kept, summed, d).partition(" = ")
            lines += self.rows(lhs, node, f"{definition} = ")
        for p, node in d.gradients:
            lines += self.rows(self.gradient(p), node)
        body = " \\\\\n".join(f"  {lhs} &= {rhs}" for lhs, rhs in lines)
        why = [f"% F: no closed form: {d.no_free_energy}"] if d.no_free_energy else []
        return "\n".join([f"% model {d.model}", *notes, *why, r"\begin{align*}", body, r"\end{align*}"])


def derive(analyses, latex: bool = False) -> str:
    """The derived formulas of every analysed model, as text (or LaTeX)."""
    style = LatexStyle() if latex else TextStyle()
    return "\n\n".join(
        style.derive(derivation(a)) if a.model.energy is not None else network_formulas(network(a.model), latex)
        for a in analyses
    )


# ---------------------------------------------------------------- networks
@dataclass(frozen=True)
class NetworkDerivation:
    """A network's layers, loss and backward pass as nodes of one simplified graph.

    `layers`: (name, kind, node) in file order; `adjoints`: (layer, node of its adjoint
    dL/dlayer) from the loss down, for the layers the loss depends on through a param;
    `gradients`: (param, node of dL/dparam); `loss_name`: `L` (or L1, ... where the model
    has a name L).
    """

    model: str
    graph: nx.DiGraph
    data: tuple[str, ...]
    layers: tuple[tuple[str, str, int], ...]
    loss: int
    adjoints: tuple[tuple[str, int], ...]
    gradients: tuple[tuple[str, int], ...]
    loss_name: str


def network(model) -> NetworkDerivation:
    """The chain rule of a network's loss (`passes.backprop`), simplified, each layer and each
    layer's adjoint an output of its own so that formulas can name them."""
    from .passes.backprop import chain_rule
    from .passes.simplify import simplify

    trained = [name for name, p in model.params.items() if "fixed" not in p.attrs]
    chain = chain_rule(model, trained)
    kinds = {layer.name: layer.kind for layer in model.layers}
    g = chain.graph.copy()
    outputs = {("layer", name): n for name, n in chain.layers.items()}
    outputs[("loss", "")] = chain.loss
    position = {n: k for k, n in enumerate(chain.forward)}
    reached = [name for name, n in chain.layers.items() if n in chain.table.adjoint]
    by_depth = sorted(reached, key=lambda name: -position[chain.layers[name]])  # from the loss down
    for name in by_depth:
        outputs[("adjoint", name)] = chain.table.adjoint[chain.layers[name]]
    for name, n in chain.params.items():
        outputs[("grad", name)] = chain.table.adjoint[n]
    keys = list(outputs)
    g.graph["outputs"] = {str(i): outputs[k] for i, k in enumerate(keys)}
    g = simplify(g)
    node = {k: g.graph["outputs"][str(i)] for i, k in enumerate(keys)}
    return NetworkDerivation(
        model.name,
        g,
        tuple(n for n, v in model.variables.items() if v.role in ("input", "target")),
        tuple((name, kinds[name], node[("layer", name)]) for name in chain.layers),
        node[("loss", "")],
        tuple((name, node[("adjoint", name)]) for name in by_depth),
        tuple((name, node[("grad", name)]) for name in chain.params),
        chain.root,
    )


def network_formulas(d: NetworkDerivation, latex: bool = False) -> str:
    """`ebmc derive` of a network: its layers, its loss, each layer's adjoint from the adjoints
    of the layers after it (the chain rule), and each param's gradient, as text or LaTeX."""
    printer = LatexPrinter if latex else TextPrinter
    name = latex_name if latex else str
    prime = (lambda x: f"{latex_name(x)}'") if latex else (lambda x: f"{x}'")
    L = name(d.loss_name)
    partial = (lambda x: rf"\frac{{\partial {L}}}{{\partial {name(x)}}}") if latex else (lambda x: f"d{L}/d{x}")

    def parts(n, given):
        return printer(d.graph, given).parts(n)

    layers_given = {n: name(layer) for layer, _, n in d.layers}
    rows: list[tuple[str, str, str]] = []  # (section, lhs, rhs)
    seen: dict = {}
    for layer, _, n in d.layers:
        rows.append(("layers", name(layer), parts(n, seen)))
        seen[n] = name(layer)
    data = ", ".join(name(x) for x in d.data)
    rows.append(("loss", f"{L}({data})", parts(d.loss, layers_given)))
    adjoint_given = dict(layers_given)
    for layer, n in d.adjoints:
        adjoint_given.setdefault(n, prime(layer))
    for layer, n in d.adjoints:
        given = {m: t for m, t in adjoint_given.items() if m != n}
        rows.append(("backward", f"{prime(layer)} = {partial(layer)}", parts(n, given)))
    for p, n in d.gradients:
        rows.append(("gradients", partial(p), parts(n, adjoint_given)))
    if latex:
        lines = []
        for _, lhs, (text, where) in rows:
            lines.append(f"  {lhs} &= {text}")
            lines += [rf"  \text{{where }} {w} &= {body}" for w, body in where]
        return "\n".join([f"% model {d.model}", r"\begin{align*}", " \\\\\n".join(lines), r"\end{align*}"])
    heads = {
        "layers": "  layers:",
        "loss": "  loss:",
        "backward": f"  backward (the chain rule: each adjoint v' = d{L}/dv is the sum over the values u that use v "
        "of u' * du/dv):",
        "gradients": "  gradients:",
    }
    out = [f"model {d.model}"]
    section = None
    for sec, lhs, (text, where) in rows:
        if sec != section:
            out.append(heads[sec])
            section = sec
        out.append(f"    {lhs} = {text}")
        out += [f"      where {w} = {body}" for w, body in where]
    return "\n".join(out)


# ---------------------------------------------------------------- LaTeX of graph nodes
# binding strength of what a printer returns: a sum binds loosest, then a negation, a big
# operator (`\sum_j x_j`, which may follow + or - but not be a factor), an elementwise
# product (odot, cdot, otimes), a matrix product written by juxtaposition (`v^\top W h`,
# `2 x`), and an atom (name, function call, fraction, power) tightest
SUM, NEG, BIGOP, PRODUCT, JUXTAPOSED, ATOM = 1, 2, 3, 4, 5, 9

_GREEK = frozenset(
    """alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi pi rho sigma tau
upsilon phi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega""".split()
)
_SPECIAL = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "_": r"\_",
    "^": r"\^{}",
    "#": r"\#",
    "$": r"\$",
    "%": r"\%",
    "&": r"\&",
    "~": r"\~{}",
}


def tex_escape(text: str) -> str:
    """Text with LaTeX's special characters made literal."""
    return "".join(_SPECIAL.get(ch, ch) for ch in text)


def latex_name(name: str) -> str:
    """A var name as math: `W`, `W_{1}` for W1 or W_1, `h_{k}` for h_k, `\\alpha`, `\\mathit{bias}`."""
    if "_" in name:
        base, sub = name.split("_", 1)
        short = sub.isdigit() or (len(sub) == 1 and sub.isalpha()) or sub in _GREEK
    else:
        base = name.rstrip("0123456789")
        sub, short = name[len(base) :], True
    if base.isalpha() and (len(base) == 1 or base in _GREEK) and short:
        head = f"\\{base}" if base in _GREEK else base
        if sub in _GREEK:
            sub = "\\" + sub
        return head if not sub else f"{head}_{{{sub}}}"
    return rf"\mathit{{{tex_escape(name)}}}"


def _op_name(op: str) -> str:
    return rf"\operatorname{{{tex_escape(op)}}}"


def latex(g: nx.DiGraph, n) -> str:
    """The value of node n as a LaTeX formula. Vectors are columns: `v @ W @ h` is `v^\\top W h`."""
    return LatexPrinter(g).doprint(n)


class LatexPrinter(Printer):
    """Node -> LaTeX, dispatched on the op: `_print_<op>` (the sympy printers' pattern).

    Each method returns (text, binding strength). An op without a method of its
    own (a plugin's) is written `\\operatorname{op}(x, ...)`.
    """

    # elementwise functions written as function calls: op -> LaTeX of the function
    FUNCTIONS = {
        "exp": r"\exp",
        "log": r"\log",
        "sigmoid": r"\sigma",
        "tanh": r"\tanh",
        "softplus": r"\mathrm{softplus}",
        "log_sigmoid": r"\log \sigma",
        "sign": r"\operatorname{sign}",
        "step": r"\operatorname{step}",
        "softmax": r"\operatorname{softmax}",
        "logsumexp": r"\operatorname{logsumexp}",
    }

    def __init__(self, g: nx.DiGraph, given: dict | None = None):
        super().__init__(g, given)
        self._memo_transposed: dict = {}

    def name_text(self, name: str) -> str:
        return tex_escape(name)  # `_1` is written `\_1`

    def parts(self, n) -> tuple[str, list[tuple[str, str]]]:
        """The LaTeX of node n, and its where bindings [(name, LaTeX)]: the subexpressions that
        the text formula names."""
        self._memo_transposed = {}
        text, where = super().parts(n)
        return text, where

    def where(self, name: str, body: str) -> str:
        return rf"\text{{where }} {name} = {body}"

    def doprint(self, n) -> str:
        """The LaTeX of node n; with where bindings, rows of an `align` environment."""
        text, where = self.parts(n)
        return " \\\\\n".join([text, *(self.where(name, body) for name, body in where)])

    def _own(self, n) -> tuple[str, int]:
        if n not in self._memo:
            self._memo[n] = self._dispatch(n)
            self._transposed(n)  # operands first: n^T is written from its operands' too
        return self._memo[n]

    def _print_op(self, n, *operands):
        op = self.op(n)
        return self._call(self.FUNCTIONS.get(op) or _op_name(op), operands)

    def _transposed(self, n) -> tuple[str, int]:
        """The LaTeX of n^T (n a vector or a matrix), undoing a transpose where there is one."""
        if n not in self._memo_transposed:
            self._memo_transposed[n] = self._transpose(n)
        return self._memo_transposed[n]

    def _transpose(self, n) -> tuple[str, int]:
        if n in self.names:
            return (self.names[n] if self.rank(n) == 0 else f"{self.names[n]}^\\top"), ATOM
        method = getattr(self, f"_transpose_{self.op(n)}", None)
        found = method(n, *args(self.g, n)) if method is not None else None
        if found is not None:
            return found
        if self.rank(n) == 0 or (self.is_name(n) and self.attrs(n).get("symmetric")):  # L^T = L
            return self._print(n)
        text = self._print(n)[0]
        return (f"{text}^\\top" if self.is_name(n) else f"({text})^\\top"), ATOM

    # n^T where the op writes it better than (n)^T (None: it does not)
    def _transpose_transpose(self, n, x):
        return self._print(x) if self.rank(n) == 2 else None

    def _transpose_neg(self, n, x):
        return f"-{self._wrap_transposed(x, BIGOP)}", NEG

    def _transpose_tensordot(self, n, x, y):
        if self.attrs(n).get("n", 1) != 1 or self.rank(n) != 1:
            return None
        if (self.rank(x), self.rank(y)) == (1, 2):  # (W^T x)^T = x^T W
            return f"{self._wrap_transposed(x, JUXTAPOSED)} {self._wrap(y, JUXTAPOSED)}", JUXTAPOSED
        if (self.rank(x), self.rank(y)) == (2, 1):  # (W x)^T = x^T W^T
            return f"{self._wrap_transposed(y, JUXTAPOSED)} {self._wrap_transposed(x, JUXTAPOSED)}", JUXTAPOSED
        return None

    def _wrap_transposed(self, n, at_least: int) -> str:
        text, prec = self._transposed(n)
        return text if prec >= at_least else f"({text})"

    # -- leaves
    def _print_var(self, n):
        return latex_name(self.g.nodes[n]["name"]), ATOM

    def _print_const(self, n):
        v = float(self.g.nodes[n]["attrs"]["value"])
        text = str(int(v)) if v.is_integer() and abs(v) < 1e15 else f"{v:g}"
        if "e" in text:
            mantissa, _, exponent = text.partition("e")
            text = rf"{mantissa} \cdot 10^{{{int(exponent)}}}"
        if text in ("inf", "-inf", "nan"):
            text = {"inf": r"\infty", "-inf": r"-\infty", "nan": r"\mathrm{NaN}"}[text]
        return text, (NEG if text.startswith("-") else ATOM)

    def _print_numel(self, n):  # the number of entries of a shape: the product of its dims
        dims = [latex_name(d) if isinstance(d, str) else str(d) for d in self.g.nodes[n]["attrs"]["dims"]]
        return (dims[0], ATOM) if len(dims) == 1 else (r" \cdot ".join(dims), PRODUCT)

    def _print_batch_size(self, n):
        return "B", ATOM

    # -- arithmetic
    def _print_add(self, n, x, y):
        return f"{self._print(x)[0]} + {self._wrap(y, BIGOP)}", SUM

    def _print_sub(self, n, x, y):
        return f"{self._print(x)[0]} - {self._wrap(y, BIGOP)}", SUM

    def _print_neg(self, n, x):
        return f"-{self._wrap(x, BIGOP)}", NEG

    def _print_mul(self, n, x, y):
        if self.is_number(x) and not self.is_number(y):  # 2 x, -0.5 x (a const array is one number)
            number, prec = self._print(x)
            return f"{number} {self._wrap(y, JUXTAPOSED)}", min(prec, JUXTAPOSED)
        if self.rank(x) and self.rank(y):
            return f"{self._wrap(x, PRODUCT)} \\odot {self._wrap(y, PRODUCT)}", PRODUCT
        return f"{self._wrap(x, PRODUCT)} \\cdot {self._wrap(y, PRODUCT)}", PRODUCT

    def _print_div(self, n, x, y):
        return rf"\frac{{{self._print(x)[0]}}}{{{self._print(y)[0]}}}", ATOM

    def _base(self, x) -> str:
        """x as the base of a power: a name or a number as it is, anything else in parentheses."""
        text, prec = self._print(x)
        plain = self.is_name(x) or self.is_number(x) or x in self.names
        return text if plain and prec == ATOM else f"({text})"

    def _print_pow(self, n, x, y):
        return f"{self._base(x)}^{{{self._print(y)[0]}}}", ATOM

    def _print_square(self, n, x):
        return f"{self._base(x)}^{{2}}", ATOM

    def _print_sqrt(self, n, x):
        return rf"\sqrt{{{self._print(x)[0]}}}", ATOM

    def _print_abs(self, n, x):
        return rf"\lvert {self._print(x)[0]} \rvert", ATOM

    def _print_relu(self, n, x):
        return rf"\max({self._print(x)[0]}, 0)", ATOM

    # -- contractions and axes
    def _print_tensordot(self, n, x, y):
        k = self.g.nodes[n]["attrs"].get("n", 1)
        ranks = (self.rank(x), self.rank(y))
        J = JUXTAPOSED
        if k == 1 and ranks == (1, 1):  # x^T y
            return f"{self._wrap_transposed(x, J)} {self._wrap(y, J)}", J
        if k == 1 and ranks == (1, 2):  # x @ W = W^T x
            return f"{self._wrap_transposed(y, J)} {self._wrap(x, J)}", J
        if k == 1 and (ranks[1] == 1 or ranks == (2, 2)):  # W x, A B
            return f"{self._wrap(x, J)} {self._wrap(y, J)}", J
        if k == 0 and ranks == (1, 1):  # the outer product x y^T
            return f"{self._wrap(x, J)} {self._wrap_transposed(y, J)}", J
        if k == 0:
            return f"{self._wrap(x, PRODUCT + 1)} \\otimes {self._wrap(y, PRODUCT + 1)}", PRODUCT
        if k == 1:  # the language's own operator: the last axis of x with the first of y
            return f"{self._wrap(x, PRODUCT + 1)} \\mathbin{{@}} {self._wrap(y, PRODUCT + 1)}", PRODUCT
        return rf"\operatorname{{tensordot}}_{{{k}}}({self._print(x)[0]}, {self._print(y)[0]})", ATOM

    def _print_transpose(self, n, x):
        perm = tuple(self.g.nodes[n]["attrs"]["perm"])
        if len(perm) == 2:
            return self._transposed(x)
        return rf"\operatorname{{transpose}}_{{{perm}}}({self._print(x)[0]})", ATOM

    def _print_sum(self, n, x):
        rank = self.rank(x)
        if rank == 0:
            return self._print(x)
        index = "j" if rank == 1 else ",".join("ijkl"[:rank]) if rank <= 4 else "\\dots"
        text, prec = self._print(x)
        entry = (
            f"{text}_{{{index}}}"
            if self.is_name(x) and "_" not in text and "mathit" not in text
            else f"[{text}]_{{{index}}}"
        )
        return rf"\sum_{{{index}}} {entry}", BIGOP

    def _print_broadcast(self, n, x):  # the same value, repeated: broadcasting is implicit in formulas
        return self._print(x)
