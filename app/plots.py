"""pyqtgraph set-up shared by the timeline and the curve view. pyqtgraph takes about half a second to
import, so the plots are built once the window is on screen, not at start-up."""
from __future__ import annotations

_configured = False


def configure_pyqtgraph() -> None:
    """Antialiased plots with light text for the dark theme (once)."""
    global _configured
    if _configured:
        return
    import pyqtgraph as pg
    pg.setConfigOptions(antialias=True, foreground=(200, 203, 208))
    _configured = True
