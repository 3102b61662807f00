"""Rotation conversions and quaternion maths in numpy, batched over leading axes (their one home).

Axis-angle vectors are [...,3] (angle = norm, radians); matrices [...,3,3]; quaternions wxyz [...,4].
"""
from __future__ import annotations

import numpy as np


__all__ = ["aa_to_rotmat", "rotmat_to_aa", "aa_to_quat", "quat_to_aa", "quat_slerp",
           "quat_multiply", "quat_to_rotmat", "rotmat_to_quat", "normalize_quats", "euler_to_rotmat",
           "rotation_between"]


def normalize_quats(q: np.ndarray) -> np.ndarray:
    """[N,4] quaternions -> unit quaternions with w >= 0; zero rows become identity."""
    q = np.asarray(q, np.float32)
    n = np.linalg.norm(q, axis=-1, keepdims=True)
    out = np.where(n > 1e-12, q / np.maximum(n, 1e-12), np.array([1, 0, 0, 0], np.float32))
    return np.where(out[..., :1] < 0, -out, out).astype(np.float32)


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a*b of [...,4] wxyz quaternions."""
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack([
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ], axis=-1)


def quat_to_rotmat(q: np.ndarray) -> np.ndarray:
    """[...,4] wxyz (any norm) -> [...,3,3] rotation matrices."""
    q = np.asarray(q, np.float64)
    q = q / np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), 1e-12)
    w, x, y, z = np.moveaxis(q, -1, 0)
    m = np.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], axis=-1)
    return m.reshape(q.shape[:-1] + (3, 3)).astype(np.float32)


def rotmat_to_quat(m: np.ndarray) -> np.ndarray:
    """[...,3,3] rotation matrices -> [...,4] unit wxyz quaternions (w >= 0)."""
    m = np.asarray(m, np.float64)
    shape = m.shape[:-2]
    m = m.reshape(-1, 3, 3)
    t = np.trace(m, axis1=1, axis2=2)
    q = np.empty((m.shape[0], 4))
    # Pick the numerically largest component per row (Shepperd's method).
    cand = np.stack([t, m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]], axis=1)
    k = np.argmax(cand, axis=1)
    for case in range(4):
        s = k == case
        if not np.any(s):
            continue
        r = m[s]
        if case == 0:
            w4 = np.sqrt(np.maximum(1 + t[s], 1e-12)) * 2
            q[s] = np.stack([w4 / 4, (r[:, 2, 1] - r[:, 1, 2]) / w4, (r[:, 0, 2] - r[:, 2, 0]) / w4, (r[:, 1, 0] - r[:, 0, 1]) / w4], 1)
        elif case == 1:
            x4 = np.sqrt(np.maximum(1 + r[:, 0, 0] - r[:, 1, 1] - r[:, 2, 2], 1e-12)) * 2
            q[s] = np.stack([(r[:, 2, 1] - r[:, 1, 2]) / x4, x4 / 4, (r[:, 0, 1] + r[:, 1, 0]) / x4, (r[:, 0, 2] + r[:, 2, 0]) / x4], 1)
        elif case == 2:
            y4 = np.sqrt(np.maximum(1 + r[:, 1, 1] - r[:, 0, 0] - r[:, 2, 2], 1e-12)) * 2
            q[s] = np.stack([(r[:, 0, 2] - r[:, 2, 0]) / y4, (r[:, 0, 1] + r[:, 1, 0]) / y4, y4 / 4, (r[:, 1, 2] + r[:, 2, 1]) / y4], 1)
        else:
            z4 = np.sqrt(np.maximum(1 + r[:, 2, 2] - r[:, 0, 0] - r[:, 1, 1], 1e-12)) * 2
            q[s] = np.stack([(r[:, 1, 0] - r[:, 0, 1]) / z4, (r[:, 0, 2] + r[:, 2, 0]) / z4, (r[:, 1, 2] + r[:, 2, 1]) / z4, z4 / 4], 1)
    return normalize_quats(q.reshape(shape + (4,)))


def aa_to_rotmat(aa: np.ndarray) -> np.ndarray:
    """[...,3] axis-angle -> [...,3,3] (Rodrigues)."""
    aa = np.asarray(aa, np.float64)
    theta = np.linalg.norm(aa, axis=-1, keepdims=True)
    axis = aa / np.maximum(theta, 1e-12)
    x, y, z = np.moveaxis(axis, -1, 0)
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(aa.shape[:-1] + (3, 3))
    s, c = np.sin(theta)[..., None], np.cos(theta)[..., None]
    eye = np.broadcast_to(np.eye(3), k.shape)
    return eye + s * k + (1 - c) * (k @ k)


def aa_to_quat(aa: np.ndarray) -> np.ndarray:
    """[...,3] axis-angle -> [...,4] wxyz unit quaternion."""
    aa = np.asarray(aa, np.float64)
    theta = np.linalg.norm(aa, axis=-1, keepdims=True)
    half = theta / 2
    # sin(x/2)/x -> 1/2 as x -> 0
    k = np.where(theta > 1e-8, np.sin(half) / np.maximum(theta, 1e-12), 0.5 - theta ** 2 / 48)
    return np.concatenate([np.cos(half), aa * k], axis=-1)


def quat_to_aa(q: np.ndarray) -> np.ndarray:
    """[...,4] wxyz -> [...,3] axis-angle with angle in [0, pi]."""
    q = np.asarray(q, np.float64)
    q = q / np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), 1e-12)
    q = np.where(q[..., :1] < 0, -q, q)
    v = q[..., 1:]
    s = np.linalg.norm(v, axis=-1, keepdims=True)
    angle = 2 * np.arctan2(s, q[..., :1])
    k = np.where(s > 1e-8, angle / np.maximum(s, 1e-12), 2.0 + (s ** 2) / 3)
    return v * k


def rotmat_to_aa(m: np.ndarray) -> np.ndarray:
    """[...,3,3] -> [...,3] axis-angle."""
    return quat_to_aa(rotmat_to_quat(m).astype(np.float64))


def quat_slerp(q0: np.ndarray, q1: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    """Spherical interpolation of [...,4] quaternions; t broadcasts against [...]."""
    q0 = np.asarray(q0, np.float64)
    q1 = np.asarray(q1, np.float64)
    t = np.asarray(t, np.float64)[..., None] if np.ndim(t) else float(t)
    dot = np.sum(q0 * q1, axis=-1, keepdims=True)
    q1 = np.where(dot < 0, -q1, q1)
    dot = np.abs(dot)
    theta = np.arccos(np.clip(dot, -1, 1))
    sin = np.sin(theta)
    lin = dot > 0.9995
    w0 = np.where(lin, 1 - t, np.sin((1 - t) * theta) / np.where(lin, 1, sin))
    w1 = np.where(lin, t, np.sin(t * theta) / np.where(lin, 1, sin))
    out = w0 * q0 + w1 * q1
    return out / np.linalg.norm(out, axis=-1, keepdims=True)


def euler_to_rotmat(angles_deg: np.ndarray, order: str) -> np.ndarray:
    """[...,len(order)] intrinsic Euler angles in degrees -> [...,3,3].

    `order` like "ZXY" means R = Rz(a0) @ Rx(a1) @ Ry(a2) (the BVH convention).
    """
    a = np.radians(np.asarray(angles_deg, np.float64))
    out = np.broadcast_to(np.eye(3), a.shape[:-1] + (3, 3)).copy()
    for i, axis in enumerate(order.upper()):
        vec = np.zeros(a.shape[:-1] + (3,))
        vec[..., "XYZ".index(axis)] = a[..., i]
        out = out @ aa_to_rotmat(vec)
    return out


def rotmat_to_euler_xyz(m: np.ndarray) -> np.ndarray:
    """[3,3] -> [3] intrinsic Euler angles in degrees with m = Rx(a) @ Ry(b) @ Rz(c) (the inverse of
    `euler_to_rotmat(..., "XYZ")`); at b = ±90° (gimbal lock) c is taken as 0."""
    m = np.asarray(m, np.float64)
    b = np.arcsin(np.clip(m[0, 2], -1.0, 1.0))
    if abs(m[0, 2]) < 1 - 1e-9:
        a, c = np.arctan2(-m[1, 2], m[2, 2]), np.arctan2(-m[0, 1], m[0, 0])
    else:
        a, c = np.arctan2(m[2, 1], m[1, 1]), 0.0
    return np.degrees([a, b, c])


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[...,3,3] shortest-arc rotation taking direction a onto direction b."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    a = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-12)
    axis = np.cross(a, b)
    s = np.linalg.norm(axis, axis=-1, keepdims=True)
    c = np.sum(a * b, axis=-1, keepdims=True)
    angle = np.arctan2(s, c)
    # Opposite vectors: rotate pi about any axis orthogonal to a.
    ortho = np.cross(a, np.where(np.abs(a[..., :1]) < 0.9, [1.0, 0, 0], [0, 1.0, 0]))
    ortho /= np.maximum(np.linalg.norm(ortho, axis=-1, keepdims=True), 1e-12)
    axis = np.where(s > 1e-9, axis / np.maximum(s, 1e-12), np.where(c < 0, ortho, 0.0))
    return aa_to_rotmat(axis * angle)
