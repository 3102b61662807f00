"""The optional offline landmark models: mediapipe 0.10.21 bundles its pose landmarker and selfie
segmentation in the wheel and runs them with no network. `packaging/install_landmarks.sh`
installs it (without its numpy<2/jax pins, which its runtime does not need). Everything that uses
it falls back or explains how to install it when it is missing.
"""
from __future__ import annotations

import os

from .errors import BackendUnavailableError

INSTALL_HINT = "bash packaging/install_landmarks.sh"


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
