"""`LHMConfig`: the architecture of one LHM checkpoint, read from its `config.json` or a preset.

The official `config.json` is the `model:` section of LHM's training YAML (SPECS §3.1). We read the
keys that shape the network and ignore the training-only ones. Keys named `avatar_studio_*` are our
own extension, used only by tests to build tiny networks; official files never contain them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import ModelFileError

SAPIENS_RELPATH = "sapiens/pretrained/checkpoints/sapiens_1b/sapiens_1b_epoch_173_torchscript.pt2"


@dataclass(frozen=True)
class DinoSpec:
    """One DINOv2 ViT-/14 with 4 registers (the `*_reg` hub variants)."""

    embed_dim: int
    depth: int
    num_heads: int
    layers: tuple[int, ...]
    img_size: int = 518
    patch_size: int = 14
    num_registers: int = 4
    mlp_ratio: float = 4.0


# The layers are those of Dinov2FusionWrapper.intermediate_layer_idx_info.
DINO_VARIANTS: dict[str, DinoSpec] = {
    "dinov2_vits14_reg": DinoSpec(384, 12, 6, (2, 5, 8, 11)),
    "dinov2_vitb14_reg": DinoSpec(768, 12, 12, (2, 5, 8, 11)),
    "dinov2_vitl14_reg": DinoSpec(1024, 24, 16, (4, 11, 17, 23)),
}
_DINO_ALIASES = {"s": "dinov2_vits14_reg", "b": "dinov2_vitb14_reg", "l": "dinov2_vitl14_reg",
                 "vits14_reg": "dinov2_vits14_reg", "vitb14_reg": "dinov2_vitb14_reg",
                 "vitl14_reg": "dinov2_vitl14_reg", "vit-s": "dinov2_vits14_reg",
                 "vit-b": "dinov2_vitb14_reg", "vit-l": "dinov2_vitl14_reg"}


def dino_variant(name: str) -> tuple[str, DinoSpec]:
    """Resolve a DINOv2 name ("dinov2_vitl14_reg", "L", "vit-b", ...) to (canonical name, spec)."""
    key = name.strip().lower()
    key = _DINO_ALIASES.get(key, key)
    if key not in DINO_VARIANTS:
        raise ModelFileError(f"Unsupported DINOv2 head encoder '{name}'. LHM checkpoints use one of "
                             f"{', '.join(DINO_VARIANTS)} (ViT-S/B/L with registers).")
    return key, DINO_VARIANTS[key]


@dataclass(frozen=True)
class LHMConfig:
    """Everything that fixes the network's parameter shapes plus the inference constants.

    Attributes (official key in brackets):
        transformer_layers/dim/heads [transformer_*]: body-head MM-DiT size.
        body_feat_dim [fine_encoder_feat_dim]: Sapiens channels (1536).
        head_feat_dim [encoder_feat_dim]: fused DINOv2 channels (1024).
        pcl_dim [pcl_dim], gs_query_dim [gs_query_dim]: point-embedding and Gaussian-head widths.
        gs_mlp_neurons/gs_mlp_hidden_layers [gs_mlp_network_config]: `renderer.mlp_net` size.
        num_points [dense_sample_pts]: query points (20000 for MINI, 40000 otherwise).
        source_image_res: short side the body photo is resized to (512 MINI, 1024 otherwise).
        clip_scaling: final value of [gs_clip_scaling] (its schedule's end value at inference).
    """

    name: str = "custom"
    transformer_layers: int = 5
    transformer_dim: int = 1024
    transformer_heads: int = 16
    body_feat_dim: int = 1536
    head_feat_dim: int = 1024
    encoder_name: str = "dinov2_vitl14_reg"
    dino: DinoSpec = field(default_factory=lambda: DINO_VARIANTS["dinov2_vitl14_reg"])
    pcl_dim: int = 1024
    gs_query_dim: int = 1024
    gs_mlp_neurons: int = 512
    gs_mlp_hidden_layers: int = 2
    gs_use_rgb: bool = True
    gs_sh_degree: int = 3
    xyz_offset_max_step: float = 1.0
    clip_scaling: float = 0.05
    upper_body_clip_scaling: float = 0.02
    num_points: int = 40000
    source_image_res: int = 1024
    head_resolution: int = 448
    sapiens_resolution: int = 1024
    num_body_tokens: int = 4096
    shape_param_dim: int = 10
    cano_pose_type: int = 1
    sapiens_relpath: str = SAPIENS_RELPATH

    def __post_init__(self) -> None:
        checks = [
            (self.transformer_dim % self.transformer_heads == 0, "transformer_dim must divide by transformer_heads"),
            (self.pcl_dim == self.transformer_dim, "pcl_dim must equal transformer_dim (the motion embedding "
                                                   "feeds the AdaLN of both streams)"),
            (self.gs_query_dim == self.transformer_dim, "gs_query_dim must equal transformer_dim"),
            (self.head_feat_dim <= self.body_feat_dim, "encoder_feat_dim must not exceed fine_encoder_feat_dim"),
            (self.gs_use_rgb, "only gs_use_rgb=True checkpoints exist and are supported"),
            (self.gs_mlp_hidden_layers >= 1, "gs_mlp_network_config.n_hidden_layers must be >= 1"),
            (self.cano_pose_type == 1, "only cano_pose_type 1 (the REC-MV 'big pose') is supported"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ModelFileError(f"LHM config '{self.name}': {msg}.")

    # ------------------------------------------------------------------ derived sizes
    @property
    def image_hw(self) -> tuple[int, int]:
        """(H, W) of the body photo fed to the model: 5:3, multiples of 14 (SPECS §3.1)."""
        h = int(self.source_image_res * 5.0 / 3 / 14) * 14
        w = int(self.source_image_res / 14) * 14
        return h, w

    @property
    def num_head_tokens(self) -> int:
        return (self.head_resolution // self.dino.patch_size) ** 2

    # ------------------------------------------------------------------ constructors
    @classmethod
    def preset(cls, name: str) -> "LHMConfig":
        """One of MINI, 500M, 500M-HF, 1B, 1B-HF (an "LHM-" prefix is accepted)."""
        key = name.strip().upper()
        key = key[4:] if key.startswith("LHM-") else key
        layers = {"MINI": 2, "500M": 5, "500M-HF": 5, "1B": 15, "1B-HF": 15}
        if key not in layers:
            raise ModelFileError(f"Unknown LHM model '{name}'. Known models: {', '.join(PRESET_NAMES)}.")
        mini = key == "MINI"
        return cls(name=f"LHM-{key}", transformer_layers=layers[key], num_points=20000 if mini else 40000,
                   source_image_res=512 if mini else 1024)

    @classmethod
    def from_dict(cls, data: dict[str, Any], name: str = "custom") -> "LHMConfig":
        """Build from an official `config.json` dict (possibly nested under "config")."""
        if isinstance(data.get("config"), dict):
            data = data["config"]
        try:
            return cls(**_fields_from_official(data, name))
        except (TypeError, ValueError) as err:
            raise ModelFileError(f"The LHM config '{name}' has a malformed value ({err}).") from err

    @classmethod
    def from_json(cls, path: str | Path) -> "LHMConfig":
        """Read an official LHM `config.json`."""
        path = Path(path)
        if not path.is_file():
            raise ModelFileError(f"LHM config not found: {path}. The checkpoint folder must hold config.json "
                                 "next to model.safetensors.")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise ModelFileError(f"{path} is not a readable JSON file ({err}).") from err
        if not isinstance(data, dict):
            raise ModelFileError(f"{path} does not hold an LHM model config.")
        folder = path.parent
        name = folder.parent.name if folder.name.startswith("step_") else folder.name
        return cls.from_dict(data, name=name)

    def with_(self, **changes: Any) -> "LHMConfig":
        """A copy with some fields changed."""
        return replace(self, **changes)


PRESET_NAMES = ("MINI", "500M", "500M-HF", "1B", "1B-HF")


def _clip_end(value: Any) -> float:
    """gs_clip_scaling is a number or a [start, start_value, end_value, end] schedule; inference uses the end."""
    if isinstance(value, (list, tuple)):
        if len(value) != 4:
            raise ValueError("gs_clip_scaling schedule must have 4 entries")
        return float(value[2])
    return float(value)


def _fields_from_official(d: dict[str, Any], name: str) -> dict[str, Any]:
    """Map official config keys (and our avatar_studio_* test extensions) onto LHMConfig fields."""
    out: dict[str, Any] = {"name": name}
    simple = {"transformer_layers": "transformer_layers", "transformer_dim": "transformer_dim",
              "transformer_heads": "transformer_heads", "fine_encoder_feat_dim": "body_feat_dim",
              "encoder_feat_dim": "head_feat_dim", "pcl_dim": "pcl_dim", "gs_query_dim": "gs_query_dim",
              "gs_use_rgb": "gs_use_rgb", "gs_sh": "gs_sh_degree", "dense_sample_pts": "num_points",
              "shape_param_dim": "shape_param_dim", "cano_pose_type": "cano_pose_type",
              "gs_xyz_offset_max_step": "xyz_offset_max_step"}
    for key, fld in simple.items():
        if key in d:
            out[fld] = d[key]
    for fld in ("transformer_layers", "transformer_dim", "transformer_heads", "body_feat_dim", "head_feat_dim",
                "pcl_dim", "gs_query_dim", "gs_sh_degree", "num_points", "shape_param_dim", "cano_pose_type"):
        if fld in out:
            out[fld] = int(out[fld])
    if "gs_clip_scaling" in d:
        out["clip_scaling"] = _clip_end(d["gs_clip_scaling"])
    mlp = d.get("gs_mlp_network_config") or {}
    if "n_neurons" in mlp:
        out["gs_mlp_neurons"] = int(mlp["n_neurons"])
    if "n_hidden_layers" in mlp:
        out["gs_mlp_hidden_layers"] = int(mlp["n_hidden_layers"])
    if str(mlp.get("activation", "silu")).lower() != "silu":
        raise ValueError("only SiLU Gaussian-head MLPs are supported")
    enc_name, spec = dino_variant(str(d.get("encoder_model_name", "dinov2_vitl14_reg")))
    out["encoder_name"] = enc_name
    custom = d.get("avatar_studio_dino")
    if isinstance(custom, dict):  # tiny test encoders only
        spec = DinoSpec(int(custom["embed_dim"]), int(custom["depth"]), int(custom["num_heads"]),
                        tuple(int(i) for i in custom["layers"]), int(custom.get("img_size", 518)))
    out["dino"] = spec
    fine = str(d.get("fine_encoder_model_name", ""))
    if "pretrained_models/" in fine:
        out["sapiens_relpath"] = fine.split("pretrained_models/", 1)[1]
    res = d.get("avatar_studio_source_image_res")
    out["source_image_res"] = int(res) if res else (512 if int(out.get("num_points", 40000)) == 20000 else 1024)
    return out
