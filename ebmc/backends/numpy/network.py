"""The generated class of a network: forward, loss, grad, predict, and fit from its trainer.

The math comes from the graphs of `passes/network.py`, emitted by `emit.py`; this module lays out
the class around them (`ClassWriter` holds what it shares with the energy models' writer). What
every network shares (data checks, predictions, fit's data and training loop) is the base class
`_Network` of `network_base.py`, and what every model shares `_Model` of `base.py`, each copied
into the module once.

    _forward(x)    the outputs, from the forward graph
    _score(x, t)   the per-sample losses and the outputs paired with a target
    _backward(x, t)  one training step: the forward pass and the reverse pass in one body, so the
                   gradient reads the layers' values instead of computing them again, and its
                   work arrays are overwritten in place; returns the total loss of the batch, the
                   paired outputs and sum over the batch of dloss/dtheta for every trained param

The public methods check their arguments and call these on batches.
"""

from __future__ import annotations

import networkx as nx

from ...errors import EbmcError
from ...frontend.printer import unparse
from ...ir.printing import ATOM, TextPrinter
from ...passes.network import SCALE, NetworkAnalysis
from ...plugins import registry
from .emit import NumpyContext, check_identifier
from .lowerings import lowering
from .module import ClassWriter, camel, sym

DEFAULT_TRAINER = "adam"


class LayerPrinter(TextPrinter):
    """Formulas that write the value of a layer or output by its name (`h`, `y`): a gradient reads
    as outer(h, y - t), not with every layer written out."""

    def __init__(self, g: nx.DiGraph, layers: dict):
        super().__init__(g)
        self.layers = {n: name for name, n in layers.items() if n in g}
        self.root = None

    def parts(self, n):
        self.root = n
        return super().parts(n)

    def _dispatch(self, n):
        if n in self.layers and n != self.root:
            return self.layers[n], ATOM
        return super()._dispatch(n)


class NetworkClass(ClassWriter):
    """Writes the class for one analysed network."""

    def __init__(self, analysis: NetworkAnalysis, ctx: NumpyContext, source_name: str):
        super().__init__(analysis.model, ctx, source_name)
        self.a = analysis
        for name in [*self.m.variables, *self.m.params, *self.m.dims]:
            check_identifier(name)
        self.trainer = self._trainer()
        for name in [*self.m.variables, *self.m.params]:  # the model's names keep their own first
            self.names.local(name)

    def _trainer(self):
        """The network trainer plugin named by `train` (adam where the model names none)."""
        trainers = {name: t for name, t in registry().trainers.items() if getattr(t, "kind", "") == "network"}
        name = self.m.train.name if self.m.train is not None else DEFAULT_TRAINER
        if name not in trainers:
            span = self.m.train.span if self.m.train is not None else self.m.span
            raise EbmcError(
                f"the '{name}' trainer is not available for networks in this version of ebmc "
                f"(installed: {', '.join(sorted(trainers)) or 'none'})",
                span.line,
                span.column,
                length=span.length,
            )
        return trainers[name]

    # ------------------------------------------------------------ helpers
    @property
    def forward_reads(self) -> list[str]:
        return self.inputs_of(self.a.graphs["forward"])

    @property
    def loss_reads(self) -> list[str]:
        return self.inputs_of(self.a.graphs["step"])

    def layer_formula(self, g: nx.DiGraph, n) -> tuple[str, list[str]]:
        """The formula of node n with the layers written by name, and its where lines."""
        text, where = LayerPrinter(g, self.a.layers).parts(n)
        return text, [f"where {name} = {body}" for name, body in where]

    def layer_lines(self) -> list[str]:
        """`h = relu(x @ h_W + h_b)`: each layer and output as the model computes it."""
        return [f"{layer.name} = {unparse(layer.expr)}" for layer in self.m.layers]

    def loss_words(self) -> str:
        """The loss as written, and as computed where the rewrites made it stable."""
        written = unparse(self.m.loss)
        g = self.a.graphs["loss"]
        computed, where = self.layer_formula(g, g.graph["outputs"]["loss"])
        lines = [f"loss = {written}"]
        if computed.replace(" ", "") != written.replace(" ", ""):
            lines.append(f"     computed as {computed}")
            lines += [f"     {line}" for line in where]
        return "\n".join(lines)

    def gradient_lines(self) -> list[str]:
        """`dloss/dW = ...` for every trained param, per sample, the layers written by name."""
        g = self.a.graphs["grad"]
        out = []
        for p, n in g.graph["outputs"].items():
            text, where = self.layer_formula(g, n)
            out.append(f"dloss/d{p} = {text}")
            out += [f"    {line}" for line in where]
        return out

    # ------------------------------------------------------------ the class
    def write(self) -> str:
        c = self.code
        c(f"class {camel(self.m.name)}(_Network):")
        with c.indent():
            c.docstring(self._class_doc())
            c("")
            self._tables()
            self._forward()
            self._loss()
            self._grad()
            self._predict()
            self.trainer.write(self)
        while c.lines and not c.lines[-1]:
            c.lines.pop()
        return self.names.resolve(c.text())

    def _class_doc(self) -> str:
        m = self.m
        lines = [f"Network `{m.name}` (compiled from {self.source_name}).", ""]
        lines += [f"    {line}" for line in self.layer_lines()]
        lines += [f"    {line}" for line in self.loss_words().splitlines()]
        lines.append("")
        for name, var in m.variables.items():
            lines.append(f"{var.role:8s}{name}{sym(var.dims)} : {var.type}")
        outputs = ", ".join(f"{layer.name}{sym(layer.dims)}" for layer in m.layers if layer.kind == "output")
        lines.append(f"output  {outputs}")
        params = ", ".join(f"{p}{sym(q.dims)}" for p, q in m.params.items())
        lines.append(f"params  {params}")
        settings = {**(m.train.options if m.train is not None else {})}
        opts = ", ".join(f"{k}={v}" for k, v in settings.items())
        lines.append(f"train   {self.trainer.name}({opts})")
        lines += ["", f"{camel(m.name)}(seed=None, dtype='float64', **dims) builds one; see _Model.__init__."]
        return "\n".join(lines)

    def _tables(self) -> None:
        """The class attributes that the base classes read."""
        c, a = self.code, self.a
        self.param_tables()
        c(f"inputs = {tuple(a.inputs)!r}")
        c(f"targets = {tuple(a.targets)!r}")
        c(f"outputs = {tuple(a.outputs)!r}")
        c(f"pairs = {dict(a.pairs)!r}")
        c(f"trained = {tuple(a.trained_params)!r}")
        c(f"forward_reads = {tuple(self.forward_reads)!r}")
        c(f"loss_reads = {tuple(self.loss_reads)!r}")
        self.option_table(self.trainer.options)
        c("")

    # ------------------------------------------------------------ methods
    def _forward(self) -> None:
        c = self.code
        g = self.a.graphs["forward"]
        args = self.forward_reads
        formulas = "\n".join(f"    {line}" for line in self.layer_lines())
        doc = f"The outputs for the inputs: dict name -> array, one row per sample.\n\n{formulas}"
        self._public("forward", args, doc, f"self._call(self._forward, {self.kwargs(args)})")
        c(f"def _forward(self, {', '.join(map(self.local, args))}):")
        with c.indent():
            c.docstring(f"The outputs of batches of the inputs.\n\n{formulas}")
            self._unpack_params(g)
            self.return_dict(self._emit(g))
        c("")

    def _loss(self) -> None:
        c = self.code
        g = self.a.graphs["score"]
        args = self.loss_reads
        words = "\n".join(f"    {line}" for line in self.loss_words().splitlines())
        doc = f"The loss of each sample (an array of one value per row; a number for one sample).\n\n{words}"
        self._public("loss", args, doc, f"self._call(self._loss, {self.kwargs(args)})")
        c(f"def _score(self, {', '.join(map(self.local, args))}):")
        with c.indent():
            c.docstring(
                "The per-sample losses, and the outputs paired with a target (dict name -> array), of batches.\n\n"
                + words
            )
            self._unpack_params(g)
            result = self._emit(g)
            paired = ", ".join(f"{name!r}: {result[name]}" for name in self.a.pairs)
            c(f"return {result['loss']}, {{{paired}}}")
        c("")

    def _grad(self) -> None:
        c = self.code
        g = self.a.graphs["step"]
        args = self.loss_reads
        gradients = "\n".join(f"    {line}" for line in self.gradient_lines())
        doc = (
            "Gradient of the batch-mean loss with respect to every trained param:\n"
            "dict name -> array, the mean over the samples of\n\n" + gradients
        )
        self._public("grad", args, doc, f"self._mean_gradient({self.kwargs(args)})")
        scale = self.names.derived("scale", "{}")
        c(f"def _backward(self, {', '.join(map(self.local, args))}, {scale}):")
        with c.indent():
            c.docstring(
                "One training step on a batch, the forward pass and the reverse pass in one: the sum of the\n"
                "losses over the batch, the outputs paired with a target (dict name -> array) and, for every\n"
                "trained param, scale * sum over the batch of dloss/dtheta (scale: the trainer's factor,\n"
                "applied where the reverse pass starts), each a new array the caller may overwrite.\n"
                "Per sample,\n\n" + gradients
            )
            self._unpack_params(g)
            outputs = g.graph["outputs"]
            result = self._emit(g, names={SCALE: scale}, inplace=True)
            seen = set()
            sums = {}
            for p in self.a.trained_params:
                n, code = outputs[p], result[p]
                if n in seen or self._borrowed(g, n):  # the update overwrites it: a copy of its own
                    code = f"np.array({code}, dtype=self.dtype)"
                seen.add(n)
                sums[p] = code
            paired = ", ".join(f"{name!r}: {result[name]}" for name in self.a.pairs)
            c(f"return {result['loss']}, {{{paired}}}, {{")
            with c.indent():
                for p, code in sums.items():
                    c(f"{p!r}: {code},")
            c("}")
        c("")

    @staticmethod
    def _borrowed(g: nx.DiGraph, n) -> bool:
        """Whether the code of node n may be an array that is not its own (a param, a view, a
        read-only broadcast): numbers and arrays that an op makes anew are its own."""
        d = g.nodes[n]
        return bool(d["shape"]) and not lowering(d["op"]).fresh

    def _predict(self) -> None:
        args = self.forward_reads
        words = []
        for name in self.a.outputs:
            target = self.a.pairs.get(name)
            if target is not None and self.m.targets[target].type == "onehot":
                words.append(f"{name}: the class indices, argmax({name}) along the last axis ({target} is onehot)")
            else:
                words.append(f"{name}: the output itself")
        shape = "an array" if len(self.a.outputs) == 1 else "a dict output name -> array"
        doc = "The predictions for the inputs, " + shape + ":\n" + "\n".join(words)
        self._public("predict", args, doc, f"self._predictions(self._call(self._forward, {self.kwargs(args)}))")
