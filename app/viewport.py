"""The 3D viewport: a widget that draws the scene through the core's scene pass (`ScenePass` ->
`renderer.composite` into the widget's target, as exports do) with a ground grid and a skeleton
overlay around it. Two widgets share one core (`_ViewportCore`) and one interface:
`Viewport` (a QOpenGLWidget: the GLSL and gsplat back-ends) and `RasterViewport` (a plain QWidget
painting the CPU rasterizer's image with QPainter: no GL composition of the window, which costs ~20 ms
a frame on llvmpipe). `create_viewport` picks one for the renderer asked for.

- Mouse: left-drag orbits, right/middle-drag (or Shift+left) pans, the wheel zooms, double-click frames all.
- Views: front / side / back, frame-all; background colour; grid and skeleton toggles; an FPS readout.
- While the camera moves the splats are drawn at reduced resolution, then once more at full resolution
  when the mouse rests (`INTERACTIVE_SCALE`, `SETTLE_MS`).
- HiDPI: everything renders at device pixels (`devicePixelRatioF`).

The widget owns its GL context (created by Qt; wrapped by moderngl in `initializeGL`). Only the GUI
thread renders here; exports make their own headless renderer.
"""
from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtOpenGLWidgets import QOpenGLWidget
from PySide6.QtWidgets import QWidget

from ..core.camera import VIEWS, Camera, OrbitCamera, gl_projection  # noqa: F401 - re-exported

if TYPE_CHECKING:
    from ..core.render.draw import DrawList

INTERACTIVE_SCALE = 0.5  # resolution factor while the camera moves
SETTLE_MS = 180          # full resolution this long after the last camera move
MIN_PLAYBACK_SCALE = 0.5  # during playback the resolution may drop this far to keep the frame rate
SCALING_MUST_SAVE = 0.5   # ...but only while that saves at least half of the pixels' share of the paint time


# ---------------------------------------------------------------------- shaders for the overlays
_LINE_VS = """
#version 330
uniform mat4 mvp;
in vec3 in_pos;
in vec4 in_color;
out vec4 v_color;
void main() {
    gl_Position = mvp * vec4(in_pos, 1.0);
    v_color = in_color;
}
"""
_LINE_FS = """
#version 330
in vec4 v_color;
out vec4 f_color;
void main() { f_color = v_color; }
"""
_BLIT_VS = """
#version 330
in vec2 in_pos;
out vec2 v_uv;
void main() { v_uv = in_pos * 0.5 + 0.5; gl_Position = vec4(in_pos, 0.0, 1.0); }
"""
_BLIT_FS = """
#version 330
uniform sampler2D tex;
uniform bool flip_y;
uniform bool straight_alpha;
in vec2 v_uv;
out vec4 f_color;
void main() {
    vec4 c = texture(tex, flip_y ? vec2(v_uv.x, 1.0 - v_uv.y) : v_uv);
    f_color = straight_alpha ? vec4(c.rgb * c.a, c.a) : c;  // blended as premultiplied
}
"""


def grid_lines(ground_y: float, half_extent: float = 5.0, step: float = 0.5,
               background: tuple[float, float, float] = (0.227, 0.239, 0.259)) -> np.ndarray:
    """[L*2, 7] line vertices (xyz + rgba) of a ground grid with coloured X and Z axes; light lines on a
    dark background, dark lines (a little stronger) on a light one, so the grid shows on either."""
    vals = np.arange(-half_extent, half_extent + 1e-6, step)
    light_bg = float(np.dot(background, (0.2126, 0.7152, 0.0722))) > 0.5
    grey, boost = (0.1, 1.4) if light_bg else (0.8, 1.0)
    rows = []
    for v in vals:
        major = abs(v % 1.0) < 1e-6
        a = (0.34 if major else 0.16) * boost
        cx = (0.85, 0.3, 0.3, 0.8) if abs(v) < 1e-6 else (grey, grey, grey, a)  # line along X at z=v
        cz = (0.3, 0.5, 0.95, 0.8) if abs(v) < 1e-6 else (grey, grey, grey, a)  # line along Z at x=v
        rows += [(-half_extent, ground_y, v, *cx), (half_extent, ground_y, v, *cx),
                 (v, ground_y, -half_extent, *cz), (v, ground_y, half_extent, *cz)]
    return np.asarray(rows, np.float32)


# ---------------------------------------------------------------------- composite targets
class _PainterTarget:
    """The raster widget's target for `renderer.composite`: each draw's image is drawn with QPainter
    (source-over) onto the widget, over the background and grid already painted."""

    background = None

    def __init__(self, widget: "RasterViewport") -> None:
        self.widget = widget
        self.painter: Any = None
        self.rect: Any = None

    def blend(self, rgba8: np.ndarray, premultiplied: bool) -> None:
        from PySide6.QtGui import QImage
        fmt = QImage.Format.Format_RGBA8888_Premultiplied if premultiplied else QImage.Format.Format_RGBA8888
        self.painter.drawImage(self.rect, self.widget._qimage(np.ascontiguousarray(rgba8), fmt))


class _FramebufferTarget:
    """The GL widget's offscreen framebuffer as a `FramebufferTarget`: GL draws into it directly, CUDA
    blends the texture it filled, other back-ends' images are uploaded and blended."""

    background = None

    def __init__(self, widget: "Viewport") -> None:
        self.widget = widget

    @property
    def ctx(self) -> Any:
        return self.widget.ctx

    @property
    def framebuffer(self) -> Any:
        return self.widget._offscreen

    def blend(self, rgba8: np.ndarray, premultiplied: bool) -> None:
        self.widget._blend_image(rgba8, straight_alpha=not premultiplied)

    def blend_texture(self, texture: Any, premultiplied: bool) -> None:
        self.widget._blend_texture(texture, straight_alpha=not premultiplied)


# ---------------------------------------------------------------------- shared by both widgets
class _ViewportCore:
    """What both viewports share, written once: scene and draw list, camera and mouse, playback
    resolution, FPS readout, renderer choice. The widget classes add how pixels reach the screen
    (`Viewport`: OpenGL; `RasterViewport`: QPainter) and declare the signals (Qt wants them on the
    QObject subclass)."""

    _interim_backend: str | None = "gl"  # what draws while a renderer probe runs (None: nothing)

    def _init_core(self, renderer_name: str) -> None:
        self.setMinimumSize(320, 240)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        # paint covers every pixel: without this, each frame also repaints the widgets behind and
        # around the viewport (the splitter and the timeline's labels), several ms of CPU a frame.
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)
        self.setToolTip("Left-drag: orbit · Right/middle-drag or Shift+drag: pan · Wheel: zoom · "
                        "Double-click: frame all")
        self.renderer_name = renderer_name
        self.orbit_camera = OrbitCamera()
        self.background = (0.227, 0.239, 0.259)
        self.show_grid = True
        self.show_skeleton = False
        self.ground_y = 0.0
        self.scene: Any = None
        self.renderer: Any = None
        self.renderer_label = ""
        self.renderer_note = ""  # why the back-end asked for is not the one drawing ("" when it is)
        self.ctx: Any = None
        self.notice: Callable[[str], None] = lambda msg: None
        self._pass: Any = None  # the scene pass exports use too (made on first draw: it imports torch)
        self._skeletons: list = []
        self._last_error = ""
        self._awaiting_probe = False

        self._interacting = False
        self.playing = False
        self.target_fps = 30.0
        self.adaptive = True
        self._playback_scale = 1.0
        self._full_paint_ms: float | None = None   # paint time at full resolution while playing
        self._scaling_pays = True
        self._paint_ms: deque[float] = deque(maxlen=5)   # recent paint times at the current scale
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.timeout.connect(self._on_settled)
        self._press_pos: QPoint | None = None
        self._frame_times: deque[float] = deque(maxlen=240)
        self.last_render_ms = 0.0
        self.frames_drawn = 0
        self.splat_count = 0

        # The FPS readout goes out as text (the window shows it in its status bar): a label
        # overlapping the GL widget would make Qt blend the whole window over it every frame.
        self.readout = ""
        self.show_fps = True
        self._label_time = 0.0
        self._label_timer = QTimer(self)
        self._label_timer.setSingleShot(True)
        self._label_timer.timeout.connect(self._update_label)

    # ------------------------------------------------------------------ scene
    def set_scene(self, scene: Any) -> None:
        self.scene = scene
        self.invalidate()

    def invalidate(self) -> None:
        """The scene changed (time, items, placement): redraw."""
        self.update()

    def frame_all(self, bounds: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        if bounds is None:
            if self.scene is None or not self.scene.items:
                return
            bounds = self.scene.bounds()
        self.orbit_camera.frame(bounds[0], bounds[1], self.width() / max(self.height(), 1))
        self._camera_moved(settle=False)

    def set_view(self, name: str) -> None:
        self.orbit_camera.set_view(name)
        self._camera_moved(settle=False)

    def set_background(self, rgb: tuple[float, float, float]) -> None:
        self.background = tuple(float(c) for c in rgb)  # type: ignore[assignment]
        self.update()

    def set_show_grid(self, on: bool) -> None:
        self.show_grid = bool(on)
        self.update()

    def set_show_skeleton(self, on: bool) -> None:
        self.show_skeleton = bool(on)
        self.update()

    def set_playing(self, playing: bool, fps: float = 30.0) -> None:
        """While playing, the resolution adapts so frames keep up with `fps`; full resolution when stopped."""
        self.playing = bool(playing)
        self.target_fps = max(1.0, float(fps))
        self._full_paint_ms = None
        self._scaling_pays = True
        if not playing:
            self._playback_scale = 1.0
            self.update()

    @property
    def render_scale(self) -> float:
        """Resolution factor of the next frame (1 = full)."""
        if self._interacting:
            return INTERACTIVE_SCALE
        if self.playing and self.adaptive:
            return self._playback_scale
        return 1.0

    def _adapt_playback_scale(self) -> None:
        """Lower the playback resolution when frames are late, raise it again when there is room."""
        t = self._frame_times
        if not (self.playing and self.adaptive) or len(t) < 6:
            return
        interval = (t[-1] - t[-6]) / 5
        budget = 1.0 / self.target_fps
        paint = sorted(self._paint_ms)[len(self._paint_ms) // 2]
        if self._playback_scale == 1.0:
            self._full_paint_ms = paint
        elif self._full_paint_ms and paint > self._full_paint_ms * (1 - SCALING_MUST_SAVE * (1 - self._playback_scale ** 2)):
            # Fewer pixels did not make frames much cheaper (on llvmpipe the per-splat set-up
            # dominates): give the full resolution back for the rest of this playback.
            self._playback_scale, self._scaling_pays = 1.0, False
            self._frame_times.clear()
            self._paint_ms.clear()
            return
        if interval > budget * 1.15 and self._playback_scale > MIN_PLAYBACK_SCALE and self._scaling_pays:
            self._playback_scale = max(MIN_PLAYBACK_SCALE, self._playback_scale * 0.85)
            self._frame_times.clear()
            self._paint_ms.clear()
        elif interval < budget * 1.02 and self.last_render_ms < budget * 500 and self._playback_scale < 1.0:
            self._playback_scale = min(1.0, self._playback_scale / 0.9)
            self._frame_times.clear()
            self._paint_ms.clear()


    def camera(self, scale: float = 1.0) -> Camera:
        """The view camera at device-pixel resolution times `scale`."""
        w, h = self.device_size()
        return self.orbit_camera.camera(max(1, int(w * scale)), max(1, int(h * scale)))

    def device_size(self) -> tuple[int, int]:
        dpr = self.devicePixelRatioF()
        return max(1, int(round(self.width() * dpr))), max(1, int(round(self.height() * dpr)))

    @property
    def fps(self) -> float:
        t = self._frame_times
        if len(t) < 2 or t[-1] - t[0] <= 0:
            return 0.0
        return (len(t) - 1) / (t[-1] - t[0])


    def _create_renderer(self) -> None:
        try:
            from ..core.render import rendering
            name = self.renderer_name
            self._awaiting_probe = self._probe_pending(name)
            if self._awaiting_probe:
                # The gsplat probe imports torch and the CPU one compiles its kernels (seconds): start
                # on OpenGL now (the raster widget: draw the grid alone); `backend_probed()` switches
                # once the probes ran off the GUI thread.
                if self._interim_backend is None:
                    self.renderer, self.renderer_label, self.renderer_note = None, "", ""
                    return
                name = self._interim_backend
            notes: list[str] = []

            def notice(msg: str) -> None:
                notes.append(msg)
                self.notice(msg)
            # eight_bit: the screen is 8-bit anyway, and RGBA8 blending is faster on llvmpipe
            self.renderer = rendering.create_renderer(name, ctx=self.ctx, notice=notice, eight_bit=True)
        except Exception as err:
            self.renderer = None
            self.renderer_label = "no renderer"
            self.renderer_note = str(err)
            self._report(f"The splat renderer could not start: {err}")
            self.renderer_changed.emit(self.renderer_label)
            return
        self.renderer_label = str(self.renderer.name)
        self.renderer_note = notes[-1] if notes else ""
        self.renderer_changed.emit(self.renderer_label)

    def _probe_pending(self, name: str) -> bool:
        """Whether choosing back-end `name` still needs a probe that has not run yet."""
        from ..core.render.rendering import probe_pending
        return probe_pending(name, self._screen_gl_name)

    def _screen_gl_name(self) -> str:
        """GL_RENDERER of the OpenGL that draws the screen ("" when unknown)."""
        raise NotImplementedError

    def _switch_renderer(self) -> None:
        """Close the renderer and create the one `renderer_name` asks for, then redraw."""
        raise NotImplementedError

    def _close_renderer(self) -> None:
        """Close the renderer, and with it its uploads (a closing error is not worth a report)."""
        if self.renderer is not None:
            try:
                self.renderer.close()
            except Exception:
                pass
        self.renderer = None

    def set_renderer_name(self, name: str) -> None:
        """Switch back-end (auto/gl/gsplat/cpu) now."""
        if name == self.renderer_name:
            return
        self.renderer_name = name
        self._switch_renderer()

    def backend_probed(self) -> None:
        """Called after `rendering.probe_gsplat()` or `probe_cpu()` ran off the GUI thread: switch to
        the back-end that was asked for (or the best for "auto") once every probe it needs has run."""
        if not self._awaiting_probe or self._probe_pending(self.renderer_name):
            return
        self._switch_renderer()


    def _report(self, message: str) -> None:
        if message != self._last_error:
            self._last_error = message
            self.render_error.emit(message)


    def _draw_list(self, cam: Camera) -> DrawList:
        """The scene pass at the scene's time for `cam` (the export's pass); keeps the skeletons and
        the splat count for the overlay and the readout."""
        if self._pass is None:
            from ..core.scene_pass import ScenePass
            self._pass = ScenePass()
        dl = self._pass.draw_list(self.scene, self.scene.time, cam, skeletons=self.show_skeleton)
        self._skeletons = dl.skeletons
        self.splat_count = dl.splat_count
        return dl


    def _tick_fps(self, t0: float) -> None:
        now = time.perf_counter()
        self.last_render_ms = (now - t0) * 1000
        self.frames_drawn += 1
        self._frame_times.append(now)
        self._paint_ms.append(self.last_render_ms)
        while len(self._frame_times) > 2 and now - self._frame_times[0] > 2.0:
            self._frame_times.popleft()
        self._adapt_playback_scale()
        if now - self._label_time > 0.25:
            self._update_label()  # a few times a second
        else:
            self._label_timer.start(300)  # ...and once more when frames stop coming
        self.fps_changed.emit(self.fps)

    def _update_label(self) -> None:
        now = time.perf_counter()
        self._label_time = now
        text = ""
        if self.show_fps:
            w, h = self.device_size()
            scale = self.render_scale
            recent = sum(1 for t in self._frame_times if now - t < 1.0)
            # Slow playback (0.1×, or a heavy scene) is still playing: show its rate, however low.
            playing = self.playing and len(self._frame_times) >= 2
            rate = f"{self.fps:3.0f} fps" if recent >= 5 or playing else "idle"
            text = (f"{rate} · {self.last_render_ms:4.1f} ms/frame · {self.splat_count:,} splats · "
                    f"{int(w * scale)}×{int(h * scale)}")
        if text != self.readout:
            self.readout = text
            self.readout_changed.emit(text)

    # ------------------------------------------------------------------ mouse
    def _camera_moved(self, settle: bool = True) -> None:
        if settle:
            self._interacting = True
            self._settle.start(SETTLE_MS)
        self.camera_changed.emit()
        self.update()

    def _on_settled(self) -> None:
        if self._press_pos is not None:  # still dragging: stay interactive
            self._settle.start(SETTLE_MS)
            return
        self._interacting = False
        self.update()

    def mousePressEvent(self, e: QMouseEvent) -> None:
        self._press_pos = e.position().toPoint()
        self.setFocus()

    def mouseMoveEvent(self, e: QMouseEvent) -> None:
        if self._press_pos is None:
            return
        pos = e.position().toPoint()
        d = pos - self._press_pos
        self._press_pos = pos
        buttons = e.buttons()
        shift = bool(e.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if buttons & (Qt.MouseButton.RightButton | Qt.MouseButton.MiddleButton) or (
                buttons & Qt.MouseButton.LeftButton and shift):
            self.orbit_camera.pan(d.x(), d.y(), self.height())
        elif buttons & Qt.MouseButton.LeftButton:
            self.orbit_camera.orbit(-d.x() * 0.4, d.y() * 0.4)
        else:
            return
        self._camera_moved()

    def mouseReleaseEvent(self, e: QMouseEvent) -> None:
        self._press_pos = None
        self._settle.start(SETTLE_MS)

    def mouseDoubleClickEvent(self, e: QMouseEvent) -> None:
        self.frame_all()

    def wheelEvent(self, e: QWheelEvent) -> None:
        steps = e.angleDelta().y() / 120.0
        if steps:
            p = e.position()
            self.orbit_camera.zoom_at(0.88 ** steps, p.x(), p.y(), max(1, self.width()), max(1, self.height()))
            self._camera_moved()


# ---------------------------------------------------------------------- the OpenGL widget
class Viewport(_ViewportCore, QOpenGLWidget):
    """Draws a core `Scene` (set with `set_scene`) at the scene's current time through OpenGL.

    Signals: fps_changed(float), readout_changed(str) (fps, frame time, splats, render size; a few
    times a second), camera_changed(), render_error(str) (once per distinct message).
    """

    fps_changed = Signal(float)
    readout_changed = Signal(str)
    camera_changed = Signal()
    render_error = Signal(str)
    renderer_changed = Signal(str)  # the back-end now drawing (its `renderer_label`)

    def __init__(self, parent: QWidget | None = None, renderer_name: str = "auto") -> None:
        QOpenGLWidget.__init__(self, parent)
        self._init_core(renderer_name)
        self._grid_vbo = self._grid_vao = None
        self._grid_key: tuple | None = None  # (floor height, background) the grid was built for
        self._grid_count = 0
        self._offscreen = self._offscreen_tex = self._splat_tex = None
        self._offscreen_size = (0, 0)
        self._overlay_gl: Any = None
        self._target = _FramebufferTarget(self)

    def _screen_gl_name(self) -> str:
        return str(self.ctx.info.get("GL_RENDERER", "")) if self.ctx is not None else ""

    def _switch_renderer(self) -> None:
        if self.ctx is None:  # not initialized yet: initializeGL creates the renderer
            return
        self.makeCurrent()
        self._close_renderer()
        self._create_renderer()
        self.doneCurrent()
        self.update()

    def grab_rgb(self) -> np.ndarray:
        """[H,W,3] uint8 of what the viewport shows (renders a fresh frame)."""
        from PySide6.QtGui import QImage
        img = self.grabFramebuffer().convertToFormat(QImage.Format.Format_RGB888)
        w, h, bpl = img.width(), img.height(), img.bytesPerLine()
        arr = np.frombuffer(img.constBits(), np.uint8, count=bpl * h).reshape(h, bpl)[:, : w * 3]
        return arr.reshape(h, w, 3).copy()

    # ------------------------------------------------------------------ GL lifetime
    def initializeGL(self) -> None:
        import moderngl
        self._release_gl()
        try:
            self.ctx = moderngl.create_context()
        except Exception as err:  # no usable OpenGL
            self._report(f"OpenGL is not available here ({err}); the viewport cannot draw.")
            return
        ctx = self.ctx
        self._line_prog = ctx.program(vertex_shader=_LINE_VS, fragment_shader=_LINE_FS)
        self._blit_prog = ctx.program(vertex_shader=_BLIT_VS, fragment_shader=_BLIT_FS)
        self._quad_vbo = ctx.buffer(np.array([-1, -1, 1, -1, -1, 1, 1, 1], np.float32).tobytes())
        self._blit_vao = ctx.vertex_array(self._blit_prog, [(self._quad_vbo, "2f", "in_pos")])
        self._create_renderer()
        qctx = self.context()
        if qctx is not None:
            qctx.aboutToBeDestroyed.connect(self._release_gl)

    def _close_renderer(self) -> None:
        if self._overlay_gl is not None:
            self._overlay_gl.close()
            self._overlay_gl = None
        super()._close_renderer()

    def _release_gl(self) -> None:
        if self.ctx is None:
            return
        self.makeCurrent()
        self._close_renderer()
        for name in ("_offscreen", "_offscreen_tex", "_splat_tex", "_grid_vao", "_grid_vbo", "_blit_vao",
                     "_quad_vbo", "_line_prog", "_blit_prog"):
            obj = getattr(self, name, None)
            if obj is not None:
                try:
                    obj.release()
                except Exception:
                    pass
            setattr(self, name, None)
        self._offscreen_size = (0, 0)
        self.ctx = None
        self.doneCurrent()

    def resizeGL(self, w: int, h: int) -> None:
        self.camera_changed.emit()

    def _ensure_offscreen(self, w: int, h: int) -> None:
        if self._offscreen is not None and self._offscreen_size == (w, h):
            return
        for obj in (self._offscreen, self._offscreen_tex):
            if obj is not None:
                obj.release()
        self._offscreen_tex = self.ctx.texture((w, h), 4)
        self._offscreen_tex.filter = (self.ctx.LINEAR, self.ctx.LINEAR)
        self._offscreen = self.ctx.framebuffer(color_attachments=[self._offscreen_tex])
        self._offscreen_size = (w, h)

    # ------------------------------------------------------------------ painting
    def paintGL(self) -> None:
        t0 = time.perf_counter()
        if self.ctx is None:
            return
        ctx = self.ctx
        screen = ctx.detect_framebuffer(self.defaultFramebufferObject())
        w, h = self.device_size()
        try:
            scale = self.render_scale
            sw, sh = max(1, int(w * scale)), max(1, int(h * scale))
            cam = self.orbit_camera.camera(sw, sh)
            self._ensure_offscreen(sw, sh)
            self._offscreen.use()
            ctx.viewport = (0, 0, sw, sh)
            ctx.scissor = None
            ctx.disable(ctx.DEPTH_TEST | ctx.CULL_FACE)
            ctx.clear(*self.background, 1.0)
            if self.show_grid:
                self._draw_grid(gl_projection(cam))
            if self.scene is not None and self.renderer is not None:
                self.renderer.composite(self._draw_list(cam), self._target)
            # Upscale the (possibly reduced) image onto the widget's framebuffer.
            screen.use()
            ctx.viewport = (0, 0, w, h)
            ctx.scissor = None
            ctx.disable(ctx.BLEND | ctx.DEPTH_TEST)
            self._blit(self._offscreen_tex, flip_y=False, straight_alpha=False)
            overlay = self._overlay_renderer() if self.show_skeleton and self._skeletons else None
            if overlay is not None:
                full = self.orbit_camera.camera(w, h)
                dpr = self.devicePixelRatioF()
                for joints, parents in self._skeletons:
                    overlay.draw_skeleton(joints, parents, full, framebuffer=screen, viewport=(0, 0, w, h),
                                          line_px=2.0 * dpr, joint_px=4.0 * dpr)
        except Exception as err:  # keep the window alive; say what went wrong once
            self._report(f"Rendering failed: {err}")
            screen.use()
            ctx.viewport = (0, 0, w, h)
            ctx.scissor = None
            ctx.clear(*self.background, 1.0)
        finally:
            self._tick_fps(t0)

    def _overlay_renderer(self) -> Any:
        """What draws the skeleton overlay: the renderer when it is GL, else a GL renderer on our
        context made on first use (it only compiles its overlay shader)."""
        from ..core.render.gl import GLRenderer
        if isinstance(self.renderer, GLRenderer):
            return self.renderer
        if self._overlay_gl is None:
            self._overlay_gl = GLRenderer(self.ctx)
        return self._overlay_gl

    def _blend_image(self, rgba: np.ndarray, *, straight_alpha: bool) -> None:
        """Upload [H,W,4] uint8 pixels (rows top first) and blend them over the offscreen target."""
        rgba = np.ascontiguousarray(rgba)
        h, w = rgba.shape[:2]
        if self._splat_tex is None or self._splat_tex.size != (w, h):
            if self._splat_tex is not None:
                self._splat_tex.release()
            self._splat_tex = self.ctx.texture((w, h), 4)
        self._splat_tex.write(rgba)
        self._blend_texture(self._splat_tex, straight_alpha=straight_alpha)

    def _blend_texture(self, texture: Any, *, straight_alpha: bool) -> None:
        """Blend a texture (row 0 = image top, the offscreen target's size) over the offscreen target."""
        w, h = self._offscreen_size
        self._offscreen.use()
        self.ctx.viewport = (0, 0, w, h)
        self.ctx.enable(self.ctx.BLEND)
        self.ctx.blend_func = self.ctx.ONE, self.ctx.ONE_MINUS_SRC_ALPHA
        self._blit(texture, flip_y=True, straight_alpha=straight_alpha)
        self.ctx.disable(self.ctx.BLEND)

    def _blit(self, texture: Any, *, flip_y: bool, straight_alpha: bool) -> None:
        texture.use(0)
        self._blit_prog["tex"] = 0
        self._blit_prog["flip_y"] = flip_y
        self._blit_prog["straight_alpha"] = straight_alpha
        self._blit_vao.render(mode=self.ctx.TRIANGLE_STRIP)

    def _draw_grid(self, mvp: np.ndarray) -> None:
        ctx = self.ctx
        key = (round(self.ground_y, 4), tuple(self.background))
        if self._grid_vbo is None or self._grid_key != key:
            for obj in (self._grid_vao, self._grid_vbo):
                if obj is not None:
                    obj.release()
            data = grid_lines(self.ground_y, background=tuple(self.background))
            self._grid_vbo = ctx.buffer(data.tobytes())
            self._grid_vao = ctx.vertex_array(self._line_prog, [(self._grid_vbo, "3f 4f", "in_pos", "in_color")])
            self._grid_count, self._grid_key = data.shape[0], key
        ctx.enable(ctx.BLEND)
        ctx.blend_func = ctx.SRC_ALPHA, ctx.ONE_MINUS_SRC_ALPHA
        self._line_prog["mvp"].write(np.ascontiguousarray(mvp.T).tobytes())
        self._grid_vao.render(mode=ctx.LINES, vertices=self._grid_count)
        ctx.disable(ctx.BLEND)



# ---------------------------------------------------------------------- the raster widget
def project_segments(points: np.ndarray, camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """Project [N*2,3] world line-segment end points with `camera`, clipping each segment at the
    near plane. Returns ([M,4] pixel coordinates x0,y0,x1,y1 of the visible segments, [M] indices of
    those segments into the N given)."""
    pts = np.asarray(points, np.float64).reshape(-1, 2, 3)
    view = camera.view.astype(np.float64)
    cam = pts @ view[:3, :3].T + view[:3, 3]           # [N,2,3] camera space, z forward
    a, b = cam[:, 0], cam[:, 1]
    near = max(camera.near, 1e-4)
    keep = (a[:, 2] > near) | (b[:, 2] > near)
    # move the end behind the near plane onto it
    t_a = np.where(a[:, 2] < near, (near - a[:, 2]) / np.where(b[:, 2] != a[:, 2], b[:, 2] - a[:, 2], 1), 0.0)
    t_b = np.where(b[:, 2] < near, (near - b[:, 2]) / np.where(a[:, 2] != b[:, 2], a[:, 2] - b[:, 2], 1), 0.0)
    a2 = a + (b - a) * t_a[:, None]
    b2 = b + (a - b) * t_b[:, None]
    idx = np.nonzero(keep)[0]
    ends = np.stack([a2[idx], b2[idx]], 1)             # [M,2,3]
    z = np.maximum(ends[..., 2], near)
    px = camera.fx * ends[..., 0] / z + camera.cx
    py = camera.fy * ends[..., 1] / z + camera.cy
    return np.stack([px[:, 0], py[:, 0], px[:, 1], py[:, 1]], 1), idx


SKELETON_COLOR = (1.0, 0.35, 0.1, 1.0)  # as the GL overlay draws it


class RasterViewport(_ViewportCore, QWidget):
    """The same viewport as `Viewport` without OpenGL: a plain widget painting the renderer's 8-bit
    image with QPainter, the grid and the skeleton drawn as QPainter lines projected with the same
    camera. Where OpenGL is a software rasterizer (llvmpipe) a GL widget makes Qt compose the whole
    window through OpenGL, about 20 ms a frame at 1400×900; this widget's paint costs ~1 ms on top
    of the rasterizer (tests/bench/bench_raster_viewport.py). Any back-end draws here: the CPU
    rasterizer hands its premultiplied image over; others render() an image that is read back.
    """

    fps_changed = Signal(float)
    readout_changed = Signal(str)
    camera_changed = Signal()
    render_error = Signal(str)
    renderer_changed = Signal(str)

    _interim_backend = None  # while probes run, draw background and grid alone (no GL context made)

    def __init__(self, parent: QWidget | None = None, renderer_name: str = "cpu") -> None:
        QWidget.__init__(self, parent)
        self._init_core(renderer_name)
        self.setAutoFillBackground(False)
        self._grid_key: tuple | None = None
        self._grid_points = np.zeros((0, 3), np.float32)
        self._grid_colors: list = []
        self._frame_image: Any = None
        self._backdrop_image: Any = None
        self._backdrop_key: tuple | None = None
        self._target = _PainterTarget(self)
        self._create_renderer()

    def _screen_gl_name(self) -> str:
        from ..core.render.rendering import probe_gl
        ok, reason = probe_gl()
        return reason[4:] if ok and reason.startswith("ok: ") else ""

    def _switch_renderer(self) -> None:
        self._close_renderer()
        self._create_renderer()
        self.update()

    def resizeEvent(self, e: Any) -> None:
        self.camera_changed.emit()

    def grab_rgb(self) -> np.ndarray:
        """[H,W,3] uint8 of what the viewport shows (renders a fresh frame)."""
        from PySide6.QtGui import QImage
        img = self.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
        w, h, bpl = img.width(), img.height(), img.bytesPerLine()
        arr = np.frombuffer(img.constBits(), np.uint8, count=bpl * h).reshape(h, bpl)[:, : w * 3]
        return arr.reshape(h, w, 3).copy()

    def closeEvent(self, e: Any) -> None:
        self._close_renderer()
        super().closeEvent(e)

    # ------------------------------------------------------------------ painting
    def paintEvent(self, _e: Any) -> None:
        from PySide6.QtGui import QColor, QPainter
        t0 = time.perf_counter()
        p = QPainter(self)
        try:
            w, h = self.width(), self.height()
            p.drawImage(0, 0, self._backdrop())
            dw, dh = self.device_size()
            scale = self.render_scale
            cam = self.orbit_camera.camera(max(1, int(dw * scale)), max(1, int(dh * scale)))
            if scale < 1.0:
                p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            if self.scene is not None and self.renderer is not None:
                # source-over: premultiplied images blend as on GL
                self._target.painter, self._target.rect = p, self.rect()
                self.renderer.composite(self._draw_list(cam), self._target)
            if self.show_skeleton and self._skeletons:
                self._paint_skeletons(p, self.orbit_camera.camera(w, h))
        except Exception as err:  # keep the window alive; say what went wrong once
            self._report(f"Rendering failed: {err}")
            p.fillRect(0, 0, self.width(), self.height(), QColor.fromRgbF(*self.background))
        finally:
            self._target.painter = None
            p.end()
            self._tick_fps(t0)

    def _backdrop(self) -> Any:
        """Background and grid as one image, redrawn only when the camera, size or look changes:
        QPainter's blended grid lines cost ~4 ms a frame at 740×545, the copy well under one."""
        from PySide6.QtGui import QColor, QImage, QPainter
        w, h = self.width(), self.height()
        dpr = self.devicePixelRatioF()
        oc = self.orbit_camera
        key = (w, h, dpr, tuple(float(v) for v in oc.target), oc.distance, oc.azimuth, oc.elevation, oc.fov_y,
               tuple(self.background), round(self.ground_y, 4), self.show_grid)
        if self._backdrop_key != key:
            dw, dh = self.device_size()
            img = QImage(dw, dh, QImage.Format.Format_RGB32)
            img.setDevicePixelRatio(dpr)
            img.fill(QColor.fromRgbF(*self.background))
            if self.show_grid:
                bp = QPainter(img)
                self._paint_grid(bp, self.orbit_camera.camera(w, h))
                bp.end()
            self._backdrop_image, self._backdrop_key = img, key
        return self._backdrop_image

    def _qimage(self, rgba: np.ndarray, fmt: Any) -> Any:
        """A QImage holding a copy of [H,W,4] uint8 `rgba`, reused while the size stays: QImage's
        constructor over a Python buffer miscounts references in PySide6 (a crash at exit)."""
        from PySide6.QtGui import QImage
        h, w = rgba.shape[:2]
        img = self._frame_image
        if img is None or img.width() != w or img.height() != h or img.format() != fmt:
            img = self._frame_image = QImage(w, h, fmt)
        bpl = img.bytesPerLine()
        dst = np.frombuffer(img.bits(), np.uint8, count=bpl * h).reshape(h, bpl)[:, : w * 4]
        dst[...] = rgba.reshape(h, w * 4)
        return img

    def _paint_grid(self, p: Any, cam: Camera) -> None:
        """The ground grid of `grid_lines`, projected and drawn as 1-pixel lines (no GL)."""
        from PySide6.QtCore import QLineF
        from PySide6.QtGui import QColor, QPen
        key = (round(self.ground_y, 4), tuple(self.background))
        if self._grid_key != key:
            data = grid_lines(self.ground_y, background=tuple(self.background))
            self._grid_points = data[:, :3]
            colours = [tuple(float(v) for v in c) for c in data[0::2, 3:]]
            unique = sorted(set(colours))
            self._grid_colors = [QColor.fromRgbF(*c) for c in unique]
            self._grid_groups = np.array([unique.index(c) for c in colours])  # segment -> colour
            self._grid_key = key
        seg, idx = project_segments(self._grid_points, cam)
        groups = self._grid_groups[idx]
        for g, colour in enumerate(self._grid_colors):  # one call per colour: few Qt calls a frame
            pen = QPen(colour)
            pen.setWidth(0)  # cosmetic 1-pixel lines
            p.setPen(pen)
            p.drawLines([QLineF(*s) for s in seg[groups == g].tolist()])

    def _paint_skeletons(self, p: Any, cam: Camera) -> None:
        """Bones as 2-pixel lines and joints as dots, over the splats (as the GL overlay)."""
        from PySide6.QtCore import QLineF, QPointF
        from PySide6.QtGui import QColor, QPainter, QPen
        colour = QColor.fromRgbF(*SKELETON_COLOR)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        for joints, parents in self._skeletons:
            joints = np.asarray(joints, np.float64)
            parents = np.asarray(parents)
            child = np.nonzero(parents >= 0)[0]
            ends = np.stack([joints[parents[child]], joints[child]], 1).reshape(-1, 3)
            seg, _ = project_segments(ends, cam)
            p.setPen(QPen(colour, 2.0))
            p.drawLines([QLineF(*s) for s in seg.tolist()])
            view = cam.view.astype(np.float64)
            cj = joints @ view[:3, :3].T + view[:3, 3]
            cj = cj[cj[:, 2] > cam.near]
            p.setPen(QPen(colour, 4.0, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))  # round dots
            p.drawPoints([QPointF(cam.fx * x / z + cam.cx, cam.fy * y / z + cam.cy) for x, y, z in cj.tolist()])


def wants_raster(renderer_name: str) -> bool:
    """Whether the raster widget is the faster viewport for `renderer_name` here: for the CPU
    rasterizer, which "auto" picks where the screen's OpenGL is a software rasterizer. Set
    AVATAR_STUDIO_VIEWPORT=gl or =raster to choose by hand (benchmarks, comparisons)."""
    import os
    forced = os.environ.get("AVATAR_STUDIO_VIEWPORT", "").strip().lower()
    if forced in ("gl", "raster"):
        return forced == "raster"
    if renderer_name == "cpu":
        return True
    if renderer_name != "auto":
        return False
    from ..core.render.rendering import is_software_gl, probe_gl
    ok, reason = probe_gl()  # a headless context: well under a second
    return not ok or is_software_gl(reason)


def create_viewport(parent: QWidget | None = None, renderer_name: str = "auto") -> "Viewport | RasterViewport":
    """The viewport for `renderer_name`: `RasterViewport` where it wins (`wants_raster`), else the
    OpenGL `Viewport`. Both have the same methods and signals."""
    cls = RasterViewport if wants_raster(renderer_name) else Viewport
    return cls(parent, renderer_name=renderer_name)
