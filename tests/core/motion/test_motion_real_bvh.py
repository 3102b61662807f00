"""Real third-party BVH files (../shared/real-data/motion/, see its SOURCES.md): every common rig is
retargeted upright, facing its travel, at the source's scale, with the source's limb directions and
no more foot sliding than the source. The files are never copied into this repository."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avatar_studio.core.errors import StudioError
from avatar_studio.core.motion.bvh import read_bvh
from avatar_studio.core.motion.conventions import rest_joints_of
from avatar_studio.core.motion.fidelity import measure
from avatar_studio.core.motion.retarget import resolve_mapping, retarget_bvh

REAL = Path(__file__).resolve().parents[3].parent / "shared" / "real-data" / "motion"

# file -> (rig class, is it a walk?)
FILES = {
    "bandai1_walk_normal_001.bvh": ("Bandai-Namco: rest pose along +X, 6 channels per joint", True),
    "bandai2_walk_active_001.bvh": ("Bandai-Namco: rest pose along +X, 6 channels per joint", True),
    "bvhpython_test_freebvh.bvh": ("Mixamo `mixamorig:` with fingers", False),
    "bvhpython_test_mocapbank.bvh": ("mocapbank: LeftShoulder is the upper arm", False),
    "dme_blender_example.bvh": ("CMU rig (zero-length LowerBack, LHipJoint), 120 fps", True),
    "dme_xia_neutral_01_000.bvh": ("CMU-style rig (Xia), 120 fps", True),
    "fairmotion_cmu_01_01.bvh": ("CMU cgspeed conversion, 120 fps, 2752 frames", True),
    "fairmotion_pfnn_hierarchy.bvh": ("PFNN's CMU rig in metres", False),
    "opencollar_Kneel 1.bvh": ("Second Life / Avastar export, kneeling", False),
    "opencollar_hug.bvh": ("Second Life 19-joint rig, hip at y = 0", False),
    "pymo_AV_8Walk_Meredith.bvh": ("PyMO: XYZ channels, root offset, figure-8 walk", True),
}


def _real(name: str) -> Path:
    path = REAL / name
    if not path.is_file():
        pytest.skip(f"real BVH {name} is not in ../shared/real-data/motion (the shared data folder is absent)")
    return path


@pytest.fixture(scope="module")
def rest():
    return rest_joints_of(None)


@pytest.mark.parametrize("name", sorted(FILES))
def test_real_bvh_follows_its_source(name, rest):
    clip = read_bvh(_real(name))
    motion = retarget_bvh(clip, rest)
    fig = measure(clip, resolve_mapping(clip.skeleton), motion, rest)
    travels = FILES[name][1]
    assert fig.limb_error_deg < 5.0, fig
    assert abs(fig.upright_deg - fig.source_upright_deg) < 5.0, fig  # as upright as the source
    if travels:  # walks stand up and face where they go
        assert fig.upright_deg < 15.0 and fig.facing_deg < 30.0, fig
    assert np.isnan(fig.facing_deg) or fig.facing_deg < 30.0, fig
    assert fig.pelvis_height == pytest.approx(fig.source_pelvis_height, rel=0.10), fig
    assert fig.path == pytest.approx(fig.source_path, rel=0.10, abs=0.05), fig
    assert fig.slide <= fig.source_slide + 0.02, fig


def test_bandai_stands_up_and_walks_its_own_distance(rest):
    clip = read_bvh(_real("bandai1_walk_normal_001.bvh"))
    motion = retarget_bvh(clip, rest)
    travel = np.linalg.norm(motion.transl[-1, [0, 2]] - motion.transl[0, [0, 2]])
    _, pos = clip.global_transforms()
    hips = clip.skeleton.index("Hips")
    source_travel = np.linalg.norm((pos[-1, hips] - pos[0, hips])[[0, 2]]) / 100.0  # centimetres, Y up
    assert travel == pytest.approx(source_travel, rel=0.10)  # was 41x too far


def test_cmu_keeps_its_zero_length_lowerback_mapped(rest):
    """The `cmu` preset maps LowerBack (OFFSET 0 0 0) to spine1; the rest correction looks past it."""
    clip = read_bvh(_real("dme_blender_example.bvh"))
    mapping = resolve_mapping(clip.skeleton)
    assert mapping["LowerBack"] == "spine1"
    assert np.allclose(clip.skeleton.offsets[clip.skeleton.index("LowerBack")], 0)  # the quirk this file carries
    fig = measure(clip, mapping, retarget_bvh(clip, rest), rest)
    assert fig.limb_error_deg < 2.0 and fig.upright_deg < 10.0, fig  # was 82 degrees, upside down


def test_real_bvh_without_limbs_is_refused_with_the_way_out(rest):
    clip = read_bvh(_real("opencollar_StiffNeck.bvh"))
    with pytest.raises(StudioError) as err:
        retarget_bvh(clip, rest)
    text = str(err.value)
    assert "left leg" in text and "right arm" in text and "--mapping" in text and "Edit BVH Mapping" in text
    assert "mSpine2" in text  # the unmapped joints are listed
