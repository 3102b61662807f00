"""The photo as the reconstructor sees it: a crop around the person at a chosen resolution, with
its pinhole intrinsics, plus the camera-frame conventions shared by the template stages.

Camera frame: OpenCV (x right, y down, z forward). The fit's body frame (Y up, facing +Z, the
camera at the origin looking down -Z) maps to it by (x, y, z) -> (x, -y, -z).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from ...camera import BODY_TO_CAMERA

FLIP = BODY_TO_CAMERA  # body frame <-> camera frame (an involution); defined in core/camera.py


@dataclass
class PhotoView:
    """A crop of the photo resampled to `scale` x input pixels.

    Attributes:
        rgb: [h,w,3] float32 0..1; mask: [h,w] float32 0..1.
        fx, fy, cx, cy: intrinsics of this view in its own pixels.
        x0, y0: crop origin in input pixels; scale: view pixels per input pixel.
    """

    rgb: np.ndarray
    mask: np.ndarray
    fx: float
    fy: float
    cx: float
    cy: float
    x0: int
    y0: int
    scale: float

    @property
    def size(self) -> tuple[int, int]:
        """(h, w)."""
        return self.mask.shape[0], self.mask.shape[1]

    def project(self, cam_points: np.ndarray) -> np.ndarray:
        """[N,3] camera-frame points -> [N,3] (u, v, z) in this view's pixels."""
        z = np.maximum(cam_points[:, 2], 1e-4)
        return np.stack([self.fx * cam_points[:, 0] / z + self.cx, self.fy * cam_points[:, 1] / z + self.cy, z], 1)

    def unproject(self, u: np.ndarray, v: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Pixel coordinates [N] and depths [N] -> [N,3] camera-frame points."""
        return np.stack([(u - self.cx) / self.fx * z, (v - self.cy) / self.fy * z, z], 1).astype(np.float32)


def inset(view: PhotoView, pixels: float, supersample: int = 1) -> PhotoView:
    """The same view with its mask shrunk by `pixels` (Gaussians placed up to this inner outline
    spread back out to the real one). With `supersample` > 1 the outline is found on a grid that
    many times finer and the result is that grid's coverage (0..1), so a fraction of a pixel counts."""
    from dataclasses import replace
    from scipy import ndimage
    if pixels <= 0:
        return view
    k = max(1, int(supersample))
    if k == 1:
        dist = ndimage.distance_transform_edt(view.mask > 0.5)
        return replace(view, mask=(dist > pixels).astype(np.float32))
    h, w = view.size
    fine = ndimage.zoom(view.mask, k, order=1, grid_mode=True, mode="nearest") > 0.5
    inner = ndimage.distance_transform_edt(fine) > pixels * k
    return replace(view, mask=inner.reshape(h, k, w, k).mean(axis=(1, 3), dtype=np.float32))


def inset_metres(view: PhotoView, metres: float, person_height_m: float) -> PhotoView:
    """The view with its mask shrunk by `metres` at the person's scale (their height in pixels over
    `person_height_m`), to a quarter of a pixel. Unchanged when that would take away more than a
    third of the mask (a person too small in the view for the inset to mean anything)."""
    fg = view.mask > 0.5
    rows = np.nonzero(fg.any(axis=1))[0]
    if metres <= 0 or rows.size == 0:
        return view
    out = inset(view, metres * (rows[-1] - rows[0] + 1) / person_height_m, supersample=4)
    return out if (out.mask > 0.5).sum() >= fg.sum() * 2 / 3 else view


def person_box(mask: np.ndarray, margin: float = 0.08) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) around the mask (> 0.5), padded by `margin` of its height."""
    ys, xs = np.nonzero(mask > 0.5)
    pad = int(margin * (ys.max() - ys.min() + 1)) + 2
    h, w = mask.shape
    return max(0, xs.min() - pad), max(0, ys.min() - pad), min(w, xs.max() + 1 + pad), min(h, ys.max() + 1 + pad)


def make_view(image: np.ndarray, mask: np.ndarray, focal: float, long_side: int,
              box: tuple[int, int, int, int]) -> PhotoView:
    """Crop [H,W,3|4] uint8 `image` and [H,W] `mask` to `box`, resample to `long_side`.

    `focal` is the input image's focal length in pixels; its principal point is the image centre.
    """
    x0, y0, x1, y1 = box
    s = long_side / max(x1 - x0, y1 - y0)
    w, h = max(8, round((x1 - x0) * s)), max(8, round((y1 - y0) * s))
    crop = Image.fromarray(np.ascontiguousarray(image[y0:y1, x0:x1, :3]))
    rgb = np.asarray(crop.resize((w, h), Image.BOX if s < 1 else Image.BILINEAR), np.float32) / 255.0
    m = Image.fromarray(np.ascontiguousarray(mask[y0:y1, x0:x1]).astype(np.float32), "F")
    msk = np.clip(np.asarray(m.resize((w, h), Image.BILINEAR), np.float32), 0, 1)
    sx, sy = w / (x1 - x0), h / (y1 - y0)
    big_h, big_w = image.shape[:2]
    return PhotoView(rgb, msk, focal * sx, focal * sy, (big_w / 2 - x0) * sx, (big_h / 2 - y0) * sy, x0, y0,
                     (sx + sy) / 2)
