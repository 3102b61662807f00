"""The CPU splat rasterizer's kernels (numba, compiled on first use and cached on disk).

Same maths as `reference.py` and the GLSL shaders (3DGS / gsplat): linear-blend skinning with the
polar factor for rotations, EWA projection with eps2d = 0.3 and the Jacobian clamp, SH colour,
then front-to-back compositing of 16x16 tiles, alpha = min(0.99, opacity * exp(power)), fragments
below 1/255 skipped, a pixel finished when its transmittance would drop below 1e-4.

One projected splat is a record of `REC` float32s:
    0 x, 1 y (pixels), 2 camera z, 3 opacity (0 = culled),
    4..6 conic scaled for exp (power = A dx^2 + B dx dy + C dy^2, A = -a/2, B = -b, C = -c/2),
    7 column half-extent, 8..10 colour, 11 row half-extent (of the alpha >= 1/255 box),
    12..15 first/last tile column, first/last tile row (as floats; last < first when culled).

Why tiles of 16: a tile row is one 16-lane vector of float32 on AVX-512, so each (splat, row) pair
costs a handful of vector instructions whatever the splat's shape. Where vectors are 8 lanes (AVX2)
a row is two segments of 8 and a splat visits only the segments its box touches (`LANES`).
"""
from __future__ import annotations

import math
import os
import sys

import numpy as np
from numba import njit

TILE = 16
REC = 16


def _vector_lanes() -> int:
    """float32 lanes of the widest vector numba compiles for here: 16 with AVX-512, else 8 (AVX2, and
    SSE/NEON, which just take two or four instructions per segment). Numba keys its disk cache by the
    CPU's name and features, so a cached kernel always matches the value chosen here."""
    features = os.environ.get("NUMBA_CPU_FEATURES", "")
    if not features:
        try:
            import llvmlite.binding as ll
            host = ll.get_host_cpu_features()
            return 16 if host.get("avx512f", False) else 8
        except Exception:  # noqa: BLE001 - unknown host: the narrower segments are right everywhere
            return 8
    return 16 if "+avx512f" in features else 8


LANES = _vector_lanes()   # a tile row is composited in TILE // LANES segments of LANES pixels
SEGS = TILE // LANES
LANE_BITS = (1 << LANES) - 1
NPIX = TILE * TILE
U_R, U_G, U_B, U_Z = (np.uint64(k * NPIX) for k in (1, 2, 3, 4))   # offsets in the tile pass's pixel array
# numba's disk cache needs the .py sources beside it, which a frozen (PyInstaller) build lacks.
CACHE = not getattr(sys, "frozen", False)
ALPHA_MIN = np.float32(1.0 / 255.0)
T_MIN = np.float32(1e-4)
f32 = np.float32

_SH_C1 = 0.4886025119029199
_SH_C2 = (1.0925484305920792, -1.0925484305920792, 0.31539156525252005, -1.0925484305920792, 0.5462742152960396)
_SH_C3 = (-0.5900435899266435, 2.890611442640554, -0.4570457994644658, 0.3731763325901154,
          -0.4570457994644658, 1.445305721320277, -0.5900435899266435)


@njit(cache=CACHE, nogil=True)
def _sh_colour(sh, i, c, x, y, z):  # pragma: no cover - compiled
    """Raw SH value of channel c of Gaussian i towards unit direction (x, y, z)."""
    k = sh.shape[1]
    v = 0.28209479177387814 * sh[i, 0, c]
    if k < 4:
        return v
    v += -_SH_C1 * y * sh[i, 1, c] + _SH_C1 * z * sh[i, 2, c] - _SH_C1 * x * sh[i, 3, c]
    if k < 9:
        return v
    xx, yy, zz, xy, yz, xz = x * x, y * y, z * z, x * y, y * z, x * z
    v += (_SH_C2[0] * xy * sh[i, 4, c] + _SH_C2[1] * yz * sh[i, 5, c] + _SH_C2[2] * (2 * zz - xx - yy) * sh[i, 6, c]
          + _SH_C2[3] * xz * sh[i, 7, c] + _SH_C2[4] * (xx - yy) * sh[i, 8, c])
    if k < 16:
        return v
    v += (_SH_C3[0] * y * (3 * xx - yy) * sh[i, 9, c] + _SH_C3[1] * xy * z * sh[i, 10, c]
          + _SH_C3[2] * y * (4 * zz - xx - yy) * sh[i, 11, c]
          + _SH_C3[3] * z * (2 * zz - 3 * xx - 3 * yy) * sh[i, 12, c]
          + _SH_C3[4] * x * (4 * zz - xx - yy) * sh[i, 13, c] + _SH_C3[5] * z * (xx - yy) * sh[i, 14, c]
          + _SH_C3[6] * x * (xx - 3 * yy) * sh[i, 15, c])
    return v


BLOCK = 128   # Gaussians projected per batch: the batch's temporaries (NROWS x BLOCK floats) stay in L1
# The batch's temporaries are the rows of one [NROWS, BLOCK] buffer. The kernels use numpy's error
# model (a float division by zero gives inf, as in the GLSL, instead of a check and an exception):
# with Python's, every division carried a branch and no loop here ran as vectors on AVX2.
B_CANON, B_ROT, B_POS, B_OUT = 0, 12, 21, 24   # first row of: canonical copy, rotation, posed centre, outputs
NROWS = 37


@njit(cache=CACHE, nogil=True, fastmath=True, error_model="numpy")
def _polar(n, x, o):  # pragma: no cover - compiled
    """Replace each of n 3x3 matrices (x[o + k, b], k = 0..8 the matrix's entries row by row) by its
    nearest rotation (polar factor): scaled Newton steps X <- (g X + X^-T / g) / 2, four of them, as
    the GLSL. One branch-free loop over n, so it runs as vectors."""
    for _ in range(4):
        for b in range(n):
            a00, a01, a02 = x[o + 0, b], x[o + 1, b], x[o + 2, b]
            a10, a11, a12 = x[o + 3, b], x[o + 4, b], x[o + 5, b]
            a20, a21, a22 = x[o + 6, b], x[o + 7, b], x[o + 8, b]
            c00 = a11 * a22 - a12 * a21
            c01 = a12 * a20 - a10 * a22
            c02 = a10 * a21 - a11 * a20
            c10 = a02 * a21 - a01 * a22
            c11 = a00 * a22 - a02 * a20
            c12 = a01 * a20 - a00 * a21
            c20 = a01 * a12 - a02 * a11
            c21 = a02 * a10 - a00 * a12
            c22 = a00 * a11 - a01 * a10
            det = a00 * c00 + a01 * c01 + a02 * c02
            det = det + f32(1e-12) * f32(abs(det) < f32(1e-12))
            inv = f32(1.0) / det
            f_c = math.sqrt(c00 * c00 + c01 * c01 + c02 * c02 + c10 * c10 + c11 * c11 + c12 * c12
                            + c20 * c20 + c21 * c21 + c22 * c22) * abs(inv)
            f_a = math.sqrt(a00 * a00 + a01 * a01 + a02 * a02 + a10 * a10 + a11 * a11 + a12 * a12
                            + a20 * a20 + a21 * a21 + a22 * a22)
            g = math.sqrt(f_c / max(f_a, f32(1e-12)))
            s_a, s_c = f32(0.5) * g, f32(0.5) * inv / g
            x[o + 0, b], x[o + 1, b], x[o + 2, b] = s_a * a00 + s_c * c00, s_a * a01 + s_c * c01, s_a * a02 + s_c * c02
            x[o + 3, b], x[o + 4, b], x[o + 5, b] = s_a * a10 + s_c * c10, s_a * a11 + s_c * c11, s_a * a12 + s_c * c12
            x[o + 6, b], x[o + 7, b], x[o + 8, b] = s_a * a20 + s_c * c20, s_a * a21 + s_c * c21, s_a * a22 + s_c * c22


# rows of the canonical structure-of-arrays [CANON, N] that `project_range` reads (contiguous per
# quantity, so its loops run as vectors on AVX2 too; an [N,k] layout made them strided gathers)
C_MX, C_QW, C_S0, C_OP, C_LOGLIM, C_RGB0 = 0, 3, 7, 10, 11, 12
CANON = 15


@njit(cache=CACHE, nogil=True, fastmath=True, error_model="numpy")
def project_range(lo, hi, canon, sh, skinned, skin_idx, skin_w, locked, bones, transl, view, campos, cam,
                  rec):  # pragma: no cover - compiled
    """Skin (optionally) and project Gaussians lo..hi-1 into `rec` [N,REC], a batch at a time.

    Args:
        canon: [CANON,N] float32 rows: mean xyz, quat wxyz, scale xyz, opacity, log limit
            (-log(max(255 opacity, 1)): alpha >= 1/255 <=> power >= it), degree-0 colour rgb.
        sh: [N,K,3] (read only for K > 1: view-dependent colour).
        skinned: bool; skin_idx [4,N] int32, skin_w [4,N], locked [N] uint8 (keeps its rotation).
        bones: [12,J] rest-to-posed transforms (rows of [3,4], one column per joint); transl [3].
        view: [4,4] world-to-camera; campos [3]; cam: [8] fx, fy, cx, cy, width, height, near, far.
    """
    fx, fy, cx, cy, w_img, h_img, near, far = cam[0], cam[1], cam[2], cam[3], cam[4], cam[5], cam[6], cam[7]
    tan_x, tan_y = f32(0.5) * w_img / fx, f32(0.5) * h_img / fy
    lim_xn, lim_xp = cx / fx + f32(0.3) * tan_x, (w_img - cx) / fx + f32(0.3) * tan_x
    lim_yn, lim_yp = cy / fy + f32(0.3) * tan_y, (h_img - cy) / fy + f32(0.3) * tan_y
    tiles_x, tiles_y = (int(w_img) + TILE - 1) // TILE, (int(h_img) + TILE - 1) // TILE
    last_tx, last_ty = f32(tiles_x - 1), f32(tiles_y - 1)
    v00, v01, v02, v03 = view[0, 0], view[0, 1], view[0, 2], view[0, 3]
    v10, v11, v12, v13 = view[1, 0], view[1, 1], view[1, 2], view[1, 3]
    v20, v21, v22, v23 = view[2, 0], view[2, 1], view[2, 2], view[2, 3]
    k_sh = sh.shape[1]
    buf = np.empty((NROWS, BLOCK), np.float32)   # rows: canon 0-11, rotation 3x3, posed centre, outputs
    one, zero = f32(1.0), f32(0.0)
    for start in range(lo, hi, BLOCK):
        n = min(BLOCK, hi - start)
        for q in range(12):   # the batch's canonical rows (mean, quat, scale, opacity, log limit)
            for b in range(n):
                buf[B_CANON + q, b] = canon[q, start + b]
        # 1. skinning: blend the 4 bones (gathers), posed centre, rotation to polish (identity if locked)
        if skinned:
            for b in range(n):
                i = start + b
                j0, j1, j2, j3 = skin_idx[0, i], skin_idx[1, i], skin_idx[2, i], skin_idx[3, i]
                w0, w1, w2, w3 = skin_w[0, i], skin_w[1, i], skin_w[2, i], skin_w[3, i]
                m0 = w0 * bones[0, j0] + w1 * bones[0, j1] + w2 * bones[0, j2] + w3 * bones[0, j3]
                m1 = w0 * bones[1, j0] + w1 * bones[1, j1] + w2 * bones[1, j2] + w3 * bones[1, j3]
                m2 = w0 * bones[2, j0] + w1 * bones[2, j1] + w2 * bones[2, j2] + w3 * bones[2, j3]
                m3 = w0 * bones[3, j0] + w1 * bones[3, j1] + w2 * bones[3, j2] + w3 * bones[3, j3]
                m4 = w0 * bones[4, j0] + w1 * bones[4, j1] + w2 * bones[4, j2] + w3 * bones[4, j3]
                m5 = w0 * bones[5, j0] + w1 * bones[5, j1] + w2 * bones[5, j2] + w3 * bones[5, j3]
                m6 = w0 * bones[6, j0] + w1 * bones[6, j1] + w2 * bones[6, j2] + w3 * bones[6, j3]
                m7 = w0 * bones[7, j0] + w1 * bones[7, j1] + w2 * bones[7, j2] + w3 * bones[7, j3]
                m8 = w0 * bones[8, j0] + w1 * bones[8, j1] + w2 * bones[8, j2] + w3 * bones[8, j3]
                m9 = w0 * bones[9, j0] + w1 * bones[9, j1] + w2 * bones[9, j2] + w3 * bones[9, j3]
                m10 = w0 * bones[10, j0] + w1 * bones[10, j1] + w2 * bones[10, j2] + w3 * bones[10, j3]
                m11 = w0 * bones[11, j0] + w1 * bones[11, j1] + w2 * bones[11, j2] + w3 * bones[11, j3]
                mx, my, mz = buf[B_CANON, b], buf[B_CANON + 1, b], buf[B_CANON + 2, b]
                buf[B_POS + 0, b] = m0 * mx + m1 * my + m2 * mz + m3 + transl[0]
                buf[B_POS + 1, b] = m4 * mx + m5 * my + m6 * mz + m7 + transl[1]
                buf[B_POS + 2, b] = m8 * mx + m9 * my + m10 * mz + m11 + transl[2]
                free = f32(locked[i] == 0)   # branch-free select: the blended matrix, or the identity
                fixed = one - free
                buf[B_ROT + 0, b], buf[B_ROT + 1, b], buf[B_ROT + 2, b] = free * m0 + fixed, free * m1, free * m2
                buf[B_ROT + 3, b], buf[B_ROT + 4, b], buf[B_ROT + 5, b] = free * m4, free * m5 + fixed, free * m6
                buf[B_ROT + 6, b], buf[B_ROT + 7, b], buf[B_ROT + 8, b] = free * m8, free * m9, free * m10 + fixed
            _polar(n, buf, B_ROT)
        else:
            for b in range(n):
                i = start + b
                buf[B_POS, b] = buf[B_CANON, b]
                buf[B_POS + 1, b] = buf[B_CANON + 1, b]
                buf[B_POS + 2, b] = buf[B_CANON + 2, b]
                buf[B_ROT + 0, b], buf[B_ROT + 1, b], buf[B_ROT + 2, b] = one, zero, zero
                buf[B_ROT + 3, b], buf[B_ROT + 4, b], buf[B_ROT + 5, b] = zero, one, zero
                buf[B_ROT + 6, b], buf[B_ROT + 7, b], buf[B_ROT + 8, b] = zero, zero, one
        # 2. EWA projection (branch-free, vectorized): conic, extents of the alpha >= 1/255 box, tiles
        for b in range(n):
            px, py, pz = buf[B_POS + 0, b], buf[B_POS + 1, b], buf[B_POS + 2, b]
            vx = v00 * px + v01 * py + v02 * pz + v03
            vy = v10 * px + v11 * py + v12 * pz + v13
            vz = v20 * px + v21 * py + v22 * pz + v23
            qw, qx, qy, qz = buf[B_CANON + C_QW, b], buf[B_CANON + C_QW + 1, b], \
                buf[B_CANON + C_QW + 2, b], buf[B_CANON + C_QW + 3, b]
            qn = one / max(math.sqrt(qw * qw + qx * qx + qy * qy + qz * qz), f32(1e-12))
            qw, qx, qy, qz = qw * qn, qx * qn, qy * qn, qz * qn
            two = f32(2.0)
            r00, r01, r02 = one - two * (qy * qy + qz * qz), two * (qx * qy - qw * qz), two * (qx * qz + qw * qy)
            r10, r11, r12 = two * (qx * qy + qw * qz), one - two * (qx * qx + qz * qz), two * (qy * qz - qw * qx)
            r20, r21, r22 = two * (qx * qz - qw * qy), two * (qy * qz + qw * qx), one - two * (qx * qx + qy * qy)
            a00, a01, a02 = buf[B_ROT + 0, b], buf[B_ROT + 1, b], buf[B_ROT + 2, b]
            a10, a11, a12 = buf[B_ROT + 3, b], buf[B_ROT + 4, b], buf[B_ROT + 5, b]
            a20, a21, a22 = buf[B_ROT + 6, b], buf[B_ROT + 7, b], buf[B_ROT + 8, b]
            # posed rotation P = X R, camera-space factor T = V P S
            p00 = a00 * r00 + a01 * r10 + a02 * r20
            p01 = a00 * r01 + a01 * r11 + a02 * r21
            p02 = a00 * r02 + a01 * r12 + a02 * r22
            p10 = a10 * r00 + a11 * r10 + a12 * r20
            p11 = a10 * r01 + a11 * r11 + a12 * r21
            p12 = a10 * r02 + a11 * r12 + a12 * r22
            p20 = a20 * r00 + a21 * r10 + a22 * r20
            p21 = a20 * r01 + a21 * r11 + a22 * r21
            p22 = a20 * r02 + a21 * r12 + a22 * r22
            s0, s1, s2 = (buf[B_CANON + C_S0, b], buf[B_CANON + C_S0 + 1, b],
                          buf[B_CANON + C_S0 + 2, b])
            t00 = (v00 * p00 + v01 * p10 + v02 * p20) * s0
            t01 = (v00 * p01 + v01 * p11 + v02 * p21) * s1
            t02 = (v00 * p02 + v01 * p12 + v02 * p22) * s2
            t10 = (v10 * p00 + v11 * p10 + v12 * p20) * s0
            t11 = (v10 * p01 + v11 * p11 + v12 * p21) * s1
            t12 = (v10 * p02 + v11 * p12 + v12 * p22) * s2
            t20 = (v20 * p00 + v21 * p10 + v22 * p20) * s0
            t21 = (v20 * p01 + v21 * p11 + v22 * p21) * s1
            t22 = (v20 * p02 + v21 * p12 + v22 * p22) * s2
            zs = vz + f32(1e-12) * f32(vz == zero)
            iz = one / zs
            tx = zs * min(max(vx * iz, -lim_xn), lim_xp)
            ty = zs * min(max(vy * iz, -lim_yn), lim_yp)
            j0, j2 = fx * iz, -fx * tx * iz * iz
            k1, k2 = fy * iz, -fy * ty * iz * iz
            e0, e1, e2 = j0 * t00 + j2 * t20, j0 * t01 + j2 * t21, j0 * t02 + j2 * t22
            h0, h1, h2 = k1 * t10 + k2 * t20, k1 * t11 + k2 * t21, k1 * t12 + k2 * t22
            ca = e0 * e0 + e1 * e1 + e2 * e2 + f32(0.3)
            cb = e0 * h0 + e1 * h1 + e2 * h2
            cc = h0 * h0 + h1 * h1 + h2 * h2 + f32(0.3)
            det = ca * cc - cb * cb
            op = buf[B_CANON + C_OP, b]
            inv = one / (det + f32(det == zero))
            r2 = f32(-2.0) * buf[B_CANON + C_LOGLIM, b]
            u, v = fx * vx * iz + cx, fy * vy * iz + cy
            ex, ey = math.sqrt(max(r2 * ca, zero)), math.sqrt(max(r2 * cc, zero))
            tx0 = max(math.floor((u - ex) * f32(1.0 / TILE)), zero)
            tx1 = min(math.floor((u + ex) * f32(1.0 / TILE)), last_tx)
            ty0 = max(math.floor((v - ey) * f32(1.0 / TILE)), zero)
            ty1 = min(math.floor((v + ey) * f32(1.0 / TILE)), last_ty)
            ok = (vz > near) & (vz < far) & (det > zero) & (op >= ALPHA_MIN) & (tx1 >= tx0) & (ty1 >= ty0)
            buf[B_OUT + 0, b], buf[B_OUT + 1, b], buf[B_OUT + 2, b], buf[B_OUT + 3, b] = u, v, vz, op * f32(ok)
            buf[B_OUT + 4, b], buf[B_OUT + 5, b] = f32(-0.5) * cc * inv, cb * inv
            buf[B_OUT + 6, b] = f32(-0.5) * ca * inv
            buf[B_OUT + 7, b], buf[B_OUT + 8, b] = ex, ey
            buf[B_OUT + 9, b], buf[B_OUT + 10, b], buf[B_OUT + 11, b], buf[B_OUT + 12, b] = tx0, tx1, ty0, ty1
        # 3. records (one [REC] row per splat: what the binning and the tile pass read)
        for b in range(n):
            i = start + b
            r = rec[i]
            r[3] = buf[B_OUT + 3, b]
            if buf[B_OUT + 3, b] <= zero:
                r[12], r[13] = one, zero   # empty tile range
                continue
            r[0], r[1], r[2] = buf[B_OUT + 0, b], buf[B_OUT + 1, b], buf[B_OUT + 2, b]
            r[4], r[5], r[6], r[7] = buf[B_OUT + 4, b], buf[B_OUT + 5, b], buf[B_OUT + 6, b], buf[B_OUT + 7, b]
            if k_sh == 1:
                r[8], r[9], r[10] = canon[C_RGB0, i], canon[C_RGB0 + 1, i], canon[C_RGB0 + 2, i]
            else:
                dx, dy, dz = buf[B_POS + 0, b] - campos[0], buf[B_POS + 1, b] - campos[1], buf[B_POS + 2, b] - campos[2]
                dn = one / max(math.sqrt(dx * dx + dy * dy + dz * dz), f32(1e-12))
                for c in range(3):
                    r[8 + c] = max(_sh_colour(sh, i, c, dx * dn, dy * dn, dz * dn) + f32(0.5), zero)
            r[11] = buf[B_OUT + 8, b]
            r[12], r[13], r[14], r[15] = buf[B_OUT + 9, b], buf[B_OUT + 10, b], buf[B_OUT + 11, b], buf[B_OUT + 12, b]


@njit(cache=CACHE, nogil=True, inline="always")
def _depth_key(z, lo32, scale):  # pragma: no cover - compiled
    """The 16-bit depth key of `host.sort_near_to_far` (z over the visible range, numpy's float32 maths)."""
    return np.uint16(f32(f32(z) - f32(lo32)) * f32(scale))


@njit(cache=CACHE, nogil=True)
def depth_scale(z_ranges):  # pragma: no cover - compiled
    """[S,2] per-share (min, max) visible z -> (lo as float32, scale) for `_depth_key`: those of
    `host.sort_near_to_far` over all visible splats."""
    lo, hi = np.inf, -np.inf
    for s in range(z_ranges.shape[0]):
        lo, hi = min(lo, z_ranges[s, 0]), max(hi, z_ranges[s, 1])
    scale = f32(65535.0 / (np.float64(hi) - np.float64(lo))) if hi > lo else f32(0.0)
    return f32(lo), scale


@njit(cache=CACHE, nogil=True)
def bin_count(rec, lo, hi, tiles_x, counts, z_range):  # pragma: no cover - compiled
    """First binning pass over records lo..hi-1 (one thread's share), in index order: `counts` [T] +=
    visible splats per tile; z_range [2] = their min and max z (inf, -inf when none)."""
    z_lo, z_hi = np.inf, -np.inf
    for i in range(lo, hi):
        if rec[i, 3] > f32(0.0):
            z = rec[i, 2]
            z_lo, z_hi = min(z_lo, z), max(z_hi, z)
            tx0, tx1, ty0, ty1 = int(rec[i, 12]), int(rec[i, 13]), int(rec[i, 14]), int(rec[i, 15])
            for ty in range(ty0, ty1 + 1):
                for tx in range(tx0, tx1 + 1):
                    counts[ty * tiles_x + tx] += 1
    z_range[0], z_range[1] = z_lo, z_hi


@njit(cache=CACHE, nogil=True)
def bin_offsets(counts, starts, offsets):  # pragma: no cover - compiled
    """[S,T] per-share tile counts -> starts [T+1] (where tile t's list begins and ends) and offsets
    [S,T] (where share s writes its first splat of tile t). Share s's splats follow share s-1's in each
    tile, so the shares (consecutive index ranges) keep each tile's list in index order."""
    n_shares, n_tiles = counts.shape
    starts[0] = 0
    run = 0
    for t in range(n_tiles):
        for s in range(n_shares):
            offsets[s, t] = run
            run += counts[s, t]
        starts[t + 1] = run


@njit(cache=CACHE, nogil=True)
def bin_fill(rec, rec64, lo, hi, tiles_x, lo32, scale, offsets, ents64, keys):  # pragma: no cover - compiled
    """Second binning pass over records lo..hi-1: copy each visible record into its tiles' lists and
    its depth key beside it (`ents64` [E,REC/2] the uint64 view of the entries, `keys` [E] uint16), at
    `offsets` [T] (this share's, advanced as it goes). rec64: the uint64 view of `rec` (8 moves a copy)."""
    for i in range(lo, hi):
        if rec[i, 3] > f32(0.0):
            key = _depth_key(rec[i, 2], lo32, scale)
            tx0, tx1, ty0, ty1 = int(rec[i, 12]), int(rec[i, 13]), int(rec[i, 14]), int(rec[i, 15])
            for ty in range(ty0, ty1 + 1):
                for tx in range(tx0, tx1 + 1):
                    t = ty * tiles_x + tx
                    o = offsets[t]
                    for c in range(rec64.shape[1]):
                        ents64[o, c] = rec64[i, c]
                    keys[o] = key
                    offsets[t] = o + 1


@njit(cache=CACHE, nogil=True, inline="always")
def _sort_keys(keys, lo, hi, perm, tmp, hist):  # pragma: no cover - compiled
    """perm[:hi-lo] = the positions 0..hi-lo-1 of keys[lo:hi] in ascending key order, stable (two 8-bit
    counting passes; tmp [>= hi-lo] int32 and hist [512] int64 scratch)."""
    n = hi - lo
    hist[:] = 0
    for j in range(n):
        key = np.int64(keys[lo + j])
        hist[key & 255] += 1
        hist[256 + (key >> 8)] += 1
    run_lo, run_hi = 0, 0
    for d in range(256):
        c_lo, c_hi = hist[d], hist[256 + d]
        hist[d], hist[256 + d] = run_lo, run_hi
        run_lo += c_lo
        run_hi += c_hi
    for j in range(n):
        d = np.int64(keys[lo + j]) & 255
        tmp[hist[d]] = j
        hist[d] += 1
    for j in range(n):
        p = tmp[j]
        d = 256 + (np.int64(keys[lo + p]) >> 8)
        perm[hist[d]] = p
        hist[d] += 1


def depth_order(rec):
    """The visible splats' indices near to far ([M] int32), as every tile list takes them (binning's
    keys, sorted by `_sort_keys`): all records binned into one tile. For tests."""
    one_tile = rec.copy()
    one_tile[:, 12:16] = 0.0
    starts, _, keys = bin_tiles(one_tile, 1, 1)
    perm = np.empty(len(keys), np.int32)
    _sort_all(keys, perm)
    return np.flatnonzero(rec[:, 3] > 0).astype(np.int32)[perm]


@njit(cache=CACHE, nogil=True)
def _sort_all(keys, perm):  # pragma: no cover - compiled
    _sort_keys(keys, 0, keys.shape[0], perm, np.empty(keys.shape[0], np.int32), np.empty(512, np.int64))


class Workspace:
    """A renderer's per-frame arrays, kept between frames (fresh pages from the OS cost a fault each:
    milliseconds a frame at 200k splats) and grown as needed."""

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, rows: int, shape: tuple[int, ...] = (), dtype=np.float32) -> np.ndarray:
        """An uninitialised [rows, *shape] array (the first rows of a kept one)."""
        a = self._arrays.get(name)
        if a is None or a.shape[0] < rows or a.shape[1:] != shape or a.dtype != dtype:
            a = np.empty((max(rows, 1 if a is None else a.shape[0] + a.shape[0] // 4), *shape), dtype)
            self._arrays[name] = a
        return a[:rows]

    def clear(self) -> None:
        self._arrays.clear()


def bin_tiles(rec, tiles_x, tiles_y, threads=1, parallel=None, workspace=None):
    """Per-tile lists of copies of the visible records (rec[:, 3] > 0), each in index order, with their
    16-bit depth keys (`raster_tiles` sorts each list by them: near to far, stable, as
    `host.sort_near_to_far`), built by `threads` shares of the records.

    Args:
        rec: [N,REC] records (`project_range`).
        parallel: parallel(fn, shares) runs fn(*share) for each share (None: one after the other).
        workspace: a `Workspace` to keep the big arrays in (None: fresh ones).
    Returns:
        starts [T+1] int64 (tile t's entries are ents[starts[t]:starts[t+1]]), ents [E,REC] float32,
        keys [E] uint16.
    """
    ws = workspace or Workspace()
    n, n_tiles = rec.shape[0], tiles_x * tiles_y
    n_shares = max(min(threads, n // 4096), 1)   # small sets: one share (threads cost more than they save)
    bounds = [(n * s // n_shares, n * (s + 1) // n_shares) for s in range(n_shares)]
    counts = np.zeros((n_shares, n_tiles), np.int64)
    z_ranges = np.empty((n_shares, 2), np.float32)
    run = parallel or (lambda fn, shares: [fn(*sh) for sh in shares])
    run(lambda s: bin_count(rec, bounds[s][0], bounds[s][1], tiles_x, counts[s], z_ranges[s]),
        [(s,) for s in range(n_shares)])
    starts, offsets = np.empty(n_tiles + 1, np.int64), np.empty((n_shares, n_tiles), np.int64)
    bin_offsets(counts, starts, offsets)
    lo32, scale = (np.float32(v) for v in depth_scale(z_ranges))   # float32, as the host's maths
    e = int(starts[-1])
    ents, keys = ws.get("ents", e, (REC,)), ws.get("keys", e, (), np.uint16)
    rec64, ents64 = rec.view(np.uint64), ents.view(np.uint64)
    run(lambda s: bin_fill(rec, rec64, bounds[s][0], bounds[s][1], tiles_x, lo32, scale, offsets[s], ents64, keys),
        [(s,) for s in range(n_shares)])
    return starts, ents, keys


@njit(cache=CACHE, nogil=True, inline="always")
def _byte(v):  # pragma: no cover - compiled
    """A colour or alpha in 0..1 (clamped) as a rounded byte."""
    return np.uint8(min(max(v, f32(0.0)), f32(1.0)) * f32(255.0) + f32(0.5))


@njit(cache=CACHE, nogil=True, inline="always", fastmath=True, error_model="numpy")
def _composite(px, base, x_first, row_b, row_c, ca, op, cr, cg, cbl, z, want_depth):  # pragma: no cover
    """Composite one splat over LANES pixels of a tile row (px[base:base+LANES] and their colour and
    depth planes), the first x_first from its centre. One vector, branch-free. Returns how many pixels
    this splat finished (a float)."""
    newly = f32(0.0)
    for lx in range(LANES):
        q = base + np.uint64(lx)
        dx = x_first + f32(lx)
        power = max(min((ca * dx + row_b) * dx + row_c, f32(0.0)), f32(-6.0))
        # exp(p) = exp(p/16)^16, a 5th-order Taylor series on [-0.375, 0]: error < 1e-4
        e = power * f32(0.0625)
        e = f32(1.0) + e * (f32(1.0) + e * (f32(0.5) + e * (f32(0.16666667) + e * (
            f32(0.041666668) + e * f32(0.008333334)))))
        e = e * e
        e = e * e
        e = e * e
        e = e * e
        alpha = min(f32(0.99), op * e)
        alpha = alpha * f32(alpha >= ALPHA_MIN)
        t_old = px[q]
        t_new = t_old * (f32(1.0) - alpha)
        keep = f32(t_new >= T_MIN)
        weight = keep * alpha * t_old
        px[q + U_R] += weight * cr
        px[q + U_G] += weight * cg
        px[q + U_B] += weight * cbl
        if want_depth:
            px[q + U_Z] += weight * z
        px[q] = keep * t_new
        newly += (f32(1.0) - keep) * f32(t_old > f32(0.0))
    return newly


@njit(cache=CACHE, nogil=True, inline="always")
def _finished_bits(px, first, x):  # pragma: no cover - compiled
    """Bits x.. x+LANES-1 set where the LANES pixels from px[first] are finished (stored as 0)."""
    bits = 0
    for lx in range(LANES):
        if px[first + lx] == f32(0.0):
            bits |= 1 << (x + lx)
    return bits


@njit(cache=CACHE, nogil=True, fastmath=True, error_model="numpy")
def raster_tiles(first, step, starts, ents, keys, width, height, want_depth, out, depth, out8, background,
                 eight_bit):  # pragma: no cover - compiled
    """Composite tiles first, first+step, ... (tile t's entries: ents[starts[t]:starts[t+1]], sorted here
    near to far by their `keys`; `bin_tiles`) into

      eight_bit 0: `out` [H,W,4] float (premultiplied rgb, alpha) and, when `want_depth`, `depth`
                   [H,W] (sum of weight * z);
      eight_bit 1: `out8` [H,W,4] uint8, premultiplied (for blending onto a screen);
      eight_bit 2: `out8` [H,W,4] uint8 over the opaque `background` [3].
    """
    tiles_x = (width + TILE - 1) // TILE
    n_tiles = starts.shape[0] - 1
    # transmittance, premultiplied r, g, b and weighted depth of the tile's pixels, NPIX apart in one
    # array, indexed unsigned: constant distances and no negative-index wrap let the segment loop run
    # as vectors without run-time overlap checks
    px = np.empty(5 * NPIX, np.float32)
    # per tile row, bit x: pixel x finished (transmittance stored as 0: it takes nothing more)
    done_bits = np.empty(TILE, np.int64)
    full_row = (1 << TILE) - 1
    empty8 = np.zeros(4, np.uint8)   # an empty pixel's bytes
    if eight_bit == 2:
        empty8[0], empty8[1], empty8[2], empty8[3] = (_byte(background[0]), _byte(background[1]),
                                                      _byte(background[2]), np.uint8(255))
    longest = 0
    for t in range(first, n_tiles, step):
        longest = max(longest, starts[t + 1] - starts[t])
    perm, tmp, hist = np.empty(longest, np.int32), np.empty(longest, np.int32), np.empty(512, np.int64)
    tile_ents = np.empty((longest, REC), np.float32)   # the tile's entries near to far
    ents64, tile64 = ents.view(np.uint64), tile_ents.view(np.uint64)
    for t in range(first, n_tiles, step):
        if starts[t + 1] > starts[t]:
            _sort_keys(keys, starts[t], starts[t + 1], perm, tmp, hist)
            for j in range(starts[t + 1] - starts[t]):
                p = starts[t] + perm[j]
                for c in range(REC // 2):
                    tile64[j, c] = ents64[p, c]
        x0, y0 = (t % tiles_x) * TILE, (t // tiles_x) * TILE
        if starts[t + 1] == starts[t]:   # no splat: the empty colour, without the tile's arrays
            for ly in range(min(TILE, height - y0)):
                if eight_bit == 0:
                    out[y0 + ly, x0:x0 + TILE, :] = f32(0.0)
                    if want_depth:
                        depth[y0 + ly, x0:x0 + TILE] = f32(0.0)
                else:
                    for lx in range(min(TILE, width - x0)):
                        for c in range(4):
                            out8[y0 + ly, x0 + lx, c] = empty8[c]
            continue
        px[:NPIX] = 1.0
        px[NPIX:] = 0.0
        done_bits[:] = 0
        rows_left = TILE
        for j in range(starts[t + 1] - starts[t]):
            if rows_left == 0:
                break
            e = tile_ents[j]
            u = e[0] - f32(x0) - f32(0.5)   # centre relative to the tile's first pixel centre
            v = e[1] - f32(y0) - f32(0.5)
            z, op, ca, cb, cc = e[2], e[3], e[4], e[5], e[6]
            cr, cg, cbl = e[8], e[9], e[10]
            hx, hy = e[7], e[11]
            ly0 = max(int(math.ceil(v - hy)), 0)
            ly1 = min(int(math.floor(v + hy)) + 1, TILE)
            # the columns and LANES-wide segments of a row the splat's box touches (all of it on AVX-512)
            c0 = max(int(math.ceil(u - hx)), 0)
            c1 = min(int(math.floor(u + hx)), TILE - 1)
            if c1 < c0:
                continue
            box_bits = ((2 << c1) - 1) ^ ((1 << c0) - 1)
            s0, s1 = c0 // LANES, c1 // LANES
            # narrower than a vector (most splats of a surface avatar, ~5 pixels across): one window of
            # LANES pixels from the box's first column (or the tile's last LANES), where its box would
            # take two segments in a third of the rows. Not on AVX-512, where a row is one vector anyway.
            narrow = SEGS > 1 and s1 > s0 and c1 - c0 < LANES
            win = min(c0, TILE - LANES)
            for ly in range(ly0, ly1):
                open_bits = box_bits & ~done_bits[ly]
                if open_bits == 0:   # every pixel of the box on this row is finished
                    continue
                dy = f32(ly) - v
                row_c = cc * dy * dy
                row_b = cb * dy
                for sg in range(s0, s1 + 1):
                    first = win if narrow else sg * LANES
                    if not narrow and (open_bits >> first) & LANE_BITS == 0:
                        continue
                    newly = _composite(px, np.uint64(ly * TILE + first), f32(first) - u, row_b, row_c, ca, op,
                                       cr, cg, cbl, z, want_depth)
                    if newly > f32(0.0):   # pixels finished here: note them, and the row once all are
                        row = done_bits[ly] | _finished_bits(px, ly * TILE + first, first)
                        if row == full_row and done_bits[ly] != full_row:
                            rows_left -= 1
                        done_bits[ly] = row
                    if narrow:
                        break
        for ly in range(min(TILE, height - y0)):
            for lx in range(min(TILE, width - x0)):
                q = ly * TILE + lx
                tq, rq, gq, bq = px[q], px[q + NPIX], px[q + 2 * NPIX], px[q + 3 * NPIX]
                if eight_bit == 0:
                    out[y0 + ly, x0 + lx, 0] = rq
                    out[y0 + ly, x0 + lx, 1] = gq
                    out[y0 + ly, x0 + lx, 2] = bq
                    out[y0 + ly, x0 + lx, 3] = f32(1.0) - tq
                    if want_depth:
                        depth[y0 + ly, x0 + lx] = px[q + 4 * NPIX]
                    continue
                t = tq if eight_bit == 2 else f32(0.0)
                out8[y0 + ly, x0 + lx, 0] = _byte(rq + t * background[0])
                out8[y0 + ly, x0 + lx, 1] = _byte(gq + t * background[1])
                out8[y0 + ly, x0 + lx, 2] = _byte(bq + t * background[2])
                out8[y0 + ly, x0 + lx, 3] = np.uint8(255) if eight_bit == 2 else _byte(f32(1.0) - tq)
