"""Photo preprocessing as LHM does it (SPECS §3.8), written from its description, no LHM code.

Differences from the reference, on purpose (also listed in core/lhm/README.md):
- Mask: the alpha channel or, without one, a fitted person mask from `estimate_subject`; LHM uses
  SAM2/BiRefNet (rembg fallback).
- Resizing: PIL's box filter stands in for OpenCV's INTER_AREA (OpenCV is not a dependency).
- Head crop: cut straight from the photo to 448 px; LHM resizes to 112 px and runs GFPGAN face
  super-resolution up to 448 px, which we skip.
- Head box: from keypoints or the top of the person mask until the template fitter provides one;
  LHM uses the VGGHead detector. The 1.65x square expansion is the same.
- Wide subjects (bbox wider than tall) are padded to 5:3 instead of being rejected.
- Betas: from our body fit (zeros until the template fitter is wired in); LHM uses Multi-HMR.
"""
from __future__ import annotations

import math
import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError

ASPECT = 5.0 / 3.0
HEAD_SCALE = 1.65
SAPIENS_MEAN = (0.4844, 0.4570, 0.4062)
SAPIENS_STD = (0.2295, 0.2236, 0.2256)


# ---------------------------------------------------------------------- tensor ops
def pad_square(image: torch.Tensor, value: float = 1.0) -> torch.Tensor:
    """[B,C,H,W] -> [B,C,S,S], S = max(H,W), centred (extra pixel right/bottom), filled with `value`."""
    h, w = image.shape[-2:]
    s = max(h, w)
    left, top = (s - w) // 2, (s - h) // 2
    return F.pad(image, (left, s - w - left, top, s - h - top), value=value)


def _gaussian_1d(size: int, sigma: float, like: torch.Tensor) -> torch.Tensor:
    x = torch.arange(size, dtype=like.dtype, device=like.device) - float(size // 2)
    if size % 2 == 0:
        x = x + 0.5
    g = torch.exp(-x.pow(2.0) / (2 * sigma ** 2))
    return g / g.sum()


def _blur(image: torch.Tensor, ks: tuple[int, int], sigmas: tuple[float, float]) -> torch.Tensor:
    """Separable Gaussian blur with reflect padding, [B,C,H,W] -> same."""
    b, c, h, w = image.shape
    kx = _gaussian_1d(ks[1], sigmas[1], image).view(1, 1, 1, -1).expand(c, 1, 1, -1)
    ky = _gaussian_1d(ks[0], sigmas[0], image).view(1, 1, -1, 1).expand(c, 1, -1, 1)
    px, py = ks[1] - 1, ks[0] - 1
    x = F.pad(image, (px // 2, px - px // 2, 0, 0), mode="reflect")
    x = F.conv2d(x, kx, groups=c)
    x = F.pad(x, (0, 0, py // 2, py - py // 2), mode="reflect")
    return F.conv2d(x, ky, groups=c)


def resize_kornia(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bicubic resize, align_corners=True, with kornia-0.7-style antialiasing.

    When shrinking, the image is first blurred by a Gaussian of sigma (factor-1)/2 and kernel
    int(max(4 sigma, 3)) rounded up to odd, as `kornia.geometry.resize(..., antialias=True)`.
    [B,C,H,W] -> [B,C,size[0],size[1]].
    """
    h, w = image.shape[-2:]
    if (h, w) == tuple(size):
        return image
    factors = (h / size[0], w / size[1])
    if max(factors) > 1:
        sig = (max((factors[0] - 1.0) / 2.0, 0.001), max((factors[1] - 1.0) / 2.0, 0.001))
        ks = [int(max(4.0 * s, 3)) for s in sig]
        ks = [k + 1 if k % 2 == 0 else k for k in ks]
        image = _blur(image, (ks[0], ks[1]), sig)
    return F.interpolate(image, size=tuple(size), mode="bicubic", align_corners=True)


def sapiens_input(image: torch.Tensor, resolution: int = 1024) -> torch.Tensor:
    """Sapiens preprocessing: [B,3,H,W] 0..1 -> pad square (1.0), resize, normalise -> [B,3,R,R]."""
    x = resize_kornia(pad_square(image, 1.0), (resolution, resolution))
    mean = torch.tensor(SAPIENS_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(SAPIENS_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


# ---------------------------------------------------------------------- the subject
def estimate_subject(image: np.ndarray) -> tuple[np.ndarray, tuple[float, float, float, float], np.ndarray]:
    """The seam to the body fitter: [H,W,3|4] uint8 -> (mask [H,W], head box xyxy, betas [10]).

    Until the template fitter is wired in: the mask is the alpha channel (or the whole image), the
    head box a square at the top of the mask as wide as 1/7 of the person's height, betas zero.
    """
    h, w = image.shape[:2]
    if image.ndim == 3 and image.shape[2] == 4:
        mask = (image[..., 3].astype(np.float32) / 255.0)
    else:
        mask = np.ones((h, w), np.float32)
    return mask, head_box_from_mask(mask), np.zeros(10, np.float32)


def head_box_from_mask(mask: np.ndarray) -> tuple[float, float, float, float]:
    """A head-sized square at the top centre of the mask's bounding box (xyxy pixels)."""
    ys, xs = np.nonzero(mask >= 0.5)
    if ys.size == 0:
        raise InputError("No person was found in the photo (the person mask is empty).")
    top, bottom = float(ys.min()), float(ys.max() + 1)
    side = (bottom - top) / 7.0
    row = xs[ys < top + side]
    cx = float(np.median(row)) + 0.5 if row.size else float(xs.mean())
    return cx - side / 2, top, cx + side / 2, top + side


def head_box_from_keypoints(keypoints: np.ndarray, min_conf: float = 0.3) -> tuple[float, float, float, float] | None:
    """Head box (xyxy) from [J,3] (u,v,conf) face keypoints (any set: nose, eyes, ears...), or None."""
    kp = np.asarray(keypoints, np.float32)
    good = kp[kp[:, 2] >= min_conf]
    if len(good) < 2:
        return None
    x0, y0 = good[:, :2].min(0)
    x1, y1 = good[:, :2].max(0)
    side = max(x1 - x0, y1 - y0) * 1.6  # landmarks span ~60% of the head
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2


# ---------------------------------------------------------------------- images
def _resize_np(img: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Area-style resize of a float32 [H,W,C] or [H,W] array in 0..1 (PIL box / bicubic)."""
    from PIL import Image
    chans = [img] if img.ndim == 2 else [img[..., c] for c in range(img.shape[2])]
    h, w = img.shape[:2]
    filt = Image.BOX if hw[0] <= h and hw[1] <= w else Image.BICUBIC
    out = [np.asarray(Image.fromarray(c.astype(np.float32), mode="F").resize((hw[1], hw[0]), filt))
           for c in chans]
    return out[0] if img.ndim == 2 else np.stack(out, axis=-1)


def _mask_bbox(mask: np.ndarray, scale: float = 1.1) -> tuple[int, int, int, int]:
    """Bounding box (l,t,r,b) of mask>=0.5 scaled about its centre and clipped (LHM's Bbox.scale)."""
    ys, xs = np.nonzero(mask >= 0.5)
    if ys.size == 0:
        raise InputError("No person was found in the photo (the person mask is empty).")
    l, t, r, b = xs.min(), ys.min(), xs.max(), ys.max()
    cx, cy, w, h = (l + r) / 2, (t + b) / 2, (r - l) * scale, (b - t) * scale
    h_img, w_img = mask.shape
    return (int(max(cx - w // 2, 0)), int(max(cy - h // 2, 0)),
            int(min(cx + w - w // 2, w_img)), int(min(cy + h - h // 2, h_img)))


def _pad_to_aspect(rgb: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pad white (mask 0) so that H:W = 5:3: sideways when too tall, on top when too wide."""
    h, w = mask.shape
    target_w = int(min(w * (h / w) / ASPECT, h))
    if target_w > w:
        off = (target_w - w) // 2
        pads = ((0, 0), (off, off))
    else:
        pads = ((max(int(w * ASPECT - h), 0), 0), (0, 0))
    return (np.pad(rgb, pads + ((0, 0),), constant_values=1.0), np.pad(mask, pads, constant_values=0.0))


def _center_crop_to_mask(rgb: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LHM's center_crop_according_to_mask: a centred 5:3 window that still holds the whole mask."""
    ys, xs = np.nonzero(mask > 0)
    if ys.size == 0:
        raise InputError("No person was found in the photo (the person mask is empty).")
    cy, cx = rgb.shape[0] // 2, rgb.shape[1] // 2
    half_w = max(abs(cx - xs.min()), abs(cx - xs.max()), 1)
    half_h = max(abs(cy - ys.min()), abs(cy - ys.max()), 1)
    hw_raw, hh_raw = half_w, half_h
    if half_h / half_w >= ASPECT:
        half_w = round(half_h / ASPECT)
    else:
        half_h = round(half_w * ASPECT)
    if half_h > cy:
        half_w, half_h = round(hh_raw / ASPECT), hh_raw
    if half_w > cx:
        half_h, half_w = round(hw_raw * ASPECT), hw_raw
    half_h, half_w = min(half_h, cy), min(half_w, cx)
    y0, x0 = cy - half_h, cx - half_w
    return rgb[y0:y0 + 2 * half_h, x0:x0 + 2 * half_w], mask[y0:y0 + 2 * half_h, x0:x0 + 2 * half_w]


def body_image(image: np.ndarray, mask: np.ndarray, out_hw: tuple[int, int], max_side: int = 896) -> torch.Tensor:
    """The body photo as LHM feeds it: [H,W,3|4] uint8 + [H,W] mask -> [1,3,out_h,out_w] 0..1.

    Crop to the mask box x1.1, pad to 5:3, white background, long side to 896, centre-crop to the
    mask at 5:3, resize to `out_hw` (multiples of 14, e.g. 1694x1022).
    """
    l, t, r, b = _mask_bbox(mask)
    rgb = image[t:b, l:r, :3].astype(np.float32) / 255.0
    m = (mask[t:b, l:r] > 0.5).astype(np.float32)
    rgb, m = _pad_to_aspect(rgb, m)
    rgb = rgb * m[..., None] + (1.0 - m[..., None])
    ratio = max_side / max(m.shape)
    hw = (max(round(m.shape[0] * ratio), 1), max(round(m.shape[1] * ratio), 1))
    rgb, m = _resize_np(rgb, hw), _resize_np(m, hw)
    rgb, m = _center_crop_to_mask(rgb, m)
    rgb = np.clip(_resize_np(np.ascontiguousarray(rgb), out_hw), 0.0, 1.0)
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float()


def expand_head_box(box: tuple[float, float, float, float], scale: float = HEAD_SCALE) -> tuple[float, float, float, float]:
    """Square of side scale*sqrt(w*h) around the box centre (LHM's expand_bbox)."""
    x0, y0, x1, y1 = box
    side = math.sqrt(max(x1 - x0, 1e-6) * max(y1 - y0, 1e-6)) * scale
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2


def head_image(image: np.ndarray, head_box: tuple[float, float, float, float], size: int = 448) -> torch.Tensor:
    """Head crop at 1.65x (white beyond the photo) -> [1,3,size,size] 0..1."""
    x0, y0, x1, y1 = (int(v) for v in expand_head_box(head_box))
    h, w = image.shape[:2]
    crop = np.ones((max(y1 - y0, 1), max(x1 - x0, 1), 3), np.float32)
    sy0, sx0, sy1, sx1 = max(y0, 0), max(x0, 0), min(y1, h), min(x1, w)
    if sy1 > sy0 and sx1 > sx0:
        crop[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = image[sy0:sy1, sx0:sx1, :3].astype(np.float32) / 255.0
    out = np.clip(_resize_np(crop, (size, size)), 0.0, 1.0)
    return torch.from_numpy(np.ascontiguousarray(out)).permute(2, 0, 1)[None].float()
