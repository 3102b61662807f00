"""AMASS-style npz motions: SMPL-X `*_stageii.npz` (165-D poses) and SMPL+H (156-D).

AMASS is a Z-up world in metres with flat hands. Files written by `write_amass` carry
`avatar_studio_*` keys that record their own up axis, frame, hand convention and name. Reading and
writing live here together; `export.save_amass` turns a motion to AMASS's conventions first.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.safe import excerpt, load_npz
from .motion import Motion
from .validate import positive_fps

POSE_WIDTHS = {165: "SMPL-X", 156: "SMPL+H"}


def _scalar(data: dict, key: str, default):
    if key not in data:
        return default
    value = data[key]
    if value.size != 1:
        raise InputError(f"'{key}' must hold one value, not an array of shape {value.shape}.")
    return value.reshape(-1)[0].item()


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    text = str(value)
    return text[2:-1] if text.startswith("b'") and text.endswith("'") else text


def looks_like_amass(path: Path) -> bool:
    """An .npz holding `poses` and `trans`."""
    path = Path(path)
    if path.suffix.lower() != ".npz" or not path.is_file():
        return False
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
    except Exception:  # noqa: BLE001 - any damage: not recognised here; load_amass says why
        return False
    return "poses.npy" in names and "trans.npy" in names


def load_amass(path: str | Path, fps: float | None = None) -> Motion:
    """Read an AMASS SMPL-X or SMPL+H npz, or one written by `Motion.save_npz`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"Motion file not found: {path}")
    label = excerpt(path.name)
    data = load_npz(path, label)  # its messages name the file (label) and say what is wrong
    if "poses" not in data or "trans" not in data:
        raise InputError(f"{label} is not an AMASS-style motion: it needs 'poses' and 'trans' arrays "
                         f"(it has {excerpt(', '.join(data) or 'nothing', 120)}).")
    try:
        arrays = [data["poses"], data["trans"], data.get("betas", np.zeros(10, np.float32))]
        if any(a.dtype.kind not in "fiub" for a in arrays):
            raise ValueError("not numbers")
        poses, trans, betas = (np.asarray(a, np.float32) for a in arrays)
        betas = betas.reshape(-1)
        rate = fps or _scalar(data, "mocap_frame_rate", _scalar(data, "mocap_framerate", 30.0))
        gender = _text(_scalar(data, "gender", "neutral")).lower()
        up = _text(_scalar(data, "avatar_studio_up_axis", "z"))
        frame = _text(_scalar(data, "avatar_studio_frame", "world"))
        flat = bool(_scalar(data, "avatar_studio_flat_hand_mean", True))
        name = excerpt(_text(_scalar(data, "avatar_studio_name", path.stem)), 200)
    except (ValueError, TypeError, OverflowError) as err:
        raise InputError(f"{label} holds arrays that cannot be read as numbers ({excerpt(str(err), 80)}).") from err
    except InputError as err:
        raise InputError(f"{label}: {err}") from err
    fps_value = positive_fps(rate, path.name)
    if poses.ndim != 2 or poses.shape[1] not in POSE_WIDTHS:
        raise InputError(f"{path.name}: 'poses' has shape {poses.shape}; expected (T, 165) for SMPL-X or (T, 156) for SMPL+H.")
    if poses.shape[0] == 0:
        raise InputError(f"{path.name} has no frames.")
    if trans.shape != (poses.shape[0], 3):
        raise InputError(f"{path.name}: 'trans' has shape {trans.shape}; expected ({poses.shape[0]}, 3).")
    for key, arr in (("poses", poses), ("trans", trans), ("betas", betas)):
        if not np.all(np.isfinite(arr)):
            raise InputError(f"{path.name}: '{key}' contains NaN or infinite values.")
    t = poses.shape[0]
    if poses.shape[1] == 156:
        # SMPL+H: root, 21 body, 15+15 hands; no jaw or eyes.
        full = np.zeros((t, 55, 3), np.float32)
        p = poses.reshape(t, 52, 3)
        full[:, :22] = p[:, :22]
        full[:, 25:55] = p[:, 22:52]
    else:
        full = poses.reshape(t, 55, 3)
    return Motion.from_full_pose(full, trans, betas=betas, fps=fps_value, flat_hand_mean=flat,
                                 up_axis="y" if up == "y" else "z", frame="camera" if frame == "camera" else "world",
                                 gender=gender if gender in ("neutral", "male", "female") else "neutral", name=name,
                                 meta={"source": "amass", "model": POSE_WIDTHS[poses.shape[1]]})


def write_amass(motion: Motion, path: str | Path) -> Path:
    """Write `motion` as an AMASS SMPL-X style npz (`poses` [T,165] and its stage-II split `root_orient`,
    `pose_body`, `pose_jaw`, `pose_eye`, `pose_hand`; `trans`, `betas`, ...) as it is (its own up axis
    and hand convention, recorded in `avatar_studio_*` keys), atomically. `load_amass` reads it back."""
    from ..io.atomic import atomic_path
    extra = {"up_axis": motion.up_axis, "frame": motion.frame, "flat_hand_mean": motion.flat_hand_mean,
             "name": motion.name}
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            poses = motion.full_pose().reshape(motion.num_frames, -1)
            # AMASS stage-II split keys too: common readers index these instead of `poses`.
            split = {"root_orient": poses[:, 0:3], "pose_body": poses[:, 3:66], "pose_jaw": poses[:, 66:69],
                     "pose_eye": poses[:, 69:75], "pose_hand": poses[:, 75:165]}
            np.savez(fh, poses=poses, trans=motion.transl, **split,
                     betas=motion.betas, gender=np.array(motion.gender), surface_model_type=np.array("smplx"),
                     mocap_frame_rate=np.array(motion.fps),
                     **{f"avatar_studio_{k}": np.array(v) for k, v in extra.items()})
    return Path(path)
