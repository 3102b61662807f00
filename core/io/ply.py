"""INRIA 3DGS PLY read/write (SPECS §2), by property name, tolerant of common variants.

Read accepts: no normals, no f_rest, SH degree 0..3, extra unknown properties, any numeric types,
binary or ASCII. Write emits the standard full layout (all float32, in INRIA order).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from ..gaussians import GaussianSet, sh_degree_from_count
from .atomic import atomic_path

MAX_PLY_BYTES = 8 << 30  # refuse absurd files before plyfile tries to map them


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60, 60)))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def read_ply_element(path: str | Path):
    """Open a PLY and return (PlyData, vertex element); raises InputError on anything unreadable."""
    from plyfile import PlyData
    path = Path(path)
    if not path.is_file():
        raise InputError(f"File not found: {path}")
    if path.stat().st_size > MAX_PLY_BYTES:
        raise InputError(f"{path.name} is larger than 8 GiB; refusing to load it.")
    try:
        ply = PlyData.read(str(path))
    except Exception as err:  # plyfile raises many types on corrupt input
        from .safe import short_error
        raise InputError(f"{path.name} is not a readable PLY file ({short_error(err)}).") from err
    names = [e.name for e in ply.elements]
    if "vertex" not in names:
        raise InputError(f"{path.name} has no 'vertex' element, so it holds no Gaussians.")
    return ply, ply["vertex"]


def gaussians_from_vertex(vertex, source: str = "PLY") -> GaussianSet:
    """Decode a 3DGS `vertex` element (plyfile) into a GaussianSet."""
    props = {p.name for p in vertex.properties}
    n = vertex.count

    def col(name: str) -> np.ndarray:
        try:
            return np.asarray(vertex[name], np.float32)
        except (ValueError, KeyError) as err:
            from .safe import short_error
            raise InputError(f"{source}: property '{name}' cannot be read ({short_error(err)}).") from err

    missing = [p for p in ("x", "y", "z") if p not in props]
    if missing:
        raise InputError(f"{source} has no {', '.join(missing)} coordinates; it is not a point or Gaussian file.")
    means = np.stack([col("x"), col("y"), col("z")], axis=1)
    if {"scale_0", "scale_1", "scale_2"} <= props:
        scales = np.exp(np.clip(np.stack([col(f"scale_{i}") for i in range(3)], 1), -30, 30))
    else:
        raise InputError(f"{source} has no scale_0..2 properties; it is a plain point cloud, not 3D Gaussians.")
    if {"rot_0", "rot_1", "rot_2", "rot_3"} <= props:
        quats = np.stack([col(f"rot_{i}") for i in range(4)], 1)
    else:
        quats = np.tile(np.array([1, 0, 0, 0], np.float32), (n, 1))
    opac = _sigmoid(col("opacity")) if "opacity" in props else np.ones(n, np.float32)
    if {"f_dc_0", "f_dc_1", "f_dc_2"} <= props:
        dc = np.stack([col(f"f_dc_{i}") for i in range(3)], 1)
    elif {"red", "green", "blue"} <= props:
        rgb = np.stack([col(c) for c in ("red", "green", "blue")], 1)
        rgb = rgb / 255.0 if rgb.max(initial=0) > 1.0 else rgb
        dc = (rgb - 0.5) / 0.28209479177387814
    else:
        dc = np.zeros((n, 3), np.float32)
    found_rest = {p for p in props if p.startswith("f_rest_")}
    rest_names = [f"f_rest_{i}" for i in range(len(found_rest))]
    if found_rest != set(rest_names):  # checked by name, so a damaged name is refused, not parsed
        raise InputError(f"{source}: SH properties must be named f_rest_0, f_rest_1, ... without gaps.")
    n_rest = len(rest_names)
    if n_rest % 3:
        raise InputError(f"{source} has {n_rest} f_rest properties; expected a multiple of 3.")
    k = 1 + n_rest // 3
    sh_degree_from_count(k)
    sh = np.zeros((n, k, 3), np.float32)
    sh[:, 0] = dc
    if n_rest:
        rest = np.stack([col(nm) for nm in rest_names], 1).reshape(n, 3, k - 1)  # channel-major
        sh[:, 1:] = rest.transpose(0, 2, 1)
    from ..gaussians import normalize_quats
    return GaussianSet(means, normalize_quats(quats), scales, opac, sh)


def read_ply(path: str | Path) -> GaussianSet:
    """Read a 3DGS PLY into a GaussianSet."""
    _, vertex = read_ply_element(path)
    return gaussians_from_vertex(vertex, Path(path).name)


def gaussian_vertex_array(g: GaussianSet, extra: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """A structured array in INRIA 3DGS order (plus `extra` float32 columns appended)."""
    n, k = len(g), g.sh.shape[1]
    names = ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
    names += [f"f_rest_{i}" for i in range(3 * (k - 1))]
    names += ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
    extra = extra or {}
    arr = np.empty(n, dtype=[(nm, "f4") for nm in names + list(extra)])
    arr["x"], arr["y"], arr["z"] = g.means.T
    for nm in ("nx", "ny", "nz"):
        arr[nm] = 0.0
    for i in range(3):
        arr[f"f_dc_{i}"] = g.sh[:, 0, i]
    if k > 1:
        rest = g.sh[:, 1:].transpose(0, 2, 1).reshape(n, -1)  # channel-major
        for i in range(rest.shape[1]):
            arr[f"f_rest_{i}"] = rest[:, i]
    arr["opacity"] = _logit(g.opacities)
    logs = np.log(np.maximum(g.scales, 1e-12))
    for i in range(3):
        arr[f"scale_{i}"] = logs[:, i]
    for i in range(4):
        arr[f"rot_{i}"] = g.quats[:, i]
    for nm, col in extra.items():
        arr[nm] = np.asarray(col, np.float32)
    return arr


def write_ply(path: str | Path, g: GaussianSet, *, extra: dict[str, np.ndarray] | None = None,
              comments: list[str] | None = None) -> Path:
    """Write a standard binary little-endian 3DGS PLY, atomically."""
    from plyfile import PlyData, PlyElement
    g.validate()
    el = PlyElement.describe(gaussian_vertex_array(g, extra), "vertex")
    path = Path(path)
    with atomic_path(path) as tmp:
        PlyData([el], text=False, byte_order="<", comments=list(comments or [])).write(str(tmp))
    return path
