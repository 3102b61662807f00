"""The one renderer interface, and the camera every back-end shares.

Camera convention is OpenCV/gsplat: camera looks down +z, x right, y down.
`view` is the 4x4 world-to-camera matrix (gsplat's `viewmats`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from ..gaussians import GaussianSet

RenderMode = Literal["color", "alpha", "depth", "centers"]


@dataclass
class Camera:
    """A pinhole camera.

    Attributes:
        width, height: image size in pixels.
        fx, fy, cx, cy: intrinsics in pixels.
        view: [4,4] world-to-camera (OpenCV axes).
        near, far: clip distances in metres.
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    view: np.ndarray = field(default_factory=lambda: np.eye(4, dtype=np.float32))
    near: float = 0.01
    far: float = 100.0

    def __post_init__(self) -> None:
        self.view = np.asarray(self.view, np.float32).reshape(4, 4)

    @property
    def K(self) -> np.ndarray:
        """[3,3] intrinsics matrix."""
        return np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1]], np.float32)

    @property
    def position(self) -> np.ndarray:
        """[3] camera centre in world space."""
        r, t = self.view[:3, :3], self.view[:3, 3]
        return (-r.T @ t).astype(np.float32)

    @property
    def fov_y_deg(self) -> float:
        return float(np.degrees(2 * np.arctan(self.height / (2 * self.fy))))

    def resized(self, width: int, height: int) -> "Camera":
        """Same view and field of view at another resolution."""
        sx, sy = width / self.width, height / self.height
        return Camera(width, height, self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy,
                      self.view.copy(), self.near, self.far)

    def project(self, points: np.ndarray) -> np.ndarray:
        """[...,3] world points -> [...,3] (u, v, depth) pixel coordinates."""
        pc = np.asarray(points) @ self.view[:3, :3].T + self.view[:3, 3]
        z = pc[..., 2:3]
        uv = pc[..., :2] / np.where(np.abs(z) < 1e-9, 1e-9, z) * [self.fx, self.fy] + [self.cx, self.cy]
        return np.concatenate([uv, z], axis=-1).astype(np.float32)

    @classmethod
    def from_long_side_fov(cls, width: int, height: int, fov_deg: float) -> "Camera":
        """Camera at the world origin (world = camera frame): square pixels, centred principal
        point, `fov_deg` across the image's long side."""
        f = 0.5 * max(width, height) / np.tan(np.radians(fov_deg) / 2)
        return cls(int(width), int(height), float(f), float(f), width / 2.0, height / 2.0)

    @classmethod
    def look_at(cls, eye, target, up=(0.0, 1.0, 0.0), *, fov_y_deg: float = 40.0,
                width: int = 512, height: int = 512, near: float = 0.01, far: float = 100.0) -> "Camera":
        """A camera at `eye` looking at `target`, with `up` pointing up on screen."""
        eye, target, up = (np.asarray(v, np.float64) for v in (eye, target, up))
        fwd = target - eye
        fwd /= max(np.linalg.norm(fwd), 1e-12)
        right = np.cross(fwd, up)
        if np.linalg.norm(right) < 1e-8:  # looking straight along `up`
            right = np.cross(fwd, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        down = np.cross(fwd, right)
        r = np.stack([right, down, fwd])  # rows: camera x, y, z in world
        view = np.eye(4)
        view[:3, :3] = r
        view[:3, 3] = -r @ eye
        f = height / (2 * np.tan(np.radians(fov_y_deg) / 2))
        return cls(width, height, f, f, width / 2, height / 2, view, near, far)

    @classmethod
    def orbit(cls, target, distance: float, azimuth_deg: float, elevation_deg: float = 0.0, **kw) -> "Camera":
        """Turntable camera around `target` (Y up). Azimuth 0 looks at the front (+Z) of a subject."""
        az, el = np.radians(azimuth_deg), np.radians(elevation_deg)
        target = np.asarray(target, np.float64)
        offset = distance * np.array([np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el)])
        return cls.look_at(target + offset, target, (0.0, 1.0, 0.0), **kw)

    @classmethod
    def framing(cls, bounds_min, bounds_max, azimuth_deg: float = 0.0, elevation_deg: float = 0.0,
                fov_y_deg: float = 40.0, width: int = 512, height: int = 512, margin: float = 1.08) -> "Camera":
        """An orbit camera aimed at the box [bounds_min, bounds_max], as close as it can be while every
        corner of the box stays inside the image (with `margin` to spare)."""
        lo, hi = np.asarray(bounds_min, np.float64), np.asarray(bounds_max, np.float64)
        centre = (lo + hi) / 2
        axes = cls.orbit(centre, 1.0, azimuth_deg, elevation_deg, fov_y_deg=fov_y_deg, width=width, height=height)
        corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
        local = (corners - centre) @ axes.view[:3, :3].T.astype(np.float64)  # camera-aligned, centred
        tan_y = np.tan(np.radians(fov_y_deg) / 2)
        tan_x = tan_y * width / height
        # A corner at (x, y, z) relative to the centre sits at depth d + z; it is in view when
        # |x| <= (d + z) tan_x / margin, i.e. d >= margin |x| / tan_x - z (same for y).
        need = np.maximum(margin * np.abs(local[:, 0]) / tan_x, margin * np.abs(local[:, 1]) / tan_y) - local[:, 2]
        radius = max(float(np.linalg.norm(hi - lo)) / 2, 1e-3)
        distance = max(float(need.max()), float(local[:, 2].max()) + 0.05, 1e-2)
        return cls.orbit(centre, distance, azimuth_deg, elevation_deg, fov_y_deg=fov_y_deg, width=width,
                         height=height, near=max(distance - 2 * radius, 0.01), far=distance + 2 * radius)


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
    """Every back-end (GL, gsplat, reference) implements this.

    `background` is an RGB triple in 0..1, or None for a transparent background
    (then `color` is straight, un-premultiplied colour and `alpha` carries coverage).
    """

    name: str

    def render(self, gaussians: GaussianSet, camera: Camera, *,
               background: tuple[float, float, float] | None = (1.0, 1.0, 1.0),
               mode: RenderMode = "color") -> RenderResult: ...

    def close(self) -> None: ...


@runtime_checkable
class SkinnedRenderer(Renderer, Protocol):
    """A renderer that skins on the device: canonical Gaussians and skin weights are uploaded once,
    then each frame sends only the bone transforms (GL and gsplat implement it)."""

    def set_avatar(self, gaussians: GaussianSet, skin_indices: np.ndarray | None = None,
                   skin_weights: np.ndarray | None = None, rotation_locked: np.ndarray | None = None): ...

    def render_skinned(self, handle, transforms, transl, camera: Camera, *,
                       background: tuple[float, float, float] | None = (1.0, 1.0, 1.0),
                       mode: RenderMode = "color") -> RenderResult: ...
