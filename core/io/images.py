"""Reading photos and frame pictures: accepted formats only, size checked from the header before decoding,
EXIF orientation applied, 16-bit and float pictures scaled to 8 bits (or refused clearly)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from .safe import excerpt, require_regular_file, short_error

ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "TIFF")  # Pillow format names we mean to decode
DEFAULT_MAX_PIXELS = 64_000_000


def _to_uint8(im, label: str) -> np.ndarray:
    """[H,W,3|4] uint8 from a decoded Pillow image of any mode we accept."""
    mode = im.mode
    if mode.startswith("I;16") or mode == "I":
        arr = np.asarray(im).astype(np.float64)
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise InputError(f"{label} holds 32-bit integer values outside 0..65535; "
                             "save it as an 8- or 16-bit picture.")
        gray = (arr / 65535.0 * 255.0 + 0.5).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode == "F":
        arr = np.asarray(im, np.float64)
        if not np.all(np.isfinite(arr)):
            raise InputError(f"{label} holds NaN or infinite values.")
        lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
        if lo >= 0 and hi <= 1.0:
            arr = arr * 255.0
        elif lo < 0 or hi > 255:
            raise InputError(f"{label} is a floating-point picture with values {lo:g}..{hi:g}; "
                             "expected 0..1 or 0..255.")
        gray = (arr + 0.5).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    has_alpha = "A" in im.getbands() or (mode == "P" and "transparency" in im.info)
    return np.asarray(im.convert("RGBA" if has_alpha else "RGB"))


def read_picture(path: str | Path, *, min_side: int = 1, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """A picture file as [H,W,3] or [H,W,4] uint8 (alpha kept), upright per its EXIF orientation.

    The size is checked from the header before any pixel is decoded.
    """
    from PIL import Image, ImageOps
    path = require_regular_file(path, "Image")
    label = excerpt(path.name)
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with Image.open(path, formats=ACCEPTED_FORMATS) as im:
            w, h = im.size
            if w * h > max_pixels:
                raise InputError(f"{label} is {w}x{h} pixels; images over {max_pixels // 1_000_000} megapixels "
                                 "are refused.")
            if min(w, h) < min_side:
                raise InputError(f"{label} is only {w}x{h} pixels; at least {min_side} pixels on each side are needed.")
            im.load()
            upright = ImageOps.exif_transpose(im)
            arr = _to_uint8(upright if upright is not None else im, label)
    except InputError:
        raise
    except Image.UnidentifiedImageError:
        raise InputError(f"{label} is not a picture in an accepted format "
                         f"({', '.join(ACCEPTED_FORMATS)}).") from None
    except Image.DecompressionBombError as err:
        raise InputError(f"{label} is too large to open safely ({short_error(err, 100)}).") from err
    except Exception as err:  # noqa: BLE001 - Pillow's decoders raise many types on damaged files
        raise InputError(f"{label} is not a readable image ({short_error(err, 120)}).") from err
    return arr
