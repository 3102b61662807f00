"""The studio window: thin Qt glue over `core`.

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
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QByteArray, QPoint, QRect, QStandardPaths, Qt, QThread, QTimer, Signal
from PySide6.QtGui import (QAction, QCloseEvent, QDragEnterEvent, QDragLeaveEvent, QDragMoveEvent, QDropEvent,
                           QKeySequence, QUndoStack)
from PySide6.QtWidgets import (QApplication, QColorDialog, QDockWidget, QFileDialog, QLabel, QMainWindow,
                               QMessageBox, QProgressBar, QProgressDialog, QSplitter, QToolButton, QWidget)

from .. import RESOURCES_DIR, __version__
from ..core.io.atomic import pid_alive
from ..core.io.formats import FORMATS as SPLAT_FORMATS
from ..core.io.formats import file_dialog_filter as splat_dialog_filter
from .icons import icon
from .jobs import Job, JobManager
from .settings import StudioSettings, check_smplx_dir

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
SPLAT_EXTS = {Path("x" + e).suffix for f in SPLAT_FORMATS if f.can_read for e in f.extensions}
PROJECT_EXTS = {".avsproj"}
MOTION_PATTERNS = "*.npz *.json *.bvh *.pt *.npy"  # folders (LHM, Human3R, frame PLYs) open by drag and drop
APP_NAME = "Avatar Studio"


def classify(path: Path) -> str:
    """'photo', 'project', 'splats' or 'motion' (a motion or a Gaussian sequence: decided by reading it).
    Splat files are recognised by content (core's one detector), whatever their name."""
    from ..core.errors import InputError
    from ..core.io.formats import sniff_path
    ext = path.suffix.lower()
    if path.is_file() and ext in IMAGE_EXTS:
        return "photo"
    if path.is_file() and ext in PROJECT_EXTS:
        return "project"
    try:
        sniff_path(path)
        return "splats"
    except InputError:
        return "motion"


def initial_size(available: Any = None, wanted: tuple[int, int] = (1400, 900)) -> tuple[int, int]:
    """The first window size: `wanted`, shrunk to fit the screen's available area (a QSize, in logical
    pixels, so at 150 % scaling a 1920×1080 screen offers 1280×~690) with a little room to spare."""
    if available is None:
        return wanted
    return min(wanted[0], int(available.width() * 0.95)), min(wanted[1], int(available.height() * 0.92))


def reconstruction_message(photo_name: str, num_gaussians: int, notes: list[str]) -> tuple[str, str]:
    """(a short status line that is not cut off beside the readouts, the full text with how it was made)."""
    short = f"Avatar from {photo_name}: {num_gaussians:,} Gaussians" + (" (details in the tooltip)" if notes else "")
    full = f"Avatar from {photo_name}: {num_gaussians:,} Gaussians" + ("".join(f"\n• {n}" for n in notes))
    return short, full


def _short_dir(folder: Path) -> str:
    """A folder as people read it: ~ for the home folder."""
    try:
        return "~/" + str(folder.relative_to(Path.home())) if folder != Path.home() else "~"
    except ValueError:
        return str(folder)


def sample_photo() -> Path | None:
    """The demo's sample photo (as `avatar-studio demo` uses), or any shipped sample photo."""
    from ..core.demo import SAMPLE_PHOTO
    if SAMPLE_PHOTO.is_file():
        return SAMPLE_PHOTO
    return next(iter(sorted((RESOURCES_DIR / "photos").glob("*.png"))), None)


def _limit_torch_threads() -> None:
    """Leave a core to the GUI thread: OpenMP threads that spin on a busy machine make both the
    viewport's skinning and the UI stall (on 2 cores, 2 torch threads made one pose take 3 s, 1 took 0.08 s)."""
    import torch
    torch.set_num_threads(max(1, min(4, (os.cpu_count() or 2) - 1)))


class _Warmup(QThread):
    """Imports torch/smplx and builds the body model off the GUI thread."""

    done = Signal(str)

    def run(self) -> None:
        try:
            from ..core import scene  # noqa: F401  (torch, body model code)
            from ..core.body.model import default_body_model
            from ..core.body.model import body_for_rig
            from ..core.reconstruct import base  # noqa: F401
            from ..core.render.rendering import probe_gsplat
            probe_gsplat()  # imports torch.cuda/gsplat: seconds, so here and not in the viewport
            default_body_model()
            body_for_rig("standin")  # the body template avatars are rigged on (a separate cache entry)
        except Exception as err:  # reported in the status bar; the window keeps working
            self.done.emit(str(err))
            return
        self.done.emit("")


class _CpuRendererProbe(QThread):
    """Compiles the CPU splat rasterizer's kernels (or loads them from numba's cache) off the GUI
    thread; the viewport switches to it afterwards where OpenGL is a software rasterizer."""

    done = Signal()

    def run(self) -> None:
        from ..core.render.rendering import probe_cpu
        probe_cpu()   # never raises: a failure is its (False, reason) answer
        self.done.emit()


class MainWindow(QMainWindow):
    """Signals: core_ready(); first_frame() when the viewport has drawn (the window is on screen);
    item_added(object) after a photo/file became a scene item;
    job_finished(str) with the job title; error_shown(str)."""

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
        self.undo_stack.cleanChanged.connect(self._update_title)
        self.undo_stack.indexChanged.connect(self._update_title)
        self.jobs = JobManager(self)
        self.scene: Any = None
        self.is_core_ready = False
        self.core_error = ""
        self._pending: list[Callable[[], None]] = []
        self._photo_queue: list[Path] = []
        self._fg_jobs: list[Job] = []
        self._reconstruction: Job | None = None
        self._pending_motion: Any = None
        self._demo_autoplay = False  # the next reconstruction is Open Demo's: play once it is in
        self._first_item_framed = False
        self.last_error = ""
        self._error_box: QMessageBox | None = None
        self._error_messages: list[str] = []  # what the open error box lists
        self._drop_hint: QLabel | None = None  # shown while files are dragged over the window
        self._last_export: Any = None  # the export dialog's last request: its choices come back next time
        self.project_path: Path | None = None
        self.prompt_on_close = True
        # Reconstruct in a child process (`python -m ...process_worker`), except in a frozen build (its
        # executable is the studio itself) or when AVATAR_STUDIO_INPROCESS=1.
        self.use_process_worker = (os.environ.get("AVATAR_STUDIO_INPROCESS") != "1"
                                   and not getattr(sys, "frozen", False))
        self.process_worker: Any = None
        self._autosave_index = 0
        self._bounds_cache: tuple | None = None
        self._ground_key: tuple | None = None
        if autosave_dir:
            self.autosave_dir = Path(autosave_dir)
        else:
            data = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
            self.autosave_dir = (Path(data) if data else Path.home() / ".avatar_studio") / "autosave"
        self.autosave_path = self.autosave_dir / f"autosave-{os.getpid()}.avsproj"

        self._build_widgets()
        self._build_actions()
        self._build_menus_and_toolbar()
        self._build_status_bar()
        self._restore_window_state()
        self._autosave_timer = QTimer(self)
        self._autosave_timer.timeout.connect(self.autosave)
        self._apply_autosave_interval()
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
        self.viewport.renderer_changed.connect(self._show_renderer)
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
        self.scene_panel.add_requested.connect(self.open_dialog)
        self.scene_panel.load_motion_requested.connect(self.load_motion_dialog)
        self.scene_dock = self._dock("Scene", self.scene_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.motion_panel = MotionPanel(self)
        self.motion_panel.edit_requested.connect(self.apply_motion_edit)
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

    def _action(self, text: str, slot: Callable, shortcut: Any = None, tip: str = "", icon_name: str = "",
                checkable: bool = False, checked: bool = False) -> QAction:
        act = QAction(text, self)
        if icon_name:
            act.setIcon(icon(icon_name))
            # a checkable action's menu entry shows its tick, not the icon (the icon stays on the toolbar)
            act.setIconVisibleInMenu(not checkable)
        if shortcut is not None:
            if isinstance(shortcut, (list, tuple)):
                act.setShortcuts([QKeySequence(s) for s in shortcut])
            else:
                act.setShortcut(QKeySequence(shortcut))
        if tip:
            act.setToolTip(tip)
            act.setStatusTip(tip)
        act.setCheckable(checkable)
        if checkable:
            act.setChecked(checked)
            act.toggled.connect(slot)
        else:
            act.triggered.connect(lambda _=False: slot())
        self.addAction(act)  # shortcuts work while the menus are closed
        return act

    def _build_actions(self) -> None:
        S = QKeySequence.StandardKey
        a = self._action
        self.act_new = a("&New Project", self.new_project, S.New, "Start an empty scene")
        self.act_open = a("&Open…", self.open_dialog, S.Open, "Open a photo, avatar, splat file, motion or project",
                          "open")
        self.act_open_photo = a("Open &Photo…", self.open_photo_dialog, "Ctrl+Shift+O",
                                "Reconstruct an avatar from a photo", "photo")
        self.act_load_motion = a("Load &Motion…", self.load_motion_dialog, "Ctrl+M",
                                 "Put a motion file or folder on the selected avatar", "curve")
        self.act_demo = a("Open &Demo", self.load_demo, None,
                          "Reconstruct the sample photo and play a sample dance on it", "avatar")
        self.act_save = a("&Save Project", self.save_project, S.Save, "Save the scene as a project file", "save")
        self.act_save_as = a("Save Project &As…", lambda: self.save_project(ask=True), S.SaveAs)
        self.act_export_video = a("Export &Video…", lambda: self.export_dialog("video"), "Ctrl+E",
                                  "Render the animation to MP4, WebM, GIF or PNG frames", "export")
        self.act_export_ply = a("Export P&LY…", lambda: self.export_dialog("ply"), "Ctrl+Shift+E",
                                "Write the avatar (canonical or posed) as 3DGS PLY")
        self.act_export_glb = a("Export &GLB (rigged)…", self.export_glb_dialog, None,
                                "Write the avatar with its skeleton and motion as one glTF file "
                                "(Blender, Unity, three.js)")
        self.act_settings = a("Se&ttings…", self.settings_dialog, S.Preferences, "Model paths and back-ends",
                              "settings")
        if self.act_settings.shortcut().isEmpty():
            self.act_settings.setShortcut(QKeySequence("Ctrl+,"))
        self.act_quit = a("&Quit", self.close, S.Quit)

        self.act_undo = self.undo_stack.createUndoAction(self, "&Undo")
        self.act_undo.setShortcut(S.Undo)
        self.act_undo.setIcon(icon("undo"))
        self.act_redo = self.undo_stack.createRedoAction(self, "&Redo")
        self.act_redo.setShortcuts([QKeySequence(S.Redo), QKeySequence("Ctrl+Y")])
        self.act_redo.setIcon(icon("redo"))
        self.addAction(self.act_undo)
        self.addAction(self.act_redo)
        self.act_remove = a("&Remove Item", self.scene_panel._remove, S.Delete, "Remove the selected item")

        self.act_frame = a("&Frame All", self.frame_all, "F", "Fit everything in view (F)",
                           "frame-all")
        self.act_front = a("F&ront View", lambda: self.viewport.set_view("front"), "1", "Look at the front (1)")
        self.act_side = a("&Side View", lambda: self.viewport.set_view("side"), "2", "Look from the side (2)")
        self.act_back = a("&Back View", lambda: self.viewport.set_view("back"), "3", "Look at the back (3)")
        self.act_grid = a("Ground &Grid", self._set_grid, "G", "Show the ground grid (G)", "grid", True,
                          self.settings.show_grid)
        self.act_skeleton = a("S&keleton", self._set_skeleton, "K", "Show the skeleton overlay (K)", "skeleton",
                              True, self.settings.show_skeleton)
        self.act_fps = a("FPS &Readout", self._set_fps, None, "Show frame rate and render time", checkable=True,
                         checked=True)
        self.act_background = a("Background &Colour…", self._pick_background, None, "Viewport background colour")
        self.act_flip = a("&Flip Upside Down", self.flip_selected, None,
                          "Turn the selected splat scene 180° about X, for a file stored the other way up")

        t = self.timeline
        self.act_play = a("&Play / Pause", t.toggle_play, "Space", "Play or pause (Space)", "play")
        self.act_next = a("&Next Frame", lambda: t.step(1), "Right", "Next frame (→)")
        self.act_prev = a("P&revious Frame", lambda: t.step(-1), "Left", "Previous frame (←)")
        self.act_start = a("Go to &Start", t.go_start, "Home", "First frame (Home)")
        self.act_end = a("Go to &End", t.go_end, "End", "Last frame (End)")
        self.act_loop = a("&Loop", lambda on: setattr(t, "loop", on), "L", "Loop playback (L)", "loop", True, True)
        t.loop_button.toggled.connect(self.act_loop.setChecked)
        self.act_help = a("&First Five Minutes", self._show_help, S.HelpContents, "A short tour")
        self.act_about = a("&About Avatar Studio", self._show_about)

    def _build_menus_and_toolbar(self) -> None:
        mb = self.menuBar()
        m = mb.addMenu("&File")
        for act in (self.act_new, self.act_open, self.act_open_photo, self.act_load_motion):
            m.addAction(act)
        self.recent_menu = m.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        m.addAction(self.act_demo)
        m.addSeparator()
        m.addAction(self.act_save)
        m.addAction(self.act_save_as)
        m.addSeparator()
        m.addAction(self.act_export_video)
        m.addAction(self.act_export_ply)
        m.addAction(self.act_export_glb)
        m.addSeparator()
        m.addAction(self.act_settings)
        m.addSeparator()
        m.addAction(self.act_quit)

        m = mb.addMenu("&Edit")
        m.addAction(self.act_undo)
        m.addAction(self.act_redo)
        m.addSeparator()
        m.addAction(self.act_remove)

        m = mb.addMenu("&View")
        for act in (self.act_frame, self.act_front, self.act_side, self.act_back):
            m.addAction(act)
        m.addSeparator()
        for act in (self.act_grid, self.act_skeleton, self.act_fps, self.act_background):
            m.addAction(act)
        m.addAction(self.act_flip)
        m.addSeparator()
        for dock in (self.scene_dock, self.motion_dock, self.curves_dock):
            m.addAction(dock.toggleViewAction())

        m = mb.addMenu("&Playback")
        for act in (self.act_play, self.act_prev, self.act_next, self.act_start, self.act_end, self.act_loop):
            m.addAction(act)

        m = mb.addMenu("&Motion")
        for act in self.motion_panel.actions_for_menu(self):
            m.addAction(act)
        m.addSeparator()
        m.addAction(self._action("Import Motion from &Video…", self.import_video_motion_dialog,
                                 tip="Capture SMPL-X motion from a video of one person (offline, on the CPU)"))
        m.addAction(self._action("Edit BVH &Mapping…", self.edit_bvh_mapping,
                                 tip="Choose which SMPL-X joint each joint of the source BVH drives"))

        m = mb.addMenu("&Help")
        m.addAction(self.act_help)
        m.addAction(self.act_about)

        tb = self.addToolBar("Main")
        tb.setObjectName("toolbar_main")
        tb.setMovable(False)
        for act in (self.act_open, self.act_open_photo, self.act_load_motion, self.act_save, self.act_export_video):
            tb.addAction(act)
        tb.addSeparator()
        tb.addAction(self.act_undo)
        tb.addAction(self.act_redo)
        tb.addSeparator()
        tb.addAction(self.act_frame)
        for name, act in (("Front", self.act_front), ("Side", self.act_side), ("Back", self.act_back)):
            act.setIconText(name)
            tb.addAction(act)
        tb.addAction(self.act_grid)
        tb.addAction(self.act_skeleton)
        tb.addSeparator()
        tb.addAction(self.act_settings)

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.progress_label = QLabel(self)
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setFixedWidth(220)
        self.progress_bar.setTextVisible(True)
        self.cancel_button = QToolButton(self)
        self.cancel_button.setIcon(icon("cancel"))
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.cancel_button.setToolTip("Cancel the running job (Esc)")
        self.cancel_button.clicked.connect(self.cancel_foreground)
        self.act_cancel = self._action("Cancel Job", self.cancel_foreground, "Esc")
        for w in (self.progress_label, self.progress_bar, self.cancel_button):
            sb.addPermanentWidget(w)
            w.hide()
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

    def _show_renderer(self, *_: Any) -> None:
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
        self._warmup = _Warmup(self)
        self._warmup.done.connect(self._on_core_loaded)
        self._warmup.start(QThread.Priority.LowPriority)
        self._cpu_probe = _CpuRendererProbe(self)
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
        _limit_torch_threads()
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
            self._show_renderer()
        self._update_enabled()
        pending, self._pending = self._pending, []
        for fn in pending:
            fn()
        self.core_ready.emit()
        QTimer.singleShot(0, self.check_recovery)

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
            self._sync_curves()
            if name != "selection":
                self._update_ground()
            self.viewport.invalidate()
            self._update_enabled()
            self._update_title()

    def _sync_timeline(self) -> None:
        scene = self.scene
        keep = (self.timeline.num_frames == scene.num_frames)
        self.timeline.set_range(scene.num_frames, scene.fps, keep_trim=keep)
        self.timeline.set_frame(scene.frame)
        self.motion_panel.set_trim(*self.timeline.trim_range())

    def _sync_curves(self) -> None:
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
        if not self.scene.items:
            return
        key = self.scene.content_key
        if key != self._ground_key:
            self._ground_key = key
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
        if item is None or item.motion is None:
            return
        self.apply_motion_edit(f"Set frame rate to {fps:g} fps", lambda m, body: m.replace(fps=float(fps)))

    def _update_enabled(self) -> None:
        ready = self.is_core_ready
        has_items = bool(ready and self.scene.items)
        avatar = self.selected_avatar() if ready else None
        for act in (self.act_open, self.act_open_photo, self.act_demo):
            act.setEnabled(True)
        for act in (self.act_save, self.act_save_as, self.act_export_ply, self.act_frame, self.act_remove):
            act.setEnabled(has_items)
        self.act_export_video.setEnabled(avatar is not None)
        self.act_export_glb.setEnabled(avatar is not None)
        sel = self.scene.selected if ready else None
        self.act_flip.setEnabled(sel is not None and sel.gaussians is not None)
        self.act_load_motion.setEnabled(ready)
        self.motion_panel.setEnabled(avatar is not None and avatar.motion is not None)

    def _update_title(self, *_: Any) -> None:
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

    # ================================================================== errors and messages
    def show_error(self, message: str, details: str = "", title: str = "Avatar Studio") -> None:
        """Show a readable, non-blocking message box; the window stays usable."""
        self.last_error = message
        self.statusBar().showMessage(message, 10000)
        box = self._error_box
        if box is not None:  # still open (several bad files dropped at once): list every problem in it
            self._error_messages.append(message)
            box.setWindowTitle(APP_NAME)
            box.setText(f"{len(self._error_messages)} problems:\n\n"
                        + "\n\n".join(f"• {m}" for m in self._error_messages))
            if details:
                box.setDetailedText("\n\n".join(d for d in (box.detailedText(), details) if d))
            self.error_shown.emit(message)
            return
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self)
        if details:
            box.setDetailedText(details)
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _=0: setattr(self, "_error_box", None))
        self._error_box = box
        self._error_messages = [message]
        box.open()
        self.error_shown.emit(message)

    def _ask(self, title: str, text: str, buttons=QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
             default=QMessageBox.StandardButton.Yes) -> QMessageBox.StandardButton:
        """A modal question (tests replace this method)."""
        return QMessageBox.question(self, title, text, buttons, default)

    # ================================================================== jobs
    def _start_foreground(self, title: str, fn: Callable, on_success: Callable[[Any], None]) -> Job:
        """A job shown in the status bar (progress bar, stage name, Cancel). Several may run; the bar
        follows the newest."""
        job = self.jobs.submit(title, fn)
        self._fg_jobs.append(job)

        def succeeded(result: Any) -> None:
            try:
                on_success(result)
            except Exception as err:  # a failure applying the result: report, keep going
                import traceback
                self.show_error(f"{title} failed: {err}", traceback.format_exc())

        job.progress.connect(lambda stage, fraction: self._show_progress(job))
        job.succeeded.connect(succeeded)
        job.failed.connect(lambda msg, details: self.show_error(msg, details, title=title))
        job.cancelled.connect(lambda: self.statusBar().showMessage(f"{title}: cancelled.", 5000))
        job.finished.connect(lambda: self._foreground_done(job))
        job.start()
        self._show_progress(job)
        return job

    @property
    def _foreground(self) -> Job | None:
        return self._fg_jobs[-1] if self._fg_jobs else None

    def _show_progress(self, job: Job) -> None:
        if job is not self._foreground:
            return
        self.progress_label.setText(job.title)
        self.progress_bar.setValue(int(job.fraction * 1000))
        if job.token.cancelled:
            self.progress_bar.setFormat("cancelling…")
        else:
            self.progress_bar.setFormat(f"{job.stage} — {job.fraction * 100:.0f}%" if job.stage else "starting…")
        self.cancel_button.setEnabled(not job.token.cancelled)
        for w in (self.progress_label, self.progress_bar, self.cancel_button):
            w.show()

    def _foreground_done(self, job: Job) -> None:
        if job in self._fg_jobs:
            self._fg_jobs.remove(job)
        if self._foreground is not None:
            self._show_progress(self._foreground)
        else:
            for w in (self.progress_label, self.progress_bar, self.cancel_button):
                w.hide()
        self.job_finished.emit(job.title)
        if not self.busy and self._photo_queue:
            self.reconstruct(self._photo_queue.pop(0))

    def cancel_foreground(self) -> None:
        """Cancel the job the status bar shows (and forget queued photos)."""
        job = self._foreground
        if job is not None and job.running:
            job.cancel()
            self._photo_queue.clear()
            self._show_progress(job)

    @property
    def busy(self) -> bool:
        """A reconstruction is running (further photos queue behind it)."""
        return self._reconstruction is not None and self._reconstruction.running

    # ================================================================== opening things
    def open_paths(self, paths: list[str | Path]) -> None:
        """Open dropped or given files: photos reconstruct, PLYs view, motions go on the avatar."""
        for p in paths:
            path = Path(p).expanduser()
            if not path.exists():
                self.show_error(f"File not found: {path}")
                continue
            kind = classify(path)
            self.settings.last_dir = str(path.parent)
            if kind == "photo":
                self.when_ready(lambda path=path: self.reconstruct(path))
            elif kind == "project":
                self.when_ready(lambda path=path: self.open_project(path))
            elif kind == "splats":
                self.when_ready(lambda path=path: self.load_splats(path))
            else:
                self.when_ready(lambda path=path: self.load_motion_or_sequence(path))

    def reconstruct(self, path: str | Path) -> Job | None:
        """Reconstruct an avatar from a photo in the worker process; it appears when done."""
        path = Path(path)
        if self.busy:
            self._photo_queue.append(path)
            self.statusBar().showMessage(f"{path.name} is queued: it reconstructs after the current job.", 5000)
            return None
        if self.settings.reconstructor == "lhm" and not (self.settings.lhm_model_dir and self.settings.lhm_prior_dir):
            # said in the window's words (the engine's own message names command-line options)
            self.show_error("LHM needs its model folder and its prior folder: choose them in Settings, or choose "
                            "the Template reconstruction there.", title="Reconstruction")
            return None
        autoplay, self._demo_autoplay = self._demo_autoplay, False
        kwargs = dict(path=str(path), backend=self.settings.reconstructor,
                      model_dir=self.settings.lhm_model_dir or None, prior_dir=self.settings.lhm_prior_dir or None)
        worker = self.process_worker

        def work(progress, cancel):
            from .process_worker import reconstruct_photo
            if worker is None:  # no child process (could not start): run here, on the job thread
                return reconstruct_photo(progress, cancel, **kwargs)
            return worker.call("avatar_studio.app.process_worker:reconstruct_photo", kwargs, progress, cancel)

        def done(result: Any) -> None:
            from ..core.scene import AvatarItem
            motion, self._pending_motion = self._pending_motion, None
            self.add_item(AvatarItem(name=path.stem, avatar=result.avatar, motion=motion), f"Reconstruct {path.name}")
            if autoplay and motion is not None:
                self.timeline.play()
            self.settings.add_recent(path)
            short, full = reconstruction_message(path.name, len(result.avatar.gaussians),
                                                 getattr(result.diagnostics, "notes", []) or [])
            # the short line fits beside the readouts; how it was made stays in the tooltip
            self.statusBar().setToolTip(full)
            self.statusBar().showMessage(short, 20000)

        self._reconstruction = self._start_foreground(f"Reconstructing {path.name}", work, done)
        return self._reconstruction

    def add_item(self, item: Any, text: str | None = None) -> None:
        """Add an item (undoable). Where it stands is the scene's decision (`Scene.place_new`)."""
        from .undo import AddItem
        first = not self.scene.items
        item.name = self.scene.unique_name(item.name)
        if item.avatar is not None:
            item.avatar.name = item.name
        others = self.scene.place_new(item)
        self.undo_stack.push(AddItem(self.scene, item, text))
        if first or not self._first_item_framed or others:
            self._first_item_framed = True
            self.frame_all()
        self.item_added.emit(item)

    def flip_selected(self) -> None:
        """View ▸ Flip Upside Down on the selected splat item (undoable)."""
        from .undo import FlipUpsideDown
        sel = self.scene.selected if self.is_core_ready else None
        if sel is None or sel.gaussians is None:
            return
        self.undo_stack.push(FlipUpsideDown(self.scene, sel))

    def load_splats(self, path: str | Path) -> Job:
        path = Path(path)
        notes: list[str] = []

        def work(progress, cancel):
            from ..core.pipeline import load_splats
            progress("reading", 0.0)
            return load_splats(path, notes=notes)

        def done(obj: Any) -> None:
            from ..core.avatar import Avatar
            from ..core.scene import AvatarItem, SplatsItem
            if isinstance(obj, Avatar):
                motion, self._pending_motion = self._pending_motion, None
                item = AvatarItem(name=obj.name or path.stem, avatar=obj, motion=motion)
            else:
                item = SplatsItem(name=path.stem, gaussians=obj)
            self.add_item(item, f"Open {path.name}")
            self.settings.add_recent(path)
            if notes:  # what the read repaired (dropped NaN splats, a guessed SH order)
                self.statusBar().showMessage("; ".join(notes), 10000)

        return self._start_foreground(f"Opening {path.name}", work, done)

    def load_motion_or_sequence(self, path: str | Path) -> Job:
        """A motion goes on the selected avatar; a Gaussian sequence becomes a scene item."""
        path = Path(path)
        target = self.selected_avatar()
        body = self.scene.body_for(target) if target is not None else self.scene.body

        def work(progress, cancel):
            from ..core.errors import InputError, StudioError
            from ..core.pipeline import load_motion_for_playback
            progress("reading motion", 0.0)
            errors = []
            try:
                return "motion", load_motion_for_playback(path, body)
            except StudioError as err:
                errors.append(str(err))
            except ImportError as err:
                errors.append(f"motion import is unavailable ({err})")
            cancel.check()
            try:
                from ..core.sequence import load_sequence
                progress("reading sequence", 0.3)
                return "sequence", load_sequence(path)
            except ImportError:
                pass
            except StudioError as err:
                errors.append(str(err))
            if errors and errors[0].startswith(path.name):  # already says which file and why: once is enough
                raise InputError(errors[0])
            raise InputError(f"{path.name} is not a motion or Gaussian sequence Avatar Studio can read. "
                             + (errors[0] if errors else ""))

        def done(result: Any) -> None:
            kind, obj = result
            if kind == "motion":
                obj.name = obj.name if obj.name and obj.name != "motion" else path.stem
                self.set_motion(obj)
            else:
                from ..core.scene import SequenceItem
                self.add_item(SequenceItem(name=path.stem, sequence=obj), f"Open {path.name}")
            self.settings.add_recent(path)

        return self._start_foreground(f"Opening {path.name}", work, done)

    def set_motion(self, motion: Any) -> None:
        """Put `motion` on the selected avatar (undoable), or keep it for the next avatar."""
        from .undo import MotionEdit
        item = self.selected_avatar()
        if item is None:
            self._pending_motion = motion
            self.statusBar().showMessage(f"Motion '{motion.name}' is ready: drop a photo or an avatar to use it.",
                                         10000)
            return
        self.undo_stack.push(MotionEdit(self.scene, item, motion, f"Load motion {motion.name}", keys={}))
        self.scene.set_time(0.0)
        self.statusBar().showMessage(f"{item.name}: motion '{motion.name}', {motion.num_frames} frames at "
                                     f"{motion.fps:g} fps", 6000)

    def capture_video_motion(self, path: str | Path) -> Job:
        """Motion capture on a worker thread; the motion goes on the selected avatar (undoable) and a
        check view shows the fitted skeleton over the video."""
        path = Path(path)
        target = self.selected_avatar()
        body = self.scene.body_for(target) if target is not None else self.scene.body

        def work(progress, cancel):
            from ..core.mocap.pipeline import capture_motion
            return capture_motion(path, progress=progress, cancel=cancel, body=body)

        def done(result: Any) -> None:
            from .dialogs.mocap_check import MocapCheckDialog
            result.motion.name = path.stem
            self.set_motion(result.motion)
            self.mocap_check = MocapCheckDialog(path, result, self)
            self.mocap_check.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            self.mocap_check.show()

        return self._start_foreground(f"Motion from {path.name}", work, done)

    def edit_bvh_mapping(self, source: str | None = None) -> None:
        """Edit the selected avatar's BVH mapping, then retarget again (undoable; saved with the project).

        When its motion did not come from a BVH (for example a BVH whose names were refused), a BVH
        file is asked for (or `source` used) and mapped from scratch.
        """
        from .dialogs.mapping_dialog import MappingDialog
        item = self.selected_avatar()
        info = item.motion.meta.get("retarget") if item is not None and item.motion is not None else None
        if not info or source is not None:
            if item is None:
                self.show_error("Select an avatar first: the BVH motion is mapped onto its body.")
                return
            if source is None:
                source, _ = QFileDialog.getOpenFileName(self, "Map the joints of a BVH file", self.settings.last_dir,
                                                        "BVH motion (*.bvh);;All files (*)")
            if not source:
                return
            from ..core.motion.retarget import RetargetSettings
            info = {"source": str(source), "settings": RetargetSettings().to_dict()}
        self.mapping_dialog = MappingDialog(info["source"], info["settings"], self)
        self.mapping_dialog.accepted.connect(
            lambda: self.retarget_bvh(item, info["source"], self.mapping_dialog.result_settings()))
        self.mapping_dialog.open()

    def retarget_bvh(self, item: Any, source: str, settings: dict) -> Job:
        body = self.scene.body_for(item)

        def work(progress, cancel):
            from ..core.pipeline import load_motion_for_playback
            progress("retargeting", 0.1)
            return load_motion_for_playback(source, body, retarget=settings)

        def done(motion: Any) -> None:
            motion.name = item.motion.name if item.motion is not None else Path(source).stem
            self.set_motion(motion)

        return self._start_foreground(f"Retargeting {Path(source).name}", work, done)

    def import_video_motion_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import motion from video", self.settings.last_dir,
                                              "Videos (*.mp4 *.mov *.webm *.mkv *.avi *.m4v);;All files (*)")
        if path:
            self.capture_video_motion(path)

    # ------------------------------------------------------------------ dialogs
    def _file_filter(self) -> str:
        photos = " ".join(f"*{e}" for e in sorted(IMAGE_EXTS))
        splats = " ".join(f"*{e}" for e in sorted(SPLAT_EXTS))
        return (f"Everything Avatar Studio opens ({photos} {splats} *.avsproj {MOTION_PATTERNS});;"
                f"Photos ({photos});;{splat_dialog_filter('read')};;Projects (*.avsproj);;"
                f"Motions ({MOTION_PATTERNS});;All files (*)")

    def open_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open", self.settings.last_dir, self._file_filter())
        if paths:
            self.open_paths(paths)

    def open_photo_dialog(self) -> None:
        photos = " ".join(f"*{e}" for e in sorted(IMAGE_EXTS))
        path, _ = QFileDialog.getOpenFileName(self, "Open photo", self.settings.last_dir, f"Photos ({photos})")
        if path:
            self.open_paths([path])

    def load_motion_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load motion (file)", self.settings.last_dir,
                                              f"Motions ({MOTION_PATTERNS});;All files (*)")
        if path:
            self.open_paths([path])

    def load_demo(self) -> None:
        """Reconstruct the embedded sample photo and put the sample dance on it."""
        photo = sample_photo()
        if photo is None:
            self.show_error(f"The sample photos are missing from {RESOURCES_DIR / 'photos'}; reinstall Avatar Studio.")
            return

        def start() -> None:
            from ..core.demo import SAMPLE_MOTION
            if SAMPLE_MOTION.is_file():
                from ..core.motion.amass import load_amass
                try:
                    from ..core.pipeline import motion_for_playback
                    self._pending_motion = motion_for_playback(load_amass(SAMPLE_MOTION), self.scene.body)
                except Exception as err:  # the avatar still comes; say why it does not dance
                    self.statusBar().showMessage(f"The sample motion could not be loaded: {err}", 8000)
            self._demo_autoplay = True
            self.reconstruct(photo)

        self.when_ready(start)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = self.settings.recent_files
        for f in files:
            # name and folder: two recent "avatar.ply" files must be told apart
            act = self.recent_menu.addAction(f"{Path(f).name}  —  {_short_dir(Path(f).parent)}")
            act.setToolTip(f)
            act.triggered.connect(lambda _=False, f=f: self.open_paths([f]))
        if not files:
            self.recent_menu.addAction("(none)").setEnabled(False)
        self.recent_menu.addSeparator()
        self.recent_menu.addAction("Clear List", self.settings.clear_recent)

    # ================================================================== projects
    def _snapshot(self) -> Any:
        """A copy of the scene for a worker thread."""
        return self.scene.snapshot()

    def _project_data(self) -> Any:
        from ..core.project import ProjectData
        extra = {"trim": list(self.timeline.trim_range()), "show_grid": self.viewport.show_grid,
                 "show_skeleton": self.viewport.show_skeleton, "background": list(self.viewport.background)}
        return ProjectData(camera=self.viewport.orbit_camera.to_dict(), extra=extra)  # key markers: in the items

    def save_project(self, ask: bool = False, path: str | Path | None = None) -> Job | None:
        from ..core.project import PROJECT_SUFFIX
        if self.scene is None:
            return None
        if path is None:
            path = self.project_path
        if path is None or ask:
            start = str(self.project_path or Path(self.settings.last_dir) / f"untitled{PROJECT_SUFFIX}")
            chosen, _ = QFileDialog.getSaveFileName(self, "Save project", start, f"Projects (*{PROJECT_SUFFIX})")
            if not chosen:
                return None
            path = chosen
        path = Path(path)
        if path.suffix.lower() != PROJECT_SUFFIX:
            path = path.with_suffix(PROJECT_SUFFIX)
        snap, data = self._snapshot(), self._project_data()
        index = self.undo_stack.index()

        def work(progress, cancel):
            from ..core.project import save_project
            progress("writing project", 0.1)
            return save_project(path, snap, data)

        def done(result: Any) -> None:
            self.project_path = Path(result)
            if self.undo_stack.index() == index:
                self.undo_stack.setClean()
            self.settings.add_recent(result)
            self._update_title()
            self.statusBar().showMessage(f"Saved {result}", 5000)

        return self._start_foreground(f"Saving {path.name}", work, done)

    def open_project(self, path: str | Path, *, as_recovery: bool = False) -> Job | None:
        """Read a project on a worker thread; once it has been read, it replaces the scene."""
        path = Path(path)
        smplx_path = self.scene.smplx_path

        def work(progress, cancel):
            from ..core.project import load_project
            from ..core.scene import Scene
            progress("reading project", 0.1)
            return load_project(path, Scene(smplx_path=smplx_path))

        def done(result: Any) -> None:
            if not as_recovery and not self._confirm_discard():
                return
            loaded, data = result
            self._replace_scene_content(loaded)
            self._apply_project_data(data)
            if as_recovery:
                was = data.extra.get("project_path")
                self.project_path = Path(was) if isinstance(was, str) and was else None
                self.undo_stack.resetClean()
                self.statusBar().showMessage("Recovered the autosaved session. Save it to keep it.", 10000)
            else:
                self.project_path = path
                self.settings.add_recent(path)
            self._update_title()
            for w in data.warnings:
                self.show_error(w, title="Project")

        return self._start_foreground(f"Opening {path.name}", work, done)

    def _replace_scene_content(self, loaded: Any) -> None:
        scene = self.scene
        self.timeline.pause()
        for item in list(scene.items):
            scene.remove(item)
        for item in loaded.items:
            scene.add(item, select=False)
        scene.select(loaded.selected if loaded.selected is not None else (scene.items[0] if scene.items else None))
        scene.set_time(loaded.time)
        self.undo_stack.clear()
        self._autosave_index = 0

    def _apply_project_data(self, data: Any) -> None:
        from .viewport import OrbitCamera
        if data.camera:
            self.viewport.orbit_camera = OrbitCamera.from_dict(data.camera)
        else:
            self.frame_all()
        extra = data.extra
        if "show_grid" in extra:
            self.act_grid.setChecked(bool(extra["show_grid"]))
        if "show_skeleton" in extra:
            self.act_skeleton.setChecked(bool(extra["show_skeleton"]))
        if "background" in extra:
            self.viewport.set_background(tuple(extra["background"]))
        if "trim" in extra:
            self.timeline.set_trim(*extra["trim"])
            self.motion_panel.set_trim(*self.timeline.trim_range())
        self._first_item_framed = True
        self._sync_curves()
        self.viewport.update()

    def new_project(self) -> None:
        if self.scene is None or not self._confirm_discard():
            return
        from ..core.scene import Scene
        self._replace_scene_content(Scene())
        self.project_path = None
        self._first_item_framed = False
        self._update_title()

    def _confirm_discard(self) -> bool:
        if self.scene is None or not self.scene.items or self.undo_stack.isClean():
            return True
        answer = self._ask("Unsaved changes", "Discard the unsaved changes in this scene?")
        return answer == QMessageBox.StandardButton.Yes

    # ------------------------------------------------------------------ autosave and recovery
    def _apply_autosave_interval(self) -> None:
        s = self.settings.autosave_interval_s
        if s > 0:
            self._autosave_timer.start(int(s * 1000))
        else:
            self._autosave_timer.stop()

    def autosave(self) -> Job | None:
        """Save unsaved work to the autosave file (quietly, on a worker thread)."""
        if self.scene is None or not self.scene.items or self.undo_stack.index() == self._autosave_index:
            return None
        if self.undo_stack.isClean():
            return None
        snap, data, path = self._snapshot(), self._project_data(), self.autosave_path
        if self.project_path is not None:  # so a recovered session comes back as this project (unsaved)
            data.extra["project_path"] = str(self.project_path)
        index = self.undo_stack.index()

        def work(progress, cancel):
            from ..core.project import save_project
            return save_project(path, snap, data)

        job = self.jobs.submit("Autosave", work)
        job.succeeded.connect(lambda _: setattr(self, "_autosave_index", index))
        job.failed.connect(lambda msg, _d: self.statusBar().showMessage(f"Autosave failed: {msg}", 8000))
        return job.start()

    def orphaned_autosaves(self) -> list[Path]:
        """Autosave files left by sessions that did not exit cleanly (their process is gone)."""
        out = []
        if not self.autosave_dir.is_dir():
            return out
        for f in sorted(self.autosave_dir.glob("autosave-*.avsproj")):
            try:
                pid = int(f.stem.split("-", 1)[1])
            except ValueError:
                continue
            if pid != os.getpid() and not pid_alive(pid):
                out.append(f)
        return out

    def check_recovery(self) -> None:
        files = self.orphaned_autosaves()
        if not files:
            return
        newest = max(files, key=lambda f: f.stat().st_mtime)
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(newest.stat().st_mtime))
        answer = self._ask("Recover unsaved work",
                           f"Avatar Studio did not close properly last time. Recover the work autosaved at {when}?")
        if answer == QMessageBox.StandardButton.Yes:
            job = self.open_project(newest, as_recovery=True)
            if job is not None:
                job.finished.connect(lambda: [f.unlink(missing_ok=True) for f in files])
        else:
            for f in files:
                f.unlink(missing_ok=True)

    # ================================================================== motion editing
    def apply_motion_edit(self, label: str, fn: Callable[[Any, Any], Any], keys: tuple[int, int] | None = None) -> None:
        """Apply a pure (Motion, BodyModel) -> Motion function to the selected avatar's motion as one
        undo step. `keys` (joint, frame) records a key-override marker for the curve view.
        """
        from .undo import MotionEdit
        item = self.selected_avatar()
        if item is None or item.motion is None:
            self.show_error("Select an avatar that has a motion first.")
            return
        try:
            new = fn(item.motion, self.scene.body_for(item))
        except Exception as err:  # StudioError or a bad parameter: say so, change nothing
            self.show_error(f"{label} failed: {err}")
            return
        marks = self.scene.keys_with(item, *keys) if keys is not None else None  # the markers undo with the edit
        self.undo_stack.push(MotionEdit(self.scene, item, new, label, keys=marks))
        if keys is not None:
            self._sync_curves()

    # ================================================================== export
    def export_dialog(self, initial: str = "video") -> None:
        from .dialogs.export_dialog import ExportDialog
        item = self.selected_avatar()
        if self.scene is None or not self.scene.items:
            self.show_error("Nothing to export yet: open a photo or an avatar first.")
            return
        name = (self.scene.selected or self.scene.items[0]).name
        dlg = ExportDialog(self, num_frames=self.scene.num_frames, fps=self.scene.fps,
                           trim=self.timeline.trim_range(), folder=str(self.export_folder()), name=name,
                           azimuth=self.viewport.orbit_camera.azimuth, elevation=self.viewport.orbit_camera.elevation,
                           initial=initial, has_avatar=item is not None, previous=self._last_export)
        if dlg.exec() == dlg.DialogCode.Accepted:
            self._last_export = dlg.request()
            self.run_export(self._last_export)

    def export_folder(self) -> Path:
        """Default folder for exports: the last export's, else the open project's, else ~/Videos (or ~)."""
        last = self.settings.export_dir
        if last and Path(last).is_dir():
            return Path(last)
        if self.project_path is not None and self.project_path.parent.is_dir():
            return self.project_path.parent
        videos = Path.home() / "Videos"
        return videos if videos.is_dir() else Path.home()

    def run_export(self, req: Any) -> Job | None:
        """Run an `ExportRequest` on a worker thread with a progress dialog (Cancel works)."""
        if self.scene is None or not self.scene.items:
            self.show_error("Nothing to export yet.")
            return None
        snap = self._snapshot()
        item = next((i for i in snap.items if i is snap.selected and i.avatar is not None), None) or next(
            (i for i in snap.items if i.avatar is not None), None)
        scene_fps = self.scene.fps
        background = None if req.transparent else tuple(self.viewport.background)
        renderer_name = self.settings.renderer
        if req.kind == "ply" and req.ply_mode == "canonical" and item is None:
            self.show_error("There is no avatar to export; choose 'current posed frame' for plain splats.")
            return None
        fn = self._video_work(req, item, snap, scene_fps, background, renderer_name) if req.kind == "video" \
            else self._ply_work(req, item, snap, scene_fps)

        dlg = QProgressDialog(f"Exporting {req.path.name}…", "Cancel", 0, 1000, self)
        dlg.setWindowTitle("Export")
        dlg.setWindowModality(Qt.WindowModality.WindowModal)
        dlg.setMinimumDuration(0)
        dlg.setAutoClose(False)
        dlg.setAutoReset(False)
        job = self.jobs.submit(f"Export {req.path.name}", fn)
        self.export_progress = dlg
        dlg.canceled.connect(job.cancel)

        def progress(stage: str, fraction: float) -> None:
            dlg.setValue(int(fraction * 1000))
            dlg.setLabelText(f"Exporting {req.path.name}: {stage}")

        def finished() -> None:
            dlg.canceled.disconnect()
            dlg.close()
            self.job_finished.emit(job.title)

        job.progress.connect(progress)
        job.succeeded.connect(lambda out: (self.statusBar().showMessage(f"Exported {out}", 8000),
                                           setattr(self.settings, "export_dir", str(Path(out).parent))))
        job.failed.connect(lambda msg, details: self.show_error(msg, details, title="Export"))
        job.cancelled.connect(lambda: self.statusBar().showMessage("Export cancelled; no file was written.", 6000))
        job.finished.connect(finished)
        dlg.show()
        return job.start()

    @staticmethod
    def _video_work(req: Any, item: Any, snap: Any, scene_fps: float, background: Any, renderer_name: str):
        def work(progress, cancel):
            from ..core.export.animation import AnimationSettings, SceneAnimation
            from ..core.export.video import VideoOptions, write_video
            from ..core.render.rendering import create_renderer
            if snap.duration > 0:
                start, end = req.start_frame / scene_fps, (req.end_frame + 1) / scene_fps
            else:  # a still scene: three seconds (a turntable makes sense)
                start, end = 0.0, None
            path = req.path
            if req.fmt != "png" and path.suffix.lower() != f".{req.fmt}":
                path = path.with_suffix(f".{req.fmt}")
            progress("starting renderer", 0.0)
            renderer = create_renderer(renderer_name, video=True)  # headless, owned by this thread
            try:
                settings = AnimationSettings(width=req.width, height=req.height, fps=req.fps, start=start, end=end,
                                             camera_mode=req.camera_mode, azimuth_deg=req.azimuth,
                                             elevation_deg=req.elevation, background=background)
                anim = SceneAnimation(snap, renderer, settings)
                return write_video(path, anim, anim.num_frames, VideoOptions(req.fps, req.quality),
                                   progress=lambda d, n: progress(f"frame {d}/{n}", d / n), cancel=cancel)
            finally:
                renderer.close()
        return work

    @staticmethod
    def _ply_work(req: Any, item: Any, snap: Any, scene_fps: float):
        def posed(t: float) -> Any:
            if req.whole_scene or item is None:
                return snap.gaussians_at(t)
            return item.gaussians_at(snap.body_for(item), t)

        def work(progress, cancel):
            from ..core.errors import InputError
            from ..core.io.avatar_file import write_avatar
            path = req.path
            if req.ply_mode == "canonical":
                progress("writing avatar", 0.2)
                return write_avatar(path if path.suffix.lower() == ".ply" else path.with_suffix(".ply"), item.avatar)
            if req.ply_mode == "frame":  # any writable splat format, chosen by the extension
                from ..core.io.formats import FORMATS, write_gaussians
                progress("posing", 0.2)
                g = posed(snap.time)
                if not len(g):
                    raise InputError("Nothing is visible to export.")
                writable = [e for f in FORMATS if f.can_write for e in f.extensions]
                if not any(path.name.lower().endswith(e) for e in writable):
                    path = path.with_suffix(".ply")
                return write_gaussians(path, g)
            from ..core.sequence.writers import write_frame_folder
            frames = range(req.start_frame, req.end_frame + 1)
            folder = path.with_suffix("") if path.suffix.lower() == ".ply" else path
            return write_frame_folder(folder, (cancel.check() or posed(f / scene_fps) for f in frames), len(frames),
                                      scene_fps, "ply", lambda d, n: progress(f"frame {d}/{n}", d / n))
        return work

    # ================================================================== GLB export (self-contained)
    def export_glb_dialog(self) -> Job | None:
        """Ask where to write the selected avatar (with its motion) as a rigged GLB, then export it."""
        item = self.selected_avatar()
        if item is None:
            self.show_error("GLB export needs an avatar: open a photo or an avatar first.")
            return None
        suggested = str(self.export_folder() / f"{item.name}.glb")
        path, _ = QFileDialog.getSaveFileName(self, "Export GLB", suggested, "Binary glTF (*.glb)")
        return self.run_glb_export(Path(path)) if path else None

    def run_glb_export(self, path: Path) -> Job | None:
        """Export the selected avatar and its motion (whole clip) as a GLB on a background job."""
        item = self.selected_avatar()
        if item is None:
            self.show_error("GLB export needs an avatar.")
            return None
        path = path if path.suffix.lower() == ".glb" else path.with_suffix(".glb")
        snap = self._snapshot()
        item = next(i for i in snap.items if i.uid == item.uid)
        renderer_name = self.settings.renderer

        def work(progress, cancel):
            from ..core.export.glb import GlbOptions, export_glb
            from ..core.render.rendering import create_renderer
            body = snap.body_for(item)
            renderer = create_renderer(renderer_name)  # headless, owned by this thread
            try:
                return export_glb(path, item.avatar, body, item.motion, GlbOptions(), renderer=renderer,
                                  progress=progress).path
            finally:
                renderer.close()

        def done(out: Any) -> None:
            self.statusBar().showMessage(f"Exported {out}", 8000)
            self.settings.export_dir = str(Path(out).parent)

        return self._start_foreground(f"Export {path.name}", work, done)

    # ================================================================== settings and view
    def settings_dialog(self) -> None:
        from .dialogs.settings_dialog import SettingsDialog
        old_smplx = self.settings.smplx_dir
        dlg = SettingsDialog(self.settings, self)
        if dlg.exec() == dlg.DialogCode.Accepted:
            self.apply_settings(smplx_changed=self.settings.smplx_dir != old_smplx)

    def apply_settings(self, smplx_changed: bool = False) -> None:
        self.viewport.set_background(self.settings.background)
        self.viewport.set_renderer_name(self.settings.renderer)
        self._show_renderer()
        self._apply_autosave_interval()
        if smplx_changed:
            self.statusBar().showMessage("The new SMPL-X folder is used from the next start of Avatar Studio.", 10000)

    def _set_grid(self, on: bool) -> None:
        self.viewport.set_show_grid(on)
        self.settings.show_grid = on

    def _set_skeleton(self, on: bool) -> None:
        self.viewport.set_show_skeleton(on)
        self.settings.show_skeleton = on

    def _set_fps(self, on: bool) -> None:
        self.viewport.show_fps = on
        self.fps_readout.setVisible(on)
        self.viewport.update()

    def _pick_background(self) -> None:
        from PySide6.QtGui import QColor
        c = QColorDialog.getColor(QColor.fromRgbF(*self.viewport.background), self, "Viewport background")
        if c.isValid():
            rgb = (c.redF(), c.greenF(), c.blueF())
            self.viewport.set_background(rgb)
            self.settings.background = rgb

    def _show_help(self) -> None:
        QMessageBox.information(self, "First five minutes", FIRST_FIVE_MINUTES)

    def _show_about(self) -> None:
        QMessageBox.about(self, "About Avatar Studio",
                          f"<b>Avatar Studio {__version__}</b><br>One photo in, an animatable 3D Gaussian-splat "
                          "avatar out.<br>Renderer: " + (self.viewport.renderer_label or "none"))

    # ================================================================== drag and drop
    def dragEnterEvent(self, e: QDragEnterEvent) -> None:
        md = e.mimeData()
        if md.hasUrls() and any(u.isLocalFile() for u in md.urls()):
            e.acceptProposedAction()
            self._show_drop_hint(True)
        else:
            e.ignore()

    def dragMoveEvent(self, e: QDragMoveEvent) -> None:
        md = e.mimeData()
        if md.hasUrls() and any(u.isLocalFile() for u in md.urls()):
            e.acceptProposedAction()
        else:
            e.ignore()

    def dragLeaveEvent(self, e: QDragLeaveEvent) -> None:
        self._show_drop_hint(False)

    def _show_drop_hint(self, on: bool) -> None:
        """A frame over the viewport while files are dragged over the window: this is where they go."""
        if self._drop_hint is None:
            hint = QLabel("Drop to open: photo, avatar or splats, motion, project", self)
            hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
            hint.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
            hint.setStyleSheet("QLabel { border: 3px dashed rgb(80, 140, 255); background: rgba(80, 140, 255, 40);"
                               " color: white; font-size: 16pt; }")
            self._drop_hint = hint
        if on:
            self._drop_hint.setGeometry(QRect(self.viewport.mapTo(self, QPoint(0, 0)), self.viewport.size()))
            self._drop_hint.raise_()
        self._drop_hint.setVisible(on)

    def dropEvent(self, e: QDropEvent) -> None:
        self._show_drop_hint(False)
        paths = [u.toLocalFile() for u in e.mimeData().urls() if u.isLocalFile()]
        if paths:
            e.acceptProposedAction()
            self.open_paths(paths)

    # ================================================================== closing
    def terminate(self) -> None:
        """SIGTERM (logout, `kill`): no questions. Running jobs are cancelled, so their writers remove
        their temp files and no existing file is touched; the autosave stays for recovery next time."""
        self.prompt_on_close = False
        self._keep_autosave = True
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
                job = self.save_project()
                if job is None:
                    e.ignore()
                    return
                job.wait(30)
                QApplication.processEvents()
        self.timeline.pause()
        self._autosave_timer.stop()
        self.jobs.cancel_all()
        if self.process_worker is not None:
            self.process_worker.stop()
        for thread in (getattr(self, "_warmup", None), getattr(self, "_cpu_probe", None)):
            if thread is not None:
                thread.wait(10000)
        self.settings.save_window_state(self.saveGeometry(), self.saveState())
        self.settings.sync()
        if not getattr(self, "_keep_autosave", False):
            self.autosave_path.unlink(missing_ok=True)
        super().closeEvent(e)


FIRST_FIVE_MINUTES = """\
1. Drop a full-body photo on the window (or File ▸ Open Photo). The progress bar names each stage; \
Cancel stops it within a second. The avatar appears in the viewport when it is ready.
2. Orbit with the left mouse button, pan with the right (or Shift+left), zoom with the wheel; F frames \
everything, 1/2/3 show front/side/back, G toggles the grid and K the skeleton.
3. Drop a motion (AMASS .npz, LHM folder, BVH, …) on the window to put it on the avatar. Space plays, \
←/→ step, Home/End jump; drag the playhead to scrub and the blue handles to choose a range.
4. The Motion panel trims, mirrors, locks the root, smooths and keys joints; Ctrl+Z undoes any edit.
5. File ▸ Export Video writes MP4/WebM/GIF/PNG; Export PLY writes the avatar or posed frames. \
Ctrl+S saves everything as one project file.
"""
