"""Fuzzing networks: random small network files through `ebmc.compile`, and every generated class
driven on random valid and invalid data.

What must hold for every source:
- `compile` returns a module, or raises an EbmcError with a line and a column inside the file
  (mutated sources: a wrong size, an unknown name or function, a number, a token dropped,
  added or changed, lines swapped); never another exception;
- the module imports and `forward`, `loss`, `grad`, `predict`, `fit` (2 epochs, a few rows),
  `save` and `load`, on valid random data (inputs and targets onehot, binary or real as
  declared; soft labels for real targets of a cross-entropy), one sample and a batch, return
  finite numbers of the right shapes: `predict` class indices for an output paired with a
  onehot target, `grad` one array per trained param (not the fixed ones), saved params loaded back
  equal, symmetric and zero_diagonal params kept so by fit,
  also at other dims given at construction and in float32;
- one step of `fit` (one batch of all rows) moves every trained param by -lr times `grad`'s
  gradient (sgd) or by -lr * g / (|g| + eps) (the first Adam step), and reports the loss `loss`
  gives; fixed params stay;
- `derive` (text and LaTeX) of every valid source gives its text;
- on every model (they are small; float64) `grad` agrees with central differences of the
  module's own `loss`, the mean over the batch;
- invalid calls (a wrong shape, a NaN, a target outside its data type, settings out of range)
  raise ValueError or TypeError and leave the params and the rng unchanged.
The networks have 1-2 inputs (scalars, vectors, matrices), 1-3 layers (`dense` with every
activation, and hand-written layers: affine maps under any elementwise function, products and
sums of layers, `exp`, `log(sigmoid(..))`, `log(1 + square(..))`, ...), 1-2 outputs each with its
loss (`cross_entropy` of a softmax or of any y in (0, 1) against onehot targets of one or two
axes, `binary_cross_entropy` of a sigmoid or of any y in (0, 1) against binary targets, `mse`,
or a hand-written scalar loss), an L2 term sometimes, and `train sgd(...)` (momentum, nesterov)
or `adam(...)` or nothing; dims, fixed, symmetric and zero_diagonal params, transposes, powers and
an output the loss does not read sometimes. Every layer is written so that its
loss is finite for all finite data (a dense layer of log or sqrt reads a sigmoid, and its weights
are made positive and its bias 1 once built): the fuzzer looks for bugs of the compiler, not of
the domain. Central differences skip the entries where the loss has a kink within a step (relu,
abs at 0), found by their one-sided slopes.
Any other exception, a warning (warnings are errors here), a NaN or a wrong number is a failure;
failures are collected over the run and reported with their sources.

EBMC_NET_FUZZ_CASES sets the number of sources, EBMC_NET_FUZZ_SEED the seed.
"""

from __future__ import annotations

import os
import random
import tempfile
import traceback
from dataclasses import dataclass, field

import numpy as np
from models import non_finite, strict_call, strict_file_call

import ebmc
import ebmc.api
import ebmc.derive

CASES = int(os.environ.get("EBMC_NET_FUZZ_CASES", "120"))
SEED = int(os.environ.get("EBMC_NET_FUZZ_SEED", "1"))
ROWS = 5

ELEMENTWISE = "exp log sqrt abs square sigmoid tanh relu softplus log_sigmoid".split()
# x -> a layer finite for every finite x (the argument is bounded where the function needs it)
SAFE = {
    "exp": "exp(tanh({}))",
    "log": "log(1 + square({}))",
    "sqrt": "sqrt(1 + square({}))",
    "abs": "abs({})",
    "square": "square(tanh({}))",
    "sigmoid": "sigmoid({})",
    "tanh": "tanh({})",
    "relu": "relu({})",
    "softplus": "softplus({})",
    "log_sigmoid": "log_sigmoid({})",
    "identity": "{}",
    "logsig": "log(sigmoid({}))",
    "log1msig": "log(1 - sigmoid({}))",
}
DENSE_ACTS = ["identity", "softmax", *ELEMENTWISE]


@dataclass
class Data:
    name: str
    shape: tuple
    kind: str = "real"


@dataclass
class Net:
    lines: list = field(default_factory=list)
    params: list = field(default_factory=list)  # (name, shape text, init, fixed)
    inputs: list = field(default_factory=list)
    targets: list = field(default_factory=list)
    dims: dict = field(default_factory=dict)
    fixed: set = field(default_factory=set)
    attrs: dict = field(default_factory=dict)  # param -> its attributes
    positive: list = field(default_factory=list)  # dense layers of log and sqrt: W >= 0, b = 1


class Writer:
    """A random network; `self.names` its fresh names, `size(n)` a size written as a number or a dim."""

    def __init__(self, rng: random.Random):
        self.rng, self.net, self.count = rng, Net(), 0
        self.use_dims = rng.random() < 0.4

    def fresh(self, prefix):
        self.count += 1
        return f"{prefix}{self.count}"

    def size(self, n: int) -> str:
        if self.use_dims:  # every size of the same value one dim: a dim and a number are different sizes
            name = f"n{n}"
            self.net.dims[name] = n
            return name
        return str(n)

    def shape(self, shape) -> str:
        return "[" + ", ".join(self.size(n) for n in shape) + "]" if shape else ""

    def param(self, shape, init=None, fixed=None):
        name = self.fresh("p")
        init = init or self.rng.choice(["~ normal(0, 0.5)", "~ glorot", "~ he", "~ uniform(-0.5, 0.5)", "= 0.3"])
        fixed = self.rng.random() < 0.15 if fixed is None else fixed
        if fixed:
            self.net.fixed.add(name)
        self.net.params.append(f"param {name}{self.shape(shape)} {init}" + (" : fixed" if fixed else ""))
        return name

    def layer(self, expr, keyword="layer"):
        name = self.fresh("h" if keyword == "layer" else "y")
        self.net.lines.append(f"{keyword} {name} = {expr}")
        return name

    # ------------------------------------------------------------ the pieces
    def dense(self, cur: str, n: int, act: str, keyword="layer") -> str:
        """dense(cur, n, act); for log and sqrt on a sigmoid of cur, with weights made positive and
        a bias of 1 once the params exist (`positive`): the argument stays in the domain."""
        if act in ("log", "sqrt"):
            cur = self.layer(f"sigmoid({cur})")
        name = self.layer(f"dense({cur}, {self.size(n)}, {act})", keyword)
        if act in ("log", "sqrt"):
            self.net.positive.append(name)
        return name

    def vector_of_input(self, x: Data) -> tuple[str, int]:
        """A layer of one axis from an input of any shape."""
        rng = self.rng
        if x.shape == ():
            k = rng.randint(1, 4)
            return self.layer(f"{SAFE[rng.choice(list(SAFE))].format(f'{x.name} * {self.param((k,))}')}"), k
        if len(x.shape) == 2:
            k = rng.randint(1, 4)
            w = self.param((x.shape[1], k), "~ normal(0, 0.5)")
            u = self.param((x.shape[0],), "~ normal(0, 0.5)")
            form = rng.choice(
                [
                    f"{u} @ tanh({x.name} @ {w})",
                    f"tanh({u} @ {x.name}) @ {w}",
                    f"{u} @ ({x.name} @ {w})",
                    f"(({x.name}.T @ {u}) @ {w}) / 2",
                    f"-(tanh({x.name}.T) @ {u}) @ {w}",
                ]
            )
            return self.layer(form), k
        return x.name, x.shape[0]

    def hidden(self, cur: str, k: int, previous: list) -> tuple[str, int]:
        rng = self.rng
        n = rng.randint(1, 4)
        choice = rng.random()
        if choice < 0.45:
            act = rng.choice(DENSE_ACTS)
            if act in ("exp", "square"):  # unbounded and stacked: keep the values moderate
                act = rng.choice(["tanh", "sigmoid", act]) if k > 2 else act
            return self.dense(cur, n, act), n
        if choice < 0.7:
            attrs = rng.choice(["", "", ": symmetric", ": zero_diagonal", ": symmetric, zero_diagonal"])
            if n == k and attrs and k > 1:  # a square matrix, kept symmetric or with a zero diagonal
                w = self.param((k, n), "~ normal(0, 0.5)", fixed=False)
                self.net.params[-1] += f" {attrs}"
                self.net.attrs[w] = attrs
            else:
                w = self.param((k, n), "~ normal(0, 0.5)")
            bias = f" + {self.param((n,), '= 0')}" if rng.random() < 0.6 else ""
            f = rng.choice([k2 for k2 in SAFE if k2 not in ("exp",)] + ["exp"])
            return self.layer(SAFE[f].format(f"{cur} @ {w}{bias}")), n
        same = [p for p, m in previous if m == k and p != cur]
        if choice < 0.85 and same:
            other = rng.choice(same)
            return self.layer(
                rng.choice([f"{cur} * {other}", f"{cur} + {other}", f"tanh({cur}) * sigmoid({other})"])
            ), k
        form = rng.choice(
            [
                lambda: f"{cur} * {self.param((k,), '= 1')}",
                lambda: f"{cur} + sum({cur}) / {k}",
                lambda: f"{self.param((), '= 0.7')} * tanh({cur}) ** 2 - {cur} / 3",
                lambda: f"-{cur} * sigmoid({cur})",
                lambda: f"tanh({cur}) * mean({cur})",
                lambda: f"{cur} - logsumexp({cur})" if k > 1 else f"{cur} * {cur}",  # k = 1: exactly 0
            ]
        )()
        return self.layer(form), k

    def head(self, cur: str, k: int) -> tuple[str, str]:
        """An output from `cur`, its target and its loss term."""
        rng, net = self.rng, self.net
        kind = rng.choice(["ce", "ce", "bce", "mse", "scalar"])
        t = Data(self.fresh("t"), ())
        if kind == "ce":
            c = rng.randint(2, 4)
            t.kind = "onehot"
            if rng.random() < 0.25:  # two axes: one c-way choice per group
                g = rng.randint(1, 3)
                t.shape = (g, c)
                w = self.param((k, g, c), "~ normal(0, 0.5)", fixed=False)
                z = f"{cur} @ {w}"
            else:
                t.shape = (c,)
                if rng.random() < 0.5:
                    z = None
                else:
                    w = self.param((k, c), "~ normal(0, 0.5)", fixed=False)
                    z = f"{cur} @ {w}"
            if z is None:
                y = self.layer(f"dense({cur}, {self.size(c)}, softmax)", "output")
            elif rng.random() < 0.7:
                y = self.layer(f"softmax({z})", "output")
            else:  # any y in (0, 1)
                y = self.layer(f"0.98 * sigmoid({z}) + 0.01", "output")
            if rng.random() < 0.2:  # soft labels: a real target
                t.kind = "soft"
            if z is not None and rng.random() < 0.3:
                loss = rng.choice([f"-sum({t.name} * log(softmax({z})))", f"-sum({t.name} * log({y}))"])
            else:
                loss = f"cross_entropy({y}, {t.name})"
        elif kind == "bce":
            c = rng.randint(1, 3)
            t.shape, t.kind = (c,), "binary"
            w = lambda: self.param((k, c), "~ normal(0, 0.5)", fixed=False)  # noqa: E731
            form = rng.choice(
                [
                    lambda: f"dense({cur}, {self.size(c)}, sigmoid)",
                    lambda: f"sigmoid({cur} @ {w()})",
                    lambda: f"0.9 * sigmoid({cur} @ {w()}) + 0.05",
                    lambda: f"0.9 * exp(log_sigmoid({cur} @ {w()})) + 0.05",
                ]
            )()
            y = self.layer(form, "output")
            loss = f"binary_cross_entropy({y}, {t.name})"
            if rng.random() < 0.2:
                loss = f"-mean({t.name} * log({y}) + (1 - {t.name}) * log(1 - {y}))"
        elif kind == "mse":
            if rng.random() < 0.25:
                t.shape = ()
                y = self.layer(f"{cur} @ {self.param((k,), '~ normal(0, 0.5)', fixed=False)}", "output")
            else:
                c = rng.randint(1, 3)
                t.shape = (c,)
                y = self.dense(cur, c, rng.choice(DENSE_ACTS), "output")
            loss = f"mse({y}, {t.name})"
        else:
            c = rng.randint(1, 3)
            t.shape = (c,)
            y = self.layer(f"dense({cur}, {self.size(c)}, {rng.choice(['identity', 'tanh', 'softplus'])})", "output")
            loss = rng.choice(
                [
                    f"sum(square({y} - {t.name}))",
                    f"0.5 * sum(({y} - {t.name}) ** 2)",
                    f"logsumexp({y}) - sum({y} * {t.name})",
                    f"mean(softplus({y} - {t.name}))",
                    f"sum(log(1 + square({y} - {t.name})))",
                ]
            )
        net.targets.append(t)
        return y, loss

    def source(self) -> str:
        rng, net = self.rng, self.net
        for _ in range(rng.randint(1, 2)):
            shape = rng.choice([(rng.randint(1, 4),)] * 3 + [(), (rng.randint(1, 3), rng.randint(1, 3))])
            kind = rng.choice(["real"] * 4 + ["binary"] + (["onehot"] if shape else []))
            net.inputs.append(Data(self.fresh("x"), shape, kind))
        vectors = [self.vector_of_input(x) for x in net.inputs]
        if len(vectors) == 2:  # join both inputs in one layer
            (a, ka), (b, kb) = vectors
            n = rng.randint(1, 4)
            wa, wb = self.param((ka, n), "~ normal(0, 0.5)"), self.param((kb, n), "~ normal(0, 0.5)")
            vectors = [(self.layer(rng.choice([f"tanh({a} @ {wa} + {b} @ {wb})", f"({a} @ {wa}) * ({b} @ {wb})"])), n)]
        cur, k = vectors[0]
        previous = [(cur, k)]
        for _ in range(rng.randint(0 if cur not in [x.name for x in net.inputs] else 1, 3)):
            cur, k = self.hidden(cur, k, previous)
            previous.append((cur, k))
        heads = [self.head(cur, k) for _ in range(rng.choice([1, 1, 2]))]
        if rng.random() < 0.2:  # an output the loss does not read
            self.layer(rng.choice([f"tanh({cur})", f"{heads[0][0]} * 2", f"sum({cur})"]), "output")
        loss = " + ".join(term for _, term in heads)
        trained = [p.split()[1].split("[")[0] for p in net.params if ": fixed" not in p]
        if trained and rng.random() < 0.25:
            loss += f" + 1e-3 * sum({rng.choice(trained)} ** 2)"
        train = rng.choice(
            [
                "",
                f"train sgd(lr=0.05, batch={rng.randint(1, 4)}, epochs=3)",
                "train sgd(lr=0.05, momentum=0.9)",
                "train sgd(lr=0.02, momentum=0.5, nesterov=1)",
                "train adam",
                f"train adam(lr=0.01, batch={rng.randint(1, 4)})",
            ]
        )
        body = [
            f"input {x.name}{self.shape(x.shape)}" + (f" : {x.kind}" if x.kind != "real" else "") for x in net.inputs
        ]
        body += [
            f"target {t.name}{self.shape(t.shape)}" + (f" : {t.kind}" if t.kind not in ("real", "soft") else "")
            for t in net.targets
        ]
        body += net.params + net.lines + [f"loss = {loss}"] + ([train] if train else [])
        body = [f"dim {d} = {n}" for d, n in net.dims.items()] + body
        self.source_text = "model net {\n" + "".join(f"    {line}\n" for line in body) + "}\n"
        return self.source_text


def mutated(source: str, rng: random.Random) -> str:
    """The source with one edit that may or may not make it wrong."""
    lines = source.splitlines()
    i = rng.randrange(1, len(lines) - 1)
    line = lines[i]
    edit = rng.choice(["size", "name", "drop", "swap", "function", "number", "token"])
    words = line.split()
    functions = [*ELEMENTWISE, "softmax", "identity", "sum", "mean", "logsumexp", "dense", "cross_entropy", "mse"]
    present = [f for f in functions if f in line]
    if edit == "function" and present:
        line = line.replace(rng.choice(present), rng.choice([*functions, "binary_cross_entropy", "foo", "glorot"]), 1)
    elif edit == "number":
        line = line.replace(
            rng.choice([c for c in "0123456789" if c in line] or ["1"]), rng.choice(["0", "-1", "1.5"]), 1
        )
    elif edit == "token":
        spots = [i for i, c in enumerate(line) if c in "([,)@*+=:"] or [len(line) - 1]
        i2 = rng.choice(spots)
        line = (
            line[:i2]
            + rng.choice(["", ".T", ")", "(", ",", " @ ", " x1", "[2]", " : fixed", " : onehot"])
            + line[i2 + 1 :]
        )
    elif edit == "size":
        line = line.replace(rng.choice([c for c in "1234" if c in line] or ["1"]), str(rng.randint(5, 7)), 1)
    elif edit == "name":
        line = line.replace("h", "q", 1) if "h" in line else line + " q"
    elif edit == "drop" and len(words) > 1:
        del words[rng.randrange(len(words))]
        line = " ".join(words)
    else:
        j = rng.randrange(1, len(lines) - 1)
        lines[i], lines[j] = lines[j], lines[i]
        return "\n".join(lines) + "\n"
    lines[i] = line
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- data
def sample(d: Data, rows, rng: np.random.Generator):
    shape = ((rows,) if rows else ()) + d.shape
    if d.kind == "soft":
        return rng.dirichlet(np.ones(d.shape[-1]), shape[:-1])
    if d.kind == "onehot":
        return np.eye(d.shape[-1])[rng.integers(0, d.shape[-1], shape[:-1])]
    if d.kind == "binary":
        return rng.integers(0, 2, shape).astype(float)
    return rng.normal(size=shape)


class Failed(Exception):
    pass


def expect(ok, what):
    if not ok:
        raise Failed(what)


def call(fn, *args, **kwargs):
    """fn(...) with warnings as errors; any exception propagates."""
    out = strict_call(fn, *args, **kwargs)
    if out.error is not None:
        raise out.error
    return out.value


def refused(what, fn, m, *args, **kwargs):
    before = {k: v.copy() for k, v in m.params.items()}, m.rng.bit_generator.state
    out = strict_call(fn, *args, **kwargs)
    expect(
        out.refused,
        f"{what}: expected ValueError/TypeError, got {out.error!r}" + (" (returned)" if out.returned else ""),
    )
    expect(m.rng.bit_generator.state == before[1], f"{what}: the rng changed")
    for k, v in before[0].items():
        expect(np.array_equal(m.params[k], v), f"{what}: param {k} changed")


def mean_loss(m, data):
    return float(np.mean(call(m.loss, **data)))


def drive(module, writer: Writer, rng: np.random.Generator):
    net = writer.net
    (cls,) = module.MODELS.values()
    dims = {}
    if net.dims and rng.random() < 0.4:  # another size for one dim, at construction
        name = sorted(net.dims)[rng.integers(len(net.dims))]
        old = net.dims[name]
        dims = {name: old + 1 if old < 4 else 2}
        resized = {old: dims[name]}
        net = Net(
            lines=net.lines,
            params=net.params,
            inputs=[Data(d.name, tuple(resized.get(n, n) for n in d.shape), d.kind) for d in net.inputs],
            targets=[Data(d.name, tuple(resized.get(n, n) for n in d.shape), d.kind) for d in net.targets],
            dims=net.dims,
            fixed=net.fixed,
            attrs=net.attrs,
            positive=net.positive,
        )
    m = call(cls, seed=0, **dims)
    for name in net.positive:
        np.abs(m.params[f"{name}_W"], out=m.params[f"{name}_W"])
        m.params[f"{name}_b"][...] = 1
    trained = {p.split()[1].split("[")[0] for p in net.params if ": fixed" not in p}
    trained |= {k for k in m.params if k not in {p.split()[1].split("[")[0] for p in net.params}}  # dense params
    expect(set(m.params) >= trained, f"params {sorted(m.params)} lack some of {sorted(trained)}")
    outputs = [line.split()[1] for line in net.lines if line.startswith("output ")]
    paired, free = {}, list(net.targets)
    out_shapes = {}
    for rows in (None, ROWS):
        inputs = {x.name: sample(x, rows, rng) for x in net.inputs}
        targets = {t.name: sample(t, rows, rng) for t in net.targets}
        lead = (rows,) if rows else ()
        fwd = call(m.forward, **inputs)
        expect(isinstance(fwd, dict) and set(fwd) == set(outputs), f"forward gave {type(fwd)} {list(fwd)}")
        expect(non_finite(fwd, "forward") is None, non_finite(fwd, "forward"))
        for name in outputs:
            expect(fwd[name].shape[: len(lead)] == lead, f"forward[{name}] shape {fwd[name].shape}")
            out_shapes[name] = fwd[name].shape[len(lead) :]
        loss = call(m.loss, **inputs, **targets)
        expect(np.shape(loss) == lead, f"loss shape {np.shape(loss)} for rows={rows}")
        expect(non_finite(loss, "loss") is None, non_finite(loss, "loss"))
        g = call(m.grad, **inputs, **targets)
        expect(set(g) == trained, f"grad keys {sorted(g)} != trained params {sorted(trained)}")
        for k, v in g.items():
            expect(np.shape(v) == m.params[k].shape, f"grad[{k}] shape {np.shape(v)} != {m.params[k].shape}")
        expect(non_finite(g, "grad") is None, non_finite(g, "grad"))
        if rows:  # central differences of the module's own loss
            data = {**inputs, **targets}
            centre = mean_loss(m, data)
            for k in sorted(g):
                p = m.params[k]
                numeric = np.zeros_like(p)
                kink = np.zeros(p.shape, bool)  # relu and abs at 0 within a step: no derivative
                for i in np.ndindex(p.shape):
                    old = p[i]
                    p[i] = old + 1e-6
                    up = mean_loss(m, data)
                    p[i] = old - 1e-6
                    down = mean_loss(m, data)
                    p[i] = old
                    numeric[i] = (up - down) / 2e-6
                    kink[i] = abs(up + down - 2 * centre) > 1e-11  # one-sided slopes 1e-5 apart
                err = np.where(kink, -1, np.abs(g[k] - numeric) - (1e-5 + 1e-4 * np.abs(numeric)))
                expect(
                    err.max(initial=-1) <= 0,
                    f"grad[{k}] {g[k].ravel()[:6]} != central differences {numeric.ravel()[:6]}",
                )
        pred = call(m.predict, **inputs)
        for name in outputs:
            shape = out_shapes[name]
            match = next((t for t in free if t.shape == shape), None)
            if rows is None and match is not None and name not in paired:
                paired[name] = match
                free.remove(match)
            got = pred[name] if len(outputs) > 1 else pred
            expect(non_finite(got, "predict") is None, non_finite(got, "predict"))
            t = paired.get(name)
            if t is not None and t.kind == "onehot":
                expect(np.issubdtype(np.asarray(got).dtype, np.integer), f"predict[{name}] not class indices: {got!r}")
                expect(np.shape(got) == lead + shape[:-1], f"predict[{name}] shape {np.shape(got)}")
                expect(np.all((0 <= got) & (got < shape[-1])), f"predict[{name}] out of range")
            else:
                expect(np.shape(got) == lead + shape, f"predict[{name}] shape {np.shape(got)}")
    expect(all(isinstance(v, dict) for v in [fwd]), "")

    # fit, save, load
    x = {d.name: sample(d, 8, rng) for d in net.inputs}
    t = {d.name: sample(d, 8, rng) for d in net.targets}
    xs = x if len(x) > 1 else next(iter(x.values()))
    ts = t if len(t) > 1 else next(iter(t.values()))
    settings = dict(epochs=2, batch=3, validation=(xs, ts))
    out = strict_call(m.fit, xs, ts, **settings)
    if out.error is not None and "stopped being finite numbers" in str(out.error):
        # the documented divergence (exp and square layers, a large lr): the params put back, and
        # a small lr trains
        expect(isinstance(out.error, ValueError), f"divergence as {out.error!r}")
        expect(non_finite(m.params, "params") is None, "params after a divergent fit not finite")
        out = strict_call(m.fit, xs, ts, lr=1e-4, **settings)
    if out.error is not None:
        raise out.error
    history = out.value
    expect(len(history) == 2 and non_finite(history, "history") is None, f"history {history}")
    expect(non_finite(m.params, "params") is None, "params after fit not finite")
    for name, attrs in net.attrs.items():
        w = m.params[name]
        expect("symmetric" not in attrs or np.array_equal(w, w.T), f"{name} not symmetric after fit")
        expect("zero_diagonal" not in attrs or not np.diagonal(w).any(), f"{name} diagonal not 0 after fit")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "net.npz")
        out = strict_file_call(m.save, path)
        if out.error:
            raise out.error
        saved = {k: v.copy() for k, v in m.params.items()}
        other = call(cls, seed=1, **dims)
        out = strict_file_call(other.load, path)
        if out.error:
            raise out.error
        for k, v in saved.items():
            expect(np.array_equal(other.params[k], v), f"load: {k} differs")

    # one step of the training loop (_backward, its sums over the batch) is -lr times `grad`'s gradient
    step = call(cls, seed=0, **dims)
    for name in net.positive:
        np.abs(step.params[f"{name}_W"], out=step.params[f"{name}_W"])
        step.params[f"{name}_b"][...] = 1
    before = {k: v.copy() for k, v in step.params.items()}
    g = call(step.grad, **x, **t)
    start = mean_loss(step, {**x, **t})
    sgd = "train sgd" in writer.source_text
    settings = dict(momentum=0.0, nesterov=False) if sgd else {}
    history = call(step.fit, xs, ts, epochs=1, batch=8, lr=1e-3, **settings)
    expect(abs(history[0]["loss"] - start) <= 1e-9 * (1 + abs(start)), f"fit's loss {history[0]} != {start}")
    for k, v in before.items():
        if k not in g:
            expect(np.array_equal(step.params[k], v), f"fit changed the fixed param {k}")
            continue
        delta = -1e-3 * (g[k] if sgd else g[k] / (np.abs(g[k]) + 1e-8))
        if k in net.attrs:  # the step, then the constraint
            delta = 0.5 * (delta + delta.T) if "symmetric" in net.attrs[k] else delta
            if "zero_diagonal" in net.attrs[k]:
                np.fill_diagonal(delta, 0)
        expect(
            np.allclose(step.params[k] - v, delta, rtol=1e-6, atol=1e-12),
            f"one fit step of {k}: {(step.params[k] - v).ravel()[:6]} != {delta.ravel()[:6]}",
        )

    # invalid calls
    first = net.inputs[0]
    bad = dict(x)
    bad[first.name] = np.full((8, *first.shape), np.nan)
    refused("fit with NaN input", m.fit, m, bad if len(x) > 1 else bad[first.name], ts)
    wrong = dict(x)
    wrong[first.name] = np.zeros((8, *first.shape, 2))
    refused("forward of a wrong shape", m.forward, m, **wrong)
    refused("loss with a wrong shape", m.loss, m, **wrong, **t)
    for d in net.targets:
        if d.kind in ("onehot", "binary"):
            badt = dict(t)
            badt[d.name] = np.full_like(t[d.name], 0.5)
            refused(f"grad with a {d.kind} target of 0.5", m.grad, m, **x, **badt)
            if d.kind == "onehot":
                badt[d.name] = np.ones_like(t[d.name])
                refused("fit with a non-onehot target", m.fit, m, xs, badt if len(t) > 1 else badt[d.name])
    refused("fit with lr=-1", m.fit, m, xs, ts, lr=-1.0)
    refused("fit with epochs=1.5", m.fit, m, xs, ts, epochs=1.5)
    refused("grad of no rows", m.grad, m, **{k: v[:0] for k, v in x.items()}, **{k: v[:0] for k, v in t.items()})

    # float32 runs too
    m32 = call(cls, seed=0, dtype="float32", **dims)
    for name in net.positive:
        np.abs(m32.params[f"{name}_W"], out=m32.params[f"{name}_W"])
        m32.params[f"{name}_b"][...] = 1
    out = call(m32.loss, **x, **t)
    expect(non_finite(out, "float32 loss") is None, non_finite(out, "float32 loss"))
    out = strict_call(m32.fit, xs, ts, epochs=1, batch=4, lr=1e-3)
    if out.error is not None:
        raise out.error
    expect(all(p.dtype == np.float32 for p in m32.params.values()), "float32 params after fit not float32")
    expect(non_finite(m32.params, "float32 params") is None, "float32 params not finite after fit")


def run_case(source: str, writer: Writer | None, seed: int) -> str | None:
    """None when every promise held, else what went wrong."""
    try:
        out = strict_call(ebmc.compile, source)
        if out.error is not None:
            e = out.error
            if not isinstance(e, ebmc.EbmcError):
                return f"compile raised {type(e).__name__}: {e}\n{''.join(traceback.format_exception(e)[-4:])}"
            if not (isinstance(e.line, int) and e.line >= 1 and isinstance(e.column, int) and e.column >= 1):
                return f"EbmcError without a place: {e!r} line={e.line} column={e.column}"
            if e.line > source.count("\n") + 1:
                return f"EbmcError outside the file: line {e.line}"
            if writer is not None:
                return f"a valid network refused: {e}"
            return None
        if writer is not None:  # `ebmc derive` of a network: its layers and backpropagation as formulas
            analyses = strict_call(ebmc.api.analyse_file, source)
            if analyses.error is not None:
                return f"analyse_file raised {analyses.error!r}"
            for latex in (False, True):
                text = strict_call(ebmc.derive.derive, analyses.value, latex=latex)
                if text.error is not None or not isinstance(text.value, str) or not text.value:
                    return f"derive (latex={latex}) gave {text.error or text.value!r}"
        namespace: dict = {"__name__": "<ebmc-net-fuzz>"}
        exec(compile(out.value.source, "<ebmc-net-fuzz>", "exec"), namespace)
        module = type("M", (), namespace)
        if writer is not None:
            drive(module, writer, np.random.default_rng(seed))
        return None
    except Failed as f:
        return str(f)
    except Exception as e:  # noqa: BLE001 - every failure is reported with its source
        return f"{type(e).__name__}: {e}\n{''.join(traceback.format_exception(e)[-4:])}"


def cases(count: int, seed: int):
    for i in range(count):
        rng = random.Random(seed * 100003 + i)
        writer = Writer(rng)
        source = writer.source()
        if i % 3 == 2:
            yield mutated(source, rng), None, i
        else:
            yield source, writer, i


def test_random_networks_compile_run_and_have_the_right_gradients():
    failures = []
    for source, writer, i in cases(CASES, SEED):
        problem = run_case(source, writer, i)
        if problem:
            failures.append(f"case {i}: {problem}\n{source}")
    assert not failures, f"{len(failures)} of {CASES} cases failed:\n\n" + "\n\n".join(failures[:8])
