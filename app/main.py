"""`avatar-studio` with no arguments: Qt set-up (HiDPI, OpenGL format, theme) and the studio window.

Start-up stays fast by importing only Qt and numpy before the window shows; pyqtgraph (the timeline
ruler and curve plots) loads right after the first frame, and torch, smplx and the body model load on
a worker thread (see `MainWindow._start_core`).
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

_T0 = time.perf_counter()


def configure_qt() -> None:
    """Before the QApplication exists: HiDPI rounding and an OpenGL 4.3 core surface (the GL renderer
    uses compute shaders; Mesa's llvmpipe provides 4.5)."""
    from PySide6.QtCore import QCoreApplication, Qt
    from PySide6.QtGui import QGuiApplication, QSurfaceFormat
    if QCoreApplication.instance() is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)
    fmt = QSurfaceFormat()
    fmt.setRenderableType(QSurfaceFormat.RenderableType.OpenGL)
    fmt.setVersion(4, 3)
    fmt.setProfile(QSurfaceFormat.OpenGLContextProfile.CoreProfile)
    fmt.setDepthBufferSize(24)
    fmt.setSwapInterval(0)  # never block the GUI thread on vsync; the viewport paints on demand
    QSurfaceFormat.setDefaultFormat(fmt)


def apply_theme(app) -> None:
    """Fusion with a dark palette: a neutral backdrop for judging splat colours."""
    from PySide6.QtGui import QColor, QPalette
    app.setStyle("Fusion")
    p = QPalette()
    base, window, text, mid = QColor(32, 34, 37), QColor(43, 45, 49), QColor(226, 228, 232), QColor(60, 63, 68)
    accent = QColor(64, 140, 255)
    R = QPalette.ColorRole
    for role, colour in ((R.Window, window), (R.WindowText, text), (R.Base, base), (R.AlternateBase, window),
                         (R.ToolTipBase, QColor(20, 22, 25)), (R.ToolTipText, text), (R.Text, text),
                         (R.Button, mid), (R.ButtonText, text), (R.BrightText, QColor(255, 90, 80)),
                         (R.Highlight, accent), (R.HighlightedText, QColor(255, 255, 255)), (R.Link, accent),
                         (R.PlaceholderText, QColor(140, 144, 150))):
        p.setColor(role, colour)
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(120, 123, 128))
    app.setPalette(p)


def create_application(argv: list[str] | None = None):
    """The QApplication (created once), configured for the studio."""
    from PySide6.QtWidgets import QApplication
    configure_qt()
    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0] if sys.argv else "avatar-studio", *(argv or [])])
    app.setOrganizationName("AvatarStudio")
    app.setApplicationName("Avatar Studio")
    app.setApplicationDisplayName("Avatar Studio")
    app.setDesktopFileName("avatar-studio")
    apply_theme(app)
    from .icons import icon
    app.setWindowIcon(icon("avatar-studio"))
    return app


def main(files: list[str] | None = None) -> int:
    """Open the studio window (with `files` opened in it); returns the exit code.

    Environment: AVATAR_STUDIO_STARTUP_PROBE=1 prints "window shown after X s" (since the process
    started) once the viewport has drawn its first frame, then quits (used by tests/bench).
    """
    from .preflight import check_gui_environment
    check_gui_environment()
    from PySide6.QtCore import QTimer
    app = create_application()
    from .main_window import MainWindow
    win = MainWindow()
    if os.environ.get("AVATAR_STUDIO_STARTUP_PROBE"):
        def probe() -> None:
            print(f"window shown after {time.time() - _process_start():.3f} s", flush=True)
            win.prompt_on_close = False
            win.close()
            app.quit()
        win.first_frame.connect(lambda: QTimer.singleShot(0, probe))  # connect first: show() may paint
    _quit_on_sigterm(win)
    win.show()
    if files:
        QTimer.singleShot(0, lambda: win.open_paths([str(Path(f)) for f in files]))
    return int(app.exec())


def _quit_on_sigterm(win) -> None:
    """SIGTERM closes the window the way `MainWindow.terminate` says. Qt's event loop runs no Python
    while idle, so a timer gives Python's signal handler a turn a few times a second."""
    import signal
    from PySide6.QtCore import QTimer
    signal.signal(signal.SIGTERM, lambda *_: QTimer.singleShot(0, win.terminate))
    wake = QTimer(win)
    wake.timeout.connect(lambda: None)
    wake.start(200)


def _process_start() -> float:
    """Wall-clock time this process started (Linux: /proc; elsewhere: when this module was imported)."""
    try:
        with open("/proc/self/stat") as fh:
            ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as fh:
            uptime = float(fh.read().split()[0])
        return time.time() - uptime + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.time() - (time.perf_counter() - _T0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
