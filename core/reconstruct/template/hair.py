"""Long hair behind the back: a photo from the front shows long hair only as strands beside the
neck; the rest hangs behind the head and shoulders where the camera cannot see it. When the photo
shows hair-coloured strands beside the neck, add a curtain of hair Gaussians: a half cylinder
around the back of the head, as wide as the strands are apart, hanging to a typical length below
the neck and kept just behind the body's back. Every part of it the photo would have seen is
checked against the photo and dropped where the photo shows no hair there.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

from ...errors import InputError
from ...skinning import dense_to_sparse_weights
from .clothing import depth_layers
from .colour import HeadFrame, robust_mean
from .samples import blended, to_camera
from .view import PhotoView

HAIR_BELOW_NECK = 0.2   # metres long hair hangs below the neck base when the photo cannot tell
BACK_GAP = 0.015        # metres between the back and the curtain (clothes and hair thickness)
HAIR_MATCH = 0.15       # RGB distance within which a pixel counts as hair-coloured
MIN_CONTRAST = 0.12     # hair this close to the skin colour cannot be told from the neck
MIN_HALF_WIDTH = 0.09   # metres: strands closer to the head's axis are the nape, not long hair


@dataclass
class HairPanel:
    """Canonical hair Gaussian sites behind the head and back.

    Attributes:
        can: [M,3] positions; can_n: [M,3] unit normals; skin_idx, skin_w: [M,4] skinning;
        rgb: [M,3] colour.
    """

    can: np.ndarray
    can_n: np.ndarray
    skin_idx: np.ndarray
    skin_w: np.ndarray
    rgb: np.ndarray

    def __len__(self) -> int:
        return int(self.can.shape[0])

    @classmethod
    def empty(cls) -> "HairPanel":
        z3 = np.zeros((0, 3), np.float32)
        return cls(z3, z3.copy(), np.zeros((0, 4), np.int32), np.zeros((0, 4), np.float32), z3.copy())


def side_strands(view: PhotoView, hair_rgb: np.ndarray, skin_rgb: np.ndarray, head_uv: np.ndarray,
                 neck_uv: np.ndarray, px_per_m: float, covered: np.ndarray, neck_half: float = 0.05
                 ) -> tuple[float, float]:
    """Look for long hair beside the neck: person pixels of the hair's colour (closer to it than to
    the skin) that the fitted body does not cover (a collar or a dark top of the hair's colour is on
    the body; strands fill the gap beside the neck), in the rows from the head joint down to the
    neck base, more than `neck_half` metres to either side of the head.

    Args: view; hair_rgb, skin_rgb: [3]; head_uv, neck_uv: [2] pixels of the head and neck joints;
    covered: [h,w] bool pixels the body's sites cover.
    Returns: (share of those rows with hair on at least one side, median half width of the hair
    across the rows that have it, metres; 0 when none).
    """
    v0, v1 = int(round(head_uv[1])), int(round(neck_uv[1]))
    h, w = view.size
    v0, v1 = max(v0, 0), min(v1, h)
    if v1 - v0 < 3:
        return 0.0, 0.0
    rows = view.rgb[v0:v1]
    d_hair = np.linalg.norm(rows - hair_rgb, axis=-1)
    d_skin = np.linalg.norm(rows - skin_rgb, axis=-1)
    hairy = (view.mask[v0:v1] > 0.5) & ~covered[v0:v1] & (d_hair < HAIR_MATCH) & (d_hair < d_skin)
    off = np.abs(np.arange(w) + 0.5 - head_uv[0])[None, :]
    hairy &= (off > neck_half * px_per_m) & (off < 0.25 * px_per_m)
    has = hairy.any(axis=1)
    if not has.any():
        return 0.0, 0.0
    reach = np.where(hairy, off, 0.0).max(axis=1)[has]
    return float(has.mean()), float(np.median(reach) / px_per_m)


def panel_sites(head: HeadFrame, back_verts: np.ndarray, half_width: float, length: float, n: int,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """[n,3] canonical points and [n,3] outward normals of a half cylinder of hair behind the head
    (wrapping a little past the sides), from just above the head centre to `length` below the neck
    base, moved behind `back_verts` [V,3] (the body's canonical vertices) where it would cut into
    them."""
    if n <= 0 or half_width <= 0:
        raise InputError("A hair panel needs a positive width and Gaussian count.")
    rng = np.random.default_rng(seed)
    y_top, y_end = head.centre[1] + 0.02, head.neck_y - length
    a = rng.uniform(0.42 * np.pi, 1.58 * np.pi, n)          # 0 faces the camera: the back and sides
    y = rng.uniform(y_end, y_top, n)
    depth = 0.5 * half_width                              # hair lies flatter than the head is round
    pts = np.stack([head.centre[0] + half_width * np.sin(a), y, head.centre[2] - 0.02 + depth * np.cos(a)], 1)
    nrm = np.stack([np.sin(a) / half_width, np.zeros(n), np.cos(a) / depth], 1)
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
    from scipy.spatial import cKDTree
    tree = cKDTree(back_verts[:, :2])
    for i, nb in enumerate(tree.query_ball_point(pts[:, :2], 0.02)):
        if nb:
            pts[i, 2] = min(pts[i, 2], float(back_verts[nb, 2].min()) - BACK_GAP)
    return pts.astype(np.float32), nrm.astype(np.float32)


def panel_skinning(pts: np.ndarray, head: HeadFrame) -> tuple[np.ndarray, np.ndarray]:
    """([M,4] joint indices, [M,4] weights): the head above the neck, shared by the neck and upper
    spine below it, so the curtain turns with the head and stays on the back."""
    below = np.clip((head.neck_y + 0.02 - pts[:, 1]) / 0.1, 0, 1)
    dense = np.zeros((pts.shape[0], 55), np.float32)
    dense[:, 15] = 1 - below
    dense[:, 12] = below * 0.5
    dense[:, 9] = below * 0.5
    return dense_to_sparse_weights(dense, 4)


def carve(view: PhotoView, cam: np.ndarray, body_cam: np.ndarray, hair_rgb: np.ndarray, tol: float = 0.01
          ) -> np.ndarray:
    """[M] bool: panel points consistent with the photo: inside the person's outline, and where
    nothing of the body is in front of them, over a hair-coloured pixel."""
    from .colour import splat_depth
    uvz = view.project(cam)
    h, w = view.size
    iu = np.clip(uvz[:, 0].astype(np.int64), 0, w - 1)
    iv = np.clip(uvz[:, 1].astype(np.int64), 0, h - 1)
    inside = view.mask[iv, iu] > 0.5
    zbuf, s = splat_depth(view, body_cam)
    gh, gw = zbuf.shape
    hidden = uvz[:, 2] > zbuf[np.clip(iv // s, 0, gh - 1), np.clip(iu // s, 0, gw - 1)] + tol
    hairy = np.linalg.norm(view.rgb[iv, iu] - hair_rgb, axis=-1) < HAIR_MATCH
    return inside & (hidden | hairy)


def hair_panel(view: PhotoView, clean: np.ndarray, head: HeadFrame, rest_verts: np.ndarray, rel: torch.Tensor,
               transl: np.ndarray, joints_cam: np.ndarray, body_cam: np.ndarray, hair_rgb: np.ndarray, n: int,
               seed: int = 0) -> HairPanel:
    """The hair curtain for this photo, or an empty panel when it shows no long hair.

    Args:
        view: the photo view; clean: [h,w,3] its photo with the outside filled (`fill_outside`);
        head: canonical head landmarks; rest_verts: [V,3] shaped canonical
        body; rel: [1,55,4,4] fitted-pose transforms; transl: [3] fitted translation;
        joints_cam: [55,3] posed joints, camera frame; body_cam: [N,3] body sites, camera frame;
        hair_rgb: [3] crown colour; n: Gaussians to spend at most.
    """
    if n <= 0:
        return HairPanel.empty()
    uvz = view.project(joints_cam[[15, 12]])
    px = view.fx / float(uvz[0, 2])
    skin_rgb = face_colour(view, clean, uvz[0, :2], px, hair_rgb)
    if skin_rgb is None:
        return HairPanel.empty()
    covered = ndimage.binary_closing(np.isfinite(depth_layers(view, body_cam)[0]), iterations=2)
    share, half = side_strands(view, hair_rgb, skin_rgb, uvz[0, :2], uvz[1, :2], px, covered)
    if share < 0.5 or half < MIN_HALF_WIDTH:   # short hair reaches no farther than the nape
        return HairPanel.empty()
    pts, nrm = panel_sites(head, rest_verts, float(np.clip(half, 0.08, 0.2)), HAIR_BELOW_NECK, n, seed)
    idx, w = panel_skinning(pts, head)
    m = blended(idx, w, rel)
    cam = to_camera(np.einsum("nab,nb->na", m[:, :, :3], pts) + m[:, :, 3], transl)
    keep = carve(view, cam, body_cam, hair_rgb)
    rgb = np.repeat(np.asarray(hair_rgb, np.float32)[None], int(keep.sum()), 0)
    return HairPanel(pts[keep], nrm[keep], idx[keep], w[keep], rgb)


def face_colour(view: PhotoView, clean: np.ndarray, head_uv: np.ndarray, px_per_m: float, hair_rgb: np.ndarray,
                radius: float = 0.06) -> np.ndarray | None:
    """[3] skin colour of the face, or None when the head shows none apart from the hair's colour
    (a bald head, or hair as light or dark as the skin): the robust mean of the photo's person pixels
    within `radius` metres of the head joint that are not hair-coloured, if they are at least a
    fifth of them. Taken from the photo, not from the fitted head, which may be turned a little.

    Args: view; clean: [h,w,3] photo with the outside filled; head_uv: [2] pixel of the head
    joint; px_per_m: pixels per metre there; hair_rgb: [3] crown colour.
    """
    u, v = float(head_uv[0]), float(head_uv[1])
    r = radius * px_per_m
    h, w = view.size
    vv, uu = np.mgrid[max(int(v - r), 0):min(int(v + r) + 1, h), max(int(u - r), 0):min(int(u + r) + 1, w)]
    disc = ((uu + 0.5 - u) ** 2 + (vv + 0.5 - v) ** 2 <= r * r) & (view.mask[vv, uu] > 0.5)
    pix = clean[vv[disc], uu[disc]]
    skin = pix[np.linalg.norm(pix - hair_rgb, axis=1) > MIN_CONTRAST]
    if pix.shape[0] < 16 or skin.shape[0] < 0.2 * pix.shape[0]:
        return None
    return robust_mean(skin)
