"""Splat files in the window: recognised by content whatever their name (core's one detector), and
View ▸ Flip Upside Down turns a scene stored the other way up, undoably."""
from __future__ import annotations

import numpy as np
import pytest

from support import random_gaussians
from test_app_helpers import requires_display, wait_until, window_fixture

pytestmark = [requires_display, pytest.mark.gui]

window = window_fixture((1000, 700))


def test_a_splat_file_is_recognised_by_content(tmp_path, rng):
    from avatar_studio.core.errors import StudioError
    from avatar_studio.core.open import classify
    from avatar_studio.core.io.formats import write_gaussians
    g = random_gaussians(50, rng)
    spz = tmp_path / "scene.spz"
    write_gaussians(spz, g)
    nameless = tmp_path / "download"  # an SPZ saved without its extension
    nameless.write_bytes(spz.read_bytes())
    assert classify(nameless).kind == "splats"
    (tmp_path / "motion.npz").write_bytes(b"not a splat file")
    with pytest.raises(StudioError, match=r"motion\.npz is not a file Avatar Studio can read"):
        classify(tmp_path / "motion.npz")


def test_flip_upside_down_turns_the_selected_scene_and_undoes(window, rng):
    from avatar_studio.core.scene import SplatsItem
    g = random_gaussians(200, rng)
    g = g.replace(means=g.means + np.array([0.0, 1.0, 0.5], np.float32))
    item = SplatsItem(name="scene", gaussians=g)
    window.add_item(item)
    window.scene.select(item)
    assert window.view_menu.act_flip in window.menuBar().actions()[2].menu().actions()
    wait_until(lambda: window.view_menu.act_flip.isEnabled(), 30, what="the flip action to enable")
    before = item.gaussians.means.copy()
    window.view_menu.act_flip.trigger()
    after = item.gaussians.means
    assert np.allclose(after[:, 0], before[:, 0]) and np.allclose(after[:, 1:], -before[:, 1:], atol=1e-6)
    window.undo_stack.undo()
    assert np.allclose(item.gaussians.means, before, atol=1e-6)
