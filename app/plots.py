"""pyqtgraph set-up shared by the timeline and the curve view. pyqtgraph takes about half a second to
import, so the plots are built once the window is on screen, not at start-up."""
from __future__ import annotations

# While playing, widgets that would otherwise change every frame (the curve view's playhead, the
# timeline's frame box and time label) refresh at most this often: on a window composed through
# OpenGL each of their repaints costs several ms of CPU a frame.
PLAYBACK_REFRESH_S = 0.1

_configured = False


def configure_pyqtgraph() -> None:
    """Antialiased plots with light text for the dark theme (once)."""
    global _configured
    if _configured:
        return
    import pyqtgraph as pg
    pg.setConfigOptions(antialias=True, foreground=(200, 203, 208))
    _configured = True


def new_plot(parent):
    """A pyqtgraph PlotWidget for the dark theme: transparent background, no context menu."""
    import pyqtgraph as pg
    configure_pyqtgraph()
    plot = pg.PlotWidget(parent)
    plot.setBackground(None)
    plot.setMenuEnabled(False)
    return plot


def cache_static_items(plot) -> None:
    """Cache axes, grid and curves of a pyqtgraph PlotWidget as pixmaps.

    A moving playhead then repaints a thin strip from the caches instead of replaying every curve
    and the whole grid into it (about 10 ms per frame less while playing on a software GL stack).
    """
    import pyqtgraph as pg
    from PySide6.QtWidgets import QGraphicsItem
    for item in plot.scene().items():
        if isinstance(item, (pg.AxisItem, pg.PlotCurveItem, pg.ScatterPlotItem)):
            item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
