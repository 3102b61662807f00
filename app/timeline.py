"""The timeline: frame ruler with a playhead, transport (play/pause/loop, step, start/end), playback
fps and speed, and trim handles. Built on pyqtgraph.

It knows frames, not motions: the main window feeds it `set_range(num_frames, fps)` and listens to
`frame_changed`. Playback follows the wall clock (frames are dropped, never slowed down, when the
viewport cannot keep up).
"""
from __future__ import annotations

import time

from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QSizePolicy, QSpinBox,
                               QToolButton, QVBoxLayout, QWidget)

from .icons import icon
from .plots import PLAYBACK_REFRESH_S

SPEEDS = (0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 4.0)


class Timeline(QWidget):
    """Signals: frame_changed(int) for every playhead move (scrub, step, playback),
    trim_changed(int, int) when a trim handle is released, playing_changed(bool), fps_changed(float)."""

    frame_changed = Signal(int)
    trim_changed = Signal(int, int)
    playing_changed = Signal(bool)
    fps_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.num_frames = 1
        self.fps = 30.0
        self.frame = 0
        self._trim = (0, 0)
        self._play_start_wall = 0.0
        self._play_start_frame = 0
        self._labels_time = 0.0
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)

        # transport -----------------------------------------------------
        def button(name: str, tip: str, slot, checkable: bool = False) -> QToolButton:
            b = QToolButton(self)
            b.setIcon(icon(name))
            b.setToolTip(tip)
            b.setAutoRaise(True)
            b.setCheckable(checkable)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keep Space/arrows for the window shortcuts
            (b.toggled if checkable else b.clicked).connect(slot)
            return b

        self.start_button = button("skip-start", "Go to start (Home)", self.go_start)
        self.prev_button = button("step-back", "Previous frame (←)", lambda: self.step(-1))
        self.play_button = button("play", "Play / pause (Space)", self.toggle_play)
        self.next_button = button("step-forward", "Next frame (→)", lambda: self.step(1))
        self.end_button = button("skip-end", "Go to end (End)", self.go_end)
        self.loop_button = button("loop", "Loop playback", lambda on: None, checkable=True)
        self.loop_button.setChecked(True)

        self.frame_box = QSpinBox(self)
        self.frame_box.setToolTip("Current frame")
        self.frame_box.setKeyboardTracking(False)
        self.frame_box.valueChanged.connect(lambda v: self.set_frame(v, emit=True))
        self.time_label = QLabel("0.00 s / 0.00 s", self)
        # A fixed width: a label whose size hint changes with every frame's digits re-lays out the
        # bar each frame, and on a GL-composed window that costs ~10 ms of CPU per frame.
        self.time_label.setFixedWidth(self.time_label.fontMetrics().horizontalAdvance("0000.00 s / 0000.00 s") + 8)
        self.time_label.setToolTip("Current time / duration")

        self.fps_box = QDoubleSpinBox(self)
        self.fps_box.setRange(1.0, 240.0)
        self.fps_box.setDecimals(2)
        self.fps_box.setSuffix(" fps")
        self.fps_box.setValue(self.fps)
        self.fps_box.setKeyboardTracking(False)
        self.fps_box.setToolTip("Frame rate of the selected motion (changing it retimes the motion)")
        self.fps_box.valueChanged.connect(self._on_fps_box)

        self.speed_box = QComboBox(self)
        for s in SPEEDS:
            self.speed_box.addItem(f"{s:g}×", s)
        self.speed_box.setCurrentIndex(SPEEDS.index(1.0))
        self.speed_box.setToolTip("Playback speed")
        self.speed_box.currentIndexChanged.connect(lambda _: self._restart_clock())

        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 0)
        bar.setSpacing(2)
        for w in (self.start_button, self.prev_button, self.play_button, self.next_button, self.end_button,
                  self.loop_button):
            bar.addWidget(w)
        bar.addSpacing(8)
        bar.addWidget(QLabel("Frame", self))
        bar.addWidget(self.frame_box)
        bar.addWidget(self.time_label)
        bar.addStretch(1)
        bar.addWidget(QLabel("Speed", self))
        bar.addWidget(self.speed_box)
        bar.addWidget(self.fps_box)

        # ruler: pyqtgraph loads after the window is on screen (`build_ruler`) --------------
        self.plot = self.playhead = self.region = None
        self._ruler_slot = QWidget(self)
        self._ruler_slot.setFixedHeight(64)
        self._ruler_layout = QVBoxLayout(self._ruler_slot)
        self._ruler_layout.setContentsMargins(0, 0, 0, 0)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addLayout(bar)
        lay.addWidget(self._ruler_slot)
        self.set_range(1, 30.0)

    def build_ruler(self) -> None:
        """Create the pyqtgraph ruler (playhead, trim handles). Idempotent."""
        if self.plot is not None:
            return
        import pyqtgraph as pg
        from .plots import cache_static_items, new_plot
        self.plot = new_plot(self._ruler_slot)
        self.plot.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.plot.setFixedHeight(64)
        self.plot.hideAxis("left")
        self.plot.hideButtons()
        self.plot.getAxis("bottom").setLabel("frame")
        vb = self.plot.getViewBox()
        vb.setMouseEnabled(x=False, y=False)
        vb.setYRange(0, 1, padding=0)
        self.region = _trim_region_class()(values=(0, 0), movable=True, swapMode="block",
                                           brush=pg.mkBrush(80, 140, 255, 40),
                                           pen=pg.mkPen(80, 140, 255, 200, width=3))
        self.region.scrub = self._scrub_to_scene_pos
        self.region.setToolTip("Trim handles: drag a handle to choose the playback/export range (Shift+drag "
                               "inside moves it); Motion ▸ Trim applies it")
        self.region.sigRegionChangeFinished.connect(self._on_region_finished)
        self.region.sigRegionChanged.connect(self._on_region_dragged)
        self.plot.addItem(self.region)
        self.playhead = pg.InfiniteLine(pos=0, angle=90, movable=True, pen=pg.mkPen(255, 90, 60, width=2),
                                        hoverPen=pg.mkPen(255, 160, 120, width=3))
        self.playhead.setZValue(10)
        self.playhead.sigPositionChanged.connect(self._on_playhead_dragged)
        self.plot.addItem(self.playhead)
        self.plot.scene().sigMouseClicked.connect(self._on_ruler_clicked)
        self.plot.setToolTip("Click or drag to scrub")
        self._ruler_layout.addWidget(self.plot)
        cache_static_items(self.plot)
        self._sync_ruler()

    def _sync_ruler(self) -> None:
        if self.plot is None:
            return
        last = self.num_frames - 1
        # Limits first: the old ones (a shorter clip, a still scene) would clamp the new range.
        self.plot.getViewBox().setLimits(xMin=-1, xMax=max(last, 10) + 1)
        self.plot.setXRange(0, max(last, 10), padding=0.02)  # at least 10 frames: whole-number ticks
        self.playhead.setBounds((0, last))
        self.region.setBounds((0, last))
        with QSignalBlocker(self.region):
            self.region.setRegion(self._trim)
        with QSignalBlocker(self.playhead):
            self.playhead.setValue(self.frame)

    # ------------------------------------------------------------------ model
    def set_range(self, num_frames: int, fps: float, keep_trim: bool = False) -> None:
        """Show frames 0..num_frames-1 at `fps`; the trim region resets to the whole range."""
        self.num_frames = max(1, int(num_frames))
        self.fps = float(fps)
        last = self.num_frames - 1
        with QSignalBlocker(self.frame_box), QSignalBlocker(self.fps_box):
            self.frame_box.setRange(0, last)
            self.fps_box.setValue(self.fps)
        if not keep_trim or self._trim[1] > last:
            self._trim = (0, last)
        self.frame = min(self.frame, last)
        for w in (self.start_button, self.prev_button, self.play_button, self.next_button, self.end_button,
                  self.frame_box):
            w.setEnabled(last > 0)
        self._sync_ruler()
        self.set_frame(self.frame)

    def set_trim(self, start: int, end: int) -> None:
        start, end = sorted((int(start), int(end)))
        start, end = max(0, start), min(self.num_frames - 1, end)
        self._trim = (start, end)
        if self.region is not None:
            with QSignalBlocker(self.region):
                self.region.setRegion((start, end))

    def trim_range(self) -> tuple[int, int]:
        """(first, last) frame of the trim region, inclusive."""
        return self._trim

    def set_frame(self, frame: int, emit: bool = False, *, restart_clock: bool = True) -> None:
        """Show `frame`; `emit` also tells listeners. During playback a move made with `emit` (a
        user scrubbing) continues playback from there, unless `restart_clock` is False (the
        playback clock's own ticks: restarting at each would drop the time since the last tick)."""
        frame = int(min(max(int(frame), 0), self.num_frames - 1))
        changed = frame != self.frame
        self.frame = frame
        if self.playhead is not None:
            with QSignalBlocker(self.playhead):
                self.playhead.setValue(frame)
        # While playing, the frame box and time label follow at most every PLAYBACK_REFRESH_S
        # (pause() shows the final frame).
        if not self.is_playing or time.perf_counter() - self._labels_time >= PLAYBACK_REFRESH_S:
            self._update_labels()
        if emit and changed:
            self.frame_changed.emit(frame)
        if self.is_playing and emit and restart_clock:  # a manual move during playback continues from there
            self._restart_clock()

    # ------------------------------------------------------------------ transport
    @property
    def is_playing(self) -> bool:
        return self._timer.isActive()

    @property
    def loop(self) -> bool:
        return self.loop_button.isChecked()

    @loop.setter
    def loop(self, on: bool) -> None:
        self.loop_button.setChecked(on)

    @property
    def speed(self) -> float:
        return float(self.speed_box.currentData())

    def play(self) -> None:
        if self.is_playing or self.num_frames <= 1:
            return
        start, end = self._trim
        if self.frame >= end or self.frame < start:
            self.set_frame(start, emit=True)
        self._restart_clock()
        self._timer.start(max(1, int(1000 / (self.fps * self.speed) / 2)))
        self.play_button.setIcon(icon("pause"))
        self.playing_changed.emit(True)

    def _update_labels(self) -> None:
        self._labels_time = time.perf_counter()
        with QSignalBlocker(self.frame_box):
            self.frame_box.setValue(self.frame)
        self.time_label.setText(f"{self.frame / self.fps:.2f} s / {self.num_frames / self.fps:.2f} s")

    def pause(self) -> None:
        if not self.is_playing:
            return
        self._timer.stop()
        self._update_labels()
        self.play_button.setIcon(icon("play"))
        self.playing_changed.emit(False)

    def toggle_play(self) -> None:
        self.pause() if self.is_playing else self.play()

    def step(self, n: int) -> None:
        self.pause()
        self.set_frame(self.frame + n, emit=True)

    def go_start(self) -> None:
        self.pause()
        self.set_frame(self._trim[0] if self.frame > self._trim[0] else 0, emit=True)

    def go_end(self) -> None:
        self.pause()
        self.set_frame(self._trim[1] if self.frame < self._trim[1] else self.num_frames - 1, emit=True)

    def _restart_clock(self) -> None:
        self._play_start_wall = time.perf_counter()
        self._play_start_frame = self.frame
        if self.is_playing:
            self._timer.setInterval(max(1, int(1000 / (self.fps * self.speed) / 2)))

    def _tick(self) -> None:
        start, end = self._trim
        elapsed = time.perf_counter() - self._play_start_wall
        frame = self._play_start_frame + int(elapsed * self.fps * self.speed)
        if frame > end:
            if self.loop and end > start:   # wrap; the clock runs on, so no time is lost at the seam
                frame = start + (frame - start) % (end - start + 1)
            else:
                self.set_frame(end, emit=True)
                self.pause()
                return
        if frame != self.frame:
            self.set_frame(frame, emit=True, restart_clock=False)

    # ------------------------------------------------------------------ mouse
    def _on_playhead_dragged(self) -> None:
        self.set_frame(int(round(self.playhead.value())), emit=True)

    def _on_ruler_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        self._scrub_to_scene_pos(event.scenePos())

    def _scrub_to_scene_pos(self, scene_pos) -> None:
        x = self.plot.getViewBox().mapSceneToView(scene_pos).x()
        self.set_frame(int(round(x)), emit=True)

    def _on_region_dragged(self) -> None:
        a, b = self.region.getRegion()
        with QSignalBlocker(self.region):
            self.region.setRegion((round(a), round(b)))

    def _on_region_finished(self) -> None:
        a, b = self.region.getRegion()
        self.set_trim(int(round(a)), int(round(b)))
        self.trim_changed.emit(*self._trim)

    def _on_fps_box(self, value: float) -> None:
        if abs(value - self.fps) > 1e-6:
            self.fps = float(value)
            self._restart_clock()
            self.fps_changed.emit(self.fps)


_TRIM_REGION = None


def _trim_region_class():
    """A pyqtgraph LinearRegionItem whose inside scrubs on a plain drag (as the rest of the ruler does) and
    moves the range only with Shift; its handles still drag the range's ends. Built on first use, so
    pyqtgraph loads after the window is on screen."""
    global _TRIM_REGION
    if _TRIM_REGION is None:
        import pyqtgraph as pg

        class TrimRegion(pg.LinearRegionItem):
            scrub = None  # callable(scene_pos), set by the timeline

            def mouseDragEvent(self, ev) -> None:  # noqa: N802 - Qt/pyqtgraph naming
                if ev.modifiers() & Qt.KeyboardModifier.ShiftModifier or self.scrub is None:
                    super().mouseDragEvent(ev)
                    return
                if ev.button() != Qt.MouseButton.LeftButton:
                    ev.ignore()
                    return
                ev.accept()
                self.scrub(ev.scenePos())
        _TRIM_REGION = TrimRegion
    return _TRIM_REGION
