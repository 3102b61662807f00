"""The reconstruction interface every back-end (template, LHM) implements.

A back-end turns one photo into an `Avatar` on a worker thread. It reports progress as stage names
with fractions through a callback and checks a `CancelToken` between small steps (often enough
that a cancel takes effect within 1 s).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..avatar import Avatar
from ..errors import InputError
from ..jobs import CancelToken, Progress, StageProgress  # noqa: F401 - the back-ends' interface


MIN_SIDE = 64
MAX_PIXELS = 64_000_000  # decompression-bomb guard (e.g. 8000 x 8000)


@dataclass
class Diagnostics:
    """What a reconstruction found on the way, for display and debugging.

    Attributes:
        mask: [H,W] float32 person mask 0..1 in input-image pixels.
        keypoints: [J,3] (u, v, confidence) 2D keypoints in input-image pixels, or None.
        fitted_pose: [55,3] axis-angle pose of the body fitted to the photo, or None.
        camera: dict with the fitted camera (fx, fy, cx, cy, view) or None.
        timings: seconds per stage.
        notes: human-readable remarks (e.g. which segmentation was used).
    """

    mask: np.ndarray | None = None
    keypoints: np.ndarray | None = None
    fitted_pose: np.ndarray | None = None
    camera: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class ReconstructionResult:
    avatar: Avatar
    diagnostics: Diagnostics


@runtime_checkable
class Reconstructor(Protocol):
    """One photo -> one avatar."""

    name: str

    def run(self, image: np.ndarray, *, progress: Progress | None = None,
            cancel: CancelToken | None = None) -> ReconstructionResult:
        """Reconstruct from an [H,W,3] or [H,W,4] uint8 image (RGBA alpha = person mask)."""
        ...


def load_image(path: str | Path) -> np.ndarray:
    """Read a photo as [H,W,3] or [H,W,4] uint8, refusing corrupt, tiny or enormous images."""
    from ..io.images import read_picture
    path = Path(path)
    return check_image(read_picture(path, min_side=MIN_SIDE, max_pixels=MAX_PIXELS), path.name)


def check_image(image: np.ndarray, label: str = "The image") -> np.ndarray:
    """Validate an in-memory image; returns it as uint8 [H,W,3|4]."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise InputError(f"{label} has shape {arr.shape}; expected an RGB or RGBA picture.")
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating):
            if not np.all(np.isfinite(arr)):
                raise InputError(f"{label} contains NaN values.")
            arr = (np.clip(arr, 0, 1) * 255 + 0.5).astype(np.uint8)
        else:
            arr = np.clip(arr, 0, 255).astype(np.uint8)
    h, w = arr.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise InputError(f"{label} is only {w}x{h} pixels; at least {MIN_SIDE} pixels on each side are needed.")
    if h * w > MAX_PIXELS:
        raise InputError(f"{label} is {w}x{h} pixels; images over {MAX_PIXELS // 1_000_000} megapixels are refused.")
    return arr
