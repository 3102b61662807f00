"""What a GL-composed window costs on llvmpipe (issue 23, point 8): a script that prints figures.

    xvfb-run -a -s "-screen 0 1600x1000x24" python tests/bench/bench_raster_viewport.py

A 1400×900 main window with side panels holds a viewport showing one ready-made RGBA frame (what the CPU
rasterizer hands over). Two viewports are timed, each forced to repaint --frames times back to back:
  * gl:     a QOpenGLWidget uploading the frame to a texture and drawing it (today's viewport path for
            the CPU rasterizer's image), which makes Qt compose the whole window through OpenGL;
  * raster: a plain QWidget painting the same QImage with QPainter (no GL in the window at all).
The figure is milliseconds per frame from repaint request to the window being flushed; it excludes the
splat rasterization itself (the same in both).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # support.app: display and Qt's GL set-up


def _window(view_factory):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow
    win = QMainWindow()
    view = view_factory()
    win.setCentralWidget(view)
    for title, area in (("Scene", Qt.DockWidgetArea.LeftDockWidgetArea),
                        ("Motion", Qt.DockWidgetArea.RightDockWidgetArea)):
        dock = QDockWidget(title, win)
        dock.setWidget(QLabel(title))
        win.addDockWidget(area, dock)
    win.resize(1400, 900)
    docks = win.findChildren(QDockWidget)
    win.resizeDocks(docks, [250, 290], Qt.Orientation.Horizontal)
    win.show()
    from support.app import wait_until
    wait_until(lambda: win.windowHandle() is not None and win.windowHandle().isExposed(), 10, what="the window")
    from support.app import pump
    pump(0.3)
    return win, view


def _time(view, frames: int) -> list[float]:
    from PySide6.QtWidgets import QApplication
    times = []
    for _ in range(frames):
        t0 = time.perf_counter()
        view.repaint()
        QApplication.processEvents()
        times.append((time.perf_counter() - t0) * 1000)
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=120)
    args = ap.parse_args()
    from support.app import app  # noqa: E402 - sets up the display and Qt's GL configuration
    app()
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtOpenGLWidgets import QOpenGLWidget
    from PySide6.QtWidgets import QWidget

    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (721, 746, 4), dtype=np.uint8)
    frame[..., 3] = 255
    image = QImage(frame.data, frame.shape[1], frame.shape[0], frame.shape[1] * 4, QImage.Format.Format_RGBA8888)

    class Raster(QWidget):
        paints = 0

        def paintEvent(self, _e) -> None:  # noqa: N802
            self.paints += 1
            p = QPainter(self)
            p.drawImage(self.rect(), image)
            p.end()

    class GL(QOpenGLWidget):
        ctx = tex = prog = vao = None
        paints = 0

        def initializeGL(self) -> None:  # noqa: N802
            import moderngl
            self.ctx = moderngl.create_context()
            self.prog = self.ctx.program(
                vertex_shader="#version 330\nin vec2 p; out vec2 uv; void main(){uv=p*0.5+0.5;"
                              "gl_Position=vec4(p,0,1);}",
                fragment_shader="#version 330\nuniform sampler2D t; in vec2 uv; out vec4 c;"
                                "void main(){c=texture(t,vec2(uv.x,1.0-uv.y));}")
            quad = self.ctx.buffer(np.array([-1, -1, 1, -1, -1, 1, 1, 1], np.float32).tobytes())
            self.vao = self.ctx.vertex_array(self.prog, [(quad, "2f", "p")])
            self.tex = self.ctx.texture((frame.shape[1], frame.shape[0]), 4)

        def paintGL(self) -> None:  # noqa: N802
            self.paints += 1
            fbo = self.ctx.detect_framebuffer(self.defaultFramebufferObject())
            fbo.use()
            self.tex.write(frame.tobytes())  # a new frame each paint, as during playback
            self.tex.use(0)
            self.vao.render(mode=self.ctx.TRIANGLE_STRIP)

    import os
    print(f"load: {os.getloadavg()[0]:.2f} (1 min); window 1400×900, a 746×721 image drawn into the central widget")
    for name, factory in (("raster", Raster), ("gl", GL)):
        win, view = _window(factory)
        _time(view, 10)  # warm-up
        t = _time(view, args.frames)
        assert view.paints >= args.frames, f"{name}: only {view.paints} paints"  # each repaint really drew
        print(f"{name:6s}: median {statistics.median(t):6.2f} ms/frame, p90 {np.percentile(t, 90):6.2f} ms "
              f"({1000 / statistics.median(t):5.1f} frames/s ceiling)")
        win.close()


if __name__ == "__main__":
    main()
