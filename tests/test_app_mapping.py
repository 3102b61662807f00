"""Motion ▸ Edit BVH Mapping in the real window: override a joint, the motion is retargeted again
(undoable), and the mapping is saved with the project."""
from __future__ import annotations

import numpy as np
import pytest

from test_app_helpers import pump, requires_display, wait_until, window_fixture

pytestmark = [requires_display, pytest.mark.gui]


window = window_fixture((1200, 800))


def test_override_bvh_mapping_and_save_it(window, body, tmp_path, rng):
    from avatar_studio.core.avatar import Avatar, Rig
    from avatar_studio.testing import motion_samples as samples
    from avatar_studio.core.motion.export import save_bvh
    from avatar_studio.core.project import load_project
    from avatar_studio.core.scene import AvatarItem
    from avatar_studio.core.skinning import dense_to_sparse_weights
    from support import random_gaussians

    bvh = save_bvh(samples.wave(2.0), tmp_path / "wave.bvh", body)
    v, _ = body.shaped()
    sel = rng.choice(body.num_vertices, 400, replace=False)
    idx, w = dense_to_sparse_weights(body.weights[sel], 4)
    window.add_item(AvatarItem(name="subject",
                               avatar=Avatar(random_gaussians(400, rng).replace(means=v[sel]), Rig(idx, w))))
    item = window.selected_avatar()
    window.file_menu.open_file(bvh)
    wait_until(lambda: item.motion is not None, 60, what="the BVH motion")
    elbow = 19  # right_elbow
    assert np.abs(item.motion.full_pose()[:, elbow]).max() > 0.5  # the wave bends the right elbow
    info = item.motion.meta["retarget"]
    assert info["source"].endswith("wave.bvh")

    window.motion_menu.edit_bvh_mapping()
    dlg = window.motion_menu.mapping_dialog
    driving = [name for name, box in dlg.boxes.items() if box.currentText() == "right_elbow"]
    assert len(driving) == 1
    dlg.set_target(driving[0], None)
    before = item.motion
    dlg.accept()
    wait_until(lambda: item.motion is not before, 60, what="the retargeted motion")
    assert np.abs(item.motion.full_pose()[:, elbow]).max() < 1e-6  # unmapped: stays at rest
    assert item.motion.meta["retarget"]["settings"]["overrides"][driving[0]] is None

    path = tmp_path / "mapped.avsproj"
    from avatar_studio.core.project import save_project
    save_project(path, window.scene)
    scene, _ = load_project(path)
    loaded = next(i for i in scene.items if i.name == item.name)
    assert loaded.motion.meta["retarget"]["settings"]["overrides"][driving[0]] is None

    window.undo_stack.undo()
    pump(0.1)
    assert item.motion is before


def test_a_refused_bvh_is_mapped_from_the_menu(window, body, tmp_path, rng):
    """A BVH whose leg names are not recognised is refused on load with the way out; Motion ▸ Edit
    BVH Mapping on that file maps the legs and the motion loads."""
    from avatar_studio.core.avatar import Avatar, Rig
    from avatar_studio.core.errors import StudioError
    from avatar_studio.testing import motion_samples as samples
    from avatar_studio.core.motion.bvh import BvhClip, BvhSkeleton, read_bvh, write_bvh
    from avatar_studio.core.motion.export import motion_to_bvh
    from avatar_studio.core.pipeline import load_motion_for_playback
    from avatar_studio.core.scene import AvatarItem
    from avatar_studio.core.skinning import dense_to_sparse_weights
    from support import random_gaussians

    clip = motion_to_bvh(samples.wave(1.0), body)
    legs = {"left_hip": "Cuisse_G", "left_knee": "Genou_G", "left_ankle": "Cheville_G",
            "right_hip": "Cuisse_D", "right_knee": "Genou_D", "right_ankle": "Cheville_D"}
    sk = clip.skeleton
    renamed = BvhSkeleton([legs.get(n, n) for n in sk.names], sk.parents, sk.offsets, sk.channels, sk.end_sites)
    path = write_bvh(tmp_path / "jambes.bvh", BvhClip(renamed, clip.values, clip.frame_time))
    with pytest.raises(StudioError, match="Edit BVH Mapping"):
        load_motion_for_playback(path, body)
    v, _ = body.shaped()
    sel = rng.choice(body.num_vertices, 400, replace=False)
    idx, w = dense_to_sparse_weights(body.weights[sel], 4)
    avatar = Avatar(random_gaussians(400, rng).replace(means=v[sel]), Rig(idx, w))
    window.add_item(AvatarItem(name="mapped", avatar=avatar))
    item = window.selected_avatar()
    window.motion_menu.edit_bvh_mapping(source=str(path))
    dlg = window.motion_menu.mapping_dialog
    assert read_bvh(path).skeleton.names == list(dlg.boxes)
    for smplx, name in legs.items():
        dlg.set_target(name, smplx)
    for toe in ("left_foot", "right_foot"):  # name matching took these for ankles
        dlg.set_target(toe, toe)
    dlg.accept()
    wait_until(lambda: item.motion is not None, 60, what="the mapped BVH motion")
    assert item.motion.meta["retarget"]["settings"]["overrides"]["Genou_G"] == "left_knee"
