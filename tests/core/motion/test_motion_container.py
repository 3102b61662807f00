"""The internal Motion container, its AMASS-style npz, and the shipped sample motions."""
import numpy as np
import pytest

from avatar_studio import RESOURCES_DIR
from avatar_studio.core.errors import InputError
from avatar_studio.core.motion.motion import Motion
from avatar_studio.core.motion.amass import load_amass, write_amass


def test_full_pose_round_trip(rng):
    fp = rng.normal(size=(7, 55, 3)).astype(np.float32)
    m = Motion.from_full_pose(fp, rng.normal(size=(7, 3)), fps=24)
    np.testing.assert_array_equal(m.full_pose(), fp)
    assert m.body_pose.shape == (7, 21, 3) and m.lhand.shape == (7, 15, 3)
    assert m.duration == pytest.approx(7 / 24)


def test_npz_round_trip(tmp_path, rng):
    m = Motion.from_full_pose(rng.normal(size=(5, 55, 3)), rng.normal(size=(5, 3)), fps=60, up_axis="y",
                              betas=rng.normal(size=16), name="x")
    write_amass(m, tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as d:
        assert d["poses"].shape == (5, 165) and float(d["mocap_frame_rate"]) == 60
    back = load_amass(tmp_path / "m.npz")
    np.testing.assert_allclose(back.full_pose(), m.full_pose(), atol=1e-6)
    assert back.fps == 60 and back.up_axis == "y" and back.betas.shape == (16,)


def test_pose_at_interpolates_with_slerp():
    fp = np.zeros((2, 55, 3), np.float32)
    fp[1, 18] = [0, 0, 1.0]
    m = Motion.from_full_pose(fp, np.array([[0, 0, 0], [1, 0, 0]], np.float32), fps=10)
    pose, transl = m.pose_at(0.05)
    np.testing.assert_allclose(pose[18], [0, 0, 0.5], atol=1e-6)
    np.testing.assert_allclose(transl, [0.5, 0, 0], atol=1e-6)
    assert np.allclose(m.pose_at(99)[1], [1, 0, 0])  # clamped


@pytest.mark.parametrize("bad", [dict(transl=np.zeros((3, 3))), dict(global_orient=np.full((4, 3), np.nan))])
def test_bad_shapes_and_nans(bad):
    kw = dict(global_orient=np.zeros((4, 3)), body_pose=np.zeros((4, 21, 3)), jaw=np.zeros((4, 3)),
              leye=np.zeros((4, 3)), reye=np.zeros((4, 3)), lhand=np.zeros((4, 15, 3)), rhand=np.zeros((4, 15, 3)),
              transl=np.zeros((4, 3)))
    kw.update(bad)
    with pytest.raises(InputError):
        Motion(**kw)


@pytest.mark.parametrize("name", ["walk", "wave", "dance"])
def test_sample_motions_ship_and_move(name, body):
    m = load_amass(RESOURCES_DIR / "motions" / f"{name}.npz")
    assert m.fps == 30 and m.duration >= 3.0 and m.up_axis == "y"
    joints, _ = body.joint_transforms(m.full_pose())
    world = joints.numpy() + m.transl[:, None]
    travel = np.linalg.norm(world - world[:1], axis=-1).max(axis=0)  # [55] max displacement per joint
    assert travel[20:22].max() > 0.3  # the wrists visibly move (metres)
    # Feet stay near one floor height (no sinking through the floor).
    feet_y = world[:, [10, 11], 1].min(axis=1)
    assert feet_y.max() - feet_y.min() < 0.15


def test_samples_regenerate_identically(tmp_path):
    from avatar_studio.testing.motion_samples import write_samples
    for p in write_samples(tmp_path):
        a, b = load_amass(p), load_amass(RESOURCES_DIR / "motions" / p.name)
        np.testing.assert_allclose(a.full_pose(), b.full_pose(), atol=1e-6)
