"""Train the Gaussian-Bernoulli RBM of grbm.ebm on scikit-learn's digits scaled to unit variance.

    python examples/grbm_digits.py [--epochs 50] [--seed 0]

The 1797 8x8 images are split 80/20 (stratified by digit); each pixel is centred and scaled to
unit variance with the training images' statistics (the pixels that are constant there are
dropped). With 16 hidden units log Z is exact (the 2**16 hidden states enumerated,
the gaussian visible units integrated out by F(h)), so the script prints the exact mean
log-likelihood of the test images against the independent unit-variance normal that the
scaling makes the baseline, and the mean squared error of the mean-field reconstruction.
"""

import argparse
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import ebmc


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=50, help="training epochs")
    parser.add_argument("--seed", type=int, default=0, help="for the split and the model")
    args = parser.parse_args()

    digits = load_digits()
    x_train, x_test = train_test_split(digits.data, test_size=0.2, stratify=digits.target, random_state=args.seed)
    std = x_train.std(axis=0)
    keep = std > 0
    mean = x_train.mean(axis=0)
    x_train = (x_train[:, keep] - mean[keep]) / std[keep]
    x_test = (x_test[:, keep] - mean[keep]) / std[keep]
    n = x_train.shape[1]
    print(f"digits: {len(x_train)} training and {len(x_test)} test images, {n} pixels of unit variance")

    grbm = ebmc.load(Path(__file__).with_name("grbm.ebm"), n_visible=n).Grbm(seed=args.seed)
    grbm.fit(x_train, epochs=args.epochs)
    baseline = float(np.mean(-0.5 * np.sum(x_test**2, axis=1) - 0.5 * n * np.log(2 * np.pi)))
    log_likelihood = float(np.mean(grbm.log_prob(v=x_test)))
    print(f"exact mean log-likelihood of the test images (nats): {log_likelihood:.2f}")
    print(f"  independent unit-variance normal: {baseline:.2f}")
    recon = float(np.mean((grbm.reconstruct(v=x_test) - x_test) ** 2))
    print(f"mean squared error of the mean-field reconstruction: {recon:.3f} (predicting 0: {np.mean(x_test**2):.3f})")


if __name__ == "__main__":
    main()
