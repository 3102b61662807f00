"""Motion-X SMPL-X motions: one (T,322) array per `.npy` file (SPECS §4.2).

Columns: root 0:3 | body 3:66 | hands 66:156 (left then right) | jaw 156:159 | expression 159:209 |
face shape 209:309 | trans 309:312 | betas 312:322. Hands are relative to the mean hand.
Subsets differ in their up axis, so the up axis is inferred from the root orientation unless given.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.safe import excerpt
from .conventions import infer_up_axis, rest_joints_of, rotate_motion
from ..rotations import rotation_between
from .motion import Motion
from .validate import finite, positive_fps

WIDTH = 322
DEFAULT_FPS = 20.0  # Motion-X's processing script writes 20 fps
_AXES = {"+x": [1, 0, 0], "-x": [-1, 0, 0], "+y": [0, 1, 0], "-y": [0, -1, 0], "+z": [0, 0, 1], "-z": [0, 0, -1]}


def read_array(path: Path) -> np.ndarray:
    from ..io.safe import load_npy  # the header's shape is checked against the file size first
    try:
        return load_npy(path)
    except InputError as err:
        raise InputError(f"{excerpt(path.name)} is not a readable .npy array ({err}).") from err


def looks_like_motionx(path: Path) -> bool:
    path = Path(path)
    if path.suffix.lower() != ".npy" or not path.is_file():
        return False
    from ..io.safe import npy_shape
    try:
        shape = npy_shape(path)
    except InputError:
        return False
    return len(shape) == 2 and shape[1] == WIDTH


def load_motionx(path: str | Path, body=None, up_axis: str | None = None, fps: float | None = None) -> Motion:
    """Read a Motion-X `.npy`.

    `up_axis`: "+y", "+z", "-y" (OpenCV-like), ... or None to infer it from the root orientation.
    Axes other than +y, +z and -y are turned to +Y with `body` (see `rest_joints_of`).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"Motion-X file not found: {path}")
    arr = read_array(path)
    if arr.ndim != 2 or arr.shape[1] != WIDTH:
        raise InputError(f"{path.name} has shape {arr.shape}; a Motion-X motion is (T, 322).")
    if arr.shape[0] == 0:
        raise InputError(f"{path.name} has no frames.")
    if arr.dtype.kind not in "fiu":
        raise InputError(f"{path.name} does not hold numbers.")
    arr = finite(arr.astype(np.float64), "motion", path.name)
    t = arr.shape[0]
    full = np.zeros((t, 55, 3))
    full[:, 0] = arr[:, 0:3]
    full[:, 1:22] = arr[:, 3:66].reshape(t, 21, 3)
    full[:, 25:55] = arr[:, 66:156].reshape(t, 30, 3)
    full[:, 22] = arr[:, 156:159]
    motion = Motion.from_full_pose(full.astype(np.float32), arr[:, 309:312].astype(np.float32),
                                   betas=arr[0, 312:322].astype(np.float32),
                                   fps=positive_fps(fps or DEFAULT_FPS, path.name), flat_hand_mean=False,
                                   name=path.stem, meta={"source": "motionx"})
    axis = up_axis or infer_up_axis(motion.global_orient)
    axis = {"y": "+y", "z": "+z"}.get(axis, axis)
    if axis not in _AXES:
        raise InputError(f"Up axis must be one of {', '.join(_AXES)}, got {up_axis!r}.")
    if axis == "+y":
        return motion.replace(up_axis="y", frame="world")
    if axis == "+z":
        return motion.replace(up_axis="z", frame="world")
    if axis == "-y":
        return motion.replace(up_axis="y", frame="camera")
    turn = rotation_between(np.array(_AXES[axis], float), np.array([0.0, 1.0, 0.0]))
    return rotate_motion(motion, turn, rest_joints_of(body, motion.betas)[0], up_axis="y", frame="world")
