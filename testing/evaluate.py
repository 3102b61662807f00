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
