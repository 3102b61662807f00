"""Shared fixtures. Tests use real parts (smplx, OpenGL via llvmpipe, ffmpeg, Qt under Xvfb)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

TESTS_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS_DIR))  # helper modules such as fixtures_body

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def random_smplx_dir(tmp_path_factory) -> Path:
    """A folder holding smplx/SMPLX_NEUTRAL.npz with random but well-formed contents."""
    from fixtures_body import write_random_smplx
    folder = tmp_path_factory.mktemp("random_smplx")
    write_random_smplx(folder, seed=0)
    return folder


@pytest.fixture(scope="session")
def body():
    """The embedded stand-in body model."""
    from avatar_studio.core.body.model import default_body_model
    return default_body_model()


@pytest.fixture(scope="module")
def gl():
    """A headless (EGL) OpenGL renderer, shared by a module's tests."""
    from avatar_studio.core.render.gl import GLRenderer
    r = GLRenderer()
    yield r
    r.close()


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def random_gaussians(n: int, rng: np.random.Generator, sh_degree: int = 0):
    from avatar_studio.core.gaussians import GaussianSet
    from avatar_studio.core.rotations import normalize_quats
    k = (sh_degree + 1) ** 2
    return GaussianSet(rng.normal(size=(n, 3)) * 0.5, normalize_quats(rng.normal(size=(n, 4))),
                       rng.uniform(0.005, 0.1, (n, 3)), rng.uniform(0.05, 0.99, n),
                       rng.normal(size=(n, k, 3)) * 0.5)
