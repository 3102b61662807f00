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
    plain = {s.split(" (")[0] for s, _ in stages}
    assert {"load", "preprocess", "body encoder", "head encoder", "transformer", "rig"} <= plain
    texts = [s for s, _ in stages]
    for name in ("body encoder", "head encoder", "transformer"):  # the compute stages carry an ETA
        assert any(t.startswith(f"{name} (about ") and t.endswith(" left)") for t in texts), texts
    assert any(t.startswith("transformer (layer 2/2, about ") for t in texts), texts
    assert set(result.diagnostics.timings) >= {"body encoder", "head encoder", "transformer"}
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
        if stage.startswith("transformer (layer"):
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


def test_sapiens_is_freed_on_the_cpu_unless_kept(release, recon):
    """keep_encoder=None frees Sapiens after encoding on the CPU (peak = larger model, not the sum);
    keeping it gives the same avatar."""
    from avatar_studio.core.lhm.reconstructor import LHMReconstructor
    assert not recon.keep_encoder
    freed = recon.run(photo()).avatar
    assert recon.sapiens is None
    kept_rec = LHMReconstructor(*release, device="cpu", keep_encoder=True)
    kept = kept_rec.run(photo()).avatar
    assert kept_rec.sapiens is not None
    np.testing.assert_array_equal(kept.gaussians.means, freed.gaussians.means)


def test_int8_is_an_opt_in_cpu_precision(release, recon):
    from avatar_studio.core.errors import InputError
    from avatar_studio.core.lhm.reconstructor import LHMReconstructor
    rec = LHMReconstructor(*release, device="cpu", precision="int8")
    result = rec.run(photo())
    ref = recon.run(photo()).avatar
    diff = np.abs(result.avatar.gaussians.means - ref.gaussians.means).max()
    assert 0 < diff < 0.05
    assert any("(int8)" in note for note in result.diagnostics.notes)
    with pytest.raises(InputError, match="CPU only"):
        LHMReconstructor(*release, device="cuda", precision="int8")
