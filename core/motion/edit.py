"""Clip operations. Each one is a pure function: it returns a new `Motion` and never changes its
input, so the GUI can undo by keeping the previous value.

Rotations are interpolated with quaternion slerp; translations linearly. Frame indices are
0-based; `stop` bounds are exclusive.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import savgol_filter

from ..errors import InputError
from ..rotations import aa_to_quat, aa_to_rotmat, quat_slerp, quat_to_aa, quat_to_rotmat, rotmat_to_aa
from .conventions import normalize, rest_joints_of, rotate_motion, to_flat_hands
from .ground import feet_on_floor
from .motion import Motion
from .skeleton import MIRROR_PERMUTATION, resolve_joint

# ---------------------------------------------------------------------------------------------- helpers


def _slerp_aa(a: np.ndarray, b: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Slerp [...,J,3] axis-angle a->b with weight broadcast over [...,J]."""
    return quat_to_aa(quat_slerp(aa_to_quat(a), aa_to_quat(b), weight)).astype(np.float32)


def sample(motion: Motion, positions: np.ndarray) -> Motion:
    """A motion made of the poses at fractional frame `positions` [N] (clamped to the clip)."""
    pos = np.clip(np.asarray(positions, np.float64), 0, motion.num_frames - 1)
    i0 = np.floor(pos).astype(int)
    i1 = np.minimum(i0 + 1, motion.num_frames - 1)
    a = pos - i0
    fp = motion.full_pose()
    pose = _slerp_aa(fp[i0], fp[i1], np.broadcast_to(a[:, None], (pos.size, fp.shape[1])))
    transl = (1 - a)[:, None] * motion.transl[i0] + a[:, None] * motion.transl[i1]
    return _with_pose(motion, pose, transl)


def _with_pose(motion: Motion, full_pose: np.ndarray, transl: np.ndarray, **changes) -> Motion:
    parts = Motion.from_full_pose(np.asarray(full_pose, np.float32), np.asarray(transl, np.float32))
    fields = {k: getattr(parts, k) for k in ("global_orient", "body_pose", "jaw", "leye", "reye", "lhand",
                                             "rhand", "transl")}
    return motion.replace(**fields, **changes)


def _horizontal_axes(motion: Motion) -> list[int]:
    return [0, 1] if (motion.frame == "world" and motion.up_axis == "z") else [0, 2]


def _vertical_axis(motion: Motion) -> int:
    return 2 if (motion.frame == "world" and motion.up_axis == "z") else 1


# ---------------------------------------------------------------------------------------------- timing
def trim(motion: Motion, start: int = 0, stop: int | None = None) -> Motion:
    """Frames [start, stop). Negative indices count from the end, as in Python slices."""
    idx = np.arange(motion.num_frames)[slice(start, stop)]
    if idx.size == 0:
        raise InputError(f"Trimming to frames [{start}, {stop}) leaves no frames (the clip has {motion.num_frames}).")
    return motion.frames(idx)


def trim_seconds(motion: Motion, start: float = 0.0, stop: float | None = None) -> Motion:
    """`trim` with times in seconds."""
    first = int(round(start * motion.fps))
    last = None if stop is None else int(round(stop * motion.fps))
    return trim(motion, first, last)


def loop(motion: Motion, count: int, carry_root: bool = False) -> Motion:
    """The clip played `count` times. With `carry_root`, each repeat starts where the last ended
    (horizontally), so a walk keeps walking instead of jumping back."""
    if count < 1:
        raise InputError(f"Loop count must be at least 1, got {count}.")
    parts = [motion]
    if carry_root:
        step = np.zeros(3, np.float32)
        axes = _horizontal_axes(motion)
        step[axes] = motion.transl[-1, axes] - motion.transl[0, axes]
    for k in range(1, count):
        shift = step * k if carry_root else 0.0
        parts.append(motion.replace(transl=motion.transl + shift))
    return _concat_frames(parts)


def _concat_frames(parts: list[Motion]) -> Motion:
    pose = np.concatenate([p.full_pose() for p in parts])
    transl = np.concatenate([p.transl for p in parts])
    return _with_pose(parts[0], pose, transl)


def ping_pong(motion: Motion, count: int = 1) -> Motion:
    """Forward then backward, `count` times, ending on the first frame; turning frames are not doubled."""
    if count < 1:
        raise InputError(f"Ping-pong count must be at least 1, got {count}.")
    n = motion.num_frames
    if n == 1:
        return motion
    cycle = np.concatenate([np.arange(n), np.arange(n - 2, 0, -1)])
    return motion.frames(np.concatenate([np.tile(cycle, count), [0]]))


def resample(motion: Motion, fps: float) -> Motion:
    """The same clip at a new frame rate (slerped poses), same duration from first to last frame."""
    if not (np.isfinite(fps) and fps > 0):
        raise InputError(f"Frame rate must be positive, got {fps}.")
    count = int(np.floor((motion.num_frames - 1) * fps / motion.fps + 1e-6)) + 1
    return sample(motion, np.arange(count) * motion.fps / fps).replace(fps=float(fps))


def change_speed(motion: Motion, factor: float) -> Motion:
    """Play `factor` times faster (0.5 = half speed) at the same frame rate."""
    if not (np.isfinite(factor) and factor > 0):
        raise InputError(f"Speed factor must be positive, got {factor}.")
    count = int(np.floor((motion.num_frames - 1) / factor + 1e-6)) + 1
    return sample(motion, np.arange(count) * factor)


# ---------------------------------------------------------------------------------------------- space
def mirror(motion: Motion, body=None) -> Motion:
    """Swap left and right: joints trade places and every rotation is reflected in the X = 0 plane.

    The pelvis path is reflected too: transl' = M (J0 + transl) - J0 with M = diag(-1, 1, 1).
    Hands are made flat first (needs `body` when they are not).
    """
    src = to_flat_hands(motion, body) if not motion.flat_hand_mean else motion
    pose = src.full_pose()[:, MIRROR_PERMUTATION] * np.array([1, -1, -1], np.float32)
    j0 = rest_joints_of(body, motion.betas)[0]
    transl = (src.transl + j0) * np.array([-1, 1, 1]) - j0
    return _with_pose(src, pose, transl)


def lock_root(motion: Motion, vertical: bool = False) -> Motion:
    """Keep the root in place: horizontal translation (and vertical too, if asked) fixed at frame 0."""
    transl = motion.transl.copy()
    axes = _horizontal_axes(motion) + ([_vertical_axis(motion)] if vertical else [])
    transl[:, axes] = motion.transl[0, axes]
    return motion.replace(transl=transl)


def align_ground(motion: Motion, body=None) -> Motion:
    """Feet on the floor: the clip is moved (one vertical offset) so its feet touch y = 0 in the Y-up world."""
    return feet_on_floor(motion, body)


def turn(motion: Motion, degrees: float, body=None) -> Motion:
    """Rotate the whole clip about the vertical axis through the world origin."""
    axis = np.zeros(3)
    axis[_vertical_axis(motion)] = -1.0 if (motion.frame == "camera") else 1.0
    rot = aa_to_rotmat(axis * np.radians(degrees))
    return rotate_motion(motion, rot, rest_joints_of(body, motion.betas)[0])


# ---------------------------------------------------------------------------------------------- two clips
def _compatible(a: Motion, b: Motion, body) -> tuple[Motion, Motion]:
    """Both in the same conventions (the renderer's, if they differ) and at a's frame rate."""
    if (a.frame, a.up_axis, a.flat_hand_mean) != (b.frame, b.up_axis, b.flat_hand_mean):
        a, b = normalize(a, body), normalize(b, body)
    if abs(a.fps - b.fps) > 1e-6:
        b = resample(b, a.fps)
    return a, b


def blend(a: Motion, b: Motion, weight: float | np.ndarray = 0.5, body=None) -> Motion:
    """Per-frame mix of two clips: 0 gives a, 1 gives b. `weight` is a number or [T] per frame.

    The result is as long as the shorter clip; b is resampled to a's frame rate first.
    """
    a, b = _compatible(a, b, body)
    t = min(a.num_frames, b.num_frames)
    w = np.broadcast_to(np.asarray(weight, np.float64), (t,)) if np.ndim(weight) == 0 else np.asarray(weight, np.float64)[:t]
    if w.shape != (t,) or not np.all(np.isfinite(w)):
        raise InputError(f"Blend weights must be a number or one finite value per frame ({t}).")
    pose = _slerp_aa(a.full_pose()[:t], b.full_pose()[:t], np.broadcast_to(w[:, None], (t, 55)))
    transl = (1 - w)[:, None] * a.transl[:t] + w[:, None] * b.transl[:t]
    return _with_pose(a.frames(slice(0, t)), pose, transl)


def _heading(motion: Motion, frame: int) -> float:
    """Angle (radians) of the root's forward axis about the world's up axis (Y-up or Z-up world)."""
    fwd = aa_to_rotmat(motion.global_orient[frame])[:, 2]
    if motion.up_axis == "z":
        return float(np.arctan2(-fwd[0], fwd[1]))
    return float(np.arctan2(fwd[0], fwd[2]))


def concatenate(a: Motion, b: Motion, crossfade: float = 0.3, *, align: bool = True, body=None) -> Motion:
    """a then b, with a crossfade of `crossfade` seconds (smoothstep weights) over the overlap.

    With `align`, b is turned about the vertical and moved so that it starts facing and standing
    where a ends (horizontally).
    """
    a, b = _compatible(a, b, body)
    if align:
        if a.frame == "world":
            b = turn(b, np.degrees(_heading(a, -1) - _heading(b, 0)), body)
        shift = np.zeros(3, np.float32)
        axes = _horizontal_axes(a)
        shift[axes] = a.transl[-1, axes] - b.transl[0, axes]
        b = b.replace(transl=b.transl + shift)
    n = int(round(max(crossfade, 0.0) * a.fps))
    n = min(n, a.num_frames, b.num_frames)
    if n == 0:
        return _concat_frames([a, b])
    x = (np.arange(n) + 1) / (n + 1)
    w = x * x * (3 - 2 * x)
    overlap = blend(a.frames(slice(a.num_frames - n, None)), b.frames(slice(0, n)), w, body)
    parts = [p for p in (a.frames(slice(0, a.num_frames - n)) if a.num_frames > n else None, overlap,
                         b.frames(slice(n, None)) if b.num_frames > n else None) if p is not None]
    return _concat_frames(parts)


# ---------------------------------------------------------------------------------------------- smoothing
def _quat_tracks(motion: Motion) -> np.ndarray:
    """[T,55,4] quaternions made sign-continuous over time (q and -q are the same rotation)."""
    q = aa_to_quat(motion.full_pose())
    for t in range(1, q.shape[0]):
        flip = np.sum(q[t] * q[t - 1], axis=-1) < 0
        q[t, flip] *= -1
    return q


def _from_quat_tracks(motion: Motion, q: np.ndarray, transl: np.ndarray) -> Motion:
    q = q / np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), 1e-12)
    return _with_pose(motion, quat_to_aa(q), transl)


def smooth_savgol(motion: Motion, window: int = 9, order: int = 3) -> Motion:
    """Savitzky-Golay smoothing of rotations (as continuous quaternions) and translation.

    `window` (odd, frames) shrinks to fit short clips; clips shorter than order+2 are returned as is.
    """
    if window < 3 or order < 1 or order >= window:
        raise InputError(f"Savitzky-Golay needs window >= 3 and 1 <= order < window (got {window}, {order}).")
    t = motion.num_frames
    w = min(window, t if t % 2 else t - 1)
    if w <= order:
        return motion
    q = savgol_filter(_quat_tracks(motion), w, order, axis=0, mode="interp")
    transl = savgol_filter(motion.transl.astype(np.float64), w, order, axis=0, mode="interp")
    return _from_quat_tracks(motion, q, transl)


def _one_euro(x: np.ndarray, fps: float, min_cutoff: float, beta: float, d_cutoff: float,
              group: int) -> np.ndarray:
    """One-Euro filter over time of [T,C,group] signals; the speed is measured per group of values."""
    def alpha(cutoff):
        tau = 1.0 / (2 * np.pi * cutoff)
        return 1.0 / (1.0 + tau * fps)

    out = np.empty_like(x)
    out[0] = x[0]
    speed = np.zeros(x.shape[1:])
    a_d = alpha(d_cutoff)
    for t in range(1, x.shape[0]):
        raw_speed = (x[t] - out[t - 1]) * fps
        speed = a_d * raw_speed + (1 - a_d) * speed
        cutoff = min_cutoff + beta * np.linalg.norm(speed, axis=-1, keepdims=True)
        a = alpha(cutoff)
        out[t] = a * x[t] + (1 - a) * out[t - 1]
    return out


def smooth_one_euro(motion: Motion, min_cutoff: float = 1.0, beta: float = 0.05, d_cutoff: float = 1.0,
                    zero_lag: bool = True) -> Motion:
    """One-Euro filter (Casiez et al. 2012): strong smoothing when still, little lag when fast.

    `min_cutoff` (Hz) sets smoothing at rest, `beta` how fast the cutoff grows with speed. With
    `zero_lag` (clip editing) the filter runs forwards and backwards and the two are averaged, so
    the result does not trail the motion; `zero_lag=False` is the classic causal filter.
    """
    if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
        raise InputError("One-Euro needs min_cutoff > 0, d_cutoff > 0 and beta >= 0.")

    def run(x: np.ndarray, group: int) -> np.ndarray:
        out = _one_euro(x, motion.fps, min_cutoff, beta, d_cutoff, group)
        if zero_lag:
            out = 0.5 * (out + _one_euro(x[::-1], motion.fps, min_cutoff, beta, d_cutoff, group)[::-1])
        return out

    q = run(_quat_tracks(motion), 4)
    transl = run(motion.transl.astype(np.float64)[:, None, :], 3)[:, 0]
    return _from_quat_tracks(motion, q, transl)


# ---------------------------------------------------------------------------------------------- per-joint
@dataclass(frozen=True)
class JointKey:
    """Extra rotation of a joint at a frame: `rotation` is [3] axis-angle, applied in the parent's frame."""

    frame: float
    rotation: tuple[float, float, float]


def joint_offsets(keys: list[JointKey], num_frames: int, falloff: float | None = None) -> np.ndarray:
    """[T,4] quaternion offset per frame: slerped between keys; outside the keys held, or faded to
    none over `falloff` frames."""
    if not keys:
        raise InputError("A joint override needs at least one key.")
    keys = sorted(keys, key=lambda k: k.frame)
    frames = np.array([k.frame for k in keys], np.float64)
    quats = aa_to_quat(np.array([k.rotation for k in keys], np.float64))
    for i in range(1, len(quats)):
        if np.dot(quats[i], quats[i - 1]) < 0:
            quats[i] = -quats[i]
    t = np.arange(num_frames, dtype=np.float64)
    hi = np.clip(np.searchsorted(frames, t, side="right"), 1, len(keys) - 1) if len(keys) > 1 else np.zeros(num_frames, int)
    lo = hi - 1 if len(keys) > 1 else hi
    span = np.where(frames[hi] > frames[lo], frames[hi] - frames[lo], 1.0)
    a = np.clip((t - frames[lo]) / span, 0, 1)
    out = quat_slerp(quats[lo], quats[hi], a)
    if falloff is not None and falloff > 0:
        identity = np.tile([1.0, 0, 0, 0], (num_frames, 1))
        before = np.clip((frames[0] - t) / falloff, 0, 1)
        after = np.clip((t - frames[-1]) / falloff, 0, 1)
        out = quat_slerp(out, identity, np.maximum(before, after))
    return out


def rotate_joint(motion: Motion, joint: int | str, keys: list[JointKey], falloff: float | None = None) -> Motion:
    """Add keyed rotations to one joint (name or index): R' = R_offset · R, offsets slerped between keys."""
    try:
        j = resolve_joint(joint)
    except ValueError as err:
        raise InputError(f"Cannot override joint: {err}.") from None
    offsets = joint_offsets(keys, motion.num_frames, falloff)
    pose = motion.full_pose()
    rot = quat_to_rotmat(offsets).astype(np.float64) @ aa_to_rotmat(pose[:, j])
    pose = pose.copy()
    pose[:, j] = rotmat_to_aa(rot)
    return _with_pose(motion, pose, motion.transl)
