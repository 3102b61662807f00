"""How faithfully a retargeted BVH follows its source: figures for tests, benchmarks and the README.

Every figure compares the SMPL-X joints of the retargeted `Motion` with the source skeleton's own
forward kinematics. The source is brought to metres by the ratio of leg lengths (hip to knee to
ankle bone lengths, which no pose changes), so no unit has to be trusted.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .bvh import BvhClip
from .motion import Motion
from .skeleton import JOINT_INDEX, posed_joints

# Bones compared for direction: (from, to) SMPL-X joints; both ends must be mapped.
LIMB_BONES = (("left_hip", "left_knee"), ("left_knee", "left_ankle"), ("right_hip", "right_knee"),
              ("right_knee", "right_ankle"), ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
              ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"), ("pelvis", "neck"),
              ("pelvis", "head"))
_FEET = ("left_ankle", "right_ankle", "left_foot", "right_foot")


@dataclass
class Fidelity:
    """Figures of one retarget (angles in degrees, lengths in metres, speeds in m/s).

    limb_error_deg: mean angle between source and target bone directions after one best global rotation.
    upright_deg, source_upright_deg: mean angle between the pelvis-to-head direction and +Y (the
        source's after the best rotation), so a bow or a kneel counts as the source's own lean.
    facing_deg: median angle between the target's facing and its horizontal velocity over the
        half-second steps where it moves faster than 0.5 m/s (nan if it never does).
    pelvis_height, source_pelvis_height: median height of the hip joints' middle above the floor (the
        lowest foot joints); the middle of the hips, because rigs put their root anywhere near it.
    path, source_path: horizontal path length of the hips' middle (sampled at 2 Hz: the travel, not the sway).
    slide, source_slide: mean horizontal foot speed over the source's foot-contact frames (a foot
        joint within 3 cm of its lowest height, moving under 30 cm/s in the source).
    """

    limb_error_deg: float
    upright_deg: float
    source_upright_deg: float
    facing_deg: float
    pelvis_height: float
    source_pelvis_height: float
    path: float
    source_path: float
    slide: float
    source_slide: float

    def as_dict(self) -> dict:
        return {k: round(float(v), 4) for k, v in asdict(self).items()}


def _leg_length(pos: np.ndarray, chain: list[int]) -> float:
    """Summed bone lengths along `chain` of [J,3] positions."""
    return float(sum(np.linalg.norm(pos[b] - pos[a]) for a, b in zip(chain, chain[1:])))


def best_rotation(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """[3,3] rotation R minimising sum |R src_i - dst_i|^2 over [N,3] vectors (Kabsch)."""
    u, _, vt = np.linalg.svd(dst.T @ src)
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1.0, 1.0, d]) @ vt


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _path_length(xz: np.ndarray, fps: float) -> float:
    step = max(1, int(round(fps / 2.0)))
    pts = xz[::step]
    return float(np.linalg.norm(np.diff(pts, axis=0), axis=1).sum())


def _contact_frames(height: np.ndarray, speed: np.ndarray) -> np.ndarray:
    """[T-1] bool from [T] heights and [T-1] horizontal speeds (metres, m/s): the foot is down."""
    low = height < np.percentile(height, 5) + 0.03
    return low[1:] & low[:-1] & (speed < 0.3)


def measure(clip: BvhClip, mapping: dict[str, str], motion: Motion, rest_joints: np.ndarray) -> Fidelity:
    """Figures of `motion` (a Y-up retarget of `clip` under `mapping`) against the source skeleton."""
    t2s = {JOINT_INDEX[t]: clip.skeleton.index(s) for s, t in mapping.items()}
    _, src = clip.global_transforms()                                          # [T,J,3] file units
    tgt = posed_joints(motion.full_pose(), motion.transl, rest_joints)         # [T,55,3] metres
    rest_s = clip.skeleton.rest_positions()
    scale = 1.0
    for side in ("left", "right"):
        chain = [JOINT_INDEX[f"{side}_{n}"] for n in ("hip", "knee", "ankle")]
        if all(j in t2s for j in chain):
            scale = _leg_length(rest_joints, chain) / max(_leg_length(rest_s, [t2s[j] for j in chain]), 1e-12)
            break
    bones = [(JOINT_INDEX[a], JOINT_INDEX[b]) for a, b in LIMB_BONES if JOINT_INDEX[a] in t2s and JOINT_INDEX[b] in t2s]
    d_s = _unit(np.stack([src[:, t2s[b]] - src[:, t2s[a]] for a, b in bones], axis=1))   # [T,B,3]
    d_t = _unit(np.stack([tgt[:, b] - tgt[:, a] for a, b in bones], axis=1))
    rot = best_rotation(d_s.reshape(-1, 3), d_t.reshape(-1, 3))
    cos = np.clip(np.sum((d_s @ rot.T) * d_t, axis=-1), -1.0, 1.0)
    limb_error = float(np.degrees(np.arccos(cos)).mean())

    src_m = (src * scale) @ rot.T                                             # source in the target's frame, metres
    top = JOINT_INDEX["head"] if JOINT_INDEX["head"] in t2s else JOINT_INDEX["neck"]
    up_t = _unit(tgt[:, top] - tgt[:, 0])
    upright = float(np.degrees(np.arccos(np.clip(up_t[:, 1], -1, 1))).mean())
    up_s = _unit(src_m[:, t2s[top]] - src_m[:, t2s[0]])
    src_upright = float(np.degrees(np.arccos(np.clip(up_s[:, 1], -1, 1))).mean())
    feet = [JOINT_INDEX[n] for n in _FEET if JOINT_INDEX[n] in t2s]
    feet_t = feet or [0]  # no feet mapped: heights above the pelvis's own lowest point
    floor_t = float(np.percentile(tgt[:, feet_t, 1].min(axis=1), 5))
    floor_s = float(np.percentile(src_m[:, [t2s[j] for j in feet_t], 1].min(axis=1), 5))
    hips = [JOINT_INDEX["left_hip"], JOINT_INDEX["right_hip"]]
    hips = hips if all(j in t2s for j in hips) else [0]
    pelvis_h = float(np.median(tgt[:, hips, 1].mean(axis=1)) - floor_t)
    src_pelvis_h = float(np.median(src_m[:, [t2s[j] for j in hips], 1].mean(axis=1)) - floor_s)
    path = _path_length(tgt[:, hips][..., [0, 2]].mean(axis=1), motion.fps)
    src_path = _path_length(src_m[:, [t2s[j] for j in hips]][..., [0, 2]].mean(axis=1), motion.fps)
    facing = float("nan")
    if JOINT_INDEX["left_hip"] in t2s and JOINT_INDEX["right_hip"] in t2s:
        step = max(1, int(round(motion.fps / 2.0)))                           # half-second steps
        mid = tgt[::step][:, [1, 2]].mean(axis=1)[:, [0, 2]]
        velocity = np.diff(mid, axis=0) * motion.fps / step                    # [S,2] m/s
        left = (tgt[::step, 1] - tgt[::step, 2])
        left = 0.5 * (left[1:] + left[:-1])
        forward = np.cross(left, [0.0, 1.0, 0.0])[:, [0, 2]]
        moving = np.linalg.norm(velocity, axis=1) > 0.5
        if moving.sum() >= 2:
            cos = np.sum(_unit(forward[moving]) * _unit(velocity[moving]), axis=1)
            facing = float(np.median(np.degrees(np.arccos(np.clip(cos, -1, 1)))))
    slide, src_slide = [], []
    for j in feet:
        v_s = np.linalg.norm(np.diff(src_m[:, t2s[j], [0, 2]], axis=0), axis=1) * motion.fps
        v_t = np.linalg.norm(np.diff(tgt[:, j, [0, 2]], axis=0), axis=1) * motion.fps
        contact = _contact_frames(src_m[:, t2s[j], 1], v_s)
        if contact.sum() < 2:
            continue
        src_slide.append(v_s[contact].mean())
        slide.append(v_t[contact].mean())
    return Fidelity(limb_error, upright, src_upright, facing, pelvis_h, src_pelvis_h, path, src_path,
                    float(np.mean(slide)) if slide else float("nan"),
                    float(np.mean(src_slide)) if src_slide else float("nan"))
