"""`pcl_embed`: Fourier features of the query points -> Linear -> LayerNorm (SPECS §3.3)."""
from __future__ import annotations

import math

import torch
from torch import nn


def fourier_basis(num_freqs: int = 8) -> torch.Tensor:
    """[3, 3*num_freqs] block-diagonal basis with frequencies 2^k * pi per axis (x block, y, z)."""
    e = torch.pow(2, torch.arange(num_freqs)).float() * math.pi
    basis = torch.zeros(3, 3 * num_freqs)
    for axis in range(3):
        basis[axis, axis * num_freqs:(axis + 1) * num_freqs] = e
    return basis


class PointEmbed(nn.Module):
    """[B,N,3] points -> [B,N,dim]: LayerNorm(Linear([sin(p B), cos(p B), p]))."""

    def __init__(self, dim: int, num_freqs: int = 8) -> None:
        super().__init__()
        self.register_buffer("basis", fourier_basis(num_freqs))
        self.mlp = nn.Linear(6 * num_freqs + 3, dim)
        self.norm = nn.LayerNorm(dim)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        """Always in fp32 (frequencies up to 128 pi lose their phase in bf16)."""
        with torch.autocast(device_type=points.device.type, enabled=False):
            p = points.float()
            proj = torch.einsum("bnd,de->bne", p, self.basis.float())
            feats = torch.cat([proj.sin(), proj.cos(), p], dim=2)
            return self.norm(self.mlp(feats))
