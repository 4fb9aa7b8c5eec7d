"""What a network needs: the forward graph, the per-sample loss, its gradient, and one training step.

A network maps its `input`s through `layer`s to its `output`s, and `loss` scores one sample
against its `target`s. Everything is per sample; the backend adds the batch axis.

All the graphs come from one builder: the layers, the outputs and the loss are lowered once,
simplified (`passes/simplify.py`: this is where log(softmax(z)) becomes log_softmax(z) and the
binary cross-entropy of sigmoid(z) its softplus form, both finite for any logits), and reverse
mode (`passes/autodiff.py`) adds the gradient of the loss with respect to every trained param
to the same builder, so the backward pass reads the forward's values instead of computing them
again (the builder shares equal nodes):

    forward   the outputs, per sample
    loss      the loss, per sample
    grad      dloss/dtheta for every trained param, per sample
    score     the per-sample losses and the outputs paired with a target (for the accuracy)
    step      one training step on a batch: the sum of the losses over the batch, the outputs
              paired with a target, and sum over the batch of scale * dloss/dtheta (the var
              `scale:step`, the trainer's factor: lr / B for sgd), the sums pushed down onto the
              matrix products (`passes/batch.py`: sum_b outer(h_b, g_b) = h.T @ g)

For a softmax output with a onehot target and the cross-entropy loss, dloss/dz at the logits z
is softmax(z) - t: the rewrites know that a onehot row sums to 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from ..errors import EbmcError
from ..frontend.model import CheckedModel
from ..ir.graph import args, leaves, upstream
from ..ir.lower import lower_expr, lower_model
from .autodiff import reverse_mode
from .batch import batch_sums
from .patterns import Rule, number, pattern, x
from .simplify import Simplifier, prune, rewrite, simplify


@dataclass
class NetworkAnalysis:
    model: CheckedModel
    graphs: dict[str, nx.DiGraph] = field(default_factory=dict)
    # output name -> the target it is scored against (same declared shape, matched in file order)
    pairs: dict[str, str] = field(default_factory=dict)
    # layer and output name -> its node in the graphs forward, loss, grad and score
    layers: dict[str, int] = field(default_factory=dict)

    kind = "network"

    @property
    def trained_params(self) -> list[str]:
        return [n for n, p in self.model.params.items() if "fixed" not in p.attrs]

    @property
    def outputs(self) -> list[str]:
        return [layer.name for layer in self.model.layers if layer.kind == "output"]

    @property
    def inputs(self) -> list[str]:
        return list(self.model.inputs)

    @property
    def targets(self) -> list[str]:
        return list(self.model.targets)


def analyse_network(model: CheckedModel) -> NetworkAnalysis:
    """The graphs of a network (see the module docstring)."""
    a = NetworkAnalysis(model)
    # the rewrites applied as each node is built: stable forms, like terms, folding, and scalar
    # factors out of sums (so that the scale of a training step lands on dloss/dz at the logits)
    s = Simplifier(extra=SCALARS)
    env = lower_model(s, model)
    loss = lower_expr(s, model.loss, env)
    a.layers = {layer.name: env[layer.name] for layer in model.layers}
    found = leaves(s.g)
    _check_used(model, s.g, loss, found, a.trained_params, a.layers)
    params = a.trained_params
    grads = reverse_mode(s, loss, [found[p] for p in params])
    per_sample = {p: grads[found[p]] for p in params}
    a.pairs = _pairs(model, a.outputs)
    outputs = {name: a.layers[name] for name in a.outputs}
    paired = {name: a.layers[name] for name in a.pairs}

    def graph(outs: dict) -> nx.DiGraph:
        g = s.g.copy()
        g.graph["outputs"] = dict(outs)
        return prune(g)

    a.graphs["forward"] = graph(outputs)
    a.graphs["loss"] = graph({"loss": loss})
    a.graphs["grad"] = graph(per_sample)
    a.graphs["score"] = _one_normaliser(graph({"loss": loss, **paired}))
    # the training step's gradients, of scale * loss: the trainer's factor (lr / B for sgd) is one
    # product at the layer the reverse pass starts from, not one pass over every weight gradient
    scaled = reverse_mode(s, s.add("mul", s.var(SCALE, "param", ()), loss), [found[p] for p in params])
    step = graph({"loss": loss, **paired, **{p: scaled[found[p]] for p in params}})
    summed = simplify(batch_sums(step, per_sample=tuple(paired), reuse=True))
    a.graphs["step"] = _one_normaliser(rewrite(summed, [BATCH_DOT]))
    return a


SCALE = "scale:step"  # the factor of the step's gradients: a name no model can have (not an identifier)


def _scalar(b, n) -> bool:
    return b.shape(n) == ()


def _scalar_out(b, m):
    return b.add("mul", m["s"], b.add(m.op, m["x"], **m.attrs))


_SUMS = ("sum", "sum_last", "sum_to", "batch_sum")
SCALARS = (
    Rule(
        "scalar-out-of-a-sum",
        pattern(_SUMS, pattern("mul", x("s", where=_scalar), x("x"), commute=True)),
        _scalar_out,
        doc="sum(s * x) = s * sum(x) for a scalar s",
    ),
    Rule(
        "broadcast-scalar-out-of-a-sum",
        pattern(_SUMS, pattern("mul", pattern("broadcast", x("s", where=_scalar)), x("x"), commute=True)),
        _scalar_out,
        doc="sum(s * x) = s * sum(x) for a scalar s repeated over x",
    ),
    Rule(
        "common-scalar",
        pattern(
            ("add", "sub"),
            pattern("mul", x("s", where=_scalar), x("x"), commute=True),
            pattern("mul", x("s"), x("y"), commute=True),
        ),
        lambda b, m: b.add("mul", m["s"], b.add(m.op, m["x"], m["y"])),
        lambda b, m: b.shape(m["x"]) == b.shape(m["y"]) == tuple(m.shape),
        "s * x - s * y = s * (x - y) for a scalar s",
    ),
    Rule(
        "implicit-broadcast",
        pattern("mul", pattern("broadcast", x("s")), x("z"), commute=True),
        lambda b, m: b.add("mul", m["s"], m["z"]),
        lambda b, m: b.shape(m["z"]) == tuple(m.shape),
        "broadcast(s) * z = s * z where z has the product's shape (numpy broadcasts)",
    ),
    Rule(
        "scaled-one",
        pattern("mul", pattern("mul", x("s", where=_scalar), number(value=1.0), commute=True), x("z"), commute=True),
        lambda b, m: b.add("mul", m["s"], m["z"]),
        lambda b, m: b.shape(m["z"]) == tuple(m.shape),
        "(s * 1) * z = s * z for a scalar s and a 1 that z's shape covers",
    ),
)


def _same_shapes(b, m) -> bool:
    return b.shape(m["x"]) == b.shape(m["y"]) and len(b.shape(m["x"])) > 0


# the total loss of a batch, sum_b sum(t_b * log_softmax(z_b)): one dot product of the two arrays
BATCH_DOT = Rule(
    "batch-dot",
    pattern("sum", pattern("batch_sum", pattern("mul", x("x"), x("y")))),
    lambda b, m: b.add("batch_tensordot", m["x"], m["y"], n=len(b.shape(m["x"]))),
    _same_shapes,
    "sum(sum_b x_b * y_b) = the dot product of x and y over the batch and every axis",
)


LOG_SOFTMAX = pattern("log_softmax", x("x"))


def _one_normaliser(g: nx.DiGraph) -> nx.DiGraph:
    """softmax(z) computed as exp(log_softmax(z)) where g computes log_softmax(z) as well (the
    cross-entropy of a softmax output, and its output or gradient): one shift, exp and sum serve
    both. Elsewhere softmax stays as it is, one pass cheaper than the exp of log_softmax."""
    ops = Simplifier().ops
    logs = {args(g, n)[0] for n in g if LOG_SOFTMAX.selects(g.nodes[n]["op"], ops[g.nodes[n]["op"]])}
    if not logs:
        return g
    rule = Rule(
        "softmax-beside-log-softmax",
        pattern("softmax", x("x")),
        lambda b, m: b.add("exp", b.add("log_softmax", m["x"])),
        lambda b, m: m["x"] in logs,
        "softmax(z) = exp(log_softmax(z)), where log_softmax(z) is computed anyway",
    )
    return rewrite(g, [rule])


def _check_used(model: CheckedModel, g: nx.DiGraph, loss, found: dict, trained: list[str], layers: dict) -> None:
    """Every target and every trained param must take part in the loss (else it is never fitted),
    every input in the loss or an output, and the loss and every output must read the data."""

    def reads(n) -> set:
        return {g.nodes[m]["name"] for m in upstream(g, [n]) if "name" in g.nodes[m]}

    data = set(model.inputs) | set(model.targets)
    in_loss = reads(loss)
    if not in_loss & data:
        raise _unused("the loss reads no input and no target: it is the same for every sample", model.loss.span)
    for layer in model.layers:
        if layer.kind == "output" and not reads(layers[layer.name]) & set(model.inputs):
            raise _unused(f"the output '{layer.name}' reads no input: it is the same for every sample", layer.span)
    outputs_read = set().union(*(reads(layers[x.name]) for x in model.layers if x.kind == "output"))
    for name, var in model.variables.items():
        if var.role == "target" and name not in in_loss:
            raise _unused(f"the target '{name}' is not used by the loss, so nothing is fitted to it", var.span)
        if var.role == "input" and name not in in_loss | outputs_read:
            raise _unused(f"the input '{name}' is used neither by the loss nor by an output", var.span)
    for name in trained:
        if name not in in_loss:
            p = model.params[name]
            raise _unused(
                f"the param '{name}' is not used by the loss, so training would never change it "
                "(declare it 'fixed' if that is meant)",
                p.span,
            )


def _unused(message: str, span) -> EbmcError:
    return EbmcError(message, span.line, span.column, length=span.length)


def _pairs(model: CheckedModel, outputs: list[str]) -> dict[str, str]:
    """output -> target: each output with the first target of the same declared shape not yet taken."""
    free = list(model.targets.values())
    out = {}
    layers = {layer.name: layer for layer in model.layers}
    for name in outputs:
        for t in free:
            if tuple(t.dims) == tuple(layers[name].dims):
                out[name] = t.name
                free.remove(t)
                break
    return out
