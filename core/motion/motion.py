"""`Motion`: SMPL-X parameters over time, in the internal form of SPECS §4.1.

All rotations are axis-angle, relative to each joint's parent. `transl` is SMPL-X `transl`
(added after posing). One `Motion` is one person.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Literal

import numpy as np

from ..errors import InputError
from ..rotations import aa_to_quat, quat_slerp, quat_to_aa

NUM_JOINTS = 55
# Slices of the 55-joint full pose (SMPL-X joint order, SPECS §1.1).
POSE_PARTS: dict[str, tuple[int, int]] = {
    "global_orient": (0, 1), "body_pose": (1, 22), "jaw": (22, 23), "leye": (23, 24),
    "reye": (24, 25), "lhand": (25, 40), "rhand": (40, 55),
}
ROTATION_FIELDS = tuple(POSE_PARTS)


@dataclass
class Motion:
    """One person's SMPL-X motion.

    Attributes:
        global_orient: [T,3]; body_pose: [T,21,3]; jaw, leye, reye: [T,3];
        lhand, rhand: [T,15,3]; transl: [T,3]; betas: [B] (usually 10 or 16).
        fps: frames per second.
        flat_hand_mean: True if hand poses are relative to the flat hand (AMASS, LHM, Human3R).
        up_axis: "y" or "z": which world axis points up.
        frame: "world" or "camera" (OpenCV camera frame, e.g. LHM JSON).
        gender: "neutral", "male" or "female".
        name: a label for the UI.
        meta: source details kept for export, not interpreted by the core
            (e.g. `{"camera": {"focal", "princpt", "img_size_wh", "pad_ratio"}}` from LHM).
    """

    global_orient: np.ndarray
    body_pose: np.ndarray
    jaw: np.ndarray
    leye: np.ndarray
    reye: np.ndarray
    lhand: np.ndarray
    rhand: np.ndarray
    transl: np.ndarray
    betas: np.ndarray = field(default_factory=lambda: np.zeros(10, np.float32))
    fps: float = 30.0
    flat_hand_mean: bool = True
    up_axis: Literal["y", "z"] = "y"
    frame: Literal["world", "camera"] = "world"
    gender: str = "neutral"
    name: str = "motion"
    meta: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        shapes = {"global_orient": (3,), "body_pose": (21, 3), "jaw": (3,), "leye": (3,),
                  "reye": (3,), "lhand": (15, 3), "rhand": (15, 3), "transl": (3,)}
        t = None
        for name, tail in shapes.items():
            arr = np.asarray(getattr(self, name), np.float32)
            if arr.ndim == len(tail) + 1 and arr.shape[1:] != tail and arr.size == arr.shape[0] * int(np.prod(tail)):
                arr = arr.reshape((arr.shape[0],) + tail)
            if arr.shape[1:] != tail:
                raise InputError(f"Motion field '{name}' has shape {arr.shape}, expected (T, {', '.join(map(str, tail))}).")
            if t is None:
                t = arr.shape[0]
            elif arr.shape[0] != t:
                raise InputError(f"Motion field '{name}' has {arr.shape[0]} frames, but others have {t}.")
            if not np.all(np.isfinite(arr)):
                raise InputError(f"Motion field '{name}' contains NaN or infinite values.")
            setattr(self, name, np.ascontiguousarray(arr))
        self.betas = np.asarray(self.betas, np.float32).reshape(-1)
        if not np.all(np.isfinite(self.betas)):
            raise InputError("Motion betas contain NaN or infinite values.")
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise InputError(f"Motion frame rate must be positive, got {self.fps}.")
        self.fps = float(self.fps)
        if t == 0:
            raise InputError("Motion has no frames.")

    # ------------------------------------------------------------------ size
    @property
    def num_frames(self) -> int:
        return int(self.transl.shape[0])

    def __len__(self) -> int:
        return self.num_frames

    @property
    def duration(self) -> float:
        """Seconds from the first to one past the last frame."""
        return self.num_frames / self.fps

    # ------------------------------------------------------------------ conversions
    def full_pose(self) -> np.ndarray:
        """[T,55,3] axis-angle in SMPL-X joint order."""
        t = self.num_frames
        parts = [getattr(self, name).reshape(t, -1, 3) for name in ROTATION_FIELDS]
        return np.concatenate(parts, axis=1)

    @classmethod
    def from_full_pose(cls, full_pose: np.ndarray, transl: np.ndarray | None = None, **kw) -> "Motion":
        """Build from [T,55,3] (or [T,165]) axis-angle and optional [T,3] transl."""
        fp = np.asarray(full_pose, np.float32)
        if fp.ndim == 2 and fp.shape[1] == NUM_JOINTS * 3:
            fp = fp.reshape(-1, NUM_JOINTS, 3)
        if fp.ndim != 3 or fp.shape[1:] != (NUM_JOINTS, 3):
            raise InputError(f"Full pose has shape {fp.shape}, expected (T, 55, 3) or (T, 165).")
        parts = {name: fp[:, a:b].reshape(fp.shape[0], -1, 3) for name, (a, b) in POSE_PARTS.items()}
        for name in ("global_orient", "jaw", "leye", "reye"):
            parts[name] = parts[name][:, 0]
        if transl is None:
            transl = np.zeros((fp.shape[0], 3), np.float32)
        return cls(transl=transl, **parts, **kw)

    @classmethod
    def rest(cls, num_frames: int = 1, fps: float = 30.0, **kw) -> "Motion":
        """A motion that holds the rest pose."""
        return cls.from_full_pose(np.zeros((num_frames, NUM_JOINTS, 3)), fps=fps, **kw)

    def replace(self, **changes) -> "Motion":
        return replace(self, **changes)

    def frames(self, index) -> "Motion":
        """A new Motion made of the frames selected by `index` (slice, int array or mask)."""
        per_frame = {f.name: getattr(self, f.name)[index] for f in fields(self)
                     if f.name in ROTATION_FIELDS or f.name == "transl"}
        return self.replace(**per_frame)

    # ------------------------------------------------------------------ sampling
    def frame_at(self, t: float) -> float:
        """Fractional frame index for time `t` seconds, clamped to the clip."""
        return float(np.clip(t * self.fps, 0, self.num_frames - 1))

    def pose_at(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """([55,3] axis-angle full pose, [3] transl) at time `t`, slerped between frames."""
        f = self.frame_at(t)
        i0 = int(np.floor(f))
        i1 = min(i0 + 1, self.num_frames - 1)
        a = f - i0
        fp = self.full_pose()
        if a < 1e-6 or i0 == i1:
            return fp[i0], self.transl[i0].copy()
        q = quat_slerp(aa_to_quat(fp[i0]), aa_to_quat(fp[i1]), a)
        return quat_to_aa(q).astype(np.float32), ((1 - a) * self.transl[i0] + a * self.transl[i1]).astype(np.float32)
