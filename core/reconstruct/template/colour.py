"""Colour for every Gaussian site: project the photo onto the sites it sees, invent the rest.

* Visibility: a z-buffer splatted from the sites themselves, plus a facing test.
* Seen sites sample the photo bilinearly from a copy in which every pixel outside an eroded
  mask holds the colour of the nearest person pixel, so no background bleeds in at the outline.
* Unseen sites (back, sides, occluded) take the colour of the nearest seen sites of the same body
  part in canonical space with depth down-weighted: a mirror through the body's coronal plane
  (the back of a sweater gets the sweater, the back of a leg the trousers). Averaging the k
  nearest seen sites softens the photo's fine shading; its broad shading is kept (dividing it out
  needs an albedo model; a per-part median mistakes one garment's colour for shading).
* Farther from anything seen (across the back), unseen sites fade to the garment's base colour at
  that height: a robust mean over a thin band of the seen part, which keeps stripes but drops a
  chest print and averages checks whose phase on the back is unknown. A band with no dominant
  colour (grain, shading, braces) takes a wider window's colour, so noise does not become stripes.
* The back and top of the head take the colour of the crown's outline in the photo (usually
  hair), not the face; where the crown shows two colours, the dominant one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from .view import PhotoView

HEAD_PART = 1
CROWN_ABOVE = 0.035   # metres above the head centre where the crown (hair or scalp) begins
# A band's colour is trusted when this share of its sites lies within SUPPORT_DIST (RGB) of it; below
# SUPPORT_LOW the band has no dominant colour (see `band_colours`).
SUPPORT_DIST = 0.1
SUPPORT_LOW, SUPPORT_HIGH = 0.35, 0.65


def splat_depth(view: PhotoView, cam: np.ndarray, shrink: int = 2) -> tuple[np.ndarray, int]:
    """Nearest depth per pixel of a 1/`shrink` grid: ([h',w'] float, with inf where empty; shrink)."""
    h, w = view.size
    uvz = view.project(cam)
    gh, gw = (h + shrink - 1) // shrink, (w + shrink - 1) // shrink
    iu = np.clip((uvz[:, 0] / shrink).astype(np.int64), 0, gw - 1)
    iv = np.clip((uvz[:, 1] / shrink).astype(np.int64), 0, gh - 1)
    zbuf = np.full(gh * gw, np.inf, np.float32)
    np.minimum.at(zbuf, iv * gw + iu, uvz[:, 2])
    zbuf = ndimage.minimum_filter(zbuf.reshape(gh, gw), size=3, mode="nearest")
    return zbuf, shrink


def visible_sites(view: PhotoView, cam: np.ndarray, cam_n: np.ndarray, tol: float = 0.02,
                  occluders: np.ndarray | None = None, facing: float = 0.25) -> np.ndarray:
    """[N] bool: sites turned towards the camera (cosine above `facing`; grazing sites would take
    stretched or neighbouring colours) and not hidden behind other sites (or `occluders` [M,3])."""
    pts = cam if occluders is None else np.concatenate([cam, occluders])
    zbuf, s = splat_depth(view, pts)
    uvz = view.project(cam)
    gh, gw = zbuf.shape
    iu = np.clip((uvz[:, 0] / s).astype(np.int64), 0, gw - 1)
    iv = np.clip((uvz[:, 1] / s).astype(np.int64), 0, gh - 1)
    view_dir = cam / np.maximum(np.linalg.norm(cam, axis=1, keepdims=True), 1e-9)
    towards = (cam_n * view_dir).sum(1) < -facing
    return towards & (uvz[:, 2] <= zbuf[iv, iu] + tol)


def fill_outside(rgb: np.ndarray, mask: np.ndarray, erode_px: int = 1) -> np.ndarray:
    """[h,w,3] image whose pixels outside the eroded [h,w] bool mask copy the nearest inside pixel."""
    inside = ndimage.binary_erosion(mask, iterations=erode_px) if erode_px > 0 else mask
    if not inside.any():
        inside = mask
    _, (iy, ix) = ndimage.distance_transform_edt(~inside, return_indices=True)
    return rgb[iy, ix]


def bilinear(img: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Sample [h,w,C] at continuous pixel coordinates (pixel centres at +0.5) -> [N,C]."""
    h, w = img.shape[:2]
    x = np.clip(u - 0.5, 0, w - 1.001)
    y = np.clip(v - 0.5, 0, h - 1.001)
    x0, y0 = x.astype(np.int64), y.astype(np.int64)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    top = img[y0, x0] * (1 - fx) + img[y0, x0 + 1] * fx
    bot = img[y0 + 1, x0] * (1 - fx) + img[y0 + 1, x0 + 1] * fx
    return (top * (1 - fy) + bot * fy).astype(np.float32)


def propagate(can: np.ndarray, part: np.ndarray, known: np.ndarray, rgb: np.ndarray, z_weight: float = 0.25,
              k: int = 4) -> np.ndarray:
    """Fill colours of unknown sites from the nearest known sites of the same part.

    Args:
        can: [N,3] canonical positions; part: [N] part ids; known: [N] bool; rgb: [N,3] (known rows used).
    Returns: [N,3] colours (known rows unchanged).
    """
    out = rgb.copy()
    scale = np.array([1.0, 1.0, z_weight], np.float32)
    for p in np.unique(part):
        src = np.flatnonzero(known & (part == p))
        dst = np.flatnonzero(~known & (part == p))
        if dst.size == 0:
            continue
        if src.size == 0:
            src = np.flatnonzero(known)
            if src.size == 0:
                continue
        tree = cKDTree(can[src] * scale)
        kk = min(k, src.size)
        d, j = tree.query(can[dst] * scale, k=kk)
        if kk == 1:
            d, j = d[:, None], j[:, None]
        w = 1.0 / np.maximum(d, 1e-4)
        out[dst] = (rgb[src][j] * w[..., None]).sum(1) / w.sum(1, keepdims=True)
    return out


def robust_mean(rgb: np.ndarray, sigma: float = 0.1, iters: int = 3) -> np.ndarray:
    """[3] colour of the bulk of [M,3] colours: the per-channel median refined by a few rounds of a
    Gaussian-weighted mean, so a minority colour (a print, a logo) does not tint it while an even
    mix (checks) averages out."""
    c = np.median(rgb, axis=0)
    for _ in range(iters):
        w = np.exp(-((rgb - c) ** 2).sum(1) / (2 * sigma ** 2))
        if w.sum() < 1e-6:
            break
        c = (rgb * w[:, None]).sum(0) / w.sum()
    return c.astype(np.float32)


def band_colours(can: np.ndarray, part: np.ndarray, known: np.ndarray, rgb: np.ndarray, dst: np.ndarray,
                 half_width: float = 0.015, wide_bins: int = 8) -> np.ndarray:
    """[D,3] base colour for sites `dst` [D] (indices): the robust mean of the known sites of the same
    part in a thin band across the part at the same height (along the limb for arms, which lie
    along x in the canonical T-pose). That is the garment's colour at that height without the
    front's one-off detail: stripes keep their phase, a chest print is left out.

    Where a band holds no dominant colour (checks, a grainy shirt crossed by braces and shadows:
    under `SUPPORT_LOW` of its sites near its robust mean) that mean is noise from band to band and
    would paint stripes the garment does not have; such bands take a broader robust mean of a wider
    window (`wide_bins` bins each way) instead, blended in up to `SUPPORT_HIGH`.

    Args: can [N,3] canonical positions; part [N]; known [N] bool; rgb [N,3].
    """
    out = rgb[dst].copy()
    for p in np.unique(part[dst]):
        rows = np.flatnonzero(part[dst] == p)
        axis = 0 if p in (2, 3) else 1
        src = np.flatnonzero(known & (part == p))
        if src.size < 8:
            continue
        coord = can[src, axis]
        lo = float(coord.min())
        nbins = int((coord.max() - lo) / half_width) + 1
        b_src = np.clip(((coord - lo) / half_width).astype(np.int64), 0, nbins - 1)
        order = np.argsort(b_src)
        starts = np.searchsorted(b_src[order], np.arange(nbins + 1))
        table = np.full((nbins, 3), np.nan, np.float32)
        for b in range(nbins):
            sel = order[starts[max(b - 1, 0)]:starts[min(b + 2, nbins)]]  # this bin and its neighbours
            if sel.size < 4:
                continue
            colours = rgb[src[sel]]
            band = robust_mean(colours)
            support = float((((colours - band) ** 2).sum(1) < SUPPORT_DIST ** 2).mean())
            w = float(np.clip((support - SUPPORT_LOW) / (SUPPORT_HIGH - SUPPORT_LOW), 0.0, 1.0))
            if w < 1.0:
                window = order[starts[max(b - wide_bins, 0)]:starts[min(b + wide_bins + 1, nbins)]]
                wide = robust_mean(rgb[src[window]], sigma=0.25)
                band = w * band + (1.0 - w) * wide
            table[b] = band
        have = np.flatnonzero(np.isfinite(table[:, 0]))
        if have.size == 0:
            continue
        b_dst = np.clip(((can[dst[rows], axis] - lo) / half_width).astype(np.int64), 0, nbins - 1)
        nearest = have[np.clip(np.searchsorted(have, b_dst), 0, have.size - 1)]
        out[rows] = table[nearest]
    return out


def unseen_garment_colours(can: np.ndarray, part: np.ndarray, visible: np.ndarray, rgb: np.ndarray,
                           near: float = 0.015, far: float = 0.045) -> np.ndarray:
    """Blend the propagated colours of unseen body sites (not the head) towards the garment's band
    colour (`band_colours`) with distance from the nearest seen site of their part: next to what
    the photo shows the mirror is trustworthy; across the back it would copy the front's prints
    and the pattern's phase, which the back does not share.

    Args: can [N,3]; part [N]; visible [N] bool; rgb [N,3] after `propagate`. Returns [N,3].
    """
    out = rgb.copy()
    dst = np.flatnonzero(~visible & (part != HEAD_PART))
    if dst.size == 0:
        return out
    dist = np.full(dst.size, np.inf, np.float32)
    for p in np.unique(part[dst]):
        rows = np.flatnonzero(part[dst] == p)
        src = np.flatnonzero(visible & (part == p))
        if src.size:
            dist[rows] = cKDTree(can[src]).query(can[dst[rows]])[0]
    w = np.clip((dist - near) / (far - near), 0, 1)[:, None]
    out[dst] = (1 - w) * rgb[dst] + w * band_colours(can, part, visible, rgb, dst)
    return out


def crown_colours(view: PhotoView, clean: np.ndarray, can: np.ndarray, cam: np.ndarray, part: np.ndarray,
                  head: "HeadFrame", rim: float = 0.025) -> tuple[np.ndarray, np.ndarray]:
    """Photo colours of the crown: person pixels along the head's outline above its centre, up to
    `rim` metres inside it. On a person with hair these are mostly hair; on a bald one, scalp. The
    outline is used rather than sites because a camera at chest height sees little of the top of
    the head itself.

    Args: view; clean: [h,w,3] photo with the outside filled (`fill_outside`); can, cam: [N,3]
    canonical and camera-frame sites; part: [N]; head: canonical head landmarks.
    Returns: ([K,3] colours, [K] metres above the line where the crown begins).
    """
    near = (part == HEAD_PART) & (np.linalg.norm(can - head.centre, axis=1) < 0.12) & (can[:, 1] > head.neck_y + 0.05)
    if near.sum() < 8:
        return np.zeros((0, 3), np.float32), np.zeros(0, np.float32)
    u_c, v_c, z_c = view.project(cam[near].mean(0, keepdims=True))[0]
    px = view.fx / z_c                                   # pixels per metre at the head
    inside = view.mask > 0.5
    depth = ndimage.distance_transform_edt(inside)
    vv, uu = np.nonzero(inside & (depth >= 1.5) & (depth <= max(rim * px, 2.5)))
    line = v_c - CROWN_ABOVE * px
    sel = (np.abs(uu + 0.5 - u_c) < 0.12 * px) & (vv + 0.5 < line)
    rise = (line - vv[sel] - 0.5) / px
    return clean[vv[sel], uu[sel]].astype(np.float32), rise.astype(np.float32)


def crown_colour(rgb: np.ndarray, rise: np.ndarray, min_pixels: int = 4) -> np.ndarray | None:
    """[3] hair (or scalp) colour from the crown's pixels (`crown_colours`), or None with fewer than
    `min_pixels`. When the crown shows two colours (a face tilted up, a forehead under short hair)
    a mean would be neither; the dominant one is taken, pixels higher up counting up to twice as
    much (the top of a head is hair far more often than face)."""
    if rgb.shape[0] < min_pixels:
        return None
    centres, label = two_means(rgb)
    if np.linalg.norm(centres[0] - centres[1]) < 1.5 * SUPPORT_DIST:
        return robust_mean(rgb)
    weight = 1.0 + rise / max(float(rise.max()), 1e-6)
    best = int(np.argmax([weight[label == k].sum() for k in (0, 1)]))
    return robust_mean(rgb[label == best])


def two_means(rgb: np.ndarray, iters: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Split [K,3] colours into two clusters (k-means started from the darkest and brightest tenth):
    ([2,3] centres, [K] labels 0/1)."""
    lum = rgb.mean(1)
    lo, hi = np.percentile(lum, [10, 90])
    centres = np.stack([rgb[lum <= lo].mean(0), rgb[lum >= hi].mean(0)])
    label = np.zeros(rgb.shape[0], np.int64)
    for _ in range(iters):
        label = np.argmin(((rgb[:, None] - centres[None]) ** 2).sum(-1), axis=1)
        for k in (0, 1):
            if (label == k).any():
                centres[k] = rgb[label == k].mean(0)
    return centres, label


def head_back_colours(can: np.ndarray, part: np.ndarray, visible: np.ndarray, rgb: np.ndarray,
                      crown: np.ndarray | None, head: "HeadFrame") -> np.ndarray:
    """Colours for unseen sites on the back and top of the head: the photo's crown colour ([3]
    `crown`, see `crown_colour`; None leaves them as they are), so the back of the head continues
    the hair (or scalp) down to the nape instead of mirroring the face. Returns [N,3]."""
    out = rgb.copy()
    if crown is None:
        return out
    rel = can - head.centre
    behind = (rel[:, 2] < 0.0) & (can[:, 1] > head.neck_y + 0.02)
    top = rel[:, 1] > CROWN_ABOVE
    dst = (part == HEAD_PART) & ~visible & (behind | top)
    out[dst] = crown
    return out


@dataclass
class HeadFrame:
    """Canonical head landmarks: centre [3], eye height, skull-base (head joint) and neck heights."""

    centre: np.ndarray
    eye_y: float
    skull_base_y: float
    neck_y: float

    @classmethod
    def from_joints(cls, joints: np.ndarray) -> "HeadFrame":
        """From [55,3] rest joints."""
        return cls(joints[15] + np.array([0.0, 0.07, 0.0], np.float32), float(joints[23:25, 1].mean()),
                   float(joints[15, 1]), float(joints[12, 1]))


def hand_colours(rgb: np.ndarray, visible: np.ndarray, hand: np.ndarray, min_seen: int = 6) -> np.ndarray:
    """[N,3] colours with each hand's unseen sites given the robust colour of its seen ones (skin or
    glove), not the sleeve's or the torso's that propagation along the arm would bring.

    Args: rgb [N,3]; visible [N] bool; hand [N] wrist joint of hand sites, -1 elsewhere.
    """
    out = rgb.copy()
    for wrist in (20, 21):
        on = hand == wrist
        seen = on & visible
        if seen.sum() >= min_seen:
            out[on & ~visible] = robust_mean(rgb[seen])
    return out


def colour_sites(view: PhotoView, can: np.ndarray, can_n: np.ndarray, cam: np.ndarray, cam_n: np.ndarray,
                 part: np.ndarray, head: HeadFrame, visible: np.ndarray | None = None,
                 hand: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """RGB for N body sites.

    Args:
        can, can_n: [N,3] canonical positions and normals; cam, cam_n: [N,3] posed camera frame.
        part: [N] body part ids; head: canonical head landmarks.
        visible: [N] bool, or None to compute it.
        hand: [N] wrist joint of the sites on a hand (-1 elsewhere), or None.
    Returns: ([N,3] rgb 0..1, [N] bool visible).
    """
    if visible is None:
        visible = visible_sites(view, cam, cam_n)
    clean = fill_outside(view.rgb, view.mask > 0.5, erode_px=max(1, round(view.size[0] / 400)))
    uvz = view.project(cam)
    rgb = np.zeros((cam.shape[0], 3), np.float32)
    rgb[visible] = bilinear(clean, uvz[visible, 0], uvz[visible, 1])
    rgb = propagate(can, part, visible, rgb)
    rgb = unseen_garment_colours(can, part, visible, rgb)
    if hand is not None:
        rgb = hand_colours(rgb, visible, hand)
    crown = crown_colour(*crown_colours(view, clean, can, cam, part, head))
    rgb = head_back_colours(can, part, visible, rgb, crown, head)
    return rgb, visible
