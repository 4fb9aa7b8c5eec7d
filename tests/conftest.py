import itertools
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def all_states(n: int) -> np.ndarray:
    """Every binary vector of length n, one per row."""
    return np.array(list(itertools.product([0.0, 1.0], repeat=n)))


@pytest.fixture(scope="session")
def rbm_module():
    import ebmc

    return ebmc.load(EXAMPLES / "rbm.ebm", n_visible=6, n_hidden=4)


@pytest.fixture
def tiny_rbm(rbm_module):
    """A 6x4 RBM with params large enough that its distribution is far from uniform."""
    m = rbm_module.Rbm(seed=3)
    rng = np.random.default_rng(7)
    m.params["W"][...] = rng.normal(0, 1.0, (6, 4))
    m.params["a"][...] = rng.normal(0, 0.5, 6)
    m.params["b"][...] = rng.normal(0, 0.5, 4)
    return m
