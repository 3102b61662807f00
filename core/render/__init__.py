"""Rendering: one `Renderer` interface, four back-ends (OpenGL, CPU tile rasterizer, gsplat/CUDA,
pure-torch reference).

Start here: `create_renderer("auto")` in `rendering.py`. Back-end modules import their heavy
dependencies (moderngl, numba, gsplat) lazily, so importing this package is cheap.
"""
from .base import Camera, RenderMode, RenderResult, Renderer
from .rendering import available_backends, create_renderer, probe_gsplat

__all__ = ["Camera", "RenderMode", "RenderResult", "Renderer", "available_backends", "create_renderer",
           "probe_gsplat"]
