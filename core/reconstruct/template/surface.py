"""Surface sampling and surfel-like Gaussians on a triangle mesh (shared by the template
reconstructor and the synthetic ground-truth avatars)."""
from __future__ import annotations

import numpy as np

from ...gaussians import GaussianSet
from ...rotations import normalize_quats
from ...skinning import dense_to_sparse_weights


def face_areas_normals(verts: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[V,3] vertices, [F,3] faces -> ([F] areas, [F,3] unit normals)."""
    a, b, c = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    cr = np.cross(b - a, c - a)
    norm = np.linalg.norm(cr, axis=1)
    return 0.5 * norm, cr / np.maximum(norm, 1e-12)[:, None]


def vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """[V,3] area-weighted unit vertex normals."""
    a, b, c = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    cr = np.cross(b - a, c - a)
    vn = np.zeros_like(verts, dtype=np.float64)
    for k in range(3):
        np.add.at(vn, faces[:, k], cr)
    return (vn / np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def sample_surface(verts: np.ndarray, faces: np.ndarray, n: int, rng: np.random.Generator,
                   face_weight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Spread `n` samples over a mesh in proportion to area (systematic, so counts are even).

    Args:
        verts: [V,3]; faces: [F,3]; face_weight: optional [F] density multiplier.
    Returns:
        face_idx: [n] int64; bary: [n,3] float32 barycentric coordinates.
    """
    area, _ = face_areas_normals(verts, faces)
    w = area * (1.0 if face_weight is None else face_weight)
    cdf = np.cumsum(w) / w.sum()
    u = (np.arange(n) + rng.random()) / n
    face_idx = np.minimum(np.searchsorted(cdf, u), len(faces) - 1)
    r1, r2 = rng.random(n), rng.random(n)
    s = np.sqrt(r1)
    bary = np.stack([1 - s, s * (1 - r2), s * r2], axis=1).astype(np.float32)
    return face_idx.astype(np.int64), bary


def interpolate(values: np.ndarray, faces: np.ndarray, face_idx: np.ndarray, bary: np.ndarray) -> np.ndarray:
    """Barycentric interpolation of per-vertex [V,...] values at samples -> [n,...]."""
    tri = values[faces[face_idx]]  # [n,3,...]
    return np.einsum("nk,nk...->n...", bary, tri).astype(np.float32)


def quats_from_normals(normals: np.ndarray) -> np.ndarray:
    """[N,3] unit normals -> [N,4] wxyz quaternions turning local +z onto each normal."""
    z = np.array([0.0, 0.0, 1.0])
    n = normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    axis = np.cross(z, n)
    cos = np.clip(n @ z, -1.0, 1.0)
    # Half-angle form: q = (1 + cos, axis) normalised; the antipodal case rotates about x.
    q = np.concatenate([(1.0 + cos)[:, None], axis], axis=1)
    flip = cos < -0.9999
    q[flip] = [0.0, 1.0, 0.0, 0.0]
    return normalize_quats(q)


def surfels(points: np.ndarray, normals: np.ndarray, rgb: np.ndarray, radius: float | np.ndarray,
            thickness: float = 0.15, opacity: float = 0.95) -> GaussianSet:
    """Flat Gaussians on a surface.

    Args:
        points: [N,3]; normals: [N,3]; rgb: [N,3] in 0..1.
        radius: in-plane standard deviation (scalar or [N]); thickness: normal-axis sd / radius.
    """
    r = np.broadcast_to(np.asarray(radius, np.float32), (points.shape[0],))
    scales = np.stack([r, r, r * thickness], axis=1)
    return GaussianSet.from_rgb(points, quats_from_normals(normals), scales,
                                np.full(points.shape[0], opacity, np.float32), np.clip(rgb, 0, 1))


def sparse_weights_at(weights: np.ndarray, faces: np.ndarray, face_idx: np.ndarray, bary: np.ndarray,
                      k: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Skinning weights of samples: [V,J] dense vertex weights -> ([n,k] indices, [n,k] weights)."""
    return dense_to_sparse_weights(interpolate(weights, faces, face_idx, bary), k)


def local_spacing(points: np.ndarray, k: int = 6) -> np.ndarray:
    """[N] mean distance of each point to its k nearest neighbours (sparse spots get bigger
    splats, so randomly sampled surfaces render without pinholes)."""
    from scipy.spatial import cKDTree
    d, _ = cKDTree(points).query(points, k=k + 1)
    return d[:, 1:].mean(1).astype(np.float32)


def mean_spacing(total_area: float, n: int) -> float:
    """Typical distance between n samples spread over `total_area` square metres."""
    return float(np.sqrt(total_area / max(n, 1)))
