"""Export (AMASS npz, SMPL-X BVH, LHM folders), hand-pose conventions and the `motion` CLI commands."""
from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from avatar_studio.cli.commands import motion as motion_cmd
from avatar_studio.core.errors import InputError, StudioError
from avatar_studio.core.motion.bvh import read_bvh
from avatar_studio.core.motion.conventions import hand_means, normalize, to_flat_hands, to_mean_hands, to_world_y_up
from avatar_studio.core.motion.ground import floor_height
from avatar_studio.core.motion.detect import load_motion, save_motion
from avatar_studio.core.motion.skeleton import SMPLX_JOINT_NAMES, posed_joints
from support.motion import rotation_error_deg, shared_body, smooth_motion, write_amass_npz, write_lhm_folder


@pytest.fixture(scope="module")
def body():
    return shared_body()


def world_joints(motion, body):
    m = normalize(motion, body)
    return posed_joints(m.full_pose(), m.transl, body.rest_joints(m.betas))


def test_hand_means_come_from_the_model_file(body):
    means = hand_means(body)
    with np.load(body.file) as data:
        np.testing.assert_allclose(means[0].reshape(-1), data["hands_meanl"])
    # BodyModel keeps the file's means even though smplx zeroes its copy when flat_hand_mean=True.
    np.testing.assert_allclose(body.hand_mean[:45], np.load(body.file)["hands_meanl"].reshape(-1))
    m = smooth_motion(4).replace(flat_hand_mean=False)
    flat = to_flat_hands(m, body)
    np.testing.assert_allclose(flat.rhand, m.rhand + means[1], atol=1e-6)
    np.testing.assert_allclose(to_mean_hands(flat, body).rhand, m.rhand, atol=1e-6)
    # the mean-hand pose seen by a model without the flag equals the flat pose seen with it
    relaxed = type(body)(body.file, flat_hand_mean=False)
    a = relaxed.joint_transforms(m.full_pose(), m.betas)[0]
    b = body.joint_transforms(flat.full_pose(), m.betas)[0]
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)


def test_amass_export_is_z_up_and_keeps_the_body_in_place(tmp_path, body):
    m = smooth_motion(8, seed=2).replace(flat_hand_mean=False, frame="camera")
    save_motion(m, tmp_path / "out.npz", body, on_floor=False)
    with np.load(tmp_path / "out.npz") as data:
        assert data["poses"].shape == (8, 165) and str(data["avatar_studio_up_axis"]) == "z"
        # the AMASS stage-II split keys, each a slice of `poses`
        for key, (a, b) in {"root_orient": (0, 3), "pose_body": (3, 66), "pose_jaw": (66, 69),
                            "pose_eye": (69, 75), "pose_hand": (75, 165)}.items():
            np.testing.assert_array_equal(data[key], data["poses"][:, a:b])
    back = load_motion(tmp_path / "out.npz")
    assert (back.up_axis, back.frame, back.flat_hand_mean) == ("z", "world", True)
    np.testing.assert_allclose(world_joints(back, body), world_joints(m, body), atol=1e-4)
    # by default the export stands on the floor: only a vertical offset differs
    save_motion(m, tmp_path / "floor.npz", body)
    floored = load_motion(tmp_path / "floor.npz")
    assert abs(floor_height(to_world_y_up(floored, body), body)) < 1e-4
    shift = world_joints(floored, body) - world_joints(m, body)
    np.testing.assert_allclose(shift - shift[0, 0], 0, atol=1e-4)


def test_bvh_export_layout_for_blender(tmp_path, body):
    m = smooth_motion(5, seed=3)
    save_motion(m, tmp_path / "smplx.bvh", body, on_floor=False)
    clip = read_bvh(tmp_path / "smplx.bvh")
    sk = clip.skeleton
    assert sorted(sk.names) == sorted(SMPLX_JOINT_NAMES)
    rest = body.rest_joints(m.betas)
    order = [SMPLX_JOINT_NAMES.index(n) for n in sk.names]
    np.testing.assert_allclose(sk.rest_positions(), rest[order], atol=1e-5)  # metres, Y up, SMPL-X rest pose
    assert sk.channels[0][:3] == ("Xposition", "Yposition", "Zposition") and len(sk.channels[1]) == 3
    _, pos = clip.global_transforms()
    np.testing.assert_allclose(pos, posed_joints(m.full_pose(), m.transl, rest)[:, order], atol=1e-4)
    assert clip.fps == pytest.approx(30)


def test_bvh_round_trip_keeps_the_body_shape(tmp_path, body):
    betas = np.zeros(10, np.float32)
    betas[:4] = [1.5, -1.0, 0.5, 0.8]
    m = smooth_motion(12, seed=3).replace(betas=betas)
    save_motion(m, tmp_path / "shaped.bvh", body, on_floor=False)
    back = load_motion(tmp_path / "shaped.bvh", body=body, ground=False)
    np.testing.assert_allclose(back.betas, betas, atol=1e-3)
    np.testing.assert_allclose(world_joints(back, body), world_joints(m, body), atol=2e-3)


def test_lhm_export_round_trip(tmp_path, body):
    original = smooth_motion(4, seed=5).replace(frame="camera")
    write_lhm_folder(tmp_path / "src", original)
    lhm = load_motion(tmp_path / "src")
    out = save_motion(lhm, tmp_path / "copy", body)
    files = sorted((out).glob("*.json"))
    assert [f.name for f in files] == ["00001.json", "00002.json", "00003.json", "00004.json"]
    frame = json.loads(files[0].read_text())
    assert frame["focal"] == [1200.0, 1200.0] and frame["img_size_wh"] == [800, 1200] and frame["pad_ratio"] == 0
    again = load_motion(out)
    np.testing.assert_allclose(again.full_pose(), original.full_pose(), atol=1e-6)
    np.testing.assert_allclose(again.transl, original.transl, atol=1e-6)


def test_lhm_export_is_resampled_to_the_frame_rate_asked_for(tmp_path, body):
    take = smooth_motion(121, seed=8, amplitude=0.2).replace(fps=120.0)  # 1 s at 120 fps
    out = save_motion(take, tmp_path / "lhm30", body)  # LHM plays at 30 fps: 31 frames, still 1 s
    assert len(list(out.glob("*.json"))) == 31
    back = load_motion(out)
    assert back.duration == pytest.approx(take.duration, abs=1 / 30)
    assert rotation_error_deg(back.body_pose[-1], take.body_pose[-1]).max() < 1e-3
    out24 = save_motion(take, tmp_path / "lhm24", body, fps=24)
    assert len(list(out24.glob("*.json"))) == 25


def test_camera_frame_sources_play_on_the_floor(tmp_path, body):
    from avatar_studio.core.pipeline import motion_for_playback
    cam = smooth_motion(6, seed=6, amplitude=0.1).replace(frame="camera")
    cam = cam.replace(transl=(cam.transl + np.array([0.0, 0.5, 3.0])).astype(np.float32))  # 0.5 m below the lens
    played = motion_for_playback(cam, body)
    assert (played.frame, played.up_axis) == ("world", "y") and abs(floor_height(played, body)) < 1e-4
    motionx = smooth_motion(6, seed=6).replace(meta={"source": "motionx"})
    assert abs(floor_height(motion_for_playback(motionx, body), body)) < 1e-4


def test_world_motion_exported_to_lhm_stands_in_front_of_the_camera(tmp_path, body):
    walk = smooth_motion(6, seed=6, amplitude=0.1).replace(global_orient=np.zeros((6, 3), np.float32))
    cam = load_motion(save_motion(walk, tmp_path / "lhm_out", body))
    assert cam.frame == "camera"
    joints = posed_joints(cam.full_pose(), cam.transl, body.rest_joints(cam.betas))
    assert joints[:, 15, 1].mean() < joints[:, 0, 1].mean()  # head above the pelvis: -y is up in OpenCV
    assert 1.5 < joints[0, 0, 2] < 4  # in front of the camera
    np.testing.assert_allclose(world_joints(cam, body) - world_joints(cam, body)[0, 0],
                               world_joints(walk, body) - world_joints(walk, body)[0, 0], atol=1e-4)


def test_save_motion_errors(tmp_path, body):
    m = smooth_motion(2)
    with pytest.raises(InputError, match="use .npz"):
        save_motion(m, tmp_path / "x.fbx", body)
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError):
        save_motion(m, tmp_path / "file.txt", body)


def _cli(argv):
    parser = argparse.ArgumentParser(prog="avatar-studio")
    motion_cmd.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_cli_convert_and_info(tmp_path, body, capsys):
    write_amass_npz(tmp_path / "clip.npz", smooth_motion(6, fps=60))
    args = _cli(["motion", "convert", str(tmp_path / "clip.npz"), str(tmp_path / "clip.bvh"),
                 "--body", str(body.file)])
    assert args.func(args) == 0
    assert "6 frames at 60 fps" in capsys.readouterr().out
    args = _cli(["motion", "info", str(tmp_path / "clip.bvh")])
    assert motion_cmd.run(args) == 0
    out = capsys.readouterr().out
    assert "bvh" in out and "preset: smplx" in out and "frames: 6" in out
    args = _cli(["motion", "info", str(tmp_path / "clip.npz"), "--json"])
    motion_cmd.run(args)
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "amass" and info["fps"] == 60 and info["up_axis"] == "z"
    args = _cli(["motion", "convert", str(tmp_path / "clip.npz"), str(tmp_path / "x.npz"), "--person", "2"])
    with pytest.raises(StudioError, match="does not apply"):
        motion_cmd.run(args)
    args = _cli(["motion", "info", str(tmp_path / "nothing.bvh")])
    with pytest.raises(StudioError, match="not found"):
        motion_cmd.run(args)


def test_cli_convert_resamples_and_keeps_height_when_asked(tmp_path, body, capsys):
    clip = smooth_motion(61, fps=60).replace(transl=(smooth_motion(61, fps=60).transl + [0, 2.0, 0]).astype(np.float32))
    write_amass_npz(tmp_path / "clip.npz", clip)
    args = _cli(["motion", "convert", str(tmp_path / "clip.npz"), str(tmp_path / "lhm"), "--body", str(body.file)])
    assert args.func(args) == 0
    assert "31 frames at 30 fps" in capsys.readouterr().out and len(list((tmp_path / "lhm").glob("*.json"))) == 31
    args = _cli(["motion", "convert", str(tmp_path / "clip.npz"), str(tmp_path / "a.npz"), "--out-fps", "24",
                 "--body", str(body.file)])
    assert args.func(args) == 0 and "25 frames at 24 fps" in capsys.readouterr().out
    assert abs(floor_height(to_world_y_up(load_motion(tmp_path / "a.npz"), body), body)) < 1e-4
    args = _cli(["motion", "convert", str(tmp_path / "clip.npz"), str(tmp_path / "b.npz"), "--keep-height",
                 "--body", str(body.file)])
    assert args.func(args) == 0
    kept = to_world_y_up(load_motion(tmp_path / "b.npz"), body)
    assert floor_height(kept, body) == pytest.approx(floor_height(to_world_y_up(load_motion(tmp_path / "clip.npz"),
                                                                                body), body), abs=1e-4)
