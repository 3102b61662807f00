"""Motion capture without the landmark model: the batched fit on synthetic landmarks, the clean-up,
track consistency, and the error when mediapipe is missing."""
import sys
from dataclasses import replace

import numpy as np
import pytest

from avatar_studio.core.errors import BackendUnavailableError
from avatar_studio.core.mocap import cleanup as C, fit as F
from avatar_studio.testing import motion_samples as samples
from avatar_studio.testing.evaluate import angle_error_deg, mpjpe, pa_mpjpe, procrustes
from avatar_studio.core.mocap.landmarks import (Landmarks, align_world_to_image, consistent_track,
                                                 fix_left_right_swaps)
from avatar_studio.core.motion.skeleton import posed_joints
from avatar_studio.core.render.base import Camera

W, H = 960, 540


def synthetic_landmarks(motion, body, camera, rng, px_noise=2.0, world_noise=0.02):
    """Landmarks a perfect detector would give for `motion` (markers projected by `camera`),
    with noise; also returns the true camera-frame joints [T,22,3]."""
    rest = F.rest_geometry(body)
    joints, pts = C.attached_points(motion.global_orient, motion.body_pose, motion.transl, rest.joints,
                                    rest.points, rest.attach)
    r, t = camera.view[:3, :3].astype(np.float64), camera.view[:3, 3].astype(np.float64)
    pc, jc = pts @ r.T + t, joints @ r.T + t
    uv = pc[..., :2] / pc[..., 2:] * [camera.fx, camera.fy] + [camera.cx, camera.cy]
    uv = uv + rng.normal(0, px_noise, uv.shape)
    n = motion.num_frames
    image = np.zeros((n, 33, 4), np.float32)
    world = np.zeros((n, 33, 3), np.float32)
    image[:, F.LANDMARK_OF_MARKER, :2] = uv / [W, H]
    image[:, F.LANDMARK_OF_MARKER, 3] = 0.9
    hip = 0.5 * (pc[:, F._MK[23]] + pc[:, F._MK[24]])
    world[:, F.LANDMARK_OF_MARKER] = pc - hip[:, None] + rng.normal(0, world_noise, pc.shape)
    return Landmarks(image, world, np.ones(n, bool), W, H, motion.fps, np.arange(n)), jc


@pytest.fixture(scope="module")
def squat_case(body):
    motion = samples.squat(2.0, reps=1, rest_joints=body.rest_joints()).frames(slice(0, 60, 2))
    motion = motion.replace(fps=15.0)
    camera = Camera.orbit((0.0, -0.4, 0.0), 3.5, 35.0, 5.0, fov_y_deg=40.0, width=W, height=H)
    lm, truth = synthetic_landmarks(motion, body, camera, np.random.default_rng(0))
    fov = float(np.degrees(2 * np.arctan(W / 2 / camera.fx)))
    result = F.fit_landmarks(lm, body, F.FitSettings(fov_deg=fov, iterations=80))
    return motion, camera, lm, truth, result


def test_fit_recovers_pose_from_clean_landmarks(squat_case):
    motion, _, _, truth, result = squat_case
    assert result.body_pose.shape == (30, 21, 3) and result.joints.shape == (30, 22, 3)
    assert 1000 * pa_mpjpe(result.joints, truth) < 30
    assert 1000 * mpjpe(result.joints, truth) < 45
    assert angle_error_deg(result.body_pose, motion.body_pose) < 15
    assert np.nanmean(result.reprojection_px) < 5
    assert np.allclose(result.body_pose[:, [9, 10]], 0)       # toes stay at rest


def test_initialisation_alone_is_close(squat_case, body):
    _, _, lm, truth, _ = squat_case
    init = F.fit_landmarks(lm, body, F.FitSettings(iterations=1, lr=1e-9))
    assert 1000 * pa_mpjpe(init.joints, truth) < 60


def test_cleanup_gives_y_up_world_on_the_floor(squat_case, body):
    motion, camera, lm, _, result = squat_case
    rest = F.rest_geometry(body)
    rows = [F._MK[i] for i in (29, 31, 30, 32)]
    pixels, _, conf = F.marker_targets(lm)
    still = C.still_in_picture(pixels[:, rows], conf[:, rows], pixels, motion.fps)
    cleaned = C.clean_motion(result.global_orient, result.body_pose, result.transl, motion.fps, rest.joints,
                             rest.points[rows], rest.attach[rows], still=still)
    out = cleaned.motion
    assert out.up_axis == "y" and out.frame == "world" and out.flat_hand_mean and out.num_frames == 30
    # The camera's up, carried into the capture's world, is close to +Y (the camera is 5 degrees up).
    cam_up = cleaned.rotation @ (camera.view[:3, :3].astype(np.float64) @ np.array([0.0, 1.0, 0.0]))
    assert cam_up[1] > np.cos(np.radians(12))
    _, feet = C.attached_points(out.global_orient, out.body_pose, out.transl, rest.joints, rest.points[rows],
                                rest.attach[rows])
    assert abs(np.percentile(feet[..., 1].min(axis=1), 5)) < 0.01       # standing on y = 0
    assert cleaned.foot_slide < 0.15                                   # m/s; the truth's feet are planted


def test_motion_generators_plant_feet(body):
    rest = body.rest_joints()
    for name, make in samples.MOTIONS.items():
        m = make(rest_joints=rest)
        assert m.num_frames >= 90 and m.up_axis == "y", name
        joints = posed_joints(m.full_pose(), m.transl, rest)[:, list(samples.FOOT_CONTACT_JOINTS)]
        low = (joints[..., 1] - rest[list(samples.FOOT_CONTACT_JOINTS), 1]).min(axis=1)
        assert np.ptp(low) < 1e-4, name                                 # one foot always on the floor


def test_consistent_track_drops_a_jump_to_another_person():
    rng = np.random.default_rng(1)
    n = 40
    base = np.zeros((33, 4), np.float32)
    base[:, 3] = 1.0
    base[[11, 12, 23, 24], 0] = [0.45, 0.55, 0.47, 0.53]
    base[[11, 12, 23, 24], 1] = [0.40, 0.40, 0.60, 0.60]
    image = np.repeat(base[None], n, 0) + rng.normal(0, 0.002, (n, 33, 4)).astype(np.float32)
    image[25:32, :, 0] += 0.3                                            # another person, far right
    image[34:36, [11, 12, 23, 24], 1] = image[34:36, [23, 24, 11, 12], 1]  # upside down
    lm = Landmarks(image, np.zeros((n, 33, 3), np.float32), np.ones(n, bool), 640, 480, 30.0, np.arange(n))
    out = consistent_track(lm)
    assert out.present.sum() == n - 9 and not out.present[25:32].any() and not out.present[34:36].any()
    assert out.notes and "one person" in out.notes[0]


def test_left_right_leg_swaps_are_undone():
    n = 30
    image = np.zeros((n, 33, 4), np.float32)
    image[..., 3] = 1.0
    image[:, [11, 12, 23, 24], 0] = [0.45, 0.55, 0.47, 0.53]
    image[:, [11, 12, 23, 24], 1] = [0.30, 0.30, 0.55, 0.55]
    t = np.arange(n) / 30
    for left, right in ((25, 26), (27, 28), (29, 30), (31, 32)):   # legs swinging in opposite phase
        image[:, left, 0] = 0.47 + 0.08 * np.sin(2 * np.pi * t)
        image[:, right, 0] = 0.53 - 0.08 * np.sin(2 * np.pi * t)
        image[:, [left, right], 1] = 0.75 + 0.05 * (left - 25)
    world = np.zeros((n, 33, 3), np.float32)
    world[..., 0] = image[..., 0]
    bad = image.copy()
    bad[10:13, 25:33] = image[10:13, [26, 25, 28, 27, 30, 29, 32, 31]]  # the model swapped the legs
    lm = Landmarks(bad, world, np.ones(n, bool), 640, 480, 30.0, np.arange(n))
    out = fix_left_right_swaps(lm)
    assert np.allclose(out.image, image) and "legs in 3" in out.notes[0]
    assert fix_left_right_swaps(replace(lm, image=image)).notes == []


def test_world_landmarks_turned_to_match_the_picture():
    rng = np.random.default_rng(2)
    pts = rng.normal(size=(33, 2)) * 0.2
    a = np.radians(160)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    image = np.zeros((1, 33, 4), np.float32)
    image[0, :, :2] = 0.5 + pts * 0.5
    image[0, :, 3] = 1
    world = np.zeros((1, 33, 3), np.float32)
    world[0, :, :2] = pts @ rot.T
    lm = Landmarks(image, world, np.ones(1, bool), 100, 100, 30.0, np.arange(1))
    assert np.allclose(align_world_to_image(lm).world[0, :, :2], pts, atol=1e-5)


def test_procrustes_is_exact_for_similar_skeletons():
    rng = np.random.default_rng(3)
    gt = rng.normal(size=(4, 22, 3))
    a = np.radians(40)
    rot = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    pred = 1.3 * gt @ rot.T + [1.0, 2.0, 3.0]
    assert np.allclose(procrustes(pred, gt), gt, atol=1e-9)
    assert pa_mpjpe(pred, gt) < 1e-9


def test_missing_mediapipe_says_how_to_install(monkeypatch):
    from avatar_studio.core.mocap import landmarks
    monkeypatch.setitem(sys.modules, "mediapipe", None)                # import now fails
    assert not landmarks.available()
    with pytest.raises(BackendUnavailableError, match="install-landmarks"):
        landmarks.PoseTracker()


def test_depth_signs_undo_a_flipped_forearm_but_keep_a_real_crossing(body):
    """A left forearm swinging from pointing away, through the image plane, to pointing at the
    camera: mediapipe-like world landmarks with the depth mirrored in frames 5-7 (while the picture
    shows the forearm far out of the plane) are corrected; the true crossing at frame 15 stays."""
    rest = F.rest_geometry(body)
    t, depth, focal = 30, 3.0, 1000.0
    ka, kb = F._MK[13], F._MK[15]
    length = float(np.linalg.norm(rest.points[kb] - rest.points[ka]))
    angle = np.linspace(-1.2, 1.2, t)                       # radians out of the image plane; 0 at frame 14.5
    fore = length * np.stack([np.cos(angle), np.zeros(t), -np.sin(angle)], -1)   # -z: towards the camera
    world = np.zeros((t, len(F.MARKERS), 3))
    world[:, kb] = fore
    world[:, F._MK[17]] = world[:, F._MK[19]] = world[:, F._MK[21]] = fore + [0.08, 0, 0]
    pixels = np.zeros((t, len(F.MARKERS), 2))
    pixels[:, kb, 0] = fore[:, 0] / depth * focal          # the picture: foreshortened length only
    conf = np.full((t, len(F.MARKERS)), 0.9)
    seen = world.copy()
    seen[5:8, kb, 2] *= -1                                  # the landmark model's mistake
    for k in (17, 19, 21):
        seen[5:8, F._MK[k], 2] = seen[5:8, kb, 2]
    fixed, flips = F.temporal_depth_signs(seen, pixels, conf, np.full(t, depth), focal, rest)
    assert flips == 3
    assert np.allclose(fixed[:, kb], world[:, kb], atol=1e-9)
    assert np.allclose(fixed[:, F._MK[19]], world[:, F._MK[19]], atol=1e-9)   # the hand moved with it
    unchanged, none = F.temporal_depth_signs(world, pixels, conf, np.full(t, depth), focal, rest)
    assert none == 0 and np.array_equal(unchanged, world)


def test_heavy_model_install_checks_the_file(tmp_path):
    from avatar_studio.core import mediapipe_models as M
    from avatar_studio.core.errors import InputError
    if not M.available():
        pytest.skip("mediapipe not installed")
    bogus = tmp_path / "pose_landmark_heavy.tflite"
    bogus.write_bytes(b"not a model" * 100)
    with pytest.raises(InputError, match="SHA-256"):
        M.install_heavy_pose_model(bogus)
    tgz = tmp_path / "pose.tgz"
    tgz.write_bytes(b"\x1f\x8b broken")
    with pytest.raises(InputError, match="not the @mediapipe/pose"):
        M.install_heavy_pose_model(tgz)


def test_heavy_model_missing_says_how_to_install(monkeypatch):
    from avatar_studio.core.mocap import landmarks as L
    if not L.available():
        pytest.skip("mediapipe not installed")
    monkeypatch.setattr(L, "heavy_available", lambda: False)
    with pytest.raises(BackendUnavailableError, match="npm pack @mediapipe/pose"):
        L.PoseTracker(model_complexity=2)


def test_solve_landmarks_without_a_video(squat_case, body):
    """The fit and clean-up stages on landmarks alone (benchmarks reuse one detection)."""
    from avatar_studio.core.mocap.pipeline import solve_landmarks
    lm = squat_case[2]
    result = solve_landmarks(lm, body)
    assert result.motion.num_frames == lm.num_frames and result.diagnostics.detected == lm.num_frames
    assert result.diagnostics.video.width == lm.width and np.isfinite(result.motion.body_pose).all()
