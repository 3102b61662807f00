"""`renderer.mlp_net` and `renderer.gs_net`: point features -> activated Gaussian attributes (SPECS §3.5)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GaussianMLP(nn.Module):
    """`mlp_net.layers`: Linear(D,n), SiLU, [Linear(n,n), SiLU] x (hidden-1), Linear(n,D)."""

    def __init__(self, dim: int, neurons: int, hidden_layers: int) -> None:
        super().__init__()
        mods: list[nn.Module] = [nn.Linear(dim, neurons), nn.SiLU()]
        for _ in range(hidden_layers - 1):
            mods += [nn.Linear(neurons, neurons), nn.SiLU()]
        mods.append(nn.Linear(neurons, dim))
        self.layers = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class GaussianLayer(nn.Module):
    """`gs_net.out_layers.{shs,scaling,xyz,opacity,rotation}`: one Linear per attribute."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.out_layers = nn.ModuleDict({"shs": nn.Linear(dim, 3), "scaling": nn.Linear(dim, 3),
                                         "xyz": nn.Linear(dim, 3), "opacity": nn.Linear(dim, 1),
                                         "rotation": nn.Linear(dim, 4)})


class GaussianHeads(nn.Module):
    """`renderer`: [B,N,D] point features -> dict of activated attributes."""

    def __init__(self, dim: int, neurons: int, hidden_layers: int, *, offset_max_step: float = 1.0,
                 clip_scaling: float = 0.05, upper_body_clip: float = 0.02) -> None:
        super().__init__()
        self.mlp_net = GaussianMLP(dim, neurons, hidden_layers)
        self.gs_net = GaussianLayer(dim)
        self.offset_max_step = offset_max_step
        self.clip_scaling = clip_scaling
        self.upper_body_clip = upper_body_clip

    def forward(self, feats: torch.Tensor, upper_body: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """feats [B,N,D], upper_body [N] bool or None ->
        offset [B,N,3], scale [B,N,3], rotation [B,N,4] (wxyz, unit), opacity [B,N,1], rgb [B,N,3]."""
        x = self.mlp_net(feats)
        out = self.gs_net.out_layers
        scale = torch.exp(out["scaling"](x).float()).clamp(min=0, max=self.clip_scaling)
        if upper_body is not None:
            scale = torch.where(upper_body.to(scale.device)[None, :, None],
                                scale.clamp(max=self.upper_body_clip), scale)
        return {"offset": (torch.sigmoid(out["xyz"](x)) - 0.5) * self.offset_max_step,
                "scale": scale,
                "rotation": F.normalize(out["rotation"](x), dim=-1),
                "opacity": torch.sigmoid(out["opacity"](x)),
                "rgb": torch.sigmoid(out["shs"](x))}
