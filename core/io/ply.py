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
from .orientation import FRAME_TO_STUDIO, frame_for_up, from_studio, to_studio

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


SH_ORDERS = ("channel", "coeff")


def _rest_order_fits(rest: np.ndarray) -> tuple[float, float]:
    """How well the f_rest columns [N, 3*(K-1)] fit each order: the mean correlation between the
    colour channels of one coefficient (view-dependent colour is mostly brightness, so the right
    order pairs strongly correlated columns). Returns (channel-major fit, coefficient-major fit)."""
    n, m = rest.shape
    per = m // 3

    def fit(cols: np.ndarray) -> float:  # cols [N, 3, per]: channel c of coefficient j
        out = []
        for j in range(per):
            c = np.corrcoef(cols[:, :, j].T)
            out.append(np.nanmean([c[0, 1], c[0, 2], c[1, 2]]))
        return float(np.nanmean(out)) if out else 0.0

    with np.errstate(invalid="ignore", divide="ignore"):
        return fit(rest.reshape(n, 3, per)), fit(rest.reshape(n, per, 3).transpose(0, 2, 1))


def gaussians_from_vertex(vertex, source: str = "PLY", sh_order: str | None = None) -> GaussianSet:
    """Decode a 3DGS `vertex` element (plyfile) into a GaussianSet (file frame).

    `sh_order`: "channel" (INRIA: all R coefficients, then G, then B) or "coeff" (R, G, B of each
    coefficient in turn, as some writers such as LHM's without `gs_use_rgb` do). None reads the INRIA
    order and notes a warning when the other order fits the data clearly better.
    """
    if sh_order not in (None, *SH_ORDERS):
        raise InputError(f"The SH order must be one of {', '.join(SH_ORDERS)}; got '{str(sh_order)[:20]}'.")
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
        logs = np.stack([col(f"scale_{i}") for i in range(3)], 1)
        scales = np.where(np.isfinite(logs), np.exp(np.clip(logs, -30, 30)), np.nan)  # inf stays non-finite
    else:
        raise InputError(f"{source} has no scale_0..2 properties; it is a mesh or a plain point cloud, "
                         "not 3D Gaussians.")
    if {"rot_0", "rot_1", "rot_2", "rot_3"} <= props:
        quats = np.stack([col(f"rot_{i}") for i in range(4)], 1)
    else:
        quats = np.tile(np.array([1, 0, 0, 0], np.float32), (n, 1))
    if "opacity" in props:
        logit = col("opacity")
        opac = np.where(np.isfinite(logit), _sigmoid(logit), np.nan)
    else:
        opac = np.ones(n, np.float32)
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
        flat = np.stack([col(nm) for nm in rest_names], 1)
        order = sh_order or "channel"
        if sh_order is None and n >= 64 and np.isfinite(flat).all() and flat.std() > 0:
            channel_fit, coeff_fit = _rest_order_fits(flat)
            if coeff_fit > channel_fit + 0.2:
                from .notes import note
                note(f"{source}: the f_rest order cannot be known for sure; it was read in INRIA's channel-major "
                     f"order, but the coefficient-major order fits the colours better ({coeff_fit:.2f} vs "
                     f"{channel_fit:.2f}); pass --sh-order coeff if the view-dependent colours look wrong")
        if order == "channel":
            sh[:, 1:] = flat.reshape(n, 3, k - 1).transpose(0, 2, 1)
        else:
            sh[:, 1:] = flat.reshape(n, k - 1, 3)
    from .notes import finite_gaussians
    return finite_gaussians(source, means, quats, scales, opac, sh)


FRAME_TAG = "avatar_studio frame"  # header comment naming the frame our writer stored


def ply_file_frame(comments: list[str]) -> str:
    """The frame a PLY's coordinates are in (see orientation.py).

    Our writer names it in a `avatar_studio frame <name>` comment; an older avatar file (other
    `avatar_studio` comments, no frame) is y-up; any other PLY is a scene in COLMAP's y-down frame
    (RDF), as SuperSplat and PlayCanvas read it.
    """
    for c in comments:
        if c.startswith(FRAME_TAG + " "):
            name = c[len(FRAME_TAG) + 1:].strip()
            if name in FRAME_TO_STUDIO:
                return name
    return "y_up" if any(c.startswith("avatar_studio ") for c in comments) else "rdf"


def read_ply(path: str | Path, up: str | None = None) -> GaussianSet:
    """Read a 3DGS PLY into a GaussianSet in the studio's frame (`up` overrides the file's frame)."""
    ply, vertex = read_ply_element(path)
    g = gaussians_from_vertex(vertex, Path(path).name)
    return to_studio(g, frame_for_up(up, ply_file_frame(list(ply.comments))))


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
              comments: list[str] | None = None, frame: str = "rdf") -> Path:
    """Write a standard binary little-endian 3DGS PLY, atomically.

    `g` is in the studio's frame; the file stores `frame` ("rdf", what SuperSplat and every scene
    viewer expect, or "y_up" for avatar files) and names it in a header comment.
    """
    from plyfile import PlyData, PlyElement
    g.validate()
    el = PlyElement.describe(gaussian_vertex_array(from_studio(g, frame), extra), "vertex")
    path = Path(path)
    with atomic_path(path) as tmp:
        PlyData([el], text=False, byte_order="<",
                comments=list(comments or []) + [f"{FRAME_TAG} {frame}"]).write(str(tmp))
    return path
