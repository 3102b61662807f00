"""The launcher: `avatar-studio` with no arguments (or `avatar-studio gui FILES`) opens the studio window.

The only place the command line reaches into `app`; the import happens here, on demand, so a
command such as `info` never loads Qt."""
from __future__ import annotations


def open_window(files: list[str] | None = None) -> int:
    """Show the studio window with `files` opened in it; returns the exit code when it closes."""
    from ..app.main import main as window_main
    return window_main(list(files or []))
