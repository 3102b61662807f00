"""4D Gaussian sequences in the real window: a PLY-folder sequence opens as a scene item, plays on
the timeline, and scrubbing switches frames in the viewport."""
from __future__ import annotations

import json

import numpy as np
import pytest

from support.app import requires_display, wait_until, window_fixture

pytestmark = [requires_display, pytest.mark.gui]


window = window_fixture((1000, 700))


def test_open_and_scrub_sequence(window, tmp_path, rng):
    from avatar_studio.core.gaussians import GaussianSet
    from avatar_studio.core.rotations import normalize_quats
    from avatar_studio.core.io.ply import write_ply
    folder = tmp_path / "blob_seq"
    folder.mkdir()
    n = 3000
    for f in range(8):  # a blob that moves left to right, with a different count every frame
        k = n + 100 * f
        means = rng.normal(size=(k, 3)) * 0.15 + [-0.6 + 0.17 * f, 0.0, 0.0]
        g = GaussianSet.from_rgb(means, normalize_quats(rng.normal(size=(k, 4))), np.full((k, 3), 0.03),
                                 np.full(k, 0.9), np.tile([0.8, 0.2, 0.1], (k, 1)))
        write_ply(folder / f"frame{f + 1:04d}.ply", g)
    (folder / "manifest.json").write_text(json.dumps({"fps": 8}))

    window.file_menu.open_file(folder)
    wait_until(lambda: any(i.sequence is not None for i in window.scene.items), 60, what="the sequence item")
    item = next(i for i in window.scene.items if i.sequence is not None)
    assert item.sequence.num_frames == 8 and window.scene.duration == pytest.approx(1.0)
    assert window.timeline.num_frames == 8
    window.viewport.frame_all()
    window.timeline.set_frame(0, emit=True)
    first = window.viewport.grab_rgb()
    window.timeline.set_frame(7, emit=True)
    assert window.scene.frame == 7
    last = window.viewport.grab_rgb()
    assert np.abs(last.astype(int) - first.astype(int)).mean() > 0.5, "scrubbing did not switch frames"
    # Scrubbing shows whole frames: frame 7 has its own Gaussian count, not an interpolation.
    assert len(window.scene.gaussians_at()) == n + 700
