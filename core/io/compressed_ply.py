"""PlayCanvas / SuperSplat compressed PLY: read and write (our own codec).

Layout (binary little-endian PLY, checked against playcanvas/splat-transform's reader and writer):

- `element chunk C` with 18 float properties per chunk of 256 splats:
  `min_x min_y min_z max_x max_y max_z`, `min_scale_x.. max_scale_z` (log scales, clamped to
  [-20, 20]) and `min_r min_g min_b max_r max_g max_b` (base colour as RGB = 0.5 + C0·f_dc).
  Older files have only the first 12; their colours are stored as plain 0..1 unorms.
- `element vertex N` with 4 uint32 per splat:
  `packed_position` (11/10/11-bit unorms inside the chunk's box), `packed_rotation` (2-bit index
  of the largest |component| of the wxyz quaternion, made positive, then the other three as
  10-bit unorms of c·√½+½), `packed_scale` (11/10/11 inside the chunk's log-scale box) and
  `packed_color` (8-bit r, g, b inside the chunk's colour box, then 8-bit opacity 0..1).
- optional `element sh N` with 9, 24 or 45 `uchar f_rest_i` (INRIA channel-major order):
  q = clamp(trunc((v/8 + ½)·256), 0, 255); decoded as ((q+½)/256 − ½)·8 (q=0 → −4, q=255 → +4).

Splat k lives in chunk k // 256. The writer sorts splats in Morton order first (as PlayCanvas and
gsplat do) so each chunk's boxes are tight; `compressed_ply_order(g)` tells the order it uses.
"""
from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..gaussians import SH_C0, GaussianSet, sh_degree_from_count
from ..rotations import normalize_quats
from .atomic import write_bytes_atomically
from .safe import short_error

CHUNK_SIZE = 256
CHUNK_PROPS = ["min_x", "min_y", "min_z", "max_x", "max_y", "max_z",
               "min_scale_x", "min_scale_y", "min_scale_z", "max_scale_x", "max_scale_y", "max_scale_z",
               "min_r", "min_g", "min_b", "max_r", "max_g", "max_b"]
VERTEX_PROPS = ["packed_position", "packed_rotation", "packed_scale", "packed_color"]
_SQRT_HALF = math.sqrt(2.0) * 0.5
MAX_BYTES = 8 << 30


# ---------------------------------------------------------------------- bit packing helpers
def _pack_unorm(v: np.ndarray, bits: int) -> np.ndarray:
    t = (1 << bits) - 1
    return np.clip(np.floor(v * t + 0.5), 0, t).astype(np.uint32)


def _unpack_unorm(v: np.ndarray, bits: int) -> np.ndarray:
    t = (1 << bits) - 1
    return (v & t).astype(np.float32) / np.float32(t)


def _pack_111011(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    return (_pack_unorm(x, 11) << 21) | (_pack_unorm(y, 10) << 11) | _pack_unorm(z, 11)


def _unpack_111011(v: np.ndarray) -> np.ndarray:
    return np.stack([_unpack_unorm(v >> 21, 11), _unpack_unorm(v >> 11, 10), _unpack_unorm(v, 11)], -1)


def _normalise(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """(x - lo) / (hi - lo) per chunk, 0 below lo, 1 above hi, 0 for a degenerate (< 1e-5) range."""
    rng = hi - lo
    out = np.where(rng < 1e-5, 0.0, (x - lo) / np.where(rng < 1e-5, 1.0, rng))
    out = np.where(x <= lo, 0.0, out)
    return np.where(x >= hi, 1.0, out)


def _pack_rotation(q: np.ndarray) -> np.ndarray:
    """[M,4] wxyz -> uint32 (2-bit largest index, 3 × 10-bit)."""
    q = q.astype(np.float64)
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    largest = np.argmax(np.abs(q), axis=1)
    rows = np.arange(q.shape[0])
    q = np.where(q[rows, largest][:, None] < 0, -q, q)
    others = np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])[largest]
    comps = q[rows[:, None], others] * _SQRT_HALF + 0.5
    packed = _pack_unorm(comps, 10)
    return ((largest.astype(np.uint32) << 30) | (packed[:, 0] << 20) | (packed[:, 1] << 10)
            | packed[:, 2]).astype(np.uint32)


def _unpack_rotation(v: np.ndarray) -> np.ndarray:
    """uint32 -> [N,4] wxyz."""
    norm = 1.0 / _SQRT_HALF
    abc = np.stack([(_unpack_unorm(v >> 20, 10) - 0.5) * norm, (_unpack_unorm(v >> 10, 10) - 0.5) * norm,
                    (_unpack_unorm(v, 10) - 0.5) * norm], -1)
    m = np.sqrt(np.maximum(0.0, 1.0 - np.sum(abc * abc, axis=1)))
    which = (v >> 30).astype(np.int64)
    out = np.empty((v.shape[0], 4), np.float32)
    slots = np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])[which]
    rows = np.arange(v.shape[0])
    out[rows, which] = m
    out[rows[:, None], slots] = abc
    return out


def _quantise_sh(v: np.ndarray) -> np.ndarray:
    return np.clip(np.trunc((v / 8.0 + 0.5) * 256.0), 0, 255).astype(np.uint8)


def _dequantise_sh(q: np.ndarray) -> np.ndarray:
    n = (q.astype(np.float32) + 0.5) / 256.0
    n = np.where(q == 0, 0.0, np.where(q == 255, 1.0, n))
    return ((n - 0.5) * 8.0).astype(np.float32)


def morton_order(means: np.ndarray) -> np.ndarray:
    """Indices sorting points along a 3D Morton (Z-order) curve on a 1024³ grid over their bounds."""
    if len(means) == 0:
        return np.zeros(0, np.int64)
    lo, hi = means.min(0), means.max(0)
    ext = np.where(hi - lo > 0, hi - lo, 1.0)
    cell = np.clip(np.floor((means - lo) / ext * 1024), 0, 1023).astype(np.uint64)

    def spread(x: np.ndarray) -> np.ndarray:
        x = x & np.uint64(0x3FF)
        x = (x | (x << np.uint64(16))) & np.uint64(0xFF0000FF)
        x = (x | (x << np.uint64(8))) & np.uint64(0x0300F00F)
        x = (x | (x << np.uint64(4))) & np.uint64(0x030C30C3)
        x = (x | (x << np.uint64(2))) & np.uint64(0x09249249)
        return x

    code = (spread(cell[:, 2]) << np.uint64(2)) | (spread(cell[:, 1]) << np.uint64(1)) | spread(cell[:, 0])
    return np.argsort(code, kind="stable")


def compressed_ply_order(g: GaussianSet) -> np.ndarray:
    """The order `write_compressed_ply(..., sort=True)` stores `g` in (reading back gives g.subset(order))."""
    return morton_order(g.means)


# ---------------------------------------------------------------------- write
def encode_compressed_ply(g: GaussianSet, *, sort: bool = True) -> bytes:
    """The compressed PLY bytes for `g` (SH degree 0..3 kept, quantised)."""
    g.validate()
    if sort:
        g = g.subset(compressed_ply_order(g))
    n, k = len(g), g.sh.shape[1]
    n_chunks = (n + CHUNK_SIZE - 1) // CHUNK_SIZE
    rest = g.sh[:, 1:].transpose(0, 2, 1).reshape(n, -1)  # INRIA channel-major
    header = ["ply", "format binary_little_endian 1.0", "comment Generated by Avatar Studio",
              f"element chunk {n_chunks}", *[f"property float {p}" for p in CHUNK_PROPS],
              f"element vertex {n}", *[f"property uint {p}" for p in VERTEX_PROPS]]
    if k > 1:
        header += [f"element sh {n}", *[f"property uchar f_rest_{i}" for i in range(rest.shape[1])]]
    header.append("end_header\n")
    buf = io.BytesIO()
    buf.write("\n".join(header).encode("ascii"))
    if n == 0:
        return buf.getvalue()

    # Pad the last chunk by repeating the last splat (it changes no box), then work per chunk.
    pad = n_chunks * CHUNK_SIZE - n
    def chunked(a: np.ndarray) -> np.ndarray:
        a = np.concatenate([a, np.repeat(a[-1:], pad, axis=0)]) if pad else a
        return a.reshape((n_chunks, CHUNK_SIZE) + a.shape[1:]).astype(np.float64)

    pos = chunked(g.means)
    logs = chunked(np.log(np.maximum(g.scales, 1e-30)))
    rgb = chunked(g.sh[:, 0] * SH_C0 + 0.5)
    p_lo, p_hi = pos.min(1, keepdims=True), pos.max(1, keepdims=True)
    s_lo = np.clip(logs.min(1, keepdims=True), -20, 20)
    s_hi = np.clip(logs.max(1, keepdims=True), -20, 20)
    c_lo, c_hi = rgb.min(1, keepdims=True), rgb.max(1, keepdims=True)
    pn = _normalise(pos, p_lo, p_hi).reshape(-1, 3)[:n]
    sn = _normalise(logs, s_lo, s_hi).reshape(-1, 3)[:n]
    cn = _normalise(rgb, c_lo, c_hi).reshape(-1, 3)[:n]

    chunk_data = np.concatenate([p_lo, p_hi, s_lo, s_hi, c_lo, c_hi], axis=2).reshape(n_chunks, 18)
    packed = np.empty((n, 4), np.uint32)
    packed[:, 0] = _pack_111011(pn[:, 0], pn[:, 1], pn[:, 2])
    packed[:, 1] = _pack_rotation(g.quats)
    packed[:, 2] = _pack_111011(sn[:, 0], sn[:, 1], sn[:, 2])
    packed[:, 3] = ((_pack_unorm(cn[:, 0], 8) << 24) | (_pack_unorm(cn[:, 1], 8) << 16)
                    | (_pack_unorm(cn[:, 2], 8) << 8) | _pack_unorm(g.opacities.astype(np.float64), 8))
    buf.write(chunk_data.astype("<f4").tobytes())
    buf.write(packed.astype("<u4").tobytes())
    if k > 1:
        buf.write(_quantise_sh(rest.astype(np.float64)).tobytes())
    return buf.getvalue()


def write_compressed_ply(path: str | Path, g: GaussianSet, *, sort: bool = True) -> Path:
    """Write `g` as a SuperSplat compressed PLY, atomically."""
    data = encode_compressed_ply(g, sort=sort)
    return write_bytes_atomically(path, data)


# ---------------------------------------------------------------------- read
def is_compressed_ply_header(element_names: list[str]) -> bool:
    """True when a PLY header's elements mark the compressed layout (it has a `chunk` element)."""
    return "chunk" in element_names


def _col(element, name: str, source: str, kind: str) -> np.ndarray:
    try:
        arr = np.asarray(element[name])
    except (ValueError, KeyError) as err:
        raise InputError(f"{source}: compressed PLY property '{name}' is missing or unreadable.") from err
    if kind == "u" and arr.dtype.kind not in "u":
        raise InputError(f"{source}: compressed PLY property '{name}' must be unsigned integers, not {arr.dtype}.")
    return arr


def decode_compressed_ply(data: bytes | Path | str, source: str = "compressed PLY") -> GaussianSet:
    """Decode compressed PLY bytes (or a file) into Gaussians."""
    from plyfile import PlyData
    try:
        if isinstance(data, (bytes, bytearray, memoryview)):
            ply = PlyData.read(io.BytesIO(bytes(data)))
        else:
            ply = PlyData.read(str(data))
    except Exception as err:  # plyfile raises many types on corrupt or truncated input
        raise InputError(f"{source} is not a readable PLY file ({short_error(err)}).") from err
    names = [e.name for e in ply.elements]
    if "chunk" not in names or "vertex" not in names:
        raise InputError(f"{source} is not a compressed PLY: it needs 'chunk' and 'vertex' elements.")
    chunk, vertex = ply["chunk"], ply["vertex"]
    n = vertex.count
    n_chunks = (n + CHUNK_SIZE - 1) // CHUNK_SIZE
    if chunk.count != n_chunks:
        raise InputError(f"{source}: {chunk.count} chunks for {n} splats; expected {n_chunks} (256 per chunk).")
    props = {p.name for p in chunk.properties}
    base = CHUNK_PROPS[:12]
    if not set(base) <= props:
        raise InputError(f"{source}: the chunk element lacks {sorted(set(base) - props)}.")
    has_color = set(CHUNK_PROPS[12:]) <= props
    cd = {p: np.asarray(_col(chunk, p, source, "f"), np.float64) for p in (CHUNK_PROPS if has_color else base)}
    if not all(np.all(np.isfinite(v)) for v in cd.values()):
        raise InputError(f"{source}: chunk bounds contain NaN or infinite values.")
    pp, pr, ps, pc = (_col(vertex, p, source, "u").astype(np.uint32) for p in VERTEX_PROPS)
    ci = np.arange(n) // CHUNK_SIZE

    def lerp(prefix_lo: str, prefix_hi: str, axes: tuple[str, ...], t: np.ndarray) -> np.ndarray:
        lo = np.stack([cd[f"{prefix_lo}{a}"][ci] for a in axes], 1)
        hi = np.stack([cd[f"{prefix_hi}{a}"][ci] for a in axes], 1)
        return lo * (1 - t) + hi * t

    means = lerp("min_", "max_", ("x", "y", "z"), _unpack_111011(pp))
    log_scales = lerp("min_scale_", "max_scale_", ("x", "y", "z"), _unpack_111011(ps))
    c = np.stack([_unpack_unorm(pc >> 24, 8), _unpack_unorm(pc >> 16, 8), _unpack_unorm(pc >> 8, 8)], 1)
    rgb = lerp("min_", "max_", ("r", "g", "b"), c) if has_color else c
    opac = _unpack_unorm(pc, 8)
    quats = _unpack_rotation(pr)
    k = 1
    rest = None
    if "sh" in names:
        sh_el = ply["sh"]
        rest_names = [p.name for p in sh_el.properties]
        if len(rest_names) not in (0, 9, 24, 45) or sh_el.count != n:
            raise InputError(f"{source}: the sh element has {len(rest_names)} properties for {sh_el.count} splats; "
                             f"expected 9, 24 or 45 for {n}.")
        if rest_names:  # gsplat writes an empty `sh` element for degree 0
            q = np.stack([_col(sh_el, f"f_rest_{i}", source, "u") for i in range(len(rest_names))], 1)
            k = 1 + len(rest_names) // 3
            sh_degree_from_count(k)
            rest = _dequantise_sh(q).reshape(n, 3, k - 1).transpose(0, 2, 1)
    sh = np.zeros((n, k, 3), np.float32)
    sh[:, 0] = (rgb - 0.5) / SH_C0
    if rest is not None:
        sh[:, 1:] = rest
    return GaussianSet(means, normalize_quats(quats), np.exp(np.clip(log_scales, -30, 30)), opac, sh)


def read_compressed_ply(path: str | Path) -> GaussianSet:
    """Read a SuperSplat compressed PLY file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"File not found: {path}")
    if path.stat().st_size > MAX_BYTES:
        raise InputError(f"{path.name} is larger than 8 GiB; refusing to load it.")
    return decode_compressed_ply(path, path.name)
