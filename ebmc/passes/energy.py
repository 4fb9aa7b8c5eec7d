"""What the energy allows: conditionals, free energies and the learning rule's pieces.

For a unit group X the field is f = -dE/dX (reverse mode on the energy graph).
If f does not depend on X, the energy is affine in X,

    E(x, rest) = E(0, rest) - f(rest) . x,

so the units of X are independent given the rest, with p(x_j | rest)
proportional to exp(f_j x_j): sigmoid(f_j) for bernoulli units, tanh(f_j) as
the mean of spins. If the fields of the hidden groups depend on no hidden
group, the hidden units sum out in closed form:

    F(v) = -log sum_h exp(-E(v, h)) = E(v, h=0) - sum_groups sum_j log sum_x exp(f_j(v) x)

which is E(v, 0) - sum_j softplus(f_j(v)) for bernoulli units.

On the support. A unit of a type with two values a < b (bernoulli {0, 1},
spin {-1, +1}) never takes any other, and there every function of it is affine:

    s(x) = s(a) + (s(b) - s(a)) (x - a) / (b - a)        for x in {a, b}.

So before anything is derived, `on_support` rewrites the energy into a graph
equal to it on every state, in two steps for each such group X:

 1. every value u = s(X) whose entries each depend on one unit of X alone (X
    reaches u through elementwise ops only: exp(h), square(h), h ** 3,
    relu(W * h + c); anything, if X is a single unit) and that is not already
    affine in X becomes u(a) + (u(b) - u(a)) (X - a) / (b - a), with u(a) the
    same graph at X = a (the outermost such values; for a single unit, the
    innermost first, pass by pass, so that the rest reads as it was written);
 2. if the field then still depends on X, but entrywise (unit j's field on
    unit j alone: E is a sum over units, as in h @ (c * h)) and polynomially of
    degree d, then with g_j(b) - g_j(a) = (b - a) * mean over [a, b] of dE/dx_j,
    computed exactly by (d // 2 + 1)-point Gauss-Legendre quadrature,

        E(x) = E(X = a) + sum_j mean_j(dE/dx_j) (x_j - a).

A group whose units really interact (h @ J @ h, sum(h) * sum(h),
(v @ W @ h) ** 2) keeps a field that depends on it, and stays coupled.

Each derived quantity is made affine in just the groups it sums over, and
takes the others as written, so that it agrees with the energy as written
wherever those others are given, at fractional values (probabilities, means)
too: the conditional of X from the energy affine in X (p(h_j = 1 | v) =
sigmoid(E(h_j = 0) - E(h_j = 1)) exactly), F(v) from the energy affine in the
hidden groups, F(h) in the visible ones, and the gradient that learning takes
at the hidden means, E_{h|v}[dE/dtheta], from the energy affine in the hidden
groups (`expected_grad`). `energy` and `grad` are the energy as written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from ..errors import EbmcError
from ..frontend.model import CheckedModel, Variable
from ..ir.graph import args, copy_into, depends_on, formula, in_order, leaves, op_table
from ..ir.lower import model_graph
from ..plugins import registry
from .autodiff import reverse_mode
from .simplify import Simplifier, prune, simplify

MAX_PASSES = 100  # passes that make a one-unit group's functions affine, innermost first (exp(exp(h)): two)
MAX_DEGREE = 9  # a field polynomial of higher degree in its own group is not integrated (the group stays coupled)


@dataclass
class Group:
    """A unit group: its role, unit type and what the energy is in it.

    form: "affine" (the field -dE/dX is free of X), "diagonal" (quadratic in X with a diagonal
    precision: unit j's field depends on x_j alone, linearly) or "coupled" (the units interact).
    Affine and diagonal groups are independent given the other groups; a coupled one is sampled
    unit by unit. `quadratic`: a coupled group whose energy is quadratic in it (a Hessian free of X).
    """

    name: str
    role: str  # "visible" | "hidden"
    unit: object  # the UnitType plugin
    dims: tuple
    shape: tuple
    form: str = "affine"
    on_support: bool = False  # the energy was rewritten to be affine in each unit on its two values
    quadratic: bool = False

    @property
    def independent(self) -> bool:
        return self.form != "coupled"


@dataclass
class EnergyAnalysis:
    model: CheckedModel
    groups: dict[str, Group]
    graphs: dict[str, nx.DiGraph] = field(default_factory=dict)
    # which sides can be summed out in closed form: "hidden" gives F(v), "visible" gives F(h)
    summable: set = field(default_factory=set)

    kind = "energy"

    @property
    def visible(self) -> list[str]:
        return [n for n, g in self.groups.items() if g.role == "visible"]

    @property
    def hidden(self) -> list[str]:
        return [n for n, g in self.groups.items() if g.role == "hidden"]

    @property
    def trained_params(self) -> list[str]:
        return [n for n, p in self.model.params.items() if "fixed" not in p.attrs]


def analyse(model: CheckedModel) -> EnergyAnalysis:
    """Derive conditionals, free energies and gradients of an energy model's graph."""
    units = registry().units
    written = simplify(model_graph(model, "energy").g)
    groups = {}
    for name, var in model.units.items():
        if var.type not in units:
            raise EbmcError(
                f"the '{var.type}' unit type is not installed (available: {', '.join(sorted(units))})",
                var.span.line,
                var.span.column,
                length=var.span.length,
            )
        groups[name] = Group(name, var.role, units[var.type], var.dims, var.shape)

    def affine_in(names) -> nx.DiGraph:
        """The energy made affine on their values in each of the groups `names` (the others as written)."""
        g = written
        for n in names:
            if _two_valued(groups[n].unit):
                g = on_support(g, model.units[n], groups[n].unit.values)
        return g

    own = {name: affine_in([name]) for name in groups}  # what each group's conditional comes from
    for name, grp in groups.items():
        grp.on_support = own[name] is not written
        if name not in leaves(own[name]):
            why = (
                f" (on the values its units take, {' and '.join(f'{x:g}' for x in grp.unit.values)}, "
                "what it adds to the energy cancels)"
                if name in leaves(written)
                else ""
            )
            raise _not_a_variable(f"the energy does not depend on '{name}'{why}", model.units[name])
    rewritten = any(grp.on_support for grp in groups.values())
    written_fields = _fields(written, model)
    fields = {n: _fields(own[n], model) if groups[n].on_support else written_fields for n in groups}
    a = EnergyAnalysis(model, groups)
    a.graphs["energy"] = written
    a.graphs["energy_support"] = affine_in(groups) if rewritten else written
    a.graphs["grad"] = _param_gradients(written, a.trained_params)
    for name, grp in groups.items():
        grp.form, grp.quadratic, precision = _form(fields[name], name, model.units[name])
        _check_unit_type(model, grp, precision)
        a.graphs[f"field_{name}"] = _field_graph(fields[name], name)
        if grp.independent:
            a.graphs[f"conditional_{name}"] = _conditional(fields[name], name, grp, precision)
        elif grp.quadratic:
            a.graphs[f"coupling_{name}"] = _coupling(fields[name], name, model.units[name])
            a.graphs[f"field0_{name}"] = _field_at_zero(fields[name], name, grp)

    hidden = [n for n, g in groups.items() if g.role == "hidden"]
    for side in ("hidden", "visible"):
        names = [n for n, g in groups.items() if g.role == side]
        if not names:
            continue
        energy = affine_in(names) if rewritten else written
        side_fields = _fields(energy, model) if rewritten else written_fields
        if all(groups[n].independent for n in names) and all(
            not depends_on(
                side_fields, side_fields.graph["outputs"][n], _var_nodes(side_fields, [m for m in names if m != n])
            )
            and _form(side_fields, n, model.units[n])[0] != "coupled"
            for n in names
        ):
            a.summable.add(side)
            key = "free_energy" if side == "hidden" else "free_energy_hidden"
            a.graphs[key] = _free_energy(energy, side_fields, names, groups)
            kept = [n for n, g in groups.items() if g.role != side]
            read = leaves(a.graphs[key])
            for n in kept:  # the free energy takes every kept group as an argument, so it must read each
                if n not in read:
                    raise _not_a_variable(
                        f"summed over the {side} units, the energy does not depend on '{n}' (its units are "
                        "independent of everything else)",
                        model.units[n],
                    )
    # E_{h|v}[dE/dtheta]: dE/dtheta at h = E[h|v] where the energy is affine in the hidden groups,
    # else dF(v)/dtheta, which is the same expectation in closed form
    if all(groups[h].form == "affine" for h in hidden):
        a.graphs["expected_grad"] = (
            _param_gradients(affine_in(hidden), a.trained_params) if rewritten else a.graphs["grad"]
        )
    elif "hidden" in a.summable:
        a.graphs["expected_grad"] = _param_gradients(a.graphs["free_energy"], a.trained_params, "free_energy")
    return a


def _two_valued(unit) -> bool:
    """Units with two values, on which every function of one unit is affine (not one-hot units)."""
    return len(unit.values) == 2 and not unit.onehot


def _form(fields: nx.DiGraph, name: str, var: Variable) -> tuple[str, bool, int | None]:
    """What the energy is in group `name`, from the graph of its field f = -dE/dX alone:
    ("affine", False, None) when f is free of X; ("diagonal", True, p) when f = f0 - p * X with p
    free of X, X reaching f through elementwise ops only (p = d^2E/dX^2 is then the Hessian-vector
    product with u = 1: the part of H u free of X); ("coupled", quadratic, None) otherwise."""
    f = fields.graph["outputs"][name]
    x = _var_nodes(fields, [name])
    if not depends_on(fields, f, x):
        return "affine", False, None
    b = Simplifier()
    mapping = copy_into(b, fields, [f])
    fb, xb = mapping[f], mapping[x[0]]
    u = b.var(_direction(name), "input", var.dims)
    hu = reverse_mode(b, b.add("sum", b.add("mul", b.add("neg", fb), u)), [xb])[xb]  # H u
    quadratic = xb not in nx.ancestors(b.g, hu) and hu != xb
    if not quadratic:
        return "coupled", False, None
    hot = _hot(b.g, xb)
    need = (nx.ancestors(b.g, fb) | {fb}) & hot
    if not _entrywise(b.g, xb, need)[fb]:
        return "coupled", True, None
    ones = b.const(1.0, var.dims)
    precision = copy_into(b, b.g, [hu], replace={u: ones})[hu]
    b.output("precision", precision)
    return "diagonal", True, prune(b.g)


def _direction(name: str) -> str:
    """The name of the direction u of a Hessian-vector product H u in group `name`: not an
    identifier, so that it cannot be taken for one of the model's own names."""
    return f"{name}:direction"


def _not_a_variable(what: str, var: Variable) -> EbmcError:
    return EbmcError(
        f"{what}: a group of units that takes no part in the energy is not a variable of the model "
        "(use it in the energy or remove it)",
        var.span.line,
        var.span.column,
        length=var.span.length,
    )


def _var_nodes(g: nx.DiGraph, names) -> list:
    found = leaves(g)
    return [found[n] for n in names if n in found]


def _fields(energy: nx.DiGraph, model: CheckedModel) -> nx.DiGraph:
    """A graph whose outputs are the fields -dE/dX of every unit group X (and the energy)."""
    b = Simplifier()
    mapping = copy_into(b, energy, energy.graph["outputs"].values())
    y = mapping[energy.graph["outputs"]["energy"]]
    nodes = {name: b.var(name, var.role, var.dims) for name, var in model.units.items()}
    grads = reverse_mode(b, y, list(nodes.values()))
    b.g.graph["outputs"] = {name: b.add("neg", grads[n]) for name, n in nodes.items()}
    return b.g


def _conditional(fields: nx.DiGraph, name: str, group: Group, precision: nx.DiGraph | None) -> nx.DiGraph:
    """Outputs `field` (f = -dE/dX at X = 0), `precision` (d^2E/dX^2, for a quadratic group) and
    `mean` (E[X | rest]) of one independent group."""
    b = Simplifier()
    out = fields.graph["outputs"][name]
    x = _var_nodes(fields, [name])
    zero = {x[0]: b.const(0.0, group.dims)} if x else {}
    f = copy_into(b, fields, [out], replace=zero)[out]
    b.output("field", f)
    p = None
    if precision is not None:
        n = precision.graph["outputs"]["precision"]
        p = b.output("precision", copy_into(b, precision, [n])[n])
    b.output("mean", group.unit.mean(b, f, p))
    return b.g


def _field_graph(fields: nx.DiGraph, name: str) -> nx.DiGraph:
    """Outputs `field`: -dE/dX of a coupled group, a function of X itself and the other groups."""
    b = Simplifier()
    out = fields.graph["outputs"][name]
    b.output("field", copy_into(b, fields, [out])[out])
    return prune(b.g)


def _field_at_zero(fields: nx.DiGraph, name: str, group: Group) -> nx.DiGraph:
    """Outputs `field`: f0 = -dE/dX at X = 0 of a quadratic group, so that -dE/dX = f0 - H X."""
    b = Simplifier()
    out = fields.graph["outputs"][name]
    x = _var_nodes(fields, [name])
    zero = {x[0]: b.const(0.0, group.dims)} if x else {}
    b.output("field", copy_into(b, fields, [out], replace=zero)[out])
    return prune(b.g)


def _coupling(fields: nx.DiGraph, name: str, var: Variable) -> nx.DiGraph:
    """Outputs `coupling`: H u = d^2E/dX^2 u, the Hessian of a quadratic group applied to the
    direction u (a batch of them: the identity gives H row by row)."""
    b = Simplifier()
    out = fields.graph["outputs"][name]
    mapping = copy_into(b, fields, [out])
    x = _var_nodes(fields, [name])[0]
    u = b.var(_direction(name), "input", var.dims)
    hu = reverse_mode(b, b.add("sum", b.add("mul", b.add("neg", mapping[out]), u)), [mapping[x]])[mapping[x]]
    b.output("coupling", hu)
    return prune(b.g)


def _param_gradients(energy: nx.DiGraph, params: list[str], output: str = "energy") -> nx.DiGraph:
    """Per-sample dE/dtheta (or of another scalar output) for every trained param."""
    b = Simplifier()
    mapping = copy_into(b, energy, energy.graph["outputs"].values())
    y = mapping[energy.graph["outputs"][output]]
    found = leaves(b.g)
    nodes = {p: found[p] if p in found else None for p in params}
    targets = [n for n in nodes.values() if n is not None]
    grads = reverse_mode(b, y, targets)
    b.g.graph["outputs"] = {p: grads[n] for p, n in nodes.items() if n is not None}
    return prune(b.g)


def _free_energy(energy: nx.DiGraph, fields: nx.DiGraph, names: list[str], groups: dict) -> nx.DiGraph:
    """F = E(others, X=0) - sum over the summed-out groups X of log sum_x exp(f . x - p . x^2 / 2)."""
    b = Simplifier()
    found = leaves(energy)
    zeros = {found[nm]: b.const(0.0, groups[nm].dims) for nm in names if nm in found}
    e0 = copy_into(b, energy, [energy.graph["outputs"]["energy"]], replace=zeros)[energy.graph["outputs"]["energy"]]
    total = e0
    in_fields = leaves(fields)
    field_zeros = {in_fields[nm]: b.const(0.0, groups[nm].dims) for nm in names if nm in in_fields}
    for nm in names:
        out = fields.graph["outputs"][nm]
        f = copy_into(b, fields, [out], replace=field_zeros)[out]
        p = None
        form, _, precision = _form(fields, nm, _Declared(nm, groups[nm].dims))
        if form == "diagonal":
            n = precision.graph["outputs"]["precision"]
            p = copy_into(b, precision, [n])[n]
        total = b.add("sub", total, groups[nm].unit.log_partition(b, f, p))
    b.output("free_energy", total)
    return prune(b.g)


@dataclass(frozen=True)
class _Declared:
    """What `_form` reads of a group's declaration."""

    name: str
    dims: tuple


# ---------------------------------------------------------------- unit types that do not fit
def _check_unit_type(model: CheckedModel, grp: Group, precision) -> None:
    """A compile error, at the energy, where the energy is not what the group's unit type needs."""
    unit, var, name = grp.unit, model.units[grp.name], grp.name
    if unit.form == "affine" and unit.onehot and grp.form != "affine":
        # units that interact are sampled one unit (one one-hot vector) at a time; but a function of
        # single entries that is not linear (exp(h)) is not what one-hot units mean
        where = _culprit(model, name, lambda d, e: d > 1 and e)
        if where is not None or grp.form != "coupled":
            where = where or _culprit(model, name, lambda d, e: d > 1)
            raise _misfit(f"'{name}' is {unit.name} but the energy is not linear in '{name}': {where[0]}", where, var)
    if unit.form == "quadratic":
        if grp.form == "affine":
            raise _misfit(
                f"'{name}' is {unit.name} but the energy is linear in '{name}', so exp(-E) has no finite integral "
                f"over the real numbers: give it a quadratic term with positive curvature, e.g. "
                f"0.5 * sum(square({name}))",
                None,
                var,
            )
        if grp.form == "coupled" and not grp.quadratic:
            where = _culprit(model, name, lambda d, e: d > 2)
            raise _misfit(
                f"'{name}' is {unit.name} but the energy is not quadratic in '{name}': {where[0]}", where, var
            )
        if grp.form == "diagonal":
            out = precision.graph["outputs"]["precision"]
            if _sign(precision, out) != "+":
                text = formula(precision, out)
                raise _misfit(
                    f"'{name}' is {unit.name} but its curvature d2E/d{name}2 = {text} can be negative or zero; "
                    "write it so that it is positive for every value of the params, e.g. with square(...) or exp(...)",
                    _culprit(model, name, lambda d, e: d == 2),
                    var,
                )


def _misfit(message: str, where, var: Variable) -> EbmcError:
    """The error at the subexpression `where` (text, span) found in the energy, else at the group."""
    span = where[1] if where else var.span
    if where:
        message += f" at {span.line}:{span.column}"
    return EbmcError(message, span.line, span.column, length=span.length)


MAX_LOCATED = 400  # subexpressions searched for the place of a misfit (beyond, the group's declaration)


def _culprit(model: CheckedModel, name: str, bad) -> tuple[str, object] | None:
    """The innermost subexpression of the energy (or of a layer) for which bad(degree, entrywise)
    holds: its degree as a polynomial in group `name` (inf where it is not one) and whether its
    entries each depend on one unit alone. (text, span), or None."""
    from ..frontend import ast as A
    from ..frontend.printer import unparse
    from ..ir.graph import Builder
    from ..ir.lower import lower_expr

    b = Builder()
    env = {n: b.var(n, v.role, v.dims) for n, v in model.variables.items()}
    env.update({n: b.var(n, "param", p.dims) for n, p in model.params.items()})
    roots = []
    for layer in model.layers:
        env[layer.name] = lower_expr(b, layer.expr, env)
        roots.append(layer.expr)
    roots.append(model.energy)
    exprs = []
    stack = list(reversed(roots))
    while stack and len(exprs) < MAX_LOCATED:
        e = stack.pop()
        exprs.append(e)
        for child in _children(e, A):
            stack.append(child)
    nodes = {id(e): lower_expr(b, e, env) for e in exprs}
    x = env[name]
    hot = _hot(b.g, x)
    degree = _degrees(b.g, x, hot)
    entrywise = _entrywise(b.g, x, hot)
    found = None
    for e in exprs:  # pre-order: a later match inside an earlier one is more inner
        n = nodes[id(e)]
        if n in hot and bad(degree[n], entrywise[n]):
            if found is None or _inside(e, found, A):
                found = e
    return (unparse(found), found.span) if found is not None else None


def _children(e, A) -> list:
    if isinstance(e, A.Unary | A.Transpose):
        return [e.operand]
    if isinstance(e, A.BinOp):
        return [e.left, e.right]
    if isinstance(e, A.Call):
        return list(e.args)
    return []


def _inside(inner, outer, A) -> bool:
    stack = [outer]
    while stack:
        e = stack.pop()
        if e is inner:
            return True
        stack.extend(_children(e, A))
    return False


def _sign(g: nx.DiGraph, n) -> str | None:
    """What is known of the sign of every entry of n, by the op table's sign rules: "+" (positive),
    "0+" (never negative), "-", "0-", or None."""
    ops = op_table()
    signs = {}
    for m in in_order(g, [n]):
        d = g.nodes[m]
        rule = ops[d["op"]].sign_rule
        if rule is None:
            signs[m] = None
        else:
            signs[m] = rule([signs[a] for a in args(g, m)], d["attrs"])
    return signs[n]


# ---------------------------------------------------------------- on the support
def on_support(energy: nx.DiGraph, var: Variable, values: tuple) -> nx.DiGraph:
    """A graph equal to `energy` wherever every unit of group `var` takes one of its two `values`,
    affine in each unit where the energy allows it (steps 1 and 2 of the module docstring).

    Returns `energy` itself when there is nothing to rewrite.
    """
    low, high = (float(v) for v in sorted(values))
    out = energy
    if _one_unit(var.dims):  # innermost first keeps the rest of the energy as it was written
        for _ in range(MAX_PASSES):
            before, out = out, _affine_entries(out, var, low, high, innermost=True)
            if out is before:
                break
    out = _affine_entries(out, var, low, high, innermost=False)
    return _integrated_fields(out, var, low, high)


def _one_unit(dims: tuple) -> bool:
    """A group of one unit (its size written as numbers): every value is a function of that unit."""
    return all(isinstance(d, int) for d in dims) and math.prod(dims) == 1


def _hot(g: nx.DiGraph, x) -> set:
    return nx.descendants(g, x) | {x}


def _in_order(g: nx.DiGraph, nodes) -> list:
    """nodes, operands before the nodes that read them. A builder numbers a node after its operands,
    so that is their order by number, wherever the graph says so; else a topological sort."""
    order = sorted(nodes)
    if all(a < n for n in order for a in args(g, n)):
        return order
    return list(nx.topological_sort(g.subgraph(nodes)))


def _entrywise(g: nx.DiGraph, x, hot: set, everything: bool = False) -> dict:
    """node -> whether each of its entries depends on one unit of x alone: x reaches it through
    elementwise ops only (or `everything`: x is a single unit). Nodes of `hot` only."""
    ops = op_table()
    out = {}
    for n in _in_order(g, hot):
        operands = args(g, n)
        out[n] = (
            n == x or everything or (ops[g.nodes[n]["op"]].elementwise and all(out[a] for a in operands if a in hot))
        )
    return out


def _degrees(g: nx.DiGraph, x, hot: set) -> dict:
    """node -> an upper bound of its degree as a polynomial in x (inf where it is not one), from the
    op table: an additive op keeps the highest degree of its operands, an op linear in each of them
    adds their degrees (x * y, x @ y)."""
    ops = op_table()
    out = {}
    for n in _in_order(g, hot):
        if n == x:
            out[n] = 1
            continue
        entry = ops[g.nodes[n]["op"]]
        operands = args(g, n)
        inside = [i for i, a in enumerate(operands) if a in hot]
        degrees = [out[operands[i]] for i in inside]
        if entry.additive:
            out[n] = max(degrees)
        elif all(i in entry.linear_in for i in inside):  # x * x counts x twice: degree 2
            out[n] = sum(degrees)
        elif entry.degree is not None:  # square(x): twice the degree of x
            out[n] = entry.degree([out[a] if a in hot else 0 for a in operands], g.nodes[n]["attrs"])
        else:
            out[n] = math.inf
    return out


def _affine_entries(g: nx.DiGraph, var: Variable, low: float, high: float, innermost: bool) -> nx.DiGraph:
    """Step 1: every value made of single units of X that is not affine in X becomes
    u(a) + (u(b) - u(a)) (X - a) / (b - a): the outermost such values (exp(exp(h)) as a whole), or
    with `innermost` those applied to an affine function of X (exp(h) in exp(exp(h)), one pass)."""
    x = leaves(g).get(var.name)
    if x is None:
        return g
    shape = g.nodes[x]["shape"]
    one_unit = _one_unit(shape)
    hot = _hot(g, x)
    entrywise = _entrywise(g, x, hot, everything=one_unit)
    degree = _degrees(g, x, hot)
    outputs = set(g.graph["outputs"].values())
    if innermost:
        rewrite = [n for n in hot if degree[n] > 1 and all(degree[a] <= 1 for a in args(g, n) if a in hot)]
    else:
        rewrite = [n for n in hot if n in outputs or any(not entrywise[c] for c in g.successors(n))]
    rewrite = sorted(n for n in rewrite if entrywise[n] and degree[n] > 1)
    if not rewrite:
        return g
    b = Simplifier()
    at_low = copy_into(b, g, rewrite, replace={x: b.const(low, shape)})
    at_high = copy_into(b, g, rewrite, replace={x: b.const(high, shape)})
    for n in rewrite:
        for value, at in ((low, at_low), (high, at_high)):
            if not b.finite(at[n]) and innermost:  # exp(-1 / h) is finite at h = 0, -1 / h is not
                return _affine_entries(g, var, low, high, innermost=False)
            if not b.finite(at[n]):
                raise EbmcError(
                    f"the energy is not a finite number where a unit of '{var.name}' is {value:g}: every state "
                    "of the units needs a finite energy",
                    var.span.line,
                    var.span.column,
                    length=var.span.length,
                )
    xb = b.var(var.name, var.role, var.dims)
    t = b.add("sum", xb) if one_unit and shape != () else xb  # one unit: any value is a function of it
    scale = b.const(1.0 / (high - low))
    replace = {}
    for n in rewrite:  # u(a) + (u(b) - u(a)) (x - a) / (b - a), as c0 + c1 x
        lo, hi = at_low[n], at_high[n]
        c0 = b.add("mul", scale, b.add("sub", b.add("mul", b.const(high), lo), b.add("mul", b.const(low), hi)))
        c1 = b.add("mul", scale, b.add("sub", hi, lo))
        replace[n] = b.add("add", c0, b.add("mul", c1, t))
    mapping = copy_into(b, g, g.graph["outputs"].values(), replace=replace)
    return _finish(b, g, mapping)


def _integrated_fields(g: nx.DiGraph, var: Variable, low: float, high: float) -> nx.DiGraph:
    """Step 2: an energy that is a sum over the units of X of polynomials in one unit each becomes
    E(X = a) + sum_j m_j (x_j - a), m_j the mean of dE/dx_j over [a, b] (Gauss-Legendre, exact)."""
    x = leaves(g).get(var.name)
    if x is None:
        return g
    energy = g.graph["outputs"]["energy"]
    hot = _hot(g, x)
    if energy not in hot or _degrees(g, x, hot)[energy] <= 1:
        return g  # affine in X already (the RBM): no field to build
    shape = g.nodes[x]["shape"]
    b = Simplifier()
    mapping = copy_into(b, g, g.graph["outputs"].values())
    y, xb = mapping[energy], mapping[x]
    slope = reverse_mode(b, y, [xb])[xb]
    hot = _hot(b.g, xb)
    if slope not in hot:
        return g  # affine in X already
    need = (nx.ancestors(b.g, slope) | {slope}) & hot
    degree = _degrees(b.g, xb, need)[slope]
    if b.shape(slope) != shape or not _entrywise(b.g, xb, need)[slope] or degree > MAX_DEGREE:
        return g  # the units of X interact, or the field is not a polynomial: X stays coupled
    points, weights = np.polynomial.legendre.leggauss(int(degree) // 2 + 1)
    mid, half = (low + high) / 2, (high - low) / 2
    out = Simplifier()
    mean = None
    for p, w in zip(points, weights, strict=True):
        at = copy_into(out, b.g, [slope], replace={xb: out.const(mid + half * float(p), shape)})[slope]
        term = out.add("mul", out.const(float(w) / 2), at)
        mean = term if mean is None else out.add("add", mean, term)
    base = copy_into(out, g, [energy], replace={x: out.const(low, shape)})[energy]
    xo = out.var(var.name, var.role, var.dims)
    shift = out.add("mul", mean, out.add("add", xo, out.const(-low)) if low else xo)
    total = out.add("add", base, out.add("sum", shift) if shape else shift)
    return _finish(out, g, {energy: total})


def _finish(b: Simplifier, g: nx.DiGraph, mapping: dict) -> nx.DiGraph:
    """b's graph with g's outputs (mapped) and graph attributes, without dead nodes."""
    b.g.graph.update({k: v for k, v in g.graph.items() if k != "outputs"})
    b.g.graph["outputs"] = {name: mapping[n] for name, n in g.graph["outputs"].items()}
    return prune(b.g)
