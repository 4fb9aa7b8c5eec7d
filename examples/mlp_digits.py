"""Train the network of mlp.ebm on scikit-learn's 8x8 digits and print its test accuracy.

    python examples/mlp_digits.py [--epochs 40] [--seed 0] [--plot mlp_digits.png]

The 1797 images (pixel values 0..16) are scaled to [0, 1] and split 80/20 into train and test
sets, stratified by digit (random_state 0). The network (64 pixels -> 64 relu units -> softmax
over 10 classes, cross-entropy, Adam with lr 0.002 and batch 32: the file's `train` settings) is
trained on the training images with the test images as
validation data; it prints a line per epoch, the test accuracy, and saves the training curve
(loss and accuracy per epoch) as a PNG.
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

import ebmc  # noqa: E402


def plot(history, path):
    epochs = [r["epoch"] for r in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.plot(epochs, [r["loss"] for r in history], label="training")
    left.plot(epochs, [r["val_loss"] for r in history], label="test")
    left.set(xlabel="epoch", ylabel="cross-entropy", yscale="log", title="loss")
    right.plot(epochs, [r["accuracy"] for r in history], label="training")
    right.plot(epochs, [r["val_accuracy"] for r in history], label="test")
    right.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0.8, 1.0))
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40, help="training epochs (the file says 40)")
    parser.add_argument("--seed", type=int, default=0, help="for the network's init and shuffling")
    parser.add_argument("--plot", default="mlp_digits.png", help="where to save the training curve")
    args = parser.parse_args()

    images, labels = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        images / 16.0, labels, test_size=0.2, stratify=labels, random_state=0
    )
    t_train, t_test = np.eye(10)[y_train], np.eye(10)[y_test]
    print(f"digits: {len(x_train)} training and {len(x_test)} test images, 64 pixels in [0, 1]")

    net = ebmc.load(Path(__file__).with_name("mlp.ebm")).Mlp(seed=args.seed)
    history = net.fit(x_train, t_train, validation=(x_test, t_test), epochs=args.epochs, verbose=True)
    seconds = sum(r["seconds"] for r in history)

    accuracy = float(np.mean(net.predict(x=x_test) == y_test))
    print()
    print(f"trained {len(history)} epochs in {seconds:.2f} s")
    print(f"test accuracy: {accuracy:.3f} ({round(accuracy * len(y_test))} of {len(y_test)} images)")
    plot(history, args.plot)
    print(f"training curve: {args.plot}")


if __name__ == "__main__":
    main()
