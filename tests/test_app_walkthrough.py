"""What a new user met in the window (issue 23), each as a real-Qt test that failed before its fix:
typed placement decimals, feet on the floor, turntable framing, the timeline, the docks, errors."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import random_gaussians
from test_app_helpers import pump, requires_display

pytestmark = [requires_display, pytest.mark.gui]


@pytest.fixture
def qt_app():
    from test_app_helpers import app
    return app()


def _splat_scene(n_items: int = 1):
    from avatar_studio.core.scene import Scene, SceneItem
    rng = np.random.default_rng(0)
    scene = Scene()
    for k in range(n_items):
        scene.add(SceneItem(f"splats {k}", gaussians=random_gaussians(20, rng)))
    return scene


def _type_into(box, text: str) -> None:
    """Click into a spin box, select its text and type `text` then Enter, key by key, as a person does."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    box.setFocus()
    box.selectAll()
    for ch in text:
        QTest.keyClick(box, ch)
        pump(0.01)
    QTest.keyClick(box, Qt.Key.Key_Return)
    pump(0.02)


def test_placement_fields_keep_typed_decimals_as_one_undo_step(qt_app):
    from PySide6.QtGui import QUndoStack
    from avatar_studio.app.scene_panel import ScenePanel
    stack = QUndoStack()
    panel = ScenePanel(stack)
    scene = _splat_scene()
    panel.set_scene(scene)
    panel.show()
    pump(0.05)
    item = scene.selected
    x, _, z = panel.pos_boxes
    _type_into(z, "0.75")
    _type_into(x, "-1.5")
    assert item.placement.translation[2] == pytest.approx(0.75)
    assert item.placement.translation[0] == pytest.approx(-1.5)
    assert z.value() == pytest.approx(0.75) and x.value() == pytest.approx(-1.5)
    assert stack.count() == 2, [stack.text(i) for i in range(stack.count())]  # one step per typed field
    stack.undo()
    assert item.placement.translation[0] == 0 and item.placement.translation[2] == pytest.approx(0.75)
    stack.undo()
    assert not np.any(item.placement.translation)
    # arrow steps on one field are one undo step too
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    y = panel.pos_boxes[1]
    y.setFocus()
    for _ in range(3):
        QTest.keyClick(y, Qt.Key.Key_Up)
    assert item.placement.translation[1] == pytest.approx(0.15)
    assert stack.index() == 1 and stack.count() == 1
    panel.close()
