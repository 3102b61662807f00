"""Curve view: the rotation channels (axis-angle x, y, z in degrees) of the selected joints over the
motion, with the playhead. Clicking the plot moves the playhead; a key marker shows per-joint overrides.
"""
from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtWidgets import QAbstractItemView, QHBoxLayout, QListWidget, QListWidgetItem, QSplitter, QWidget

from ..core.body.joints import SMPLX_JOINT_NAMES
from .plots import PLAYBACK_REFRESH_S

JOINT_NAMES = tuple(n.removesuffix("_smplhf") for n in SMPLX_JOINT_NAMES)  # labels: left_eye, not left_eye_smplhf
CHANNEL_COLORS = ((235, 90, 80), (110, 200, 90), (80, 150, 255))  # x, y, z
ROOT_TRANSLATION = -1  # pseudo-joint id for the root translation curves


def unwrap_axis_angle(aa: np.ndarray) -> np.ndarray:
    """[T,3] axis-angle rotations made continuous for plotting: where a turn passes 180° the vector flips
    (+179° about +Y becomes 179° about -Y); each frame takes whichever of r and r·(1 - 2π/|r|), the same
    rotation, lies nearer the previous frame, so a yaw reads 179, 181, 183… rather than jumping to -177."""
    out = np.array(aa, np.float64)
    for t in range(1, len(out)):
        r = out[t]
        n = float(np.linalg.norm(r))
        if n < 1e-9:
            continue
        unit = r / n
        prev = out[t - 1]
        candidates = [r + unit * (2 * np.pi * k) for k in (-2, -1, 0, 1, 2)]  # the same rotation, all of them
        out[t] = min(candidates, key=lambda c: float(np.sum((c - prev) ** 2)))
    return out


class CurveView(QWidget):
    """Signals: frame_requested(int) when the user clicks the plot; joints_changed(list[int])."""

    frame_requested = Signal(int)
    joints_changed = Signal(list)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._motion = None
        self._keys: dict[int, list[int]] = {}
        self.joint_list = QListWidget(self)
        self.joint_list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.joint_list.setToolTip("Joints whose rotation channels are plotted (Ctrl/Shift to select several)")
        item = QListWidgetItem("root translation")
        item.setData(Qt.ItemDataRole.UserRole, ROOT_TRANSLATION)
        self.joint_list.addItem(item)
        for i, name in enumerate(JOINT_NAMES):
            item = QListWidgetItem(f"{i:2d} {name}")
            item.setData(Qt.ItemDataRole.UserRole, i)
            self.joint_list.addItem(item)
        self.joint_list.itemSelectionChanged.connect(self._on_selection)

        self.plot = self.playhead = self.legend = None
        self._frame = 0
        self._last_move = 0.0
        self._pending_move = QTimer(self)
        self._pending_move.setSingleShot(True)
        self._pending_move.timeout.connect(self._move_playhead)
        self._plot_slot = QWidget(self)
        self._plot_layout = QHBoxLayout(self._plot_slot)
        self._plot_layout.setContentsMargins(0, 0, 0, 0)

        split = QSplitter(Qt.Orientation.Horizontal, self)
        split.addWidget(self.joint_list)
        split.addWidget(self._plot_slot)
        split.setStretchFactor(1, 4)
        split.setSizes([160, 640])
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)
        self.select_joints([0])

    def build_plot(self) -> None:
        """Create the pyqtgraph plot (deferred until the window is on screen). Idempotent."""
        if self.plot is not None:
            return
        import pyqtgraph as pg
        from .plots import new_plot
        self.plot = new_plot(self._plot_slot)
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.plot.setLabel("bottom", "frame")
        self.plot.setLabel("left", "rotation (°)")
        self.plot.getViewBox().setMouseEnabled(x=True, y=False)
        self.legend = self.plot.addLegend(offset=(6, 6), labelTextSize="8pt")
        self.playhead = pg.InfiniteLine(pos=self._frame, angle=90, movable=False,
                                        pen=pg.mkPen(255, 90, 60, width=1.5))
        self.playhead.setZValue(10)
        self.plot.scene().sigMouseClicked.connect(self._on_clicked)
        self._plot_layout.addWidget(self.plot)
        self._redraw()

    # ------------------------------------------------------------------ API
    def selected_joints(self) -> list[int]:
        return [int(it.data(Qt.ItemDataRole.UserRole)) for it in self.joint_list.selectedItems()]

    def select_joints(self, joints: list[int]) -> None:
        with QSignalBlocker(self.joint_list):
            self.joint_list.clearSelection()
            for row in range(self.joint_list.count()):
                it = self.joint_list.item(row)
                if int(it.data(Qt.ItemDataRole.UserRole)) in joints:
                    it.setSelected(True)
        self._on_selection()

    def set_motion(self, motion, keys: dict[int, list[int]] | None = None) -> None:
        """Plot `motion` (a core Motion or None); `keys` maps joint -> key frames to mark."""
        self._motion = motion
        self._keys = keys or {}
        self.joint_list.setEnabled(motion is not None)  # nothing to choose from without a motion
        self._redraw()

    def set_frame(self, frame: int, throttle: bool = False) -> None:
        """Move the playhead. With `throttle` (during playback) it moves at most every
        `PLAYBACK_REFRESH_S`; the last frame asked for is always shown in the end."""
        self._frame = frame
        if self.playhead is None:
            return
        wait = self._last_move + PLAYBACK_REFRESH_S - time.perf_counter()
        if throttle and wait > 0:
            if not self._pending_move.isActive():
                self._pending_move.start(max(1, int(wait * 1000)))
            return
        self._pending_move.stop()
        self._move_playhead()

    def _move_playhead(self) -> None:
        self._last_move = time.perf_counter()
        self.playhead.setValue(self._frame)

    def curve_data(self) -> dict[str, np.ndarray]:
        """Name -> [T] values currently plotted (for tests)."""
        if self.plot is None:
            return {}
        return {item.name(): item.yData for item in self.plot.listDataItems() if item.name()}

    # ------------------------------------------------------------------ internals
    def _on_selection(self) -> None:
        self._redraw()
        self.joints_changed.emit(self.selected_joints())

    def _redraw(self) -> None:
        if self.plot is None:
            return
        import pyqtgraph as pg
        from .plots import cache_static_items
        self.plot.clear()
        self.legend.clear()
        self.plot.addItem(self.playhead)
        m = self._motion
        if m is None:
            self.plot.setXRange(0, 10)
            self.plot.setYRange(-90, 90)
            return
        frames = np.arange(m.num_frames)
        joints = self.selected_joints()
        styles = (Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine, Qt.PenStyle.DotLine, Qt.PenStyle.DashDotLine)
        fp = m.full_pose() if any(j >= 0 for j in joints) else None
        lo, hi = np.inf, -np.inf
        for n, j in enumerate(joints[:8]):
            if j == ROOT_TRANSLATION:
                values, label, scale = m.transl, "transl", 100.0  # cm, so it shares the axis scale
            else:
                values, label, scale = unwrap_axis_angle(fp[:, j]), JOINT_NAMES[j], 180.0 / np.pi
            lo, hi = min(lo, float(values[:, :3].min()) * scale), max(hi, float(values[:, :3].max()) * scale)
            for c, axis in enumerate("xyz"):
                pen = pg.mkPen(CHANNEL_COLORS[c], width=1.5, style=styles[n % len(styles)])
                self.plot.plot(frames, values[:, c] * scale, pen=pen, name=f"{label}.{axis}")
            for k in self._keys.get(j, []):
                if 0 <= k < m.num_frames:
                    marker = pg.ScatterPlotItem([k] * 3, list(values[k] * scale), symbol="d", size=8,
                                                brush=pg.mkBrush(255, 200, 60), pen=None)
                    self.plot.addItem(marker)
        rot, tr = any(j >= 0 for j in joints), ROOT_TRANSLATION in joints
        self.plot.setLabel("left", "rotation (°) · translation (cm)" if rot and tr
                           else "translation (cm)" if tr else "rotation (°)")
        self.plot.setXRange(0, max(m.num_frames - 1, 1), padding=0.01)
        # A fixed y range from the data: pyqtgraph's auto-range re-measures every item at each
        # repaint (the playhead moves every frame during playback).
        if np.isfinite(lo):
            self.plot.setYRange(lo, hi if hi > lo else lo + 1.0, padding=0.05)
        cache_static_items(self.plot)

    def _on_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self._motion is None:
            return
        x = self.plot.getViewBox().mapSceneToView(event.scenePos()).x()
        self.frame_requested.emit(int(np.clip(round(x), 0, self._motion.num_frames - 1)))
