"""The one front door to the renderers: probe the back-ends once, create the best one.

    renderer = create_renderer("auto", notice=print)   # gsplat on CUDA, else OpenGL or the CPU splatter
    image = renderer.render(gaussians, camera)

"auto" picks gsplat on a usable CUDA GPU; otherwise our GLSL renderer when OpenGL runs on a real
GPU, and the CPU tile rasterizer when OpenGL itself is a software rasterizer (llvmpipe & co.),
where it takes less than half the CPU time a frame.

`create_renderer` never crashes because a back-end is missing: asking for "gsplat" where it cannot
run falls back to the OpenGL renderer and says so through `notice`.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable, Literal, get_args

from ..errors import BackendUnavailableError, InputError
from .base import Renderer

BackendName = Literal["auto", "gl", "gsplat", "cpu", "reference"]
BACKEND_NAMES = get_args(BackendName)
SOFTWARE_GL = ("llvmpipe", "softpipe", "swrast", "software rasterizer", "swiftshader")


@lru_cache(maxsize=1)
def probe_gsplat() -> tuple[bool, str]:
    """Whether gsplat can rasterize here, and why not. Cached: the probe runs once per process.

    Checks CUDA first (cheap), then imports gsplat and rasterizes one tiny Gaussian in a try/except
    (on a CPU machine `import gsplat` works but rasterization fails; see SPECS §7).
    """
    try:
        import torch
    except Exception as exc:  # noqa: BLE001
        return False, f"torch cannot be imported ({exc})"
    if not torch.cuda.is_available():
        return False, "no CUDA GPU is available"
    try:
        import gsplat
    except Exception as exc:  # noqa: BLE001
        return False, f"gsplat cannot be imported ({type(exc).__name__}: {exc})"
    try:
        dev = torch.device("cuda")
        colors, _, _ = gsplat.rasterization(
            torch.tensor([[0.0, 0.0, 2.0]], device=dev), torch.tensor([[1.0, 0.0, 0.0, 0.0]], device=dev),
            torch.full((1, 3), 0.1, device=dev), torch.ones(1, device=dev), torch.ones(1, 1, 3, device=dev),
            torch.eye(4, device=dev)[None], torch.tensor([[[8.0, 0, 4], [0, 8.0, 4], [0, 0, 1]]], device=dev),
            8, 8, sh_degree=0)
        torch.cuda.synchronize()
        if not bool(torch.isfinite(colors).all()):
            return False, "a test rasterization returned non-finite values"
    except Exception as exc:  # noqa: BLE001 - any failure means unusable
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return False, f"a test rasterization failed ({type(exc).__name__}: {msg[:200]})"
    return True, "ok"


@lru_cache(maxsize=1)
def probe_gl() -> tuple[bool, str]:
    """Whether a headless OpenGL 4.3 context can be created here (cached); the reason is "ok" or,
    for a working context, its GL_RENDERER string after "ok: "."""
    try:
        from .gl import create_headless_context
        ctx = create_headless_context()
        name = str(ctx.info.get("GL_RENDERER", ""))
        ctx.release()
    except Exception as exc:  # noqa: BLE001
        return False, str(exc)
    return True, f"ok: {name}" if name else "ok"


def is_software_gl(gl_renderer: str) -> bool:
    """Whether a GL_RENDERER string names a CPU rasterizer (Mesa llvmpipe/softpipe, SwiftShader...)."""
    return any(s in gl_renderer.lower() for s in SOFTWARE_GL)


@lru_cache(maxsize=1)
def probe_cpu() -> tuple[bool, str]:
    """Whether the CPU splat rasterizer can run (numba importable, kernels compiled; cached).

    The first call compiles the kernels or loads them from numba's disk cache: seconds the first
    time on a machine, well under one after that. The GUI calls it off the GUI thread.
    """
    try:
        from .cpu import warm_up
        warm_up()
    except Exception as exc:  # noqa: BLE001 - any failure means unusable
        return False, f"{type(exc).__name__}: {str(exc).strip()[:200]}"
    return True, "ok"


def prefers_cpu(ctx: Any = None) -> bool:
    """Whether "auto" should use the CPU rasterizer rather than OpenGL: when OpenGL (the given
    context's, else a headless one's) is a software rasterizer and the CPU back-end works."""
    if ctx is not None:
        name = str(ctx.info.get("GL_RENDERER", ""))
    else:
        ok, reason = probe_gl()
        if not ok:
            return probe_cpu()[0]
        name = reason
    return is_software_gl(name) and probe_cpu()[0]


def probe_pending(name: str, screen_gl_name: Callable[[], str]) -> bool:
    """Whether choosing back-end `name` for a screen still needs a probe that has not run yet (the GUI
    runs them off its thread: seconds). `screen_gl_name()` gives the screen's GL_RENDERER ("" unknown)."""
    gsplat_known = probe_gsplat.cache_info().currsize > 0
    cpu_known = probe_cpu.cache_info().currsize > 0
    if name in ("auto", "gsplat") and not gsplat_known:
        return True
    if name == "cpu" and not cpu_known:
        return True
    if name == "auto" and not cpu_known and not probe_gsplat()[0]:
        return is_software_gl(screen_gl_name())
    return False


def available_backends() -> list[str]:
    """Names of the back-ends that work on this machine, best first ("reference" always works)."""
    found = [n for n, probe in (("gsplat", probe_gsplat), ("gl", probe_gl), ("cpu", probe_cpu)) if probe()[0]]
    if "gl" in found and "cpu" in found and prefers_cpu():
        found.remove("cpu")
        found.insert(found.index("gl"), "cpu")
    return found + ["reference"]


def create_renderer(name: BackendName = "auto", ctx: Any = None,
                    notice: Callable[[str], None] | None = None, eight_bit: bool = False,
                    video: bool = False, **options: Any) -> Renderer:
    """Create a renderer.

    Args:
        name: "auto" (gsplat when usable; else the CPU rasterizer where OpenGL is software, OpenGL
            on a real GPU), "gl", "gsplat", "cpu" or "reference".
        ctx: a moderngl context for the OpenGL renderer (e.g. the Qt viewport's); None = headless.
            With "auto" it also tells whether the screen's OpenGL is software.
        notice: called with a one-line, human-readable message when a fallback happens.
        eight_bit: blend in RGBA8 like an on-screen framebuffer (the viewport): ~13% faster on
            llvmpipe. Compositing rounds at every layer: 56 dB from float blending on the demo
            avatar, ~34 dB on deep semi-transparent scenes, so exports keep float. GL only.
        video: the frames go to 8-bit video or images: with an opaque background the OpenGL
            renderer quantizes on the GPU and reads back 8 bits (blending stays float); the CPU
            renderer hands back 8-bit images too.
        options: passed to the back-end's constructor (e.g. precision="uint8" for GL).
    Raises:
        BackendUnavailableError only when no OpenGL context can be made either.
    """
    say = notice or (lambda _msg: None)
    if name not in BACKEND_NAMES:
        raise InputError(f"Unknown renderer {name!r}; use auto, gl, gsplat, cpu or reference.")
    if name == "reference":
        from .reference import ReferenceRenderer
        return ReferenceRenderer(**options)
    if name in ("auto", "gsplat"):
        ok, reason = probe_gsplat()
        if ok:
            try:
                from .cuda import GsplatRenderer
                return GsplatRenderer(**options)
            except Exception as exc:  # noqa: BLE001
                ok, reason = False, str(exc)
        if name == "gsplat":
            say(f"gsplat unavailable ({reason}); using the OpenGL renderer")
    if name == "cpu" or (name == "auto" and prefers_cpu(ctx)):
        ok, reason = probe_cpu()
        if ok:
            from .cpu import CpuRenderer
            return CpuRenderer(read_back="8bit" if video else "float")
        say(f"the CPU splat renderer is unavailable ({reason}); using the OpenGL renderer")
    from .gl import GLRenderer
    if eight_bit:
        options.setdefault("precision", "uint8")
    if video:
        options.setdefault("read_back", "8bit")
    try:
        return GLRenderer(ctx, **options)
    except BackendUnavailableError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise BackendUnavailableError(f"The OpenGL renderer cannot start: {exc}") from exc
