"""Motion ▸ Import Motion from Video in the real window: capture on a worker thread, the motion
lands on the selected avatar's timeline (undoable), and a check view draws the fitted skeleton
over the video."""
from __future__ import annotations

import numpy as np
import pytest

from avatar_studio.core.mocap import landmarks
from test_app_helpers import pump, requires_display, wait_until, window_fixture

pytestmark = [requires_display, pytest.mark.gui,
              pytest.mark.skipif(not landmarks.available(), reason="mediapipe 0.10.21 not installed")]


window = window_fixture((1200, 800))


@pytest.fixture(scope="module")
def clip_and_avatar(tmp_path_factory, body):
    from avatar_studio.testing.synthetic_video import camera_for, render_clip
    from avatar_studio.testing import motion_samples as samples
    from avatar_studio.testing import synthetic as syn
    avatar = syn.make_avatar(syn.random_spec(5), body, 20000)
    motion = samples.arms_overhead(3.0, rest_joints=body.rest_joints(avatar.rig.betas))
    motion = motion.frames(slice(0, 90, 4)).replace(fps=7.5)
    camera = camera_for(avatar, body, motion, "three_quarter", 640, 360)
    clip = render_clip(avatar, body, motion, camera, tmp_path_factory.mktemp("video") / "arms.mp4")
    return clip.path, avatar


def test_import_motion_from_video(window, clip_and_avatar):
    from avatar_studio.core.scene import AvatarItem
    video, avatar = clip_and_avatar
    window.add_item(AvatarItem(name="subject", avatar=avatar))
    item = window.selected_avatar()
    assert item is not None and item.motion is None
    window.motion_menu.capture_video_motion(video)
    wait_until(lambda: item.motion is not None, 120, what="the captured motion")
    assert item.motion.name == "arms" and item.motion.num_frames >= 20
    # The arms went overhead: the wrists end far above where they start in the captured motion.
    joints, _ = window.scene.body_for(item).joint_transforms(item.motion.full_pose(), item.avatar.rig.betas)
    wrist_y = joints.numpy()[:, 20, 1]
    assert wrist_y.max() - wrist_y.min() > 0.4
    # The check view shows the video with the skeleton drawn over it, and scrubs.
    dlg = window.motion_menu.mocap_check
    assert dlg.isVisible() and dlg.frame_rgb is not None and dlg.frame_rgb.shape[1] > 0
    first = dlg.frame_rgb.copy()
    dlg.slider.setValue(dlg.slider.maximum())
    assert np.abs(dlg.frame_rgb.astype(int) - first.astype(int)).mean() > 1.0
    dlg.close()
    # Undo takes the motion off again.
    window.undo_stack.undo()
    pump(0.1)
    assert item.motion is None


def test_corrupt_video_shows_error_and_window_survives(window, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    shown = []
    window.error_shown.connect(shown.append)
    window.motion_menu.capture_video_motion(bad)
    wait_until(lambda: shown, 60, what="the error message")
    assert "broken.mp4" in shown[-1] or "video" in shown[-1].lower()
    assert window.isVisible()
