"""File ▸ Export GLB in the studio window: the action runs the export on a background job and the
file holds the avatar's mesh, splats and motion."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from test_app_helpers import requires_display, wait_until, window_fixture

pytestmark = [requires_display, pytest.mark.gui]

window = window_fixture()


def test_export_glb_from_the_window(window, body, tmp_path):
    import pygltflib
    from avatar_studio.core.avatar import Avatar, Rig
    from avatar_studio import SAMPLE_MOTION
    from avatar_studio.core.pipeline import load_motion_for_playback
    from avatar_studio.core.reconstruct.template.surface import sample_surface, interpolate, sparse_weights_at
    from avatar_studio.core.gaussians import GaussianSet
    from avatar_studio.core.scene import AvatarItem
    assert window.export_menu.act_export_glb in window.menuBar().actions()[0].menu().actions()
    rng = np.random.default_rng(3)
    verts, _ = body.shaped()
    face_idx, bary = sample_surface(verts, body.faces, 3000, rng)
    pts = interpolate(verts, body.faces, face_idx, bary)
    g = GaussianSet.from_rgb(pts, np.tile([1.0, 0, 0, 0], (len(pts), 1)), np.full((len(pts), 3), 0.02),
                             np.full(len(pts), 0.9), rng.uniform(0, 1, (len(pts), 3)))
    idx, w = sparse_weights_at(body.weights, body.faces, face_idx, bary)
    motion = load_motion_for_playback(SAMPLE_MOTION, body).frames(slice(0, 12))
    window.add_item(AvatarItem(name="dots", avatar=Avatar(g, Rig(idx, w)), motion=motion))
    wait_until(lambda: window.export_menu.act_export_glb.isEnabled(), 30, what="the GLB action to enable")
    done: list[str] = []
    window.job_finished.connect(done.append)
    out = tmp_path / "dots"  # the export adds .glb
    window.last_error = ""
    assert window.export_menu.run_glb_export(out) is not None
    wait_until(lambda: any("dots.glb" in t for t in done) or window.last_error, 120, what="the GLB export")
    assert not window.last_error, window.last_error
    doc = pygltflib.GLTF2().load_binary(str(Path(f"{out}.glb")))
    assert sorted(m.name for m in doc.meshes) == ["body", "gaussians"]
    assert len(doc.skins[0].joints) == 55 and len(doc.animations) == 1
