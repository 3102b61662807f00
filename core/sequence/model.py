"""The sequence model: `GaussianSequence` (frames of Gaussians on a timeline, loaded lazily through a
byte-bounded LRU cache), the `FrameSource` protocol with the in-memory and sliced sources, and placement
(object space).

Frames are separate Gaussian sets: counts may differ, and index i in one frame is not index i in
the next (SPECS §5), so playback switches frames and never interpolates.
"""
from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, Protocol, Sequence

import numpy as np

from ..errors import InputError
from ..gaussians import GaussianSet
from ..io.safe import excerpt, loads_json


DEFAULT_FPS = 30.0
DEFAULT_CACHE_BYTES = 512 << 20
FRAME_EXTENSIONS = (".ply", ".spz", ".splat", ".ksplat")
Progress = Callable[[int, int], None]
def natural_key(name: str) -> list:
    """Sort key that orders 'frame2' before 'frame10'."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def gaussian_nbytes(g: GaussianSet) -> int:
    return int(sum(getattr(g, f).nbytes for f in ("means", "quats", "scales", "opacities", "sh")))


class FrameSource(Protocol):
    """Where frames come from. `load` must be safe to call from a worker thread."""

    num_frames: int

    def load(self, index: int) -> GaussianSet: ...

    def frame_name(self, index: int) -> str: ...

    def close(self) -> None: ...


class MemorySource:
    """Frames already in memory."""

    def __init__(self, frames: Sequence[GaussianSet]) -> None:
        self.frames = list(frames)
        self.num_frames = len(self.frames)

    def load(self, index: int) -> GaussianSet:
        return self.frames[index]

    def frame_name(self, index: int) -> str:
        return f"frame {index + 1}"

    def sizes(self) -> tuple[np.ndarray, int]:
        return (np.array([len(f) for f in self.frames], np.int64),
                max((f.sh.shape[1] for f in self.frames), default=1))

    def close(self) -> None:
        pass


class _SliceSource:
    """A view of another source: frames start, start+step, ... (shares the parent's files)."""

    def __init__(self, parent: FrameSource, indices: np.ndarray) -> None:
        self.parent, self.indices = parent, np.asarray(indices, np.int64)
        self.num_frames = len(self.indices)

    def load(self, index: int) -> GaussianSet:
        return self.parent.load(int(self.indices[index]))

    def frame_name(self, index: int) -> str:
        return self.parent.frame_name(int(self.indices[index]))

    def sizes(self) -> tuple[np.ndarray, int] | None:
        if not hasattr(self.parent, "sizes"):
            return None
        s = self.parent.sizes()
        return None if s is None else (s[0][self.indices], s[1])

    def close(self) -> None:
        pass


class GaussianSequence:
    """Frames of Gaussians at a fixed frame rate, loaded lazily through a byte-bounded LRU cache.

    `seq[i]` is frame i (0-based); `seq.frame_at(t)` is the frame shown at time t seconds.
    A placement transform (`transformed`, `normalise_object_space`) is applied as frames load.
    """

    def __init__(self, source: FrameSource, fps: float = DEFAULT_FPS, *, name: str = "sequence",
                 cache_bytes: int = DEFAULT_CACHE_BYTES, readahead: int = 2,
                 transform: tuple[np.ndarray, np.ndarray, float] | None = None, origin: str | None = None) -> None:
        if source.num_frames <= 0:
            raise InputError(f"Sequence '{name}' has no frames.")
        fps = float(fps)
        if not (math.isfinite(fps) and 0 < fps <= 1000):
            raise InputError(f"Sequence frame rate must be between 0 and 1000 fps, got {fps}.")
        self.source, self.fps, self.name = source, fps, name
        self.cache_bytes = int(cache_bytes)
        self.readahead = int(readahead)
        self.transform = transform
        self.origin = origin  # the file or folder it was opened from (absolute), so a project can reopen it
        self._cache: OrderedDict[int, GaussianSet] = OrderedDict()
        self._cache_size = 0
        self._lock = threading.RLock()
        self._pending: dict[int, Future] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._last = -2
        self.hits = self.misses = 0

    # ------------------------------------------------------------------ timeline
    @property
    def num_frames(self) -> int:
        return int(self.source.num_frames)

    def __len__(self) -> int:
        return self.num_frames

    @property
    def duration(self) -> float:
        """Seconds from the first frame to one past the last (as `Motion.duration`)."""
        return self.num_frames / self.fps

    def frame_at(self, t: float, mode: str = "previous") -> int:
        """Index of the frame shown at time t: the one whose interval [i/fps, (i+1)/fps) holds t
        ("previous", as a video player) or the closest frame time ("nearest"). Clamped to the clip."""
        if not math.isfinite(t):
            return 0
        x = t * self.fps
        i = math.floor(x + 1e-6) if mode == "previous" else math.floor(x + 0.5)
        if mode not in ("previous", "nearest"):
            raise InputError(f"frame_at mode must be 'previous' or 'nearest', not '{mode}'.")
        return int(min(max(i, 0), self.num_frames - 1))

    def time_of(self, index: int) -> float:
        return index / self.fps

    # ------------------------------------------------------------------ frames
    def __getitem__(self, index: int) -> GaussianSet:
        i = self._index(index)
        with self._lock:
            g = self._cache.get(i)
            if g is not None:
                self._cache.move_to_end(i)
                self.hits += 1
            fut = None if g is not None else self._pending.get(i)
        if g is None:
            self.misses += 1
            if fut is not None:
                try:
                    g = fut.result()
                except Exception:  # noqa: BLE001 - a failed read-ahead is retried in the foreground
                    g = None
            if g is None:
                g = self._load(i)
                self._store(i, g)
        self._schedule_readahead(i)
        return g

    def __iter__(self) -> Iterator[GaussianSet]:
        for i in range(self.num_frames):
            yield self[i]

    def _index(self, index: int) -> int:
        try:
            i = int(index)
        except (TypeError, ValueError):
            raise InputError(f"Frame index must be a whole number, not {index!r}.") from None
        if i < 0:
            i += self.num_frames
        if not 0 <= i < self.num_frames:
            raise IndexError(f"frame {index} is outside 0..{self.num_frames - 1}")
        return i

    def _load(self, i: int) -> GaussianSet:
        try:
            g = self.source.load(i)
        except InputError as err:
            raise InputError(f"Frame {i + 1} ({self.source.frame_name(i)}): {err}") from None
        if self.transform is not None:
            r, t, s = self.transform
            g = g.transformed(r, t, s)
        return g

    def _store(self, i: int, g: GaussianSet) -> None:
        with self._lock:
            if i in self._cache:
                return
            self._cache[i] = g
            self._cache_size += gaussian_nbytes(g)
            while self._cache_size > self.cache_bytes and len(self._cache) > 1:
                _, old = self._cache.popitem(last=False)
                self._cache_size -= gaussian_nbytes(old)

    def _schedule_readahead(self, i: int) -> None:
        sequential = i == self._last + 1 or i == self._last
        self._last = i
        if self.readahead <= 0 or not sequential:
            return
        for j in range(i + 1, min(i + 1 + self.readahead, self.num_frames)):
            self.prefetch(j)

    def prefetch(self, index: int) -> None:
        """Start loading frame `index` on the worker thread (no-op if cached or under way)."""
        i = self._index(index)
        with self._lock:
            if i in self._cache or i in self._pending:
                return
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="seq-readahead")
            fut = self._pool.submit(self._background_load, i)
            self._pending[i] = fut

    def _background_load(self, i: int) -> GaussianSet:
        try:
            g = self._load(i)
            self._store(i, g)
            return g
        finally:
            with self._lock:
                self._pending.pop(i, None)

    def cache_info(self) -> dict:
        with self._lock:
            return {"frames": len(self._cache), "bytes": self._cache_size, "budget": self.cache_bytes,
                    "hits": self.hits, "misses": self.misses}

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()
            self._cache_size = 0

    def close(self) -> None:
        """Stop read-ahead, drop the cache and release files."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        self.clear_cache()
        self.source.close()

    def __enter__(self) -> "GaussianSequence":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"GaussianSequence({self.name!r}, {self.num_frames} frames at {self.fps:g} fps)"

    # ------------------------------------------------------------------ views
    def _derived(self, source: FrameSource, fps: float | None = None, transform=None) -> "GaussianSequence":
        return GaussianSequence(source, self.fps if fps is None else fps, name=self.name, cache_bytes=self.cache_bytes,
                                readahead=self.readahead, origin=self.origin,
                                transform=transform if transform is not None else self.transform)

    def slice(self, start: int = 0, stop: int | None = None, step: int = 1) -> "GaussianSequence":
        """Frames start..stop-1 every `step` (fps divided by step); shares files, not the cache."""
        idx = np.arange(self.num_frames)[slice(start, stop, step)]
        if len(idx) == 0:
            raise InputError(f"The frame range {start}..{stop} (step {step}) selects no frames.")
        return self._derived(_SliceSource(self.source, idx), fps=self.fps / abs(step))

    def transformed(self, rotation: np.ndarray, translation: np.ndarray, scale: float = 1.0) -> "GaussianSequence":
        """The sequence with x -> scale·R·x + t applied to every frame (composed with any earlier one)."""
        r2 = np.asarray(rotation, np.float64).reshape(3, 3)
        t2 = np.asarray(translation, np.float64).reshape(3)
        if self.transform is not None:
            r1, t1, s1 = self.transform
            r2, t2, scale = r2 @ np.asarray(r1, np.float64), scale * (r2 @ np.asarray(t1, np.float64)) + t2, scale * s1
        return self._derived(self.source, transform=(r2.astype(np.float32), t2.astype(np.float32), float(scale)))

    def sizes(self) -> tuple[np.ndarray, int] | None:
        """(per-frame Gaussian counts, max SH coefficients per channel) when the source knows them cheaply."""
        fn = getattr(self.source, "sizes", None)
        return fn() if fn is not None else None


def _read_manifest(data: bytes, source: str) -> dict:
    """A checked manifest: fps a number, frames plain names that stay inside the folder or archive."""
    source = excerpt(source)
    manifest = loads_json(data, source)
    if not isinstance(manifest, dict):
        raise InputError(f"{source} must hold a JSON object such as {{\"fps\": 30}}.")
    fps = manifest.get("fps")
    if fps is not None and (isinstance(fps, bool) or not isinstance(fps, (int, float)) or not 0 < fps <= 1000):
        raise InputError(f"{source}: fps must be a number between 0 and 1000, not {excerpt(fps)}.")
    frames = manifest.get("frames")
    if frames is not None and (not isinstance(frames, list) or not all(isinstance(f, str) for f in frames)):
        raise InputError(f"{source}: frames must be a list of file names.")
    for f in frames or []:
        parts = f.replace("\\", "/").split("/")
        if not f or f.startswith("/") or any(p in ("", ".", "..") or len(p) > 255 for p in parts) or ":" in parts[0]:
            raise InputError(f"{source} names the frame {excerpt(f)}, which is outside its folder; "
                             "frames must be plain names inside it.")
    return manifest


def _up_rotation(up_axis: str) -> np.ndarray:
    if up_axis == "y":
        return np.eye(3)
    if up_axis == "z":  # (x, y, z) -> (x, z, -y): Z-up becomes Y-up
        return np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]], np.float64)
    if up_axis == "-y":  # OpenCV-style Y-down: rotate 180° about X
        return np.diag([1.0, -1.0, -1.0])
    raise InputError(f"up axis must be 'y', 'z' or '-y', not '{up_axis}'.")


def object_space_transform(frames: Iterable[GaussianSet], *, up_axis: str = "y", height: float | None = None,
                           ground: bool = True, center: bool = True, min_opacity: float = 0.05,
                           percentile: float = 0.5) -> tuple[np.ndarray, np.ndarray, float]:
    """(R, t, s) that puts frames Y-up, centred on the origin in X/Z, standing on y = 0 and, when `height`
    is given, `height` metres tall. Bounds are robust (opaque Gaussians, `percentile`..100-`percentile`)
    and taken over all given frames together, so the object does not jump between frames."""
    r = _up_rotation(up_axis)
    pts = []
    for g in frames:
        m = g.means[g.opacities >= min_opacity] if np.any(g.opacities >= min_opacity) else g.means
        if len(m) > 50_000:
            m = m[np.linspace(0, len(m) - 1, 50_000).astype(np.int64)]
        pts.append(m)
    allp = np.concatenate(pts) if pts else np.zeros((0, 3))
    if len(allp) == 0:
        raise InputError("The sequence has no Gaussians to place.")
    allp = allp.astype(np.float64) @ r.T
    lo = np.percentile(allp, percentile, axis=0)
    hi = np.percentile(allp, 100 - percentile, axis=0)
    s = 1.0
    if height is not None:
        if not (math.isfinite(height) and height > 0):
            raise InputError(f"Height must be a positive number of metres, not {height}.")
        extent = hi[1] - lo[1]
        if extent <= 1e-9:
            raise InputError("The object has no height to scale.")
        s = height / extent
    t = np.zeros(3)
    if center:
        t[[0, 2]] = -s * (lo[[0, 2]] + hi[[0, 2]]) / 2
    if ground:
        t[1] = -s * lo[1]
    return r.astype(np.float32), t.astype(np.float32), float(s)


def normalise_object_space(obj: GaussianSequence | GaussianSet, *, up_axis: str = "y", height: float | None = None,
                           ground: bool = True, center: bool = True, sample_frames: int = 16):
    """Place L4GM's normalised [-1, 1]³ object space sensibly in the scene: Y up, centred, on the ground,
    and `height` metres tall if asked (e.g. 1.7 for a person). Returns the same kind it was given
    (a sequence is transformed lazily, frame by frame)."""
    if isinstance(obj, GaussianSet):
        r, t, s = object_space_transform([obj], up_axis=up_axis, height=height, ground=ground, center=center)
        return obj.transformed(r, t, s)
    idx = np.unique(np.linspace(0, obj.num_frames - 1, min(sample_frames, obj.num_frames)).astype(np.int64))
    r, t, s = object_space_transform((obj[int(i)] for i in idx), up_axis=up_axis, height=height, ground=ground,
                                     center=center)
    return obj.transformed(r, t, s)
