"""What a read noticed (splats dropped, values clamped, guesses made), told to whoever asked.

Codecs build their result with `finite_gaussians`, which drops splats holding NaN or infinite
values and notes the file and the count (or refuses when the reader asked for `strict`). The notes
are collected by `collecting(...)` around a read; outside one they go nowhere, so library callers
that do not care see nothing. `formats.read_gaussians(..., notes=list)` is the usual way in.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

import numpy as np

from ..errors import InputError
from ..gaussians import GaussianSet
from ..rotations import normalize_quats

_NOTES: ContextVar[list[str] | None] = ContextVar("splat_read_notes", default=None)
_STRICT: ContextVar[bool] = ContextVar("splat_read_strict", default=False)


@contextmanager
def collecting(notes: list[str] | None = None, strict: bool = False) -> Iterator[list[str]]:
    """Collect the notes of the reads inside the block into `notes` (a new list when None)."""
    out = [] if notes is None else notes
    t1, t2 = _NOTES.set(out), _STRICT.set(strict)
    try:
        yield out
    finally:
        _NOTES.reset(t1)
        _STRICT.reset(t2)


def note(text: str) -> None:
    """Record one note for the current read (dropped when nobody collects)."""
    sink = _NOTES.get()
    if sink is not None and text not in sink:
        sink.append(text)


def strict() -> bool:
    """True when the current read must refuse rather than repair."""
    return _STRICT.get()


def finite_gaussians(source: str, means: np.ndarray, quats: np.ndarray, scales: np.ndarray,
                     opacities: np.ndarray, sh: np.ndarray) -> GaussianSet:
    """A GaussianSet of the rows whose values are all finite; quaternions are normalised.

    Shapes: means [N,3], quats [N,4] wxyz, scales [N,3] linear, opacities [N], sh [N,K,3].
    """
    means, quats, scales = (np.asarray(a, np.float32) for a in (means, quats, scales))
    opacities, sh = np.asarray(opacities, np.float32).reshape(-1), np.asarray(sh, np.float32)
    n = means.shape[0]
    if n == 0:  # nothing to check (and [0, -1] reshapes are ambiguous)
        return GaussianSet(means.reshape(0, 3), quats.reshape(0, 4), scales.reshape(0, 3), opacities,
                           sh.reshape(0, *sh.shape[1:]) if sh.ndim == 3 else np.zeros((0, 1, 3), np.float32))
    ok = (np.isfinite(means).all(1) & np.isfinite(quats).all(1) & np.isfinite(scales).all(1)
          & np.isfinite(opacities) & np.isfinite(sh.reshape(n, -1)).all(1))
    bad = n - int(ok.sum())
    if bad:
        if strict():
            raise InputError(f"{source}: {bad:,} of {n:,} splats hold NaN or infinite values (--strict).")
        note(f"{source}: dropped {bad:,} of {n:,} splats holding NaN or infinite values")
        means, quats, scales, opacities, sh = means[ok], quats[ok], scales[ok], opacities[ok], sh[ok]
    return GaussianSet(means, normalize_quats(quats), scales, opacities, sh)
