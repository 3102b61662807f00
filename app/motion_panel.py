"""Motion panel: the motion issue's edit operations (trim, mirror, root lock, smoothing, per-joint key
overrides) on the selected avatar's motion. Each button emits `edit_requested(label, fn)` with a pure
`(Motion, BodyModel) -> Motion` function over `core.motion.edit`; the main window applies it to the
selected avatar's motion (with that avatar's body) as one undo step."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QSignalBlocker, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                               QPushButton, QSpinBox, QVBoxLayout, QWidget)

from .curves import JOINT_NAMES
from .icons import icon


def _edit():
    from ..core.motion import edit
    return edit


class MotionPanel(QWidget):
    """Signals: edit_requested(label, fn, keys) — keys is (joint, frame) for key overrides, else None."""

    edit_requested = Signal(str, object, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._item: Any = None
        self._trim = (0, 0)
        self._frame = lambda: 0
        self._floor = lambda: 0.0  # world height of the viewport's floor grid

        self.info = QLabel("No motion. Drop a motion file on the window.")
        self.info.setWordWrap(True)

        ops = QGroupBox("Whole clip")
        grid = QVBoxLayout(ops)
        self.trim_button = QPushButton(icon("trim"), "Trim to handles")
        self.trim_button.setToolTip("Keep only the frames between the timeline's trim handles")
        self.trim_button.clicked.connect(self._trim_clicked)
        self.mirror_button = QPushButton(icon("mirror"), "Mirror left ↔ right")
        self.mirror_button.setToolTip("Swap left and right and reflect the motion across the body's mid-plane")
        self.mirror_button.clicked.connect(
            lambda: self._emit("Mirror", lambda m, body: _edit().mirror(m, body)))
        lock_row = QHBoxLayout()
        self.lock_axes = QComboBox()
        for label, vertical in (("horizontal (walk in place)", False), ("horizontal and vertical", True)):
            self.lock_axes.addItem(label, vertical)
        self.lock_button = QPushButton(icon("lock"), "Lock root")
        self.lock_button.setToolTip("Hold the root translation still along the chosen axes")
        self.lock_button.clicked.connect(self._lock_clicked)
        lock_row.addWidget(self.lock_button)
        lock_row.addWidget(self.lock_axes, 1)
        smooth_row = QHBoxLayout()
        self.smooth_method = QComboBox()
        self.smooth_method.addItem("Savitzky–Golay", "savgol")
        self.smooth_method.addItem("One-Euro (keeps fast moves)", "one_euro")
        self.smooth_method.setToolTip("Savitzky–Golay: even smoothing. One-Euro: strong when still, little lag "
                                      "when fast (good for jittery video capture).")
        self.smooth_strength = QSpinBox()
        self.smooth_strength.setRange(1, 10)
        self.smooth_strength.setValue(3)
        self.smooth_strength.setToolTip("Smoothing strength (1 = light, 10 = strong)")
        self.smooth_button = QPushButton(icon("smooth"), "Smooth")
        self.smooth_button.setToolTip("Remove jitter from rotations and translation")
        self.smooth_button.clicked.connect(self._smooth_clicked)
        smooth_row.addWidget(self.smooth_button)
        smooth_row.addWidget(self.smooth_method, 1)
        smooth_row.addWidget(self.smooth_strength)
        self.ground_button = QPushButton("Feet on floor")
        self.ground_button.setToolTip("Move the clip up or down so the avatar's feet touch the floor grid")
        self.ground_button.clicked.connect(self._ground_clicked)
        for w in (self.trim_button, self.mirror_button):
            grid.addWidget(w)
        grid.addLayout(lock_row)
        grid.addLayout(smooth_row)
        grid.addWidget(self.ground_button)

        keys = QGroupBox("Key a joint at the current frame")
        form = QFormLayout(keys)
        self.joint_box = QComboBox()
        for i, name in enumerate(JOINT_NAMES):
            self.joint_box.addItem(f"{i:2d} {name}", i)
        self.joint_box.currentIndexChanged.connect(lambda _: self.refresh_key_values())
        form.addRow("Joint", self.joint_box)
        self.angle_boxes = []
        row = QHBoxLayout()
        for axis in "xyz":
            sb = QDoubleSpinBox()
            sb.setRange(-180, 180)
            sb.setDecimals(1)
            sb.setSingleStep(5)
            sb.setPrefix(f"{axis.upper()} ")
            sb.setSuffix("°")
            sb.setToolTip(f"Euler angle about the joint's local {axis.upper()} axis, in degrees; the rotation is "
                          "R = Rx · Ry · Rz (X applied last)")
            row.addWidget(sb)
            self.angle_boxes.append(sb)
        form.addRow("Rotation XYZ", row)
        blend = QHBoxLayout()
        self.falloff_box = QSpinBox()
        self.falloff_box.setRange(0, 300)
        self.falloff_box.setValue(10)
        self.falloff_box.setSuffix(" frames")
        self.falloff_box.setSpecialValueText("whole clip")
        self.falloff_box.setToolTip("The change fades out over this many frames on each side of the key "
                                    "(0: the same change over the whole clip)")
        blend.addWidget(self.falloff_box)
        blend.addStretch(1)
        form.addRow("Blend", blend)
        self.key_button = QPushButton(icon("key"), "Set key")
        self.key_button.setToolTip("Override the joint's rotation at the current frame (blended into its neighbours)")
        self.key_button.clicked.connect(self._key_clicked)
        form.addRow("", self.key_button)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.info)
        lay.addWidget(ops)
        lay.addWidget(keys)
        lay.addStretch(1)

    # ------------------------------------------------------------------ wiring from the window
    def set_frame_source(self, fn: Callable[[], int]) -> None:
        self._frame = fn

    def set_item(self, item: Any) -> None:
        self._item = item
        self.set_trim(*self._trim)
        m = item.motion if item is not None and item.avatar is not None else None
        if m is None:
            self.info.setText("No motion on the selected item. Drop a motion file on the window.")
        else:
            self.info.setText(f"<b>{m.name}</b>: {m.num_frames} frames at {m.fps:g} fps ({m.duration:.2f} s)")
        self.refresh_key_values()

    def set_trim(self, start: int, end: int) -> None:
        self._trim = (int(start), int(end))
        has_motion = self._item is not None and getattr(self._item, "motion", None) is not None
        self.trim_button.setText(f"Trim to frames {start}–{end}" if has_motion else "Trim to handles")

    def set_joints(self, joints: list[int]) -> None:
        """Follow the curve view's joint selection."""
        real = [j for j in joints if j >= 0]
        if real:
            with QSignalBlocker(self.joint_box):
                self.joint_box.setCurrentIndex(real[0])
            self.refresh_key_values()

    def refresh_key_values(self) -> None:
        """Show the joint's current rotation at the current frame (the starting point for a key)."""
        item = self._item
        if item is None or item.motion is None:
            return
        m = item.motion
        frame = int(np.clip(self._frame(), 0, m.num_frames - 1))
        from ..core.rotations import aa_to_rotmat, rotmat_to_euler_xyz
        aa = m.full_pose()[frame, self.joint_box.currentData()].astype(np.float64)
        for sb, v in zip(self.angle_boxes, rotmat_to_euler_xyz(aa_to_rotmat(aa))):
            with QSignalBlocker(sb):
                sb.setValue(float(v))

    def actions_for_menu(self, parent: QWidget) -> list[QAction]:
        out = []
        for text, button, icon_name in (("&Trim to Handles", self.trim_button, "trim"),
                                        ("&Mirror", self.mirror_button, "mirror"),
                                        ("&Lock Root", self.lock_button, "lock"),
                                        ("&Smooth", self.smooth_button, "smooth"),
                                        ("&Feet on Floor", self.ground_button, ""),
                                        ("Set &Key", self.key_button, "key")):
            act = QAction(icon(icon_name), text, parent)
            act.setToolTip(button.toolTip())
            act.triggered.connect(button.click)
            out.append(act)
        return out

    # ------------------------------------------------------------------ operations
    def _emit(self, label: str, fn: Callable[[Any, Any], Any], keys: tuple[int, int] | None = None) -> None:
        self.edit_requested.emit(label, fn, keys)

    def set_floor_source(self, fn: Callable[[], float]) -> None:
        """`fn()` gives the world height of the floor the feet should touch (the viewport's grid)."""
        self._floor = fn

    def _ground_clicked(self) -> None:
        item = self._item
        if item is None or item.avatar is None:
            return
        # The avatar's own lowest points go onto the grid the user sees: the floor in motion space undoes
        # the item's placement (x_w = s R x + t; yaw leaves heights alone).
        floor = (self._floor() - float(item.placement.translation[1])) / float(item.placement.scale)
        avatar = item.avatar

        def on_floor(m: Any, body: Any) -> Any:
            from ..core.motion.ground import avatar_feet_on_floor
            return avatar_feet_on_floor(m, avatar, body, floor)
        self._emit("Feet on floor", on_floor)

    def _trim_clicked(self) -> None:
        a, b = self._trim
        self._emit(f"Trim to frames {a}–{b}", lambda m, body: _edit().trim(m, a, b + 1))

    def _lock_clicked(self) -> None:
        vertical = bool(self.lock_axes.currentData())
        self._emit("Lock root" + (" (all axes)" if vertical else ""),
                   lambda m, body: _edit().lock_root(m, vertical=vertical))

    def _smooth_clicked(self) -> None:
        method, k = self.smooth_method.currentData(), self.smooth_strength.value()
        if method == "savgol":
            window = 2 * (k + 1) + 1  # 5 .. 23 frames
            self._emit(f"Smooth (Savitzky–Golay, {window} frames)",
                       lambda m, body: _edit().smooth_savgol(m, window=window, order=3 if window > 5 else 2))
        else:
            cutoff = float(4.0 / k)  # Hz at rest: 4 (light) .. 0.4 (strong)
            self._emit(f"Smooth (One-Euro, {cutoff:.2g} Hz)",
                       lambda m, body: _edit().smooth_one_euro(m, min_cutoff=cutoff))

    def _key_clicked(self) -> None:
        """Make the joint's rotation at the current frame the one typed in, blended over the falloff."""
        joint = int(self.joint_box.currentData())
        frame = int(self._frame())
        euler = np.array([sb.value() for sb in self.angle_boxes], np.float64)
        falloff = self.falloff_box.value() or None

        def key(m, body):
            from ..core.rotations import aa_to_rotmat, euler_to_rotmat, rotmat_to_aa
            edit = _edit()
            f = int(np.clip(frame, 0, m.num_frames - 1))
            current = aa_to_rotmat(m.full_pose()[f, joint].astype(np.float64))
            offset = rotmat_to_aa(euler_to_rotmat(euler, "XYZ") @ current.T)
            return edit.rotate_joint(m, joint, [edit.JointKey(float(f), tuple(float(v) for v in offset))], falloff)

        self._emit(f"Key {JOINT_NAMES[joint]} at frame {frame}", key, (joint, frame))
