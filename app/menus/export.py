"""Export actions (in the File menu): video and PLY through the export dialog, rigged GLB. The window
builds a request; core/export/requests.py does the work on a job."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QFileDialog, QProgressDialog

from ..jobs import Job
from . import make_action

if TYPE_CHECKING:
    from ..main_window import MainWindow


class ExportMenu(QObject):
    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.w = w = window
        self.act_export_video = make_action(w, "Export &Video…", lambda: self.export_dialog("video"), "Ctrl+E",
                                            "Render the animation to MP4, WebM, GIF or PNG frames", "export")
        self.act_export_ply = make_action(w, "Export P&LY…", lambda: self.export_dialog("ply"), "Ctrl+Shift+E",
                                          "Write the avatar (canonical or posed) as 3DGS PLY")
        self.act_export_glb = make_action(w, "Export &GLB (rigged)…", self.export_glb_dialog, None,
                                          "Write the avatar with its skeleton and motion as one glTF file "
                                          "(Blender, Unity, three.js)")
        self.last_request: Any = None  # the export dialog's last request: its choices come back next time
        self.progress_dialog: QProgressDialog | None = None

    @property
    def actions(self) -> list:
        return [self.act_export_video, self.act_export_ply, self.act_export_glb]

    def export_folder(self) -> Path:
        """Default folder for exports: the last export's, else the open project's, else ~/Videos (or ~)."""
        last = self.w.settings.export_dir
        if last and Path(last).is_dir():
            return Path(last)
        if self.w.project_path is not None and self.w.project_path.parent.is_dir():
            return self.w.project_path.parent
        videos = Path.home() / "Videos"
        return videos if videos.is_dir() else Path.home()

    def export_dialog(self, initial: str = "video") -> None:
        from ..dialogs.export_dialog import ExportDialog
        w = self.w
        if w.scene is None or not w.scene.items:
            w.show_error("Nothing to export yet: open a photo or an avatar first.")
            return
        cam = w.viewport.orbit_camera
        dlg = ExportDialog(w, num_frames=w.scene.num_frames, fps=w.scene.fps, trim=w.timeline.trim_range(),
                           folder=str(self.export_folder()), name=(w.scene.selected or w.scene.items[0]).name,
                           azimuth=cam.azimuth, elevation=cam.elevation, initial=initial,
                           has_avatar=w.selected_avatar() is not None, previous=self.last_request)
        if dlg.exec() == dlg.DialogCode.Accepted:
            self.last_request = dlg.request()
            self.run_export(self.last_request)

    def _exported(self, out: Any) -> None:
        self.w.statusBar().showMessage(f"Exported {out}", 8000)
        self.w.settings.export_dir = str(Path(out).parent)

    def run_export(self, req: Any) -> Job | None:
        """Run an `ExportRequest` (core/export/requests.py) on a worker thread with a progress dialog
        (Cancel works); the window adds its renderer and background to the request."""
        from ...core.errors import StudioError
        from ...core.export.requests import check_export, run_export
        w = self.w
        if w.scene is None or not w.scene.items:
            w.show_error("Nothing to export yet.")
            return None
        req = replace(req, background=tuple(w.viewport.background), renderer=w.settings.renderer)
        snap = w.scene.snapshot()
        try:
            check_export(req, snap)
        except StudioError as err:
            w.show_error(str(err))
            return None
        dlg = QProgressDialog(f"Exporting {req.path.name}…", "Cancel", 0, 1000, w)
        dlg.setWindowTitle("Export")
        dlg.setWindowModality(Qt.WindowModality.WindowModal)
        dlg.setMinimumDuration(0)
        dlg.setAutoClose(False)
        dlg.setAutoReset(False)
        job = w.jobs.submit(f"Export {req.path.name}", lambda progress, cancel: run_export(req, snap, progress, cancel))
        self.progress_dialog = dlg
        dlg.canceled.connect(job.cancel)

        def progress(stage: str, fraction: float) -> None:
            dlg.setValue(int(fraction * 1000))
            dlg.setLabelText(f"Exporting {req.path.name}: {stage}")

        def finished() -> None:
            dlg.canceled.disconnect()
            dlg.close()
            w.job_finished.emit(job.title)

        job.progress.connect(progress)
        job.succeeded.connect(self._exported)
        job.failed.connect(lambda msg, details: w.show_error(msg, details, title="Export"))
        job.cancelled.connect(lambda: w.statusBar().showMessage("Export cancelled; no file was written.", 6000))
        job.finished.connect(finished)
        dlg.show()
        return job.start()

    def export_glb_dialog(self) -> Job | None:
        """Ask where to write the selected avatar (with its motion) as a rigged GLB, then export it."""
        item = self.w.selected_avatar()
        if item is None:
            self.w.show_error("GLB export needs an avatar: open a photo or an avatar first.")
            return None
        suggested = str(self.export_folder() / f"{item.name}.glb")
        path, _ = QFileDialog.getSaveFileName(self.w, "Export GLB", suggested, "Binary glTF (*.glb)")
        return self.run_glb_export(Path(path)) if path else None

    def run_glb_export(self, path: Path) -> Job | None:
        """Export the selected avatar and its motion (whole clip) as a GLB on a background job."""
        w = self.w
        item = w.selected_avatar()
        if item is None:
            w.show_error("GLB export needs an avatar.")
            return None
        path = path if path.suffix.lower() == ".glb" else path.with_suffix(".glb")
        snap = w.scene.snapshot()
        item = next(i for i in snap.items if i.uid == item.uid)
        renderer_name = w.settings.renderer

        def work(progress, cancel):
            from ...core.export.requests import export_scene_glb
            return export_scene_glb(path, snap, item, renderer=renderer_name, progress=progress)

        return w.status_jobs.start(f"Export {path.name}", work, self._exported)
