"""GaussianSplats3D `.ksplat` (mkkellogg/GaussianSplats3D `SplatBuffer`, format 0.1): read only.

Layout, all little-endian:
- main header, 4096 bytes: u8 versionMajor (0), u8 versionMinor (≥ 1), u32 @4 maxSectionCount,
  u32 @8 sectionCount, u32 @12 maxSplatCount, u32 @16 splatCount, u16 @20 compressionLevel (0, 1, 2),
  f32 @24 sceneCenter ×3, f32 @36 / @40 min / max SH coefficient for level 2 (0 means ∓1.5).
- maxSectionCount section headers of 1024 bytes: u32 @0 splatCount, @4 maxSplatCount, @8 bucketSize,
  @12 bucketCount, f32 @16 bucketBlockSize, u16 @20 bucketStorageSizeBytes, u32 @24
  compressionScaleRange (0 means 1 at level 0, 32767 otherwise), @28 storageSizeBytes,
  @32 fullBucketCount, @36 partiallyFilledBucketCount, u16 @40 SH degree (0..2).
- then each section: u32 lengths of the partially filled buckets, bucketCount × f32 ×3 bucket
  centres (bucketStorageSizeBytes each), then maxSplatCount splats of:
    level 0: centre f32 ×3, scale f32 ×3 (linear), rotation f32 ×4 (w, x, y, z), RGBA u8 ×4, SH f32;
    level 1: centre u16 ×3 (bucket-relative), scale f16 ×3, rotation f16 ×4, RGBA u8 ×4, SH f16;
    level 2: as level 1 but SH u8 mapped linearly onto the header's [min, max].
  Level 1/2 centres decode as (u − range)·(blockSize/2)/range + bucket centre; the first
  fullBucketCount·bucketSize splats fill whole buckets, the rest follow the partial lengths.
  SH per splat: band 1 as R's 3, G's 3, B's 3 coefficients; band 2 as R's 5, G's 5, B's 5.
Colours are 8-bit (0.5 + C0·f_dc)·255 and 8-bit opacity; SH degree is at most 2.
"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..gaussians import GaussianSet, rgb_to_sh0
from .notes import finite_gaussians

HEADER_BYTES = 4096
SECTION_HEADER_BYTES = 1024
SH_RANGE_DEFAULT = 1.5
MAX_BYTES = 8 << 30
# (centre, scale, rotation, colour, bytes per SH component) for compression levels 0..2
_LEVELS = {0: (12, 12, 16, 4, 4), 1: (6, 6, 8, 4, 2), 2: (6, 6, 8, 4, 1)}
_SH_COMPONENTS = {0: 0, 1: 9, 2: 24}


def bytes_per_splat(level: int, sh_degree: int) -> int:
    c, s, r, col, shb = _LEVELS[level]
    return c + s + r + col + shb * _SH_COMPONENTS[sh_degree]


def _sh_to_coeff_major(raw: np.ndarray, degree: int) -> np.ndarray:
    """[M, 9|24] stored (band-wise channel-major) -> [M, K-1, 3]."""
    m = raw.shape[0]
    out = np.zeros((m, (degree + 1) ** 2 - 1, 3), np.float32)
    if degree >= 1:
        out[:, 0:3] = raw[:, 0:9].reshape(m, 3, 3).transpose(0, 2, 1)
    if degree >= 2:
        out[:, 3:8] = raw[:, 9:24].reshape(m, 3, 5).transpose(0, 2, 1)
    return out


def decode_ksplat(data: bytes, source: str = ".ksplat data") -> GaussianSet:
    """Decode `.ksplat` bytes."""
    if len(data) < HEADER_BYTES:
        raise InputError(f"{source} is truncated or not a .ksplat file: {len(data)} bytes, the header alone is 4096.")
    major, minor = data[0], data[1]
    if not (major == 0 and minor >= 1):
        raise InputError(f"{source}: .ksplat version {major}.{minor} is not supported (expected 0.1 or later 0.x).")
    max_sections, _, _, _ = struct.unpack_from("<IIII", data, 4)
    level = struct.unpack_from("<H", data, 20)[0]
    sh_min, sh_max = struct.unpack_from("<ff", data, 36)
    sh_min = sh_min or -SH_RANGE_DEFAULT
    sh_max = sh_max or SH_RANGE_DEFAULT
    if level not in _LEVELS:
        raise InputError(f"{source}: .ksplat compression level {level} is unknown (expected 0, 1 or 2).")
    if max_sections == 0 or HEADER_BYTES + max_sections * SECTION_HEADER_BYTES > len(data):
        raise InputError(f"{source} is truncated or corrupt: {max_sections} section headers do not fit the file.")
    c_b, s_b, r_b, col_b, sh_b = _LEVELS[level]
    base = HEADER_BYTES + max_sections * SECTION_HEADER_BYTES
    parts: list[GaussianSet] = []
    degree_all = 0
    for si in range(max_sections):
        h = HEADER_BYTES + si * SECTION_HEADER_BYTES
        (_, max_splats, bucket_size, bucket_count) = struct.unpack_from("<IIII", data, h)
        block_size = struct.unpack_from("<f", data, h + 16)[0]
        bucket_storage = struct.unpack_from("<H", data, h + 20)[0]
        scale_range = struct.unpack_from("<I", data, h + 24)[0] or (1 if level == 0 else 32767)
        full_buckets, partial_buckets = struct.unpack_from("<II", data, h + 32)
        degree = struct.unpack_from("<H", data, h + 40)[0]
        if degree not in _SH_COMPONENTS:
            raise InputError(f"{source}: section {si} has SH degree {degree}; .ksplat stores 0, 1 or 2.")
        degree_all = max(degree_all, degree)
        bps = bytes_per_splat(level, degree)
        meta = partial_buckets * 4
        buckets_bytes = bucket_storage * bucket_count + meta
        end = base + buckets_bytes + bps * max_splats
        if end > len(data):
            raise InputError(f"{source} is truncated: section {si} needs {end:,} bytes, the file has {len(data):,}.")
        n = max_splats
        if n == 0:
            base = end
            continue
        rec = np.frombuffer(data, np.uint8, count=bps * n, offset=base + buckets_bytes).reshape(n, bps)
        o = 0
        if level == 0:
            centers = rec[:, 0:12].copy().view("<f4").astype(np.float64)
        else:
            if bucket_count == 0 or bucket_storage < 12 or not np.isfinite(block_size) or block_size <= 0:
                raise InputError(f"{source}: section {si} has no valid buckets for its compressed centres.")
            lengths = np.frombuffer(data, "<u4", count=partial_buckets, offset=base).astype(np.int64)
            if full_buckets * bucket_size + int(lengths.sum()) != n or full_buckets + partial_buckets != bucket_count:
                raise InputError(f"{source}: section {si}'s buckets do not add up to its {n} splats.")
            bucket_rows = np.frombuffer(data, np.uint8, count=bucket_storage * bucket_count,
                                        offset=base + meta).reshape(bucket_count, bucket_storage)
            bucket_centres = bucket_rows[:, :12].copy().view("<f4").astype(np.float64)
            per_splat = np.concatenate([np.repeat(np.arange(full_buckets), bucket_size),
                                        np.repeat(np.arange(full_buckets, bucket_count), lengths)])
            u = rec[:, 0:6].copy().view("<u2").astype(np.float64)
            factor = (block_size / 2.0) / scale_range
            centers = (u - scale_range) * factor + bucket_centres[per_splat]
        o += c_b
        ftype = "<f4" if level == 0 else "<f2"
        scales = rec[:, o:o + s_b].copy().view(ftype).astype(np.float32)
        o += s_b
        quats = rec[:, o:o + r_b].copy().view(ftype).astype(np.float32)  # w, x, y, z
        o += r_b
        rgba = rec[:, o:o + col_b].astype(np.float32) / 255.0
        o += col_b
        k_raw = _SH_COMPONENTS[degree]
        if k_raw:
            raw = rec[:, o:o + sh_b * k_raw]
            if level == 0:
                shv = raw.copy().view("<f4").astype(np.float32)
            elif level == 1:
                shv = raw.copy().view("<f2").astype(np.float32)
            else:
                shv = raw.astype(np.float32) / 255.0 * (sh_max - sh_min) + sh_min
            rest = _sh_to_coeff_major(shv, degree)
        else:
            rest = np.zeros((n, 0, 3), np.float32)
        sh = np.concatenate([rgb_to_sh0(rgba[:, :3])[:, None], rest], axis=1)
        parts.append(finite_gaussians(f"{source} (section {si})", centers, quats, np.abs(scales), rgba[:, 3], sh))
        base = end
    if not parts:
        raise InputError(f"{source} holds no splats.")
    return GaussianSet.concat(parts)


def read_ksplat(path: str | Path) -> GaussianSet:
    """Read a GaussianSplats3D `.ksplat` file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"File not found: {path}")
    if path.stat().st_size > MAX_BYTES:
        raise InputError(f"{path.name} is larger than 8 GiB; refusing to load it.")
    return decode_ksplat(path.read_bytes(), path.name)
