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
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from ..errors import EbmcError
from ..frontend.model import CheckedModel, Variable
from ..ir.graph import copy_into, depends_on, leaves
from ..ir.lower import model_graph
from ..plugins import registry
from .autodiff import reverse_mode
from .simplify import Simplifier, simplify


@dataclass
class Group:
    """A unit group: its role, unit type and whether the energy makes its units independent."""

    name: str
    role: str  # "visible" | "hidden"
    unit: object  # the UnitType plugin
    dims: tuple
    shape: tuple
    independent: bool


@dataclass
class EnergyAnalysis:
    model: CheckedModel
    groups: dict[str, Group]
    graphs: dict[str, nx.DiGraph] = field(default_factory=dict)
    # which sides can be summed out in closed form: "hidden" gives F(v), "visible" gives F(h)
    summable: set = field(default_factory=set)

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
    energy = simplify(model_graph(model, "energy").g)
    groups = {}
    for name, var in model.units.items():
        if var.type not in units:
            raise EbmcError(
                f"the '{var.type}' unit type has no conditional in this version of ebmc "
                f"(available: {', '.join(sorted(units))})",
                var.span.line,
                var.span.column,
                length=var.span.length,
            )
        groups[name] = Group(name, var.role, units[var.type], var.dims, var.shape, False)

    used = leaves(energy)
    for name, var in model.units.items():
        if name not in used:
            raise _not_a_variable(f"the energy does not depend on '{name}'", var)
    fields = _fields(energy, model)
    for name, grp in groups.items():
        grp.independent = not depends_on(fields, fields.graph["outputs"][name], _var_nodes(fields, [name]))

    a = EnergyAnalysis(model, groups)
    a.graphs["energy"] = energy
    a.graphs["grad"] = _param_gradients(energy, a.trained_params)
    for name, grp in groups.items():
        a.graphs[f"conditional_{name}"] = _conditional(fields, name, grp)
    for side in ("hidden", "visible"):
        names = [n for n, g in groups.items() if g.role == side]
        if names and all(not depends_on(fields, fields.graph["outputs"][n], _var_nodes(fields, names)) for n in names):
            a.summable.add(side)
            key = "free_energy" if side == "hidden" else "free_energy_hidden"
            a.graphs[key] = _free_energy(energy, fields, names, groups)
            kept = [n for n, g in groups.items() if g.role != side]
            read = leaves(a.graphs[key])
            for n in kept:  # the free energy takes every kept group as an argument, so it must read each
                if n not in read:
                    raise _not_a_variable(
                        f"summed over the {side} units, the energy does not depend on '{n}' (its units are "
                        "independent of everything else)",
                        model.units[n],
                    )
    return a


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


def _conditional(fields: nx.DiGraph, name: str, group: Group) -> nx.DiGraph:
    """Outputs `field` (-dE/dX) and `mean` (E[X | rest]) of one group."""
    b = Simplifier()
    f = copy_into(b, fields, [fields.graph["outputs"][name]])[fields.graph["outputs"][name]]
    b.output("field", f)
    b.output("mean", group.unit.mean(b, f))
    return b.g


def _param_gradients(energy: nx.DiGraph, params: list[str]) -> nx.DiGraph:
    """Per-sample dE/dtheta for every trained param."""
    b = Simplifier()
    mapping = copy_into(b, energy, energy.graph["outputs"].values())
    y = mapping[energy.graph["outputs"]["energy"]]
    found = leaves(b.g)
    nodes = {p: found[p] if p in found else None for p in params}
    targets = [n for n in nodes.values() if n is not None]
    grads = reverse_mode(b, y, targets)
    b.g.graph["outputs"] = {p: grads[n] for p, n in nodes.items() if n is not None}
    return simplify(b.g)


def _free_energy(energy: nx.DiGraph, fields: nx.DiGraph, names: list[str], groups: dict) -> nx.DiGraph:
    """F = E(others, X=0) - sum over the summed-out groups X of log sum_x exp(f . x)."""
    b = Simplifier()
    zeros = {n: b.const(0.0, groups[nm].dims) for nm in names for n in _var_nodes(energy, [nm])}
    e0 = copy_into(b, energy, [energy.graph["outputs"]["energy"]], replace=zeros)[energy.graph["outputs"]["energy"]]
    total = e0
    for nm in names:
        out = fields.graph["outputs"][nm]
        f = copy_into(b, fields, [out])[out]
        total = b.add("sub", total, groups[nm].unit.log_partition(b, f))
    b.output("free_energy", total)
    return simplify(b.g)
