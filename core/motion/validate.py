"""Small checks shared by the importers; every failure is an `InputError` naming the file and field."""
from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..io.safe import excerpt, short_error


def numeric(value, what: str, source: str) -> np.ndarray:
    """`value` as a float64 array, or InputError if it is not numbers."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError, RecursionError, MemoryError) as err:
        raise InputError(f"{source}: '{what}' is not an array of numbers ({short_error(err, 80)}).") from None
    if arr.dtype.kind not in "fiub":
        raise InputError(f"{source}: '{what}' is not an array of numbers.")
    return arr


def shaped(value, shape: tuple, what: str, source: str) -> np.ndarray:
    """`value` as float64 with `shape`; -1 may stand first (any number of frames) or alone (any length).

    Values of the right size are reshaped (e.g. 63 -> (21, 3), (T, 63) -> (T, 21, 3)).
    """
    arr = numeric(value, what, source)
    if -1 not in shape:
        if arr.shape != shape and arr.size == int(np.prod(shape)):
            arr = arr.reshape(shape)
    elif shape == (-1,):
        arr = arr.reshape(-1)
    elif arr.ndim >= 2 and arr.shape[1:] != shape[1:] and int(np.prod(arr.shape[1:])) == int(np.prod(shape[1:])):
        arr = arr.reshape((arr.shape[0],) + tuple(shape[1:]))
    if arr.ndim != len(shape) or any(s != -1 and a != s for a, s in zip(arr.shape, shape)):
        pretty = ", ".join("N" if s == -1 else str(s) for s in shape)
        raise InputError(f"{source}: '{what}' has shape {tuple(arr.shape)}; expected ({pretty}).")
    return finite(arr, what, source)


def finite(arr: np.ndarray, what: str, source: str) -> np.ndarray:
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{source}: '{what}' contains NaN or infinite values.")
    return arr


MIN_FPS, MAX_FPS = 0.1, 10000.0  # a stored rate outside is damage: 1e-45 fps made resampling ask for 1e46 frames


def positive_fps(fps, source: str) -> float:
    try:
        value = float(fps)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{source}: frame rate {excerpt(fps)} is not a number.") from None
    if not (np.isfinite(value) and MIN_FPS <= value <= MAX_FPS):
        raise InputError(f"{source}: frame rate must be between {MIN_FPS:g} and {MAX_FPS:g}, got {excerpt(fps)}.")
    return value
