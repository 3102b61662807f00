"""Importers on fixtures written in each tool's exact layout, plus malformed inputs -> InputError."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from avatar_studio.core.errors import InputError
from avatar_studio.core.motion.conventions import to_world_y_up
from avatar_studio.core.motion.ground import floor_height
from avatar_studio.core.rotations import aa_to_rotmat
from avatar_studio.core.motion.detect import FORMATS, describe, detect_format, load_motion
from avatar_studio.core.motion.human3r import list_people
from avatar_studio.core.motion.motion import Motion
from avatar_studio.core.motion.skeleton import posed_joints
from support.motion import (look_at_c2w, rotation_error_deg, shared_body, smooth_motion, write_amass_npz,
                                 write_gvhmr_pt, write_human3r_folder, write_lhm_folder, write_motionx_npy)


@pytest.fixture(scope="module")
def body():
    return shared_body()


def assert_same_motion(a: Motion, b: Motion, atol: float = 1e-5) -> None:
    np.testing.assert_allclose(a.full_pose(), b.full_pose(), atol=atol)
    np.testing.assert_allclose(a.transl, b.transl, atol=atol)


# ---------------------------------------------------------------------------------------------- AMASS
def test_amass_smplx_and_smplh(tmp_path):
    m = smooth_motion(12, fps=120)
    write_amass_npz(tmp_path / "clip_stageii.npz", m)
    got = load_motion(tmp_path / "clip_stageii.npz")
    assert_same_motion(got, m)
    assert (got.fps, got.up_axis, got.frame, got.flat_hand_mean, got.gender) == (120, "z", "world", True, "male")
    assert got.betas.shape == (16,)
    write_amass_npz(tmp_path / "smplh.npz", m, smplh=True)
    h = load_motion(tmp_path / "smplh.npz")
    np.testing.assert_allclose(h.body_pose, m.body_pose, atol=1e-6)
    np.testing.assert_allclose(h.lhand, m.lhand, atol=1e-6)
    assert np.all(h.jaw == 0) and h.gender == "female" and h.fps == 120


@pytest.mark.parametrize("damage, message", [
    ("truncated", "bad.npz is not a readable archive"), ("no_trans", "needs 'poses' and 'trans'"),
    ("wrong_width", "expected (T, 165)"), ("nan", "NaN"), ("bad_trans", "'trans' has shape"),
    ("object", "cannot be read"), ("bad_fps", "frame rate"),
])
def test_amass_malformed(tmp_path, damage, message):
    m = smooth_motion(5)
    path = tmp_path / "bad.npz"
    if damage == "truncated":
        write_amass_npz(path, m)
        path.write_bytes(path.read_bytes()[:300])
    elif damage == "no_trans":
        np.savez(path, poses=m.full_pose().reshape(5, -1))
    elif damage == "wrong_width":
        np.savez(path, poses=np.zeros((5, 100)), trans=np.zeros((5, 3)))
    elif damage == "nan":
        poses = m.full_pose().reshape(5, -1).copy()
        poses[2, 7] = np.nan
        np.savez(path, poses=poses, trans=m.transl)
    elif damage == "bad_trans":
        np.savez(path, poses=np.zeros((5, 165)), trans=np.zeros((4, 3)))
    elif damage == "object":
        np.savez(path, poses=np.array([{"a": 1}], dtype=object), trans=np.zeros((1, 3)))
    else:
        np.savez(path, poses=np.zeros((5, 165)), trans=np.zeros((5, 3)), mocap_frame_rate=np.array(-5.0))
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_motion(path, format="amass")


# ---------------------------------------------------------------------------------------------- LHM
def test_lhm_folder(tmp_path):
    m = smooth_motion(7).replace(frame="camera")
    write_lhm_folder(tmp_path / "dance", m)
    for where in (tmp_path / "dance", tmp_path / "dance" / "smplx_params", tmp_path / "dance" / "smplx_params" / "00003.json"):
        got = load_motion(where)
        assert_same_motion(got, m)
        assert (got.frame, got.flat_hand_mean, got.fps) == ("camera", True, 30.0)
    assert got.meta["camera"]["focal"] == [1200.0, 1200.0]
    assert load_motion(tmp_path / "dance", fps=24).fps == 24


@pytest.mark.parametrize("damage, message", [
    ("truncated", "not valid JSON"), ("missing", "lacks the LHM keys trans"), ("shape", "'body_pose' has shape"),
    ("nan", "NaN"), ("text", "not an array of numbers"),
])
def test_lhm_malformed(tmp_path, damage, message):
    folder = write_lhm_folder(tmp_path / "m", smooth_motion(3), nested=False)
    target = folder / "00002.json"
    data = json.loads(target.read_text())
    if damage == "truncated":
        target.write_text(target.read_text()[:80])
    else:
        if damage == "missing":
            del data["trans"]
        elif damage == "shape":
            data["body_pose"] = data["body_pose"][:20]
        elif damage == "nan":
            data["trans"][1] = float("nan")
        else:
            data["jaw_pose"] = ["a", "b", "c"]
        target.write_text(json.dumps(data))
    with pytest.raises(InputError, match=message):
        load_motion(folder, format="lhm")


# ---------------------------------------------------------------------------------------------- GVHMR
def test_gvhmr(tmp_path):
    world, incam = smooth_motion(9, hands=False, seed=1), smooth_motion(9, hands=False, seed=2)
    write_gvhmr_pt(tmp_path / "hmr4d_results.pt", world, incam)
    got = load_motion(tmp_path)  # the folder holding hmr4d_results.pt
    np.testing.assert_allclose(got.body_pose, world.body_pose, atol=1e-6)
    np.testing.assert_allclose(got.transl, world.transl, atol=1e-6)
    np.testing.assert_allclose(got.betas, world.betas[:10], atol=1e-6)
    assert (got.frame, got.up_axis, got.fps) == ("world", "y", 30.0)
    cam = load_motion(tmp_path / "hmr4d_results.pt", which="incam")
    np.testing.assert_allclose(cam.global_orient, incam.global_orient, atol=1e-6)
    assert cam.frame == "camera"


@pytest.mark.parametrize("damage, message", [
    ("truncated", "not a readable GVHMR"), ("missing", "lacks 'smpl_params_global'"),
    ("shape", "'body_pose' has shape"), ("nan", "NaN"), ("pickle", "could not load it safely"),
    ("length", "differ in length"),
])
def test_gvhmr_malformed(tmp_path, damage, message):
    path = tmp_path / "hmr4d_results.pt"
    m = smooth_motion(4, hands=False)
    write_gvhmr_pt(path, m, m)
    data = torch.load(path, weights_only=True)
    g = data["smpl_params_global"]
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    else:
        if damage == "missing":
            del data["smpl_params_global"]
        elif damage == "shape":
            g["body_pose"] = g["body_pose"][:, :60]
        elif damage == "nan":
            g["transl"][1, 1] = float("nan")
        elif damage == "pickle":
            data["extra"] = Motion.rest(1)  # an arbitrary Python object: refused, never executed
        else:
            g["transl"] = g["transl"][:2]
        torch.save(data, path)
    with pytest.raises(InputError, match=message):
        load_motion(path)


# ---------------------------------------------------------------------------------------------- Motion-X
def test_motionx_axes_and_hand_mean(tmp_path, body):
    m = smooth_motion(8, amplitude=0.2)
    y_up = m.replace(global_orient=np.zeros_like(m.global_orient) + [0.1, 0.0, 0.0])
    write_motionx_npy(tmp_path / "a.npy", y_up)
    got = load_motion(tmp_path / "a.npy")
    assert (got.up_axis, got.frame, got.flat_hand_mean) == ("y", "world", False)
    assert got.fps == 20.0  # what Motion-X's processing script writes
    np.testing.assert_allclose(got.lhand, y_up.lhand, atol=1e-6)
    z_up = y_up.replace(global_orient=np.tile([np.pi / 2, 0, 0], (8, 1)))  # body +Y -> world +Z
    write_motionx_npy(tmp_path / "b.npy", z_up)
    assert load_motion(tmp_path / "b.npy").up_axis == "z"
    assert load_motion(tmp_path / "b.npy", up_axis="+y").up_axis == "y"
    x_up = y_up.replace(global_orient=np.tile([0, 0, -np.pi / 2], (8, 1)))  # body +Y -> world +X
    write_motionx_npy(tmp_path / "c.npy", x_up)
    turned = load_motion(tmp_path / "c.npy", body=body)
    assert turned.up_axis == "y" and rotation_error_deg(turned.global_orient, np.zeros(3)).max() < 1e-3


@pytest.mark.parametrize("content, message", [
    (np.zeros((4, 300)), "(T, 322)"), (np.zeros(322), "(T, 322)"), (np.zeros((0, 322)), "no frames"),
    (np.full((3, 322), np.nan), "NaN"), (None, "not a readable"),
])
def test_motionx_malformed(tmp_path, content, message):
    path = tmp_path / "bad.npy"
    if content is None:
        path.write_bytes(b"\x93NUMPY garbage")
    else:
        np.save(path, content)
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_motion(path)


# ---------------------------------------------------------------------------------------------- Human3R
def _standing_walk(num_frames: int, body) -> Motion:
    """A Y-up world walk in the rest pose along an arc, feet on the floor (y = 0)."""
    t = np.linspace(0, 1, num_frames)
    pose = np.zeros((num_frames, 55, 3), np.float32)
    pose[:, 0, 1] = t * 1.5
    pose[:, 16, 2], pose[:, 17, 2] = -1.2 + 0.2 * np.sin(6 * t), 1.2
    rest = body.rest_joints()
    transl = np.stack([np.sin(t * 1.5) * 1.2, np.zeros_like(t), (1 - np.cos(t * 1.5)) * 1.2], 1)
    m = Motion.from_full_pose(pose, transl.astype(np.float32), fps=30)
    foot_floor = posed_joints(m.full_pose(), m.transl, rest)[:, [7, 8, 10, 11], 1].min()
    return m.replace(transl=(m.transl - [0, foot_floor, 0]).astype(np.float32))


def _camera_path(num_frames: int) -> np.ndarray:
    """c2w per frame in the true Y-up world: a camera 4 m away, tilted down, drifting sideways."""
    return np.stack([look_at_c2w([0.3 * i / num_frames, 1.6, 4.0], [0.2, 0.8, 0.0]) for i in range(num_frames)])


def _in_camera(world: Motion, c2w_first: np.ndarray, body) -> Motion:
    """`world` expressed in the first camera's OpenCV frame (what Human3R calls the world)."""
    from avatar_studio.core.motion.conventions import rotate_motion
    inv = np.linalg.inv(c2w_first)
    j0 = body.rest_joints(world.betas)[0]
    return rotate_motion(world, inv[:3, :3], j0, offset=inv[:3, 3], frame="camera")


def test_human3r_world_conversion_exact(tmp_path, body):
    truth_world = smooth_motion(10, amplitude=0.3, seed=5)
    cams_true = _camera_path(10)
    first_inv = np.linalg.inv(cams_true[0])
    h3r_world = _in_camera(truth_world, cams_true[0], body)
    c2w = first_inv[None] @ cams_true  # Human3R: camera-to-world with the first camera as the world
    write_human3r_folder(tmp_path / "run", {7: h3r_world}, c2w, body)
    got = load_motion(tmp_path / "run", body=body, ground=False)
    assert got.frame == "camera" and got.flat_hand_mean
    np.testing.assert_allclose(got.betas, h3r_world.betas[:10], atol=1e-6)
    assert rotation_error_deg(got.full_pose()[:, :22], h3r_world.full_pose()[:, :22]).max() < 1e-3
    np.testing.assert_allclose(got.lhand, h3r_world.lhand, atol=1e-4)
    np.testing.assert_allclose(got.jaw, h3r_world.jaw, atol=1e-4)
    np.testing.assert_allclose(got.transl, h3r_world.transl, atol=1e-4)
    # per-frame camera coordinates when the camera path is not applied
    cam = load_motion(tmp_path / "run", body=body, world=False, ground=False)
    assert rotation_error_deg(cam.global_orient[0], got.global_orient[0]) < 1e-3
    assert rotation_error_deg(cam.global_orient[-1], got.global_orient[-1]) > 0.5


def test_human3r_ground_alignment_levels_a_tilted_camera(tmp_path, body):
    truth = _standing_walk(40, body)
    cams = _camera_path(40)
    h3r = _in_camera(truth, cams[0], body)
    c2w = np.linalg.inv(cams[0])[None] @ cams
    write_human3r_folder(tmp_path / "run", {0: h3r}, c2w, body)
    got = load_motion(tmp_path / "run", body=body)  # ground=True by default
    assert (got.frame, got.up_axis) == ("world", "y")
    # the tilt is gone: body orientations equal the truth up to a turn about the vertical
    body_up = aa_to_rotmat(got.global_orient)[:, :, 1]  # the body's own +Y in the world
    assert np.degrees(np.arccos(np.clip(body_up[:, 1], -1, 1))).max() < 0.5
    assert abs(floor_height(got, body)) < 1e-4  # soles on y = 0
    joints = posed_joints(got.full_pose(), got.transl, body.rest_joints(got.betas))
    np.testing.assert_allclose(joints[0, 0, [0, 2]], 0, atol=1e-4)  # first pelvis centred
    travel_truth = np.linalg.norm(np.diff(truth.transl, axis=0), axis=1).sum()
    travel_got = np.linalg.norm(np.diff(got.transl, axis=0), axis=1).sum()
    assert travel_got == pytest.approx(travel_truth, rel=1e-3)


def test_human3r_demo_layout_leaning_walker_moving_camera(tmp_path, body):
    """Human3R's demo layout (an (H, W) score map, `msk` None or a mask), two people, a moving
    camera, and a walker leaning 8 degrees forward: the floor is fitted to the feet, not the lean."""
    pose = np.zeros((40, 55, 3), np.float32)
    pose[:, 3, 0] = np.radians(8.0)  # spine1 bent forward: the pelvis-to-neck direction leans
    pose[:, 16, 2], pose[:, 17, 2] = -1.2, 1.2
    transl = np.stack([np.zeros(40), np.full(40, 1.2), np.linspace(0, 1.6, 40)], 1)  # a straight line
    truth = Motion.from_full_pose(pose, transl.astype(np.float32), fps=30)
    other = smooth_motion(40, seed=4)
    cams = _camera_path(40)
    c2w = np.linalg.inv(cams[0])[None] @ cams
    write_human3r_folder(tmp_path / "demo", {0: _in_camera(truth, cams[0], body),
                                             1: _in_camera(other, cams[0], body)}, c2w, body,
                         absent={1: {0, 1, 2}}, demo_layout=True)
    assert [p.id for p in list_people(tmp_path / "demo")] == [0, 1]
    got = load_motion(tmp_path / "demo", body=body)
    feet = posed_joints(got.full_pose(), got.transl, body.rest_joints(got.betas))[:, [7, 8], 1]
    assert np.ptp(feet.min(axis=1)) < 0.01  # the soles stay level over the walk (the lean tilted it ~0.4 m)
    assert abs(floor_height(got, body)) < 1e-4
    assert load_motion(tmp_path / "demo", body=body, person=1, ground=False).num_frames == 37


def test_human3r_several_people_and_gaps(tmp_path, body):
    a = smooth_motion(8, seed=1).replace(frame="camera")
    b = smooth_motion(8, seed=2).replace(frame="camera")
    c2w = np.tile(np.eye(4), (8, 1, 1))
    write_human3r_folder(tmp_path / "two", {3: a, 9: b}, c2w, body, absent={9: {0, 4, 5, 7}})
    people = list_people(tmp_path / "two")
    assert [(p.id, p.num_frames) for p in people] == [(3, 8), (9, 4)]
    got_b = load_motion(tmp_path / "two", body=body, person=9, ground=False)
    assert got_b.num_frames == 6  # frames 1..6 (seen at 1, 2, 3, 6); 4 and 5 interpolated
    assert rotation_error_deg(got_b.body_pose[[0, 1, 2, 5]], b.body_pose[[1, 2, 3, 6]]).max() < 1e-3
    mid = got_b.body_pose[3]
    assert rotation_error_deg(mid, b.body_pose[3]).mean() < rotation_error_deg(b.body_pose[6], b.body_pose[3]).mean()
    default = load_motion(tmp_path / "two", body=body, ground=False)
    assert default.meta["person"] == 3
    with pytest.raises(InputError, match="Person 5 is not in"):
        load_motion(tmp_path / "two", body=body, person=5)
    info = describe(tmp_path / "two")
    assert info["format"] == "human3r" and info["people"][0]["id"] == 3
    write_human3r_folder(tmp_path / "noid", {0: a}, c2w, body, with_ids=False)
    assert list_people(tmp_path / "noid")[0].id == 0


@pytest.mark.parametrize("damage, message", [
    ("truncated", "000001.npz is not a readable archive"), ("missing", "lacks 'transl'"), ("shape", "'rotvec' has shape"),
    ("nan", "NaN"), ("camera", "not a rigid"), ("no_camera", "no camera/ frames"), ("rows", "rows but"),
])
def test_human3r_malformed(tmp_path, body, damage, message):
    m = smooth_motion(3).replace(frame="camera")
    folder = write_human3r_folder(tmp_path / "r", {0: m}, np.tile(np.eye(4), (3, 1, 1)), body)
    frame = folder / "smpl" / "000001.npz"
    data = dict(np.load(frame))
    if damage == "truncated":
        frame.write_bytes(frame.read_bytes()[:100])
    elif damage == "camera":
        np.savez(folder / "camera" / "000001.npz", pose=np.diag([2.0, 1, 1, 1]), intrinsics=np.eye(3))
    elif damage == "no_camera":
        for p in (folder / "camera").glob("*.npz"):
            p.unlink()
    else:
        if damage == "missing":
            del data["transl"]
        elif damage == "shape":
            data["rotvec"] = data["rotvec"][:, :50]
        elif damage == "nan":
            data["shape"][0, 0] = np.nan
        else:
            data["transl"] = np.zeros((2, 3))
        np.savez(frame, **data)
    with pytest.raises(InputError, match=message):
        load_motion(folder, body=body, ground=False)


# ---------------------------------------------------------------------------------------------- detection
def test_detection_and_unsupported_inputs(tmp_path):
    write_amass_npz(tmp_path / "a.npz", smooth_motion(2))
    assert detect_format(tmp_path / "a.npz")[0] == "amass"
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError, match="Supported: AMASS") as err:
        load_motion(tmp_path / "notes.txt")
    assert all(name.split(" ")[0] in str(err.value) for name in FORMATS.values())
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no known motion layout"):
        load_motion(tmp_path / "empty")
    with pytest.raises(InputError, match="not found"):
        load_motion(tmp_path / "missing.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(InputError, match="no 'poses' and 'trans'"):
        load_motion(tmp_path / "other.npz")
    with pytest.raises(InputError, match="does not apply"):
        load_motion(tmp_path / "a.npz", person=2)
    assert describe(tmp_path / "a.npz")["frames"] == 2


def test_world_conversion_keeps_the_body_where_it_was(body):
    """Converting frames moves every joint by the frame rotation only (transl' = R(J0+t) - J0)."""
    m = smooth_motion(6, seed=4).replace(up_axis="z")
    rest = body.rest_joints(m.betas)
    before = posed_joints(m.full_pose(), m.transl, rest)
    after_m = to_world_y_up(m, body)
    after = posed_joints(after_m.full_pose(), after_m.transl, rest)
    rot = np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]])
    np.testing.assert_allclose(after, before @ rot.T, atol=1e-5)
