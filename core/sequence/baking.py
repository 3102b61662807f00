"""Baking an avatar driven by a motion into a Gaussian sequence (posed on the CPU, frame by frame)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np

from ..errors import InputError
from ..gaussians import GaussianSet
from .model import GaussianSequence, MemorySource, Progress, gaussian_nbytes
from .sources import load_sequence
from .writers import _write_npz, write_frame_folder, _write_zip

if TYPE_CHECKING:
    from ..avatar import Avatar
    from ..body.model import BodyModel
    from ..motion.motion import Motion


def _frame_indices(num_frames: int, frames) -> tuple[np.ndarray, int]:
    if frames is None:
        return np.arange(num_frames), 1
    if isinstance(frames, slice):
        idx = np.arange(num_frames)[frames]
        return idx, abs(frames.step or 1)
    idx = np.asarray(list(frames), np.int64).reshape(-1)
    if idx.size and (idx.min() < -num_frames or idx.max() >= num_frames):
        raise InputError(f"Frame indices must lie in 0..{num_frames - 1}.")
    return idx % num_frames, 1


def bake_avatar(avatar: "Avatar", body: "BodyModel", motion: "Motion", frames=None, *, out: str | Path | None = None,
                format: str = "ply_folder", frame_format: str = "ply", batch: int = 8,
                progress: Progress | None = None, max_memory_bytes: int = 2 << 30) -> GaussianSequence:
    """Pose `avatar` on every selected motion frame and return the result as a sequence.

    frames: None (all), a slice (its step divides the fps) or a list of motion frame indices.
    out: None keeps frames in memory (refused above `max_memory_bytes`); a path streams them to disk
    in `format` ("ply_folder", "npz" or "zip") batch by batch and returns the sequence loaded from there.
    `progress(done, total)` may raise CancelledError to stop (nothing is left on disk then).
    """
    idx, step = _frame_indices(motion.num_frames, frames)
    if len(idx) == 0:
        raise InputError("No motion frames selected to bake.")
    fps = motion.fps / step
    full_pose = motion.full_pose()
    transl = motion.transl

    def posed() -> Iterator[GaussianSet]:
        for b in range(0, len(idx), max(1, batch)):
            sel = idx[b:b + max(1, batch)]
            yield from avatar.posed_batch(body, full_pose[sel], transl[sel])

    total = len(idx)
    if out is None:
        need = gaussian_nbytes(avatar.gaussians) * total
        if need > max_memory_bytes:
            raise InputError(f"Baking {total} frames needs about {need / 2**30:.1f} GiB in memory; "
                             "bake to a folder or npz instead.")
        result = []
        for i, g in enumerate(posed()):
            result.append(g)
            if progress:
                progress(i + 1, total)
        return GaussianSequence(MemorySource(result), fps, name=f"{avatar.name} baked")
    out = Path(out)
    if format == "ply_folder":
        write_frame_folder(out, posed(), total, fps, frame_format, progress)
    elif format == "zip":
        _write_zip(out, posed(), total, fps, frame_format, progress)
    elif format == "npz":
        counts = np.full(total, len(avatar.gaussians), np.int64)
        _write_npz(out, posed(), counts, avatar.gaussians.sh.shape[1], fps, progress)
    else:
        raise InputError(f"Unknown sequence format '{format}'; choose ply_folder, npz or zip.")
    return load_sequence(out)
