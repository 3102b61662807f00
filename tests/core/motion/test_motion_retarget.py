"""Retargeting against truth: a known SMPL-X motion is written as BVH by our exporter on a skeleton
with another rest pose (A-pose), other bone lengths, units, axes and names, then retargeted back.

Accuracy asked for: joint rotations within 2° on average over the mapped joints; the standing
foot may drift at most FOOT_DRIFT_TOLERANCE_M during a stance.
"""
from __future__ import annotations

import numpy as np
import pytest

from avatar_studio.core.motion.bvh import read_bvh, write_bvh
from avatar_studio.core.motion.detect import load_motion
from avatar_studio.core.motion.export import motion_to_bvh
from avatar_studio.core.motion.retarget import RetargetSettings, resolve_mapping, retarget_bvh
from avatar_studio.core.motion.skeleton import JOINT_INDEX
from support.motion import (cmu_spec, foot_drift, mixamo_spec, planted_motion, rotation_error_deg, shared_body,
                                 smooth_motion)

MEAN_ROTATION_TOLERANCE_DEG = 2.0
FOOT_DRIFT_TOLERANCE_M = 0.01


@pytest.fixture(scope="module")
def truth():
    """(body, truth motion with moving fingers and one foot planted at a time, stance foot per frame)."""
    body = shared_body()
    motion, stance = planted_motion(body.rest_joints(), num_frames=60)
    fingers = smooth_motion(60, seed=9, amplitude=0.4).full_pose()[:, 25:]
    pose = motion.full_pose().copy()
    pose[:, 25:] = fingers
    return body, motion.replace(lhand=pose[:, 25:40], rhand=pose[:, 40:55]), stance


def _round_trip(tmp_path, truth, spec, settings=None):
    body, motion, _ = truth
    path = write_bvh(tmp_path / "source.bvh", motion_to_bvh(motion, body, spec))
    clip = read_bvh(path)
    return clip, retarget_bvh(clip, body.rest_joints(), settings)


def _mapped_targets(clip, settings=None) -> list[int]:
    return sorted(JOINT_INDEX[t] for t in resolve_mapping(clip.skeleton, settings).values())


@pytest.mark.parametrize("style", ["mixamo", "cmu"])
def test_retarget_matches_truth(tmp_path, truth, style):
    body, motion, stance = truth
    spec = mixamo_spec() if style == "mixamo" else cmu_spec()
    clip, out = _round_trip(tmp_path, truth, spec)
    mapped = _mapped_targets(clip)
    err = rotation_error_deg(out.full_pose(), motion.full_pose())
    body_joints = [j for j in mapped if j < 22]
    assert len(body_joints) == 22
    assert err[:, body_joints].mean() <= MEAN_ROTATION_TOLERANCE_DEG
    assert err[:, mapped].mean() <= MEAN_ROTATION_TOLERANCE_DEG
    drift = foot_drift(out, body.rest_joints(), stance)
    assert drift.max() <= FOOT_DRIFT_TOLERANCE_M
    # The root follows the middle of the hip joints and the feet, scaled by leg length; with bones
    # scaled by +-10% the pelvis lands within a centimetre of the truth.
    np.testing.assert_allclose(out.transl, motion.transl, atol=0.01)
    assert (out.up_axis, out.frame, out.flat_hand_mean) == ("y", "world", True)
    assert out.fps == pytest.approx(motion.fps, rel=1e-6)


def test_rest_pose_correction_is_what_makes_a_poses_work(tmp_path, truth):
    _, motion, _ = truth
    _, out = _round_trip(tmp_path, truth, mixamo_spec(), RetargetSettings(correct_rest=False))
    shoulders = rotation_error_deg(out.full_pose()[:, [16, 17]], motion.full_pose()[:, [16, 17]])
    assert shoulders.mean() > 30  # without correction the A-pose's 45° shows up


def test_unmapped_joints_stay_at_rest(tmp_path, truth):
    settings = RetargetSettings(overrides={"mixamorig:LeftForeArm": None, "mixamorig:Neck": None})
    clip, out = _round_trip(tmp_path, truth, mixamo_spec(fingers=False), settings)
    pose = out.full_pose()
    for j in ("left_elbow", "neck", "jaw", "left_eye_smplhf", "left_index2", "right_thumb3"):
        assert np.abs(pose[:, JOINT_INDEX[j]]).max() < 1e-6, j
    # the global transfer still places the children of an unmapped joint correctly
    _, motion, _ = truth
    from avatar_studio.core.motion.skeleton import global_rotations
    from avatar_studio.core.rotations import aa_to_rotmat
    g_out = global_rotations(aa_to_rotmat(pose))[:, JOINT_INDEX["head"]]
    g_true = global_rotations(aa_to_rotmat(motion.full_pose()))[:, JOINT_INDEX["head"]]
    angle = np.degrees(np.arccos(np.clip((np.trace(np.swapaxes(g_out, -1, -2) @ g_true, axis1=-2, axis2=-1) - 1) / 2, -1, 1)))
    assert angle.mean() < MEAN_ROTATION_TOLERANCE_DEG


def test_load_motion_retargets_bvh_in_one_step(tmp_path, truth):
    body, motion, _ = truth
    write_bvh(tmp_path / "walk.bvh", motion_to_bvh(motion, body, cmu_spec()))
    out = load_motion(tmp_path / "walk.bvh", body=body, retarget="cmu")
    assert out.name == "walk" and out.num_frames == motion.num_frames
    assert rotation_error_deg(out.body_pose, motion.body_pose).mean() < MEAN_ROTATION_TOLERANCE_DEG


def test_smplx_bvh_export_round_trips_exactly(tmp_path, truth):
    body, motion, _ = truth
    out = load_motion(write_bvh(tmp_path / "smplx.bvh", motion_to_bvh(motion, body)), body=body, ground=False)
    assert rotation_error_deg(out.full_pose(), motion.full_pose()).max() < 0.01
    np.testing.assert_allclose(out.transl, motion.transl, atol=1e-5)
