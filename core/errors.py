"""The one error type `core` raises. Its message is written for a person, not a developer."""
from __future__ import annotations


class StudioError(Exception):
    """Base of every error Avatar Studio raises on purpose.

    The CLI prints `str(err)` on one line; the GUI shows it in a dialog.
    """


class InputError(StudioError):
    """A file or value given by the user is missing, unreadable, corrupt or of the wrong shape."""


class ModelFileError(StudioError):
    """A model file (body model, LHM checkpoint, prior folder) is missing or does not match."""


class CancelledError(StudioError):
    """A long job was cancelled by the user."""

    def __init__(self, message: str = "Cancelled.") -> None:
        super().__init__(message)


class BackendUnavailableError(StudioError):
    """A requested back-end (CUDA, gsplat, LHM) cannot run on this machine."""
