"""The avatar file: one standard 3DGS PLY that also carries the rig.

Encoding (documented in README):
- the vertex element holds the canonical Gaussians in the INRIA layout, so any 3DGS viewer opens it;
- extra float32 properties `skin_j0..skin_j{K-1}` (joint index) and `skin_w0..` (weight),
  and optionally `rot_locked` (0/1), follow the standard ones — viewers ignore unknown properties;
- header comments `avatar_studio <key> <value>` carry the format version, betas, gender and
  body model id.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..avatar import Avatar, Rig
from ..errors import InputError
from ..gaussians import GaussianSet
from .orientation import frame_for_up, to_studio
from .ply import gaussians_from_vertex, ply_file_frame, read_ply_element, write_ply

FORMAT_VERSION = 1
_TAG = "avatar_studio"


def write_avatar(path: str | Path, avatar: Avatar) -> Path:
    """Write `avatar` as a rigged 3DGS PLY, atomically."""
    rig = avatar.rig
    extra: dict[str, np.ndarray] = {}
    for k in range(rig.skin_indices.shape[1]):
        extra[f"skin_j{k}"] = rig.skin_indices[:, k].astype(np.float32)
    for k in range(rig.skin_weights.shape[1]):
        extra[f"skin_w{k}"] = rig.skin_weights[:, k]
    if rig.rotation_locked is not None:
        extra["rot_locked"] = rig.rotation_locked.astype(np.float32)
    comments = [f"{_TAG} format {FORMAT_VERSION}",
                f"{_TAG} betas {' '.join(f'{b:.7g}' for b in rig.betas)}",
                f"{_TAG} gender {rig.gender}",
                f"{_TAG} body_model {rig.body_model}",
                f"{_TAG} name {avatar.name.replace(chr(10), ' ')}"]
    return write_ply(path, avatar.gaussians, extra=extra, comments=comments, frame="y_up")


def _header(comments: list[str]) -> dict[str, str]:
    out = {}
    for c in comments:
        parts = c.split(" ", 2)
        if len(parts) >= 2 and parts[0] == _TAG:
            out[parts[1]] = parts[2] if len(parts) > 2 else ""
    return out


def read_avatar_or_gaussians(path: str | Path, up: str | None = None,
                             sh_order: str | None = None) -> Avatar | GaussianSet:
    """Read a PLY; return an Avatar if it carries a rig, else plain Gaussians (studio frame;
    `up` overrides the file's frame, see ply.ply_file_frame)."""
    path = Path(path)
    _require_ply(path)
    ply, vertex = read_ply_element(path)
    frame = frame_for_up(up, ply_file_frame(list(ply.comments)))
    gaussians = to_studio(gaussians_from_vertex(vertex, path.name, sh_order), frame)
    header = _header(list(ply.comments))
    props = {p.name for p in vertex.properties}
    if "skin_j0" not in props:
        return gaussians
    if len(gaussians) != vertex.count:
        raise InputError(f"{path.name}: an avatar's splats must all be finite (its rig is per splat); "
                         "the file is damaged.")
    k = 0
    while f"skin_j{k}" in props and f"skin_w{k}" in props:
        k += 1
    try:
        idx = np.stack([np.asarray(vertex[f"skin_j{i}"]) for i in range(k)], 1)
        w = np.stack([np.asarray(vertex[f"skin_w{i}"], np.float32) for i in range(k)], 1)
        betas = np.array([float(x) for x in header.get("betas", "").split()], np.float64)
    except (ValueError, OverflowError) as err:
        from .safe import short_error
        raise InputError(f"{path.name}: the avatar's rig data is corrupt ({short_error(err, 80)}).") from err
    with np.errstate(over="ignore"):  # float32 overflow shows up as inf, refused just below
        betas = betas.astype(np.float32)
    if not (np.all(np.isfinite(betas)) and np.all(np.isfinite(w))):
        raise InputError(f"{path.name}: the avatar's shape (betas) or skin weights hold NaN or infinite values.")
    if not np.all(np.isfinite(idx)) or np.any(np.abs(idx - np.round(idx)) > 1e-3):
        raise InputError(f"{path.name}: the avatar's skin joint indices are not whole numbers.")
    locked = np.asarray(vertex["rot_locked"]) > 0.5 if "rot_locked" in props else None
    rig = Rig(np.round(idx).astype(np.int32), w, betas if betas.size else np.zeros(10, np.float32),
              header.get("gender", "neutral"), header.get("body_model", "standin"), locked)
    return Avatar(gaussians, rig, header.get("name", path.stem))


def _require_ply(path: Path) -> None:
    """Refuse, with a clear message, a file that is not a PLY (an avatar is always one)."""
    from .formats import format_info, sniff_path
    fmt = sniff_path(path)
    if fmt != "ply":
        raise InputError(f"{path.name} is a {format_info(fmt).label} file: it holds Gaussians but no rig, so "
                         "it cannot be animated. Avatars are .ply files written by `reconstruct`.")


def read_avatar(path: str | Path, up: str | None = None) -> Avatar:
    """Read an avatar file; raises InputError for a PLY without a rig."""
    out = read_avatar_or_gaussians(path, up)
    if not isinstance(out, Avatar):
        raise InputError(f"{Path(path).name} holds Gaussians but no rig, so it cannot be animated. "
                         "Reconstruct an avatar from a photo first.")
    return out
