"""Undoable changes to the scene model. Every edit the GUI makes to the scene goes through one of these
commands on the window's QUndoStack, so Edit ▸ Undo/Redo covers motion edits, placement and items.
Commands change the scene only through its methods (which bump revisions and emit the events).

Commands hold whole before/after values (motions are small: 55×3 floats a frame), which keeps undo exact.
"""
from __future__ import annotations

import copy
from typing import Any

from PySide6.QtGui import QUndoCommand

PLACEMENT_MERGE_ID = 1001


class MotionEdit(QUndoCommand):
    """Replace an avatar's motion (trim, mirror, smooth, root lock, key override, retime, new motion), and
    its key markers with it when given."""

    def __init__(self, scene: Any, item: Any, new_motion: Any, text: str, keys: dict | None = None) -> None:
        """`keys`: the item's key markers after the edit (None: unchanged; {}: cleared, a new motion)."""
        super().__init__(text)
        self.scene, self.item = scene, item
        self.old, self.new = item.motion, new_motion
        self.old_keys = {j: list(f) for j, f in item.keys.items()} if keys is not None else None
        self.new_keys = keys

    def redo(self) -> None:
        self.scene.set_motion(self.item, self.new, self.new_keys)

    def undo(self) -> None:
        self.scene.set_motion(self.item, self.old, self.old_keys)


class PlacementEdit(QUndoCommand):
    """Move/rotate/scale one item. Consecutive edits of the same item with the same non-empty `merge_key`
    merge (spin-box arrow steps of one field); a typed value is its own step."""

    def __init__(self, scene: Any, item: Any, translation=None, yaw_deg=None, scale=None,
                 text: str = "Move item", merge_key: str = "") -> None:
        super().__init__(text)
        self.scene, self.item, self.merge_key = scene, item, merge_key
        self.old = copy.deepcopy(item.placement)
        self.new = copy.deepcopy(item.placement)
        if translation is not None:
            self.new.translation = translation
        if yaw_deg is not None:
            self.new.yaw_deg = float(yaw_deg)
        if scale is not None:
            self.new.scale = float(scale)

    def id(self) -> int:
        return PLACEMENT_MERGE_ID

    def mergeWith(self, other: QUndoCommand) -> bool:
        if (not isinstance(other, PlacementEdit) or other.item is not self.item or not self.merge_key
                or other.merge_key != self.merge_key):
            return False
        self.new = other.new
        return True

    def _apply(self, placement) -> None:
        self.scene.set_placement(self.item, placement)

    def redo(self) -> None:
        self._apply(self.new)

    def undo(self) -> None:
        self._apply(self.old)


class SetVisible(QUndoCommand):
    def __init__(self, scene: Any, item: Any, visible: bool) -> None:
        super().__init__(("Show " if visible else "Hide ") + item.name)
        self.scene, self.item, self.visible = scene, item, visible

    def redo(self) -> None:
        self.scene.set_visible(self.item, self.visible)

    def undo(self) -> None:
        self.scene.set_visible(self.item, not self.visible)


class FlipUpsideDown(QUndoCommand):
    """Turn a splat item's Gaussians 180° about X (a scene stored the other way up). The turn is its own
    inverse, so undo turns it again."""

    def __init__(self, scene: Any, item: Any) -> None:
        super().__init__(f"Flip {item.name} upside down")
        self.scene, self.item = scene, item

    def redo(self) -> None:
        from ..core.io.orientation import flip_upside_down
        self.scene.set_gaussians(self.item, flip_upside_down(self.item.gaussians))

    undo = redo


class AddItem(QUndoCommand):
    def __init__(self, scene: Any, item: Any, text: str | None = None) -> None:
        super().__init__(text or f"Add {item.name}")
        self.scene, self.item = scene, item

    def redo(self) -> None:
        self.scene.add(self.item)

    def undo(self) -> None:
        self.scene.remove(self.item)


class RemoveItem(QUndoCommand):
    def __init__(self, scene: Any, item: Any) -> None:
        super().__init__(f"Remove {item.name}")
        self.scene, self.item = scene, item
        self.index = scene.index_of(item)

    def redo(self) -> None:
        self.index = self.scene.remove(self.item)

    def undo(self) -> None:
        self.scene.add(self.item, index=self.index)  # back where it was


class Rename(QUndoCommand):
    def __init__(self, scene: Any, item: Any, name: str) -> None:
        super().__init__(f"Rename {item.name}")
        self.scene, self.item, self.old = scene, item, item.name
        self.new = scene.unique_name(name, exclude=item)

    def redo(self) -> None:
        self.scene.rename(self.item, self.new)

    def undo(self) -> None:
        self.scene.rename(self.item, self.old)
