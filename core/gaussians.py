"""`GaussianSet`: one container for a set of 3D Gaussians, plus SH and quaternion helpers.

Storage is numpy float32 (the GUI, the exporters and the GL renderer all want host arrays);
`to_torch` / `from_torch` move it to and from torch for skinning and CUDA rendering.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import InputError
from .rotations import normalize_quats, quat_multiply, rotmat_to_quat

if TYPE_CHECKING:  # torch is heavy; import it only where used
    import torch

SH_C0 = 0.28209479177387814


def sh_coeff_count(degree: int) -> int:
    """Number of SH coefficients per colour channel for a degree 0..3."""
    return (degree + 1) ** 2


def sh_degree_from_count(count: int) -> int:
    """Inverse of `sh_coeff_count`; raises InputError for counts that are not (d+1)^2, d<=3."""
    for d in range(4):
        if sh_coeff_count(d) == count:
            return d
    raise InputError(f"{count} SH coefficients per channel is not a valid count (1, 4, 9 or 16).")


def rgb_to_sh0(rgb: np.ndarray) -> np.ndarray:
    """[...,3] RGB in 0..1 -> [...,3] SH band-0 coefficients."""
    return (np.asarray(rgb, np.float32) - 0.5) / SH_C0


def sh0_to_rgb(sh0: np.ndarray) -> np.ndarray:
    """[...,3] SH band-0 coefficients -> [...,3] RGB (not clipped)."""
    return np.asarray(sh0, np.float32) * SH_C0 + 0.5


@dataclass
class GaussianSet:
    """A set of N 3D Gaussians.

    Attributes:
        means: [N,3] centres, metres.
        quats: [N,4] unit quaternions, w,x,y,z.
        scales: [N,3] standard deviations along the local axes (linear, not log).
        opacities: [N] in 0..1 (activated, not logits).
        sh: [N,K,3] spherical-harmonic colour coefficients, K = (degree+1)^2; sh[:,0] is band 0.
    """

    means: np.ndarray
    quats: np.ndarray
    scales: np.ndarray
    opacities: np.ndarray
    sh: np.ndarray

    def __post_init__(self) -> None:
        self.means = np.ascontiguousarray(self.means, np.float32)
        self.quats = np.ascontiguousarray(self.quats, np.float32)
        self.scales = np.ascontiguousarray(self.scales, np.float32)
        self.opacities = np.ascontiguousarray(np.reshape(self.opacities, -1), np.float32)
        sh = np.asarray(self.sh, np.float32)
        if sh.ndim == 2 and sh.shape[-1] == 3:
            sh = sh[:, None, :]
        self.sh = np.ascontiguousarray(sh)
        self.validate()

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return int(self.means.shape[0])

    @property
    def sh_degree(self) -> int:
        return sh_degree_from_count(self.sh.shape[1])

    @property
    def colors(self) -> np.ndarray:
        """[N,3] base RGB (band 0 only), clipped to 0..1."""
        return np.clip(sh0_to_rgb(self.sh[:, 0]), 0.0, 1.0)

    def validate(self) -> None:
        """Raise InputError on wrong shapes or non-finite values."""
        n = self.means.shape[0] if self.means.ndim == 2 else -1
        checks = {
            "means": (self.means, (n, 3)), "quats": (self.quats, (n, 4)),
            "scales": (self.scales, (n, 3)), "opacities": (self.opacities, (n,)),
        }
        for name, (arr, shape) in checks.items():
            if arr.shape != shape:
                raise InputError(f"Gaussian {name} has shape {arr.shape}, expected {shape}.")
        if self.sh.ndim != 3 or self.sh.shape[0] != n or self.sh.shape[2] != 3:
            raise InputError(f"Gaussian colours have shape {self.sh.shape}, expected ({n}, K, 3).")
        sh_degree_from_count(self.sh.shape[1])
        for name in ("means", "quats", "scales", "opacities", "sh"):
            if not np.all(np.isfinite(getattr(self, name))):
                raise InputError(f"Gaussian {name} contain NaN or infinite values.")

    @classmethod
    def empty(cls, sh_degree: int = 0) -> "GaussianSet":
        k = sh_coeff_count(sh_degree)
        return cls(np.zeros((0, 3)), np.zeros((0, 4)), np.zeros((0, 3)), np.zeros(0), np.zeros((0, k, 3)))

    @classmethod
    def from_rgb(cls, means: np.ndarray, quats: np.ndarray, scales: np.ndarray,
                 opacities: np.ndarray, rgb: np.ndarray) -> "GaussianSet":
        """Build a degree-0 set from plain RGB colours [N,3] in 0..1."""
        return cls(means, quats, scales, opacities, rgb_to_sh0(rgb)[:, None, :])

    def copy(self) -> "GaussianSet":
        return GaussianSet(self.means.copy(), self.quats.copy(), self.scales.copy(),
                           self.opacities.copy(), self.sh.copy())

    def replace(self, **changes: Any) -> "GaussianSet":
        """A new set with some fields replaced (others shared, not copied)."""
        return replace(self, **changes)

    def subset(self, index: np.ndarray) -> "GaussianSet":
        """Select Gaussians by boolean mask or integer index."""
        return GaussianSet(self.means[index], self.quats[index], self.scales[index],
                           self.opacities[index], self.sh[index])

    def with_sh_degree(self, degree: int) -> "GaussianSet":
        """Truncate or zero-pad the SH bands to `degree`."""
        k = sh_coeff_count(degree)
        cur = self.sh.shape[1]
        if k <= cur:
            sh = self.sh[:, :k]
        else:
            sh = np.concatenate([self.sh, np.zeros((len(self), k - cur, 3), np.float32)], axis=1)
        return self.replace(sh=np.ascontiguousarray(sh))

    @staticmethod
    def concat(sets: "list[GaussianSet]") -> "GaussianSet":
        """Concatenate sets; SH is padded to the highest degree present."""
        if not sets:
            return GaussianSet.empty()
        deg = max(s.sh_degree for s in sets)
        sets = [s.with_sh_degree(deg) for s in sets]
        return GaussianSet(*(np.concatenate([getattr(s, f) for s in sets]) for f in
                             ("means", "quats", "scales", "opacities", "sh")))

    def transformed(self, rotation: np.ndarray, translation: np.ndarray, scale: float = 1.0) -> "GaussianSet":
        """Apply x -> scale * R x + t to every Gaussian (SH is not rotated: exact for degree 0)."""
        r = np.asarray(rotation, np.float32).reshape(3, 3)
        means = scale * self.means @ r.T + np.asarray(translation, np.float32)
        quats = quat_multiply(rotmat_to_quat(r)[None], self.quats)
        return self.replace(means=means, quats=normalize_quats(quats), scales=self.scales * scale)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """([3] min, [3] max) of the centres; zeros for an empty set."""
        if len(self) == 0:
            return np.zeros(3, np.float32), np.zeros(3, np.float32)
        return self.means.min(0), self.means.max(0)

    # ------------------------------------------------------------------ torch
    def to_torch(self, device: "str | torch.device" = "cpu") -> dict[str, "torch.Tensor"]:
        """Dict of float32 tensors with the same field names and shapes."""
        import torch
        return {f: torch.from_numpy(getattr(self, f)).to(device) for f in
                ("means", "quats", "scales", "opacities", "sh")}

    @classmethod
    def from_torch(cls, tensors: dict[str, "torch.Tensor"]) -> "GaussianSet":
        """Inverse of `to_torch` (detaches, moves to host)."""
        return cls(**{f: tensors[f].detach().float().cpu().numpy() for f in
                      ("means", "quats", "scales", "opacities", "sh")})
