"""Dense Gaussian sites on the fitted body, in canonical space and as posed in the photo."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ...body.model import BodyModel
from ...skinning import blend_transforms, dense_to_sparse_weights
from .surface import interpolate, sample_surface, vertex_normals
from .view import FLIP

# Body parts for colour propagation (by dominant joint).
PART_OF_JOINT = np.zeros(55, np.int64)
PART_OF_JOINT[[15, 22, 23, 24, 12]] = 1                       # head and neck
PART_OF_JOINT[[16, 18, 20] + list(range(25, 40))] = 2         # left arm and hand
PART_OF_JOINT[[17, 19, 21] + list(range(40, 55))] = 3         # right arm and hand
PART_OF_JOINT[[1, 4, 7, 10]] = 4                              # left leg
PART_OF_JOINT[[2, 5, 8, 11]] = 5                              # right leg
PART_NAMES = ("torso", "head", "left_arm", "right_arm", "left_leg", "right_leg")


@dataclass
class Sites:
    """N Gaussian sites.

    Attributes:
        can: [N,3] canonical positions; can_n: [N,3] canonical unit normals.
        cam: [N,3] camera-frame (OpenCV) posed positions; cam_n: [N,3] posed unit normals.
        skin_idx: [N,4] int; skin_w: [N,4] float.
        part: [N] int body part (PART_NAMES).
    """

    can: np.ndarray
    can_n: np.ndarray
    cam: np.ndarray
    cam_n: np.ndarray
    skin_idx: np.ndarray
    skin_w: np.ndarray
    part: np.ndarray

    def __len__(self) -> int:
        return int(self.can.shape[0])

    def subset(self, index: np.ndarray) -> "Sites":
        """The sites at `index` (bool mask or integer indices)."""
        return Sites(self.can[index], self.can_n[index], self.cam[index], self.cam_n[index],
                     self.skin_idx[index], self.skin_w[index], self.part[index])


def blended(skin_idx: np.ndarray, skin_w: np.ndarray, rel: torch.Tensor) -> np.ndarray:
    """[N,3,4] blended rest->posed transforms for one frame of rel [1,55,4,4]."""
    m = blend_transforms(torch.from_numpy(skin_idx.astype(np.int64)), torch.from_numpy(skin_w), rel.float())
    return m[0].numpy()


def to_camera(points_world: np.ndarray, transl: np.ndarray) -> np.ndarray:
    """[N,3] posed body-frame points + [3] fitted translation -> [N,3] camera frame."""
    return ((points_world + transl) * FLIP).astype(np.float32)


def from_camera(points_cam: np.ndarray, transl: np.ndarray) -> np.ndarray:
    """Inverse of `to_camera`."""
    return (points_cam * FLIP - transl).astype(np.float32)


def body_sites(body: BodyModel, betas: np.ndarray, full_pose: np.ndarray, transl: np.ndarray, n: int,
               seed: int = 0) -> tuple[Sites, torch.Tensor]:
    """Sample n sites on the shaped body and pose them into the photo.

    Returns: the sites, and rel transforms [1,55,4,4] of the fitted pose.
    """
    verts, _ = body.shaped(betas)
    rng = np.random.default_rng(seed)
    face_idx, bary = sample_surface(verts, body.faces, n, rng)
    can = interpolate(verts, body.faces, face_idx, bary)
    can_n = interpolate(vertex_normals(verts, body.faces), body.faces, face_idx, bary)
    can_n /= np.maximum(np.linalg.norm(can_n, axis=1, keepdims=True), 1e-9)
    dense = interpolate(body.weights, body.faces, face_idx, bary)
    skin_idx, skin_w = dense_to_sparse_weights(dense, 4)
    _, rel = body.joint_transforms(full_pose[None], betas)
    m = blended(skin_idx, skin_w, rel)
    posed = np.einsum("nab,nb->na", m[:, :, :3], can) + m[:, :, 3]
    posed_n = np.einsum("nab,nb->na", m[:, :, :3], can_n)
    posed_n /= np.maximum(np.linalg.norm(posed_n, axis=1, keepdims=True), 1e-9)
    sites = Sites(can.astype(np.float32), can_n.astype(np.float32), to_camera(posed, transl),
                  (posed_n * FLIP).astype(np.float32), skin_idx, skin_w, PART_OF_JOINT[np.argmax(dense, axis=1)])
    return sites, rel


def unpose(points_cam: np.ndarray, skin_idx: np.ndarray, skin_w: np.ndarray, rel: torch.Tensor,
           transl: np.ndarray) -> np.ndarray:
    """[N,3] camera-frame posed points -> [N,3] canonical, inverting each point's blended LBS."""
    m = blended(skin_idx, skin_w, rel)
    world = from_camera(points_cam, transl)
    inv = np.linalg.inv(m[:, :, :3])
    return np.einsum("nab,nb->na", inv, world - m[:, :, 3]).astype(np.float32)


def rotate_normals_back(normals_cam: np.ndarray, skin_idx: np.ndarray, skin_w: np.ndarray, rel: torch.Tensor
                        ) -> np.ndarray:
    """[N,3] posed camera-frame normals -> [N,3] canonical unit normals."""
    m = blended(skin_idx, skin_w, rel)
    n = np.einsum("nba,nb->na", m[:, :, :3], normals_cam * FLIP)  # R^T n (rotation part)
    return (n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-9)).astype(np.float32)
