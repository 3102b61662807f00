"""L4GM's layout: (T, N, 14) = [xyz | opacity | scale ×3 | quat wxyz | rgb] frames in an `.npz` or `.npy`
(SPECS §5), read frame by frame from the stored bytes (`np.load` cannot map an npz: we find a stored
member's byte offset inside the zip; a deflated member is inflated once to a temporary `.npy`, deleted
on close). Nothing is memory-mapped (portable, and resident memory stays the cache's).
"""
from __future__ import annotations

import shutil
import struct
import tempfile
import threading
import weakref
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import InputError
from ..gaussians import GaussianSet, rgb_to_sh0, sh0_to_rgb
from ..io.atomic import temp_prefix
from ..io.safe import (MAX_MEMBER_BYTES as MAX_INFLATED_BYTES, array_from_npy, excerpt, open_zip, read_bytes_limited,
                       read_member, short_error)
from .model import FrameSource, _read_manifest


NPZ_FORMAT_TAG = "avatar_studio.sequence/1"
L4GM_COLUMNS = 14
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
