"""Accuracy measures for captured motion against a known truth (tests and `tests/bench/bench_mocap.py`).

* MPJPE: mean distance over the 22 body joints after moving both skeletons' pelvis to the
  origin, in one common frame (no rotation fitted).
* N-MPJPE: MPJPE after the best per-frame scale (no rotation): without the body's size.
* PA-MPJPE: the same after a per-frame similarity (Procrustes: rotation, translation and scale).
* Joint-angle error: mean geodesic angle between fitted and true local rotations of the 21 body
  joints (pelvis excluded), in degrees.
* Foot slide: mean horizontal speed of foot points (heels, toes) over the frames where the truth
  has them planted (`contact_mask` of the truth, `slide_during` of the capture).
"""
from __future__ import annotations

import numpy as np

from ..core.rotations import aa_to_rotmat


def procrustes(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """[T,J,3] pred aligned onto [T,J,3] gt per frame by the best similarity transform."""
    mu_p, mu_g = pred.mean(axis=1, keepdims=True), gt.mean(axis=1, keepdims=True)
    p, g = pred - mu_p, gt - mu_g
    cov = np.swapaxes(p, 1, 2) @ g                                   # [T,3,3]
    u, s, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.ones_like(s)
    fix[:, -1] = d
    rot = (u * fix[:, None, :]) @ vt                                 # p @ rot ~ g
    scale = (s * fix).sum(axis=1) / np.maximum((p ** 2).sum(axis=(1, 2)), 1e-12)
    return scale[:, None, None] * p @ rot + mu_g


def mpjpe(pred: np.ndarray, gt: np.ndarray, root: int = 0) -> float:
    """Mean per-joint error (same units as the input) of [T,J,3] joints after root alignment."""
    return float(np.linalg.norm((pred - pred[:, root:root + 1]) - (gt - gt[:, root:root + 1]), axis=-1).mean())


def pa_mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean per-joint error of [T,J,3] joints after per-frame Procrustes alignment."""
    return float(np.linalg.norm(procrustes(pred, gt) - gt, axis=-1).mean())


def angle_error_deg(pred_pose: np.ndarray, gt_pose: np.ndarray) -> float:
    """Mean geodesic angle (degrees) between [T,21,3] axis-angle local body rotations."""
    rel = np.swapaxes(aa_to_rotmat(pred_pose), -1, -2) @ aa_to_rotmat(gt_pose)
    cos = np.clip((np.trace(rel, axis1=-2, axis2=-1) - 1) / 2, -1, 1)
    return float(np.degrees(np.arccos(cos)).mean())


def per_joint_error(pred: np.ndarray, gt: np.ndarray, aligned: bool = True) -> np.ndarray:
    """[J] mean error per joint (after Procrustes if `aligned`)."""
    p = procrustes(pred, gt) if aligned else pred
    return np.linalg.norm(p - gt, axis=-1).mean(axis=0)


def contact_mask(feet: np.ndarray, fps: float, height: float = 0.02, speed: float = 0.2) -> np.ndarray:
    """[T,P] True where Y-up foot points [T,P,3] (floor at y = 0) touch down: low and slow."""
    vel = np.gradient(feet[..., [0, 2]], axis=0) * fps if feet.shape[0] > 1 else np.zeros(feet.shape[:2] + (2,))
    return (feet[..., 1] < height) & (np.linalg.norm(vel, axis=-1) < speed)


def slide_during(feet: np.ndarray, mask: np.ndarray, fps: float) -> float:
    """Mean horizontal speed (m/s) of Y-up foot points [T,P,3] over the frames where `mask` [T,P]
    says they are planted (e.g. the truth's `contact_mask`)."""
    if feet.shape[0] < 2 or not mask.any():
        return 0.0
    speed = np.linalg.norm(np.gradient(feet[..., [0, 2]], axis=0), axis=-1) * fps
    return float(speed[mask].mean())


def n_mpjpe(pred: np.ndarray, gt: np.ndarray, root: int = 0) -> float:
    """MPJPE after root alignment and the best per-frame scale (N-MPJPE, Rhodin et al. 2018): the
    pose and orientation error without the body's size, which one camera cannot measure."""
    p = pred - pred[:, root:root + 1]
    g = gt - gt[:, root:root + 1]
    s = (p * g).sum(axis=(1, 2)) / np.maximum((p * p).sum(axis=(1, 2)), 1e-12)
    return float(np.linalg.norm(s[:, None, None] * p - g, axis=-1).mean())


# ---------------------------------------------------------------------------------------------------
# One capture against its truth (the benchmarks and the held-out regression test)
# ---------------------------------------------------------------------------------------------------
JOINT_NAMES = ("pelvis", "l_hip", "r_hip", "spine1", "l_knee", "r_knee", "spine2", "l_ankle", "r_ankle", "spine3",
               "l_foot", "r_foot", "neck", "l_collar", "r_collar", "head", "l_shoulder", "r_shoulder", "l_elbow",
               "r_elbow", "l_wrist", "r_wrist")
FOOT_LANDMARKS = (29, 31, 30, 32)   # left heel, left toe, right heel, right toe


def body_joints(motion, body, betas=None) -> np.ndarray:
    """[T,22,3] world body joints of `motion` on `body` at `betas`."""
    joints, _ = body.joint_transforms(motion.full_pose(), betas)
    return joints.numpy()[:, :22] + motion.transl[:, None, :]


def feet_of(motion, body, betas=None) -> np.ndarray:
    """[T,4,3] heel and toe points of `motion` (at `betas`), floor at y = 0."""
    from ..core.mocap.cleanup import attached_points, floor_offset
    from ..core.mocap.fit import MARKERS, rest_geometry
    rest = rest_geometry(body, betas)
    rows = [next(k for k, m in enumerate(MARKERS) if m.landmark == i) for i in FOOT_LANDMARKS]
    _, pts = attached_points(motion.global_orient, motion.body_pose, motion.transl, rest.joints,
                             rest.points[rows], rest.attach[rows])
    return pts - np.array([0.0, floor_offset(pts), 0.0])


def score_capture(result, truth_motion, truth_joints_camera: np.ndarray, body, betas: np.ndarray) -> dict:
    """The figures of one capture (`pipeline.MocapResult`) against its truth.

    Args:
        truth_motion: the `Motion` the video shows (Y-up world); truth_joints_camera: [T,22,3] its
            joints in the camera frame; betas: the subject's body shape.
    Returns:
        dict of floats (mm, degrees, cm/s, frames/s) and "per_joint_mm": [22] PA-aligned errors.
    """
    out = body_joints(result.motion, body, result.motion.betas)
    fps = truth_motion.fps
    truth_feet = feet_of(truth_motion, body, betas)
    planted = contact_mask(truth_feet, fps)
    truth = truth_joints_camera @ result.diagnostics.to_world.T
    return {
        "frames": result.motion.num_frames,
        "detected": result.diagnostics.detected,
        "pa_mpjpe_mm": 1000 * pa_mpjpe(out, truth),
        "mpjpe_mm": 1000 * mpjpe(out, truth),
        "n_mpjpe_mm": 1000 * n_mpjpe(out, truth),
        "pa_mpjpe_fit_mm": 1000 * pa_mpjpe(result.fit.joints, truth_joints_camera),
        "angle_deg": angle_error_deg(result.motion.body_pose, truth_motion.body_pose),
        "foot_slide_cm_s": 100 * slide_during(feet_of(result.motion, body, result.motion.betas), planted, fps),
        "truth_slide_cm_s": 100 * slide_during(truth_feet, planted, fps),
        "fps": result.diagnostics.fps,
        "seconds": result.diagnostics.frames / result.diagnostics.fps,
        "per_joint_mm": (1000 * per_joint_error(out, truth)).round(1).tolist(),
    }
