"""Writing sequences (`export_sequence`): a folder of frames plus manifest.json (`write_frame_folder`, the
one frame-folder writer), a Brush-style zip, or our L4GM-compatible npz (always uncompressed: `gaussians`
float32 (T, N, 14) padded with zero-opacity rows, `counts` int32 (T,), `fps` float64, `format` =
"avatar_studio.sequence/1", and `sh_rest` float32 (T, N, K-1, 3) when frames carry SH bands above 0).
"""
from __future__ import annotations

import json
import math
import re
import shutil
import struct
import tempfile
import zipfile
from pathlib import Path
from typing import Iterable

import numpy as np

from ..errors import InputError
from ..gaussians import GaussianSet
from ..io.atomic import atomic_dir, atomic_path, temp_prefix
from .l4gm import L4GM_COLUMNS, NPZ_FORMAT_TAG, gaussians_to_l4gm
from .model import GaussianSequence, Progress


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


def write_frame_folder(path: Path, frames: Iterable[GaussianSet], total: int, fps: float, frame_format: str = "ply",
                       progress: Progress | None = None) -> Path:
    """Write `total` frames as frame0001.ply, ... plus manifest.json (SuperSplat's PLY-sequence playback reads
    it) into folder `path`, atomically (the whole folder appears at once; an existing one is replaced only
    when it holds nothing but such frames). The one frame-folder writer: sequence exports and posed-PLY
    exports of an avatar or the scene use it."""
    from ..io.formats import format_info, write_gaussians
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
    from ..io.formats import write_gaussians
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
        return write_frame_folder(path, (seq[i] for i in range(total)), total, seq.fps, frame_format, progress)
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
