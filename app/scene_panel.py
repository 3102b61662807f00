"""Scene panel: the list of avatars/splats/sequences in the scene (visibility, name, motion) and the
selected item's placement (translation, yaw, scale). Edits go through the undo stack."""
from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QRect, QSignalBlocker, Qt, Signal
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import (QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QListWidget,
                               QListWidgetItem, QPushButton, QVBoxLayout, QWidget)

from .icons import icon
from .undo import PlacementEdit, RemoveItem, Rename, SetVisible



class _FieldBox(QDoubleSpinBox):
    """A placement field that commits on Enter or focus loss (not per keystroke, which mangled typed
    decimals) and remembers whether the last change was an arrow/wheel step, so steps merge in undo."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setKeyboardTracking(False)
        self.stepping = False

    def stepBy(self, steps: int) -> None:
        self.stepping = True
        try:
            super().stepBy(steps)
        finally:
            self.stepping = False


class ScenePanel(QWidget):
    """Signals: load_motion_requested() (the main window opens a file dialog), add_requested()."""

    load_motion_requested = Signal()
    add_requested = Signal()

    def __init__(self, undo_stack: QUndoStack, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.scene: Any = None
        self.undo_stack = undo_stack

        self.list = QListWidget(self)
        self.list.setToolTip("Items in the scene. Click the eye to show or hide, double-click to rename.")
        self.list.currentRowChanged.connect(self._on_row)
        self.list.itemChanged.connect(self._on_item_changed)
        # An eye toggle (as Blender and SuperSplat have): a Fusion checkbox left unticked drew nothing
        # on the dark palette, so a hidden item looked like it had no control at all.
        self.list.viewport().installEventFilter(self)

        add = QPushButton(icon("add"), "Add…", self)
        add.setToolTip("Add a photo, avatar, splat file or sequence to the scene")
        add.clicked.connect(self.add_requested)
        self.remove_button = QPushButton(icon("remove"), "Remove", self)
        self.remove_button.setToolTip("Remove the selected item from the scene")
        self.remove_button.clicked.connect(self._remove)
        self.motion_button = QPushButton(icon("curve"), "Motion…", self)
        self.motion_button.setToolTip("Load a motion file or folder onto the selected avatar")
        self.motion_button.clicked.connect(self.load_motion_requested)
        buttons = QHBoxLayout()
        for b in (add, self.remove_button, self.motion_button):
            buttons.addWidget(b)

        self.info = QLabel(self)
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        box = QGroupBox("Placement", self)
        form = QFormLayout(box)
        self.pos_boxes = []
        for axis in "XYZ":
            sb = _FieldBox(box)
            sb.setRange(-100, 100)
            sb.setDecimals(3)
            sb.setSingleStep(0.05)
            sb.setSuffix(" m")
            sb.setToolTip(f"World {axis} offset of the selected item")
            sb.valueChanged.connect(lambda _v, b=sb: self._on_placement(b))
            form.addRow(f"{axis}", sb)
            self.pos_boxes.append(sb)
        self.yaw_box = _FieldBox(box)
        self.yaw_box.setRange(-360, 360)
        self.yaw_box.setSingleStep(5)
        self.yaw_box.setSuffix(" °")
        self.yaw_box.setWrapping(True)
        self.yaw_box.setToolTip("Rotation about the vertical axis")
        self.yaw_box.valueChanged.connect(lambda _v: self._on_placement(self.yaw_box))
        form.addRow("Yaw", self.yaw_box)
        self.scale_box = _FieldBox(box)
        self.scale_box.setRange(0.01, 100)
        self.scale_box.setDecimals(3)
        self.scale_box.setSingleStep(0.05)
        self.scale_box.setValue(1.0)
        self.scale_box.setToolTip("Uniform scale")
        self.scale_box.valueChanged.connect(lambda _v: self._on_placement(self.scale_box))
        form.addRow("Scale", self.scale_box)
        self.placement_box = box

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.list, 1)
        lay.addLayout(buttons)
        lay.addWidget(self.info)
        lay.addWidget(box)
        self.refresh()

    def set_scene(self, scene: Any) -> None:
        self.scene = scene
        scene.events.connect(self._on_scene_event)
        self.refresh()

    # ------------------------------------------------------------------ scene -> widgets
    def _on_scene_event(self, name: str, payload: Any) -> None:
        if name in ("items", "item", "selection"):
            self.refresh()

    def refresh(self) -> None:
        if self.scene is None:
            self._show_selected()
            return
        with QSignalBlocker(self.list):
            self.list.clear()
            for item in self.scene.items:
                it = QListWidgetItem(icon("eye" if item.visible else "eye-off"), self._label(item))
                it.setFlags(it.flags() | Qt.ItemFlag.ItemIsEditable)
                it.setData(Qt.ItemDataRole.UserRole, item.uid)
                it.setData(Qt.ItemDataRole.EditRole, item.name)
                it.setToolTip(self._tooltip(item))
                self.list.addItem(it)
            sel = self.scene.selected
            self.list.setCurrentRow(self.scene.index_of(sel) if sel is not None else -1)
        self._show_selected()

    @staticmethod
    def _label(item: Any) -> str:
        return item.name

    @staticmethod
    def _tooltip(item: Any) -> str:
        if item.kind == "avatar":
            n = len(item.avatar.gaussians)
            m = (f"motion '{item.motion.name}' ({item.motion.num_frames} frames)" if item.motion is not None
                 else "no motion")
            return f"Avatar, {n:,} Gaussians, {m}"
        if item.kind == "sequence":
            return f"Gaussian sequence, {item.sequence.num_frames} frames"
        return f"Static splats, {len(item.gaussians):,} Gaussians"

    def _show_selected(self) -> None:
        item = self.scene.selected if self.scene is not None else None
        has = item is not None
        self.placement_box.setEnabled(has)
        self.remove_button.setEnabled(has)
        self.motion_button.setEnabled(has and item.kind == "avatar")
        self.info.setText(self._tooltip(item) if has else "Drop a photo, avatar, PLY or motion on the viewport.")
        boxes = [*self.pos_boxes, self.yaw_box, self.scale_box]
        blockers = [QSignalBlocker(b) for b in boxes]
        if has:
            p = item.placement
            for sb, v in zip(self.pos_boxes, np.asarray(p.translation, float)):
                sb.setValue(float(v))
            self.yaw_box.setValue(float(p.yaw_deg))
            self.scale_box.setValue(float(p.scale))
        del blockers

    # ------------------------------------------------------------------ widgets -> undo stack
    def _item_for_row(self, row: int) -> Any:
        if self.scene is None:
            return None
        return self.scene.items[row] if 0 <= row < len(self.scene.items) else None

    def _on_row(self, row: int) -> None:
        item = self._item_for_row(row)
        if item is not self.scene.selected:
            self.scene.select(item)

    def eye_rect(self, row: int) -> QRect:
        """Where row `row`'s eye toggle is drawn, in the list viewport's coordinates."""
        r = self.list.visualItemRect(self.list.item(row))
        side = self.list.iconSize().height() if self.list.iconSize().isValid() else 16
        return QRect(r.left(), r.top(), side + 8, r.height())

    def eventFilter(self, obj: Any, event: Any) -> bool:  # noqa: N802 - Qt naming
        if (obj is self.list.viewport() and event.type() == QEvent.Type.MouseButtonPress
                and event.button() == Qt.MouseButton.LeftButton):
            pos = event.position().toPoint()
            it = self.list.itemAt(pos)
            row = self.list.row(it) if it is not None else -1
            item = self._item_for_row(row)
            if item is not None and self.eye_rect(row).contains(pos):
                self.undo_stack.push(SetVisible(self.scene, item, not item.visible))
                return True  # the eye toggles; it does not select
        return super().eventFilter(obj, event)

    def _on_item_changed(self, it: QListWidgetItem) -> None:
        item = self._item_for_row(self.list.row(it))
        if item is None:
            return
        # Read first: a push refreshes the list, which deletes `it`.
        name = str(it.data(Qt.ItemDataRole.EditRole)).strip()
        if name and name != item.name:
            self.undo_stack.push(Rename(self.scene, item, name))

    def _on_placement(self, box: _FieldBox) -> None:
        item = self.scene.selected if self.scene is not None else None
        if item is None:
            return
        t = np.array([sb.value() for sb in self.pos_boxes], np.float32)
        merge_key = f"{item.uid}:{id(box)}" if box.stepping else ""
        self.undo_stack.push(PlacementEdit(self.scene, item, translation=t, yaw_deg=self.yaw_box.value(),
                                           scale=self.scale_box.value(), text=f"Move {item.name}",
                                           merge_key=merge_key))

    def _remove(self) -> None:
        if self.scene is not None and self.scene.selected is not None:
            self.undo_stack.push(RemoveItem(self.scene, self.scene.selected))
