"""Seconds per sequential Gibbs sweep of a fully connected Boltzmann machine: ebmc's generated code
against a hand-written numpy sweep.

    python benchmarks/bm_sweep.py [--units 500] [--chains 100] [--repeats 9] [--dtype float64]

The model is E(v) = -a.v - v.L.v / 2 over `units` bernoulli units, L symmetric with a zero
diagonal (N(0, 0.05) entries, a in N(0, 0.1)). One sweep updates every unit in turn given the
others, vectorised over `chains` chains:
  generated:    the class ebmc generates from the model below, model._gibbs_v(v, coupling=H), the
                routine that sample, complete, CD and PCD call, with the Hessian H = -L that they
                compute once per call (model._couplings(), not timed: once for all the sweeps);
  hand-written: for j in range(units): v[:, j] = rng.random(chains) < sigmoid(a[j] + v @ L[j]),
                with sigmoid(x) = 1 / (1 + exp(-x)) (L symmetric, so L[j] is column j).
Both start from the same random states. The two run interleaved, the order alternating, after
one warm-up run each; the table gives the median hand-written time and the median of the
per-repetition ratios.
"""

import argparse
import statistics
import time

import numpy as np

import ebmc

MODEL = """
model bm {
    dim n = 500
    visible v[n] : bernoulli
    param L[n, n] ~ normal(0, 0.05) : symmetric, zero_diagonal
    param a[n] ~ normal(0, 0.1)
    energy = -(a @ v) - 0.5 * v @ L @ v
}
"""


def hand_written_sweep(v, L, a, rng):
    """One sequential sweep over the units of v (chains x units), in place."""
    for j in range(v.shape[1]):
        field = a[j] + v @ L[j]
        v[:, j] = rng.random(v.shape[0], dtype=v.dtype) < 1.0 / (1.0 + np.exp(-field))
    return v


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=500)
    parser.add_argument("--chains", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    args = parser.parse_args()

    model = ebmc.load(MODEL, n=args.units).Bm(seed=0, dtype=args.dtype)
    L, a = model.params["L"], model.params["a"]
    start = (np.random.default_rng(1).random((args.chains, args.units)) < 0.5).astype(args.dtype)
    rng = np.random.default_rng(2)
    coupling = model._couplings()["v"]
    runs = [
        lambda: model._gibbs_v(start.copy(), coupling=coupling),
        lambda: hand_written_sweep(start.copy(), L, a, rng),
    ]
    for run in runs:
        run()
    times = [[], []]
    for rep in range(args.repeats):
        for i in (rep % 2, 1 - rep % 2):
            began = time.perf_counter()
            runs[i]()
            times[i].append(time.perf_counter() - began)
    ratio = statistics.median(g / h for g, h in zip(*times, strict=True))
    print(f"fully connected BM, {args.units} bernoulli units, {args.chains} chains, {args.dtype}:")
    print("| hand-written sweep (s) | generated / hand-written |")
    print("|---|---|")
    print(f"| {statistics.median(times[1]):.4f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
