"""Trainers for energy models: contrastive divergence (CD-k) and persistent CD (PCD-k).

A trainer is a plugin (entry point group `ebmc.trainers`) with a `name`, its
`options` (key -> default) and `write(cls)`, which adds `fit` and the methods it
needs to the class being generated (`cls` is a module.EnergyClass).

Both follow the gradient of the log-likelihood of the data,

    d log p(v) / d theta = -E_{h|v}[dE/dtheta] + E_{v,h ~ model}[dE/dtheta],

with the model expectation estimated from Gibbs chains: started at the data
(CD) or carried over from the previous batch (PCD). Because the energy is
affine in each hidden group, E_{h|v}[dE/dtheta] is dE/dtheta at h = E[h|v].
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...options import rules_for
from ...passes.learning import model_var, monitor_graph, statistics_graph

CD_OPTIONS = {"k": 1, "lr": 0.05, "batch": 100, "epochs": 10, "momentum": 0.0, "weight_decay": 0.0}


POSITIVE_WORDS = {
    "means": "the hidden means given the data",
    "free": "dF(v)/dtheta at the data (the hidden units summed out)",
    "none": "dE/dtheta at the data (there are no hidden units)",
    "chain": "k Gibbs sweeps over the hidden units with the data clamped",
}
STATISTICS_WORDS = {
    "means": "dE/dtheta is taken at the hidden means (exact for an energy affine in the hidden units).",
    "free": "The data's side is E_{h|v}[dE/dtheta] = dF(v)/dtheta exactly; the model's side is taken at its sample.",
    "none": "dE/dtheta is taken at the data and at the model's sample.",
    "chain": "dE/dtheta is taken at the draws of the chains (the hidden units interact: no closed form).",
}


def history_words(cls) -> str:
    """What fit's history records hold, for the model's metrics."""
    metrics = monitor_metrics(cls)
    words = {
        "recon_error": "`recon_error` (mean squared error of the mean-field reconstruction of the watched rows)",
        "free_energy": "`free_energy` (the mean free energy of the watched rows)",
    }
    listed = "".join(f"\n{words[k]}," for k in metrics)
    watched = "\n(the watched rows: up to 256 training rows, drawn once)" if metrics else ""
    return f"Returns the history: one dict per epoch with `epoch`,{listed} and `seconds`{watched}.\n"


def monitor_metrics(cls) -> list[str]:
    """The metrics fit records: the reconstruction error where every group has a closed-form mean
    and F(v) exists, the mean free energy where F(v) exists."""
    a = cls.a
    free = "hidden" in a.summable or not a.hidden
    out = []
    if free and cls.mean_field() and a.hidden:
        out.append("recon_error")
    if free:
        out.append("free_energy")
    return out


def positive_phase(cls) -> str:
    """How a trainer gets E_{h|v}[dE/dtheta] for the data: "means" (dE/dtheta at the hidden means:
    the energy is affine in every hidden group), "free" (dF(v)/dtheta: the hidden units sum out, some
    quadratically), "none" (no hidden units: dE/dtheta at the data) or "chain" (the hidden units
    interact: dE/dtheta at draws of a Gibbs chain with the data clamped)."""
    a = cls.a
    if not a.hidden:
        return "none"
    if "hidden" not in a.summable:
        return "chain"
    return "means" if all(a.groups[h].form == "affine" for h in a.hidden) else "free"


@dataclass(frozen=True)
class ContrastiveDivergence:
    name: str
    persistent: bool
    options: dict = field(default_factory=lambda: dict(CD_OPTIONS))
    doc: str = ""
    kind: str = "energy"  # what it trains: an energy model

    def write(self, cls) -> None:
        a = cls.a
        defaults = {**self.options, **(cls.m.train.options if cls.m.train else {})}
        vis, hid = a.visible, a.hidden
        positive = positive_phase(cls)
        grad = a.graphs["expected_grad"] if positive in ("means", "free") else a.graphs["grad"]
        stats = statistics_graph(grad, hid, vis)
        fast = (
            positive == "means"
            and all(a.groups[v].independent for v in vis)
            and all(cls.draws_from_mean(h) for h in hid)
        )
        self._fit(cls, defaults, vis, hid, positive, fast)
        if fast:
            self._chain(cls, vis, hid)
        self._update(cls, stats, vis, hid)
        self._monitor(cls, vis, hid)

    # ------------------------------------------------------------ fit
    def _fit(self, cls, defaults, vis, hid, positive, fast) -> None:
        c = cls.code
        num = cls.ctx.number
        whole = {k for k, rule in rules_for(defaults).items() if rule[0]}
        kw = ", ".join(f"{k}={int(v) if k in whole else num(float(v))}" for k, v in defaults.items())
        keys = ", ".join(defaults)
        title = "persistent contrastive divergence (PCD-k)" if self.persistent else "contrastive divergence (CD-k)"
        start = "the persistent chains (one per row of a batch)" if self.persistent else "the batch itself"
        model = {x: cls.derived(x, "{}_model") for x in vis + hid}
        every = {x: cls.derived(x, "{}_all") for x in vis}
        conditions = {x: cls.derived(x, "{}_all") for x in cls.conds}
        conds = [cls.names.exact(x) for x in cls.conds]
        signature = [
            "self",
            "data",
            "mask=None",
            "*",
            *conds,
            *kw.split(", "),
            "verbose=False",
            "callback=None",
            "monitor=1",
        ]
        c.wrapped("def fit(", signature, "):")
        with c.indent():
            c.docstring(
                f"Train by {title}; the defaults are the model's `train` settings.\n\n"
                "For each mini-batch of data (rows shuffled every epoch):\n"
                f"    positive phase: {POSITIVE_WORDS[positive]};\n"
                f"    negative phase: {'k sweeps of block Gibbs sampling' if fast else 'k Gibbs sweeps (see _sweep)'} "
                f"from {start};\n"
                "    theta += lr / B * (sum_b dE/dtheta(negative) - sum_b dE/dtheta(positive))\n"
                "             - lr * weight_decay * theta, with momentum on the step.\n"
                f"{STATISTICS_WORDS[positive]}\n\n"
                + (
                    "data: the visible array (rows are samples).\n"
                    if len(vis) == 1
                    else "data: dict visible name -> array (rows are samples).\n"
                )
                + "mask: like data (or like one row), booleans; False marks unobserved units, which are\n"
                "set to 0 in both phases so that they take no part in the energy (exact for energies\n"
                "linear or bilinear in each visible unit); their values are not read.\n"
                "Settings: k, batch and epochs whole numbers >= 1, lr > 0, 0 <= momentum < 1,\n"
                "weight_decay >= 0. callback(model, record) is called after each epoch; when it\n"
                "returns False, training stops. monitor: the metrics are computed every `monitor`\n"
                "epochs (a whole number >= 0; 0: never, and the records hold `epoch` and `seconds` only).\n"
                + history_words(cls)
                + "If the params stop being finite numbers (a learning\n"
                "rate far too large), they are put back as they were before that epoch and fit raises\n"
                "ValueError."
            )
            if cls.conds:  # the conditions bear the model's names: the work is done apart from them
                given = ", ".join(f"{x!r}: {cls.names.exact(x)}" for x in cls.conds)
                passed = [f"{k}={k}" for k in [*defaults, "verbose", "callback", "monitor"]]
                c.wrapped("return self._fit(", ["data", "mask", f"{{{given}}}", *passed], ")")
        if cls.conds:
            c("")
            private = ["self", "data", "mask", "conditions", *defaults, "verbose", "callback", "monitor"]
            c.wrapped("def _fit(", private, "):")
        with c.indent():
            if cls.conds:
                c.docstring("fit, given the conditions as a dict name -> array.")
            c.wrapped(f"{keys} = self._settings(", [f"{k}={k}" for k in defaults], ")")
            c('verbose = self._flag("verbose", verbose)')
            c("monitor = self._check_monitor(monitor)")
            c("if callback is not None and not callable(callback):")
            with c.indent():
                c('raise TypeError(f"callback must be callable or None, got {type(callback).__name__}")')
            c("arrays, weights = self._training_data(data, mask)")
            for v in vis:
                c(f"{every[v]} = arrays[{v!r}]")
            c(f"n = {every[vis[0]]}.shape[0]")
            if cls.conds:
                held = ", ".join(conditions[x] for x in cls.conds)
                c(f"{held}{',' if len(cls.conds) == 1 else ''} = self._conditions(conditions, n)")
            c("velocity = {name: np.zeros_like(p) for name, p in self.params.items()}")
            c("watch = self.rng.choice(n, size=min(n, 256), replace=False)")
            chained = cls.swept()
            if self.persistent:
                for x in vis if fast else chained:
                    c(f"self._chains_{x} = self._random_{x}(min(batch, n))")
            c("history = []")
            c('with np.errstate(over="ignore", invalid="ignore"):  # a divergence is found below, and undone')
            with c.indent():
                c("for epoch in range(epochs):")
                with c.indent():
                    c("start = time.perf_counter()")
                    c("before = {name: p.copy() for name, p in self.params.items()}")
                    c("order = self.rng.permutation(n)")
                    c("for low in range(0, n, batch):")
                    with c.indent():
                        c("rows = order[low:low + batch]")
                        for x in vis:
                            c(f"{cls.local(x)} = {every[x]}[rows]")
                        for x in cls.conds:
                            c(f"{cls.local(x)} = {conditions[x]}[rows]")
                        c("m = None if weights is None else {name: array[rows] for name, array in weights.items()}")
                        count = f"{cls.local(vis[0])}.shape[0]"
                        if fast:
                            self._fast_phases(cls, vis, hid, model, count)
                        else:
                            self._phases(cls, vis, hid, model, count, positive, chained)
                        args = ", ".join(
                            [*map(cls.local, vis + hid), *(model[x] for x in vis + hid), *map(cls.local, cls.conds)]
                        )
                        c(f"deltas = self._statistics({args})")
                        c(f"self._update(deltas, lr / {count}, momentum, weight_decay, velocity, lr)")
                    c("metrics = {}")
                    c("if monitor and (epoch + 1) % monitor == 0:")
                    with c.indent():
                        c("watched = None if weights is None else {name: w[watch] for name, w in weights.items()}")
                        watched = ", ".join(f"{conditions[x]}[watch]" for x in cls.conds)
                        c(
                            "metrics = self._monitor({"
                            + ", ".join(f"{v!r}: {every[v]}[watch]" for v in vis)
                            + f"}}, watched, ({watched}{',' if len(cls.conds) == 1 else ''}))"
                        )
                    c("self._check_training(before, metrics, epoch + 1, lr)")
                    c("record = {'epoch': epoch + 1, **metrics, 'seconds': time.perf_counter() - start}")
                    c("history.append(record)")
                    c("if verbose:")
                    with c.indent():
                        c("shown = '  '.join(f'{key} {value:.5g}' for key, value in metrics.items())")
                        c("print(f\"epoch {record['epoch']:4d}  {shown}  {record['seconds']:.2f} s\")")
                    c("if callback is not None and callback(self, record) is False:")
                    with c.indent():
                        c("break")
            c("return history")
        c("")

    def _fast_phases(self, cls, vis, hid, model, count) -> None:
        """The batch's two phases of an RBM-like model: hidden means given the data, and the block
        Gibbs chain of _negative_phase, whose hidden units are drawn from means already computed."""
        c = cls.code
        for h in hid:
            c(f"{cls.local(h)} = {cls.call('mean', h, count)}")
        model_names = ", ".join(model[x] for x in vis + hid)
        if self.persistent:
            for v in vis:
                c(f"{model[v]} = self._chains_{v}[:{count}]")
            for h in hid:
                c(f"{model[h]} = {cls.call('mean', h, count, model)}")
            start_state = model_names
        else:
            start_state = ", ".join(map(cls.local, vis + hid))
        conds = "".join(f"{cls.local(x)}, " for x in cls.conds)
        c(f"{model_names} = self._negative_phase({start_state}, {conds}k, m)")
        if self.persistent:
            for v in vis:
                c(f"self._chains_{v}[:{count}] = {model[v]}")

    def _phases(self, cls, vis, hid, model, count, positive, chained) -> None:
        """The batch's two phases of any model, through the model's one sweep routine."""
        c = cls.code
        cls.couplings_line()
        if positive == "means":
            for h in hid:
                c(f"{cls.local(h)} = {cls.call('mean', h, count)}")
        elif positive == "chain":  # the hidden units drawn given the data, k sweeps over them alone
            clamp = "{" + ", ".join(f"{v!r}: True" for v in vis) + "}"
            for h in hid:
                if h in chained:
                    c(f"{cls.local(h)} = self._random_{h}({count})")
            c("for _ in range(k):")
            with c.indent():
                c(cls.sweep_call(clamp))
        else:  # not read by the statistics
            for h in hid:
                c(f"{cls.local(h)} = None")
        for x in chained:
            c(f"{model[x]} = self._chains_{x}[:{count}]" if self.persistent else f"{model[x]} = {cls.local(x)}")
        c("for _ in range(k):")
        with c.indent():
            c(cls.sweep_call(code=lambda x: model[x]))
            c("if m is not None:")
            with c.indent():
                for v in vis:
                    c(f"{model[v]} = {model[v]} * m[{v!r}]")
        if positive == "means":
            for h in hid:
                c(f"{model[h]} = {cls.call('mean', h, count, model)}")
        if self.persistent:
            for x in chained:
                c(f"self._chains_{x}[:{count}] = {model[x]}")

    def _chain(self, cls, vis, hid) -> None:
        c = cls.code
        c(f"def _negative_phase(self, {', '.join(map(cls.local, vis + hid + cls.conds))}, k, m):")
        with c.indent():
            c.docstring(
                "k sweeps of block Gibbs sampling, starting from hidden means (given the visible state):\n"
                "hidden units drawn from their means, visible units drawn given them (unobserved units\n"
                "kept at 0), hidden means given the new visible units. Returns the last visible draw\n"
                "and the hidden means given it."
            )
            c("for _ in range(k):")
            with c.indent():
                count = f"{cls.local(vis[0])}.shape[0]"
                for h in hid:
                    c(f"{cls.local(h)} = {cls.draw(h, mean=cls.local(h))}")
                for v in vis:
                    c(f"{cls.local(v)} = {cls.call('sample', v, count)}")
                    c("if m is not None:")
                    with c.indent():
                        c(f"{cls.local(v)} = {cls.local(v)} * m[{v!r}]")
                for h in hid:
                    c(f"{cls.local(h)} = {cls.call('mean', h, count)}")
            c(f"return {', '.join(map(cls.local, vis + hid))}")
        c("")

    def _update(self, cls, stats, vis, hid) -> None:
        c = cls.code
        model = {x: cls.derived(x, "{}_model") for x in vis + hid}
        args = [*map(cls.local, vis + hid), *(model[x] for x in vis + hid), *map(cls.local, cls.conds)]
        c(f"def _statistics(self, {', '.join(args)}):")
        with c.indent():
            c.docstring(
                "sum_b dE/dtheta(negative) - sum_b dE/dtheta(positive) for every trained param: the\n"
                f"direction of one step.\n{STATISTICS_WORDS[positive_phase(cls)]}"
            )
            cls._unpack_params(stats)
            result = cls._emit(
                stats,
                names={model_var(x): model[x] for x in vis + hid},
                inplace=True,
                batch_size=f"{cls.local(vis[0])}.shape[0]",
            )
            cls.return_dict(result)
        c("")
        c("def _update(self, deltas, step, momentum, weight_decay, velocity, lr):")
        with c.indent():
            c.docstring(
                "theta += step * delta - lr * weight_decay * theta for every trained param, through the\n"
                "momentum buffer; the deltas are overwritten."
            )
            c("for name, delta in deltas.items():")
            with c.indent():
                c.block("""
param = self.params[name]
delta *= step
if weight_decay:
    delta -= (lr * weight_decay) * param
if momentum:
    buffer = velocity[name]
    buffer *= momentum
    buffer += delta
    delta = buffer
param += delta""")
            for p, spec in cls.m.params.items():
                if "symmetric" in spec.attrs and p in stats.graph["outputs"]:
                    c(f"self.params[{p!r}][...] = self._symmetric(self.params[{p!r}])")
                if "zero_diagonal" in spec.attrs and p in stats.graph["outputs"]:
                    c(f"np.fill_diagonal(self.params[{p!r}], 0.0)")
        c("")

    def _monitor(self, cls, vis, hid) -> None:
        c = cls.code
        metrics = monitor_metrics(cls)
        if "recon_error" in metrics:
            g = monitor_graph(cls.a)
            c(f"def _reconstruction_and_free_energy(self, {', '.join(map(cls.local, vis + cls.conds))}):")
            with c.indent():
                c.docstring(
                    "The mean-field reconstruction E[v | h = E[h | v]] of the visible units, and F(v),\n"
                    "computed together so that they share their products."
                )
                cls._unpack_params(g)
                result = cls._emit(g)
                recon = ", ".join(f"{v!r}: {result[f'recon_{v}']}" for v in vis)
                c(f"return {{{recon}}}, {result['free']}")
            c("")
            c.block('''
def _monitor(self, data, masks, conditions):
    """Reconstruction error (over the observed units) and mean free energy of a few rows."""
    recon, free = self._reconstruction_and_free_energy(*data.values(), *conditions)
    error, count = 0.0, 0.0
    for name, x in data.items():
        weight = 1.0 if masks is None else masks[name]
        error += float(np.sum(weight * (recon[name] - x) ** 2))
        count += float(np.sum(np.broadcast_to(weight, x.shape)))
    return {'recon_error': error / max(count, 1.0), 'free_energy': float(np.mean(free))}
''')
        elif "free_energy" in metrics:
            c.block('''
def _monitor(self, data, masks, conditions):
    """The mean free energy of a few rows."""
    return {'free_energy': float(np.mean(self._free_energy(*data.values(), *conditions)))}
''')
        else:
            c.block('''
def _monitor(self, data, masks, conditions):
    """No metric: the model has no free energy in closed form."""
    return {}
''')
        c("")


CD = ContrastiveDivergence("cd", persistent=False, doc="contrastive divergence, chains start at the data")
PCD = ContrastiveDivergence("pcd", persistent=True, doc="persistent contrastive divergence")
