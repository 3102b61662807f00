"""Progress of a long command on stderr."""
from __future__ import annotations

import sys
import time


class ConsoleProgress:
    """Progress on stderr: a redrawn bar on a terminal, a line per stage/10% otherwise.

    `stage` is a `core.jobs.Progress` callback and `frames` a `core.jobs.FrameProgress` one."""

    def __init__(self, label: str, quiet: bool = False) -> None:
        self.label, self.quiet = label, quiet
        self.tty = sys.stderr.isatty()
        self._last: tuple[str, int] = ("", -1)
        self._width = 24  # the widest stage text so far: a shorter one must blank it out when redrawn
        self._t0 = time.perf_counter()

    def stage(self, stage: str, fraction: float) -> None:
        if self.quiet:
            return
        pct = int(fraction * 100)
        if self.tty:
            bar = "#" * (pct // 5)
            self._width = max(self._width, len(stage))
            sys.stderr.write(f"\r{self.label}: [{bar:<20}] {pct:3d}% {stage:<{self._width}}")
            sys.stderr.flush()
        elif stage != self._last[0] or pct // 10 != self._last[1] // 10:
            sys.stderr.write(f"{self.label}: {pct:3d}% {stage}\n")
        self._last = (stage, pct)

    def frames(self, done: int, total: int) -> None:
        # On a terminal the frame count redraws in place; in a log one line per 10% is enough.
        self.stage(f"frame {done}/{total}" if self.tty else "rendering", done / max(total, 1))

    def done(self, message: str = "") -> None:
        if self.quiet:
            return
        if self.tty:
            sys.stderr.write("\r" + " " * (len(self.label) + 30 + self._width) + "\r")
        sys.stderr.write(f"{self.label}: done in {time.perf_counter() - self._t0:.1f} s{' — ' + message if message else ''}\n")
