"""`transformer`: the body-head MM-DiT of LHM (SPECS §3.4), with diffusers-0.32 parameter names.

Each layer holds a `head_dit` and a `body_dit`, both SD3-style joint blocks. The last layer is
"context_pre_only": its context stream gets an AdaLN-Continuous norm and no output/feed-forward.
Quirk kept for parity: in other layers the context stream adds its feed-forward output twice,
once gated and once ungated.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn


FF_CHUNK = 4096  # tokens per feed-forward chunk at inference


def _layer_norm(dim: int) -> nn.LayerNorm:
    return nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)


class RMSNorm(nn.Module):
    """diffusers RMSNorm with a weight: x * rsqrt(mean(x^2) + eps) * weight (stats in fp32)."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        var = x.to(torch.float32).pow(2).mean(-1, keepdim=True)
        x = x * torch.rsqrt(var + self.eps)
        if self.weight.dtype in (torch.float16, torch.bfloat16):
            x = x.to(self.weight.dtype)
        return x * self.weight


class AdaLayerNormZero(nn.Module):
    """emb -> (shift, scale, gate)_msa, (shift, scale, gate)_mlp; returns modulated x and the rest."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.silu = nn.SiLU()
        self.linear = nn.Linear(dim, 6 * dim)
        self.norm = _layer_norm(dim)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """x [B,L,D], emb [B,D] -> (x_mod [B,L,D], gate_msa, shift_mlp, scale_mlp, gate_mlp each [B,D])."""
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.linear(self.silu(emb)).chunk(6, dim=1)
        x = self.norm(x) * (1 + scale_msa[:, None]) + shift_msa[:, None]
        return x, gate_msa, shift_mlp, scale_mlp, gate_mlp


class AdaLayerNormContinuous(nn.Module):
    """emb -> (scale, shift); x -> norm(x) * (1 + scale) + shift."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.silu = nn.SiLU()
        self.linear = nn.Linear(dim, 2 * dim)
        self.norm = _layer_norm(dim)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        scale, shift = self.linear(self.silu(emb).to(x.dtype)).chunk(2, dim=1)
        return self.norm(x) * (1 + scale)[:, None, :] + shift[:, None, :]


class GELUProj(nn.Module):
    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.proj(x), approximate="tanh")


class FeedForward(nn.Module):
    """`ff.net.0.proj` (D->4D, tanh-GELU), `ff.net.1` dropout (no-op), `ff.net.2` (4D->D)."""

    def __init__(self, dim: int, mult: int = 4) -> None:
        super().__init__()
        self.net = nn.ModuleList([GELUProj(dim, dim * mult), nn.Dropout(0.0), nn.Linear(dim * mult, dim)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B,L,D] -> [B,L,D]; without grad, in chunks of FF_CHUNK tokens (rows are independent, so the numbers
        match up to float rounding, and the 4D-wide hidden activation stays small: 40k tokens x 4096 fp32
        would be 650 MB twice over)."""
        if torch.is_grad_enabled() or x.shape[1] <= FF_CHUNK:
            return self._run(x)
        return torch.cat([self._run(c) for c in x.split(FF_CHUNK, dim=1)], dim=1)

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        for m in self.net:
            x = m(x)
        return x


class JointAttention(nn.Module):
    """SD3 joint attention: sample and context tokens attend together; per-head RMSNorm on q/k."""

    def __init__(self, dim: int, heads: int, context_pre_only: bool) -> None:
        super().__init__()
        head_dim = dim // heads
        self.heads = heads
        self.context_pre_only = context_pre_only
        self.norm_q, self.norm_k = RMSNorm(head_dim), RMSNorm(head_dim)
        self.to_q, self.to_k, self.to_v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.add_k_proj, self.add_v_proj = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.add_q_proj = nn.Linear(dim, dim)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim), nn.Dropout(0.0)])
        self.to_add_out = None if context_pre_only else nn.Linear(dim, dim)
        self.norm_added_q, self.norm_added_k = RMSNorm(head_dim), RMSNorm(head_dim)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """[B,L,D] -> [B,H,L,D/H]."""
        return x.view(x.shape[0], -1, self.heads, x.shape[-1] // self.heads).transpose(1, 2)

    def forward(self, x: torch.Tensor, ctx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x [B,N,D], ctx [B,M,D] -> (x_out [B,N,D], ctx_out [B,M,D] or None when context_pre_only).

        When context_pre_only the context's own attention output is thrown away, so only the point
        tokens are used as queries (the same numbers for the points, N/(N+M) of the attention work).
        """
        k = torch.cat([self.norm_k(self._heads(self.to_k(x))), self.norm_added_k(self._heads(self.add_k_proj(ctx)))], 2)
        v = torch.cat([self._heads(self.to_v(x)), self._heads(self.add_v_proj(ctx))], 2)
        q = self.norm_q(self._heads(self.to_q(x)))
        if not self.context_pre_only:
            q = torch.cat([q, self.norm_added_q(self._heads(self.add_q_proj(ctx)))], 2)
        out = F.scaled_dot_product_attention(q, k, v)
        del k, v
        out = out.transpose(1, 2).reshape(x.shape[0], -1, self.heads * q.shape[-1]).to(q.dtype)
        x_out, ctx_out = out[:, :x.shape[1]], out[:, x.shape[1]:]
        x_out = self.to_out[1](self.to_out[0](x_out))
        return x_out, (None if self.to_add_out is None else self.to_add_out(ctx_out))


class MMDiTBlock(nn.Module):
    """One SD3 MM-DiT joint block conditioned on `temb` (LHM's SD3MMJointTransformerBlock)."""

    def __init__(self, dim: int, heads: int, context_pre_only: bool) -> None:
        super().__init__()
        self.context_pre_only = context_pre_only
        self.norm1 = AdaLayerNormZero(dim)
        self.norm1_context = AdaLayerNormContinuous(dim) if context_pre_only else AdaLayerNormZero(dim)
        self.attn = JointAttention(dim, heads, context_pre_only)
        self.norm2 = _layer_norm(dim)
        self.ff = FeedForward(dim)
        if not context_pre_only:
            self.norm2_context = _layer_norm(dim)
            self.ff_context = FeedForward(dim)

    def forward(self, x: torch.Tensor, ctx: torch.Tensor, temb: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x [B,N,D], ctx [B,M,D], temb [B,D] -> (x [B,N,D], ctx [B,M,D] or None)."""
        nx, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.norm1(x, temb)
        if self.context_pre_only:
            nctx = self.norm1_context(ctx, temb)
        else:
            nctx, c_gate_msa, c_shift_mlp, c_scale_mlp, c_gate_mlp = self.norm1_context(ctx, temb)
        attn, ctx_attn = self.attn(nx, nctx)
        x = x + gate_msa[:, None] * attn
        h = self.norm2(x) * (1 + scale_mlp[:, None]) + shift_mlp[:, None]
        x = x + gate_mlp[:, None] * self.ff(h)
        if self.context_pre_only:
            return x, None
        ctx = ctx + c_gate_msa[:, None] * ctx_attn
        h = self.norm2_context(ctx) * (1 + c_scale_mlp[:, None]) + c_shift_mlp[:, None]
        ff = self.ff_context(h)
        ctx = ctx + c_gate_mlp[:, None] * ff
        return x, ctx + ff  # the reference adds the context feed-forward a second time, ungated


class BodyHeadBlock(nn.Module):
    """`layers.{i}`: head_dit on the head points/context first, then body_dit on all points."""

    def __init__(self, dim: int, heads: int, context_pre_only: bool, num_body_tokens: int) -> None:
        super().__init__()
        self.num_body_tokens = num_body_tokens
        self.head_dit = MMDiTBlock(dim, heads, context_pre_only)
        self.body_dit = MMDiTBlock(dim, heads, context_pre_only)

    def forward(self, x: torch.Tensor, ctx: torch.Tensor, temb: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x [B,N,D] (first 3/4 body), ctx [B,T,D] (first num_body_tokens body), temb [B,2D] (body|head)."""
        n_body = int(x.shape[1] * 0.75)
        half = temb.shape[1] // 2
        body_temb, head_temb = temb[:, :half], temb[:, half:]
        body_ctx, head_ctx = ctx[:, :self.num_body_tokens], ctx[:, self.num_body_tokens:]
        head_x, head_ctx = self.head_dit(x[:, n_body:], head_ctx, head_temb)
        x = torch.cat([x[:, :n_body], head_x], dim=1)
        x, body_ctx = self.body_dit(x, body_ctx, body_temb)
        if body_ctx is None:
            return x, None
        return x, torch.cat([body_ctx, head_ctx], dim=1)


class BodyHeadTransformer(nn.Module):
    """`transformer`: cond projection, L body-head layers, final LayerNorm (eps 1e-6)."""

    def __init__(self, num_layers: int, dim: int, heads: int, cond_dim: int, num_body_tokens: int = 4096) -> None:
        super().__init__()
        self.layers = nn.ModuleList([BodyHeadBlock(dim, heads, i == num_layers - 1, num_body_tokens)
                                     for i in range(num_layers)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.linear_cond_proj = nn.Linear(cond_dim, dim)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, temb: torch.Tensor,
                on_layer: Callable[[int, int], None] | None = None) -> torch.Tensor:
        """x [B,N,D] point tokens, cond [B,T,cond_dim] context, temb [B,2D] -> [B,N,D].

        `on_layer(i, L)` is called after each layer (progress and cancellation).
        """
        ctx: torch.Tensor | None = self.linear_cond_proj(cond)
        for i, layer in enumerate(self.layers):
            x, ctx = layer(x, ctx, temb)
            if on_layer is not None:
                on_layer(i + 1, len(self.layers))
        return self.norm(x)
