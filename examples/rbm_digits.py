"""Train the RBM of rbm.ebm on scikit-learn's 8x8 digits and use it as a feature extractor.

    python examples/rbm_digits.py [--epochs 50] [--hidden 256] [--seed 0]

The 1797 images (pixel values 0..16) are binarised at > 7 and split 80/20 into train and
test sets, stratified by digit. The RBM is trained on the training images only (labels
unused); then a logistic regression is fitted on its hidden-unit probabilities, and
another on the raw binarised pixels, and both are scored on the test images.
"""

import argparse
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

import ebmc

# Chosen by trying hidden 100-512, lr 0.02-0.2, batch 5-20, momentum 0.5/0.9, 20-100 epochs: with
# small batches and lr 0.1, 50 epochs give features as good as any of those tried, in a few seconds.
LR, BATCH, MOMENTUM = 0.1, 10, 0.5
C = 1.0  # inverse regularisation of both logistic regressions (scikit-learn's default)


def accuracy(train_features, y_train, test_features, y_test):
    classifier = LogisticRegression(C=C, max_iter=5000)
    classifier.fit(train_features, y_train)
    return classifier.score(test_features, y_test)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=50, help="training epochs")
    parser.add_argument("--hidden", type=int, default=256, help="number of hidden units")
    parser.add_argument("--seed", type=int, default=0, help="for the split and the RBM")
    args = parser.parse_args()

    digits = load_digits()
    pixels = (digits.data > 7).astype(np.float64)
    x_train, x_test, y_train, y_test = train_test_split(
        pixels, digits.target, test_size=0.2, stratify=digits.target, random_state=args.seed
    )
    print(f"digits: {len(x_train)} training and {len(x_test)} test images, 64 binary pixels")

    module = ebmc.load(Path(__file__).with_name("rbm.ebm"), n_hidden=args.hidden)
    rbm = module.Rbm(seed=args.seed)
    print(
        f"training an RBM with {args.hidden} hidden units by CD-1: {args.epochs} epochs, "
        f"lr {LR}, batch {BATCH}, momentum {MOMENTUM}"
    )
    rbm.fit(x_train, k=1, lr=LR, batch=BATCH, epochs=args.epochs, momentum=MOMENTUM, verbose=True)

    recon_error = np.mean((rbm.reconstruct(v=x_test) - x_test) ** 2)
    rbm_accuracy = accuracy(rbm.mean_h(v=x_train), y_train, rbm.mean_h(v=x_test), y_test)
    raw_accuracy = accuracy(x_train, y_train, x_test, y_test)

    classifier = f"logistic regression, C={C}"
    print()
    print(f"{'test reconstruction error (MSE)':<40} {recon_error:.4f}")
    print(f"{f'test accuracy on {args.hidden} RBM hidden means':<40} {rbm_accuracy:.3f}  ({classifier})")
    print(f"{'test accuracy on 64 raw binary pixels':<40} {raw_accuracy:.3f}  ({classifier})")


if __name__ == "__main__":
    main()
