"""AMASS-style npz motions: SMPL-X `*_stageii.npz` (165-D poses) and SMPL+H (156-D)."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..errors import InputError
from .motion import Motion


def _scalar(data, key, default):
    if key not in data.files:
        return default
    value = data[key]
    return value.item() if value.shape == () else value


def load_amass(path: str | Path) -> Motion:
    """Read an AMASS SMPL-X or SMPL+H npz, or one written by `Motion.save_npz`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"Motion file not found: {path}")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise InputError(f"{path.name} is not a readable npz file ({err}).") from err
    with data:
        if "poses" not in data.files or "trans" not in data.files:
            raise InputError(f"{path.name} is not an AMASS-style motion: it needs 'poses' and 'trans' arrays "
                             f"(it has {', '.join(data.files) or 'nothing'}).")
        try:
            poses = np.asarray(data["poses"], np.float32)
            trans = np.asarray(data["trans"], np.float32)
            betas = np.asarray(data["betas"], np.float32).reshape(-1) if "betas" in data.files else np.zeros(10, np.float32)
        except ValueError as err:
            raise InputError(f"{path.name} holds arrays that cannot be read as numbers ({err}).") from err
        fps = float(_scalar(data, "mocap_frame_rate", _scalar(data, "mocap_framerate", 30.0)))
        gender = str(_scalar(data, "gender", "neutral"))
        if gender.startswith("b'"):
            gender = gender[2:-1]
        up = str(_scalar(data, "avatar_studio_up_axis", "z"))
        frame = str(_scalar(data, "avatar_studio_frame", "world"))
        flat = bool(_scalar(data, "avatar_studio_flat_hand_mean", True))
        name = str(_scalar(data, "avatar_studio_name", path.stem))
    if poses.ndim != 2 or poses.shape[1] not in (165, 156):
        raise InputError(f"{path.name}: 'poses' has shape {poses.shape}; expected (T, 165) for SMPL-X or (T, 156) for SMPL+H.")
    if trans.shape != (poses.shape[0], 3):
        raise InputError(f"{path.name}: 'trans' has shape {trans.shape}; expected ({poses.shape[0]}, 3).")
    t = poses.shape[0]
    if poses.shape[1] == 156:
        # SMPL+H: root, 21 body, 15+15 hands; no jaw or eyes.
        full = np.zeros((t, 55, 3), np.float32)
        p = poses.reshape(t, 52, 3)
        full[:, :22] = p[:, :22]
        full[:, 25:55] = p[:, 22:52]
    else:
        full = poses.reshape(t, 55, 3)
    return Motion.from_full_pose(full, trans, betas=betas, fps=fps, flat_hand_mean=flat,
                                 up_axis="y" if up == "y" else "z", frame="camera" if frame == "camera" else "world",
                                 gender=gender if gender in ("neutral", "male", "female") else "neutral", name=name)
