"""A `.ksplat` writer for tests: the exact layout of GaussianSplats3D 0.4.x `SplatBuffer` (format 0.1), as
its PLY -> ksplat converter writes it (see tests/core/io/test_formats_ksplat.py for what each level keeps)."""
from __future__ import annotations

import struct

import numpy as np

from avatar_studio.core.gaussians import SH_C0, GaussianSet
from avatar_studio.core.io.ksplat import bytes_per_splat


def _buckets(means: np.ndarray, block: float, bucket_size: int) -> list[tuple[list[int], np.ndarray, bool]]:
    """GaussianSplats3D's bucketing: [(splat indices, centre, full?)], full buckets first."""
    lo, hi = means.min(0), means.max(0)
    dims = hi - lo
    yb, zb = int(np.ceil(dims[1] / block)), int(np.ceil(dims[2] / block))
    full, partial = [], {}
    for i, c in enumerate(means.astype(np.float64)):
        b = np.floor((c - lo) / block).astype(np.int64)
        centre = b * block + lo + block / 2
        key = int(b[0] * (yb * zb) + b[1] * zb + b[2])
        bucket = partial.setdefault(key, ([], centre))
        bucket[0].append(i)
        if len(bucket[0]) >= bucket_size:
            full.append((bucket[0], bucket[1], True))
            del partial[key]
    return full + [(v[0], v[1], False) for k, v in sorted(partial.items())]


def make_ksplat(parts: list[GaussianSet], level: int, block: float = 5.0, bucket_size: int = 256,
                sh_range: tuple[float, float] | None = None) -> tuple[bytes, list[np.ndarray]]:
    """Bytes of a .ksplat holding one section per part, and each part's storage order."""
    degree = max(p.sh_degree for p in parts)
    assert degree <= 2
    k_sh = {0: 0, 1: 9, 2: 24}[degree]
    if sh_range is None:
        rest = [p.with_sh_degree(degree).sh[:, 1:] for p in parts if degree]
        vals = np.concatenate([r.reshape(-1) for r in rest]) if rest else np.zeros(0)
        sh_range = (float(vals.min()), float(vals.max())) if vals.size else (-1.5, 1.5)
    scale_range = 1 if level == 0 else 32767
    bps = bytes_per_splat(level, degree)
    sections, headers, orders = [], [], []
    for part in parts:
        g = part.with_sh_degree(degree)
        buckets = _buckets(g.means, block, bucket_size)
        order = np.array([i for b in buckets for i in b[0]], np.int64)
        orders.append(order)
        n = len(order)
        partial_lengths = [len(b[0]) for b in buckets if not b[2]]
        n_full = sum(b[2] for b in buckets)
        bucket_bytes = (len(buckets) * 12 + 4 * len(partial_lengths)) if level >= 1 else 0
        buf = bytearray(bucket_bytes + bps * n)
        if level >= 1:
            struct.pack_into(f"<{len(partial_lengths)}I", buf, 0, *partial_lengths)
            struct.pack_into(f"<{3 * len(buckets)}f", buf, 4 * len(partial_lengths),
                             *np.concatenate([b[1] for b in buckets]).astype(np.float32))
        q = g.quats / np.linalg.norm(g.quats, axis=1, keepdims=True)
        rgb = np.clip(np.floor((0.5 + SH_C0 * g.sh[:, 0]) * 255), 0, 255).astype(np.uint8)
        alpha = np.clip(np.floor(g.opacities * 255), 0, 255).astype(np.uint8)
        # band-wise channel-major: R's 3, G's 3, B's 3, then R's 5, G's 5, B's 5
        frc = np.concatenate([g.sh[:, 1:4].transpose(0, 2, 1).reshape(len(g), -1),
                              g.sh[:, 4:9].transpose(0, 2, 1).reshape(len(g), -1)], 1)[:, :k_sh]
        factor = scale_range / (block * 0.5)
        pos = 0
        for b in buckets:
            for i in b[0]:
                off = bucket_bytes + pos * bps
                if level == 0:
                    struct.pack_into("<3f3f4f4B", buf, off, *g.means[i], *g.scales[i], *q[i], *rgb[i], alpha[i])
                    struct.pack_into(f"<{k_sh}f", buf, off + 44, *frc[i])
                else:
                    d = np.clip(np.floor((g.means[i] - b[1]) * factor + 0.5) + scale_range, 0, 2 * scale_range + 1)
                    struct.pack_into("<3H", buf, off, *d.astype(np.uint16))
                    buf[off + 6:off + 20] = np.concatenate([g.scales[i], q[i]]).astype("<f2").tobytes()
                    struct.pack_into("<4B", buf, off + 20, *rgb[i], alpha[i])
                    if level == 1:
                        buf[off + 24:off + 24 + 2 * k_sh] = frc[i].astype("<f2").tobytes()
                    else:
                        lo, hi = sh_range
                        u8 = np.clip(np.floor((np.clip(frc[i], lo, hi) - lo) / (hi - lo) * 255), 0, 255)
                        buf[off + 24:off + 24 + k_sh] = u8.astype(np.uint8).tobytes()
                pos += 1
        head = bytearray(1024)
        struct.pack_into("<IIII", head, 0, n, n, bucket_size if level else 0, len(buckets) if level else 0)
        struct.pack_into("<f", head, 16, block if level else 0.0)
        struct.pack_into("<H", head, 20, 12 if level else 0)
        struct.pack_into("<IIII", head, 24, scale_range if level else 0, len(buf), n_full if level else 0,
                         len(partial_lengths) if level else 0)
        struct.pack_into("<H", head, 40, degree)
        headers.append(bytes(head))
        sections.append(bytes(buf))
    total = sum(len(o) for o in orders)
    main = bytearray(4096)
    main[0], main[1] = 0, 1
    struct.pack_into("<IIII", main, 4, len(parts), len(parts), total, total)
    struct.pack_into("<H", main, 20, level)
    struct.pack_into("<3f", main, 24, 0.0, 0.0, 0.0)
    struct.pack_into("<2f", main, 36, *sh_range)
    return bytes(main) + b"".join(headers) + b"".join(sections), orders
