"""PlayCanvas SOG (version 2): `meta.json` plus lossless WebP images, as a folder or a `.sog` zip.

Layout (our reading of PlayCanvas's splat-transform, the reference; values in its PLY frame):
- every per-splat image is W x H RGBA, W = ceil(sqrt(N)/4)*4, H = ceil(N/W/4)*4, splat i at texel i
  (row-major);
- `means_l` / `means_u`: low / high byte of a 16-bit lerp, per axis, between `means.mins` and
  `means.maxs` of t = sign(x)·ln(|x|+1);
- `quats`: smallest three of the unit wxyz quaternion (sign chosen so the largest is positive),
  each ×√2 mapped from [-1, 1] to 0..255; alpha = 252 + index of the largest (w, x, y, z);
- `scales`: RGB index a 256-entry codebook of natural-log scales;
- `sh0`: RGB index a 256-entry codebook of band-0 coefficients; alpha = opacity·255;
- `shN` (optional): `shN_labels` RG = 16-bit palette index; `shN_centroids` holds 64 palette
  entries per row, each `coeffs` texels wide whose RGB index the 256-entry `shN.codebook`.
"""
from __future__ import annotations

import io
import json
import math
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import InputError
from ..gaussians import GaussianSet
from .atomic import atomic_path, write_bytes_atomically
from .notes import finite_gaussians
from .safe import (MAX_JSON_BYTES, MAX_MEMBER_BYTES, excerpt, file_members, loads_json, open_zip, read_member,
                   read_regular_file, short_error)

_SQRT2 = math.sqrt(2.0)
PALETTE_KMEANS = 16384  # SH palette entries when a scene has more than 65536 distinct SH vectors
PALETTE_GROUPS = 128  # coarse k-means groups those entries are split from
_REST_COEFFS = {0: 0, 1: 3, 2: 8, 3: 15}
_FILES = {"means": ["means_l.webp", "means_u.webp"], "scales": ["scales.webp"], "quats": ["quats.webp"],
          "sh0": ["sh0.webp"], "shN": ["shN_centroids.webp", "shN_labels.webp"]}


# ---------------------------------------------------------------------- images
def _decode_webp(data: bytes, name: str) -> np.ndarray:
    """WebP bytes -> [H, W, 4] uint8 RGBA."""
    from PIL import Image
    try:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGBA"), np.uint8)
    except Exception as err:  # Pillow raises several types on bad images
        raise InputError(f"SOG image {name} cannot be decoded ({err}).") from err


def _encode_webp(rgba: np.ndarray) -> bytes:
    """[H, W, 4] uint8 -> lossless WebP bytes (exact: colour under zero alpha is kept). Effort 2/50:
    the top effort (6/100) was ~60x slower for <1% smaller files on SOG images."""
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgba, np.uint8), "RGBA").save(buf, "WEBP", lossless=True, exact=True,
                                                                       quality=50, method=2)
    return buf.getvalue()


# ---------------------------------------------------------------------- decode
def _inv_log(t: np.ndarray) -> np.ndarray:
    return np.sign(t) * (np.exp(np.abs(t)) - 1.0)


def decode_sog(meta: dict, load: Callable[[str], bytes], source: str) -> GaussianSet:
    """Gaussians (file frame) from a parsed meta.json and a function that returns a named image's bytes."""
    try:
        version = meta.get("version")
        if version != 2:
            raise InputError(f"{source}: SOG version {excerpt(version, 40)} is not supported (only version 2, "
                             "written by splat-transform 0.16 and later).")
        n = int(meta["count"])

        def image(key: str, i: int = 0) -> np.ndarray:
            name = meta[key]["files"][i]
            px = _decode_webp(load(name), name)
            return px.reshape(-1, 4)

        lo, hi = image("means", 0), image("means", 1)
        quats_px, scales_px, sh0_px = image("quats"), image("scales"), image("sh0")
        if min(len(lo), len(hi), len(quats_px), len(scales_px), len(sh0_px)) < n:
            raise InputError(f"{source}: the SOG images hold fewer texels than its {n:,} splats.")
        mins = np.asarray(meta["means"]["mins"], np.float64)
        maxs = np.asarray(meta["means"]["maxs"], np.float64)
        q16 = lo[:n, :3].astype(np.float64) + 256.0 * hi[:n, :3]
        means = _inv_log(mins + (maxs - mins) * q16 / 65535.0)

        tag = quats_px[:n, 3].astype(np.int64)
        abc = (quats_px[:n, :3].astype(np.float64) / 255.0 * 2.0 - 1.0) / _SQRT2
        largest = np.clip(tag - 252, 0, 3)
        quats = np.zeros((n, 4))
        others = np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])[largest]
        rows = np.arange(n)[:, None]
        quats[rows, others] = abc
        quats[np.arange(n), largest] = np.sqrt(np.maximum(0.0, 1.0 - np.sum(abc * abc, 1)))
        quats[(tag < 252) | (tag > 255)] = (1.0, 0.0, 0.0, 0.0)

        scode = np.asarray(meta["scales"]["codebook"], np.float64)
        scales = np.exp(scode[scales_px[:n, :3]])
        ccode = np.asarray(meta["sh0"]["codebook"], np.float64)
        dc = ccode[sh0_px[:n, :3]]
        opac = sh0_px[:n, 3].astype(np.float64) / 255.0

        bands = int(meta.get("shN", {}).get("bands", 0)) if meta.get("shN") else 0
        if bands not in _REST_COEFFS:
            raise InputError(f"{source}: meta.json says {bands} SH bands; SOG holds 0 to 3.")
        coeffs = _REST_COEFFS[bands]
        sh = np.zeros((n, 1 + coeffs, 3))
        sh[:, 0] = dc
        if coeffs:
            shn = meta["shN"]
            cen = _decode_webp(load(shn["files"][0]), shn["files"][0])
            labels_px = image("shN", 1)
            if cen.shape[1] != 64 * coeffs:
                raise InputError(f"{source}: shN_centroids is {cen.shape[1]} texels wide; expected {64 * coeffs}.")
            code = np.asarray(shn["codebook"], np.float64)
            palette = cen.reshape(-1, coeffs, 4)[:, :, :3]  # [entries, coeffs, rgb] codebook indices
            labels = labels_px[:n, 0].astype(np.int64) + 256 * labels_px[:n, 1].astype(np.int64)
            valid = (labels < min(int(shn["count"]), len(palette)))
            sh[valid, 1:] = code[palette[labels[valid]]]
    except (KeyError, IndexError, TypeError, ValueError, OverflowError) as err:
        raise InputError(f"{source}: the SOG meta.json is incomplete or malformed ({type(err).__name__}: "
                         f"{short_error(err, 60)}).") from err
    return finite_gaussians(source, means, quats, scales, opac, sh)


def _parse_meta(data: bytes, source: str) -> dict:
    meta = loads_json(data, f"{source}: meta.json")  # bounded: size, nesting depth, NaN
    if not isinstance(meta, dict) or "means" not in meta:
        raise InputError(f"{source}: meta.json is not a SOG description (no 'means').")
    return meta


def read_sog_folder(folder: str | Path) -> GaussianSet:
    """Read an unbundled SOG: `folder/meta.json` and the images it names (file frame)."""
    folder = Path(folder)
    meta = _parse_meta(read_regular_file(folder / "meta.json", MAX_JSON_BYTES), f"{folder.name}/meta.json")

    def load(name: str) -> bytes:
        p = (folder / str(name))
        if not isinstance(name, str) or Path(name).name != name or not p.is_file():
            raise InputError(f"{folder.name}: the SOG image '{excerpt(name, 60)}' named in meta.json is missing.")
        return read_regular_file(p, MAX_MEMBER_BYTES)

    return decode_sog(meta, load, folder.name)


def decode_sog_zip(data: bytes, source: str = ".sog data") -> GaussianSet:
    """Read a bundled `.sog` zip (meta.json and images at its root; file frame)."""
    with open_zip(data, source) as zf:  # damage, bombs and encryption become InputError
        names = {Path(i.filename).name: i for i in file_members(zf)}
        if "meta.json" not in names:
            raise InputError(f"{source} is a zip without meta.json; it is not a SOG file.")
        meta = _parse_meta(read_member(zf, names["meta.json"], source, MAX_JSON_BYTES), source)

        def load(name: str) -> bytes:
            if not isinstance(name, str) or name not in names:
                raise InputError(f"{source}: the SOG image '{excerpt(name, 60)}' named in meta.json is missing.")
            return read_member(zf, names[name], source)

        return decode_sog(meta, load, source)


# ---------------------------------------------------------------------- encode
def kmeans_1d(values: np.ndarray, k: int = 256, iterations: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """1-D k-means: [M] values -> (sorted [<=k] centroids, [M] uint8/16 labels of the nearest)."""
    v = np.asarray(values, np.float64).ravel()
    if v.size == 0:
        return np.zeros(1), np.zeros(0, np.int64)
    distinct = np.unique(v)
    if len(distinct) <= k:  # already a codebook (e.g. re-encoding a SOG): keep it exactly
        return distinct, np.searchsorted(distinct, v)
    cent = np.unique(np.quantile(v, (np.arange(k) + 0.5) / k))
    for _ in range(iterations):
        labels = np.searchsorted((cent[1:] + cent[:-1]) / 2, v)
        sums = np.bincount(labels, v, len(cent))
        counts = np.bincount(labels, minlength=len(cent))
        upd = np.where(counts > 0, sums / np.maximum(counts, 1), cent)
        if np.allclose(upd, cent):
            break
        cent = np.unique(upd)
    labels = np.searchsorted((cent[1:] + cent[:-1]) / 2, v)
    return cent, labels


def _lloyd(x: np.ndarray, k: int, iterations: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Plain k-means of [M, D] rows into k centroids from a random sample: ([k, D], [M] labels)."""
    cent = x[rng.choice(len(x), k, replace=False)].astype(np.float32)
    labels = np.zeros(len(x), np.int64)
    for it in range(iterations + 1):
        c2 = np.sum(cent * cent, 1)
        for s in range(0, len(x), 4096):
            labels[s:s + 4096] = np.argmin(c2[None, :] - 2.0 * (x[s:s + 4096] @ cent.T), axis=1)
        if it == iterations:
            break
        counts = np.bincount(labels, minlength=k)
        for d in range(x.shape[1]):
            sums = np.bincount(labels, x[:, d], k)
            cent[:, d] = np.where(counts > 0, sums / np.maximum(counts, 1), cent[:, d])
    return cent, labels


def _palette(rest: np.ndarray, iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """[N, D] SH rest vectors -> ([P, D] palette, [N] labels), P <= 65536 (16-bit labels).

    Up to 65536 distinct vectors are kept exactly. Beyond that, two-level k-means: `PALETTE_GROUPS`
    coarse groups, each split into entries in proportion to its size, ~`PALETTE_KMEANS` in all
    (splat-transform runs a flat 64k-entry k-means on a GPU; this keeps a CPU export of ~100k
    splats to seconds).
    """
    uniq, inverse = np.unique(rest, axis=0, return_inverse=True)
    if len(uniq) <= 65536:
        return uniq, inverse.ravel()
    rng = np.random.default_rng(0)
    x = rest.astype(np.float32)
    _, coarse = _lloyd(x, PALETTE_GROUPS, iterations, rng)
    palette, labels = [], np.zeros(len(x), np.int64)
    base = 0
    for j in range(PALETTE_GROUPS):
        members = np.flatnonzero(coarse == j)
        if not len(members):
            continue
        k = int(min(len(members), max(1, round(PALETTE_KMEANS * len(members) / len(x)))))
        cent, sub = _lloyd(x[members], k, iterations, rng)
        palette.append(cent)
        labels[members] = base + sub
        base += k
    return np.concatenate(palette), labels


def encode_sog(g: GaussianSet, iterations: int = 2) -> dict[str, bytes]:
    """SOG files (name -> bytes: meta.json and the WebP images) for `g` in the file frame."""
    g.validate()
    n = len(g)
    if n == 0:
        raise InputError("A SOG file needs at least one splat.")
    width = int(math.ceil(math.sqrt(n) / 4) * 4)
    height = int(math.ceil(n / width / 4) * 4)
    if width > 16383 or height > 16383:
        raise InputError(f"SOG images are limited to 16383 texels a side; {n:,} splats do not fit.")

    def sheet(rgba: np.ndarray) -> bytes:
        img = np.zeros((width * height, 4), np.uint8)
        img[:n] = rgba
        return _encode_webp(img.reshape(height, width, 4))

    files: dict[str, bytes] = {}
    t = np.sign(g.means.astype(np.float64)) * np.log1p(np.abs(g.means.astype(np.float64)))
    mins, maxs = t.min(0), t.max(0)
    span = np.where(maxs > mins, maxs - mins, 1.0)
    q16 = np.round((t - mins) / span * 65535.0).astype(np.int64)
    alpha = np.full((n, 1), 255, np.int64)
    files["means_l.webp"] = sheet(np.concatenate([q16 & 255, alpha], 1))
    files["means_u.webp"] = sheet(np.concatenate([q16 >> 8, alpha], 1))

    q = g.quats.astype(np.float64)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    largest = np.argmax(np.abs(q), axis=1)
    q *= np.where(q[np.arange(n), largest] < 0, -1.0, 1.0)[:, None] * _SQRT2
    others = np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])[largest]
    abc = q[np.arange(n)[:, None], others]
    qpx = np.clip(np.round(255.0 * (abc * 0.5 + 0.5)), 0, 255).astype(np.int64)
    files["quats.webp"] = sheet(np.concatenate([qpx, (252 + largest)[:, None]], 1))

    log_scales = np.log(np.maximum(g.scales.astype(np.float64), 1e-30))
    scode, slab = kmeans_1d(log_scales, 256)
    files["scales.webp"] = sheet(np.concatenate([slab.reshape(n, 3), alpha], 1))
    ccode, clab = kmeans_1d(g.sh[:, 0], 256)
    opac = np.clip(np.round(g.opacities.astype(np.float64) * 255.0), 0, 255).astype(np.int64)
    files["sh0.webp"] = sheet(np.concatenate([clab.reshape(n, 3), opac[:, None]], 1))
    meta: dict = {"version": 2, "asset": {"generator": "avatar-studio"}, "count": n,
                  "means": {"mins": mins.tolist(), "maxs": maxs.tolist(), "files": _FILES["means"]},
                  "scales": {"codebook": scode.tolist(), "files": _FILES["scales"]},
                  "quats": {"files": _FILES["quats"]},
                  "sh0": {"codebook": ccode.tolist(), "files": _FILES["sh0"]}}
    coeffs = g.sh.shape[1] - 1
    if coeffs:
        # palette rows are channel-major like PLY f_rest: [R of each coefficient, then G, then B]
        rest = g.sh[:, 1:].transpose(0, 2, 1).reshape(n, -1)
        palette, labels = _palette(rest, iterations)
        pcode, plab = kmeans_1d(palette, 256)
        plab = plab.reshape(len(palette), 3, coeffs).transpose(0, 2, 1)  # [P, coeffs, rgb]
        rows = int(math.ceil(len(palette) / 64))
        cen = np.zeros((rows * 64, coeffs, 4), np.uint8)
        cen[:len(palette), :, :3] = plab
        cen[:, :, 3] = 255
        files["shN_centroids.webp"] = _encode_webp(cen.reshape(rows, 64 * coeffs, 4))
        lab = np.stack([labels & 255, labels >> 8, np.zeros(n, np.int64), np.full(n, 255)], 1)
        files["shN_labels.webp"] = sheet(lab)
        meta["shN"] = {"count": int(len(palette)), "bands": g.sh_degree, "codebook": pcode.tolist(),
                       "files": _FILES["shN"]}
    files["meta.json"] = json.dumps(meta, separators=(",", ":")).encode()
    return files


def write_sog(path: str | Path, g: GaussianSet, bundle: bool | None = None, iterations: int = 2) -> Path:
    """Write `g` (file frame) as SOG: a `.sog` zip, or with a path named meta.json (or `bundle=False`)
    the meta.json and its images into that folder. Atomic per file; the zip is written whole."""
    path = Path(path)
    if bundle is None:
        bundle = path.name.lower() != "meta.json"
    files = encode_sog(g, iterations)
    if bundle:
        with atomic_path(path) as tmp:
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
                for name, data in files.items():
                    zf.writestr(name, data)
        return path
    folder = path.parent if path.name.lower() == "meta.json" else path
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in sorted(files.items(), key=lambda kv: kv[0] == "meta.json"):  # meta.json last
        write_bytes_atomically(folder / name, data)
    return folder / "meta.json"
