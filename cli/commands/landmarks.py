"""`avatar-studio install-landmarks`: the optional offline landmark models (mediapipe 0.10.21), installed
into the Python that runs Avatar Studio. Works from a wheel install as well as from a checkout."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

from ...core.errors import BackendUnavailableError
from ...core.mediapipe_models import MEDIAPIPE_REQUIREMENT, RUNTIME_REQUIREMENTS

# Loading both models in a fresh interpreter proves the install works offline.
_CHECK = ("import mediapipe as mp; "
          "mp.solutions.pose.Pose(static_image_mode=True, enable_segmentation=True).close(); "
          "mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0).close()")


def _pip(args: list[str], quiet: bool) -> None:
    cmd = [sys.executable, "-m", "pip", "install", *(["-q"] if quiet else []), *args]
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL if quiet else None,
                          stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise BackendUnavailableError(f"could not install the landmark models: {last[:200]}")


def cmd_install_landmarks(args: argparse.Namespace) -> int:
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr))
    say("install-landmarks: installing mediapipe 0.10.21 and its runtime needs (about 330 MB)")
    _pip(list(RUNTIME_REQUIREMENTS), args.quiet)
    _pip(["--no-deps", MEDIAPIPE_REQUIREMENT], args.quiet)
    check = subprocess.run([sys.executable, "-c", _CHECK], capture_output=True, text=True,
                           env={**os.environ, "GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2"})
    if check.returncode != 0:
        last = (check.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise BackendUnavailableError(f"the landmark models were installed but do not load: {last[:200]}")
    print("install-landmarks: pose and segmentation models load offline")
    return 0


def register(subparsers) -> argparse.ArgumentParser:
    sp = subparsers.add_parser(
        "install-landmarks", help="install the optional offline person-mask and body-landmark models",
        description="Install mediapipe 0.10.21 (which bundles its pose and segmentation models and runs "
                    "offline) with its runtime needs into this Python environment. Optional: without it the "
                    "template back-end uses classical segmentation, and motion capture from video is unavailable.")
    sp.add_argument("-q", "--quiet", action="store_true", help="no pip output")
    sp.set_defaults(func=cmd_install_landmarks)
    return sp
