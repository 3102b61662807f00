"""File menu: open anything (core/open.py says what it is), photos to reconstruct, the demo, recent files,
projects (new, save, open), settings and quit."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox

from ... import RESOURCES_DIR
from ...core.io.formats import FORMATS as SPLAT_FORMATS
from ...core.io.formats import file_dialog_filter as splat_dialog_filter
from ...core.open import MOTION_PATTERNS, PHOTO_EXTENSIONS, PROJECT_SUFFIX
from ..jobs import Job
from . import make_action

if TYPE_CHECKING:
    from ..main_window import MainWindow

SPLAT_EXTS = sorted({Path("x" + e).suffix for f in SPLAT_FORMATS if f.can_read for e in f.extensions})


def reconstruction_message(photo_name: str, num_gaussians: int, notes: list[str]) -> tuple[str, str]:
    """(a short status line that is not cut off beside the readouts, the full text with how it was made)."""
    short = f"Avatar from {photo_name}: {num_gaussians:,} Gaussians" + (" (details in the tooltip)" if notes else "")
    full = f"Avatar from {photo_name}: {num_gaussians:,} Gaussians" + ("".join(f"\n• {n}" for n in notes))
    return short, full


def short_dir(folder: Path) -> str:
    """A folder as people read it: ~ for the home folder."""
    try:
        return "~/" + str(folder.relative_to(Path.home())) if folder != Path.home() else "~"
    except ValueError:
        return str(folder)


def sample_photo() -> Path | None:
    """The demo's sample photo (as `avatar-studio demo` uses), or any shipped sample photo."""
    from ... import SAMPLE_PHOTO
    if SAMPLE_PHOTO.is_file():
        return SAMPLE_PHOTO
    return next(iter(sorted((RESOURCES_DIR / "photos").glob("*.png"))), None)


def file_filter() -> str:
    photos = " ".join(f"*{e}" for e in PHOTO_EXTENSIONS)
    splats = " ".join(f"*{e}" for e in SPLAT_EXTS)
    return (f"Everything Avatar Studio opens ({photos} {splats} *{PROJECT_SUFFIX} {MOTION_PATTERNS});;"
            f"Photos ({photos});;{splat_dialog_filter('read')};;Projects (*{PROJECT_SUFFIX});;"
            f"Motions ({MOTION_PATTERNS});;All files (*)")


class FileMenu(QObject):
    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.w = w = window
        S = QKeySequence.StandardKey
        self.act_new = make_action(w, "&New Project", self.new_project, S.New, "Start an empty scene")
        self.act_open = make_action(w, "&Open…", self.open_dialog, S.Open,
                                    "Open a photo, avatar, splat file, motion or project", "open")
        self.act_open_photo = make_action(w, "Open &Photo…", self.open_photo_dialog, "Ctrl+Shift+O",
                                          "Reconstruct an avatar from a photo", "photo")
        self.act_load_motion = make_action(w, "Load &Motion…", self.load_motion_dialog, "Ctrl+M",
                                           "Put a motion file or folder on the selected avatar", "curve")
        self.act_demo = make_action(w, "Open &Demo", self.load_demo, None,
                                    "Reconstruct the sample photo and play a sample dance on it", "avatar")
        self.act_save = make_action(w, "&Save Project", self.save_project, S.Save, "Save the scene as a project file",
                                    "save")
        self.act_save_as = make_action(w, "Save Project &As…", lambda: self.save_project(ask=True), S.SaveAs)
        self.act_settings = make_action(w, "Se&ttings…", self.settings_dialog, S.Preferences,
                                        "Model paths and back-ends", "settings")
        if self.act_settings.shortcut().isEmpty():
            self.act_settings.setShortcut(QKeySequence("Ctrl+,"))
        self.act_quit = make_action(w, "&Quit", w.close, S.Quit)
        self.recent_menu: QMenu | None = None
        self.photo_queue: list[Path] = []
        self.reconstruction: Job | None = None
        self.demo_autoplay = False  # the next reconstruction is Open Demo's: play once it is in
        w.status_jobs.job_done.connect(self._next_photo)

    def fill(self, menu: QMenu, export_actions: list) -> None:
        for act in (self.act_new, self.act_open, self.act_open_photo, self.act_load_motion):
            menu.addAction(act)
        self.recent_menu = menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self.fill_recent_menu)
        menu.addAction(self.act_demo)
        menu.addSeparator()
        menu.addAction(self.act_save)
        menu.addAction(self.act_save_as)
        menu.addSeparator()
        for act in export_actions:
            menu.addAction(act)
        menu.addSeparator()
        menu.addAction(self.act_settings)
        menu.addSeparator()
        menu.addAction(self.act_quit)

    # ------------------------------------------------------------------ opening
    @property
    def busy(self) -> bool:
        """A reconstruction is running (further photos queue behind it)."""
        return self.reconstruction is not None and self.reconstruction.running

    def _next_photo(self, _job: Any) -> None:
        if not self.busy and self.photo_queue:
            self.reconstruct(self.photo_queue.pop(0))

    def reconstruct(self, path: str | Path) -> Job | None:
        """Reconstruct an avatar from a photo in the worker process; it appears when done."""
        w, path = self.w, Path(path)
        if self.busy:
            self.photo_queue.append(path)
            w.statusBar().showMessage(f"{path.name} is queued: it reconstructs after the current job.", 5000)
            return None
        settings = w.settings
        if settings.reconstructor == "lhm" and not (settings.lhm_model_dir and settings.lhm_prior_dir):
            # said in the window's words (the engine's own message names command-line options)
            w.show_error("LHM needs its model folder and its prior folder: choose them in Settings, or choose "
                         "the Template reconstruction there.", title="Reconstruction")
            return None
        autoplay, self.demo_autoplay = self.demo_autoplay, False
        kwargs = dict(path=str(path), backend=settings.reconstructor,
                      model_dir=settings.lhm_model_dir or None, prior_dir=settings.lhm_prior_dir or None)
        worker = w.process_worker

        def work(progress, cancel):
            from ..process_worker import reconstruct_photo
            if worker is None:  # no child process (could not start): run here, on the job thread
                return reconstruct_photo(progress, cancel, **kwargs)
            return worker.call("avatar_studio.app.process_worker:reconstruct_photo", kwargs, progress, cancel)

        def done(result: Any) -> None:
            from ...core.scene import AvatarItem
            motion, w.pending_motion = w.pending_motion, None
            w.add_item(AvatarItem(name=path.stem, avatar=result.avatar, motion=motion), f"Reconstruct {path.name}")
            if autoplay and motion is not None:
                w.timeline.play()
            settings.add_recent(path)
            short, full = reconstruction_message(path.name, len(result.avatar.gaussians),
                                                 getattr(result.diagnostics, "notes", []) or [])
            # the short line fits beside the readouts; how it was made stays in the tooltip
            w.statusBar().setToolTip(full)
            w.statusBar().showMessage(short, 20000)

        self.reconstruction = w.status_jobs.start(f"Reconstructing {path.name}", work, done)
        return self.reconstruction

    def open_file(self, path: str | Path) -> Job:
        """Read an avatar, splats, a motion or a sequence (`core.open.open_path`) on a worker thread: a
        motion goes on the selected avatar, the others become scene items."""
        w, path = self.w, Path(path)
        target = w.selected_avatar()
        body = w.scene.body_for(target) if target is not None else w.scene.body

        def work(progress, cancel):
            from ...core.open import open_path
            progress("reading", 0.0)
            return open_path(path, body=body, playable=True)

        def done(opened: Any) -> None:
            from ...core.scene import AvatarItem, SequenceItem, SplatsItem
            obj = opened.value
            if opened.kind == "motion":
                obj.name = obj.name if obj.name and obj.name != "motion" else path.stem
                w.motion_menu.set_motion(obj)
            elif opened.kind == "avatar":
                motion, w.pending_motion = w.pending_motion, None
                w.add_item(AvatarItem(name=obj.name or path.stem, avatar=obj, motion=motion), f"Open {path.name}")
            elif opened.kind == "splats":
                w.add_item(SplatsItem(name=path.stem, gaussians=obj), f"Open {path.name}")
            elif opened.kind == "sequence":
                w.add_item(SequenceItem(name=path.stem, sequence=obj), f"Open {path.name}")
            w.settings.add_recent(path)
            if opened.notes:  # what the read repaired (dropped NaN splats, a guessed SH order)
                w.statusBar().showMessage("; ".join(opened.notes), 10000)

        return w.status_jobs.start(f"Opening {path.name}", work, done)

    def _ask_paths(self, title: str, filters: str, many: bool = False) -> None:
        ask = QFileDialog.getOpenFileNames if many else QFileDialog.getOpenFileName
        chosen, _ = ask(self.w, title, self.w.settings.last_dir, filters)
        if chosen:
            self.w.open_paths(chosen if many else [chosen])

    def open_dialog(self) -> None:
        self._ask_paths("Open", file_filter(), many=True)

    def open_photo_dialog(self) -> None:
        self._ask_paths("Open photo", f"Photos ({' '.join(f'*{e}' for e in PHOTO_EXTENSIONS)})")

    def load_motion_dialog(self) -> None:
        self._ask_paths("Load motion (file)", f"Motions ({MOTION_PATTERNS});;All files (*)")

    def load_demo(self) -> None:
        """Reconstruct the embedded sample photo and put the sample dance on it."""
        w = self.w
        photo = sample_photo()
        if photo is None:
            w.show_error(f"The sample photos are missing from {RESOURCES_DIR / 'photos'}; reinstall Avatar Studio.")
            return

        def start() -> None:
            from ... import SAMPLE_MOTION
            if SAMPLE_MOTION.is_file():
                from ...core.motion.amass import load_amass
                try:
                    from ...core.pipeline import motion_for_playback
                    w.pending_motion = motion_for_playback(load_amass(SAMPLE_MOTION), w.scene.body)
                except Exception as err:  # the avatar still comes; say why it does not dance
                    w.statusBar().showMessage(f"The sample motion could not be loaded: {err}", 8000)
            self.demo_autoplay = True
            self.reconstruct(photo)

        w.when_ready(start)

    def fill_recent_menu(self) -> None:
        menu, settings = self.recent_menu, self.w.settings
        menu.clear()
        for f in settings.recent_files:
            # name and folder: two recent "avatar.ply" files must be told apart
            act = menu.addAction(f"{Path(f).name}  —  {short_dir(Path(f).parent)}")
            act.setToolTip(f)
            act.triggered.connect(lambda _=False, f=f: self.w.open_paths([f]))
        if not settings.recent_files:
            menu.addAction("(none)").setEnabled(False)
        menu.addSeparator()
        menu.addAction("Clear List", settings.clear_recent)

    # ------------------------------------------------------------------ projects
    def project_data(self) -> Any:
        from ...core.project import ProjectData
        w = self.w
        extra = {"trim": list(w.timeline.trim_range()), "show_grid": w.viewport.show_grid,
                 "show_skeleton": w.viewport.show_skeleton, "background": list(w.viewport.background)}
        return ProjectData(camera=w.viewport.orbit_camera.to_dict(), extra=extra)  # key markers: in the items

    def save_project(self, ask: bool = False, path: str | Path | None = None) -> Job | None:
        w = self.w
        if w.scene is None:
            return None
        if path is None:
            path = w.project_path
        if path is None or ask:
            start = str(w.project_path or Path(w.settings.last_dir) / f"untitled{PROJECT_SUFFIX}")
            chosen, _ = QFileDialog.getSaveFileName(w, "Save project", start, f"Projects (*{PROJECT_SUFFIX})")
            if not chosen:
                return None
            path = chosen
        path = Path(path)
        if path.suffix.lower() != PROJECT_SUFFIX:
            path = path.with_suffix(PROJECT_SUFFIX)
        snap, data = w.scene.snapshot(), self.project_data()
        index = w.undo_stack.index()

        def work(progress, cancel):
            from ...core.project import save_project
            progress("writing project", 0.1)
            return save_project(path, snap, data)

        def done(result: Any) -> None:
            w.project_path = Path(result)
            if w.undo_stack.index() == index:
                w.undo_stack.setClean()
            w.settings.add_recent(result)
            w.update_title()
            w.statusBar().showMessage(f"Saved {result}", 5000)

        return w.status_jobs.start(f"Saving {path.name}", work, done)

    def open_project(self, path: str | Path, *, as_recovery: bool = False) -> Job | None:
        """Read a project on a worker thread; once it has been read, it replaces the scene."""
        w, path = self.w, Path(path)
        smplx_path = w.scene.smplx_path

        def work(progress, cancel):
            from ...core.open import open_path
            from ...core.scene import Scene
            progress("reading project", 0.1)
            return open_path(path, scene=Scene(smplx_path=smplx_path)).value

        def done(result: Any) -> None:
            if not as_recovery and not self.confirm_discard():
                return
            loaded, data = result
            self.replace_scene_content(loaded)
            self.apply_project_data(data)
            if as_recovery:
                was = data.extra.get("project_path")
                w.project_path = Path(was) if isinstance(was, str) and was else None
                w.undo_stack.resetClean()
                w.statusBar().showMessage("Recovered the autosaved session. Save it to keep it.", 10000)
            else:
                w.project_path = path
                w.settings.add_recent(path)
            w.update_title()
            for warning in data.warnings:
                w.show_error(warning, title="Project")

        return w.status_jobs.start(f"Opening {path.name}", work, done)

    def replace_scene_content(self, loaded: Any) -> None:
        w, scene = self.w, self.w.scene
        w.timeline.pause()
        for item in list(scene.items):
            scene.remove(item)
        for item in loaded.items:
            scene.add(item, select=False)
        scene.select(loaded.selected if loaded.selected is not None else (scene.items[0] if scene.items else None))
        scene.set_time(loaded.time)
        w.undo_stack.clear()
        w.autosave.forget()

    def apply_project_data(self, data: Any) -> None:
        from ..viewport import OrbitCamera
        w = self.w
        if data.camera:
            w.viewport.orbit_camera = OrbitCamera.from_dict(data.camera)
        else:
            w.frame_all()
        extra = data.extra
        if "show_grid" in extra:
            w.view_menu.act_grid.setChecked(bool(extra["show_grid"]))
        if "show_skeleton" in extra:
            w.view_menu.act_skeleton.setChecked(bool(extra["show_skeleton"]))
        if "background" in extra:
            w.viewport.set_background(tuple(extra["background"]))
        if "trim" in extra:
            w.timeline.set_trim(*extra["trim"])
            w.motion_panel.set_trim(*w.timeline.trim_range())
        w.first_item_framed = True
        w.sync_curves()
        w.viewport.update()

    def new_project(self) -> None:
        w = self.w
        if w.scene is None or not self.confirm_discard():
            return
        from ...core.scene import Scene
        self.replace_scene_content(Scene())
        w.project_path = None
        w.first_item_framed = False
        w.update_title()

    def confirm_discard(self) -> bool:
        w = self.w
        if w.scene is None or not w.scene.items or w.undo_stack.isClean():
            return True
        return w._ask("Unsaved changes", "Discard the unsaved changes in this scene?") == QMessageBox.StandardButton.Yes

    # ------------------------------------------------------------------ settings
    def settings_dialog(self) -> None:
        from ..dialogs.settings_dialog import SettingsDialog
        old_smplx = self.w.settings.smplx_dir
        dlg = SettingsDialog(self.w.settings, self.w)
        if dlg.exec() == dlg.DialogCode.Accepted:
            self.apply_settings(smplx_changed=self.w.settings.smplx_dir != old_smplx)

    def apply_settings(self, smplx_changed: bool = False) -> None:
        w = self.w
        w.viewport.set_background(w.settings.background)
        w.viewport.set_renderer_name(w.settings.renderer)
        w.show_renderer()
        w.autosave.apply_interval()
        if smplx_changed:
            w.statusBar().showMessage("The new SMPL-X folder is used from the next start of Avatar Studio.", 10000)
