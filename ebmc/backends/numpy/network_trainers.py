"""Trainers for networks: stochastic gradient descent (`sgd`, with momentum) and Adam (`adam`).

A trainer is a plugin (entry point group `ebmc.trainers`) with a `name`, a `kind` ("network"),
its `options` (key -> default) and `write(cls)`, which adds `fit` and the update of the params to
the class being generated (`cls` is a network.NetworkClass). The loop they share (shuffling,
mini-batches, the history, validation, early stopping, callbacks) is `_Network._train`; each
trainer contributes the step a batch's gradient makes:

    g = 1/B sum_b dloss/dtheta          (the batch-mean gradient, from _backward)
    sgd:   v = momentum * v + g,  theta -= lr * v      (nesterov: theta -= lr * (g + momentum * v))
    adam:  m = beta1 m + (1 - beta1) g,  v = beta2 v + (1 - beta2) g**2,
           theta -= lr * m_hat / (sqrt(v_hat) + eps),  m_hat = m / (1 - beta1**k), v_hat = v / (1 - beta2**k)

Both update the params in place, with buffers made once per fit (PyTorch's conventions).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...options import rules_for

SGD_OPTIONS = {"lr": 0.01, "batch": 32, "epochs": 10, "momentum": 0.0, "nesterov": 0, "patience": 0}
ADAM_OPTIONS = {"lr": 0.001, "batch": 32, "epochs": 10, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "patience": 0}
SWITCHES = ("nesterov",)  # settings that are on or off: fit takes True/False (or 0/1)

LOOP_WORDS = (
    "inputs, targets: an array where the network has one input (target), else a dict name -> array;\n"
    "rows are samples. validation: None or (inputs, targets) of the same form, scored after every\n"
    "epoch. All of them are checked before anything changes.\n"
    "Each epoch shuffles the rows (with self.rng: the same seed gives the same run) and makes one\n"
    "step per mini-batch of `batch` rows (the last one may be smaller).\n"
    "Returns the history: one dict per epoch with `epoch`, `loss` (the mean loss over the epoch's\n"
    "batches), `accuracy` where an output is paired with a onehot target (over the epoch's batches),\n"
    "`val_loss` and `val_accuracy` with validation data (after the epoch), and `seconds`.\n"
    "patience: 0 trains all the epochs; N >= 1 stops once the validation loss (the training loss\n"
    "without validation data) has not improved for N epochs, and puts back the params of the best\n"
    "epoch. callback(model, record) is called after each epoch; when it returns False, training\n"
    "stops. If the params stop being finite numbers (a learning rate far too large), they are put\n"
    "back as they were before that epoch and fit raises ValueError."
)


@dataclass(frozen=True)
class NetworkTrainer:
    """A gradient-descent trainer of networks: `fit` around the shared loop, and its own update."""

    name: str
    options: dict
    title: str
    rule: str  # the update, for fit's docstring
    settings_words: str
    doc: str = ""
    kind: str = "network"  # what it trains
    extra: dict = field(default_factory=dict)

    def write(self, cls) -> None:
        c = cls.code
        num = cls.ctx.number
        defaults = {**self.options, **(cls.m.train.options if cls.m.train else {})}
        whole = {k for k, rule in rules_for(defaults).items() if rule[0] and k not in SWITCHES}
        shown = []
        for key, value in defaults.items():
            if key in SWITCHES:
                shown.append(f"{key}={bool(value)!r}")
            else:
                shown.append(f"{key}={int(value) if key in whole else num(float(value))}")
        signature = ["self", "inputs", "targets", "*", "validation=None", *shown, "verbose=False", "callback=None"]
        c.wrapped("def fit(", signature, "):")
        with c.indent():
            c.docstring(
                f"Train by {self.title}; the defaults are the model's `train` settings.\n\n"
                "For each mini-batch of B rows, g = 1/B sum_b dloss/dtheta (see _backward), and every\n"
                f"trained param moves by\n{self.rule}\n\n"
                f"Settings: {self.settings_words}\n" + LOOP_WORDS
            )
            checked = [k for k in defaults if k not in SWITCHES]
            c.wrapped(f"{', '.join(checked)} = self._settings(", [f"{k}={k}" for k in checked], ")")
            for key in defaults:
                if key in SWITCHES:
                    c(f"{key} = self._switch({key!r}, {key})")
            c("data, validation = self._fit_data(inputs, targets, validation, verbose, callback)")
            self.write_state(c)
            c("")
            c("loop = (batch, epochs, patience, verbose, callback)")
            c("return self._train(data, validation, *loop, step_scale, update, lr)")
        c("")
        c.block(self.extra["update"])
        c("")

    def write_state(self, c) -> None:
        c.block(self.extra["state"])


SGD = NetworkTrainer(
    "sgd",
    dict(SGD_OPTIONS),
    "stochastic gradient descent (SGD) with momentum",
    "    v = momentum * v + g;  theta -= lr * v\n"
    "(nesterov: theta -= lr * (g + momentum * v); without momentum theta -= lr * g).",
    "lr > 0, batch and epochs whole numbers >= 1, 0 <= momentum < 1, nesterov True or False\n"
    "(it needs momentum > 0), patience a whole number >= 0.",
    doc="stochastic gradient descent with momentum (and nesterov)",
    extra={
        "state": """
if nesterov and not momentum:
    raise ValueError("nesterov needs momentum > 0, got momentum=0")
velocity = {name: np.zeros_like(self.params[name]) for name in self.trained} if momentum else None

def step_scale(count):  # _backward's gradients come out as lr * the batch-mean gradient
    return lr / count

def update(sums):
    self._sgd_update(sums, momentum, nesterov, velocity)

""",
        "update": '''
def _sgd_update(self, sums, momentum, nesterov, velocity):
    """theta -= lr * g for every trained param, where sums holds lr * g (g the batch-mean gradient,
    scaled in _backward); with momentum, v = momentum * v + g and theta -= lr * v (nesterov:
    theta -= lr * (g + momentum * v)). velocity holds lr * v (lr is the same for a whole fit);
    the sums are overwritten."""
    for name, g in sums.items():
        if velocity is not None:
            v = velocity[name]
            v *= momentum
            v += g
            if nesterov:
                g += momentum * v
            else:
                g = v
        self.params[name] -= g
''',
    },
)

ADAM = NetworkTrainer(
    "adam",
    dict(ADAM_OPTIONS),
    "Adam (Kingma and Ba, 2015)",
    "    m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g ** 2\n"
    "    theta -= lr * m_hat / (sqrt(v_hat) + eps),  m_hat = m / (1 - beta1 ** k),  v_hat = v / (1 - beta2 ** k)\n"
    "at the k-th step of the fit (m and v start at 0).",
    "lr > 0, batch and epochs whole numbers >= 1, 0 <= beta1 < 1, 0 <= beta2 < 1, eps > 0,\n"
    "patience a whole number >= 0.",
    doc="Adam, with bias-corrected moments",
    extra={
        "state": """
moments = {}  # param name -> (m, v, a work array)
for name in self.trained:
    param = self.params[name]
    moments[name] = (np.zeros_like(param), np.zeros_like(param), np.empty_like(param))
steps = [0]

def step_scale(count):  # _backward's gradients come out as (1 - beta1) * the batch-mean gradient
    return (1.0 - beta1) / count

def update(sums):
    steps[0] += 1
    self._adam_update(sums, steps[0], lr, beta1, beta2, eps, moments)

""",
        "update": '''
def _adam_update(self, sums, step, lr, beta1, beta2, eps, moments):
    """One Adam step, the `step`-th of the fit, for every trained param, in place: with g the
    batch-mean gradient (sums holds (1 - beta1) * g, scaled in _backward), m = beta1 m + (1 - beta1) g,
    v = beta2 v + (1 - beta2) g**2 and theta -= lr * (m / c1) / (sqrt(v / c2) + eps), c1 = 1 - beta1**step,
    c2 = 1 - beta2**step, computed as theta -= (lr sqrt(c2) / c1) * m / (sqrt(v) + eps sqrt(c2)).
    moments holds (m, v, a work array) for each param; the sums are overwritten."""
    root = np.sqrt(1.0 - beta2**step)
    factor = lr * root / (1.0 - beta1**step)
    shift = eps * root
    squared = (1.0 - beta2) / (1.0 - beta1) ** 2
    for name, g in sums.items():
        m, v, work = moments[name]
        m *= beta1
        m += g
        g *= g  # the sums are ours to overwrite: (1 - beta1)**2 g**2
        g *= squared
        v *= beta2
        v += g
        np.sqrt(v, out=work)
        work += shift
        np.divide(m, work, out=work)
        work *= factor
        self.params[name] -= work
''',
    },
)
