"""Work per reconstruction stage (floating-point operations), for progress weights and the ETA.

Counts multiply-adds as 2 operations, for the matrix products and attention only (the element-wise
work is a few percent). On a CPU the time of a stage follows its count closely: matrix products and
`scaled_dot_product_attention` both run at about the same rate per core (measured in
tests/bench/bench_lhm.py), so one calibrated rate predicts every stage.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator

import torch

from .config import LHMConfig

SAPIENS_1B_DEPTH = 40  # Sapiens-1B: 40 blocks, 1536 wide, MLP 4x, patch 16 at 1024 px (4096 tokens)


def vit_flops(tokens: int, dim: int, depth: int, mlp_ratio: float = 4.0) -> float:
    """A plain ViT: per block qkv + proj (4 D^2) and MLP (2 r D^2) per token, plus attention 4 L^2 D."""
    per_block = 2.0 * tokens * (4 + 2 * mlp_ratio) * dim * dim + 4.0 * tokens * tokens * dim
    return per_block * depth


def dit_flops(points: int, context: int, dim: int, last: bool) -> float:
    """One MM-DiT joint block: projections and feed-forwards of both streams, joint attention.

    In the last ("context_pre_only") block the context only gives keys and values.
    """
    linear = 2.0 * dim * dim * (12 * points + (3 if last else 12) * context)
    queries = points if last else points + context
    return linear + 4.0 * queries * (points + context) * dim


def stage_flops(config: LHMConfig, sapiens_depth: int = SAPIENS_1B_DEPTH) -> dict[str, float]:
    """Operations of 'body encoder' (Sapiens), 'head encoder' (DINOv2 + fusion), 'transformer' (+ heads)."""
    c, d = config, config.dino
    head_tokens = c.num_head_tokens + 1 + d.num_registers
    head = vit_flops(head_tokens, d.embed_dim, d.depth, d.mlp_ratio)
    head += 2.0 * c.num_head_tokens * d.embed_dim * (d.embed_dim * len(d.layers) + c.head_feat_dim * len(d.layers))
    n_body = int(c.num_points * 0.75)
    n_head = c.num_points - n_body
    body_ctx = c.num_body_tokens
    transformer = 2.0 * (body_ctx + c.num_head_tokens) * c.body_feat_dim * c.transformer_dim
    for i in range(c.transformer_layers):
        last = i == c.transformer_layers - 1
        transformer += dit_flops(n_head, c.num_head_tokens, c.transformer_dim, last)
        transformer += dit_flops(c.num_points, body_ctx, c.transformer_dim, last)
    q, n = c.gs_query_dim, c.gs_mlp_neurons
    transformer += 2.0 * c.num_points * (q * n * 2 + n * n * (c.gs_mlp_hidden_layers - 1))
    body = vit_flops(c.num_body_tokens, c.body_feat_dim, sapiens_depth)
    return {"body encoder": body, "head encoder": head, "transformer": transformer}


def probe_rate(seconds: float = 0.05) -> float:
    """Operations per second of a fp32 matrix product on this device's CPU threads (a rough start value)."""
    a, b = torch.randn(256, 512), torch.randn(512, 512)
    torch.mm(a, b)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        torch.mm(a, b)
        n += 1
    return 2.0 * 256 * 512 * 512 * n / max(time.perf_counter() - t0, 1e-9)


def format_eta(seconds: float) -> str:
    """'about 40 s left', 'about 2 min 10 s left' (rounded so the text does not flicker)."""
    if seconds < 60:
        return f"about {max(5, int(round(seconds / 5.0)) * 5)} s left"
    minutes, rest = divmod(int(round(seconds / 10.0)) * 10, 60)
    return f"about {minutes} min {rest} s left" if rest else f"about {minutes} min left"


class StageClock:
    """ETA of the compute stages from their operation counts and the rate measured so far.

    `start(stage)` / `done(stage)` bracket each compute stage; `eta(stage, fraction)` is the time left
    for the rest of `stage` (fraction done) and every later stage.
    """

    def __init__(self, flops: dict[str, float], start_rate: float) -> None:
        self.flops = dict(flops)
        self.order = list(flops)
        self.rate = max(start_rate, 1.0)
        self._done_flops = 0.0
        self._done_seconds = 0.0
        self._t0: float | None = None

    @contextmanager
    def timing(self, stage: str) -> Iterator[None]:
        """with clock.timing(stage): ... -- start and done around a compute stage."""
        self.start(stage)
        yield
        self.done(stage)

    def start(self, stage: str) -> None:
        self._t0 = time.perf_counter()

    def done(self, stage: str) -> None:
        if self._t0 is None:
            return
        self._done_seconds += time.perf_counter() - self._t0
        self._done_flops += self.flops[stage]
        self._t0 = None
        if self._done_seconds > 0.05:  # too short a stage says little about the rate
            self.rate = self._done_flops / self._done_seconds

    def eta(self, stage: str, fraction: float = 0.0) -> float:
        """Seconds left: the rest of `stage` and all later stages, at the rate measured so far (this stage's
        progress included once it has run a while)."""
        fraction = min(max(fraction, 0.0), 1.0)
        rate = self.rate
        if self._t0 is not None and fraction > 0:
            elapsed = time.perf_counter() - self._t0
            if elapsed > 0.05:
                rate = (self._done_flops + self.flops[stage] * fraction) / (self._done_seconds + elapsed)
        i = self.order.index(stage)
        left = self.flops[stage] * (1.0 - fraction) + sum(self.flops[s] for s in self.order[i + 1:])
        return left / rate
