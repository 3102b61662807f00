"""The one renderer interface (the camera every back-end shares lives in core/camera.py).

Camera convention is OpenCV/gsplat (see core/camera.py): camera looks down +z, x right, y down.
`view` is the 4x4 world-to-camera matrix (gsplat's `viewmats`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

import numpy as np

from ..camera import Camera
from ..gaussians import GaussianSet
from .draw import DrawList, Target

if TYPE_CHECKING:
    from ..avatar import Avatar

RenderMode = Literal["color", "alpha", "depth", "centers"]


@dataclass
class RenderResult:
    """What a renderer returns.

    Attributes:
        color: [H,W,3] float32 in 0..1, composited over the background
            (for a transparent background: straight colour, use with `alpha`).
        alpha: [H,W] float32 accumulated opacity in 0..1.
        depth: [H,W] float32 alpha-weighted expected camera-space depth (0 where empty), or None.
    """

    color: np.ndarray
    alpha: np.ndarray
    depth: np.ndarray | None = None

    def rgba8(self) -> np.ndarray:
        """[H,W,4] uint8 straight-alpha image."""
        rgba = np.concatenate([self.color, self.alpha[..., None]], axis=-1)
        return (np.clip(rgba, 0, 1) * 255 + 0.5).astype(np.uint8)

    def rgb8(self) -> np.ndarray:
        """[H,W,3] uint8 image."""
        return (np.clip(self.color, 0, 1) * 255 + 0.5).astype(np.uint8)


class Rgba8RenderResult(RenderResult):
    """A colour render read back as 8-bit RGBA, already over an opaque background.

    `rgb8()` hands the bytes over as they are (video export needs nothing else); the float `color`
    and `alpha` are made on first use.
    """

    def __init__(self, rgba8: np.ndarray) -> None:  # noqa: D107 - color/alpha are lazy, no dataclass init
        self._rgba8 = rgba8
        self._color: np.ndarray | None = None
        self._alpha: np.ndarray | None = None
        self.depth = None

    @property
    def color(self) -> np.ndarray:  # type: ignore[override]
        if self._color is None:
            self._color = self._rgba8[..., :3].astype(np.float32) * np.float32(1.0 / 255.0)
        return self._color

    @property
    def alpha(self) -> np.ndarray:  # type: ignore[override]
        if self._alpha is None:
            self._alpha = self._rgba8[..., 3].astype(np.float32) * np.float32(1.0 / 255.0)
        return self._alpha

    def rgb8(self) -> np.ndarray:
        out = np.empty(self._rgba8.shape[:2] + (3,), np.uint8)
        for c in range(3):   # one channel at a time: ~5x faster than copying 3-byte strided pixels
            out[..., c] = self._rgba8[..., c]
        return out


@runtime_checkable
class Renderer(Protocol):
    """Every back-end (GL, CPU, gsplat, reference) implements this.

    `composite` is the scene pass's one drawing call (core/scene_pass.py): it draws a depth-ordered
    draw list over a target (the viewport's framebuffer or painter, an export's `ImageTarget`).

    `background` is an RGB triple in 0..1, or None for a transparent background
    (then `color` is straight, un-premultiplied colour and `alpha` carries coverage).
    """

    name: str

    def render(self, gaussians: GaussianSet, camera: Camera, *,
               background: tuple[float, float, float] | None = (1.0, 1.0, 1.0),
               mode: RenderMode = "color") -> RenderResult: ...

    def composite(self, draw_list: DrawList, target: Target) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class SkinnedRenderer(Renderer, Protocol):
    """A renderer that skins on the device: canonical Gaussians and skin weights are uploaded once,
    then each frame sends only the bone transforms (GL, CPU and gsplat implement it). `set_avatar` takes
    an `Avatar` (its rig comes along) or a GaussianSet with optional skinning arrays."""

    def set_avatar(self, gaussians: "Avatar | GaussianSet", skin_indices: np.ndarray | None = None,
                   skin_weights: np.ndarray | None = None, rotation_locked: np.ndarray | None = None): ...

    def render_skinned(self, handle, transforms, transl, camera: Camera, *,
                       background: tuple[float, float, float] | None = (1.0, 1.0, 1.0),
                       mode: RenderMode = "color") -> RenderResult: ...
