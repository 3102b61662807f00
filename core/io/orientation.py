"""The studio's one orientation convention, and the turns between it and each file format's frame.

The studio is y-up, right-handed, with the front of a subject facing +z (as SMPL-X avatars and
glTF are; Niantic calls this frame RUB: x right, y up, z back of the viewer). Files say or imply
their own frame:

- `y_up`: SPZ (RUB by its spec), glTF (+y up, +z front), and PLYs our writer marks `y_up` (avatars);
- `rdf`: x right, y down, z forward (COLMAP's camera frame). Plain PLY scenes, compressed PLY,
  .splat, .ksplat and SOG, as SuperSplat and PlayCanvas's tools treat them;
- `z_up` / `-z`: some scanners; only by request (`--up z`).

Reading turns a file's frame into ours and writing turns ours into the format's. rdf <-> y_up is a
180° turn about X, (x, y, z) -> (x, -y, -z), which is its own inverse; centres, rotations and the
SH coefficients all turn (`rotate_gaussians`).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..errors import InputError
from ..gaussians import GaussianSet
from ..rotations import normalize_quats, quat_multiply, rotmat_to_quat

# file frame -> 3x3 matrix taking a file point to the studio's y-up frame
FRAME_TO_STUDIO: dict[str, np.ndarray] = {
    "y_up": np.eye(3),
    "rdf": np.diag([1.0, -1.0, -1.0]),                             # 180° about X
    "z_up": np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]]),     # +z -> +y, +y -> -z
    "-z": np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]]),       # -z -> +y
}
# values of the `--up` option (the file's up axis) -> file frame
UP_CHOICES: dict[str, str] = {"y": "y_up", "-y": "rdf", "z": "z_up", "-z": "-z"}

# Signs that a 180° turn about X puts on the SH coefficients of bands 1-3 in the 3DGS order
# (index 1..15). Derived from the basis: y -> -y and z -> -z, so each basis polynomial changes sign
# with the parity of its y and z powers together: band 1 (-y, z, -x) -> (-, -, +); band 2 (xy, yz,
# 3z²-1, xz, x²-y²) -> (-, +, +, -, +); band 3 (y(3x²-y²), xyz, y(4z²-x²-y²), z(2z²-3x²-3y²),
# x(4z²-x²-y²), z(x²-y²), x(x²-3y²)) -> (-, +, -, -, +, -, +). Checked against the general
# least-squares rotation in tests/test_formats_orientation.py.
X_TURN_SH_SIGNS = np.array([1, -1, -1, 1, -1, 1, 1, -1, 1, -1, 1, -1, -1, 1, -1, 1], np.float32)


def frame_for_up(up: str | None, default: str) -> str:
    """The file frame for an `--up` value (`None`/"auto": the format's `default`)."""
    if up in (None, "", "auto"):
        return default
    try:
        return UP_CHOICES[up]
    except KeyError:
        raise InputError(f"--up must be one of auto, {', '.join(UP_CHOICES)}; got '{up[:20]}'.") from None


def sh_basis(dirs: np.ndarray, degree: int) -> np.ndarray:
    """[M,3] unit directions -> [M,(degree+1)^2] real SH basis values in the 3DGS order and signs."""
    d = np.asarray(dirs, np.float64)
    x, y, z = d[:, 0], d[:, 1], d[:, 2]
    cols = [np.full_like(x, 0.28209479177387814)]
    if degree >= 1:
        c1 = 0.4886025119029199
        cols += [-c1 * y, c1 * z, -c1 * x]
    if degree >= 2:
        xx, yy, zz = x * x, y * y, z * z
        cols += [1.0925484305920792 * x * y, -1.0925484305920792 * y * z, 0.31539156525252005 * (2 * zz - xx - yy),
                 -1.0925484305920792 * x * z, 0.5462742152960396 * (xx - yy)]
    if degree >= 3:
        cols += [-0.5900435899266435 * y * (3 * xx - yy), 2.890611442640554 * x * y * z,
                 -0.4570457994644658 * y * (4 * zz - xx - yy), 0.3731763325901154 * z * (2 * zz - 3 * xx - 3 * yy),
                 -0.4570457994644658 * x * (4 * zz - xx - yy), 1.445305721320277 * z * (xx - yy),
                 -0.5900435899266435 * x * (xx - 3 * yy)]
    return np.stack(cols, axis=1)


@lru_cache(maxsize=16)
def _sh_rotation_cached(key: tuple[float, ...], degree: int) -> np.ndarray:
    rot = np.array(key).reshape(3, 3)
    rng = np.random.default_rng(0)
    dirs = rng.normal(size=(256, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    before, after = sh_basis(dirs, degree), sh_basis(dirs @ rot.T, degree)
    # new coefficients c' satisfy Y(R d) c' = Y(d) c for every direction d; bands do not mix
    k = (degree + 1) ** 2
    out = np.zeros((k, k))
    out[0, 0] = 1.0
    for band in range(1, degree + 1):
        s = slice(band * band, (band + 1) ** 2)
        out[s, s] = np.linalg.lstsq(after[:, s], before[:, s], rcond=None)[0]
    return out


def sh_rotation(rot: np.ndarray, degree: int) -> np.ndarray:
    """[K,K] matrix M with new_sh[k] = Σ_j M[k, j] sh[j] for Gaussians turned by the 3x3 rotation `rot`."""
    return _sh_rotation_cached(tuple(np.round(np.asarray(rot, np.float64).ravel(), 12)), degree)


def rotate_gaussians(g: GaussianSet, rot: np.ndarray) -> GaussianSet:
    """`g` turned by the 3x3 rotation matrix `rot` about the origin (centres, rotations, SH)."""
    rot = np.asarray(rot, np.float64)
    if np.allclose(rot, np.eye(3)):
        return g
    means = (g.means.astype(np.float64) @ rot.T).astype(np.float32)
    q_rot = rotmat_to_quat(rot)[None, :].astype(np.float32)
    if np.allclose(np.abs(rot), np.eye(3)):
        # an axis flip: conjugate (q_rot q q_rot^-1), as Niantic's and PlayCanvas's converters do; the
        # same covariance as q_rot q (the flip commutes with the diagonal scales), and local axes stay put
        inverse = q_rot * np.array([1, -1, -1, -1], np.float32)
        quats = normalize_quats(quat_multiply(quat_multiply(q_rot, g.quats), inverse))
    else:
        quats = normalize_quats(quat_multiply(q_rot, g.quats))
    k = g.sh.shape[1]
    if k == 1:
        sh = g.sh.copy()
    elif np.allclose(rot, FRAME_TO_STUDIO["rdf"]):
        sh = g.sh * X_TURN_SH_SIGNS[:k, None]
    else:
        m = sh_rotation(rot, g.sh_degree).astype(np.float32)
        sh = np.einsum("kj,njc->nkc", m, g.sh)
    return GaussianSet(means, quats, g.scales.copy(), g.opacities.copy(), sh)


def to_studio(g: GaussianSet, frame: str) -> GaussianSet:
    """Gaussians read in a file's `frame` -> the studio's y-up frame."""
    return rotate_gaussians(g, FRAME_TO_STUDIO[frame])


def from_studio(g: GaussianSet, frame: str) -> GaussianSet:
    """The studio's Gaussians -> a file's `frame` (for writing)."""
    return rotate_gaussians(g, FRAME_TO_STUDIO[frame].T)


def flip_upside_down(g: GaussianSet) -> GaussianSet:
    """A 180° turn about X (x, -y, -z) with rotations and SH to match: what View ▸ Flip calls
    for a scene that opened upside down. Applying it twice gives back the input."""
    return rotate_gaussians(g, FRAME_TO_STUDIO["rdf"])
