"""The one front door to the renderers: probe the back-ends once, create the best one.

    renderer = create_renderer("auto", notice=print)   # gsplat on a usable CUDA GPU, else OpenGL
    image = renderer.render(gaussians, camera)

`create_renderer` never crashes because a back-end is missing: asking for "gsplat" where it cannot
run falls back to the OpenGL renderer and says so through `notice`.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable, Literal

from ..errors import BackendUnavailableError, InputError
from .base import Renderer

BackendName = Literal["auto", "gl", "gsplat", "reference"]


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
    """Whether a headless OpenGL 4.3 context can be created here (cached)."""
    try:
        from .gl import create_headless_context
        ctx = create_headless_context()
        ctx.release()
    except Exception as exc:  # noqa: BLE001
        return False, str(exc)
    return True, "ok"


def available_backends() -> list[str]:
    """Names of the back-ends that work on this machine, best first ("reference" always works)."""
    names = [n for n, probe in (("gsplat", probe_gsplat), ("gl", probe_gl)) if probe()[0]]
    return names + ["reference"]


def create_renderer(name: BackendName = "auto", ctx: Any = None,
                    notice: Callable[[str], None] | None = None, eight_bit: bool = False,
                    video: bool = False, **options: Any) -> Renderer:
    """Create a renderer.

    Args:
        name: "auto" (gsplat when usable, else OpenGL), "gl", "gsplat" or "reference".
        ctx: a moderngl context for the OpenGL renderer (e.g. the Qt viewport's); None = headless.
        notice: called with a one-line, human-readable message when a fallback happens.
        eight_bit: blend in RGBA8 like an on-screen framebuffer (the viewport): ~13% faster on
            llvmpipe. Compositing rounds at every layer: 56 dB from float blending on the demo
            avatar, ~34 dB on deep semi-transparent scenes, so exports keep float. GL only.
        video: the frames go to 8-bit video or images: with an opaque background the OpenGL
            renderer quantizes on the GPU and reads back 8 bits (blending stays float). GL only.
        options: passed to the back-end's constructor (e.g. precision="uint8" for GL).
    Raises:
        BackendUnavailableError only when no OpenGL context can be made either.
    """
    say = notice or (lambda _msg: None)
    if name not in ("auto", "gl", "gsplat", "reference"):
        raise InputError(f"Unknown renderer {name!r}; use auto, gl, gsplat or reference.")
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
