"""The window asks core what a dropped file is (core/open.py): content decides, so a BVH saved as .txt
goes on the avatar and a nameless SPZ becomes splats; several bad files dropped at once are all named
in one message box, each once."""
from __future__ import annotations

import numpy as np
import pytest

from support import random_gaussians
from test_app_helpers import drop_files, pump, requires_display, wait_until, window_fixture

pytestmark = [requires_display, pytest.mark.gui]

window = window_fixture((1000, 700))


def _avatar_item(rng):
    from avatar_studio.core.avatar import Avatar, Rig
    from avatar_studio.core.scene import AvatarItem
    n = 200
    idx = rng.integers(0, 22, (n, 4)).astype(np.int32)
    w = rng.uniform(0.1, 1.0, (n, 4)).astype(np.float32)
    g = random_gaussians(n, rng)
    rig = Rig(idx, w / w.sum(1, keepdims=True))
    return AvatarItem(name="subject", avatar=Avatar(g.replace(means=g.means * 0.3), rig))


def test_content_decides_what_a_dropped_file_is(window, tmp_path, rng, body):
    from avatar_studio.core.io.formats import write_gaussians
    from avatar_studio.core.motion.export import save_bvh
    from support.motion import smooth_motion
    window.add_item(_avatar_item(rng))
    item = window.selected_avatar()
    bvh = save_bvh(smooth_motion(20), tmp_path / "wave.bvh", body)
    renamed = tmp_path / "wave.txt"
    renamed.write_bytes(bvh.read_bytes())
    spz = write_gaussians(tmp_path / "scene.spz", random_gaussians(60, rng))
    nameless = tmp_path / "download"
    nameless.write_bytes(spz.read_bytes())
    n = len(window.scene.items)
    window.last_error = ""
    drop_files(window, [renamed, nameless])
    wait_until(lambda: (item.motion is not None and len(window.scene.items) == n + 1) or window.last_error, 60,
               what="the motion and the splats")
    assert not window.last_error, window.last_error
    assert item.motion.num_frames == 20
    assert window.scene.items[-1].gaussians is not None and len(window.scene.items[-1].gaussians) == 60


def test_several_bad_files_are_each_named_once_in_one_box(window, tmp_path):
    from avatar_studio import RESOURCES_DIR
    bad = {"dance.npz": (RESOURCES_DIR / "icons" / "avatar-studio-64.png").read_bytes(), "notes.txt": b"words\n",
           "cut.avsproj": b"nope"}
    paths = []
    for name, data in bad.items():
        (tmp_path / name).write_bytes(data)
        paths.append(tmp_path / name)
    (tmp_path / "empty").mkdir()
    paths.append(tmp_path / "empty")
    window.last_error = ""
    drop_files(window, paths)
    wait_until(lambda: window._error_box is not None, 10, what="the error box")
    text = window._error_box.text()
    window._error_box.close()
    pump(0.05)
    assert text.startswith("4 problems"), text
    for name in (*bad, "empty"):
        assert text.count(name) == 1, (name, text)
    assert "name it .png" in text
