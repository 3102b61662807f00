"""Start-up work off the GUI thread: the engine's heavy imports and body model, the CPU rasterizer's
kernels; and the first window size."""
from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import QThread, Signal


def initial_size(available: Any = None, wanted: tuple[int, int] = (1400, 900)) -> tuple[int, int]:
    """The first window size: `wanted`, shrunk to fit the screen's available area (a QSize, in logical
    pixels, so at 150 % scaling a 1920×1080 screen offers 1280×~690) with a little room to spare."""
    if available is None:
        return wanted
    return min(wanted[0], int(available.width() * 0.95)), min(wanted[1], int(available.height() * 0.92))


def limit_torch_threads() -> None:
    """Leave a core to the GUI thread: OpenMP threads that spin on a busy machine make both the
    viewport's skinning and the UI stall (on 2 cores, 2 torch threads made one pose take 3 s, 1 took 0.08 s)."""
    import torch
    torch.set_num_threads(max(1, min(4, (os.cpu_count() or 2) - 1)))


class Warmup(QThread):
    """Imports torch/smplx and builds the body model off the GUI thread; done(error text or "")."""

    done = Signal(str)

    def run(self) -> None:
        try:
            from ..core import scene  # noqa: F401  (torch, body model code)
            from ..core.body.model import body_for_rig, default_body_model
            from ..core.reconstruct import base  # noqa: F401
            from ..core.render.rendering import probe_gsplat
            probe_gsplat()  # imports torch.cuda/gsplat: seconds, so here and not in the viewport
            default_body_model()
            body_for_rig("standin")  # the body template avatars are rigged on (a separate cache entry)
        except Exception as err:  # reported in the status bar; the window keeps working
            self.done.emit(str(err))
            return
        self.done.emit("")


class CpuRendererProbe(QThread):
    """Compiles the CPU splat rasterizer's kernels (or loads them from numba's cache) off the GUI
    thread; the viewport switches to it afterwards where OpenGL is a software rasterizer."""

    done = Signal()

    def run(self) -> None:
        from ..core.render.rendering import probe_cpu
        probe_cpu()   # never raises: a failure is its (False, reason) answer
        self.done.emit()
