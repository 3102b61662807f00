"""Clip operations: each is pure (input unchanged) and does what it says."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from avatar_studio.core.errors import InputError
from avatar_studio.core.motion import edit
from avatar_studio.core.motion.ground import floor_height
from avatar_studio.core.motion.skeleton import JOINT_INDEX, posed_joints
from support.motion import rotation_error_deg, shared_body, smooth_motion


@pytest.fixture(scope="module")
def body():
    return shared_body()


@pytest.fixture
def clip():
    return smooth_motion(30, fps=30, seed=11)


def _unchanged(before, after) -> None:
    np.testing.assert_array_equal(before.full_pose(), after.full_pose())
    np.testing.assert_array_equal(before.transl, after.transl)


def test_operations_are_pure(clip, body):
    keep = copy.deepcopy(clip)
    other = smooth_motion(20, fps=30, seed=12)
    ops = [lambda m: edit.trim(m, 3, 9), lambda m: edit.loop(m, 2, carry_root=True), lambda m: edit.ping_pong(m),
           lambda m: edit.resample(m, 60), lambda m: edit.change_speed(m, 2), lambda m: edit.mirror(m, body),
           lambda m: edit.lock_root(m), lambda m: edit.align_ground(m, body), lambda m: edit.blend(m, other, 0.5),
           lambda m: edit.concatenate(m, other, 0.2, body=body), lambda m: edit.smooth_savgol(m),
           lambda m: edit.smooth_one_euro(m), lambda m: edit.turn(m, 30, body),
           lambda m: edit.rotate_joint(m, "left_elbow", [edit.JointKey(5, (0.3, 0, 0))])]
    for op in ops:
        out = op(clip)
        assert out is not clip
        _unchanged(keep, clip)


def test_trim_loop_ping_pong(clip):
    t = edit.trim(clip, 5, 12)
    np.testing.assert_array_equal(t.transl, clip.transl[5:12])
    assert edit.trim_seconds(clip, 0.1, 0.5).num_frames == 12
    with pytest.raises(InputError, match="leaves no frames"):
        edit.trim(clip, 20, 10)
    looped = edit.loop(clip, 3, carry_root=True)
    assert looped.num_frames == 90
    step = clip.transl[-1] - clip.transl[0]
    np.testing.assert_allclose(looped.transl[60, [0, 2]], clip.transl[0, [0, 2]] + 2 * step[[0, 2]], atol=1e-6)
    np.testing.assert_allclose(looped.transl[60, 1], clip.transl[0, 1], atol=1e-6)
    pp = edit.ping_pong(edit.trim(clip, 0, 4), count=2)
    np.testing.assert_array_equal(pp.transl, clip.transl[[0, 1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0]])


def test_resample_and_speed(clip):
    up = edit.resample(clip, 60)
    assert up.fps == 60 and up.num_frames == 59
    np.testing.assert_allclose(up.full_pose()[::2], clip.full_pose(), atol=1e-5)
    mid = edit.sample(clip, np.array([2.5]))
    assert rotation_error_deg(mid.body_pose[0], clip.body_pose[2]).max() < rotation_error_deg(clip.body_pose[3], clip.body_pose[2]).max()
    fast = edit.change_speed(clip, 2.0)
    assert fast.num_frames == 15 and fast.fps == clip.fps
    np.testing.assert_allclose(fast.full_pose(), clip.full_pose()[::2], atol=1e-5)
    assert edit.resample(clip, 10).duration == pytest.approx(1.0)


def test_mirror(clip, body):
    m = edit.mirror(clip, body)
    rest = body.rest_joints(clip.betas)
    a = posed_joints(clip.full_pose(), clip.transl, rest)
    b = posed_joints(m.full_pose(), m.transl, rest)
    left, right = JOINT_INDEX["left_wrist"], JOINT_INDEX["right_wrist"]
    # the mirrored right wrist is the original left wrist reflected in X = 0 (up to the body's own asymmetry)
    np.testing.assert_allclose(b[:, 0], a[:, 0] * [-1, 1, 1], atol=1e-5)
    assert np.abs(b[:, right] - a[:, left] * [-1, 1, 1]).max() < 0.03
    twice = edit.mirror(m, body)
    np.testing.assert_allclose(twice.full_pose(), clip.full_pose(), atol=1e-5)
    np.testing.assert_allclose(twice.transl, clip.transl, atol=1e-5)


def test_lock_root_and_ground(clip, body):
    locked = edit.lock_root(clip)
    assert np.ptp(locked.transl[:, [0, 2]], axis=0).max() == 0 and np.ptp(locked.transl[:, 1]) > 0
    assert np.ptp(edit.lock_root(clip, vertical=True).transl, axis=0).max() == 0
    grounded = edit.align_ground(clip.replace(transl=clip.transl + [0, 3.0, 0]), body)
    assert abs(floor_height(grounded, body)) < 1e-5
    z_up = edit.align_ground(clip.replace(up_axis="z"), body)
    assert z_up.up_axis == "y" and abs(floor_height(z_up, body)) < 1e-5


def test_blend_and_concatenate(clip, body):
    other = smooth_motion(20, fps=15, seed=12)
    half = edit.blend(clip, other, 0.0)
    np.testing.assert_allclose(half.full_pose(), clip.full_pose()[: half.num_frames], atol=1e-5)
    assert half.num_frames == 30  # the shorter clip, after resampling b to 30 fps (39 frames)
    with pytest.raises(InputError, match="weights"):
        edit.blend(clip, other, np.ones(3))
    joined = edit.concatenate(clip, edit.resample(other, 30), crossfade=0.2, body=body)
    n = 6
    assert joined.num_frames == 30 + edit.resample(other, 30).num_frames - n
    np.testing.assert_allclose(joined.full_pose()[:30 - n], clip.full_pose()[:30 - n], atol=1e-6)
    # aligned: b starts facing and standing where a ended, so the root does not jump
    jumps = np.linalg.norm(np.diff(joined.transl[:, [0, 2]], axis=0), axis=1)
    assert jumps.max() < 0.1
    heading_err = rotation_error_deg(joined.global_orient[29 - n], clip.global_orient[29 - n])
    assert heading_err < 1e-3


def test_smoothing_reduces_jitter(body):
    clean = smooth_motion(90, seed=3, amplitude=0.3)
    noise = np.random.default_rng(0).normal(scale=0.05, size=clean.full_pose().shape)
    noisy = clean.replace(body_pose=clean.body_pose + noise[:, 1:22].astype(np.float32))

    def jitter(m):  # mean frame-to-frame change of the frame-to-frame change
        return np.abs(np.diff(m.body_pose, n=2, axis=0)).mean()

    for smoothed in (edit.smooth_savgol(noisy, 11, 2), edit.smooth_one_euro(noisy, min_cutoff=1.5, beta=0.0)):
        assert jitter(smoothed) < 0.3 * jitter(noisy)
        before = rotation_error_deg(noisy.body_pose, clean.body_pose)[10:-10].mean()
        after = rotation_error_deg(smoothed.body_pose, clean.body_pose)[10:-10].mean()
        assert after < 0.8 * before
    causal = edit.smooth_one_euro(noisy, min_cutoff=1.5, beta=0.0, zero_lag=False)
    assert jitter(causal) < 0.3 * jitter(noisy)
    assert edit.smooth_savgol(edit.trim(clean, 0, 2)).num_frames == 2
    with pytest.raises(InputError):
        edit.smooth_savgol(clean, window=2)


def test_rotate_joint_keys_slerp(clip):
    keys = [edit.JointKey(10, (0.0, 0.0, 0.8)), edit.JointKey(20, (0.0, 0.0, -0.4))]
    out = edit.rotate_joint(clip, "right_shoulder", keys, falloff=5)
    j = JOINT_INDEX["right_shoulder"]
    offsets = edit.joint_offsets(keys, clip.num_frames, falloff=5)
    np.testing.assert_allclose(offsets[15], [np.cos(0.1), 0, 0, np.sin(0.1)], atol=1e-6)  # halfway: 0.2 rad
    assert np.allclose(offsets[:5], [1, 0, 0, 0]) and np.allclose(offsets[25:], [1, 0, 0, 0])
    assert rotation_error_deg(out.full_pose()[10, j], clip.full_pose()[10, j]) == pytest.approx(np.degrees(0.8), abs=1e-3)
    others = [k for k in range(55) if k != j]
    np.testing.assert_array_equal(out.full_pose()[:, others], clip.full_pose()[:, others])
    with pytest.raises(InputError, match="unknown SMPL-X joint"):
        edit.rotate_joint(clip, "tail", keys)
