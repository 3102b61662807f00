"""The studio window: layout, docks and wiring; the actions live in app/menus/ (one module per menu) and
every decision about files, exports and the scene is core's.

Layout: the viewport over the timeline in the centre; docks for the scene list (left), motion editing
(right) and the joint curves (bottom); menus, a toolbar and a status bar with the progress of the
current background job and its Cancel button.

Data flow: widgets never change the model directly except through undo commands (`undo.py`) or the
scene's own setters (time, selection); the window listens to `Scene.events` and refreshes the views.
Heavy modules (torch, smplx, the body model) load on a worker thread right after the window shows;
files opened before that are queued.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QByteArray, Qt, QThread, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QUndoStack
from PySide6.QtWidgets import QApplication, QDockWidget, QLabel, QMainWindow, QMessageBox, QSplitter, QWidget

from .autosave import Autosave
from .drop import FileDropMixin
from .icons import icon
from .jobs import JobManager, StatusJobs
from .menus import make_action
from .menus.edit import EditMenu
from .menus.export import ExportMenu
from .menus.file import FileMenu
from .menus.help import HelpMenu
from .menus.motion import MotionMenu
from .menus.playback import PlaybackMenu
from .menus.view import ViewMenu
from .messages import APP_NAME, MessagesMixin
from .settings import StudioSettings, check_smplx_dir
from .startup import CpuRendererProbe, Warmup, initial_size, limit_torch_threads


class MainWindow(MessagesMixin, FileDropMixin, QMainWindow):
    """Signals: core_ready(); first_frame() when the viewport has drawn (the window is on screen);
    item_added(object) after a photo/file became a scene item;
    job_finished(str) with the job title; error_shown(str). Messages and file drops: the mixins."""

    core_ready = Signal()
    first_frame = Signal()
    item_added = Signal(object)
    job_finished = Signal(str)
    error_shown = Signal(str)

    def __init__(self, settings: StudioSettings | None = None, *, autosave_dir: str | Path | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings or StudioSettings()
        self.setWindowTitle(APP_NAME)
        self.setWindowIcon(icon("avatar-studio"))
        self.setAcceptDrops(True)
        self.resize(*initial_size(self.screen().availableGeometry().size() if self.screen() else None))
        self.undo_stack = QUndoStack(self)
        self.undo_stack.cleanChanged.connect(self.update_title)
        self.undo_stack.indexChanged.connect(self.update_title)
        self.jobs = JobManager(self)
        self.scene: Any = None
        self.is_core_ready = False
        self.core_error = ""
        self._pending: list[Callable[[], None]] = []
        self.pending_motion: Any = None  # a motion opened before any avatar: the next avatar gets it
        self.first_item_framed = False
        self.project_path: Path | None = None
        self.prompt_on_close = True
        # Reconstruct in a child process (`python -m ...process_worker`), except in a frozen build (its
        # executable is the studio itself) or when AVATAR_STUDIO_INPROCESS=1.
        self.use_process_worker = (os.environ.get("AVATAR_STUDIO_INPROCESS") != "1"
                                   and not getattr(sys, "frozen", False))
        self.process_worker: Any = None
        self._bounds_cache: tuple | None = None
        self._ground_key: tuple | None = None
        self.autosave = Autosave(self, autosave_dir)

        self._build_widgets()
        self.status_jobs = StatusJobs(self.jobs, self.statusBar(), self.show_error)
        self.status_jobs.job_done.connect(lambda job: self.job_finished.emit(job.title))
        self.file_menu, self.edit_menu, self.view_menu = FileMenu(self), EditMenu(self), ViewMenu(self)
        self.playback_menu, self.motion_menu = PlaybackMenu(self), MotionMenu(self)
        self.export_menu, self.help_menu = ExportMenu(self), HelpMenu(self)
        self.motion_panel.edit_requested.connect(self.motion_menu.apply_motion_edit)
        self.scene_panel.add_requested.connect(self.file_menu.open_dialog)
        self.scene_panel.load_motion_requested.connect(self.file_menu.load_motion_dialog)
        self._build_menus_and_toolbar()
        self._build_status_bar()
        self._restore_window_state()
        self.autosave.apply_interval()
        self._update_enabled()
        QTimer.singleShot(0, self._start_core)

    # ================================================================== construction
    def _build_widgets(self) -> None:
        from .curves import CurveView
        from .motion_panel import MotionPanel
        from .scene_panel import ScenePanel
        from .timeline import Timeline
        from .viewport import create_viewport

        self.viewport = create_viewport(self, renderer_name=self.settings.renderer)
        self.viewport.set_background(self.settings.background)
        self.viewport.set_show_grid(self.settings.show_grid)
        self.viewport.set_show_skeleton(self.settings.show_skeleton)
        self.viewport.notice = lambda msg: self.statusBar().showMessage(msg, 8000)
        self.viewport.render_error.connect(lambda msg: self.show_error(msg, title="Viewport"))
        self.viewport.renderer_changed.connect(self.show_renderer)
        self.viewport.fps_changed.connect(self._on_first_frame)
        self.timeline = Timeline(self)
        self.timeline.frame_changed.connect(self._on_timeline_frame)
        self.timeline.fps_changed.connect(self._on_timeline_fps)
        self.timeline.trim_changed.connect(lambda a, b: self.motion_panel.set_trim(a, b))
        self.timeline.playing_changed.connect(self._on_playing)
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(self.viewport)
        split.addWidget(self.timeline)
        split.setStretchFactor(0, 1)
        split.setCollapsible(0, False)
        split.setCollapsible(1, False)
        self.setCentralWidget(split)

        self.scene_panel = ScenePanel(self.undo_stack, self)
        self.scene_dock = self._dock("Scene", self.scene_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.motion_panel = MotionPanel(self)
        self.motion_panel.set_frame_source(lambda: self.timeline.frame)
        self.motion_panel.set_floor_source(lambda: self.viewport.ground_y)
        self.motion_dock = self._dock("Motion", self.motion_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self.curves = CurveView(self)
        self.curves.frame_requested.connect(lambda f: self.timeline.set_frame(f, emit=True))
        self.curves.joints_changed.connect(self.motion_panel.set_joints)
        # The side docks own the bottom corners, so the curves sit under the viewport, not under everything.
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self.curves_dock = self._dock("Curves", self.curves, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.resizeDocks([self.curves_dock], [170], Qt.Orientation.Vertical)
        # Open only while the selected avatar has a motion (the viewport gets the room otherwise), unless
        # the user closed it: then it stays closed until they open it again from the View menu.
        self._curves_user_closed = False
        self._curves_auto = False
        self.curves_dock.visibilityChanged.connect(self._on_curves_visibility)
        self.curves_dock.hide()
        self.resizeDocks([self.scene_dock, self.motion_dock], [250, 290], Qt.Orientation.Horizontal)

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{title.lower()}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_menus_and_toolbar(self) -> None:
        mb = self.menuBar()
        self.file_menu.fill(mb.addMenu("&File"), self.export_menu.actions)
        self.edit_menu.fill(mb.addMenu("&Edit"))
        self.view_menu.fill(mb.addMenu("&View"), [self.scene_dock, self.motion_dock, self.curves_dock])
        self.playback_menu.fill(mb.addMenu("&Playback"))
        self.motion_menu.fill(mb.addMenu("&Motion"))
        self.help_menu.fill(mb.addMenu("&Help"))
        f, e, v = self.file_menu, self.edit_menu, self.view_menu
        tb = self.addToolBar("Main")
        tb.setObjectName("toolbar_main")
        tb.setMovable(False)
        for act in (f.act_open, f.act_open_photo, f.act_load_motion, f.act_save, self.export_menu.act_export_video,
                    None, e.act_undo, e.act_redo, None, v.act_frame):
            tb.addAction(act) if act is not None else tb.addSeparator()
        for name, act in (("Front", v.act_front), ("Side", v.act_side), ("Back", v.act_back)):
            act.setIconText(name)
            tb.addAction(act)
        for act in (v.act_grid, v.act_skeleton, None, f.act_settings):
            tb.addAction(act) if act is not None else tb.addSeparator()

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.act_cancel = make_action(self, "Cancel Job", self.cancel_foreground, "Esc")
        self.fps_readout = QLabel(self)
        self.fps_readout.setToolTip("Viewport frame rate, frame time, splats drawn and render size")
        self.fps_readout.setStyleSheet("QLabel { padding: 0 8px; }")
        # Fixed width for the same reason as the timeline's time label (no relayout per update).
        self.fps_readout.setFixedWidth(self.fps_readout.fontMetrics().horizontalAdvance(
            "000 fps · 000.0 ms/frame · 0,000,000 splats · 0000×0000") + 24)
        sb.addPermanentWidget(self.fps_readout)
        self.viewport.readout_changed.connect(self.fps_readout.setText)
        self.core_label = QLabel("Loading engine…", self)
        self.core_label.setToolTip("Renderer and body model in use")
        sb.addPermanentWidget(self.core_label)
        sb.showMessage("Drop a photo, an avatar (.ply), a motion or a project on the window to start.")

    def show_renderer(self, *_: Any) -> None:
        """The status bar names the back-end that draws now (it changes once the probes ran, and
        when one asked for cannot start: then it says so, with the reason in the tooltip)."""
        if not self.is_core_ready or self.core_error:
            return
        text = f"{self.viewport.renderer_label or 'renderer'} · ready"
        note = self.viewport.renderer_note
        asked = self.settings.renderer
        if note and asked not in ("auto", self.viewport.renderer_label):
            text += f" ({asked} unavailable)"
        self.core_label.setText(text)
        self.core_label.setToolTip(f"Renderer in use: {self.viewport.renderer_label}" + (f"\n{note}" if note else ""))

    def _restore_window_state(self) -> None:
        geometry, state = self.settings.window_state()
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            self.restoreState(state)
        self._show_curves(False)  # until a motion is selected, whatever the last session left

    def _on_first_frame(self, _fps: float = 0.0) -> None:
        """The window is on screen: now build the pyqtgraph plots (half a second of imports)."""
        self.viewport.fps_changed.disconnect(self._on_first_frame)
        self.first_frame.emit()
        QTimer.singleShot(0, self.build_plots)

    def build_plots(self) -> None:
        self.timeline.build_ruler()
        self.curves.build_plot()

    # ================================================================== core start-up
    def _start_core(self) -> None:
        smplx = self.settings.smplx_dir
        if smplx:
            check = check_smplx_dir(smplx)
            if check.ok:
                os.environ["AVATAR_STUDIO_SMPLX_DIR"] = smplx
            else:
                self.show_error(f"The SMPL-X folder in Settings is not usable: {check.message} "
                                "The embedded stand-in body is used instead.", title="Settings")
        self._warmup = Warmup(self)
        self._warmup.done.connect(self._on_core_loaded)
        self._warmup.start(QThread.Priority.LowPriority)
        self._cpu_probe = CpuRendererProbe(self)
        self._cpu_probe.done.connect(self.viewport.backend_probed)
        self._cpu_probe.start(QThread.Priority.LowPriority)
        if self.use_process_worker:
            from .process_worker import ProcessWorker
            try:
                self.process_worker = ProcessWorker()
                self.process_worker.start()  # warms up (imports, body model) while the user looks around
            except Exception as err:  # e.g. no multiprocessing in a frozen build: reconstruct in-process
                self.process_worker = None
                self.statusBar().showMessage(f"Reconstruction runs in-process ({err}).", 8000)

    def _on_core_loaded(self, error: str) -> None:
        from ..core.scene import Scene
        self._warmup.wait()
        limit_torch_threads()
        self.core_error = error
        self.scene = Scene()
        self.scene.events.connect(self._on_scene_event)
        self.viewport.set_scene(self.scene)
        self.viewport.backend_probed()
        self.scene_panel.set_scene(self.scene)
        self.is_core_ready = True
        self.build_plots()
        if error:
            self.core_label.setText("Body model missing")
            self.show_error(f"The body model could not be loaded: {error}", title="Body model")
        else:
            self.show_renderer()
        self._update_enabled()
        pending, self._pending = self._pending, []
        for fn in pending:
            fn()
        self.core_ready.emit()
        QTimer.singleShot(0, self.autosave.check_recovery)

    def when_ready(self, fn: Callable[[], None]) -> None:
        """Run `fn` now if the engine is loaded, else as soon as it is."""
        if self.is_core_ready:
            fn()
        else:
            self._pending.append(fn)
            self.statusBar().showMessage("Loading the engine… your file opens in a moment.")

    # ================================================================== scene -> views
    def _on_scene_event(self, name: str, payload: Any) -> None:
        if name == "time":
            self.timeline.set_frame(self.scene.frame)
            self.curves.set_frame(self.scene.frame, throttle=self.timeline.is_playing)
            if not self.timeline.is_playing:
                self.motion_panel.refresh_key_values()
            self.viewport.invalidate()
            return
        if name in ("items", "item", "selection"):
            self._sync_timeline()
            self.sync_curves()
            if name != "selection":
                self._update_ground()
            self.viewport.invalidate()
            self._update_enabled()
            self.update_title()

    def _sync_timeline(self) -> None:
        scene = self.scene
        keep = (self.timeline.num_frames == scene.num_frames)
        self.timeline.set_range(scene.num_frames, scene.fps, keep_trim=keep)
        self.timeline.set_frame(scene.frame)
        self.motion_panel.set_trim(*self.timeline.trim_range())

    def sync_curves(self) -> None:
        item = self.scene.selected
        motion = item.motion if item is not None else None
        self.curves.set_motion(motion, item.keys if item is not None and item.kind == "avatar" else None)
        self.curves.set_frame(self.scene.frame)
        self.motion_panel.set_item(item)
        self._show_curves(motion is not None and not self._curves_user_closed)

    def _show_curves(self, on: bool) -> None:
        if self.curves_dock.isVisible() != on and not self.curves_dock.isFloating():
            self._curves_auto = True
            try:
                self.curves_dock.setVisible(on)
            finally:
                self._curves_auto = False

    def _on_curves_visibility(self, visible: bool) -> None:
        """Remember a user's close/open (the dock's ✕ or View ▸ Curves), not the window's own hiding."""
        if not self._curves_auto and self.isVisible() and not self.isMinimized() \
                and self.curves_dock.isHidden() != visible:
            self._curves_user_closed = not visible

    def _update_ground(self) -> None:
        """Put the grid under the lowest visible point; re-measured when items or motions change (not
        when an item is merely moved, so dragging an avatar up does not drag the floor along)."""
        if self.scene.items and self.scene.content_key != self._ground_key:
            self._ground_key = self.scene.content_key
            self.viewport.ground_y = float(self.scene_bounds()[0][1])

    def scene_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """`Scene.bounds()` (it poses every Gaussian on the CPU), remembered until the scene changes."""
        key = (self.scene.time, self.scene.revision)
        if self._bounds_cache is None or self._bounds_cache[0] != key:
            self._bounds_cache = (key, self.scene.bounds())
        return self._bounds_cache[1]

    def frame_all(self) -> None:
        if self.scene is not None and self.scene.items:
            self.viewport.frame_all(self.scene_bounds())

    def _on_timeline_frame(self, frame: int) -> None:
        if self.scene is not None:
            self.scene.set_frame(frame)

    def _on_playing(self, playing: bool) -> None:
        self.viewport.set_playing(playing, self.timeline.fps * self.timeline.speed)
        if not playing:
            self.motion_panel.refresh_key_values()

    def _on_timeline_fps(self, fps: float) -> None:
        item = self.selected_avatar()
        if item is not None and item.motion is not None:
            self.motion_menu.apply_motion_edit(f"Set frame rate to {fps:g} fps",
                                               lambda m, body: m.replace(fps=float(fps)))

    def _update_enabled(self) -> None:
        ready = self.is_core_ready
        has_items = bool(ready and self.scene.items)
        avatar = self.selected_avatar() if ready else None
        f, x = self.file_menu, self.export_menu
        for act in (f.act_save, f.act_save_as, x.act_export_ply, self.view_menu.act_frame, self.edit_menu.act_remove):
            act.setEnabled(has_items)
        x.act_export_video.setEnabled(avatar is not None)
        x.act_export_glb.setEnabled(avatar is not None)
        sel = self.scene.selected if ready else None
        self.view_menu.act_flip.setEnabled(sel is not None and sel.gaussians is not None)
        f.act_load_motion.setEnabled(ready)
        self.motion_panel.setEnabled(avatar is not None and avatar.motion is not None)

    def update_title(self, *_: Any) -> None:
        name = self.project_path.name if self.project_path else "Untitled"
        try:
            dirty = not self.undo_stack.isClean()
        except RuntimeError:  # the window is being destroyed
            return
        self.setWindowModified(dirty)
        self.setWindowTitle(f"{name}[*] — {APP_NAME}")

    def selected_avatar(self) -> Any:
        """The selected item if it is an avatar, else the first avatar in the scene, else None."""
        if self.scene is None:
            return None
        sel = self.scene.selected
        if sel is not None and sel.avatar is not None:
            return sel
        return next((i for i in self.scene.items if i.avatar is not None), None)

    # ================================================================== jobs and opening
    def cancel_foreground(self) -> None:
        """Cancel the job the status bar shows (and forget queued photos)."""
        if self.status_jobs.cancel():
            self.file_menu.photo_queue.clear()

    def open_paths(self, paths: list[str | Path]) -> None:
        """Open dropped or given files: core says what each is; photos reconstruct, projects replace the
        scene, motions go on the avatar, the rest become scene items. Each bad file gets its message."""
        from ..core.errors import StudioError
        from ..core.open import classify
        for p in paths:
            path = Path(p).expanduser()
            try:
                kind = classify(path).kind
            except StudioError as err:
                self.show_error(str(err))
                continue
            self.settings.last_dir = str(path.parent)
            f = self.file_menu
            opener = f.reconstruct if kind == "photo" else f.open_project if kind == "project" else f.open_file
            self.when_ready(lambda opener=opener, path=path: opener(path))

    def add_item(self, item: Any, text: str | None = None) -> None:
        """Add an item (undoable). Where it stands is the scene's decision (`Scene.place_new`)."""
        from .undo import AddItem
        first = not self.scene.items
        item.name = self.scene.unique_name(item.name)
        if item.avatar is not None:
            item.avatar.name = item.name
        others = self.scene.place_new(item)
        self.undo_stack.push(AddItem(self.scene, item, text))
        if first or not self.first_item_framed or others:
            self.first_item_framed = True
            self.frame_all()
        self.item_added.emit(item)

    # ================================================================== closing
    def terminate(self) -> None:
        """SIGTERM (logout, `kill`): no questions. Running jobs are cancelled, so their writers remove
        their temp files and no existing file is touched; the autosave stays for recovery next time."""
        self.prompt_on_close = False
        self.autosave.keep = True
        self.close()
        QApplication.instance().quit()

    def closeEvent(self, e: QCloseEvent) -> None:
        if self.prompt_on_close and self.scene is not None and self.scene.items and not self.undo_stack.isClean():
            answer = self._ask("Unsaved changes", "Save the changes to this scene before closing?",
                               QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                               | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save)
            if answer == QMessageBox.StandardButton.Cancel:
                e.ignore()
                return
            if answer == QMessageBox.StandardButton.Save:
                job = self.file_menu.save_project()
                if job is None:
                    e.ignore()
                    return
                job.wait(30)
                QApplication.processEvents()
        self.timeline.pause()
        self.autosave.timer.stop()
        self.jobs.cancel_all()
        if self.process_worker is not None:
            self.process_worker.stop()
        for thread in (getattr(self, "_warmup", None), getattr(self, "_cpu_probe", None)):
            if thread is not None:
                thread.wait(10000)
        self.settings.save_window_state(self.saveGeometry(), self.saveState())
        self.settings.sync()
        self.autosave.close()
        super().closeEvent(e)
