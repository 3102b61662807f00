"""`LHMNetwork`: the LHM model minus its frozen body encoder, with the official parameter names.

Top-level modules (official names): `encoder` (DINOv2 + fusion head), `pcl_embed`, `transformer`,
`renderer` (`mlp_net`, `gs_net`) and `motion_embed_mlp`. The Sapiens body encoder is a separate
torchscript file (see `prior.py`), as in the official release.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .config import LHMConfig
from .dinov2 import HeadEncoder
from .embed import PointEmbed
from .heads import GaussianHeads
from .transformer import BodyHeadTransformer

# Keys the official release holds that we do not load: the SMPL-X buffers of
# `renderer.smplx_model` are rebuilt from the prior folder; the last three groups are only in raw
# training checkpoints (the release deletes them).
IGNORED_PREFIXES = ("renderer.smplx_model.", "fine_encoder.", "id_face_net.", "faceESRGAN.")
# Keys we own that a checkpoint may lack; they are rebuilt deterministically.
OPTIONAL_KEYS = ("pcl_embed.basis",)


class LHMNetwork(nn.Module):
    """Photo features + query points -> Gaussian attributes."""

    def __init__(self, config: LHMConfig) -> None:
        super().__init__()
        c = config
        self.config = c
        self.encoder = HeadEncoder(c.dino, c.head_feat_dim, c.head_resolution)
        self.pcl_embed = PointEmbed(c.pcl_dim)
        self.transformer = BodyHeadTransformer(c.transformer_layers, c.transformer_dim, c.transformer_heads,
                                               c.body_feat_dim, c.num_body_tokens)
        self.renderer = GaussianHeads(c.gs_query_dim, c.gs_mlp_neurons, c.gs_mlp_hidden_layers,
                                      offset_max_step=c.xyz_offset_max_step, clip_scaling=c.clip_scaling,
                                      upper_body_clip=c.upper_body_clip_scaling)
        mid = c.body_feat_dim // 2
        self.motion_embed_mlp = nn.Sequential(nn.Linear(c.body_feat_dim, mid), nn.SiLU(),
                                              nn.Linear(mid, c.pcl_dim * 2))
        self.upper_body: torch.Tensor | None = None  # [N] bool, set from the prior (not a weight)

    # ------------------------------------------------------------------ pieces
    def set_upper_body(self, mask: torch.Tensor | None) -> None:
        """Flag the query points whose scale is clamped to 0.02 (from the prior's SMPL-X skinning)."""
        self.upper_body = None if mask is None else torch.as_tensor(mask, dtype=torch.bool)

    def context(self, body_tokens: torch.Tensor, head_image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """body_tokens [B,4096,Cb], head_image [B,3,h,w] -> (context [B,4096+P,Cb], temb [B,2D])."""
        head = self.encoder(head_image).to(body_tokens.dtype)
        head = F.pad(head, (0, body_tokens.shape[-1] - head.shape[-1]))
        temb = self.motion_embed_mlp(body_tokens.mean(dim=1, keepdim=True)).squeeze(1)
        return torch.cat([body_tokens, head], dim=1), temb

    def point_features(self, body_tokens: torch.Tensor, head_image: torch.Tensor, query_points: torch.Tensor,
                       on_layer: Callable[[int, int], None] | None = None) -> torch.Tensor:
        """-> [B,N,D] transformer output (after the final norm)."""
        ctx, temb = self.context(body_tokens, head_image)
        return self.transformer(self.pcl_embed(query_points), ctx, temb, on_layer)

    # ------------------------------------------------------------------ public
    def forward_gaussians(self, body_tokens: torch.Tensor, head_image: torch.Tensor, query_points: torch.Tensor,
                          on_layer: Callable[[int, int], None] | None = None,
                          upper_body: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Gaussians for the query points.

        Args:
            body_tokens: [B,4096,1536] Sapiens features.
            head_image: [B,3,448,448] head crop in 0..1 (other sizes are padded/resized to 448).
            query_points: [B,N,3] points in the big pose (first 3/4 body, last 1/4 head).
            on_layer: called as on_layer(i, L) after each transformer layer.
            upper_body: [N] bool, points whose scale clamps to 0.02; defaults to `self.upper_body`.
        Returns:
            offset [B,N,3], scale [B,N,3], rotation [B,N,4] (wxyz), opacity [B,N,1], rgb [B,N,3].
        """
        ctx, temb = self.context(body_tokens, head_image)
        return self.gaussians_from_context(ctx, temb, query_points, on_layer, upper_body)

    def gaussians_from_context(self, ctx: torch.Tensor, temb: torch.Tensor, query_points: torch.Tensor,
                               on_layer: Callable[[int, int], None] | None = None,
                               upper_body: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The part after the encoders: ctx [B,T,Cb] and temb [B,2D] from `context` -> as `forward_gaussians`."""
        feats = self.transformer(self.pcl_embed(query_points), ctx, temb, on_layer)
        mask = upper_body if upper_body is not None else self.upper_body
        if mask is not None and mask.shape[0] != query_points.shape[1]:
            mask = None
        out = self.renderer(feats, mask)
        return {k: v.float() for k, v in out.items()}

    def forward(self, body_tokens: torch.Tensor, head_image: torch.Tensor, query_points: torch.Tensor
                ) -> dict[str, torch.Tensor]:
        return self.forward_gaussians(body_tokens, head_image, query_points)
