"""The optional offline landmark models: mediapipe 0.10.21 bundles its pose landmarker and selfie
segmentation in the wheel and runs them with no network. `avatar-studio install-landmarks`
installs it (without its numpy<2/jax pins, which its runtime does not need). Everything that uses
it falls back or explains how to install it when it is missing.
"""
from __future__ import annotations

import os

from .errors import BackendUnavailableError

INSTALL_HINT = "avatar-studio install-landmarks"


def solutions():
    """mediapipe's legacy `solutions` package; raises BackendUnavailableError when it cannot load."""
    os.environ.setdefault("GLOG_minloglevel", "2")  # keep mediapipe's C++ logging off the console
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import mediapipe as mp
        sol = mp.solutions
        sol.pose, sol.selfie_segmentation  # noqa: B018 - both must exist
    except Exception as err:  # ImportError, or a broken install (protobuf/numpy mismatch)
        raise BackendUnavailableError(
            "The optional offline landmark model (mediapipe 0.10.21) could not be loaded "
            f"({type(err).__name__}: {err}). Install it with: {INSTALL_HINT}") from err
    return sol


def available() -> bool:
    """True when the pose and segmentation models can be loaded (cheap after the first import)."""
    try:
        solutions()
        return True
    except BackendUnavailableError:
        return False


# mediapipe 0.10.21 declares numpy<2 and jax, but its pose/segmentation runtime works with numpy 2 and
# needs no jax; installing it --no-deps with these real runtime needs keeps numpy 2 and saves about 1 GB.
RUNTIME_REQUIREMENTS = ("absl-py>=2", "attrs>=19.1", "flatbuffers>=2", "protobuf>=4.25,<5", "sentencepiece>=0.2",
                        "opencv-python-headless>=4.8", "matplotlib>=3.7")
MEDIAPIPE_REQUIREMENT = "mediapipe==0.10.21"
