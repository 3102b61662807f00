"""LHM motion folders: `smplx_params/00001.json`, one SMPL-X frame per file (SPECS §4.2).

Each file holds `betas` (10), `root_pose` (3), `body_pose` (21x3), `jaw_pose`, `leye_pose`,
`reye_pose` (3), `lhand_pose`, `rhand_pose` (15x3), `trans` (3, SMPL-X transl), `focal`,
`princpt`, `img_size_wh`, `pad_ratio`, optional `expr`. Axes are the OpenCV camera's; hands flat.
LHM renders with camera-to-world = identity and image size 2·princpt.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.safe import excerpt, read_json
from .conventions import CAMERA_TO_Y_UP, rest_joints_of, rotate_motion, to_flat_hands, to_world_y_up
from .motion import Motion
from .validate import finite, positive_fps, shaped

DEFAULT_FPS = 30.0
POSE_KEYS = {"root_pose": (3,), "body_pose": (21, 3), "jaw_pose": (3,), "leye_pose": (3,), "reye_pose": (3,),
             "lhand_pose": (15, 3), "rhand_pose": (15, 3), "trans": (3,)}
CAMERA_KEYS = {"focal": (2,), "princpt": (2,), "img_size_wh": (2,), "pad_ratio": ()}
# Camera written for motions that had none: portrait 1080x1920, ~53° vertical field of view.
DEFAULT_CAMERA = {"focal": [1920.0, 1920.0], "princpt": [540.0, 960.0], "img_size_wh": [1080, 1920], "pad_ratio": 0.0}


def frame_files(folder: Path) -> list[Path]:
    """The per-frame JSON files of an LHM folder (or of its `smplx_params/`), in frame order."""
    folder = Path(folder)
    if (folder / "smplx_params").is_dir():
        folder = folder / "smplx_params"
    files = [p for p in folder.glob("*.json") if p.is_file()]

    def key(p: Path):
        digits = re.findall(r"\d+", p.stem)
        return (int(digits[-1]) if digits else -1, p.name)

    return sorted(files, key=key)


def looks_like_lhm(path: Path) -> bool:
    """True for a folder of JSON frames whose first file has LHM's `root_pose` and `body_pose`."""
    path = Path(path)
    if not path.is_dir():
        return False
    files = frame_files(path)
    if not files:
        return False
    try:
        head = files[0].read_text(encoding="utf-8", errors="replace")[:20000]
    except OSError:
        return False
    return '"root_pose"' in head and '"body_pose"' in head


def _read_frame(path: Path) -> dict:
    data = read_json(path)
    if not isinstance(data, dict):
        raise InputError(f"{path.name} does not hold an LHM SMPL-X frame (expected a JSON object).")
    missing = [k for k in POSE_KEYS if k not in data]
    if missing:
        raise InputError(f"{path.name} lacks the LHM keys {', '.join(missing)}.")
    return data


def load_lhm(path: str | Path, fps: float | None = None) -> Motion:
    """Read an LHM `smplx_params` folder (or the folder above it) into a camera-frame `Motion`."""
    path = Path(path)
    if not path.is_dir():
        raise InputError(f"LHM motion folder not found: {path}")
    files = frame_files(path)
    if not files:
        raise InputError(f"{path} holds no LHM frame files (*.json).")
    frames = {k: [] for k in POSE_KEYS}
    betas = []
    first = None
    for f in files:
        data = _read_frame(f)
        for key, shape in POSE_KEYS.items():
            frames[key].append(shaped(data[key], shape, key, f.name))
        if "betas" in data:
            betas.append(shaped(data["betas"], (-1,), "betas", f.name))
        first = first or data
    camera = {k: shaped(first[k], shape, k, files[0].name).tolist() for k, shape in CAMERA_KEYS.items() if k in first}
    beta = betas[0] if betas else np.zeros(10)
    stack = {k: finite(np.stack(v).astype(np.float32), k, path.name) for k, v in frames.items()}  # float32 range
    beta = finite(beta.astype(np.float32), "betas", path.name)
    return Motion(global_orient=stack["root_pose"], body_pose=stack["body_pose"], jaw=stack["jaw_pose"],
                  leye=stack["leye_pose"], reye=stack["reye_pose"], lhand=stack["lhand_pose"],
                  rhand=stack["rhand_pose"], transl=stack["trans"], betas=beta.astype(np.float32),
                  fps=positive_fps(fps or DEFAULT_FPS, path.name), flat_hand_mean=True, up_axis="y",
                  frame="camera", name=path.parent.name if path.name == "smplx_params" else path.name,
                  meta={"camera": camera, "source": "lhm"})


def to_lhm_camera(motion: Motion, body=None, camera: dict | None = None) -> Motion:
    """The motion in OpenCV camera axes, as LHM renders it.

    Camera-frame motions are kept. World motions are turned into camera axes and moved so that the
    first frame's pelvis is centred, at a distance where a 1.8 m person fills ~75% of the height.
    """
    motion = to_flat_hands(motion, body)
    if motion.frame == "camera":
        return motion
    camera = camera or DEFAULT_CAMERA
    world = to_world_y_up(motion, body)
    j0 = rest_joints_of(body, world.betas)[0]
    cam = rotate_motion(world, CAMERA_TO_Y_UP.T, j0, frame="camera", up_axis="y")
    height = float(camera["img_size_wh"][1])
    distance = float(camera["focal"][1]) * 1.8 / (0.75 * height)
    pelvis0 = j0 + cam.transl[0]
    offset = np.array([-pelvis0[0], -pelvis0[1], distance - pelvis0[2]])
    return cam.replace(transl=(cam.transl + offset).astype(np.float32))


def save_lhm(motion: Motion, folder: str | Path, body=None) -> Path:
    """Write an LHM `smplx_params` folder (00001.json, ...) atomically; returns the folder.

    The camera comes from the motion (`meta['camera']`, kept from an LHM import) or `DEFAULT_CAMERA`.
    """
    from ..io.atomic import atomic_dir
    camera = dict(DEFAULT_CAMERA, **(motion.meta.get("camera") or {}))
    cam = to_lhm_camera(motion, body, camera)
    betas = np.zeros(10, np.float32)
    betas[: min(10, cam.betas.size)] = cam.betas[:10]
    folder = Path(folder)
    with atomic_dir(folder) as tmp:
        for i in range(cam.num_frames):
            frame = {"betas": betas.tolist(), "root_pose": cam.global_orient[i].tolist(),
                     "body_pose": cam.body_pose[i].tolist(), "jaw_pose": cam.jaw[i].tolist(),
                     "leye_pose": cam.leye[i].tolist(), "reye_pose": cam.reye[i].tolist(),
                     "lhand_pose": cam.lhand[i].tolist(), "rhand_pose": cam.rhand[i].tolist(),
                     "trans": cam.transl[i].tolist(), "focal": list(map(float, camera["focal"])),
                     "princpt": list(map(float, camera["princpt"])),
                     "img_size_wh": [int(v) for v in camera["img_size_wh"]],
                     "pad_ratio": float(camera.get("pad_ratio", 0.0))}
            (tmp / f"{i + 1:05d}.json").write_text(json.dumps(frame), encoding="utf-8")
    return folder
