"""`Avatar`: canonical Gaussians plus the rig that lets any SMPL-X motion drive them.

Canonical space is the body model's rest pose (zero pose, T-pose) with the subject's betas
applied, Y up, facing +Z: the same space LHM exports its PLY in (SPECS §3.10).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .errors import InputError
from .gaussians import GaussianSet

if TYPE_CHECKING:  # torch and the body model load only when an avatar is posed (keeps `info` fast)
    import torch

    from .body.model import BodyModel


@dataclass
class Rig:
    """Skinning data for N Gaussians.

    Attributes:
        skin_indices: [N,K] int32 joint indices (SMPL-X order), K influences (usually 4).
        skin_weights: [N,K] float32, rows sum to 1.
        betas: [B] subject shape; the canonical Gaussians already include it.
        gender: body model gender the rig was made for.
        body_model: "standin" or "smplx" — which body the rig was fitted on.
        rotation_locked: [N] bool or None; flagged Gaussians keep their rotation when posed (LHM).
    """

    skin_indices: np.ndarray
    skin_weights: np.ndarray
    betas: np.ndarray = field(default_factory=lambda: np.zeros(10, np.float32))
    gender: str = "neutral"
    body_model: str = "standin"
    rotation_locked: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.skin_indices = np.ascontiguousarray(self.skin_indices, np.int32)
        self.skin_weights = np.ascontiguousarray(self.skin_weights, np.float32)
        self.betas = np.asarray(self.betas, np.float32).reshape(-1)
        if self.skin_indices.shape != self.skin_weights.shape or self.skin_indices.ndim != 2:
            raise InputError(f"Rig skin indices {self.skin_indices.shape} and weights "
                             f"{self.skin_weights.shape} must both be [N, K].")
        if self.skin_indices.size and (self.skin_indices.min() < 0 or self.skin_indices.max() > 54):
            raise InputError("Rig skin indices must be SMPL-X joints 0..54.")
        if not np.all(np.isfinite(self.skin_weights)):
            raise InputError("Rig skin weights contain NaN or infinite values.")
        if self.rotation_locked is not None:
            self.rotation_locked = np.asarray(self.rotation_locked, bool).reshape(-1)

    def __len__(self) -> int:
        return int(self.skin_indices.shape[0])


@dataclass
class Avatar:
    """Canonical Gaussians with a rig."""

    gaussians: GaussianSet
    rig: Rig
    name: str = "avatar"

    def __post_init__(self) -> None:
        if len(self.rig) != len(self.gaussians):
            raise InputError(f"The avatar has {len(self.gaussians)} Gaussians but skinning data for {len(self.rig)}.")

    def transforms(self, body: "BodyModel", full_pose: np.ndarray) -> tuple["torch.Tensor", "torch.Tensor"]:
        """([T,55,3] posed joints, [T,55,4,4] skinning transforms) for [T,55,3] poses at this avatar's betas."""
        return body.joint_transforms(full_pose, self.rig.betas)

    def posed(self, body: "BodyModel", full_pose: np.ndarray, transl: np.ndarray | None = None) -> GaussianSet:
        """The avatar in one pose: full_pose [55,3] axis-angle, transl [3]."""
        return self.posed_batch(body, np.asarray(full_pose)[None],
                                None if transl is None else np.asarray(transl)[None])[0]

    def posed_batch(self, body: "BodyModel", full_pose: np.ndarray, transl: np.ndarray | None = None
                    ) -> list[GaussianSet]:
        """The avatar in T poses: full_pose [T,55,3], transl [T,3]."""
        import torch

        from .skinning import skinned_means_quats
        _, rel = self.transforms(body, full_pose)
        tr = None if transl is None else torch.as_tensor(np.asarray(transl, np.float32))
        means, quats = skinned_means_quats(self.gaussians, self.rig.skin_indices, self.rig.skin_weights, rel, tr,
                                           self.rig.rotation_locked)
        m, q = means.numpy(), quats.numpy()
        return [self.gaussians.replace(means=m[i], quats=q[i]) for i in range(m.shape[0])]
