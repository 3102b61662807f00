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
