"""BVH parser and writer, Euler conversions, name mapping presets and automatic mapping."""
from __future__ import annotations

import numpy as np
import pytest

from avatar_studio.core.errors import InputError
from avatar_studio.core.motion.bvh import (EULER_ORDERS, continuous_euler, format_bvh, parse_bvh, read_bvh,
                                           rotmat_to_euler, write_bvh)
from avatar_studio.core.motion.export import motion_to_bvh
from avatar_studio.core.motion.retarget import (RetargetSettings, auto_mapping, classify_name, detect_preset,
                                                resolve_mapping)
from avatar_studio.core.rotations import euler_to_rotmat
from support.motion import TINY_BVH, cmu_spec, mixamo_spec, shared_body, smooth_motion


@pytest.mark.parametrize("order", EULER_ORDERS)
def test_euler_round_trip_every_order(order):
    rng = np.random.default_rng(0)
    angles = rng.uniform(-179, 179, (200, 3))
    angles[:, 1] = rng.uniform(-89, 89, 200)
    angles[:3, 1] = [90, -90, 89.9999]  # gimbal lock
    m = euler_to_rotmat(angles, order)
    np.testing.assert_allclose(euler_to_rotmat(rotmat_to_euler(m, order), order), m, atol=1e-6)


def test_continuous_euler_has_no_jumps():
    angle = np.linspace(0, 4 * np.pi, 100)
    m = euler_to_rotmat(np.degrees(np.stack([angle, 0 * angle, 0.3 + 0 * angle], 1)), "ZXY")
    e = continuous_euler(m, "ZXY")
    assert np.abs(np.diff(e, axis=0)).max() < 10
    np.testing.assert_allclose(euler_to_rotmat(e, "ZXY"), m, atol=1e-6)


def test_parser_any_channel_order_and_several_roots():
    clip = parse_bvh(TINY_BVH, "tiny.bvh")
    sk = clip.skeleton
    assert sk.names == ["Root", "Child", "Prop"] and list(sk.parents) == [-1, 0, -1]
    assert sk.rotation_order(0) == "YZX" and sk.rotation_order(1) == "XZY" and sk.channels[2] == ()
    assert clip.fps == pytest.approx(25)
    rot, pos = clip.global_transforms()
    np.testing.assert_allclose(pos[:, 0], [[1, 2, 3], [1, 2, 3]])  # position channels replace the offset
    np.testing.assert_allclose(pos[:, 1], [[1, 4, 3], [1, 4, 3]], atol=1e-9)  # a +Y offset ignores Yrotation
    np.testing.assert_allclose(rot[0, 0] @ [0, 0, 1], [1, 0, 0], atol=1e-9)  # root Yrotation 90: +Z -> +X
    np.testing.assert_allclose(rot[1, 1] @ [0, 1, 0], [0, 0, 1], atol=1e-9)  # child Xrotation 90: +Y -> +Z
    np.testing.assert_allclose(sk.end_sites[1], [0, 1, 0])


def test_writer_round_trip(tmp_path):
    body = shared_body()
    clip = motion_to_bvh(smooth_motion(6), body, mixamo_spec(order="YXZ"))
    write_bvh(tmp_path / "a.bvh", clip)
    back = read_bvh(tmp_path / "a.bvh")
    assert sorted(back.skeleton.names) == sorted(clip.skeleton.names) and back.num_frames == 6
    order = [clip.skeleton.index(n) for n in back.skeleton.names]  # files list joints depth first
    r0, p0 = (a[:, order] for a in clip.global_transforms())
    r1, p1 = back.global_transforms()
    np.testing.assert_allclose(r1, r0, atol=1e-5)
    np.testing.assert_allclose(p1, p0, atol=1e-3)
    assert format_bvh(back).startswith("HIERARCHY\nROOT mixamorig:Hips")


@pytest.mark.parametrize("text, message", [
    ("", "does not start with HIERARCHY"),
    ("HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n CHANNELS 3 Xrotation Yrotation Zrotation\n}\n", "no MOTION"),
    (TINY_BVH.replace("Frames: 2", "Frames: 5"), "declares 5 frames but holds 2"),
    (TINY_BVH.replace("90 0 0\n", "90 0\n"), "frame 2 has 8 values"),
    (TINY_BVH.replace("90 1 0", "nan 1 0"), "NaN"),
    (TINY_BVH.replace("90 1 0", "ab 1 0"), "not a number"),
    (TINY_BVH.replace("Xrotation Zrotation Yrotation", "Xrotation Zrotation Wrotation"), "unknown channel 'Wrotation'"),
    (TINY_BVH.replace("OFFSET 0 2 0", "OFFSET 0 two 0"), "expected a number"),
    (TINY_BVH.replace("Frame Time: 0.04", "Frame Time: 0"), "frame time must be a positive"),
    (TINY_BVH.replace("  }\n}\nROOT Prop", "  }\nROOT Prop"), "unexpected 'ROOT'"),
    (TINY_BVH.replace("JOINT Child", "JOINT Prop"), "joint names repeat"),
    (TINY_BVH[:120], "no MOTION"),
])
def test_malformed_bvh(text, message):
    with pytest.raises(InputError, match=message):
        parse_bvh(text, "bad.bvh")


def test_binary_and_missing_files(tmp_path):
    (tmp_path / "x.bvh").write_bytes(b"\x00\x01\x02HIERARCHY")
    with pytest.raises(InputError, match="binary"):
        read_bvh(tmp_path / "x.bvh")
    with pytest.raises(InputError, match="not found"):
        read_bvh(tmp_path / "none.bvh")


def test_presets_and_automatic_mapping():
    body = shared_body()
    mixamo = motion_to_bvh(smooth_motion(2), body, mixamo_spec()).skeleton
    cmu = motion_to_bvh(smooth_motion(2), body, cmu_spec()).skeleton
    assert detect_preset(mixamo) == "mixamo" and detect_preset(cmu) == "cmu"
    preset = resolve_mapping(mixamo, RetargetSettings(preset="mixamo"))
    auto = auto_mapping(mixamo)  # names and hierarchy only, no preset
    body_auto = {k: v for k, v in auto.items() if not any(f in v for f in ("index", "middle", "ring", "pinky", "thumb"))}
    assert body_auto == {k: v for k, v in preset.items() if k in body_auto} and len(body_auto) == 22
    assert {k: v for k, v in auto.items() if k in preset} == {k: v for k, v in preset.items() if k in auto}
    cmu_auto = auto_mapping(cmu)
    assert cmu_auto["LowerBack"] == "spine1" and cmu_auto["Spine1"] == "spine3" and cmu_auto["LeftUpLeg"] == "left_hip"
    assert "LHipJoint" not in cmu_auto and "Neck1" not in cmu_auto


@pytest.mark.parametrize("name, expected", [
    ("mixamorig:LeftForeArm", "left_elbow"), ("upperarm_r", "right_shoulder"), ("L_Collar", "left_collar"),
    ("RightUpLeg", "right_hip"), ("thigh_l", "left_hip"), ("calf_r", "right_knee"), ("Bip01 L Foot", "left_ankle"),
    ("LeftToe_End", None), ("HeadTop_End", None), ("RightHandPinky2", "right_pinky2"), ("lowerarm_l", "left_elbow"),
    ("Left_Index_Proximal", "left_index1"), ("neck_01", "neck"), ("pelvis", "pelvis"), ("LThumb", "left_thumb1"),
])
def test_name_classification(name, expected):
    got = classify_name(name)
    assert (got[0] if got else None) == expected


def test_user_overrides_and_settings_file(tmp_path):
    body = shared_body()
    sk = motion_to_bvh(smooth_motion(2), body, mixamo_spec(fingers=False)).skeleton
    settings = RetargetSettings(preset="mixamo", overrides={"mixamorig:Spine2": None, "mixamorig:Spine1": "spine3"})
    mapping = resolve_mapping(sk, settings)
    assert mapping["mixamorig:Spine1"] == "spine3" and "mixamorig:Spine2" not in mapping
    assert "spine2" not in mapping.values()
    settings.save(tmp_path / "map.json")
    assert RetargetSettings.load(tmp_path / "map.json") == settings
    with pytest.raises(InputError, match="does not have"):
        resolve_mapping(sk, RetargetSettings(overrides={"Nope": "head"}))
    with pytest.raises(InputError, match="unknown SMPL-X joint"):
        resolve_mapping(sk, RetargetSettings(overrides={"mixamorig:Head": "skull"}))
    (tmp_path / "bad.json").write_text("{oops")
    with pytest.raises(InputError, match="Cannot read the retarget settings"):
        RetargetSettings.load(tmp_path / "bad.json")
