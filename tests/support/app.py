"""Helpers for the GUI tests (no tests here): a display (Xvfb when none is set), Qt configuration for the
viewport's OpenGL, an event-pumping wait, a drop simulator and a generated photo.

Import this module before anything creates the QApplication. GUI tests skip cleanly when there is no
display and no Xvfb; in CI they run under `xvfb-run`.
"""
from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

_XVFB: subprocess.Popen | None = None


def ensure_display() -> str | None:
    """A usable X display for Qt's xcb platform: $DISPLAY, else a private Xvfb; None if neither.

    Each pytest-xdist worker gets a private Xvfb when it can: windows of two workers on one X server
    take keyboard focus from each other, and shortcut tests need their window to be active.
    """
    global _XVFB
    if os.environ.get("QT_QPA_PLATFORM", "xcb") not in ("xcb", ""):
        os.environ["QT_QPA_PLATFORM"] = "xcb"  # QOpenGLWidget needs a real GL surface (not 'offscreen')
    xvfb = shutil.which("Xvfb")
    inherited = os.environ.get("DISPLAY") or None
    if inherited and (xvfb is None or not os.environ.get("PYTEST_XDIST_WORKER")):
        return inherited
    if xvfb is None:
        return None
    r, w = os.pipe()
    _XVFB = subprocess.Popen([xvfb, "-displayfd", str(w), "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                             pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(w)
    number = b""
    deadline = time.time() + 10
    while time.time() < deadline:
        chunk = os.read(r, 16)
        if not chunk:
            break
        number += chunk
        if number.endswith(b"\n"):
            break
    os.close(r)
    if not number.strip():
        _XVFB.kill()
        _XVFB = None
        return inherited   # no private server: share the inherited one
    os.environ["DISPLAY"] = f":{number.decode().strip()}"
    atexit.register(_stop_xvfb)
    return os.environ["DISPLAY"]


def _stop_xvfb() -> None:
    if _XVFB is not None and _XVFB.poll() is None:
        _XVFB.terminate()
        try:
            _XVFB.wait(5)
        except subprocess.TimeoutExpired:
            _XVFB.kill()


DISPLAY = ensure_display()
requires_display = pytest.mark.skipif(DISPLAY is None, reason="no X display and no Xvfb to start one")

if DISPLAY is not None:
    from avatar_studio.app.main import configure_qt
    configure_qt()


def app():
    """The studio's QApplication (theme, names), created once."""
    from avatar_studio.app.main import create_application
    return create_application()


def wait_until(cond, timeout: float = 30.0, interval: float = 0.01, what: str = "condition") -> float:
    """Pump Qt events until cond() is true; returns the seconds waited; fails the test on timeout."""
    from PySide6.QtWidgets import QApplication
    t0 = time.perf_counter()
    while not cond():
        QApplication.processEvents()
        if time.perf_counter() - t0 > timeout:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
    return time.perf_counter() - t0


def pump(seconds: float) -> None:
    from PySide6.QtWidgets import QApplication
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        QApplication.processEvents()
        time.sleep(0.005)


def drop_files(widget, paths: list[Path]) -> None:
    """Deliver a real drag-enter + drop of local files to `widget` (as a file manager would)."""
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QApplication
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = widget.rect().center()
    with warnings.catch_warnings():  # PySide 6.12 flags the QPoint constructor; it is the one Qt has
        warnings.simplefilter("ignore", DeprecationWarning)
        enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted(), "the window refused the drag"
    drop = QDropEvent(QPointF(pos), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, drop)


def drawn_person_photo(path: Path, width: int = 384, height: int = 512) -> Path:
    """A simple drawn standing figure with an alpha mask (used when the synthetic photo module is absent)."""
    from PIL import Image, ImageDraw
    im = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    d = ImageDraw.Draw(im)
    cx = width // 2
    skin, shirt, trousers = (225, 180, 150, 255), (40, 90, 200, 255), (50, 50, 60, 255)
    d.ellipse([cx - 28, 40, cx + 28, 104], fill=skin)                         # head
    d.rectangle([cx - 50, 110, cx + 50, 270], fill=shirt)                     # torso
    d.rectangle([cx - 90, 115, cx - 52, 260], fill=shirt)                     # arms
    d.rectangle([cx + 52, 115, cx + 90, 260], fill=shirt)
    d.rectangle([cx - 48, 270, cx - 6, 470], fill=trousers)                   # legs
    d.rectangle([cx + 6, 270, cx + 48, 470], fill=trousers)
    im.save(path)
    return path


def generated_photo(path: Path, seed: int = 3) -> Path:
    """A photo of a synthetic person rendered by our own code (testing/synthetic.py)."""
    try:
        from avatar_studio.testing.synthetic import make_photo, random_spec
    except ImportError:
        return drawn_person_photo(path)
    from PIL import Image
    photo = make_photo(random_spec(seed), width=384, height=512, num_gaussians=20000)
    Image.fromarray(photo.rgb).save(path)
    return path


def non_background_fraction(img: np.ndarray, background: tuple[float, float, float], tol: int = 24) -> float:
    """Fraction of pixels whose colour is far from the background colour."""
    bg = np.round(np.asarray(background) * 255).astype(int)
    diff = np.abs(img.astype(int) - bg).max(axis=-1)
    return float((diff > tol).mean())


def open_window(tmp: Path, size: tuple[int, int] = (1400, 900)):
    """A real MainWindow with throw-away settings, shown and with its engine loaded."""
    from PySide6.QtCore import QSettings
    from avatar_studio.app.main_window import MainWindow
    from avatar_studio.app.settings import StudioSettings
    app()
    settings = StudioSettings(QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat))
    settings.autosave_interval_s = 0
    win = MainWindow(settings, autosave_dir=tmp / "autosave")
    win.prompt_on_close = False
    win.resize(*size)
    win.show()
    wait_until(lambda: win.is_core_ready, 60, what="the engine to load")
    assert not win.core_error, win.core_error
    return win


def window_fixture(size: tuple[int, int] = (1400, 900), configure=None):
    """A module-scoped pytest fixture yielding a real window (see `open_window`); `configure(win)`
    runs once after it opens."""
    import pytest

    @pytest.fixture(scope="module")
    def window(tmp_path_factory):
        win = open_window(tmp_path_factory.mktemp("studio"), size)
        if configure is not None:
            configure(win)
        yield win
        win.close()
        pump(0.1)
    return window
