"""Host-side preparation shared by the splat back-ends: bone transforms and translations as numpy,
top-4 skinning, and the near-to-far depth sort."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError

MAX_JOINTS = 256            # skin indices are packed 8 bits each (GL)


def as_numpy_transforms(transforms: Any) -> np.ndarray:
    """[J,4,4] or [1,J,4,4] torch/numpy -> [J,4,4] float32 numpy."""
    if hasattr(transforms, "detach"):
        transforms = transforms.detach().cpu().numpy()
    t = np.asarray(transforms, np.float32)
    if t.ndim == 4 and t.shape[0] == 1:
        t = t[0]
    if t.ndim != 3 or t.shape[1:] != (4, 4):
        raise InputError(f"Bone transforms have shape {t.shape}, expected (J, 4, 4).")
    return np.ascontiguousarray(t)


def as_numpy_vec3(v: Any) -> np.ndarray:
    """None / [3] / [1,3] torch or numpy -> [3] float32."""
    if v is None:
        return np.zeros(3, np.float32)
    if hasattr(v, "detach"):
        v = v.detach().cpu().numpy()
    return np.asarray(v, np.float32).reshape(3)


def avatar_arrays(source: Any, skin_indices: np.ndarray | None = None, skin_weights: np.ndarray | None = None,
                  rotation_locked: np.ndarray | None = None) -> tuple[Any, Any, Any, Any]:
    """What `set_avatar` uploads: for an `Avatar`, its canonical Gaussians and rig (skin indices, weights,
    rotation locks); for a GaussianSet, the set and the skinning given (None: static)."""
    from ..avatar import Avatar
    if isinstance(source, Avatar):
        rig = source.rig
        return source.gaussians, rig.skin_indices, rig.skin_weights, rig.rotation_locked
    return source, skin_indices, skin_weights, rotation_locked


def top4_skin(skin_indices: np.ndarray, skin_weights: np.ndarray,
              max_joints: int = MAX_JOINTS) -> tuple[np.ndarray, np.ndarray]:
    """[N,K] indices / weights -> ([N,4] int64 joint ids, [N,4] float32 weights).

    K < 4 is padded with zero weights; K > 4 keeps the 4 largest weights and renormalises them.
    """
    idx = np.asarray(skin_indices, np.int64)
    w = np.asarray(skin_weights, np.float32)
    if idx.shape != w.shape or idx.ndim != 2:
        raise InputError(f"Skin indices {idx.shape} and weights {w.shape} must both be [N,K].")
    if idx.size and (idx.min() < 0 or idx.max() >= max_joints):
        raise InputError(f"Skin indices must lie in 0..{max_joints - 1}.")
    if not np.isfinite(w).all():
        raise InputError("Skin weights contain NaN or infinite values.")
    if idx.shape[1] > 4:
        top = np.argsort(-w, axis=1)[:, :4]
        idx, w = np.take_along_axis(idx, top, 1), np.take_along_axis(w, top, 1)
        w = w / np.maximum(w.sum(1, keepdims=True), 1e-12)
    pad = 4 - idx.shape[1]
    return np.pad(idx, ((0, 0), (0, pad))), np.ascontiguousarray(np.pad(w, ((0, 0), (0, pad))), np.float32)


def pack_skin(skin_indices: np.ndarray, skin_weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[N,K] indices / weights -> ([N] uint32 with 4 joint ids of 8 bits, [N,4] float32 weights)
    (the top 4, as `top4_skin`)."""
    idx, w = top4_skin(skin_indices, skin_weights)
    packed = idx[:, 0] | (idx[:, 1] << 8) | (idx[:, 2] << 16) | (idx[:, 3] << 24)
    return packed.astype(np.uint32), w


def sort_near_to_far(z: np.ndarray, bits: int = 16) -> np.ndarray:
    """[M] depths (> 0) -> [M] permutation ordering them near to far.

    bits=16 quantises z over its own range and uses numpy's radix sort (stable argsort on uint16);
    bits=32 sorts the exact float bits with two 16-bit radix passes.
    """
    if z.size == 0:
        return np.zeros(0, np.int64)
    if bits == 16:
        lo, hi = float(z.min()), float(z.max())
        scale = 65535.0 / (hi - lo) if hi > lo else 0.0
        key = ((z - lo) * scale).astype(np.uint16)
        return np.argsort(key, kind="stable")
    key = np.asarray(z, np.float32).view(np.uint32)  # positive floats sort like their bit patterns
    order = np.argsort((key & 0xFFFF).astype(np.uint16), kind="stable")
    return order[np.argsort((key[order] >> 16).astype(np.uint16), kind="stable")]
