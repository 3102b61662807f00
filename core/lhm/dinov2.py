"""The head encoder: DINOv2 ViT-/14 with registers plus LHM's DPT-style fusion head (SPECS §3.2).

Parameter names follow the official state dict: `encoder.model.*` (the ViT) and
`encoder.fusion_head.*` (four 1x1 projections and one 1x1 output conv).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import DinoSpec
from .preprocess import pad_square, resize_kornia


class PatchEmbed(nn.Module):
    """[B,3,H,W] -> [B,(H/p)*(W/p),C] by a strided conv (`patch_embed.proj`)."""

    def __init__(self, patch_size: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class ViTAttention(nn.Module):
    """Multi-head self-attention with a fused `qkv` projection."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B,L,C] -> [B,L,C]."""
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class LayerScale(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class ViTMlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class ViTBlock(nn.Module):
    """Pre-norm block with layer scale: x + ls1(attn(norm1 x)), then x + ls2(mlp(norm2 x))."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = ViTAttention(dim, num_heads)
        self.ls1 = LayerScale(dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = ViTMlp(dim, int(dim * mlp_ratio))
        self.ls2 = LayerScale(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class DinoViT(nn.Module):
    """DINOv2 ViT with registers; `intermediate(x)` returns normed patch tokens of chosen blocks."""

    def __init__(self, spec: DinoSpec) -> None:
        super().__init__()
        self.spec = spec
        grid = spec.img_size // spec.patch_size
        self.patch_embed = PatchEmbed(spec.patch_size, spec.embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, spec.embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid + 1, spec.embed_dim))
        self.register_tokens = nn.Parameter(torch.zeros(1, spec.num_registers, spec.embed_dim))
        self.blocks = nn.ModuleList([ViTBlock(spec.embed_dim, spec.num_heads, spec.mlp_ratio)
                                     for _ in range(spec.depth)])
        self.norm = nn.LayerNorm(spec.embed_dim, eps=1e-6)

    def interpolate_pos_encoding(self, num_patches: int, height: int, width: int) -> torch.Tensor:
        """[1,1+P,C] position embedding for an image of height x width pixels.

        As the reference (registers variant: antialias, offset 0): bicubic by `scale_factor`
        (grid_out / grid_trained), not by a target size.
        """
        n = self.pos_embed.shape[1] - 1
        if num_patches == n and height == width:
            return self.pos_embed
        pos = self.pos_embed.float()
        cls_pos, patch_pos = pos[:, :1], pos[:, 1:]
        side = int(n ** 0.5)
        sx = float(height // self.spec.patch_size) / side
        sy = float(width // self.spec.patch_size) / side
        grid = patch_pos.reshape(1, side, side, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, scale_factor=(sx, sy), mode="bicubic", antialias=True)
        patch_pos = grid.permute(0, 2, 3, 1).reshape(1, -1, pos.shape[-1])
        return torch.cat([cls_pos, patch_pos], dim=1).to(self.pos_embed.dtype)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """[B,3,H,W] -> [B,1+R+P,C]: class token, registers, patch tokens (pos-embedded)."""
        b, _, h, w = x.shape
        t = self.patch_embed(x)
        t = torch.cat([self.cls_token.expand(b, -1, -1), t], dim=1)
        t = t + self.interpolate_pos_encoding(t.shape[1] - 1, h, w).to(t.dtype)
        return torch.cat([t[:, :1], self.register_tokens.expand(b, -1, -1), t[:, 1:]], dim=1)

    def intermediate(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[B,3,H,W] -> list of [B,P,C] final-normed patch tokens after blocks `spec.layers`."""
        t = self.tokens(x)
        skip = 1 + self.spec.num_registers
        outs = []
        for i, blk in enumerate(self.blocks):
            t = blk(t)
            if i in self.spec.layers:
                outs.append(self.norm(t)[:, skip:])
        return outs


class FusionHead(nn.Module):
    """DPT-style fusion: per-layer 1x1 conv, concatenate, 1x1 conv to `out_dim`."""

    def __init__(self, in_dim: int, out_dim: int, num_layers: int = 4) -> None:
        super().__init__()
        self.projects = nn.ModuleList([nn.Conv2d(in_dim, in_dim, 1) for _ in range(num_layers)])
        self.output_conv = nn.Conv2d(in_dim * num_layers, out_dim, 1)

    def forward(self, feats: list[torch.Tensor], gh: int, gw: int) -> torch.Tensor:
        """feats: list of [B,P,C] with P = gh*gw -> [B,out_dim,gh,gw]."""
        maps = [proj(f.permute(0, 2, 1).reshape(f.shape[0], f.shape[-1], gh, gw))
                for proj, f in zip(self.projects, feats)]
        return self.output_conv(torch.cat(maps, dim=1))


class HeadEncoder(nn.Module):
    """`encoder`: head crop [B,3,h,w] in 0..1 -> [B,P,head_feat_dim] tokens (P=1024 at 448 px)."""

    def __init__(self, spec: DinoSpec, out_dim: int, resolution: int = 448) -> None:
        super().__init__()
        self.resolution = resolution
        self.model = DinoViT(spec)
        self.fusion_head = FusionHead(spec.embed_dim, out_dim, len(spec.layers))

    def preprocess(self, image: torch.Tensor) -> torch.Tensor:
        """Pad to square with 1.0 and bicubic-resize to `resolution` (no mean/std normalisation)."""
        return resize_kornia(pad_square(image, 1.0), (self.resolution, self.resolution))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.preprocess(image)
        p = self.model.spec.patch_size
        fused = self.fusion_head(self.model.intermediate(x), x.shape[-2] // p, x.shape[-1] // p)
        return fused.permute(0, 2, 3, 1).flatten(1, 2)
