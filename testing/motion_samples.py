"""Procedural sample motions: the clips shipped in `resources/motions/` (walk, wave, dance) and
the known motions the motion-capture benchmark uses (squat, arms overhead, turn).

Conventions: Y-up world, facing +Z at rest, SMPL-X left = +X, 30 fps. Local joint rotations
(parent-relative, composed R = Rx @ Ry @ Rz): hip flexion forward is -x, knee flexion +x, ankle
dorsiflexion -x, spine forward bend +x; the left arm lowers from the T-pose with -z and swings
forward with -x once lowered; the left elbow flexes with -y (right side mirrored).

Every generator derives the translation from the joint angles with `plant_feet` (the supporting
foot stays still on the floor), so no clip has foot skate of its own.

Run `python -m avatar_studio.testing.motion_samples --out resources/motions` to regenerate.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..core.body.joints import NUM_BODY_JOINTS, SMPLX_JOINT_NAMES
from ..core.rotations import aa_to_rotmat, rotmat_to_aa
from ..core.motion.amass import write_amass
from ..core.motion.motion import Motion
from ..core.motion.skeleton import posed_joints

FPS = 30.0
JOINTS = SMPLX_JOINT_NAMES[:NUM_BODY_JOINTS]
J = {name: i for i, name in enumerate(JOINTS)}
ARM_DOWN = np.radians(72.0)


def _times(seconds: float) -> np.ndarray:
    return np.arange(int(round(seconds * FPS))) / FPS


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _rot(x=0.0, y=0.0, z=0.0, n: int = 1) -> np.ndarray:
    """[n,3,3] Rx(x) @ Ry(y) @ Rz(z) for broadcastable angle arrays."""
    x, y, z = (np.broadcast_to(np.asarray(v, np.float64), (n,)) for v in (x, y, z))
    zero = np.zeros(n)
    return (aa_to_rotmat(np.stack([x, zero, zero], -1)) @ aa_to_rotmat(np.stack([zero, y, zero], -1))
            @ aa_to_rotmat(np.stack([zero, zero, z], -1)))


def _set(pose: np.ndarray, joint: str, x=0.0, y=0.0, z=0.0, twist: float | np.ndarray = 0.0) -> None:
    """pose[:, joint] = Rx Ry Rz, optionally after a twist about the bone's own x axis (arms)."""
    n = pose.shape[0]
    m = _rot(x, y, z, n)
    if np.any(np.asarray(twist) != 0):
        m = m @ _rot(twist, 0.0, 0.0, n)
    pose[:, J[joint]] = rotmat_to_aa(m)


def _arms_down(pose: np.ndarray, swing_l=0.0, swing_r=0.0, lower=ARM_DOWN, elbow_l=0.15, elbow_r=0.15) -> None:
    _set(pose, "left_shoulder", x=swing_l, z=-np.asarray(lower))
    _set(pose, "right_shoulder", x=swing_r, z=np.asarray(lower))
    _set(pose, "left_elbow", y=-np.asarray(elbow_l))
    _set(pose, "right_elbow", y=np.asarray(elbow_r))


FOOT_CONTACT_JOINTS = (7, 8, 10, 11)  # ankles and balls of the feet


def plant_feet(full_pose: np.ndarray, rest_joints: np.ndarray) -> np.ndarray:
    """[T,3] transl that keeps the supporting foot still on the floor (no foot skate).

    In each frame the supporting point is the ankle or ball-of-foot joint lowest relative to its
    rest height. The body moves horizontally by minus that point's step to the next frame, and
    vertically so that point stays at its rest height.
    Args:
        full_pose: [T,55,3]; rest_joints: [55,3].
    """
    t = full_pose.shape[0]
    j = posed_joints(full_pose, np.zeros((t, 3)), rest_joints)[:, list(FOOT_CONTACT_JOINTS)]   # [T,4,3]
    rel_h = j[..., 1] - rest_joints[list(FOOT_CONTACT_JOINTS), 1]
    support = np.argmin(rel_h, axis=1)                                                    # [T]
    tr = np.zeros((t, 3))
    for k in range(1, t):
        s = support[k - 1]
        tr[k, [0, 2]] = tr[k - 1, [0, 2]] - (j[k, s, [0, 2]] - j[k - 1, s, [0, 2]])
    tr[:, 1] = -rel_h[np.arange(t), support]
    return tr.astype(np.float32)


def _motion(pose: np.ndarray, rest_joints: np.ndarray | None, name: str) -> Motion:
    if rest_joints is None:
        from ..core.body.model import default_body_model
        rest_joints = default_body_model().rest_joints()
    tr = plant_feet(pose, np.asarray(rest_joints, np.float64))
    return Motion.from_full_pose(pose, tr, fps=FPS, up_axis="y", name=name)


def squat(seconds: float = 4.0, reps: int = 2, rest_joints: np.ndarray | None = None) -> Motion:
    """Squats with flat feet: pelvis tips forward, thighs to about 70 degrees, arms forward."""
    t = _times(seconds)
    depth = _smoothstep(0.5 - 0.5 * np.cos(2 * np.pi * reps * t / seconds) * 1.15)
    pose = np.zeros((t.size, 55, 3), np.float32)
    thigh, shin, tilt = -1.25 * depth, 0.7 * depth, 0.45 * depth  # global angles about x
    pose[:, 0] = rotmat_to_aa(_rot(tilt, n=t.size))
    for side in ("left", "right"):
        _set(pose, f"{side}_hip", x=thigh - tilt, z=(0.1 if side == "left" else -0.1) * depth)
        _set(pose, f"{side}_knee", x=shin - thigh)
        _set(pose, f"{side}_ankle", x=-shin)
    _set(pose, "spine1", x=0.05 * depth)
    _set(pose, "spine2", x=0.05 * depth)
    _set(pose, "spine3", x=-0.05 * depth)
    _set(pose, "head", x=-0.2 * depth)
    _arms_down(pose, swing_l=-1.35 * depth, swing_r=-1.35 * depth, elbow_l=0.15 + 0.2 * depth,
               elbow_r=0.15 + 0.2 * depth)
    return _motion(pose, rest_joints, "squat")


def arms_overhead(seconds: float = 5.0, rest_joints: np.ndarray | None = None) -> Motion:
    """Both arms raised sideways to overhead and down, then forward to overhead and down."""
    t = _times(seconds)
    half = seconds / 2
    side = _smoothstep(np.sin(np.pi * np.clip(t / half, 0, 1)) * 1.1)
    front = _smoothstep(np.sin(np.pi * np.clip((t - half) / half, 0, 1)) * 1.1)
    pose = np.zeros((t.size, 55, 3), np.float32)
    lower = ARM_DOWN - (ARM_DOWN + np.radians(80)) * side            # abduct: -72 deg -> +80 deg
    swing = -np.radians(165) * front                                  # flex forward to overhead
    _arms_down(pose, swing_l=swing, swing_r=swing, lower=lower, elbow_l=0.1 + 0.15 * front,
               elbow_r=0.1 + 0.15 * front)
    _set(pose, "spine3", x=-0.08 * (side + front))
    _set(pose, "head", x=-0.1 * front)
    sway = 0.03 * np.sin(2 * np.pi * 0.3 * t)
    _set(pose, "left_hip", z=sway)
    _set(pose, "right_hip", z=sway)
    return _motion(pose, rest_joints, "arms_overhead")


def turn(seconds: float = 5.0, rest_joints: np.ndarray | None = None) -> Motion:
    """A full turn on the spot with small steps, arms swinging a little."""
    t = _times(seconds)
    yaw = 2 * np.pi * _smoothstep((t - 0.4) / (seconds - 0.8))
    steps = np.sin(2 * np.pi * 1.2 * t) * (yaw > 0.05) * (yaw < 2 * np.pi - 0.05)
    pose = np.zeros((t.size, 55, 3), np.float32)
    pose[:, 0] = rotmat_to_aa(_rot(0.0, yaw, 0.0, t.size))
    lift_l, lift_r = 0.5 * np.clip(steps, 0, None), 0.5 * np.clip(-steps, 0, None)
    _set(pose, "left_hip", x=-lift_l)
    _set(pose, "right_hip", x=-lift_r)
    _set(pose, "left_knee", x=1.6 * lift_l)
    _set(pose, "right_knee", x=1.6 * lift_r)
    _set(pose, "left_ankle", x=-0.4 * lift_l)
    _set(pose, "right_ankle", x=-0.4 * lift_r)
    _arms_down(pose, swing_l=0.2 * steps, swing_r=-0.2 * steps, elbow_l=0.3, elbow_r=0.3)
    _set(pose, "head", y=0.25 * np.sin(2 * np.pi * 0.5 * t))
    return _motion(pose, rest_joints, "turn")


def wave(seconds: float = 4.0, rest_joints: np.ndarray | None = None) -> Motion:
    """Right hand raised and waving: the upper arm out, up and a little forward, twisted so the elbow's
    hinge swings the vertical forearm left and right; a little weight shift."""
    t = _times(seconds)
    up = _smoothstep(t / 0.8) * _smoothstep((seconds - t) / 0.8)
    pose = np.zeros((t.size, 55, 3), np.float32)
    sway = 0.05 * np.sin(2 * np.pi * 0.4 * t)
    _set(pose, "left_hip", z=-0.05 + sway)
    _set(pose, "right_hip", z=0.05 + sway)
    _set(pose, "spine2", z=-0.5 * sway)
    _set(pose, "left_shoulder", z=-ARM_DOWN)
    _set(pose, "left_elbow", y=-0.15)
    flex = (np.pi / 2 + 0.35 * np.sin(2 * np.pi * 2.0 * t)) * up + 0.15 * (1 - up)
    _set(pose, "right_shoulder", z=ARM_DOWN * (1 - up) - 0.3 * up, x=0.3 * up, twist=-np.pi / 2 * up)
    _set(pose, "right_elbow", y=flex)
    _set(pose, "head", z=0.1 * up, y=-0.15 * up)
    return _motion(pose, rest_joints, "wave")


def walk(seconds: float = 4.0, cadence_hz: float = 0.9, rest_joints: np.ndarray | None = None) -> Motion:
    """Walking towards +X (seen in profile from a front camera): knees bend while a leg swings
    forward and are nearly straight in stance; arms swing opposite to the legs."""
    t = _times(seconds)
    ph = 2 * np.pi * cadence_hz * t
    pose = np.zeros((t.size, 55, 3), np.float32)
    pose[:, 0] = rotmat_to_aa(_rot(0.0, np.pi / 2, 0.0, t.size))
    for side, p in (("left", ph), ("right", ph + np.pi)):
        swing_phase = np.clip(np.cos(p), 0, None)                   # > 0 while this leg swings forward
        _set(pose, f"{side}_hip", x=-0.4 * np.sin(p) - 0.05)
        _set(pose, f"{side}_knee", x=0.08 + 1.0 * swing_phase ** 2)
        _set(pose, f"{side}_ankle", x=-0.15 * swing_phase + 0.1 * np.clip(-np.sin(p), 0, None))
    _set(pose, "spine1", y=0.06 * np.sin(ph), x=0.03)
    _set(pose, "spine2", y=-0.04 * np.sin(ph))
    _set(pose, "head", y=-0.03 * np.sin(ph))
    _arms_down(pose, swing_l=0.35 * np.sin(ph), swing_r=-0.35 * np.sin(ph), elbow_l=0.3 + 0.15 * np.sin(ph),
               elbow_r=0.3 - 0.15 * np.sin(ph))
    return _motion(pose, rest_joints, "walk")


def dance(seconds: float = 5.0, bpm: float = 110.0, rest_joints: np.ndarray | None = None) -> Motion:
    """A bouncy dance with a full turn, alternating raised arms and hip sway."""
    t = _times(seconds)
    beat = 2 * np.pi * bpm / 60 * t
    pose = np.zeros((t.size, 55, 3), np.float32)
    turn = 2 * np.pi * _smoothstep((t - 1.0) / (seconds - 2.0))
    pose[:, 0] = rotmat_to_aa(_rot(0.0, turn, 0.08 * np.sin(beat / 2), t.size))
    bounce = 0.5 + 0.5 * np.cos(beat)
    for side, sign in (("left", 1.0), ("right", -1.0)):
        _set(pose, f"{side}_hip", x=-0.35 * bounce, z=-0.12 * sign)
        _set(pose, f"{side}_knee", x=0.7 * bounce)
        _set(pose, f"{side}_ankle", x=-0.3 * bounce)
    _set(pose, "spine1", z=-0.12 * np.sin(beat / 2))
    _set(pose, "spine3", z=0.08 * np.sin(beat / 2), x=0.1 * bounce)
    up_l = 0.5 + 0.5 * np.sin(beat / 2)
    up_r = 1 - up_l
    _set(pose, "left_shoulder", z=-ARM_DOWN + np.radians(130) * up_l, x=-0.3 * up_l)
    _set(pose, "right_shoulder", z=ARM_DOWN - np.radians(130) * up_r, x=-0.3 * up_r)
    _set(pose, "left_elbow", y=-0.3 - 0.6 * (1 - up_l))
    _set(pose, "right_elbow", y=0.3 + 0.6 * (1 - up_r))
    _set(pose, "head", z=0.12 * np.sin(beat / 2))
    return _motion(pose, rest_joints, "dance")


SAMPLES = {"walk": walk, "wave": wave, "dance": dance}
"""The clips shipped in resources/motions."""
MOTIONS = {"walk": walk, "wave": wave, "dance": dance, "turn": turn, "squat": squat, "arms_overhead": arms_overhead}
"""Every generator (the motion-capture benchmark uses all of them)."""


def write_samples(out_dir: str | Path) -> list[Path]:
    out_dir = Path(out_dir)
    paths = []
    for name, make in SAMPLES.items():
        path = out_dir / f"{name}.npz"
        write_amass(make(), path)
        paths.append(path)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[2] / "resources" / "motions"))
    for p in write_samples(ap.parse_args().out):
        print(p)


if __name__ == "__main__":
    main()
