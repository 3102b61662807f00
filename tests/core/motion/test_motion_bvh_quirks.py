"""BVH quirks seen in real files, rebuilt from our own generated walks so the suite keeps them where
../shared is absent: zero-length bones, a rest pose lying along another axis with 6 channels on
every joint, centimetres / inches / metres, 120 fps, and non-ASCII joint names (UTF-8, Latin-1)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from avatar_studio.core.errors import StudioError
from avatar_studio.core.motion.bvh import (POSITION_CHANNELS, BvhClip, BvhSkeleton, clip_from_motion, format_bvh,
                                           read_bvh)
from avatar_studio.core.motion.detect import describe
from avatar_studio.core.motion.edit import resample
from avatar_studio.core.motion.export import motion_to_bvh
from avatar_studio.core.motion.fidelity import measure
from avatar_studio.core.motion.retarget import RetargetSettings, resolve_mapping, retarget_bvh
from avatar_studio.core.rotations import aa_to_rotmat
from support.motion import cmu_spec, mixamo_spec, planted_motion, rotation_error_deg, shared_body


@pytest.fixture(scope="module")
def walk():
    """(body, a stepping motion with one foot planted at a time, 90 frames at 30 fps)."""
    body = shared_body()
    motion, _ = planted_motion(body.rest_joints(), num_frames=90)
    return body, motion


def _check(clip: BvhClip, body, settings: RetargetSettings | None = None):
    """Retarget `clip` and return (motion, fidelity figures); asserts the figures of issue 18."""
    rest = body.rest_joints()
    out = retarget_bvh(clip, rest, settings)
    fig = measure(clip, resolve_mapping(clip.skeleton, settings), out, rest)
    assert fig.limb_error_deg < 2.0, fig
    assert abs(fig.upright_deg - fig.source_upright_deg) < 2.0, fig
    assert fig.pelvis_height == pytest.approx(fig.source_pelvis_height, rel=0.10), fig
    assert fig.path == pytest.approx(fig.source_path, rel=0.10, abs=0.02), fig
    assert fig.slide <= fig.source_slide + 0.02, fig
    return out, fig


def test_zero_length_lowerback_and_hip_joints(walk):
    body, motion = walk
    spec = cmu_spec()
    anchors = list(spec.anchors)
    anchors[spec.names.index("LowerBack")] = 0  # LowerBack sits on Hips (OFFSET 0 0 0), as in CMU conversions
    clip = motion_to_bvh(motion, body, replace(spec, anchors=anchors))
    assert np.allclose(clip.skeleton.offsets[clip.skeleton.index("LowerBack")], 0)
    assert np.allclose(clip.skeleton.offsets[clip.skeleton.index("LHipJoint")], 0)
    assert resolve_mapping(clip.skeleton)["LowerBack"] == "spine1"
    out, _ = _check(clip, body)
    legs = [1, 2, 4, 5, 7, 8]
    assert rotation_error_deg(out.full_pose()[:, legs], motion.full_pose()[:, legs]).mean() < 2.0


def _lay_down(clip: BvhClip, turn: np.ndarray) -> BvhClip:
    """The same world motion on a skeleton whose rest pose is turned by `turn` [3,3] (Bandai-Namco's
    lies along +X), with position and rotation channels on every joint.

    Offsets o' = turn o; locals L'_root = L_root turn^T, L'_j = turn L_j turn^T, so every world
    joint position is unchanged while the rest pose lies along another axis.
    """
    sk = clip.skeleton
    offsets = sk.offsets @ turn.T
    channels = [POSITION_CHANNELS + ("Zrotation", "Xrotation", "Yrotation")] * sk.num_joints
    laid = BvhSkeleton(sk.names, sk.parents, offsets, channels, {j: turn @ e for j, e in sk.end_sites.items()})
    local = turn[None, None] @ clip.local_rotations() @ turn.T[None, None]
    roots = sk.parents < 0
    local[:, roots] = clip.local_rotations()[:, roots] @ turn.T
    translations = np.broadcast_to(offsets, (clip.num_frames,) + offsets.shape).copy()
    translations[:, roots] = clip.local_translations()[:, roots]
    return clip_from_motion(laid, local, translations, clip.frame_time, clip.name)


def test_rest_pose_lying_along_x_with_six_channels_everywhere(walk):
    body, motion = walk
    upright = motion_to_bvh(motion, body, mixamo_spec(fingers=False))
    lying = _lay_down(upright, aa_to_rotmat(np.array([0.0, 0.0, -np.pi / 2])))  # +Y rest bones -> +X
    _, pos_a = upright.global_transforms()
    _, pos_b = lying.global_transforms()
    np.testing.assert_allclose(pos_a, pos_b, atol=1e-6)  # the same motion ...
    rest = lying.skeleton.rest_positions()
    spine = rest[lying.skeleton.index("mixamorig:Head")] - rest[0]
    assert spine[0] > 5 * abs(spine[1])  # the rest pose lies along +X
    a, _ = _check(upright, body)
    b, fig = _check(lying, body)  # ... retargets the same: upright, and not tens of times too far
    assert fig.upright_deg < 30.0
    assert rotation_error_deg(b.full_pose()[:, :22], a.full_pose()[:, :22]).mean() < 0.5
    np.testing.assert_allclose(b.transl, a.transl, atol=1e-3)


def _scaled(clip: BvhClip, factor: float, frame_time: float | None = None) -> BvhClip:
    """The clip in other units (offsets and position channels times `factor`), optionally retimed."""
    sk = clip.skeleton
    scaled = BvhSkeleton(sk.names, sk.parents, sk.offsets * factor, sk.channels,
                         {j: e * factor for j, e in sk.end_sites.items()})
    values = clip.values.copy()
    starts = sk.channel_starts()
    for j, chans in enumerate(sk.channels):
        for i, c in enumerate(chans):
            if c in POSITION_CHANNELS:
                values[:, starts[j] + i] *= factor
    return BvhClip(scaled, values, frame_time or clip.frame_time, clip.name)


@pytest.mark.parametrize("units", [1.0, 100.0, 1 / 0.0254])  # metres, centimetres, inches
def test_units_do_not_matter(walk, units):
    body, motion = walk
    metres = motion_to_bvh(motion, body, mixamo_spec(fingers=False, bone_scale_seed=4))
    base = retarget_bvh(metres, body.rest_joints())
    out, _ = _check(_scaled(metres, units), body)
    np.testing.assert_allclose(out.transl, base.transl, atol=1e-4)
    assert rotation_error_deg(out.full_pose(), base.full_pose()).max() < 1e-3


def test_120_fps_take(walk):
    body, motion = walk
    take = resample(motion, 120.0)
    clip = motion_to_bvh(take, body, cmu_spec())
    assert clip.frame_time == pytest.approx(1 / 120)
    out, _ = _check(clip, body)
    assert out.fps == pytest.approx(120.0) and out.num_frames == take.num_frames == 357


def _renamed(clip: BvhClip, names: dict[str, str]) -> BvhClip:
    sk = clip.skeleton
    renamed = BvhSkeleton([names.get(n, n) for n in sk.names], sk.parents, sk.offsets, sk.channels, sk.end_sites)
    return BvhClip(renamed, clip.values, clip.frame_time, clip.name)


_JAPANESE = {"Hips": "腰", "LeftUpLeg": "左足", "LeftLeg": "左ひざ", "LeftFoot": "左足首", "RightUpLeg": "右足",
             "RightLeg": "右ひざ", "RightFoot": "右足首", "LeftArm": "左腕", "LeftForeArm": "左ひじ", "LeftHand": "左手首",
             "RightArm": "右腕", "RightForeArm": "右ひじ", "RightHand": "右手首"}
_FRENCH = {"Hips": "Bassin", "LeftUpLeg": "CuisseG", "LeftLeg": "JambeG", "LeftFoot": "PiedG",
           "RightUpLeg": "CuisseD", "RightLeg": "JambeD", "RightFoot": "PiedD", "LeftArm": "ÉpauleG",
           "LeftForeArm": "AvantBrasG", "LeftHand": "MainG", "RightArm": "ÉpauleD", "RightForeArm": "AvantBrasD",
           "RightHand": "MainD"}
_SMPLX = {"Hips": "pelvis", "LeftUpLeg": "left_hip", "LeftLeg": "left_knee", "LeftFoot": "left_ankle",
          "RightUpLeg": "right_hip", "RightLeg": "right_knee", "RightFoot": "right_ankle",
          "LeftArm": "left_shoulder", "LeftForeArm": "left_elbow", "LeftHand": "left_wrist",
          "RightArm": "right_shoulder", "RightForeArm": "right_elbow", "RightHand": "right_wrist"}


@pytest.mark.parametrize("names, encoding", [(_JAPANESE, "utf-8"), (_FRENCH, "latin-1")])
def test_non_ascii_names_are_read_and_unknown_names_refused(tmp_path, walk, names, encoding):
    body, motion = walk
    plain = motion_to_bvh(motion, body, mixamo_spec(fingers=False))
    plain = _renamed(plain, {n: n.split(":")[-1] for n in plain.skeleton.names})
    path = tmp_path / "names.bvh"
    path.write_bytes(format_bvh(_renamed(plain, names)).encode(encoding))
    clip = read_bvh(path)
    for name in names.values():
        assert name in clip.skeleton.names  # decoded, never mangled into U+FFFD
    with pytest.raises(StudioError) as err:  # not a silent T-pose
        retarget_bvh(clip, body.rest_joints())
    # the arms are still found through the (ASCII) collar joints; the legs are listed as unmapped
    assert names["LeftLeg"] in str(err.value) and "left leg" in str(err.value) and "--mapping" in str(err.value)
    info = describe(path)  # `motion info` says so before any retarget
    assert "left leg" in info["mapping_problem"] and names["LeftLeg"] in info["unmapped_bvh_joints"]
    settings = RetargetSettings(overrides={names[k]: v for k, v in _SMPLX.items()})  # what the mapping editor saves
    out = retarget_bvh(clip, body.rest_joints(), settings)
    limbs = [1, 2, 4, 5, 16, 17, 18, 19]
    assert rotation_error_deg(out.full_pose()[:, limbs], motion.full_pose()[:, limbs]).mean() < 2.0
