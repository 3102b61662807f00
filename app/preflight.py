"""Checks before Qt loads, so that a missing system library or display gives one clear line instead of
a traceback or Qt's abort ("could not load the Qt platform plugin"). Imports no Qt itself."""
from __future__ import annotations

import ctypes
import os
import sys

from ..core.errors import BackendUnavailableError

SETUP_HINT = "run `bash packaging/setup.sh` in a checkout, or install them with your package manager"

# Libraries Qt's xcb platform plugin and QtGui load at run time, with the Debian/Ubuntu package of each.
_XCB_LIBRARIES = {
    "libglib-2.0.so.0": "libglib2.0-0",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxcb.so.1": "libxcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libdbus-1.so.3": "libdbus-1-3",
}


def missing_libraries(names: dict[str, str] = _XCB_LIBRARIES) -> list[str]:
    """Debian package names of the libraries in `names` that the dynamic loader cannot find."""
    missing = []
    for lib, package in names.items():
        try:
            ctypes.CDLL(lib)
        except OSError:
            missing.append(package)
    return missing


def x_display_reachable() -> bool:
    """True when an X server answers on $DISPLAY (asked through libxcb, as Qt's xcb plugin will)."""
    try:
        xcb = ctypes.CDLL("libxcb.so.1")
    except OSError:
        return True  # the library check names the missing package
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    conn = xcb.xcb_connect(None, None)
    try:
        return xcb.xcb_connection_has_error(conn) == 0
    finally:
        xcb.xcb_disconnect(conn)


def platform_name() -> str:
    """The Qt platform plugin that will be used ("xcb", "wayland", "offscreen", "cocoa", ...)."""
    chosen = os.environ.get("QT_QPA_PLATFORM", "").split(":")[0].split(";")[0]
    if chosen:
        return chosen
    if sys.platform == "darwin":
        return "cocoa"
    if sys.platform.startswith("win"):
        return "windows"
    return "wayland" if os.environ.get("WAYLAND_DISPLAY") and not os.environ.get("DISPLAY") else "xcb"


def check_gui_environment() -> None:
    """Raise BackendUnavailableError (one line, naming the fix) when the window cannot open here."""
    platform = platform_name()
    if platform in ("cocoa", "windows"):
        return
    if platform in ("xcb", "wayland") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise BackendUnavailableError(
            "no display to open the window on (DISPLAY is not set). Run it on a desktop session, under a "
            "virtual screen with `xvfb-run -a avatar-studio`, or use the command-line tools (`avatar-studio --help`).")
    needed = dict(_XCB_LIBRARIES) if platform == "xcb" else {
        k: v for k, v in _XCB_LIBRARIES.items() if not k.startswith(("libxcb", "libX11", "libxkbcommon-x11"))}
    missing = missing_libraries(needed)
    if missing:
        raise BackendUnavailableError(
            f"the window needs system libraries that are missing: {' '.join(missing)}. "
            f"On Debian/Ubuntu: sudo apt-get install {' '.join(missing)} ({SETUP_HINT}).")
    if platform == "xcb" and not x_display_reachable():
        raise BackendUnavailableError(
            f"cannot connect to the X display {os.environ.get('DISPLAY')!r}. Check that the X server runs and "
            "that you may use it (xauth), or run headless with `xvfb-run -a avatar-studio`.")
    try:
        import PySide6.QtGui  # noqa: F401 - the first import that loads Qt's shared libraries
    except ImportError as err:
        raise BackendUnavailableError(
            f"Qt could not load ({str(err)[:160]}); {SETUP_HINT}.") from None
