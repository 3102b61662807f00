"""Autosave and crash recovery: unsaved work is written quietly to a per-process file; a later start
finds the files of sessions that did not exit cleanly and offers to recover the newest."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QStandardPaths, QTimer
from PySide6.QtWidgets import QMessageBox

from ..core.io.atomic import pid_alive
from ..core.open import PROJECT_SUFFIX
from .jobs import Job

if TYPE_CHECKING:
    from .main_window import MainWindow


class Autosave(QObject):
    """`folder` (default: the app-data folder's autosave/) holds autosave-<pid>.avsproj files."""

    def __init__(self, window: "MainWindow", folder: str | Path | None = None) -> None:
        super().__init__(window)
        self.w = window
        if folder:
            self.folder = Path(folder)
        else:
            data = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
            self.folder = (Path(data) if data else Path.home() / ".avatar_studio") / "autosave"
        self.path = self.folder / f"autosave-{os.getpid()}{PROJECT_SUFFIX}"
        self.saved_index = 0  # the undo index the autosave file holds
        self.keep = False     # leave the file for recovery at close (SIGTERM)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.save)

    def apply_interval(self) -> None:
        s = self.w.settings.autosave_interval_s
        if s > 0:
            self.timer.start(int(s * 1000))
        else:
            self.timer.stop()

    def save(self) -> Job | None:
        """Save unsaved work to the autosave file (quietly, on a worker thread)."""
        w = self.w
        if w.scene is None or not w.scene.items or w.undo_stack.index() == self.saved_index:
            return None
        if w.undo_stack.isClean():
            return None
        snap, data, path = w.scene.snapshot(), w.file_menu.project_data(), self.path
        if w.project_path is not None:  # so a recovered session comes back as this project (unsaved)
            data.extra["project_path"] = str(w.project_path)
        index = w.undo_stack.index()

        def work(progress, cancel):
            from ..core.project import save_project
            return save_project(path, snap, data)

        job = w.jobs.submit("Autosave", work)
        job.succeeded.connect(lambda _: setattr(self, "saved_index", index))
        job.failed.connect(lambda msg, _d: w.statusBar().showMessage(f"Autosave failed: {msg}", 8000))
        return job.start()

    def orphaned(self) -> list[Path]:
        """Autosave files left by sessions that did not exit cleanly (their process is gone)."""
        out: list[Path] = []
        if not self.folder.is_dir():
            return out
        for f in sorted(self.folder.glob(f"autosave-*{PROJECT_SUFFIX}")):
            try:
                pid = int(f.stem.split("-", 1)[1])
            except ValueError:
                continue
            if pid != os.getpid() and not pid_alive(pid):
                out.append(f)
        return out

    def check_recovery(self) -> None:
        files = self.orphaned()
        if not files:
            return
        newest = max(files, key=lambda f: f.stat().st_mtime)
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(newest.stat().st_mtime))
        answer = self.w._ask("Recover unsaved work",
                             f"Avatar Studio did not close properly last time. Recover the work autosaved at {when}?")
        if answer == QMessageBox.StandardButton.Yes:
            job = self.w.file_menu.open_project(newest, as_recovery=True)
            if job is not None:
                job.finished.connect(lambda: [f.unlink(missing_ok=True) for f in files])
        else:
            for f in files:
                f.unlink(missing_ok=True)

    def close(self) -> None:
        """The window closes: stop, and remove the file unless it is kept for recovery."""
        self.timer.stop()
        if not self.keep:
            self.path.unlink(missing_ok=True)

    def forget(self) -> None:
        """The scene was replaced (opened, new): nothing of it is autosaved yet."""
        self.saved_index = 0


__all__ = ["Autosave"]
