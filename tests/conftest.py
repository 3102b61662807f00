"""Shared pytest fixtures. Tests use real parts (smplx, OpenGL via llvmpipe, ffmpeg, Qt under Xvfb); helpers
that tests import live in the `support` package beside this file, never here."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

TESTS_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS_DIR))  # the `support` package of test helpers

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def random_smplx_dir(tmp_path_factory) -> Path:
    """A folder holding smplx/SMPLX_NEUTRAL.npz with random but well-formed contents."""
    from support.body import write_random_smplx
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
