"""The raster viewport (issue 23, item 8): a plain QWidget painting the CPU rasterizer's image, the
grid and the skeleton with QPainter, behind the same interface as the OpenGL viewport."""
from __future__ import annotations

import numpy as np
import pytest

from support import random_gaussians
from test_app_helpers import non_background_fraction, pump, requires_display, wait_until

pytestmark = [requires_display, pytest.mark.gui]


@pytest.fixture
def raster(tmp_path):
    """A shown RasterViewport on the CPU rasterizer, drawing a posed, rigged avatar."""
    from test_app_helpers import app
    from avatar_studio.core.avatar import Avatar, Rig
    from avatar_studio.core.render.rendering import probe_cpu
    from avatar_studio.core.scene import AvatarItem, Scene
    from avatar_studio.core.skinning import dense_to_sparse_weights
    from avatar_studio.app.viewport import RasterViewport
    app()
    if not probe_cpu()[0]:
        pytest.skip(f"the CPU rasterizer cannot run here: {probe_cpu()[1]}")
    scene = Scene()
    body = scene.body
    rng = np.random.default_rng(0)
    v, _ = body.shaped()
    sel = rng.choice(body.num_vertices, 3000, replace=False)
    g = random_gaussians(3000, rng).replace(means=v[sel])
    idx, w = dense_to_sparse_weights(body.weights[sel], 4)
    scene.add(AvatarItem("dancer", avatar=Avatar(g, Rig(idx, w))))
    vp = RasterViewport(renderer_name="cpu")
    vp.resize(480, 360)
    vp.show()
    wait_until(lambda: vp.windowHandle() is not None and vp.windowHandle().isExposed(), 10, what="the viewport")
    vp.set_scene(scene)
    vp.frame_all()
    pump(0.1)
    yield vp
    vp.close()
    vp.deleteLater()


def test_raster_viewport_draws_avatar_and_grid(raster):
    vp = raster
    assert vp.renderer_label == "cpu" and vp.ctx is None
    errors: list[str] = []
    vp.render_error.connect(errors.append)
    vp.set_show_grid(False)
    avatar = vp.grab_rgb()
    assert non_background_fraction(avatar, vp.background) > 0.03, "the avatar is not drawn"
    scene, vp.scene = vp.scene, None
    empty = vp.grab_rgb()
    assert non_background_fraction(empty, vp.background, tol=2) == 0.0, "only the background expected"
    vp.set_show_grid(True)
    grid = vp.grab_rgb()
    assert 0.003 < non_background_fraction(grid, vp.background, tol=8) < 0.5, "no ground grid drawn"
    vp.set_scene(scene)
    assert not errors, errors


def test_raster_viewport_orbit_and_skeleton_change_the_image(raster):
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest
    vp = raster
    before = vp.grab_rgb()
    assert non_background_fraction(before, vp.background) > 0.03
    c = QPoint(vp.width() // 2, vp.height() // 2)
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, c)
    QTest.mouseMove(vp, c + QPoint(120, 0))
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, c + QPoint(120, 0))
    wait_until(lambda: not vp._interacting, 5, what="the camera to settle")
    after = vp.grab_rgb()
    assert after.shape == before.shape
    assert np.mean(np.abs(after.astype(int) - before.astype(int)) > 30) > 0.01, "orbit did not change the image"
    vp.set_show_skeleton(True)
    with_skeleton = vp.grab_rgb()
    assert np.abs(with_skeleton.astype(int) - after.astype(int)).max() > 100, "no skeleton drawn"


def test_qt_bindings_do_not_leak_references_to_none():
    """PySide6 6.12.0 on Python 3.11 drops a reference to None on every void Qt call (QImage.fill,
    QWidget.update, QPainter.drawLine...); a viewport makes tens a frame, and the interpreter aborts
    once None's count reaches zero ("none_dealloc"). pyproject excludes that release; this guards it."""
    import sys
    from PySide6.QtGui import QImage
    img = QImage(4, 4, QImage.Format.Format_RGB32)
    before = sys.getrefcount(None)
    for _ in range(2000):
        img.fill(0)
    assert before - sys.getrefcount(None) < 100, "this PySide6 leaks references to None (use another release)"
