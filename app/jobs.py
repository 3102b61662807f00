"""Background jobs: run long core work (reconstruct, export, motion import) on a worker thread and turn
its `progress(stage, fraction)` callback and `CancelToken` into Qt signals on the GUI thread.

The worker never touches widgets or the viewport's GL context; it only computes and returns a value.
"""
from __future__ import annotations

import threading
import time
import traceback
from typing import TYPE_CHECKING, Any, Callable

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from ..core.errors import CancelledError, StudioError

if TYPE_CHECKING:
    from ..core.jobs import CancelToken

JobFunction = Callable[[Callable[[str, float], None], "CancelToken"], Any]
"""fn(progress, cancel) -> result; progress(stage, fraction 0..1); check cancel between small steps."""

PROGRESS_INTERVAL_S = 0.05  # at most ~20 progress updates per second reach the GUI


class _Worker(QObject):
    """Runs the function on a daemon thread (so a job that ignores its cancel token can never hold up
    quitting); the signals are emitted from that thread and delivered queued to the GUI thread."""

    progressed = Signal(str, float)
    done = Signal(object)
    error = Signal(str, str)
    stopped = Signal()

    def __init__(self, fn: JobFunction, token: "CancelToken", name: str) -> None:
        super().__init__()
        self.fn, self.token = fn, token
        self._last_emit = 0.0
        self._last_stage = ""
        self.thread = threading.Thread(target=self.run, name=f"job: {name}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def wait(self, timeout_ms: int) -> bool:
        if self.thread.ident is None:
            return True
        self.thread.join(timeout_ms / 1000)
        return not self.thread.is_alive()

    def _progress(self, stage: str, fraction: float) -> None:
        now = time.perf_counter()
        if stage != self._last_stage or now - self._last_emit >= PROGRESS_INTERVAL_S or fraction >= 1.0:
            self._last_stage, self._last_emit = stage, now
            self.progressed.emit(str(stage), float(fraction))
        self.token.check()

    def run(self) -> None:  # worker thread
        try:
            self.token.check()
            result = self.fn(self._progress, self.token)
            if self.token.cancelled:
                raise CancelledError()
        except CancelledError:
            self.stopped.emit()
        except StudioError as err:
            self.error.emit(str(err), getattr(err, "details", "") or traceback.format_exc())
        except MemoryError:
            self.error.emit("Out of memory. Try a smaller image or fewer Gaussians.", traceback.format_exc())
        except Exception as err:  # a bug: say so plainly, keep the trace for the details pane
            self.error.emit(f"Unexpected error: {type(err).__name__}: {err}", traceback.format_exc())
        else:
            self.done.emit(result)


class Job(QObject):
    """One background task.

    Signals (all delivered on the GUI thread):
        progress(stage, fraction), succeeded(result), failed(message, details), cancelled(), finished().
    `finished` follows exactly one of succeeded/failed/cancelled.
    """

    progress = Signal(str, float)
    succeeded = Signal(object)
    failed = Signal(str, str)
    cancelled = Signal()
    finished = Signal()

    def __init__(self, title: str, fn: JobFunction, parent: QObject | None = None) -> None:
        super().__init__(parent)
        from ..core.jobs import CancelToken
        self.title = title
        self.token = CancelToken()
        self.stage = ""
        self.fraction = 0.0
        self.result: Any = None
        self.error: str | None = None
        self._worker = _Worker(fn, self.token, title)
        self._worker.progressed.connect(self._on_progress)
        self._worker.done.connect(self._on_done)
        self._worker.error.connect(self._on_error)
        self._worker.stopped.connect(self._on_stopped)
        self._ended = threading.Event()

    # control -----------------------------------------------------------
    def start(self) -> "Job":
        self._worker.start()
        return self

    def cancel(self) -> None:
        self.token.cancel()

    @property
    def running(self) -> bool:
        return not self._ended.is_set()

    def wait(self, timeout_s: float = 5.0) -> bool:
        """Block until the worker thread has ended (for shutdown and tests)."""
        return self._worker.wait(int(timeout_s * 1000))

    # worker -> GUI -----------------------------------------------------
    @Slot(str, float)
    def _on_progress(self, stage: str, fraction: float) -> None:
        if self.token.cancelled:
            return
        self.stage, self.fraction = stage, fraction
        self.progress.emit(stage, fraction)

    @Slot(object)
    def _on_done(self, result: Any) -> None:
        if self.token.cancelled:  # finished just as the user cancelled: honour the cancel
            self._on_stopped()
            return
        self.result = result
        self._ended.set()
        self.succeeded.emit(result)
        self.finished.emit()

    @Slot(str, str)
    def _on_error(self, message: str, details: str) -> None:
        self.error = message
        self._ended.set()
        self.failed.emit(message, details)
        self.finished.emit()

    @Slot()
    def _on_stopped(self) -> None:
        self._ended.set()
        self.cancelled.emit()
        self.finished.emit()


class JobManager(QObject):
    """Keeps running jobs alive, and cancels and joins them on shutdown.

    Jobs have no Qt parent: Python owns them. A finished job is dropped on the next turn of the event
    loop (never inside its own `finished` signal), and lives on while anybody else holds it.
    """

    changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.jobs: list[Job] = []
        self._ended: list[Job] = []

    def submit(self, title: str, fn: JobFunction) -> Job:
        job = Job(title, fn)
        self.jobs.append(job)
        job.finished.connect(self._on_finished)
        self.changed.emit()
        return job

    @Slot()
    def _on_finished(self) -> None:
        job = self.sender()
        if job in self.jobs:
            self.jobs.remove(job)
            self._ended.append(job)
            QTimer.singleShot(0, self._ended.clear)
        self.changed.emit()

    def cancel_all(self, wait_s: float = 3.0) -> None:
        for job in list(self.jobs):
            job.cancel()
        deadline = time.perf_counter() + wait_s
        for job in list(self.jobs):
            job.wait(max(0.0, deadline - time.perf_counter()))


class StatusJobs(QObject):
    """Jobs shown in the status bar: a progress bar with the stage name, the title, and Cancel (Esc).
    Several may run; the bar follows the newest. `start` reports a failure through `show_error`.

    Signals: job_done(Job) after each one ends (the bar is updated first).
    """

    job_done = Signal(object)

    def __init__(self, manager: JobManager, status_bar: Any, show_error: Callable[..., None]) -> None:
        from PySide6.QtCore import Qt
        from PySide6.QtWidgets import QLabel, QProgressBar, QToolButton
        from .icons import icon
        super().__init__(status_bar)
        self.manager, self.status_bar, self.show_error = manager, status_bar, show_error
        self.jobs: list[Job] = []
        self.progress_label = QLabel(status_bar)
        self.progress_bar = QProgressBar(status_bar)
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setFixedWidth(220)
        self.progress_bar.setTextVisible(True)
        self.cancel_button = QToolButton(status_bar)
        self.cancel_button.setIcon(icon("cancel"))
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.cancel_button.setToolTip("Cancel the running job (Esc)")
        self.cancel_button.clicked.connect(self.cancel)
        for w in self._widgets:
            status_bar.addPermanentWidget(w)
            w.hide()

    @property
    def _widgets(self) -> tuple:
        return self.progress_label, self.progress_bar, self.cancel_button

    @property
    def current(self) -> Job | None:
        return self.jobs[-1] if self.jobs else None

    def start(self, title: str, fn: JobFunction, on_success: Callable[[Any], None]) -> Job:
        job = self.manager.submit(title, fn)
        self.jobs.append(job)

        def succeeded(result: Any) -> None:
            try:
                on_success(result)
            except Exception as err:  # a failure applying the result: report, keep going
                self.show_error(f"{title} failed: {err}", traceback.format_exc())

        job.progress.connect(lambda stage, fraction: self._show(job))
        job.succeeded.connect(succeeded)
        job.failed.connect(lambda msg, details: self.show_error(msg, details, title=title))
        job.cancelled.connect(lambda: self.status_bar.showMessage(f"{title}: cancelled.", 5000))
        job.finished.connect(lambda: self._done(job))
        job.start()
        self._show(job)
        return job

    def _show(self, job: Job) -> None:
        if job is not self.current:
            return
        self.progress_label.setText(job.title)
        self.progress_bar.setValue(int(job.fraction * 1000))
        if job.token.cancelled:
            self.progress_bar.setFormat("cancelling…")
        else:
            self.progress_bar.setFormat(f"{job.stage} — {job.fraction * 100:.0f}%" if job.stage else "starting…")
        self.cancel_button.setEnabled(not job.token.cancelled)
        for w in self._widgets:
            w.show()

    def _done(self, job: Job) -> None:
        if job in self.jobs:
            self.jobs.remove(job)
        if self.current is not None:
            self._show(self.current)
        else:
            for w in self._widgets:
                w.hide()
        self.job_done.emit(job)

    def cancel(self) -> bool:
        """Cancel the job the status bar shows; True if one was running."""
        job = self.current
        if job is None or not job.running:
            return False
        job.cancel()
        self._show(job)
        return True
