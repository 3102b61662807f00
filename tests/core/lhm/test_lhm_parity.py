"""Golden parity with the reference LHM code (fixtures made outside the repo; see fixtures/lhm/README.md)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from avatar_studio.core.lhm import LHMConfig, LHMNetwork
from avatar_studio.core.lhm.checkpoint import filter_state_dict, load_network
from avatar_studio.core.lhm.preprocess import sapiens_input

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "lhm"
TOL = 1e-4


@pytest.fixture(scope="module")
def tiny():
    cfg = LHMConfig.from_json(FIX / "tiny_config.json")
    net = LHMNetwork(cfg).eval()
    state = load_file(str(FIX / "tiny_state_dict.safetensors"))
    kept = filter_state_dict(state, {k: v.shape for k, v in net.state_dict().items()})
    assert set(state) - set(kept) == {k for k in state if k.startswith("renderer.smplx_model.")}
    net.load_state_dict(kept, strict=True)
    io = load_file(str(FIX / "tiny_io.safetensors"))
    inputs = dict(body=io["body_tokens"].float(), head=io["head_image_u8"].float() / 255.0,
                  points=io["query_points"].float(), upper=io["upper_body"].bool())
    return net, io, inputs


def maxerr(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float((a - b).abs().max())


@torch.no_grad()
def test_encoder_fusion_head(tiny):
    net, io, x = tiny
    assert maxerr(net.encoder(x["head"]), io["encoder_out"]) <= TOL


@torch.no_grad()
def test_point_embedding_and_motion_mlp(tiny):
    net, io, x = tiny
    assert maxerr(net.pcl_embed(x["points"]), io["pcl_embed_out"]) <= TOL
    _, temb = net.context(x["body"], x["head"])
    assert maxerr(temb, io["temb"]) <= TOL


@torch.no_grad()
def test_transformer_alone(tiny):
    """Fed the reference's own inputs: covers both streams, the double context feed-forward and the
    context_pre_only last layer."""
    net, io, x = tiny
    head = torch.nn.functional.pad(io["encoder_out"], (0, x["body"].shape[-1] - io["encoder_out"].shape[-1]))
    ctx = torch.cat([x["body"], head], dim=1)
    out = net.transformer(io["pcl_embed_out"], ctx, io["temb"])
    assert maxerr(out, io["transformer_out"]) <= TOL
    last = net.transformer.layers[-1].body_dit
    assert last.attn.to_add_out is None and not hasattr(last, "ff_context")
    assert tuple(last.norm1_context.linear.weight.shape) == (64, 32)


@torch.no_grad()
def test_gaussian_heads_alone(tiny):
    net, io, x = tiny
    out = net.renderer(io["transformer_out"], x["upper"])
    for key in ("offset", "scale", "rotation", "opacity", "rgb"):
        assert maxerr(out[key][0], io[key]) <= TOL, key
    assert float(out["scale"][0][x["upper"]].max()) <= 0.02 + 1e-7


@torch.no_grad()
def test_forward_gaussians_end_to_end(tiny):
    net, io, x = tiny
    out = net.forward_gaussians(x["body"], x["head"], x["points"], upper_body=x["upper"])
    shapes = {"offset": 3, "scale": 3, "rotation": 4, "opacity": 1, "rgb": 3}
    for key, c in shapes.items():
        assert out[key].shape == (1, x["points"].shape[1], c)
        assert maxerr(out[key][0], io[key]) <= TOL, key


def test_sapiens_preprocessing_matches_kornia():
    io = load_file(str(FIX / "tiny_io.safetensors"))
    out = sapiens_input(io["sapiens_in_u8"].float() / 255.0, 64)
    assert maxerr(out, io["sapiens_pre_out"]) <= TOL


@torch.no_grad()
def test_release_folder_loads_the_reference_state_dict(tmp_path, tiny):
    _, io, x = tiny
    shutil.copy(FIX / "tiny_state_dict.safetensors", tmp_path / "model.safetensors")
    cfg = LHMConfig.from_dict(json.loads((FIX / "tiny_config.json").read_text()))
    net = load_network(cfg, tmp_path / "model.safetensors")
    out = net.forward_gaussians(x["body"], x["head"], x["points"], upper_body=x["upper"])
    assert maxerr(out["rgb"][0], io["rgb"]) <= TOL
