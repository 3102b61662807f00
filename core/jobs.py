"""Job plumbing shared by every long task (reconstruction, export, motion capture): the progress
callback types (their one home), stage bookkeeping and the cancel flag. Imports nothing heavy, so GUI
workers can use it before torch loads."""
from __future__ import annotations

import threading
import time
from typing import Callable

from .errors import CancelledError

Progress = Callable[[str, float], None]
"""progress(stage_name, fraction_of_whole_job_0_to_1): what every long task reports through."""
FrameProgress = Callable[[int, int], None]
"""progress(frames_done, frames_total): what frame-by-frame writers (video, sequences) report through."""


class CancelToken:
    """Thread-safe cancel flag. Workers call `check()` between small steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self, message: str = "Cancelled.") -> None:
        """Raise CancelledError(message) if cancel() was called."""
        if self._event.is_set():
            raise CancelledError(message)


class StageProgress:
    """Maps per-stage fractions onto the whole job and records stage timings."""

    def __init__(self, stages: list[tuple[str, float]], callback: Progress | None = None,
                 cancel: CancelToken | None = None, job: str = "Reconstruction") -> None:
        total = sum(w for _, w in stages)
        self._stages = {name: w / total for name, w in stages}
        self._starts: dict[str, float] = {}
        offset = 0.0
        for name, w in stages:
            self._starts[name] = offset
            offset += w / total
        self.callback = callback
        self.cancel = cancel or CancelToken()
        self.cancel_message = f"{job} cancelled."
        self.timings: dict[str, float] = {}
        self._current: str | None = None
        self._t0 = time.perf_counter()

    def stage(self, name: str, fraction: float = 0.0) -> None:
        """Report `fraction` (0..1) of stage `name`; also checks for cancellation."""
        now = time.perf_counter()
        if name != self._current:
            if self._current is not None:
                self.timings[self._current] = self.timings.get(self._current, 0.0) + now - self._t0
            self._current, self._t0 = name, now
        self.cancel.check(self.cancel_message)
        if self.callback is not None:
            self.callback(name, self._starts[name] + self._stages[name] * min(max(float(fraction), 0.0), 1.0))

    def finish(self) -> dict[str, float]:
        if self._current is not None:
            self.timings[self._current] = self.timings.get(self._current, 0.0) + time.perf_counter() - self._t0
            self._current = None
        if self.callback is not None:
            self.callback("done", 1.0)
        return dict(self.timings)
