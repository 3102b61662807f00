"""Clothing and hair beyond the body: make the Gaussians fill the photo's silhouette.

Three moves, all in the photo's camera frame:
 1. `shrink_to_mask`: body sites that project outside the person mask move inward along their
    normals (or go), so a body fitted a little too wide does not show background;
    `push_rim_to_mask` grows a body a little too thin the same way, outward.
 2. `extra_sites`: person pixels that no body site covers (a skirt, loose sleeves, hair, a bag)
    get a shell of new sites. Its depth is that of the nearest body pixel, its thickness grows
    from the body's thickness there to zero at the outline along an elliptical profile, as for a
    round garment; steep parts of the shell get wall sites so that side views have no gaps. Each
    new site borrows the skinning of the nearest body site so that it moves with that body part.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .view import PhotoView


@dataclass
class ExtraSites:
    """New sites for garments and hair, camera frame.

    Attributes:
        cam: [M,3] positions; cam_n: [M,3] unit normals; source: [M] index of the body site whose
        skinning they borrow; uv: [M,2] photo pixel (this view) their colour comes from;
        joint: [M] wrist joint a held object's sites are rigidly attached to (-1: borrow the source's
        skinning), or None for none.
    """

    cam: np.ndarray
    cam_n: np.ndarray
    source: np.ndarray
    uv: np.ndarray
    joint: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.joint is None:
            self.joint = np.full(self.cam.shape[0], -1, np.int64)

    def subset(self, index: np.ndarray) -> "ExtraSites":
        """The sites at `index` (bool mask or integer indices)."""
        return ExtraSites(self.cam[index], self.cam_n[index], self.source[index], self.uv[index], self.joint[index])

    def __len__(self) -> int:
        return int(self.cam.shape[0])


def pixel_of(view: PhotoView, cam: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integer pixel (iu, iv) [N] of camera-frame points, clipped to the view, and [N] depth."""
    uvz = view.project(cam)
    h, w = view.size
    return (np.clip(uvz[:, 0].astype(np.int64), 0, w - 1), np.clip(uvz[:, 1].astype(np.int64), 0, h - 1), uvz[:, 2])


def shrink_to_mask(view: PhotoView, cam: np.ndarray, cam_n: np.ndarray, max_px: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pull in body sites that project outside the person mask (a fitted body a little too wide,
    a head or foot that sticks out): each moves back along its 3D normal far enough for its image
    to travel the distance to the mask, as an inward offset surface would (a crown shrinks instead
    of being flattened). Sites that would have to move more than `max_px`, or are still outside
    afterwards, are dropped: the person is not there.

    Returns: new [N,3] positions, [N] bool moved, [N] bool keep.
    """
    inside = view.mask > 0.5
    dist = ndimage.distance_transform_edt(~inside)
    h, w = view.size

    def outside_by(points: np.ndarray) -> np.ndarray:
        uvz = view.project(points)
        iu = np.clip(uvz[:, 0].astype(np.int64), 0, w - 1)
        iv = np.clip(uvz[:, 1].astype(np.int64), 0, h - 1)
        return dist[iv, iu]

    d = outside_by(cam)
    moved = d > 0
    out = cam.copy()
    idx = np.flatnonzero(moved & (d <= max_px))
    across = np.maximum(np.linalg.norm(cam_n[idx, :2], axis=1), 0.35)
    step = (d[idx] + 0.5) * cam[idx, 2] / view.fx / across          # metres along -normal
    out[idx] -= cam_n[idx] * step[:, None]
    keep = ~moved | ((d <= max_px) & (outside_by(out) <= 1.5))
    return out, moved & keep, keep


def push_rim_to_mask(view: PhotoView, cam: np.ndarray, cam_n: np.ndarray, max_px: int) -> tuple[np.ndarray, np.ndarray]:
    """Grow the body to the photo's outline where it is a little too thin (a snug sleeve, a
    slightly slimmer fit): from each site whose normal points across the view, march outward in the
    image over its own body part and then over person pixels no site covers; the site moves along
    its 3D normal by that free run (in metres at its depth), faded in with how much the normal
    points across the view. That is an offset surface, so side views do not tear. Free runs longer
    than `max_px` are left to the clothing shell.

    Returns: new [N,3] positions, [N] bool moved.
    """
    h, w = view.size
    inside = view.mask > 0.5
    zf, _, _, _ = depth_layers(view, cam)
    covered = ndimage.binary_closing(np.isfinite(zf), iterations=2)
    free = inside & ~covered
    norm = np.linalg.norm(cam_n[:, :2], axis=1)
    sel = np.flatnonzero(norm > 0.2)
    d = cam_n[sel, :2] / norm[sel, None]
    uvz = view.project(cam[sel])
    phase = np.zeros(sel.size, np.int8)          # 0: on the body, 1: over free pixels, 2: done
    run = np.zeros(sel.size, np.float32)
    for t in range(1, 3 * max_px + 1):
        iu = np.clip((uvz[:, 0] + d[:, 0] * t).astype(np.int64), 0, w - 1)
        iv = np.clip((uvz[:, 1] + d[:, 1] * t).astype(np.int64), 0, h - 1)
        on_body, on_free = covered[iv, iu], free[iv, iu]
        phase = np.where((phase == 0) & on_free, 1, phase)
        phase = np.where((phase == 0) & ~on_body, 2, phase)
        phase = np.where((phase == 1) & ~on_free, 2, phase)
        run += phase == 1
    run = np.where(run <= max_px, run, 0.0)
    fade = np.clip((norm[sel] - 0.2) / 0.5, 0, 1)
    offset = run * fade * uvz[:, 2] / view.fx          # metres along the normal
    out = cam.copy()
    go = offset > 0
    out[sel[go]] += cam_n[sel[go]] * offset[go, None]
    moved = np.zeros(cam.shape[0], bool)
    moved[sel[go]] = True
    return out, moved


def depth_layers(view: PhotoView, cam: np.ndarray, part: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel of the view: front depth, back depth (inf/-inf where no site), and the indices of
    the front-most and back-most sites ([h,w] each; -1 where none).

    With `part` ([N] body part per site) the back layer is the back of the front site's own part:
    a hand raised in front of the face has the hand's thickness there, not the hand-to-nape span
    (a shell built on that span becomes a stick from the hand to the back of the head).
    """
    h, w = view.size
    iu, iv, z = pixel_of(view, cam)
    flat = iv * w + iu
    order = np.argsort(z)
    front = np.full(h * w, -1, np.int64)
    back = np.full(h * w, -1, np.int64)
    front[flat[order[::-1]]] = order[::-1]   # later (nearer) writes win
    if part is None:
        back[flat[order]] = order            # later (farther) writes win
    else:
        n_parts = int(part.max()) + 1
        per_part = np.full(h * w * n_parts, -1, np.int64)
        per_part[(flat * n_parts + part)[order]] = order
        has = front >= 0
        back[has] = per_part[np.flatnonzero(has) * n_parts + part[front[has]]]
    zf = np.where(front >= 0, z[np.maximum(front, 0)], np.inf).reshape(h, w)
    zb = np.where(back >= 0, z[np.maximum(back, 0)], -np.inf).reshape(h, w)
    return zf, zb, front.reshape(h, w), back.reshape(h, w)


def geodesic_nearest(region: np.ndarray, seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every pixel of `region` the nearest `seeds` pixel along paths inside region | seeds
    (8-neighbour steps), so a strand of hair beside an arm finds the head it grows from rather than
    the arm across the gap. Pixels no path reaches get the straight-line nearest seed.

    Args: region, seeds: [h,w] bool.
    Returns: ([h,w] row and [h,w] column of the nearest seed, [h,w] path length in pixels; inf off
    region|seeds and where no path).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra
    h, w = region.shape
    nodes = region | seeds
    index = np.full(h * w, -1, np.int64)
    flat_nodes = np.flatnonzero(nodes)
    index[flat_nodes] = np.arange(flat_nodes.size)
    grid = index.reshape(h, w)
    rows, cols, wts = [], [], []
    for dy, dx, cost in ((0, 1, 1.0), (1, 0, 1.0), (1, 1, 1.4142), (1, -1, 1.4142)):
        a = grid[:h - dy, max(0, -dx):w - max(dx, 0)]
        b = grid[dy:, max(dx, 0):w + min(dx, 0)]
        ok = (a >= 0) & (b >= 0)
        rows.append(a[ok])
        cols.append(b[ok])
        wts.append(np.full(int(ok.sum()), cost))
    n = flat_nodes.size
    graph = coo_matrix((np.concatenate(wts), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)).tocsr()
    _, (ey, ex) = ndimage.distance_transform_edt(~seeds, return_indices=True)
    src_y, src_x = ey.copy(), ex.copy()
    dist_map = np.full(h * w, np.inf)
    seed_nodes = index[np.flatnonzero(seeds)]
    if seed_nodes.size and n:
        dist, _, src = dijkstra(graph, directed=False, indices=seed_nodes, min_only=True,
                                return_predecessors=True)
        reached = src >= 0
        at = flat_nodes[reached]
        src_flat = flat_nodes[src[reached]]
        src_y.flat[at], src_x.flat[at] = src_flat // w, src_flat % w
        dist_map[at] = dist[reached]
    return src_y, src_x, dist_map.reshape(h, w)


def uncovered(view: PhotoView, covered: np.ndarray, min_blob: int = 6) -> np.ndarray:
    """[h,w] bool person pixels no body site covers (small specks dropped)."""
    extra = (view.mask > 0.5) & ~covered
    extra = ndimage.binary_opening(extra, iterations=1)
    lab, n = ndimage.label(extra)
    if n == 0:
        return extra
    sizes = ndimage.sum_labels(extra, lab, np.arange(1, n + 1))
    return np.isin(lab, 1 + np.flatnonzero(sizes >= min_blob))


# A region beyond the body is a held object (a bag, a box) when at least this share of where it
# touches the body is a hand and it covers at least this area (square metres at the hand's depth).
HELD_HAND_SHARE = 0.5
HELD_MIN_AREA = 0.006
HELD_MAX_HALF = 0.06      # metres: half thickness of a held object, at most
# In a segmented photo, the part of a region beyond the body farther than UNLIKE_FAR metres from it
# is dropped when its colour differs from the region's part next to the body (within UNLIKE_NEAR)
# by more than UNLIKE_RGB: furniture the segmentation took for the person, not a skirt or hair.
UNLIKE_NEAR, UNLIKE_FAR, UNLIKE_RGB = 0.03, 0.06, 0.3


def shell_depths(view: PhotoView, extra: np.ndarray, covered: np.ndarray, zf: np.ndarray, zb: np.ndarray,
                 front_idx: np.ndarray, back_idx: np.ndarray, part: np.ndarray | None = None,
                 hand_joint: np.ndarray | None = None, drop_unlike: bool = False) -> dict[str, np.ndarray]:
    """Front/back depths of the shell over the `extra` [h,w] pixels.

    Each extra pixel belongs to the body site it reaches first along the person's outline
    (`geodesic_nearest`), and takes its depth and skinning from it. A connected region that touches
    the body mostly at a hand and is large enough (`held_regions`) is a held object instead: a slab
    at the hand's depth, rigidly attached to that hand's wrist.

    Args: part [N] and hand_joint [N] (wrist joint of hand sites, -1 elsewhere) per body site, or None;
    drop_unlike: leave out what `unlike_parts` finds (for segmented photos, not exact mattes).
    Returns a dict of [K] arrays over the extra pixels: v, u (pixel indices), zf, zb (shell depths),
    src_f, src_b (body site indices to borrow skinning from), out_dir [K,2] (image direction away
    from the body), group (pixels of different groups are not joined by walls), joint (wrist joint
    of a held object, -1 elsewhere).
    """
    d_body = ndimage.distance_transform_edt(~covered)
    near = ndimage.binary_dilation(extra, iterations=4) & covered
    by, bx, d_geo = geodesic_nearest(extra | near, (front_idx >= 0) & (near | extra))
    d_edge = ndimage.distance_transform_edt(extra)
    v, u = np.nonzero(extra)
    qy, qx = by[v, u], bx[v, u]
    zf_q, zb_q = zf[qy, qx], zb[qy, qx]
    bad = ~np.isfinite(zf_q) | ~np.isfinite(zb_q)
    z_mid = np.nanmedian(zf[np.isfinite(zf)])
    zf_q, zb_q = np.where(bad, z_mid, zf_q), np.where(bad, z_mid + 0.1, zb_q)
    centre = (zf_q + zb_q) / 2
    d, e = d_body[v, u], d_edge[v, u]
    r = np.clip(d / (d + e), 0, 1)
    # A rounded garment around a rounded body part: at lateral offset d from the part's outline,
    # a surface reaching D = d + e past it spans +-sqrt(D^2 - d^2) around the part's mid-depth;
    # next to the part it also keeps some of the part's own thickness.
    px = centre / view.fx                              # metres per pixel at that depth
    reach = (d + e) * px
    half = np.sqrt(np.maximum(reach ** 2 - (d * px) ** 2, 0.0)) + 0.5 * (zb_q - zf_q) / 2 * (1 - r) ** 2
    # ... but a region no thicker than it is wide: a strand of hair or a limb the fit missed, far
    # from the body part it belongs to, is not a garment around that part (it became a fin
    # reaching far behind the body).
    half = np.minimum(half, np.maximum(e * px, (zb_q - zf_q) / 2))
    half = np.maximum(half, 0.004)
    out_dir = np.stack([u - qx, v - qy], 1).astype(np.float32)
    out_dir /= np.maximum(np.linalg.norm(out_dir, axis=1, keepdims=True), 1e-6)
    src_f, src_b = front_idx[qy, qx], back_idx[qy, qx]
    group = np.zeros(v.size, np.int64) if part is None else part[np.maximum(src_f, 0)]
    zf_out, zb_out = centre - half, centre + half
    joint = np.full(v.size, -1, np.int64)
    if hand_joint is not None:
        for rows, wrist, site, z_hand in held_regions(view, extra, v, u, d_geo[v, u], src_f, hand_joint, centre):
            e_r = e[rows]
            width = (np.ptp(u[rows]) + 1) * z_hand / view.fx
            height = (np.ptp(v[rows]) + 1) * z_hand / view.fx
            thick = float(np.clip(0.18 * min(width, height), 0.015, HELD_MAX_HALF))
            t = np.clip(e_r / max(0.5 * float(e_r.max()), 1.0), 0, 1)
            h_r = np.maximum(thick * np.sqrt(t * (2 - t)), 0.004)
            zf_out[rows], zb_out[rows] = z_hand - h_r, z_hand + h_r
            src_f[rows], src_b[rows] = site, site
            joint[rows] = wrist
            group[rows] = 1000 + wrist
    out = {"v": v, "u": u, "zf": zf_out, "zb": zb_out, "src_f": src_f, "src_b": src_b, "out_dir": out_dir,
           "group": group, "joint": joint}
    if drop_unlike:
        # the body's colour a few pixels inside its outline (the outline's own pixels are mixed)
        h, w = view.size
        iy = np.clip(np.round(qy - 3 * out_dir[:, 1]).astype(np.int64), 0, h - 1)
        ix = np.clip(np.round(qx - 3 * out_dir[:, 0]).astype(np.int64), 0, w - 1)
        keep = ~unlike_parts(view, extra, v, u, d * px, joint >= 0, view.rgb[iy, ix])
        out = {k: a[keep] for k, a in out.items()}
    return out


def unlike_parts(view: PhotoView, extra: np.ndarray, v: np.ndarray, u: np.ndarray, metres: np.ndarray,
                 held: np.ndarray, body_rgb: np.ndarray) -> np.ndarray:
    """[K] bool: extra pixels (v, u [K]; `metres` [K] from the body) of a region that is not held
    (`held` [K]) lying more than `UNLIKE_FAR` from the body where the region's colour there (median)
    is more than `UNLIKE_RGB` from the colour of the body pixels its part within `UNLIKE_NEAR` of
    the body belongs to (`body_rgb` [K,3]). A skirt, a coat or hair have the colour of the body's
    outline they leave (which the photo shows clothed or under the hair); a shelf the segmentation
    joined to the person does not."""
    lab, n = ndimage.label(extra, structure=np.ones((3, 3)))
    comp = lab[v, u]
    out = np.zeros(v.size, bool)
    for c in range(1, n + 1):
        rows = np.flatnonzero((comp == c) & ~held)
        far, near = rows[metres[rows] > UNLIKE_FAR], rows[metres[rows] < UNLIKE_NEAR]
        if far.size < 8 or near.size < 8:
            continue
        c_far = np.median(view.rgb[v[far], u[far]], axis=0)
        c_near = np.median(body_rgb[near], axis=0)
        if np.linalg.norm(c_far - c_near) > UNLIKE_RGB:
            out[far] = True
    return out


def held_regions(view: PhotoView, extra: np.ndarray, v: np.ndarray, u: np.ndarray, d_geo: np.ndarray,
                 src: np.ndarray, hand_joint: np.ndarray, centre: np.ndarray
                 ) -> list[tuple[np.ndarray, int, int, float]]:
    """Connected regions of the `extra` pixels that a hand holds: where they touch the body (pixels
    within 2.5 path pixels of a body site), at least `HELD_HAND_SHARE` of the contact is a hand, and
    they cover at least `HELD_MIN_AREA` square metres at the hand's depth. Clothes and hair touch
    the torso, legs or head along most of their contact; a bag hangs from a hand.

    Args: v, u: [K] extra pixels; d_geo: [K] path length to their body site; src: [K] that site;
    hand_joint: [N] wrist joint of each body site (-1 off the hands); centre: [K] mid depth there.
    Returns: one (rows [R] into the K pixels, wrist joint, a hand site, the hand's depth) per region.
    """
    lab, n = ndimage.label(extra, structure=np.ones((3, 3)))
    comp = lab[v, u]
    out = []
    for c in range(1, n + 1):
        rows = np.flatnonzero(comp == c)
        touch = rows[(d_geo[rows] <= 2.5) & (src[rows] >= 0)]
        if touch.size < 3:
            continue
        wrists = hand_joint[src[touch]]
        on_hand = wrists >= 0
        if on_hand.mean() < HELD_HAND_SHARE:
            continue
        z_hand = float(np.median(centre[touch[on_hand]]))
        if rows.size * (z_hand / view.fx) ** 2 < HELD_MIN_AREA:
            continue
        wrist = int(np.bincount(wrists[on_hand]).argmax())
        site = int(src[touch[on_hand][wrists[on_hand] == wrist][0]])
        out.append((rows, wrist, site, z_hand))
    return out


def _walls(view: PhotoView, sh: dict[str, np.ndarray], key: str, spacing: float, sign: float
           ) -> tuple[np.ndarray, np.ndarray]:
    """Extra depths filling steep steps of one shell layer: ([W] pixel row into sh arrays, [W] z).
    Steps between pixels of different groups (a hand in front of the face, a bag beside a leg) are
    two surfaces, one in front of the other, and get no wall."""
    h, w = view.size
    zmap = np.full((h, w), np.nan, np.float32)
    zmap[sh["v"], sh["u"]] = sh[key]
    gmap = np.full((h, w), -1, np.int64)
    gmap[sh["v"], sh["u"]] = sh["group"]
    rows, zs = [], []
    for dv, du in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        nb = np.roll(zmap, (-dv, -du), axis=(0, 1))
        same = np.roll(gmap, (-dv, -du), axis=(0, 1))[sh["v"], sh["u"]] == sh["group"]
        step = (nb[sh["v"], sh["u"]] - sh[key]) * sign      # how much farther from the camera-side the neighbour is
        step = np.where(np.isfinite(step) & same, step, 0.0)
        k = np.clip((step / spacing).astype(np.int64), 0, 12)
        idx = np.repeat(np.arange(k.size), k)
        starts = np.cumsum(k) - k
        frac = (np.arange(idx.size) - starts[idx] + 1) / (k[idx] + 1)
        rows.append(idx)
        zs.append(sh[key][idx] + sign * step[idx] * frac * 0.5)
    return np.concatenate(rows), np.concatenate(zs).astype(np.float32)


def extra_sites(view: PhotoView, cam: np.ndarray, spacing: float, stride: int = 1, part: np.ndarray | None = None,
                hand_joint: np.ndarray | None = None, drop_unlike: bool = False) -> ExtraSites:
    """Shell sites over person pixels the body sites leave uncovered.

    Args:
        view: the photo view; cam: [N,3] body sites (camera frame, after `shrink_to_mask`).
        spacing: typical distance between body sites, metres (the walls use it).
        stride: keep every `stride`-th pixel row and column (to fit a Gaussian budget).
        part: [N] body part per site (layers per part, see `depth_layers`), or None.
        hand_joint: [N] wrist joint of sites on a hand, -1 elsewhere (held objects), or None.
        drop_unlike: leave out regions far from the body unlike their part next to it (see
            `unlike_parts`; for a segmented photo, whose mask may hold furniture).
    """
    zf, zb, fi, bi = depth_layers(view, cam, part)
    covered = ndimage.binary_dilation(np.isfinite(zf), iterations=1)
    covered = ndimage.binary_closing(covered, iterations=2)
    extra = uncovered(view, covered)
    if stride > 1:
        grid = np.zeros_like(extra)
        grid[::stride, ::stride] = True
        extra_s = extra & grid
    else:
        extra_s = extra
    if not extra_s.any():
        return ExtraSites(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.float32), np.zeros(0, np.int64),
                          np.zeros((0, 2), np.float32))
    sh = shell_depths(view, extra, covered, zf, zb, fi, bi, part, hand_joint, drop_unlike)
    keep = extra_s[sh["v"], sh["u"]]
    sh = {k: v[keep] for k, v in sh.items()}
    wall_f, wz_f = _walls(view, sh, "zf", spacing * stride, -1.0)
    wall_b, wz_b = _walls(view, sh, "zb", spacing * stride, 1.0)
    rows = np.concatenate([np.arange(sh["v"].size), np.arange(sh["v"].size), wall_f, wall_b])
    z = np.concatenate([sh["zf"], sh["zb"], wz_f, wz_b])
    layer = np.concatenate([np.zeros(sh["v"].size), np.ones(sh["v"].size),
                            np.full(wall_f.size, 2), np.full(wall_b.size, 3)])
    u, v = sh["u"][rows] + 0.5, sh["v"][rows] + 0.5
    pts = view.unproject(u, v, z)
    normals = np.zeros_like(pts)
    normals[layer == 0] = (0.0, 0.0, -1.0)
    normals[layer == 1] = (0.0, 0.0, 1.0)
    side = layer >= 2
    normals[side, :2] = sh["out_dir"][rows[side]]
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-9)
    src = np.where(layer == 1, sh["src_b"][rows], sh["src_f"][rows])
    src = np.where(src < 0, np.maximum(sh["src_f"][rows], sh["src_b"][rows]), src)
    ok = src >= 0
    return ExtraSites(pts[ok], normals[ok].astype(np.float32), src[ok], np.stack([u, v], 1)[ok].astype(np.float32),
                      sh["joint"][rows][ok])
