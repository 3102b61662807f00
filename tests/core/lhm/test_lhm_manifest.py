"""Key manifest at full size (meta device) against the checked-in manifest and the reference key list."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from avatar_studio.core.errors import ModelFileError
from avatar_studio.core.lhm import LHMConfig, dino_variant
from avatar_studio.core.lhm.manifest import dumps, key_shapes, manifest, parameter_count

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "lhm"


@pytest.fixture(scope="module")
def ours() -> dict:
    return manifest()


def test_tool_reproduces_checked_in_manifest(ours):
    assert dumps(ours) == (FIX / "manifest.json").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["MINI", "500M", "1B"])
def test_manifest_equals_reference_keys(ours, name):
    ref = json.loads((FIX / "reference_keys.json").read_text())[name]
    assert ours[name] == ref


def test_hf_variants_share_the_architecture(ours):
    assert ours["500M-HF"] == ours["500M"] and ours["1B-HF"] == ours["1B"]
    counts = {n: parameter_count(ours[n]) for n in ("MINI", "500M", "1B")}
    assert counts == {"MINI": 442_314_582, "500M": 668_992_854, "1B": 1_424_587_094}


def test_official_config_json_matches_preset():
    official = {  # the model section of configs/inference/human-lrm-500M.yaml, as config.json holds it
        "model_name": "SapDinoLRMBHSD3_5", "encoder_type": "dinov2_fusion", "encoder_model_name": "dinov2_vitl14_reg",
        "encoder_feat_dim": 1024, "encoder_freeze": False, "fine_encoder_type": "sapiens",
        "fine_encoder_model_name": "./pretrained_models/sapiens/pretrained/checkpoints/sapiens_1b/"
                                   "sapiens_1b_epoch_173_torchscript.pt2",
        "fine_encoder_feat_dim": 1536, "fine_encoder_freeze": True, "use_face_id": True,
        "latent_query_points_type": "e2e_smplx_sub1", "pcl_dim": 1024, "facesr": True,
        "transformer_type": "sd3_mm_bh_cond", "transformer_heads": 16, "transformer_dim": 1024,
        "transformer_layers": 5, "tf_grad_ckpt": True, "encoder_grad_ckpt": True,
        "human_model_path": "./pretrained_models/human_model_files", "smplx_subdivide_num": 1,
        "smplx_type": "smplx_2", "gs_query_dim": 1024, "gs_use_rgb": True, "gs_sh": 3, "dense_sample_pts": 40000,
        "gs_mlp_network_config": {"n_neurons": 512, "n_hidden_layers": 2, "activation": "silu"},
        "gs_xyz_offset_max_step": 1.0, "gs_clip_scaling": [100, 0.01, 0.05, 3000], "expr_param_dim": 100,
        "shape_param_dim": 10, "fix_opacity": False, "fix_rotation": False, "cano_pose_type": 1}
    cfg = LHMConfig.from_dict({"config": official})
    assert key_shapes(cfg) == key_shapes(LHMConfig.preset("500M"))
    assert cfg.image_hw == (1694, 1022) and cfg.clip_scaling == 0.05
    assert LHMConfig.preset("LHM-MINI").image_hw == (840, 504)


@pytest.mark.parametrize("alias,dim,depth", [("S", 384, 12), ("dinov2_vitb14_reg", 768, 12), ("vit-l", 1024, 24)])
def test_dino_variants_by_name(alias, dim, depth):
    name, spec = dino_variant(alias)
    shapes = key_shapes(LHMConfig.preset("MINI").with_(encoder_name=name, dino=spec))
    assert shapes["encoder.model.pos_embed"] == [1, 1370, dim]
    assert f"encoder.model.blocks.{depth - 1}.mlp.fc2.weight" in shapes
    assert shapes["encoder.fusion_head.output_conv.weight"] == [1024, 4 * dim, 1, 1]


def test_unknown_names_are_refused():
    with pytest.raises(ModelFileError):
        LHMConfig.preset("2B")
    with pytest.raises(ModelFileError):
        dino_variant("dinov2_vitg14_reg")
