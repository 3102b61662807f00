"""Niantic `.spz` (versions 1–4 read, 2–4 written): our own codec, from the public format description
(nianticlabs/spz README and load-spz.cc) and cross-checked against Niantic's reference library.

Containers:
- v1–v3 ("legacy"): the whole file is one gzip stream holding a 16-byte header
  `magic u32 = "NGSP" | version u32 | numPoints u32 | shDegree u8 | fractionalBits u8 | flags u8 | 0`
  followed by the attribute sections below, back to back. The same bytes without gzip are read too.
- v4: a plain 32-byte header `magic | version | numPoints | shDegree u8 | fractionalBits u8 | flags u8 |
  numStreams u8 | tocByteOffset u32 | 12 zero bytes`, optional extension records up to
  tocByteOffset, a table of numStreams × (compressed u64, uncompressed u64), then one zstd stream per
  non-empty section. v4 needs the `zstandard` package.

Sections, in order (N = numPoints):
- positions 9N: x, y, z as 24-bit two's-complement fixed point with `fractionalBits` (v1: float16, 6N);
- alphas N: round(255·opacity);
- colours 3N: round(f_dc·0.15·255 + 127.5) ("wide" RGB: |f_dc| up to 3.33 survives);
- scales 3N: round((log scale + 10)·16);
- rotations: v2 3N — x, y, z of the unit quaternion with w ≥ 0, round(q·127.5 + 127.5);
  v3+ 4N — "smallest three": 2-bit index of the largest |component| in x,y,z,w order, then the other
  three as sign bit + 9-bit magnitude of |c|/√½ (first component in the highest bits);
- SH 3·dim·N (dim = 3, 8, 15, 24 for degree 1–4), per point coefficient-major with R,G,B inner:
  round(v·128) + 128, snapped to buckets of 8 (band 1) or 16 (bands 2+) and clamped to 0..255.

Coordinates: SPZ declares its storage space RUB (x right, y up, z back). Our scene space is Y-up
and right-handed, i.e. already RUB, and Niantic's own ply_to_spz converts without flipping, so we
store and read coordinates unchanged. The anti-aliasing flag and extension records are ignored;
SH degree 4 (v4) is truncated to degree 3 on read.
"""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import BackendUnavailableError, InputError
from ..gaussians import GaussianSet
from ..rotations import normalize_quats
from .atomic import write_bytes_atomically
from .safe import short_error

MAGIC = 0x5053474E  # "NGSP" little-endian
COLOR_SCALE = 0.15
DEFAULT_VERSION = 3  # gzip container: read by every SPZ loader of the last two years
WRITE_VERSIONS = (2, 3, 4)
LEGACY_HEADER = struct.Struct("<IIIBBBB")
NGSP_HEADER = struct.Struct("<IIIBBBBI12s")
SH_DIM = {0: 0, 1: 3, 2: 8, 3: 15, 4: 24}
MAX_BYTES = 4 << 30
_SQRT_HALF = np.float32(0.7071067811865476)


def _round(x: np.ndarray) -> np.ndarray:
    """std::round: halves away from zero (numpy rounds them to even)."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _to_u8(x: np.ndarray) -> np.ndarray:
    return np.clip(_round(x), 0, 255).astype(np.uint8)


def _zstd():
    try:
        import zstandard
    except ImportError as err:
        raise BackendUnavailableError("SPZ version 4 uses zstd compression; install the 'zstandard' package "
                                      "(pip install zstandard) or use SPZ version 3.") from err
    return zstandard


# ---------------------------------------------------------------------- write
def _sections(g: GaussianSet, version: int, sh1_bits: int, sh_rest_bits: int) -> tuple[int, list[bytes]]:
    n = len(g)
    max_abs = float(np.abs(g.means).max(initial=0.0))
    frac = 12
    while frac > 0 and max_abs * (1 << frac) >= (1 << 23) - 1:
        frac -= 1
    if max_abs * (1 << frac) >= (1 << 23) - 1:
        raise InputError(f"Positions reach {max_abs:.0f} m; SPZ stores at most ±8,388,607 m.")
    fixed = _round(g.means.astype(np.float64) * (1 << frac)).astype("<i4")
    positions = fixed.reshape(-1, 1).view(np.uint8)[:, :3].tobytes()
    alphas = _to_u8(g.opacities.astype(np.float64) * 255.0).tobytes()
    colors = _to_u8(g.sh[:, 0].astype(np.float64) * (COLOR_SCALE * 255.0) + 127.5).tobytes()
    scales = _to_u8((np.log(np.maximum(g.scales.astype(np.float64), 1e-30)) + 10.0) * 16.0).tobytes()
    q = normalize_quats(g.quats).astype(np.float64)[:, [1, 2, 3, 0]]  # xyzw, the order SPZ indexes
    if version >= 3:
        largest = np.argmax(np.abs(q), axis=1)
        rows = np.arange(n)
        negate = q[rows, largest] < 0
        comp = largest.astype(np.uint32)
        for i in range(4):
            use = largest != i
            neg = ((q[:, i] < 0) ^ negate).astype(np.uint32)
            mag = np.minimum(np.floor(511.0 * (np.abs(q[:, i]) / float(_SQRT_HALF)) + 0.5), 511).astype(np.uint32)
            comp = np.where(use, (comp << 10) | (neg << 9) | mag, comp)
        rotations = comp.astype("<u4").tobytes()
    else:
        q = q * np.where(q[:, 3:] < 0, -127.5, 127.5) + 127.5
        rotations = _to_u8(q[:, :3]).tobytes()
    dim = g.sh.shape[1] - 1
    sh = b""
    if dim:
        v = g.sh[:, 1:, :].astype(np.float64)  # [N, dim, 3]: coefficient-major, RGB inner
        qv = _round(v * 128.0) + 128.0
        bucket = np.where(np.arange(dim) < 3, 1 << (8 - sh1_bits), 1 << (8 - sh_rest_bits))[None, :, None]
        qv = np.floor((qv + bucket // 2) / bucket) * bucket
        sh = np.clip(qv, 0, 255).astype(np.uint8).tobytes()
    return frac, [positions, alphas, colors, scales, rotations, sh]


def encode_spz(g: GaussianSet, version: int = DEFAULT_VERSION, *, sh1_bits: int = 5, sh_rest_bits: int = 4) -> bytes:
    """The `.spz` bytes for `g` in container `version` (2, 3: gzip; 4: zstd)."""
    g.validate()
    if version not in WRITE_VERSIONS:
        raise InputError(f"SPZ version {version} cannot be written; choose 2, 3 or 4.")
    if not (1 <= sh1_bits <= 8 and 1 <= sh_rest_bits <= 8):
        raise InputError("SPZ SH quantisation bits must be between 1 and 8.")
    if len(g) == 0:
        raise InputError("SPZ cannot store an empty set of Gaussians.")
    frac, secs = _sections(g, version, sh1_bits, sh_rest_bits)
    degree = g.sh_degree
    if version < 4:
        head = LEGACY_HEADER.pack(MAGIC, version, len(g), degree, frac, 0, 0)
        co = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        return co.compress(head + b"".join(secs)) + co.flush()
    zstd = _zstd()
    cctx = zstd.ZstdCompressor(level=12)
    streams = [(cctx.compress(s), len(s)) for s in secs if s]
    head = NGSP_HEADER.pack(MAGIC, 4, len(g), degree, frac, 0, len(streams), NGSP_HEADER.size, bytes(12))
    toc = b"".join(struct.pack("<QQ", len(c), u) for c, u in streams)
    return head + toc + b"".join(c for c, _ in streams)


def write_spz(path: str | Path, g: GaussianSet, version: int = DEFAULT_VERSION, **options) -> Path:
    """Write `g` as `.spz`, atomically. Options: sh1_bits (5), sh_rest_bits (4)."""
    data = encode_spz(g, version, **options)
    return write_bytes_atomically(path, data)


# ---------------------------------------------------------------------- read
def _section_sizes(n: int, version: int, degree: int) -> list[int]:
    return [n * (6 if version == 1 else 9), n, 3 * n, 3 * n, n * (4 if version >= 3 else 3), 3 * n * SH_DIM[degree]]


def _check_header(source: str, version: int, n: int, degree: int, frac: int, versions: range) -> None:
    if version not in versions:
        raise InputError(f"{source}: SPZ version {version} is not supported (this reader knows {versions.start}–"
                         f"{versions.stop - 1}).")
    if n == 0 or n > 2**31 - 1:
        raise InputError(f"{source}: SPZ header claims {n} points.")
    if degree not in SH_DIM:
        raise InputError(f"{source}: SPZ SH degree {degree} is not 0–4.")
    if frac > 24:
        raise InputError(f"{source}: SPZ uses {frac} fractional bits; at most 24 fit a 24-bit coordinate.")


def _gunzip_prefix(data: bytes, source: str) -> tuple[tuple, bytes]:
    """Inflate a legacy file just far enough: header, then exactly the sections it announces."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        head = d.decompress(data, LEGACY_HEADER.size)
        if len(head) < LEGACY_HEADER.size:
            raise InputError(f"{source} is truncated: the SPZ header is incomplete.")
        magic, version, n, degree, frac, flags, _ = LEGACY_HEADER.unpack(head)
        if magic != MAGIC:
            raise InputError(f"{source} is gzip data but not an SPZ file (bad magic).")
        _check_header(source, version, n, degree, frac, range(1, 5))
        need = sum(_section_sizes(n, version, degree))
        # Real splat data deflates 1.2-4x; deflate can reach ~1032x only on constant data (a bomb), so
        # claims past 100x the file are refused before inflating.
        if need > len(data) * 100 + 4096:
            raise InputError(f"{source}: SPZ header claims {n:,} points, far more than the file can hold.")
        body = d.decompress(d.unconsumed_tail, need)
    except zlib.error as err:
        raise InputError(f"{source} is corrupt: gzip data cannot be inflated ({short_error(err)}).") from err
    if len(body) < need:
        raise InputError(f"{source} is truncated: {len(body):,} of {need:,} SPZ payload bytes present.")
    return (version, n, degree, frac), body


def _unpack_ngsp(data: bytes, source: str) -> tuple[tuple, bytes]:
    if len(data) < NGSP_HEADER.size:
        raise InputError(f"{source} is truncated: the SPZ v4 header is incomplete.")
    magic, version, n, degree, frac, flags, n_streams, toc_at, _ = NGSP_HEADER.unpack_from(data)
    _check_header(source, version, n, degree, frac, range(4, 5))
    if n > len(data) * 1024 // 9:
        raise InputError(f"{source}: SPZ header claims {n:,} points, far more than the file can hold.")
    sizes = [s for s in _section_sizes(n, version, degree) if s]
    if n_streams != len(sizes):
        raise InputError(f"{source}: SPZ v4 has {n_streams} streams; expected {len(sizes)}.")
    toc_end = toc_at + 16 * n_streams
    if toc_at < NGSP_HEADER.size or toc_end > len(data):
        raise InputError(f"{source} is truncated or corrupt: the SPZ v4 table of contents lies outside the file.")
    zstd = _zstd()
    dctx = zstd.ZstdDecompressor()
    offset, parts = toc_end, []
    for i, want in enumerate(sizes):
        csize, usize = struct.unpack_from("<QQ", data, toc_at + 16 * i)
        if usize != want:
            raise InputError(f"{source}: SPZ v4 stream {i} holds {usize} bytes; expected {want}.")
        if offset + csize > len(data):
            raise InputError(f"{source} is truncated: SPZ v4 stream {i} ends past the end of the file.")
        try:
            part = dctx.decompress(data[offset:offset + csize], max_output_size=want)
        except zstd.ZstdError as err:
            raise InputError(f"{source} is corrupt: SPZ v4 stream {i} cannot be decompressed "
                             f"({short_error(err)}).") from err
        if len(part) != want:
            raise InputError(f"{source} is corrupt: SPZ v4 stream {i} inflates to {len(part)} bytes, not {want}.")
        parts.append(part)
        offset += csize
    return (version, n, degree, frac), b"".join(parts)


def _raw_legacy(data: bytes, source: str) -> tuple[tuple, bytes]:
    """An uncompressed legacy file (16-byte header + sections, no gzip), as some tools write."""
    if len(data) < LEGACY_HEADER.size:
        raise InputError(f"{source} is truncated: the SPZ header is incomplete.")
    _, version, n, degree, frac, _, _ = LEGACY_HEADER.unpack_from(data)
    _check_header(source, version, n, degree, frac, range(1, 4))
    need = sum(_section_sizes(n, version, degree))
    body = data[LEGACY_HEADER.size:LEGACY_HEADER.size + need]
    if len(body) < need:
        raise InputError(f"{source} is truncated: {len(body):,} of {need:,} SPZ payload bytes present.")
    return (version, n, degree, frac), body


def decode_spz(data: bytes, source: str = ".spz data") -> GaussianSet:
    """Decode `.spz` bytes (any container version 1–4; also uncompressed legacy files)."""
    if len(data) >= 8 and struct.unpack_from("<I", data)[0] == MAGIC and struct.unpack_from("<I", data, 4)[0] < 4:
        (version, n, degree, frac), body = _raw_legacy(data, source)
    elif len(data) >= 4 and struct.unpack_from("<I", data)[0] == MAGIC:
        (version, n, degree, frac), body = _unpack_ngsp(data, source)
    elif data[:2] == b"\x1f\x8b":
        (version, n, degree, frac), body = _gunzip_prefix(data, source)
    else:
        raise InputError(f"{source} is not an SPZ file (neither gzip nor NGSP data).")
    sizes = _section_sizes(n, version, degree)
    offs = np.cumsum([0] + sizes)
    sec = [np.frombuffer(body, np.uint8, count=s, offset=int(o)) for s, o in zip(sizes, offs[:-1])]
    pos, alpha, col, scl, rot, shq = sec
    if version == 1:
        means = pos.view("<f2").reshape(n, 3).astype(np.float32)
    else:
        b = pos.reshape(n * 3, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = (v ^ 0x800000) - 0x800000  # sign-extend 24 bits
        means = (v.astype(np.float64) / float(1 << frac)).reshape(n, 3)
    opac = alpha.astype(np.float32) / 255.0
    sh0 = (col.reshape(n, 3).astype(np.float32) / 255.0 - 0.5) / COLOR_SCALE
    scales = np.exp(scl.reshape(n, 3).astype(np.float32) / 16.0 - 10.0)
    if version >= 3:
        comp = rot.view("<u4").astype(np.uint32)
        largest = (comp >> 30).astype(np.int64)
        xyzw = np.zeros((n, 4), np.float32)
        rest = comp.copy()
        for i in range(3, -1, -1):
            use = largest != i
            mag = (rest & 511).astype(np.float32)
            neg = (rest >> 9) & 1
            val = _SQRT_HALF * mag / np.float32(511.0)
            xyzw[:, i] = np.where(use, np.where(neg == 1, -val, val), 0.0)
            rest = np.where(use, rest >> 10, rest)
        ss = np.sum(xyzw * xyzw, axis=1)
        xyzw[np.arange(n), largest] = np.sqrt(np.maximum(0.0, 1.0 - ss))
    else:
        xyz = rot.reshape(n, 3).astype(np.float32) / 127.5 - 1.0
        xyzw = np.concatenate([xyz, np.sqrt(np.maximum(0.0, 1.0 - np.sum(xyz * xyz, 1)))[:, None]], 1)
    quats = normalize_quats(xyzw[:, [3, 0, 1, 2]])
    dim = SH_DIM[degree]
    keep = min(dim, 15)  # degree 4 -> 3
    sh = np.zeros((n, 1 + keep, 3), np.float32)
    sh[:, 0] = sh0
    if keep:
        sh[:, 1:] = (shq.reshape(n, dim, 3)[:, :keep].astype(np.float32) - 128.0) / 128.0
    if not np.all(np.isfinite(means)):
        raise InputError(f"{source} has non-finite positions; it is corrupt.")
    return GaussianSet(means, quats, scales, opac, sh)


def read_spz(path: str | Path) -> GaussianSet:
    """Read a Niantic `.spz` file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"File not found: {path}")
    if path.stat().st_size > MAX_BYTES:
        raise InputError(f"{path.name} is larger than 4 GiB; refusing to load it.")
    return decode_spz(path.read_bytes(), path.name)


def spz_version(data: bytes) -> int:
    """The container version of `.spz` bytes (reads only the header)."""
    if len(data) >= 8 and struct.unpack_from("<I", data)[0] == MAGIC:
        return int(struct.unpack_from("<I", data, 4)[0])
    if data[:2] == b"\x1f\x8b":
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, LEGACY_HEADER.size)
        except zlib.error as err:
            raise InputError(f"Not a readable SPZ file ({short_error(err)}).") from err
        if len(head) == LEGACY_HEADER.size and struct.unpack_from("<I", head)[0] == MAGIC:
            return int(struct.unpack_from("<I", head, 4)[0])
    raise InputError("Not an SPZ file.")

