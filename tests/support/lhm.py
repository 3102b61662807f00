"""A tiny LHM release for tests: a folder laid out like the official files (config, weights, prior folder with
the dense sample points, voxel mask, SMPL-X file and a Sapiens stand-in), and a simple photo."""
from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from avatar_studio.core.lhm import LHMConfig, LHMNetwork
from avatar_studio.core.lhm.config import SAPIENS_RELPATH

N_POINTS = 200
TINY = {"transformer_layers": 2, "transformer_dim": 32, "transformer_heads": 2, "fine_encoder_feat_dim": 24,
        "encoder_feat_dim": 16, "encoder_model_name": "dinov2_vits14_reg", "pcl_dim": 32, "gs_query_dim": 32,
        "gs_mlp_network_config": {"n_neurons": 16, "n_hidden_layers": 2, "activation": "silu"}, "gs_use_rgb": True,
        "gs_sh": 3, "gs_xyz_offset_max_step": 1.0, "gs_clip_scaling": [100, 0.01, 0.05, 3000],
        "dense_sample_pts": N_POINTS, "shape_param_dim": 10, "expr_param_dim": 100, "cano_pose_type": 1,
        "fine_encoder_model_name": "./pretrained_models/" + SAPIENS_RELPATH,
        "avatar_studio_source_image_res": 112,
        "avatar_studio_dino": {"embed_dim": 16, "depth": 4, "num_heads": 2, "layers": [0, 1, 2, 3], "img_size": 112}}


class TinySapiens(torch.nn.Module):
    """Stand-in for the Sapiens torchscript: [B,3,1024,1024] -> ([B,24,64,64],)."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = torch.nn.Conv2d(3, 24, kernel_size=16, stride=16)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        return (self.proj(x),)


def write_points_ply(path: Path, points: np.ndarray) -> None:
    from plyfile import PlyData, PlyElement
    el = np.empty(len(points), dtype=[("x", "f4"), ("y", "f4"), ("z", "f4")])
    el["x"], el["y"], el["z"] = points.T
    path.parent.mkdir(parents=True, exist_ok=True)
    PlyData([PlyElement.describe(el, "vertex")]).write(str(path))


def write_tiny_release(root: Path, smplx_npz: Path, seed: int = 0) -> tuple[Path, Path]:
    """model/ (config.json + model.safetensors) and pretrained_models/ laid out as the official files."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model_dir, prior = root / "LHM-tiny", root / "pretrained_models"
    model_dir.mkdir(parents=True)
    (model_dir / "config.json").write_text(json.dumps(TINY))
    net = LHMNetwork(LHMConfig.from_dict(TINY))
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    state["renderer.smplx_model.skinning_weight"] = torch.zeros(N_POINTS, 55)  # in the release, rebuilt by us
    save_file(state, str(model_dir / "model.safetensors"))
    with np.load(smplx_npz) as data:
        verts = data["v_template"]
    pick = rng.choice(len(verts), N_POINTS, replace=False)
    write_points_ply(prior / f"dense_sample_points/1_{N_POINTS}.ply", verts[pick] + rng.normal(size=(N_POINTS, 3)) * 0.01)
    (prior / "voxel_grid").mkdir(parents=True)
    np.savez(prior / "voxel_grid/human_prior_constrain.npz", masks=(rng.random(len(verts)) > 0.8).astype(np.float32))
    (prior / "human_model_files/smplx").mkdir(parents=True)
    shutil.copy(smplx_npz, prior / "human_model_files/smplx/SMPLX_NEUTRAL.npz")
    (prior / SAPIENS_RELPATH).parent.mkdir(parents=True)
    with warnings.catch_warnings():  # torchscript is deprecated, but it is what the official file is
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(TinySapiens()), str(prior / SAPIENS_RELPATH))
    return model_dir, prior


def photo(h: int = 240, w: int = 160) -> np.ndarray:
    """An RGBA photo of a simple 'person' (alpha = mask)."""
    img = np.full((h, w, 4), 255, np.uint8)
    yy, xx = np.mgrid[:h, :w]
    person = ((np.abs(xx - w / 2) < w * 0.18) & (yy > h * 0.1)) | ((xx - w / 2) ** 2 + (yy - h * 0.1) ** 2 < 300)
    img[..., :3] = np.stack([xx * 255 // w, yy * 255 // h, np.full_like(xx, 90)], -1).astype(np.uint8)
    img[..., 3] = np.where(person, 255, 0).astype(np.uint8)
    return img
