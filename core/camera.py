"""The cameras, one home: `Camera` (a pinhole camera in OpenCV/gsplat axes: looks down +z, x right,
y down; `view` is the 4x4 world-to-camera matrix, gsplat's `viewmats`), `OrbitCamera` (the
viewport's turntable camera, Qt-free), `gl_projection` (OpenGL clip-from-world for a `Camera`), and
the photo's camera the template reconstructor fits the body in (`photo_camera`, `BODY_TO_CAMERA`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# The template fit's body frame (Y up, facing +Z, the camera at the origin looking down -Z) to the
# photo's OpenCV camera frame: (x, y, z) -> (x, -y, -z), an involution.
BODY_TO_CAMERA = np.array([1.0, -1.0, -1.0], np.float32)

VIEWS = {"front": (0.0, 5.0), "side": (90.0, 5.0), "back": (180.0, 5.0), "left": (-90.0, 5.0),
         "top": (0.0, 89.0)}


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
class OrbitCamera:
    """Turntable camera around `target` (Y up); azimuth 0 looks at the subject's front (+Z)."""

    target: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 0.0]))
    distance: float = 3.5
    azimuth: float = 15.0
    elevation: float = 5.0
    fov_y: float = 35.0

    def camera(self, width: int, height: int) -> Camera:
        near = max(self.distance * 0.01, 0.01)
        return Camera.orbit(self.target, self.distance, self.azimuth, self.elevation, fov_y_deg=self.fov_y,
                            width=max(1, width), height=max(1, height), near=near, far=self.distance * 20 + 50)

    def orbit(self, d_azimuth: float, d_elevation: float) -> None:
        self.azimuth = (self.azimuth + d_azimuth + 180.0) % 360.0 - 180.0
        self.elevation = float(np.clip(self.elevation + d_elevation, -89.0, 89.0))

    def pan(self, dx_px: float, dy_px: float, height_px: int) -> None:
        """Move the target so the scene follows the mouse by (dx, dy) pixels."""
        view = self.camera(16, 16).view
        right, down = view[0, :3].astype(np.float64), view[1, :3].astype(np.float64)
        metres_per_px = 2 * self.distance * np.tan(np.radians(self.fov_y) / 2) / max(height_px, 1)
        self.target = self.target - (dx_px * right + dy_px * down) * metres_per_px

    def zoom(self, factor: float) -> None:
        self.distance = float(np.clip(self.distance * factor, 0.05, 500.0))

    def zoom_at(self, factor: float, x_px: float, y_px: float, width: int, height: int) -> None:
        """Zoom towards the pixel (x_px, y_px) of a width×height view: the point under it on the plane
        through the target (facing the camera) stays under it, as in most 3D tools."""
        before = self.distance
        self.zoom(factor)
        cam = self.camera(width, height)
        view = cam.view.astype(np.float64)
        right, down = view[0, :3], view[1, :3]
        # pixel -> offset from the target on its plane, at the old distance
        offset = ((x_px - cam.cx) / cam.fx * right + (y_px - cam.cy) / cam.fy * down) * before
        self.target = self.target + (1.0 - self.distance / before) * offset

    def frame(self, lo: np.ndarray, hi: np.ndarray, aspect: float = 1.0, margin: float = 1.0) -> None:
        """Fit the box [lo, hi] in view, keeping the viewing direction."""
        lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
        self.target = (lo + hi) / 2
        radius = max(float(np.linalg.norm(hi - lo)) / 2, 0.05)
        fov = np.radians(self.fov_y) * min(1.0, aspect)
        self.distance = float(margin * radius / np.sin(fov / 2))

    def set_view(self, name: str) -> None:
        self.azimuth, self.elevation = VIEWS[name]

    def to_dict(self) -> dict:
        return {"target": [float(v) for v in self.target], "distance": self.distance, "azimuth": self.azimuth,
                "elevation": self.elevation, "fov_y": self.fov_y}

    @classmethod
    def from_dict(cls, d: dict) -> "OrbitCamera":
        return cls(np.asarray(d.get("target", [0, 0, 0]), np.float64), float(d.get("distance", 3.5)),
                   float(d.get("azimuth", 15.0)), float(d.get("elevation", 5.0)), float(d.get("fov_y", 35.0)))


def gl_projection(camera: Camera) -> np.ndarray:
    """[4,4] OpenGL clip-from-world matrix for an OpenCV camera (image row 0 at the top of the target)."""
    w, h, n, f = camera.width, camera.height, camera.near, camera.far
    p = np.array([[2 * camera.fx / w, 0, 2 * camera.cx / w - 1, 0],
                  [0, -2 * camera.fy / h, 1 - 2 * camera.cy / h, 0],
                  [0, 0, (f + n) / (f - n), -2 * f * n / (f - n)],
                  [0, 0, 1, 0]], np.float64)
    return (p @ camera.view.astype(np.float64)).astype(np.float32)


def photo_camera(width: int, height: int, focal: float, body_transl) -> Camera:
    """The photo's camera as the template reconstructor fits it: focal length `focal` pixels, principal point
    at the image centre, and the world (the body frame, posed body moved by `body_transl` [3]) seen from the
    origin looking down -Z. `project` of a body point gives its photo pixel (the fit's `project` in torch)."""
    view = np.eye(4, dtype=np.float32)
    view[:3, :3] = np.diag(BODY_TO_CAMERA)
    view[:3, 3] = BODY_TO_CAMERA * np.asarray(body_transl, np.float32).reshape(3)
    return Camera(int(width), int(height), float(focal), float(focal), width / 2.0, height / 2.0, view)
