"""Colour for every Gaussian site: project the photo onto the sites it sees, invent the rest.

* Visibility: a z-buffer splatted from the sites themselves, plus a facing test.
* Seen sites sample the photo bilinearly from a copy in which every pixel outside an eroded
  mask holds the colour of the nearest person pixel, so no background bleeds in at the outline.
* Unseen sites (back, sides, occluded) take the colour of the nearest seen sites of the same body
  part in canonical space with depth down-weighted: a mirror through the body's coronal plane
  (the back of a sweater gets the sweater, the back of a leg the trousers). Averaging the k
  nearest seen sites softens the photo's fine shading; its broad shading is kept (dividing it out
  needs an albedo model; a per-part median mistakes one garment's colour for shading).
* The back and top of the head take the colour of the seen crown (usually hair), not the face.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from .view import PhotoView

HEAD_PART = 1


def splat_depth(view: PhotoView, cam: np.ndarray, shrink: int = 2) -> tuple[np.ndarray, int]:
    """Nearest depth per pixel of a 1/`shrink` grid: ([h',w'] float, with inf where empty; shrink)."""
    h, w = view.size
    uvz = view.project(cam)
    gh, gw = (h + shrink - 1) // shrink, (w + shrink - 1) // shrink
    iu = np.clip((uvz[:, 0] / shrink).astype(np.int64), 0, gw - 1)
    iv = np.clip((uvz[:, 1] / shrink).astype(np.int64), 0, gh - 1)
    zbuf = np.full(gh * gw, np.inf, np.float32)
    np.minimum.at(zbuf, iv * gw + iu, uvz[:, 2])
    zbuf = ndimage.minimum_filter(zbuf.reshape(gh, gw), size=3, mode="nearest")
    return zbuf, shrink


def visible_sites(view: PhotoView, cam: np.ndarray, cam_n: np.ndarray, tol: float = 0.02,
                  occluders: np.ndarray | None = None, facing: float = 0.25) -> np.ndarray:
    """[N] bool: sites turned towards the camera (cosine above `facing`; grazing sites would take
    stretched or neighbouring colours) and not hidden behind other sites (or `occluders` [M,3])."""
    pts = cam if occluders is None else np.concatenate([cam, occluders])
    zbuf, s = splat_depth(view, pts)
    uvz = view.project(cam)
    gh, gw = zbuf.shape
    iu = np.clip((uvz[:, 0] / s).astype(np.int64), 0, gw - 1)
    iv = np.clip((uvz[:, 1] / s).astype(np.int64), 0, gh - 1)
    view_dir = cam / np.maximum(np.linalg.norm(cam, axis=1, keepdims=True), 1e-9)
    towards = (cam_n * view_dir).sum(1) < -facing
    return towards & (uvz[:, 2] <= zbuf[iv, iu] + tol)


def fill_outside(rgb: np.ndarray, mask: np.ndarray, erode_px: int = 1) -> np.ndarray:
    """[h,w,3] image whose pixels outside the eroded [h,w] bool mask copy the nearest inside pixel."""
    inside = ndimage.binary_erosion(mask, iterations=erode_px) if erode_px > 0 else mask
    if not inside.any():
        inside = mask
    _, (iy, ix) = ndimage.distance_transform_edt(~inside, return_indices=True)
    return rgb[iy, ix]


def bilinear(img: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Sample [h,w,C] at continuous pixel coordinates (pixel centres at +0.5) -> [N,C]."""
    h, w = img.shape[:2]
    x = np.clip(u - 0.5, 0, w - 1.001)
    y = np.clip(v - 0.5, 0, h - 1.001)
    x0, y0 = x.astype(np.int64), y.astype(np.int64)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    top = img[y0, x0] * (1 - fx) + img[y0, x0 + 1] * fx
    bot = img[y0 + 1, x0] * (1 - fx) + img[y0 + 1, x0 + 1] * fx
    return (top * (1 - fy) + bot * fy).astype(np.float32)


def propagate(can: np.ndarray, part: np.ndarray, known: np.ndarray, rgb: np.ndarray, z_weight: float = 0.25,
              k: int = 4) -> np.ndarray:
    """Fill colours of unknown sites from the nearest known sites of the same part.

    Args:
        can: [N,3] canonical positions; part: [N] part ids; known: [N] bool; rgb: [N,3] (known rows used).
    Returns: [N,3] colours (known rows unchanged).
    """
    out = rgb.copy()
    scale = np.array([1.0, 1.0, z_weight], np.float32)
    for p in np.unique(part):
        src = np.flatnonzero(known & (part == p))
        dst = np.flatnonzero(~known & (part == p))
        if dst.size == 0:
            continue
        if src.size == 0:
            src = np.flatnonzero(known)
            if src.size == 0:
                continue
        tree = cKDTree(can[src] * scale)
        kk = min(k, src.size)
        d, j = tree.query(can[dst] * scale, k=kk)
        if kk == 1:
            d, j = d[:, None], j[:, None]
        w = 1.0 / np.maximum(d, 1e-4)
        out[dst] = (rgb[src][j] * w[..., None]).sum(1) / w.sum(1, keepdims=True)
    return out


def head_back_colours(can: np.ndarray, can_n: np.ndarray, part: np.ndarray, visible: np.ndarray,
                      rgb: np.ndarray, head_centre: np.ndarray, eye_y: float, skull_base_y: float) -> np.ndarray:
    """Colours for unseen sites on the back and top of the head, from the seen crown.

    The crown is the seen head sites above the eyes whose normals do not face the camera (top and
    upper sides of the head: hair, or scalp on a bald head). Each unseen head site above the skull
    base takes the mean colour of the crown sites nearest in direction from the head centre, so the
    back of the head continues the hair rather than mirroring the face.
    """
    head = part == HEAD_PART
    crown = np.flatnonzero(head & visible & (can_n[:, 2] < 0.5) & (can[:, 1] > eye_y + 0.03))
    dst = np.flatnonzero(head & ~visible & (can[:, 1] > skull_base_y - 0.02))
    out = rgb.copy()
    if crown.size < 4 or dst.size == 0:
        return out
    d_src = can[crown] - head_centre
    d_src /= np.maximum(np.linalg.norm(d_src, axis=1, keepdims=True), 1e-9)
    d_dst = can[dst] - head_centre
    d_dst[:, 2] = np.maximum(d_dst[:, 2], 0)            # the back mirrors onto the crown
    d_dst[:, 1] = np.maximum(d_dst[:, 1], 0.5 * np.abs(d_dst[:, 0]))  # the nape reaches up to it
    d_dst /= np.maximum(np.linalg.norm(d_dst, axis=1, keepdims=True), 1e-9)
    _, j = cKDTree(d_src).query(d_dst, k=min(8, crown.size))
    out[dst] = rgb[crown][j].mean(1)
    return out


@dataclass
class HeadFrame:
    """Canonical head landmarks: centre [3], eye height, skull-base (head joint) height."""

    centre: np.ndarray
    eye_y: float
    skull_base_y: float

    @classmethod
    def from_joints(cls, joints: np.ndarray) -> "HeadFrame":
        """From [55,3] rest joints."""
        return cls(joints[15] + np.array([0.0, 0.07, 0.0], np.float32), float(joints[23:25, 1].mean()),
                   float(joints[15, 1]))


def colour_sites(view: PhotoView, can: np.ndarray, can_n: np.ndarray, cam: np.ndarray, cam_n: np.ndarray,
                 part: np.ndarray, head: HeadFrame, visible: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """RGB for N body sites.

    Args:
        can, can_n: [N,3] canonical positions and normals; cam, cam_n: [N,3] posed camera frame.
        part: [N] body part ids; head: canonical head landmarks.
        visible: [N] bool, or None to compute it.
    Returns: ([N,3] rgb 0..1, [N] bool visible).
    """
    if visible is None:
        visible = visible_sites(view, cam, cam_n)
    clean = fill_outside(view.rgb, view.mask > 0.5, erode_px=max(1, round(view.size[0] / 400)))
    uvz = view.project(cam)
    rgb = np.zeros((cam.shape[0], 3), np.float32)
    rgb[visible] = bilinear(clean, uvz[visible, 0], uvz[visible, 1])
    rgb = propagate(can, part, visible, rgb)
    rgb = head_back_colours(can, can_n, part, visible, rgb, head.centre, head.eye_y, head.skull_base_y)
    return rgb, visible
