"""Job plumbing shared by every long task (reconstruction, export, motion capture); imports
nothing heavy, so GUI workers can use it before torch loads."""
from __future__ import annotations

import threading

from .errors import CancelledError


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
