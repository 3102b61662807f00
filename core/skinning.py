"""One linear-blend skinning for body vertices and Gaussians, batched over frames (torch).

Conventions (SMPL-X): joints [J,3] are rest joint positions of the shaped body; rotations are
local (relative to the parent); `rel_transforms` map rest-pose points to posed points:
    x_posed = sum_k w_k * A_k @ [x_rest, 1]  (+ transl)
"""
from __future__ import annotations

import numpy as np
import torch

from .body.joints import SMPLX_PARENTS  # noqa: F401 - skinning's callers pass it as `parents`
from .gaussians import GaussianSet
from .rotations import aa_to_rotmat

def batch_rodrigues(aa: torch.Tensor) -> torch.Tensor:
    """[...,3] axis-angle -> [...,3,3] rotation matrices: smplx's formula where autograd is needed (exact
    parity), `rotations.aa_to_rotmat` otherwise (within 3e-7 of it in float32)."""
    shape = aa.shape[:-1]
    if aa.device.type == "cpu" and not (torch.is_grad_enabled() and aa.requires_grad):
        # numpy's Rodrigues: a frame's 55 joints in ~50 µs instead of ~500 in small torch ops
        aa_np = aa.detach().numpy()
        return torch.from_numpy(aa_to_rotmat(aa_np).astype(aa_np.dtype)).view(shape + (3, 3))
    aa = aa.reshape(-1, 3)
    angle = torch.norm(aa + 1e-8, dim=1, keepdim=True)
    axis = aa / angle
    cos, sin = torch.cos(angle)[:, None], torch.sin(angle)[:, None]
    rx, ry, rz = torch.split(axis, 1, dim=1)
    zeros = torch.zeros_like(rx)
    k = torch.cat([zeros, -rz, ry, rz, zeros, -rx, -ry, rx, zeros], dim=1).view(-1, 3, 3)
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device)[None]
    rot = eye + sin * k + (1 - cos) * torch.bmm(k, k)
    return rot.view(shape + (3, 3))


def forward_kinematics(rotmats: torch.Tensor, joints: torch.Tensor, parents: np.ndarray | torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Pose a skeleton.

    Args:
        rotmats: [T,J,3,3] local joint rotations.
        joints: [J,3] or [T,J,3] rest joint positions.
        parents: [J] parent index per joint (-1 for the root); parents precede children.
    Returns:
        posed_joints: [T,J,3] world joint positions (before transl).
        rel_transforms: [T,J,4,4] transforms taking rest-pose points to posed points.
    """
    t, j = rotmats.shape[:2]
    if joints.dim() == 2:
        joints = joints[None].expand(t, -1, -1)
    parents = [int(p) for p in (parents.tolist() if hasattr(parents, "tolist") else parents)]
    if rotmats.device.type == "cpu" and not (torch.is_grad_enabled() and (rotmats.requires_grad or joints.requires_grad)):
        return _forward_kinematics_np(rotmats, joints, parents)
    rel_joints = joints.clone()
    rel_joints[:, 1:] = joints[:, 1:] - joints[:, parents[1:]]
    local = torch.zeros(t, j, 4, 4, dtype=rotmats.dtype, device=rotmats.device)
    local[..., :3, :3] = rotmats
    local[..., :3, 3] = rel_joints
    local[..., 3, 3] = 1
    chain = [local[:, 0]]
    for i in range(1, j):
        chain.append(chain[parents[i]] @ local[:, i])
    world = torch.stack(chain, dim=1)
    posed_joints = world[..., :3, 3]
    # Remove the rest joint offset: A = G @ [I, -J_rest].
    rel = world.clone()
    rel[..., :3, 3] = world[..., :3, 3] - (world[..., :3, :3] @ joints[..., None])[..., 0]
    return posed_joints, rel


def _forward_kinematics_np(rotmats: torch.Tensor, joints: torch.Tensor, parents: list[int]
                           ) -> tuple[torch.Tensor, torch.Tensor]:
    """`forward_kinematics` without autograd, in numpy: the 54 chained [T,4,4] products cost a few
    microseconds each here against ~10 in torch, which is most of a viewport frame's posing."""
    rot = rotmats.detach().numpy()
    jnt = joints.detach().numpy()
    t, j = rot.shape[:2]
    local = np.zeros((t, j, 4, 4), rot.dtype)
    local[..., :3, :3] = rot
    local[:, 0, :3, 3] = jnt[:, 0]
    local[:, 1:, :3, 3] = jnt[:, 1:] - jnt[:, parents[1:]]
    local[..., 3, 3] = 1
    world = np.empty_like(local)
    world[:, 0] = local[:, 0]
    for i in range(1, j):
        np.matmul(world[:, parents[i]], local[:, i], out=world[:, i])
    posed_joints = world[..., :3, 3].copy()
    rel = world.copy()
    rel[..., :3, 3] -= np.einsum("tjab,tjb->tja", world[..., :3, :3], jnt)
    return torch.from_numpy(posed_joints), torch.from_numpy(rel)


def blend_transforms(skin_indices: torch.Tensor, skin_weights: torch.Tensor, transforms: torch.Tensor) -> torch.Tensor:
    """Per-point blended transforms.

    Args:
        skin_indices: [N,K] joint index per influence (long).
        skin_weights: [N,K] weights, rows summing to 1.
        transforms: [T,J,4,4].
    Returns:
        [T,N,3,4] blended affine transforms.
    """
    flat = transforms[..., :3, :].reshape(transforms.shape[0], transforms.shape[1], 12)
    gathered = flat[:, skin_indices]  # [T,N,K,12]
    blended = (gathered * skin_weights[None, ..., None]).sum(dim=2)
    return blended.view(transforms.shape[0], -1, 3, 4)


def lbs_points(points: torch.Tensor, skin_indices: torch.Tensor, skin_weights: torch.Tensor,
               transforms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Skin points.

    Args:
        points: [N,3] or [T,N,3] rest-pose points.
        skin_indices, skin_weights: [N,K].
        transforms: [T,J,4,4] from `forward_kinematics`.
    Returns:
        posed: [T,N,3]; blended rotation-scale part: [T,N,3,3].
    """
    m = blend_transforms(skin_indices, skin_weights, transforms)
    if points.dim() == 2:
        points = points[None]
    posed = (m[..., :3] @ points[..., None])[..., 0] + m[..., 3]
    return posed, m[..., :3]


def dense_to_sparse_weights(weights: np.ndarray, k: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """[N,J] dense weights -> ([N,k] indices int32, [N,k] weights renormalised), keeping the top k."""
    weights = np.asarray(weights, np.float32)
    k = min(k, weights.shape[1])
    idx = np.argsort(-weights, axis=1)[:, :k]
    w = np.take_along_axis(weights, idx, axis=1)
    w = w / np.maximum(w.sum(1, keepdims=True), 1e-12)
    return idx.astype(np.int32), w.astype(np.float32)


def nearest_rotation(m: torch.Tensor, iterations: int = 4) -> torch.Tensor:
    """[...,3,3] blended (non-orthonormal) matrices -> the nearest rotations (polar decomposition).

    Scaled Newton iteration X <- (g X + X^-T / g) / 2 with g = sqrt(|X^-T|_F / |X|_F) (Higham);
    X^-T = cofactor(X) / det(X) from column cross products. Four steps reach float32 precision
    even for strongly blended joints. The GPU skinning shader runs the same iteration.
    """
    x = m
    for _ in range(iterations):
        c0, c1, c2 = x[..., :, 0], x[..., :, 1], x[..., :, 2]
        cof = torch.stack([torch.linalg.cross(c1, c2), torch.linalg.cross(c2, c0), torch.linalg.cross(c0, c1)], dim=-1)
        det = (c0 * cof[..., :, 0]).sum(-1)
        det = torch.where(det.abs() < 1e-12, torch.full_like(det, 1e-12), det)
        inv_t = cof / det[..., None, None]
        g = torch.sqrt(torch.linalg.norm(inv_t, dim=(-2, -1)) / torch.linalg.norm(x, dim=(-2, -1)).clamp_min(1e-12))
        x = 0.5 * (g[..., None, None] * x + inv_t / g[..., None, None])
    return x


def matrix_to_quat_torch(m: torch.Tensor) -> torch.Tensor:
    """[...,3,3] rotations -> [...,4] unit wxyz quaternions, batched (Shepperd's method).

    Each row uses the candidate with the largest diagonal term, so no component comes from the
    square root of a round-off-sized number. Exact for orthonormal input; pass blended matrices
    through `nearest_rotation` first. The GPU skinning shader uses the same selection.
    """
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    trace = m00 + m11 + m22
    sw = 2 * torch.sqrt(torch.clamp(1 + trace, min=1e-12))
    sx = 2 * torch.sqrt(torch.clamp(1 + m00 - m11 - m22, min=1e-12))
    sy = 2 * torch.sqrt(torch.clamp(1 - m00 + m11 - m22, min=1e-12))
    sz = 2 * torch.sqrt(torch.clamp(1 - m00 - m11 + m22, min=1e-12))
    candidates = torch.stack([
        torch.stack([sw / 4, (m21 - m12) / sw, (m02 - m20) / sw, (m10 - m01) / sw], -1),
        torch.stack([(m21 - m12) / sx, sx / 4, (m01 + m10) / sx, (m02 + m20) / sx], -1),
        torch.stack([(m02 - m20) / sy, (m01 + m10) / sy, sy / 4, (m12 + m21) / sy], -1),
        torch.stack([(m10 - m01) / sz, (m02 + m20) / sz, (m12 + m21) / sz, sz / 4], -1),
    ], dim=-2)  # [...,4 candidates,4]
    pick = torch.stack([trace, m00, m11, m22], -1).argmax(-1)
    q = torch.gather(candidates, -2, pick[..., None, None].expand(pick.shape + (1, 4)))[..., 0, :]
    q = torch.where(q[..., :1] < 0, -q, q)
    return q / torch.linalg.norm(q, dim=-1, keepdim=True)


def quat_mul_torch(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product of [...,4] wxyz quaternions."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack([aw * bw - ax * bx - ay * by - az * bz, aw * bx + ax * bw + ay * bz - az * by,
                        aw * by - ax * bz + ay * bw + az * bx, aw * bz + ax * by - ay * bx + az * bw], -1)


def skin_gaussians(gaussians: GaussianSet, skin_indices: np.ndarray, skin_weights: np.ndarray,
                   transforms: torch.Tensor, transl: torch.Tensor | None = None,
                   rotation_locked: np.ndarray | None = None) -> list[GaussianSet]:
    """Pose canonical Gaussians for T frames.

    Positions move with the blended transform; rotations are pre-multiplied by the nearest rotation
    to the blended 3x3 (its polar factor). Points flagged in `rotation_locked` [N] keep their rotation.

    Args:
        transforms: [T,J,4,4]; transl: [T,3] or None.
    Returns:
        T posed GaussianSets.
    """
    means, quats = skinned_means_quats(gaussians, skin_indices, skin_weights, transforms, transl, rotation_locked)
    means_np, quats_np = means.numpy(), quats.numpy()
    return [gaussians.replace(means=means_np[i], quats=quats_np[i]) for i in range(means_np.shape[0])]


def skinned_means_quats(gaussians: GaussianSet, skin_indices: np.ndarray, skin_weights: np.ndarray,
                        transforms: torch.Tensor, transl: torch.Tensor | None = None,
                        rotation_locked: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Tensor core of `skin_gaussians`: returns ([T,N,3] means, [T,N,4] quats) as float32."""
    transforms = transforms.float()
    idx = torch.from_numpy(np.asarray(skin_indices, np.int64))
    w = torch.from_numpy(np.asarray(skin_weights, np.float32))
    means = torch.from_numpy(gaussians.means)
    posed, rot = lbs_points(means, idx, w, transforms)
    if transl is not None:
        posed = posed + transl.float()[:, None, :]
    q_lbs = matrix_to_quat_torch(nearest_rotation(rot))
    q = quat_mul_torch(q_lbs, torch.from_numpy(gaussians.quats)[None])
    if rotation_locked is not None and np.any(rotation_locked):
        lock = torch.from_numpy(np.asarray(rotation_locked, bool))
        q[:, lock] = torch.from_numpy(gaussians.quats)[lock]
    return posed, q


def unpose_points(points: torch.Tensor, skin_indices: torch.Tensor, skin_weights: torch.Tensor,
                  transforms: torch.Tensor) -> torch.Tensor:
    """Inverse LBS for one pose: posed points [N,3] -> rest points [N,3].

    Args:
        skin_indices, skin_weights: [N,K]; transforms: [J,4,4] (one frame).
    """
    m = blend_transforms(skin_indices, skin_weights, transforms[None])[0]  # [N,3,4]
    rhs = (points - m[..., 3])[..., None]
    return torch.linalg.solve(m[..., :3], rhs)[..., 0]


def nearest_vertex_weights(points: np.ndarray, vertices: np.ndarray, vertex_weights: np.ndarray, k: int = 4
                           ) -> tuple[np.ndarray, np.ndarray]:
    """Skinning weights of each point's nearest vertex (LHM's rule), as top-k sparse weights.

    Args:
        points: [N,3]; vertices: [V,3]; vertex_weights: [V,J].
    Returns:
        ([N,k] int32 indices, [N,k] float32 weights).
    """
    from scipy.spatial import cKDTree
    _, nearest = cKDTree(np.asarray(vertices, np.float64)).query(np.asarray(points, np.float64), k=1)
    return dense_to_sparse_weights(np.asarray(vertex_weights)[nearest], k)
