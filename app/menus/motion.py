"""Motion menu: the Motion panel's edits, motion from a video, and the BVH joint mapping. Every change to
a motion is one undo step; a motion loaded before any avatar waits for the next one."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QFileDialog, QMenu

from ..jobs import Job
from . import make_action

if TYPE_CHECKING:
    from ..main_window import MainWindow

VIDEO_PATTERNS = "*.mp4 *.mov *.webm *.mkv *.avi *.m4v"


class MotionMenu(QObject):
    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.w = w = window
        self.act_import_video = make_action(w, "Import Motion from &Video…", self.import_video_motion_dialog,
                                            tip="Capture SMPL-X motion from a video of one person (offline, on the "
                                                "CPU)")
        self.act_mapping = make_action(w, "Edit BVH &Mapping…", self.edit_bvh_mapping,
                                       tip="Choose which SMPL-X joint each joint of the source BVH drives")
        self.mapping_dialog: Any = None
        self.mocap_check: Any = None

    def fill(self, menu: QMenu) -> None:
        for act in self.w.motion_panel.actions_for_menu(self.w):
            menu.addAction(act)
        menu.addSeparator()
        menu.addAction(self.act_import_video)
        menu.addAction(self.act_mapping)

    def set_motion(self, motion: Any) -> None:
        """Put `motion` on the selected avatar (undoable), or keep it for the next avatar."""
        from ..undo import MotionEdit
        w = self.w
        item = w.selected_avatar()
        if item is None:
            w.pending_motion = motion
            w.statusBar().showMessage(f"Motion '{motion.name}' is ready: drop a photo or an avatar to use it.", 10000)
            return
        w.undo_stack.push(MotionEdit(w.scene, item, motion, f"Load motion {motion.name}", keys={}))
        w.scene.set_time(0.0)
        w.statusBar().showMessage(f"{item.name}: motion '{motion.name}', {motion.num_frames} frames at "
                                  f"{motion.fps:g} fps", 6000)

    def apply_motion_edit(self, label: str, fn: Callable[[Any, Any], Any], keys: tuple[int, int] | None = None) -> None:
        """Apply a pure (Motion, BodyModel) -> Motion function to the selected avatar's motion as one
        undo step. `keys` (joint, frame) records a key-override marker for the curve view."""
        from ..undo import MotionEdit
        w = self.w
        item = w.selected_avatar()
        if item is None or item.motion is None:
            w.show_error("Select an avatar that has a motion first.")
            return
        try:
            new = fn(item.motion, w.scene.body_for(item))
        except Exception as err:  # StudioError or a bad parameter: say so, change nothing
            w.show_error(f"{label} failed: {err}")
            return
        marks = w.scene.keys_with(item, *keys) if keys is not None else None  # the markers undo with the edit
        w.undo_stack.push(MotionEdit(w.scene, item, new, label, keys=marks))
        if keys is not None:
            w.sync_curves()

    def capture_video_motion(self, path: str | Path) -> Job:
        """Motion capture on a worker thread; the motion goes on the selected avatar (undoable) and a
        check view shows the fitted skeleton over the video."""
        w, path = self.w, Path(path)
        target = w.selected_avatar()
        body = w.scene.body_for(target) if target is not None else w.scene.body

        def work(progress, cancel):
            from ...core.mocap.pipeline import capture_motion
            return capture_motion(path, progress=progress, cancel=cancel, body=body)

        def done(result: Any) -> None:
            from ..dialogs.mocap_check import MocapCheckDialog
            result.motion.name = path.stem
            self.set_motion(result.motion)
            self.mocap_check = MocapCheckDialog(path, result, w)
            self.mocap_check.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            self.mocap_check.show()

        return w.status_jobs.start(f"Motion from {path.name}", work, done)

    def import_video_motion_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.w, "Import motion from video", self.w.settings.last_dir,
                                              f"Videos ({VIDEO_PATTERNS});;All files (*)")
        if path:
            self.capture_video_motion(path)

    def edit_bvh_mapping(self, source: str | None = None) -> None:
        """Edit the selected avatar's BVH mapping, then retarget again (undoable; saved with the project).

        When its motion did not come from a BVH (for example a BVH whose names were refused), a BVH
        file is asked for (or `source` used) and mapped from scratch.
        """
        from ..dialogs.mapping_dialog import MappingDialog
        w = self.w
        item = w.selected_avatar()
        info = item.motion.meta.get("retarget") if item is not None and item.motion is not None else None
        if not info or source is not None:
            if item is None:
                w.show_error("Select an avatar first: the BVH motion is mapped onto its body.")
                return
            if source is None:
                source, _ = QFileDialog.getOpenFileName(w, "Map the joints of a BVH file", w.settings.last_dir,
                                                        "BVH motion (*.bvh);;All files (*)")
            if not source:
                return
            from ...core.motion.retarget import RetargetSettings
            info = {"source": str(source), "settings": RetargetSettings().to_dict()}
        self.mapping_dialog = MappingDialog(info["source"], info["settings"], w)
        self.mapping_dialog.accepted.connect(
            lambda: self.retarget_bvh(item, info["source"], self.mapping_dialog.result_settings()))
        self.mapping_dialog.open()

    def retarget_bvh(self, item: Any, source: str, settings: dict) -> Job:
        body = self.w.scene.body_for(item)

        def work(progress, cancel):
            from ...core.pipeline import load_motion_for_playback
            progress("retargeting", 0.1)
            return load_motion_for_playback(source, body, retarget=settings)

        def done(motion: Any) -> None:
            motion.name = item.motion.name if item.motion is not None else Path(source).stem
            self.set_motion(motion)

        return self.w.status_jobs.start(f"Retargeting {Path(source).name}", work, done)
