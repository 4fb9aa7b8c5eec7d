"""Train the Boltzmann machine of bm.ebm on the 3x3 bars-and-stripes patterns, with exact probabilities.

    python examples/bm_bars.py [--epochs 300] [--seed 0]

The 14 bars-and-stripes images of 3x3 pixels (every set of full rows, or every set of full
columns, lit) are the whole data set. The machine has 9 coupled visible units and 8 hidden
units, few enough that log Z is exact (the 2**9 visible states enumerated, the hidden units
summed out by the free energy), so the script prints the exact mean log-likelihood of the
patterns against two references: the uniform distribution over all 512 images and the ideal
model (probability 1/14 on each pattern), and the probability mass the model puts on them.
"""

import argparse
import itertools
from pathlib import Path

import numpy as np

import ebmc


def bars_and_stripes(size=3):
    """The distinct images whose rows are all equal, or whose columns are all equal."""
    patterns = set()
    for lit in itertools.product([0.0, 1.0], repeat=size):
        rows = np.repeat(np.array(lit)[:, None], size, axis=1)
        patterns.add(tuple(rows.ravel()))
        patterns.add(tuple(rows.T.ravel()))
    return np.array(sorted(patterns))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300, help="training epochs")
    parser.add_argument("--seed", type=int, default=0, help="for the model and the chains")
    args = parser.parse_args()

    patterns = bars_and_stripes()
    data = np.repeat(patterns, 10, axis=0)  # 140 rows: each pattern 10 times
    print(f"bars and stripes: {len(patterns)} patterns of 3x3 pixels")

    bm = ebmc.load(Path(__file__).with_name("bm.ebm")).Bm(seed=args.seed)
    uniform = -9 * np.log(2)
    ideal = -np.log(len(patterns))
    before = float(np.mean(bm.log_prob(v=patterns)))
    bm.fit(data, epochs=args.epochs)
    after = bm.log_prob(v=patterns)
    print(f"exact mean log-likelihood of the patterns (nats): untrained {before:.3f}, trained {np.mean(after):.3f}")
    print(f"  uniform over all 512 images {uniform:.3f}; ideal (1/14 each) {ideal:.3f}")
    print(f"probability mass on the 14 patterns: {np.exp(after).sum():.3f} (log Z = {bm.log_partition():.3f})")
    draws = bm.sample(1000, steps=50)
    share = np.mean([any(np.array_equal(d, p) for p in patterns) for d in draws])
    print(f"share of 1000 Gibbs samples that are patterns: {share:.3f}")


if __name__ == "__main__":
    main()
