"""`avatar-studio reconstruct --backend lhm --model DIR --prior DIR` on a folder laid out like the
official release (tiny random weights), then animating the result with the prior's SMPL-X."""
import numpy as np
from PIL import Image

from avatar_studio.cli.main import main
from avatar_studio.core.io.avatar_file import read_avatar
from support.body import write_random_smplx
from support.lhm import photo, write_tiny_release
from avatar_studio.core.motion.amass import write_amass


def test_cli_reconstruct_with_lhm_folder_then_animate(tmp_path, capsys):
    smplx_npz = write_random_smplx(tmp_path / "body", seed=3)
    model_dir, prior = write_tiny_release(tmp_path / "release", smplx_npz)
    Image.fromarray(photo()).save(tmp_path / "person.png")
    out = tmp_path / "lhm_avatar.ply"
    code = main(["reconstruct", str(tmp_path / "person.png"), "-o", str(out), "--backend", "lhm",
                 "--model", str(model_dir), "--prior", str(prior), "--device", "cpu", "-q"])
    assert code == 0, capsys.readouterr().err
    avatar = read_avatar(out)
    assert len(avatar.gaussians) == 200 and avatar.rig.body_model == "smplx"

    # Animating needs the real SMPL-X the rig was made on: a clear error without it ...
    motion = tmp_path / "m.npz"
    from avatar_studio.core.motion.motion import Motion
    fp = np.zeros((10, 55, 3), np.float32)
    fp[:, 18, 1] = np.linspace(0, 1, 10)
    write_amass(Motion.from_full_pose(fp, fps=10, up_axis="y"), motion)
    code = main(["pose", str(out), "--motion", str(motion), "--time", "0.5", "-o", str(tmp_path / "p.ply")])
    err = capsys.readouterr().err
    assert code == 2 and "SMPL-X" in err
    # ... and posing works once it is pointed at the prior's body folder.
    code = main(["pose", str(out), "--motion", str(motion), "--time", "0.9", "-o", str(tmp_path / "p.ply"),
                 "--body", str(prior / "human_model_files")])
    assert code == 0, capsys.readouterr().err
    from avatar_studio.core.io.ply import read_ply
    posed = read_ply(tmp_path / "p.ply")
    assert posed.means.shape == avatar.gaussians.means.shape
    assert np.abs(posed.means - avatar.gaussians.means).max() > 1e-3


def test_cli_lhm_missing_prior_names_files(tmp_path, capsys):
    smplx_npz = write_random_smplx(tmp_path / "body", seed=3)
    model_dir, prior = write_tiny_release(tmp_path / "release", smplx_npz)
    (prior / "voxel_grid" / "human_prior_constrain.npz").unlink()
    Image.fromarray(photo()).save(tmp_path / "person.png")
    code = main(["reconstruct", str(tmp_path / "person.png"), "-o", str(tmp_path / "a.ply"), "--backend", "lhm",
                 "--model", str(model_dir), "--prior", str(prior), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "human_prior_constrain.npz" in err and not (tmp_path / "a.ply").exists()
