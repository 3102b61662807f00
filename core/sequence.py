"""`GaussianSequence`: a 4D Gaussian sequence (L4GM and friends, or a baked avatar) on the timeline.

Frames are separate Gaussian sets: counts may differ, and index i in one frame is not index i in
the next (SPECS §5), so playback switches frames and never interpolates. Frames load lazily
through a byte-bounded LRU cache (plus optional read-ahead on a worker thread), so a sequence of
1,000 × 65,536 Gaussians scrubs without holding it all in RAM.

Sources (`load_sequence`):
- a folder of per-frame splat files (`.ply`, `.compressed.ply`, `.spz`, `.splat`, `.ksplat`),
  natural-sorted, with an optional `manifest.json` `{"fps": 30, "frames": ["a.ply", ...]}`;
- an `.npz` holding L4GM's activated layout (T, N, 14) = [xyz | opacity | scale ×3 | quat wxyz |
  rgb] plus `fps` (SPECS §5). `np.load` cannot map an npz, so we find a stored (uncompressed)
  member's byte offset inside the zip and read frames straight from there, one frame per read;
  a deflate-compressed member is inflated once to a temporary `.npy` (deleted on close) and read
  the same way. Nothing is memory-mapped (portable, and resident memory stays the cache's);
- a `.npy` (T, N, 14) with an optional sidecar `NAME.json` `{"fps": ...}`, read the same way;
- a `.zip` of per-frame PLYs (Brush's format), read member by member;
- a single splat file (one frame).

Our own npz export (`export_sequence(..., "npz")`) is L4GM-compatible and always uncompressed:
`gaussians` float32 (T, N, 14) padded with zero-opacity rows, `counts` int32 (T,) valid rows per
frame, `fps` float64, `format` = "avatar_studio.sequence/1", and `sh_rest` float32 (T, N, K-1, 3)
when frames carry SH bands above 0.
"""
from __future__ import annotations

import json
import math
import re
import shutil
import struct
import tempfile
import threading
import weakref
import zipfile
import zlib
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Protocol, Sequence

import numpy as np

from .errors import InputError
from .gaussians import GaussianSet, rgb_to_sh0, sh0_to_rgb
from .io.atomic import atomic_dir, atomic_path, temp_prefix
from .io.safe import (MAX_JSON_BYTES, MAX_MEMBER_BYTES as MAX_INFLATED_BYTES, array_from_npy, excerpt, loads_json,
                      file_members, open_zip, read_bytes_limited, read_member, require_regular_file, short_error)

if TYPE_CHECKING:
    from .avatar import Avatar
    from .body.model import BodyModel
    from .motion.motion import Motion

DEFAULT_FPS = 30.0
DEFAULT_CACHE_BYTES = 512 << 20
NPZ_FORMAT_TAG = "avatar_studio.sequence/1"
L4GM_COLUMNS = 14
FRAME_EXTENSIONS = (".ply", ".spz", ".splat", ".ksplat")
Progress = Callable[[int, int], None]


def natural_key(name: str) -> list:
    """Sort key that orders 'frame2' before 'frame10'."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def gaussian_nbytes(g: GaussianSet) -> int:
    return int(sum(getattr(g, f).nbytes for f in ("means", "quats", "scales", "opacities", "sh")))


# ---------------------------------------------------------------------- L4GM layout
def gaussians_from_l4gm(rows: np.ndarray, sh_rest: np.ndarray | None = None, source: str = "L4GM frame") -> GaussianSet:
    """[N,14] activated rows (xyz, opacity, scale×3, quat wxyz, rgb) (+ [N,K-1,3] SH) -> GaussianSet."""
    rows = np.asarray(rows, np.float32)
    if rows.ndim != 2 or rows.shape[1] != L4GM_COLUMNS:
        raise InputError(f"{source} has shape {rows.shape}; expected (N, 14).")
    sh = rgb_to_sh0(rows[:, 11:14])[:, None, :]
    if sh_rest is not None and sh_rest.shape[1]:
        sh = np.concatenate([sh, np.asarray(sh_rest, np.float32)], axis=1)
    # Unit quaternions with w >= 0 (as normalize_quats, but in place: this runs once per played frame).
    q = np.ascontiguousarray(rows[:, 7:11])
    norm = np.sqrt(np.einsum("ij,ij->i", q, q))
    zero = ~(norm > 1e-12)  # also catches NaN, which validation reports below
    if zero.any():
        q[zero & np.isfinite(norm)] = (1.0, 0.0, 0.0, 0.0)
        norm[zero & np.isfinite(norm)] = 1.0
    q /= norm[:, None]
    q[q[:, 0] < 0] *= -1.0
    try:
        return GaussianSet(rows[:, 0:3], q, np.abs(rows[:, 4:7]), rows[:, 3], sh)
    except InputError as err:
        raise InputError(f"{source}: {err}") from None


def gaussians_to_l4gm(g: GaussianSet) -> np.ndarray:
    """GaussianSet -> [N,14] activated rows (SH bands above 0 are not part of this layout)."""
    out = np.empty((len(g), L4GM_COLUMNS), np.float32)
    out[:, 0:3] = g.means
    out[:, 3] = g.opacities
    out[:, 4:7] = g.scales
    out[:, 7:11] = g.quats
    out[:, 11:14] = sh0_to_rgb(g.sh[:, 0])
    return out


# ---------------------------------------------------------------------- frame sources
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


class FileListSource:
    """One splat file per frame."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = [Path(p) for p in paths]
        self.num_frames = len(self.paths)

    def load(self, index: int) -> GaussianSet:
        from .io.formats import read_gaussians
        return read_gaussians(self.paths[index])

    def frame_name(self, index: int) -> str:
        return self.paths[index].name

    def close(self) -> None:
        pass


class ZipSource:
    """One splat file per zip member (Brush's sequence format); each load reads one member."""

    def __init__(self, path: Path, members: Sequence[str]) -> None:
        self.path = Path(path)
        self.members = list(members)
        self.num_frames = len(self.members)
        self._zip = open_zip(self.path, excerpt(self.path.name))
        self._lock = threading.Lock()

    def load(self, index: int) -> GaussianSet:
        from .io.formats import decode_gaussians
        name = self.members[index]
        with self._lock:
            data = read_member(self._zip, name, excerpt(self.path.name))
        return decode_gaussians(data, name)

    def frame_name(self, index: int) -> str:
        return f"{self.path.name}:{self.members[index]}"

    def close(self) -> None:
        with self._lock:
            self._zip.close()


class RawFrames:
    """A C-order (T, N, ...) array stored at `offset` in a file, read one frame prefix at a time.

    Reads go through a plain file handle (seek + readinto under a lock), so nothing is mapped into
    the process: resident memory holds only the frames the cache keeps. Works on every platform.
    """

    def __init__(self, path: Path, offset: int, shape: tuple, dtype: np.dtype, name: str = "") -> None:
        self.path, self.offset, self.dtype = Path(path), int(offset), np.dtype(dtype)
        self.shape = tuple(int(s) for s in shape)
        if len(self.shape) == 2:
            self.shape = (1,) + self.shape
        self.ndim = len(self.shape)
        self.row_items = int(np.prod(self.shape[2:], dtype=np.int64))
        self.frame_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        need = self.offset + self.shape[0] * self.frame_bytes
        size = self.path.stat().st_size
        if size < need:
            raise InputError(f"{name or self.path.name} is truncated: its array needs {need:,} bytes, "
                             f"the file has {size:,}.")
        self._fh = open(self.path, "rb", buffering=0)
        self._lock = threading.Lock()

    def read(self, index: int, rows: int) -> np.ndarray:
        """The first `rows` rows of frame `index`, as a fresh array."""
        out = np.empty((rows,) + self.shape[2:], self.dtype)
        view = memoryview(out).cast("B")
        with self._lock:
            if self._fh is None:
                raise InputError(f"{self.path.name} was closed.")
            self._fh.seek(self.offset + index * self.frame_bytes)
            got = 0
            while got < len(view):
                n = self._fh.readinto(view[got:])
                if not n:
                    raise InputError(f"{self.path.name} ended early while reading frame {index + 1}.")
                got += n
        return out

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None

    def __del__(self) -> None:  # a sequence dropped without close() must not keep its file open
        fh = getattr(self, "_fh", None)
        if fh is not None:
            fh.close()


class ArraySource:
    """Frames as rows of a (T, N, 14) array read lazily from disk (or in memory); `counts` valid rows per frame."""

    def __init__(self, array: "np.ndarray | RawFrames", counts: np.ndarray | None = None,
                 sh_rest: "np.ndarray | RawFrames | None" = None, name: str = "array",
                 cleanup: Callable[[], None] | None = None) -> None:
        if isinstance(array, np.ndarray) and array.ndim == 2:
            array = array[None]
        if array.ndim != 3 or array.shape[2] != L4GM_COLUMNS:
            raise InputError(f"{name} holds an array of shape {array.shape}; a Gaussian sequence needs (T, N, 14).")
        if array.dtype.kind != "f":
            raise InputError(f"{name} holds {array.dtype} values; a Gaussian sequence needs floats.")
        t, n, _ = array.shape
        if t == 0:
            raise InputError(f"{name} holds no frames.")
        if counts is None:
            counts = np.full(t, n, np.int64)
        counts = np.asarray(counts).reshape(-1)
        if counts.shape != (t,) or counts.dtype.kind not in "iu" or np.any(counts < 0) or np.any(counts > n):
            raise InputError(f"{name}: frame counts must be {t} whole numbers between 0 and {n}.")
        if sh_rest is not None:
            if (sh_rest.ndim != 4 or sh_rest.shape[:2] != (t, n) or sh_rest.shape[3] != 3
                    or sh_rest.shape[2] not in (3, 8, 15)):
                raise InputError(f"{name}: sh_rest has shape {sh_rest.shape}; expected ({t}, {n}, 3|8|15, 3).")
        self.array, self.counts, self.sh_rest, self.name = array, counts.astype(np.int64), sh_rest, name
        self.num_frames = t
        self._finalizer = weakref.finalize(self, cleanup) if cleanup else None

    def load(self, index: int) -> GaussianSet:
        c = int(self.counts[index])
        try:
            rows = self._rows(self.array, index, c)
            rest = None if self.sh_rest is None else self._rows(self.sh_rest, index, c)
        except (OSError, ValueError) as err:
            raise InputError(f"{self.name}: frame {index + 1} cannot be read ({short_error(err)}).") from err
        return gaussians_from_l4gm(rows, rest, f"{self.name} frame {index + 1}")

    @staticmethod
    def _rows(array, index: int, rows: int) -> np.ndarray:
        if isinstance(array, RawFrames):
            return array.read(index, rows).astype(np.float32, copy=False)
        return np.array(array[index, :rows], np.float32)

    def frame_name(self, index: int) -> str:
        return f"{self.name} frame {index + 1}"

    def sizes(self) -> tuple[np.ndarray, int]:
        return self.counts.copy(), 1 if self.sh_rest is None else 1 + self.sh_rest.shape[2]

    def close(self) -> None:
        for a in (self.array, self.sh_rest):
            if isinstance(a, RawFrames):
                a.close()
        if self._finalizer is not None:
            self._finalizer()


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


# ---------------------------------------------------------------------- the sequence
class GaussianSequence:
    """Frames of Gaussians at a fixed frame rate, loaded lazily through a byte-bounded LRU cache.

    `seq[i]` is frame i (0-based); `seq.frame_at(t)` is the frame shown at time t seconds.
    A placement transform (`transformed`, `normalise_object_space`) is applied as frames load.
    """

    def __init__(self, source: FrameSource, fps: float = DEFAULT_FPS, *, name: str = "sequence",
                 cache_bytes: int = DEFAULT_CACHE_BYTES, readahead: int = 2,
                 transform: tuple[np.ndarray, np.ndarray, float] | None = None) -> None:
        if source.num_frames <= 0:
            raise InputError(f"Sequence '{name}' has no frames.")
        fps = float(fps)
        if not (math.isfinite(fps) and 0 < fps <= 1000):
            raise InputError(f"Sequence frame rate must be between 0 and 1000 fps, got {fps}.")
        self.source, self.fps, self.name = source, fps, name
        self.cache_bytes = int(cache_bytes)
        self.readahead = int(readahead)
        self.transform = transform
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
                                readahead=self.readahead, transform=transform if transform is not None else self.transform)

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


# ---------------------------------------------------------------------- loading
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


def _is_frame_name(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return not base.startswith(".") and base.lower().endswith(FRAME_EXTENSIONS)


def _load_folder(path: Path) -> tuple[FrameSource, float | None]:
    manifest_path = path / "manifest.json"
    manifest = _read_manifest(read_bytes_limited(manifest_path), manifest_path.name) if manifest_path.exists() else {}
    if manifest.get("frames"):
        files = [path / f for f in manifest["frames"]]
        missing = [excerpt(f.name, 40) for f in files if not f.is_file()]
        if missing:
            raise InputError(f"{excerpt(path.name)}/manifest.json lists frames that do not exist: "
                             f"{', '.join(missing[:5])}.")
    else:
        files = sorted((f for f in path.iterdir() if f.is_file() and _is_frame_name(f.name)),
                       key=lambda f: natural_key(f.name))
    if not files:
        raise InputError(f"The folder {path} holds no frame files ({', '.join(FRAME_EXTENSIONS)}).")
    return FileListSource(files), manifest.get("fps")


def _load_zip(path: Path) -> tuple[FrameSource, float | None]:
    label = excerpt(path.name)
    with open_zip(path, label) as zf:
        names = [i.filename for i in file_members(zf)]
        manifest_name = next((n for n in names if n.rsplit("/", 1)[-1] == "manifest.json"), None)
        manifest = (_read_manifest(read_member(zf, manifest_name, label, MAX_JSON_BYTES), manifest_name)
                    if manifest_name else {})
    if manifest.get("frames"):
        prefix = manifest_name.rsplit("/", 1)[0] + "/" if "/" in manifest_name else ""
        members = [prefix + f for f in manifest["frames"]]
        missing = [excerpt(m, 40) for m in members if m not in names]
        if missing:
            raise InputError(f"{label}: manifest.json lists missing members {', '.join(missing[:5])}.")
    else:
        members = sorted((n for n in names if _is_frame_name(n) and not n.startswith("__MACOSX/")), key=natural_key)
    if not members:
        raise InputError(f"{path.name} holds no frame files ({', '.join(FRAME_EXTENSIONS)}).")
    return ZipSource(path, members), manifest.get("fps")


def _npy_header(fh) -> tuple[tuple, bool, np.dtype]:
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(fh)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(fh)
    return np.lib.format._read_array_header(fh, version)  # (3, 0): no public reader


def _zip_member_offset(fh, info: zipfile.ZipInfo) -> int:
    """Byte offset of a stored member's data in the zip file."""
    fh.seek(info.header_offset)
    local = fh.read(30)
    if len(local) < 30 or local[:4] != b"PK\x03\x04":
        raise InputError("bad zip local header")
    name_len, extra_len = struct.unpack("<HH", local[26:30])
    return info.header_offset + 30 + name_len + extra_len


def _npz_members(path: Path) -> dict[str, zipfile.ZipInfo]:
    with open_zip(path, excerpt(path.name)) as zf:
        return {i.filename[:-4]: i for i in zf.infolist() if i.filename.endswith(".npy")}


def _lazy_array(path: Path, offset: int, shape: tuple, fortran: bool, dtype: np.dtype, name: str):
    """RawFrames for C-order float data (the normal case), else a read-only memory map."""
    if dtype.hasobject:
        raise InputError(f"{name} holds Python objects; refusing to load it.")
    if not fortran and len(shape) >= 2 and dtype.kind == "f":
        return RawFrames(path, offset, shape, dtype, name)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C")


def _open_npz_member(path: Path, info: zipfile.ZipInfo, tmpdir: list[str]):
    """A lazily read npz member: in place when stored, else inflated once to a temporary .npy."""
    name = f"{path.name}:{info.filename}"
    try:
        if info.compress_type == zipfile.ZIP_STORED:
            with open(path, "rb") as fh:
                start = _zip_member_offset(fh, info)
                fh.seek(start)
                shape, fortran, dtype = _npy_header(fh)
                offset = fh.tell()
            if offset + int(np.prod(shape)) * dtype.itemsize > start + info.file_size:
                raise InputError(f"{name} is shorter than its header says.")
            return _lazy_array(path, offset, shape, fortran, dtype, name)
        if not tmpdir:
            tmpdir.append(tempfile.mkdtemp(prefix=temp_prefix("avatar-studio-seq")))
        out = Path(tmpdir[0]) / f"member{len(list(Path(tmpdir[0]).iterdir()))}.npy"
        if info.file_size > MAX_INFLATED_BYTES:
            raise InputError(f"{name} would inflate to {info.file_size:,} bytes; over the "
                             f"{MAX_INFLATED_BYTES:,}-byte limit.")
        with zipfile.ZipFile(path) as zf, zf.open(info) as src, open(out, "wb") as dst:
            copied = 0
            while chunk := src.read(1 << 20):  # the stated size may lie: stop at the limit
                copied += len(chunk)
                if copied > max(info.file_size, 1 << 20):
                    raise InputError(f"{name} inflates past its stated size.")
                dst.write(chunk)
        with open(out, "rb") as fh:
            shape, fortran, dtype = _npy_header(fh)
            offset = fh.tell()
        return _lazy_array(out, offset, shape, fortran, dtype, name)
    except InputError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise InputError(f"{name} cannot be read ({short_error(err, 100)}).") from err
    except Exception as err:  # zlib.error and friends from a corrupt member
        raise InputError(f"{name} is corrupt ({short_error(err, 100)}).") from err


def _small_member(path: Path, info: zipfile.ZipInfo) -> np.ndarray:
    label = excerpt(path.name)
    with open_zip(path, label) as zf:
        return array_from_npy(read_member(zf, info, label, 1 << 24), f"{label}:{excerpt(info.filename)}", 1 << 24)


def _peek_shape(path: Path, info: zipfile.ZipInfo) -> tuple:
    try:
        with zipfile.ZipFile(path) as zf, zf.open(info) as fh:
            return tuple(_npy_header(fh)[0])
    except Exception:  # noqa: BLE001
        return ()


def _load_npz(path: Path) -> tuple[FrameSource, float | None]:
    members = _npz_members(path)
    preferred = ["gaussians", "splats", "gs", "data", "arr_0"]
    candidates = [k for k in preferred if k in members] + [k for k in members if k not in preferred]
    key = next((k for k in candidates if len(s := _peek_shape(path, members[k])) in (2, 3) and s[-1] == L4GM_COLUMNS),
               None)
    if key is None:
        raise InputError(f"{path.name} holds no (T, N, 14) Gaussian array (found {', '.join(members) or 'nothing'}); "
                         "it is not an L4GM sequence.")
    tmpdir: list[str] = []
    cleanup = lambda: [shutil.rmtree(d, ignore_errors=True) for d in tmpdir]  # noqa: E731
    try:
        array = _open_npz_member(path, members[key], tmpdir)
        counts = _small_member(path, members["counts"]) if "counts" in members else None
        sh_rest = _open_npz_member(path, members["sh_rest"], tmpdir) if "sh_rest" in members else None
        fps = None
        if "fps" in members:
            f = _small_member(path, members["fps"])
            if f.size != 1 or f.dtype.kind not in "iuf":
                raise InputError(f"{path.name}: 'fps' must be one number.")
            fps = float(f.reshape(-1)[0])
        source = ArraySource(array, counts, sh_rest, path.name, cleanup=cleanup)
    except BaseException:
        cleanup()
        raise
    return source, fps


def _load_npy(path: Path) -> tuple[FrameSource, float | None]:
    try:
        with open(path, "rb") as fh:
            shape, fortran, dtype = _npy_header(fh)
            offset = fh.tell()
        array = _lazy_array(path, offset, shape, fortran, dtype, path.name)
    except InputError:
        raise
    except Exception as err:  # noqa: BLE001 - numpy's header parser raises many types on damaged input
        raise InputError(f"{excerpt(path.name)} is not a readable .npy array ({short_error(err, 100)}).") from err
    side = path.with_suffix(".json")
    manifest = _read_manifest(read_bytes_limited(side), side.name) if side.exists() else {}
    return ArraySource(array, None, None, path.name), manifest.get("fps")


def load_sequence(path: str | Path, *, fps: float | None = None, cache_bytes: int = DEFAULT_CACHE_BYTES,
                  readahead: int = 2) -> GaussianSequence:
    """Open a Gaussian sequence (folder, .npz, .npy, .zip or one splat file); frames load on demand.

    `fps` overrides the stored frame rate (default when none is stored: 30).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"File not found: {excerpt(str(path), 200)}")
    lower = path.name.lower()
    if not path.is_dir():
        require_regular_file(path)
    if path.is_dir():
        source, stored = _load_folder(path)
    elif lower.endswith(".npz"):
        source, stored = _load_npz(path)
    elif lower.endswith(".npy"):
        source, stored = _load_npy(path)
    elif lower.endswith(".zip"):
        source, stored = _load_zip(path)
    elif _is_frame_name(path.name):
        source, stored = FileListSource([path]), None
    else:
        raise InputError(f"{path.name} is not a Gaussian sequence: use a folder of PLYs, an L4GM .npz/.npy or a "
                         ".zip of PLYs.")
    return GaussianSequence(source, fps or stored or DEFAULT_FPS, name=path.stem, cache_bytes=cache_bytes,
                            readahead=readahead)


# ---------------------------------------------------------------------- placement
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


# ---------------------------------------------------------------------- writing
def _frame_file_name(index: int, total: int, frame_format: str) -> str:
    width = max(4, len(str(total)))
    ext = ".compressed.ply" if frame_format == "compressed_ply" else "." + frame_format
    return f"frame{index + 1:0{width}d}{ext}"


def _write_manifest(folder: Path, fps: float, names: list[str]) -> None:
    (folder / "manifest.json").write_text(json.dumps(
        {"fps": fps, "frames": names, "generator": "avatar_studio"}, indent=1) + "\n", encoding="utf-8")


_OURS = re.compile(r"^(frame\d+(\.compressed)?\.(ply|spz|splat)|manifest\.json)$")


def _check_replaceable_folder(path: Path) -> None:
    """A folder export replaces its target whole: refuse a folder holding anything but frames."""
    if path.exists() and not path.is_dir():
        raise InputError(f"{path} exists and is not a folder.")
    if path.is_dir():
        foreign = [p.name for p in path.iterdir() if not _OURS.match(p.name)]
        if foreign:
            raise InputError(f"The folder {path} already holds other files ({', '.join(sorted(foreign)[:3])}"
                             f"{', ...' if len(foreign) > 3 else ''}); export into a new or empty folder.")


def _write_ply_folder(path: Path, frames: Iterable[GaussianSet], total: int, fps: float, frame_format: str,
                      progress: Progress | None) -> Path:
    from .io.formats import format_info, write_gaussians
    if not format_info(frame_format).can_write:
        raise InputError(f"Frames cannot be written as {frame_format}.")
    _check_replaceable_folder(path)
    names = []
    with atomic_dir(path) as tmp:
        for i, g in enumerate(frames):
            name = _frame_file_name(i, total, frame_format)
            write_gaussians(tmp / name, g, format=frame_format)
            names.append(name)
            if progress:
                progress(i + 1, total)
        _write_manifest(tmp, fps, names)
    return path


def _write_zip(path: Path, frames: Iterable[GaussianSet], total: int, fps: float, frame_format: str,
               progress: Progress | None) -> Path:
    from .io.formats import write_gaussians
    names = []
    with atomic_path(path, suffix=".zip") as tmp, tempfile.TemporaryDirectory(
            prefix=temp_prefix(path.name) + "work-", dir=path.parent) as work:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            for i, g in enumerate(frames):
                name = _frame_file_name(i, total, frame_format)
                one = write_gaussians(Path(work) / name, g, format=frame_format)
                zf.write(one, name)
                one.unlink()
                names.append(name)
                if progress:
                    progress(i + 1, total)
            zf.writestr("manifest.json", json.dumps({"fps": fps, "frames": names, "generator": "avatar_studio"}))
    return path


def _npy_member(zf: zipfile.ZipFile, name: str, dtype: np.dtype, shape: tuple):
    """Open a stored npz member for streaming writes, its data 64-byte aligned for memory maps."""
    info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    start = zf.fp.tell()
    fixed = 30 + len(info.filename) + 20  # local header + name + the zip64 extra zipfile adds
    header_len = len(_npy_header_bytes(dtype, shape))
    pad = (-(start + fixed + 4 + header_len)) % 64
    info.extra = struct.pack("<HH", 0xA5A5, pad) + bytes(pad)  # an ignorable extra field used as padding
    fh = zf.open(info, "w", force_zip64=True)
    fh.write(_npy_header_bytes(dtype, shape))
    return fh


def _npy_header_bytes(dtype: np.dtype, shape: tuple) -> bytes:
    import io
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                               "fortran_order": False, "shape": tuple(int(s) for s in shape)})
    return buf.getvalue()


def _write_npz(path: Path, frames: Iterable[GaussianSet], counts: np.ndarray, k: int, fps: float,
               progress: Progress | None) -> Path:
    """Stream frames into our uncompressed npz in one pass (SH rest goes through a temporary file)."""
    t, n = len(counts), int(counts.max(initial=0))
    pad_row = np.zeros(L4GM_COLUMNS, np.float32)
    pad_row[7] = 1.0  # identity quaternion, zero opacity and scale
    degree = int(round(math.sqrt(k))) - 1
    with atomic_path(path, suffix=".npz") as tmp, tempfile.TemporaryFile(dir=path.parent) as rest_file:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            for name, value in (("format", np.array(NPZ_FORMAT_TAG)), ("fps", np.array(float(fps))),
                                ("counts", counts.astype(np.int32))):
                with _npy_member(zf, name, value.dtype, value.shape) as fh:
                    fh.write(np.ascontiguousarray(value).tobytes())
            with _npy_member(zf, "gaussians", np.dtype("<f4"), (t, n, L4GM_COLUMNS)) as fh:
                seen = 0
                for i, g in enumerate(frames):
                    if i >= t or len(g) != counts[i]:
                        raise InputError(f"Frame {i + 1} has {len(g)} Gaussians, not the {counts[min(i, t - 1)]} "
                                         "expected; the sequence changed while it was written.")
                    block = np.empty((n, L4GM_COLUMNS), np.float32)
                    block[:len(g)] = gaussians_to_l4gm(g)
                    block[len(g):] = pad_row
                    fh.write(block.tobytes())
                    if k > 1:
                        rest = np.zeros((n, k - 1, 3), np.float32)
                        rest[:len(g)] = g.with_sh_degree(degree).sh[:, 1:]
                        rest_file.write(rest.tobytes())
                    seen += 1
                    if progress:
                        progress(i + 1, t)
                if seen != t:
                    raise InputError(f"Only {seen} of {t} frames could be written.")
            if k > 1:
                rest_file.seek(0)
                with _npy_member(zf, "sh_rest", np.dtype("<f4"), (t, n, k - 1, 3)) as fh:
                    shutil.copyfileobj(rest_file, fh, 1 << 20)
    return path


def export_sequence(seq: GaussianSequence, path: str | Path, format: str = "ply_folder", *,
                    frame_format: str = "ply", progress: Progress | None = None) -> Path:
    """Write every frame of `seq`, atomically.

    format: "ply_folder" (frame0001.ply, … plus manifest.json: SuperSplat's PLY-sequence playback reads
    it), "npz" (L4GM-compatible, uncompressed, see the module docstring) or "zip" (Brush-style zip
    of frames). `frame_format` picks the per-frame file format of a folder or zip ("ply",
    "compressed_ply", "spz", "splat").
    """
    path = Path(path)
    total = seq.num_frames
    if format == "ply_folder":
        return _write_ply_folder(path, (seq[i] for i in range(total)), total, seq.fps, frame_format, progress)
    if format == "zip":
        return _write_zip(path, (seq[i] for i in range(total)), total, seq.fps, frame_format, progress)
    if format == "npz":
        sizes = seq.sizes()
        if sizes is None:  # one pass to learn every frame's size (frames are not kept)
            counts = np.zeros(total, np.int64)
            k = 1
            for i in range(total):
                g = seq[i]
                counts[i], k = len(g), max(k, g.sh.shape[1])
        else:
            counts, k = sizes
        return _write_npz(path, (seq[i] for i in range(total)), counts, k, seq.fps, progress)
    raise InputError(f"Unknown sequence format '{format}'; choose ply_folder, npz or zip.")


# ---------------------------------------------------------------------- baking
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
        _write_ply_folder(out, posed(), total, fps, frame_format, progress)
    elif format == "zip":
        _write_zip(out, posed(), total, fps, frame_format, progress)
    elif format == "npz":
        counts = np.full(total, len(avatar.gaussians), np.int64)
        _write_npz(out, posed(), counts, avatar.gaussians.sh.shape[1], fps, progress)
    else:
        raise InputError(f"Unknown sequence format '{format}'; choose ply_folder, npz or zip.")
    return load_sequence(out)


__all__ = ["GaussianSequence", "load_sequence", "export_sequence", "bake_avatar", "normalise_object_space",
           "object_space_transform", "gaussians_from_l4gm", "gaussians_to_l4gm", "natural_key", "MemorySource",
           "FileListSource", "ZipSource", "ArraySource", "RawFrames", "DEFAULT_FPS", "DEFAULT_CACHE_BYTES"]
