"""antimatter15 `.splat`: a headerless array of 32-byte records, read and write.

Record (little-endian): position float32 ×3 | scale float32 ×3 (linear, not log) |
colour uint8 ×4 (R, G, B = 255·(0.5 + C0·f_dc), A = 255·opacity) | rotation uint8 ×4
(w, x, y, z of the unit quaternion, byte = q·128 + 128).

Only SH band 0 survives, clamped to displayable 0..1 colours; colour, opacity and rotation are
8-bit. antimatter15's converter also sorts splats by size·opacity; we keep the given order.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from ..gaussians import SH_C0, GaussianSet, rgb_to_sh0
from ..rotations import normalize_quats
from .atomic import write_bytes_atomically
from .notes import finite_gaussians

RECORD = np.dtype([("pos", "<f4", 3), ("scale", "<f4", 3), ("rgba", "u1", 4), ("rot", "u1", 4)])
assert RECORD.itemsize == 32
MAX_BYTES = 8 << 30


def encode_splat(g: GaussianSet) -> bytes:
    """The `.splat` bytes for `g` (SH bands above 0 are dropped)."""
    g.validate()
    rec = np.zeros(len(g), RECORD)
    rec["pos"] = g.means
    rec["scale"] = g.scales
    rgb = np.clip(g.sh[:, 0] * SH_C0 + 0.5, 0.0, 1.0)
    rec["rgba"][:, :3] = np.round(rgb * 255.0)
    rec["rgba"][:, 3] = np.round(np.clip(g.opacities, 0.0, 1.0) * 255.0)
    q = normalize_quats(g.quats)
    rec["rot"] = np.clip(np.round(q * 128.0 + 128.0), 0, 255)
    return rec.tobytes()


def write_splat(path: str | Path, g: GaussianSet) -> Path:
    """Write `g` as an antimatter15 `.splat` file, atomically."""
    data = encode_splat(g)
    return write_bytes_atomically(path, data)


def decode_splat(data: bytes, source: str = ".splat data") -> GaussianSet:
    """Decode `.splat` bytes."""
    if len(data) == 0:
        raise InputError(f"{source} is empty; it holds no Gaussians.")
    if len(data) % RECORD.itemsize:
        raise InputError(f"{source} is {len(data)} bytes, not a whole number of 32-byte .splat records "
                         "(truncated or not a .splat file).")
    rec = np.frombuffer(data, RECORD)
    scales = rec["scale"].astype(np.float32)
    if np.any(scales < 0):
        raise InputError(f"{source} has negative scales; it is corrupt or not a .splat file.")
    finite = np.isfinite(scales).all(1) & np.isfinite(rec["pos"]).all(1)
    if np.count_nonzero(~finite) * 2 > len(rec):  # a headerless format: mostly garbage is not a .splat file
        raise InputError(f"{source}: most records hold NaN or infinite values; it is corrupt or not a .splat file.")
    rgb = rec["rgba"][:, :3].astype(np.float32) / 255.0
    opac = rec["rgba"][:, 3].astype(np.float32) / 255.0
    quats = (rec["rot"].astype(np.float32) - 128.0) / 128.0
    return finite_gaussians(source, rec["pos"], quats, scales, opac, rgb_to_sh0(rgb)[:, None])


def read_splat(path: str | Path) -> GaussianSet:
    """Read an antimatter15 `.splat` file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"File not found: {path}")
    if path.stat().st_size > MAX_BYTES:
        raise InputError(f"{path.name} is larger than 8 GiB; refusing to load it.")
    return decode_splat(path.read_bytes(), path.name)
