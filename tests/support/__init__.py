"""Helpers the tests share (imported as `support`, `support.body`, `support.motion`; tests/conftest.py puts
tests/ on sys.path). Fixtures stay in conftest.py; nothing imports from conftest."""
from __future__ import annotations

import numpy as np


def random_gaussians(n: int, rng: np.random.Generator, sh_degree: int = 0):
    from avatar_studio.core.gaussians import GaussianSet
    from avatar_studio.core.rotations import normalize_quats
    k = (sh_degree + 1) ** 2
    return GaussianSet(rng.normal(size=(n, 3)) * 0.5, normalize_quats(rng.normal(size=(n, 4))),
                       rng.uniform(0.005, 0.1, (n, 3)), rng.uniform(0.05, 0.99, n),
                       rng.normal(size=(n, k, 3)) * 0.5)
