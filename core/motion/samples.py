"""Procedural sample motions shipped in `resources/motions/` (our own keyframe-free generators).

Conventions: Y-up world, body facing +Z at rest, SMPL-X left = +X. Local joint rotations:
hip/shoulder flexion forward is a negative rotation about X; knee flexion is positive about X;
lowering the arms from the T-pose is a rotation about Z (negative for the left arm).

Run `python -m avatar_studio.core.motion.samples --out resources/motions` to regenerate.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..rotations import aa_to_rotmat, rotmat_to_aa
from .motion import Motion

FPS = 30.0
J = {name: i for i, name in enumerate([
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist"])}


def _euler_xyz(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """[T] angles in radians about X, Y, Z -> [T,3] axis-angle of Rz @ Ry @ Rx... applied as R = Rx Ry Rz."""
    rx = aa_to_rotmat(np.stack([x, 0 * x, 0 * x], -1))
    ry = aa_to_rotmat(np.stack([0 * y, y, 0 * y], -1))
    rz = aa_to_rotmat(np.stack([0 * z, 0 * z, z], -1))
    return rotmat_to_aa(rx @ ry @ rz).astype(np.float32)


def _pose(t: np.ndarray) -> np.ndarray:
    return np.zeros((t.shape[0], 55, 3), np.float32)


def _set(pose: np.ndarray, joint: str, x=0.0, y=0.0, z=0.0) -> None:
    n = pose.shape[0]
    x, y, z = (np.broadcast_to(np.asarray(v, np.float64), (n,)) for v in (x, y, z))
    pose[:, J[joint]] = _euler_xyz(x, y, z)


def _arms_down(pose: np.ndarray, swing_l=0.0, swing_r=0.0, lower=np.radians(72), elbow_l=0.15, elbow_r=0.15) -> None:
    _set(pose, "left_shoulder", x=swing_l, z=-lower)
    _set(pose, "right_shoulder", x=swing_r, z=lower)
    _set(pose, "left_elbow", y=-np.asarray(elbow_l))
    _set(pose, "right_elbow", y=np.asarray(elbow_r))


def walk(seconds: float = 4.0, speed: float = 1.1, cadence_hz: float = 0.9) -> Motion:
    """A walk cycle moving along +X, seen in profile from a front camera."""
    t = np.arange(int(seconds * FPS)) / FPS
    ph = 2 * np.pi * cadence_hz * t
    pose = _pose(t)
    pose[:, 0] = _euler_xyz(0 * t, np.full_like(t, np.pi / 2), 0 * t)  # face +X
    hip_l = -0.45 * np.sin(ph)
    hip_r = 0.45 * np.sin(ph)
    knee = lambda p: 0.1 + 0.65 * np.clip(np.sin(p + 0.9), 0, None) ** 1.5
    _set(pose, "left_hip", x=hip_l)
    _set(pose, "right_hip", x=hip_r)
    _set(pose, "left_knee", x=knee(ph + np.pi))
    _set(pose, "right_knee", x=knee(ph))
    _set(pose, "left_ankle", x=0.15 * np.sin(ph + 0.5))
    _set(pose, "right_ankle", x=-0.15 * np.sin(ph + 0.5))
    _set(pose, "spine1", y=0.08 * np.sin(ph), x=0.03)
    _set(pose, "spine2", y=-0.05 * np.sin(ph))
    _set(pose, "head", y=-0.03 * np.sin(ph))
    _arms_down(pose, swing_l=0.4 * np.sin(ph), swing_r=-0.4 * np.sin(ph), elbow_l=0.25 + 0.15 * np.sin(ph),
               elbow_r=0.25 - 0.15 * np.sin(ph))
    transl = np.stack([speed * t - speed * seconds / 2, 0.025 * np.cos(2 * ph), 0 * t], -1)
    return Motion.from_full_pose(pose, transl, fps=FPS, up_axis="y", name="walk")


def wave(seconds: float = 4.0) -> Motion:
    """Standing, raising the right hand and waving, with a little weight shift."""
    t = np.arange(int(seconds * FPS)) / FPS
    raise_amt = np.clip(t / 0.8, 0, 1) * np.clip((seconds - t) / 0.8, 0, 1)
    raise_amt = raise_amt * raise_amt * (3 - 2 * raise_amt)  # smoothstep
    pose = _pose(t)
    sway = 0.05 * np.sin(2 * np.pi * 0.4 * t)
    _set(pose, "left_hip", z=-0.05 + sway)
    _set(pose, "right_hip", z=0.05 + sway)
    _set(pose, "spine2", z=-0.5 * sway)
    _set(pose, "left_shoulder", z=-np.radians(72))
    _set(pose, "left_elbow", y=-0.15)
    # Right arm: from down at the side to upper arm out and up, forearm vertical, waving.
    _set(pose, "right_shoulder", z=np.radians(72) * (1 - raise_amt) - 0.25 * raise_amt, x=-0.2 * raise_amt)
    wave_ang = 0.35 * np.sin(2 * np.pi * 2.0 * t) * raise_amt
    _set(pose, "right_elbow", z=-(np.pi / 2 - 0.1) * raise_amt + wave_ang, y=0.15 * (1 - raise_amt))
    _set(pose, "head", z=0.1 * raise_amt, y=-0.15 * raise_amt)
    transl = np.zeros((t.shape[0], 3), np.float32)
    return Motion.from_full_pose(pose, transl, fps=FPS, up_axis="y", name="wave")


def dance(seconds: float = 5.0, bpm: float = 110.0) -> Motion:
    """A bouncy dance with a full turn, alternating raised arms and hip sway."""
    t = np.arange(int(seconds * FPS)) / FPS
    beat = 2 * np.pi * bpm / 60 * t
    pose = _pose(t)
    turn = 2 * np.pi * np.clip((t - 1.0) / (seconds - 2.0), 0, 1)
    turn = turn - np.sin(turn) * 0.0
    pose[:, 0] = _euler_xyz(0 * t, turn, 0.08 * np.sin(beat / 2))
    bounce = 0.5 + 0.5 * np.cos(beat)
    _set(pose, "left_hip", x=-0.35 * bounce, z=-0.12)
    _set(pose, "right_hip", x=-0.35 * bounce, z=0.12)
    _set(pose, "left_knee", x=0.7 * bounce)
    _set(pose, "right_knee", x=0.7 * bounce)
    _set(pose, "left_ankle", x=-0.3 * bounce)
    _set(pose, "right_ankle", x=-0.3 * bounce)
    _set(pose, "spine1", z=-0.12 * np.sin(beat / 2))
    _set(pose, "spine3", z=0.08 * np.sin(beat / 2), x=0.1 * bounce)
    up_l = 0.5 + 0.5 * np.sin(beat / 2)
    up_r = 1 - up_l
    _set(pose, "left_shoulder", z=-np.radians(72) + np.radians(130) * up_l, x=-0.3 * up_l)
    _set(pose, "right_shoulder", z=np.radians(72) - np.radians(130) * up_r, x=-0.3 * up_r)
    _set(pose, "left_elbow", y=-0.3 - 0.6 * (1 - up_l))
    _set(pose, "right_elbow", y=0.3 + 0.6 * (1 - up_r))
    _set(pose, "head", z=0.12 * np.sin(beat / 2))
    # Knee bend lowers the pelvis; keep the feet near the floor.
    transl = np.stack([0.15 * np.sin(beat / 2), -0.09 * bounce, 0 * t], -1)
    return Motion.from_full_pose(pose, transl, fps=FPS, up_axis="y", name="dance")


SAMPLES = {"walk": walk, "wave": wave, "dance": dance}


def write_samples(out_dir: str | Path) -> list[Path]:
    out_dir = Path(out_dir)
    paths = []
    for name, make in SAMPLES.items():
        path = out_dir / f"{name}.npz"
        make().save_npz(path)
        paths.append(path)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[2] / "resources" / "motions"))
    for p in write_samples(ap.parse_args().out):
        print(p)


if __name__ == "__main__":
    main()
