"""End to end at tiny size: a folder laid out like the official LHM release, photo -> animatable avatar."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from avatar_studio.core.errors import CancelledError, ModelFileError
from avatar_studio.core.lhm import LHMConfig
from avatar_studio.core.reconstruct.base import CancelToken
from support.lhm import N_POINTS, TINY, photo, write_tiny_release


@pytest.fixture(scope="module")
def release(tmp_path_factory, random_smplx_dir) -> tuple[Path, Path]:
    return write_tiny_release(tmp_path_factory.mktemp("lhm"), random_smplx_dir / "smplx" / "SMPLX_NEUTRAL.npz")


@pytest.fixture(scope="module")
def recon(release):
    from avatar_studio.core.lhm.reconstructor import LHMReconstructor
    return LHMReconstructor(*release, device="cpu")


def test_photo_to_animated_avatar(recon, tmp_path):
    from avatar_studio.core.io.avatar_file import read_avatar, write_avatar
    stages: list[tuple[str, float]] = []
    result = recon.run(photo(), progress=lambda s, f: stages.append((s, f)))
    avatar = result.avatar
    assert len(avatar.gaussians) == N_POINTS
    assert avatar.rig.rotation_locked is not None and avatar.rig.rotation_locked.shape == (N_POINTS,)
    assert avatar.rig.body_model == "smplx"
    fracs = [f for _, f in stages]
    assert fracs == sorted(fracs) and fracs[-1] == 1.0
    assert {"load", "preprocess", "body encoder", "transformer", "rig"} <= {s for s, _ in stages}
    path = write_avatar(tmp_path / "lhm_avatar.ply", avatar)
    back = read_avatar(path)
    np.testing.assert_allclose(back.gaussians.means, avatar.gaussians.means, atol=1e-6)
    pose = np.zeros((2, 55, 3), np.float32)
    pose[1, 16] = [0, 0, -1.0]  # left shoulder down
    frames = back.posed_batch(recon.prior.body, pose)
    np.testing.assert_allclose(frames[0].means, back.gaussians.means, atol=1e-5)
    assert np.abs(frames[1].means - frames[0].means).max() > 1e-3
    assert all(np.all(np.isfinite(f.means)) for f in frames)


def test_cancel_between_transformer_layers(recon):
    token = CancelToken()

    def progress(stage: str, frac: float) -> None:
        if stage == "transformer" and frac > 0:
            token.cancel()

    with pytest.raises(CancelledError):
        recon.run(photo(), progress=progress, cancel=token)


def test_weights_are_memory_mapped(recon):
    """On the CPU every loaded parameter lives inside the file mapping of model.safetensors."""
    maps = Path("/proc/self/maps")
    if not maps.exists():
        pytest.skip("needs /proc")
    recon.load()
    ranges = []
    for line in maps.read_text().splitlines():
        if line.endswith("model.safetensors"):
            a, b = (int(x, 16) for x in line.split()[0].split("-"))
            ranges.append((a, b))
    ptrs = [p.data_ptr() for p in recon.network.parameters()]
    assert ranges and all(any(a <= p < b for a, b in ranges) for p in ptrs)


def test_missing_prior_files_are_named(release, tmp_path):
    from avatar_studio.core.lhm.reconstructor import LHMReconstructor
    model_dir, prior = release
    empty = tmp_path / "pretrained_models"
    empty.mkdir()
    with pytest.raises(ModelFileError) as err:
        LHMReconstructor(model_dir, empty, device="cpu")
    msg = str(err.value)
    for rel in (f"dense_sample_points/1_{N_POINTS}.ply", "voxel_grid/human_prior_constrain.npz",
                "human_model_files/smplx/SMPLX_NEUTRAL.npz", "sapiens_1b_epoch_173_torchscript.pt2"):
        assert rel in msg
    with pytest.raises(ModelFileError, match="model.safetensors"):
        LHMReconstructor(tmp_path, prior, device="cpu")


def test_modelscope_step_folder_and_bad_checkpoint(release, tmp_path):
    from avatar_studio.core.lhm.checkpoint import find_checkpoint, load_network
    model_dir, _ = release
    nested = tmp_path / "LHM-500M" / "step_060000"
    shutil.copytree(model_dir, nested)
    cfg, weights = find_checkpoint(tmp_path / "LHM-500M")
    assert cfg.parent == nested
    other = LHMConfig.from_dict({**TINY, "transformer_layers": 3})
    with pytest.raises(ModelFileError, match="missing"):
        load_network(other, weights)
