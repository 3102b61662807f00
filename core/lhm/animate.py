"""LHM's Gaussians (big pose) -> our `Avatar` (rest pose with the subject's betas) + rig (SPECS §3.6).

LHM poses a Gaussian at point p (big pose) as
    x = LBS_pose( LBS_unpose(p) + S_nn @ betas ) + trans,     q = quat(M_pose @ M_unpose) * q_g
with the nearest template vertex's weights for both blends. We store the inner part as the
canonical avatar: means = LBS_unpose(p) + S_nn @ betas (exactly LHM's exported T-pose PLY) and
quats = quat(M_unpose) * q_g, so that `core.skinning` supplies the outer LBS at any pose. The only
difference from LHM is quat(M_pose) * quat(M_unpose) in place of quat(M_pose @ M_unpose), which is
equal where the blended matrices are rotations (points skinned to one joint). Constrained points
keep LHM's raw rotation q_g in every pose (`Rig.rotation_locked`).
"""
from __future__ import annotations

import numpy as np
import torch

from ..avatar import Avatar, Rig
from ..gaussians import GaussianSet
from ..rotations import normalize_quats, quat_multiply, rotmat_to_quat
from ..skinning import lbs_points
from .prior import LHMPrior


def unpose_points(points_big: np.ndarray, prior: LHMPrior) -> tuple[np.ndarray, np.ndarray]:
    """[N,3] big-pose points -> ([N,3] zero-pose points at betas 0, [N,3,3] blended un-pose matrices)."""
    posed, mats = lbs_points(torch.from_numpy(np.ascontiguousarray(points_big, np.float32)),
                             torch.from_numpy(prior.skin_indices.astype(np.int64)),
                             torch.from_numpy(prior.skin_weights), prior.unpose[None].float())
    return posed[0].numpy(), mats[0].numpy()


def canonical_means(points_big: np.ndarray, prior: LHMPrior, betas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """([N,3] rest-pose means with the subject's shape, [N,3,3] un-pose matrices)."""
    zero, mats = unpose_points(points_big, prior)
    b = np.zeros(prior.shapedirs.shape[-1], np.float32)
    given = np.asarray(betas, np.float32).reshape(-1)[: b.shape[0]]
    b[: given.shape[0]] = given
    return (zero + prior.shapedirs @ b).astype(np.float32), mats


def canonical_quats(rotation: np.ndarray, unpose_mats: np.ndarray, constrained: np.ndarray) -> np.ndarray:
    """[N,4] predicted wxyz -> [N,4] canonical wxyz (un-pose rotation applied, constrained points kept)."""
    q = quat_multiply(rotmat_to_quat(unpose_mats).astype(np.float64), np.asarray(rotation, np.float64))
    q = np.where(constrained[:, None], rotation, q)
    return normalize_quats(q)


def lhm_avatar(gaussians: dict[str, np.ndarray], prior: LHMPrior, betas: np.ndarray, name: str = "lhm") -> Avatar:
    """Network output for one subject (offset/scale/rotation/opacity/rgb, each [N,..]) -> rigged Avatar."""
    means, mats = canonical_means(prior.points_big + gaussians["offset"], prior, betas)
    quats = canonical_quats(gaussians["rotation"], mats, prior.constrained)
    g = GaussianSet.from_rgb(means, quats, np.maximum(gaussians["scale"], 1e-8),
                             np.reshape(gaussians["opacity"], -1), np.clip(gaussians["rgb"], 0.0, 1.0))
    rig = Rig(prior.skin_indices, prior.skin_weights, np.asarray(betas, np.float32).reshape(-1)[:10], "neutral",
              "standin" if prior.body.is_standin else "smplx", rotation_locked=prior.constrained.copy())
    return Avatar(g, rig, name)
