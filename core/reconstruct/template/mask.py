"""Person mask: from the alpha channel, from mediapipe (optional extra), or classical GrabCut.

The classical path is a GrabCut written with numpy/scipy: colour GMMs for person and background,
a contrast-sensitive smoothness term, and an exact min-cut (`scipy.sparse.csgraph.maximum_flow`,
Dinic) on a reduced-resolution grid. It is seeded from the picture border (background) and from
the pixels the border colours explain worst (probable person).

Every path ends in `select_person`, which counts person-sized blobs and raises `InputError` for
"no person" and "more than one person".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy import ndimage
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import breadth_first_order, maximum_flow

from ...errors import InputError

StepHook = Callable[[float], None]
"""step(fraction_0_to_1): reports progress and checks for cancellation."""

WORK_SIDE = 224          # long side of the grid the graph cut runs on
GMM_COMPONENTS = 5
GRABCUT_ITERS = 5
BORDER_MIX = 0.5        # share of the border colour model in the background model
HARD = 1e4               # unary cost that makes a label impossible
MIN_PERSON_FRACTION = 0.01   # of the image area
MIN_PERSON_HEIGHT = 0.2      # of the image height


@dataclass
class MaskResult:
    """A person mask and how it was found.

    Attributes:
        mask: [H,W] float32 0..1 in input-image pixels.
        method: "alpha", "mediapipe" or "grabcut".
        notes: remarks for the diagnostics.
    """

    mask: np.ndarray
    method: str
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------- alpha
def mask_from_alpha(image: np.ndarray) -> np.ndarray | None:
    """[H,W,4] uint8 -> [H,W] float32 alpha mask, or None when there is no usable alpha.

    An alpha channel that is (almost) entirely opaque carries no mask and gives None.
    """
    if image.ndim != 3 or image.shape[2] != 4:
        return None
    alpha = image[..., 3].astype(np.float32) / 255.0
    if float(np.mean(alpha < 0.98)) < 0.005:
        return None
    return alpha


# -------------------------------------------------------------------------------------- helpers
def _resize_float(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """[H,W] or [H,W,C] float -> [height,width(,C)] with area/bilinear resampling (PIL)."""
    from PIL import Image
    if img.ndim == 2:
        return np.asarray(Image.fromarray(img.astype(np.float32), "F").resize((width, height), Image.BILINEAR))
    chans = [np.asarray(Image.fromarray(img[..., c].astype(np.float32), "F").resize((width, height), Image.BILINEAR))
             for c in range(img.shape[2])]
    return np.stack(chans, axis=-1)


def work_size(h: int, w: int, side: int = WORK_SIDE) -> tuple[int, int]:
    """Size (h, w) of the reduced grid whose long side is `side`."""
    s = side / max(h, w)
    return max(8, round(h * s)), max(8, round(w * s))


def downsample_rgb(image: np.ndarray, side: int = WORK_SIDE) -> np.ndarray:
    """[H,W,3|4] uint8 -> [h,w,3] float32 0..1 with long side `side` (box-filtered first)."""
    from PIL import Image
    h, w = work_size(image.shape[0], image.shape[1], side)
    im = Image.fromarray(np.ascontiguousarray(image[..., :3]))
    return np.asarray(im.resize((w, h), Image.BOX), np.float32) / 255.0


# ------------------------------------------------------------------------------------------ GMM
@dataclass
class GMM:
    """Full-covariance Gaussian mixture in colour space: weights [K], means [K,3], covs [K,3,3]."""

    weights: np.ndarray
    means: np.ndarray
    covs: np.ndarray

    def neg_log_likelihood(self, x: np.ndarray) -> np.ndarray:
        """[N,3] colours -> [N] -log p(x)."""
        ll = np.empty((x.shape[0], self.weights.shape[0]))
        for k in range(self.weights.shape[0]):
            inv = np.linalg.inv(self.covs[k])
            d = x - self.means[k]
            maha = np.einsum("ni,ij,nj->n", d, inv, d)
            logdet = np.linalg.slogdet(self.covs[k])[1]
            ll[:, k] = np.log(max(self.weights[k], 1e-8)) - 0.5 * (maha + logdet + 3 * np.log(2 * np.pi))
        top = ll.max(axis=1)
        return -(top + np.log(np.exp(ll - top[:, None]).sum(axis=1)))


def fit_gmm(x: np.ndarray, k: int = GMM_COMPONENTS, iters: int = 6, seed: int = 0) -> GMM:
    """Fit a GMM to [N,3] colours with k-means++ seeding and a few EM steps (subsampled to 4000)."""
    rng = np.random.default_rng(seed)
    if x.shape[0] > 4000:
        x = x[rng.choice(x.shape[0], 4000, replace=False)]
    k = max(1, min(k, x.shape[0] // 10))
    centres = [x[rng.integers(x.shape[0])]]
    for _ in range(1, k):
        d2 = np.min(((x[:, None] - np.array(centres)[None]) ** 2).sum(-1), axis=1)
        p = d2 / d2.sum() if d2.sum() > 0 else None
        centres.append(x[rng.choice(x.shape[0], p=p)])
    means = np.array(centres)
    resp = np.eye(k)[np.argmin(((x[:, None] - means[None]) ** 2).sum(-1), axis=1)]
    gmm = _m_step(x, resp)
    for _ in range(iters):
        ll = -np.stack([GMM(gmm.weights[j:j + 1] * 0 + 1, gmm.means[j:j + 1], gmm.covs[j:j + 1])
                        .neg_log_likelihood(x) for j in range(k)], axis=1) + np.log(np.maximum(gmm.weights, 1e-8))
        ll -= ll.max(axis=1, keepdims=True)
        resp = np.exp(ll)
        resp /= resp.sum(axis=1, keepdims=True)
        gmm = _m_step(x, resp)
    return gmm


def _m_step(x: np.ndarray, resp: np.ndarray) -> GMM:
    """EM maximisation: [N,3] colours, [N,K] responsibilities -> GMM (covariances regularised)."""
    nk = resp.sum(axis=0) + 1e-6
    means = (resp.T @ x) / nk[:, None]
    covs = np.empty((resp.shape[1], 3, 3))
    for j in range(resp.shape[1]):
        d = x - means[j]
        covs[j] = (resp[:, j, None] * d).T @ d / nk[j] + np.eye(3) * 4e-4
    return GMM(nk / nk.sum(), means, covs)


# -------------------------------------------------------------------------------------- min-cut
def _grid_edges(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """4- and diagonal-neighbour pixel pairs of an h x w grid: ([E] a, [E] b) flat indices."""
    idx = np.arange(h * w).reshape(h, w)
    pairs = [(idx[:, :-1], idx[:, 1:]), (idx[:-1, :], idx[1:, :]),
             (idx[:-1, :-1], idx[1:, 1:]), (idx[:-1, 1:], idx[1:, :-1])]
    return (np.concatenate([a.ravel() for a, _ in pairs]), np.concatenate([b.ravel() for _, b in pairs]))


def _pairwise_weights(rgb: np.ndarray, a: np.ndarray, b: np.ndarray, gamma: float = 50.0) -> np.ndarray:
    """Contrast-sensitive smoothness weights [E] for pixel pairs of the [h,w,3] image."""
    flat = rgb.reshape(-1, 3)
    d2 = ((flat[a] - flat[b]) ** 2).sum(-1)
    beta = 1.0 / (2.0 * max(float(d2.mean()), 1e-6))
    step = np.abs(a - b)
    dist = np.where((step == 1) | (step == rgb.shape[1]), 1.0, np.sqrt(2.0))
    return gamma * np.exp(-beta * d2) / dist


def min_cut(fg_cost: np.ndarray, bg_cost: np.ndarray, a: np.ndarray, b: np.ndarray, pair_w: np.ndarray
            ) -> np.ndarray:
    """Binary labelling minimising unary + pairwise costs with an exact max-flow.

    Args:
        fg_cost, bg_cost: [N] cost of labelling each pixel person / background (>= 0).
        a, b, pair_w: [E] neighbour pairs and their smoothness weights.
    Returns:
        [N] bool, True = person.
    """
    n = fg_cost.shape[0]
    costs = np.concatenate([fg_cost, bg_cost])
    scale = 1000.0 / max(float(np.percentile(costs[costs < HARD], 99)), 1e-6)
    src, snk = n, n + 1
    # source side = person: cutting s->p pays "background" cost, cutting p->t pays "person" cost.
    cs = np.minimum(bg_cost * scale, 1e7).astype(np.int32)
    ct = np.minimum(fg_cost * scale, 1e7).astype(np.int32)
    cp = np.minimum(pair_w * scale, 1e7).astype(np.int32)
    rows = np.concatenate([np.full(n, src), np.arange(n), a, b])
    cols = np.concatenate([np.arange(n), np.full(n, snk), b, a])
    caps = np.concatenate([cs, ct, cp, cp])
    graph = csr_matrix((caps, (rows, cols)), shape=(n + 2, n + 2))
    flow = maximum_flow(graph, src, snk, method="dinic").flow
    residual = (graph - flow).tocsr()
    residual.data = np.where(residual.data > 0, residual.data, 0)
    residual.eliminate_zeros()
    reach = breadth_first_order(residual, src, directed=True, return_predecessors=False)
    label = np.zeros(n + 2, bool)
    label[reach] = True
    return label[:n]


# -------------------------------------------------------------------------------------- GrabCut
def border_band(h: int, w: int, frac: float = 0.04) -> np.ndarray:
    """[h,w] bool: a band along the top, left and right edges and a thinner one at the bottom."""
    t = max(2, round(min(h, w) * frac))
    band = np.zeros((h, w), bool)
    band[:t], band[:, :t], band[:, -t:] = True, True, True
    band[-max(1, t // 2):] = True
    return band


def border_nll(rgb: np.ndarray, border: np.ndarray) -> np.ndarray:
    """[h,w] -log p(colour) under a GMM of the [h,w] bool border band's colours."""
    flat = rgb.reshape(-1, 3)
    bg = fit_gmm(flat[border.ravel()], k=GMM_COMPONENTS, seed=1)
    return bg.neg_log_likelihood(flat).reshape(rgb.shape[:2])


def person_rect(guess: np.ndarray) -> tuple[int, int, int, int]:
    """(r0, r1, c0, c1) box around the [h,w] bool guess's main blobs, padded; a central default
    box when the guess is empty."""
    h, w = guess.shape
    labels, comps = _components(guess)
    big = [c for c in comps if c[3] >= max(0.1 * comps[0][3], 4)] if comps else []
    if not big or comps[0][3] < 0.003 * h * w:
        return default_rect(h, w)
    r0 = min(c[1].start for c in big)
    r1 = max(c[1].stop for c in big)
    c0 = min(c[2].start for c in big)
    c1 = max(c[2].stop for c in big)
    ph, pw = round(0.06 * (r1 - r0)) + 2, round(0.12 * (c1 - c0)) + 2
    return max(0, r0 - ph), min(h, r1 + ph), max(0, c0 - pw), min(w, c1 + pw)


def loose_guess(nll: np.ndarray, border: np.ndarray) -> np.ndarray:
    """[h,w] bool: every pixel less likely under the border model than 99.5% of the border."""
    return ndimage.binary_opening(nll > np.percentile(nll[border], 99.5), iterations=1) & ~border


def grabcut(rgb: np.ndarray, rect: tuple[int, int, int, int] | None = None, step: StepHook | None = None,
            iters: int = GRABCUT_ITERS) -> np.ndarray:
    """[h,w,3] float image -> [h,w] bool person mask.

    Seeding: the border band is definite background; the box `rect` (r0, r1, c0, c1), by default
    one around the pixels the border colours explain badly, is "probably person" (GrabCut's user
    rectangle); outside it is background.
    """
    h, w = rgb.shape[:2]
    border = border_band(h, w)
    nll_border = border_nll(rgb, border)
    loose = loose_guess(nll_border, border)
    if rect is None and loose.sum() < 0.25 * MIN_PERSON_FRACTION * h * w:
        return np.zeros((h, w), bool)  # the border colours explain the whole picture
    r0, r1, c0, c1 = rect if rect is not None else person_rect(loose)
    hard_bg = np.ones((h, w), bool)
    hard_bg[r0:r1, c0:c1] = False
    hard_bg |= border & (np.arange(h)[:, None] < h - 3)   # feet may touch the bottom edge
    return grabcut_iterate(rgb, ~hard_bg, hard_bg, np.zeros((h, w), bool), nll_border, iters, step)


def grabcut_iterate(rgb: np.ndarray, label: np.ndarray, hard_bg: np.ndarray, hard_fg: np.ndarray,
                    nll_border: np.ndarray, iters: int, step: StepHook | None = None,
                    border_mix: float = BORDER_MIX) -> np.ndarray:
    """GrabCut iterations from an initial [h,w] bool labelling with hard constraints.

    The background model mixes in the border's colours (`nll_border` [h,w]) with weight
    `border_mix` (1 = border colours only), so person pixels first taken for background cannot
    drag it onto the person.
    """
    h, w = rgb.shape[:2]
    a, b = _grid_edges(h, w)
    pair_w = _pairwise_weights(rgb, a, b)
    flat, nll_flat = rgb.reshape(-1, 3), nll_border.ravel()
    hbg, hfg, label = hard_bg.ravel(), hard_fg.ravel(), label.ravel()
    for it in range(iters):
        if step is not None:
            step(it / iters)
        if label.sum() < 20 or (~label).sum() < 20:
            break
        fg_cost = fit_gmm(flat[label], seed=2 + it).neg_log_likelihood(flat)
        if border_mix < 1.0:
            bg_nll = fit_gmm(flat[~label], seed=7 + it).neg_log_likelihood(flat)
            bg_cost = -np.logaddexp(-bg_nll + np.log(1 - border_mix), -nll_flat + np.log(border_mix))
        else:
            bg_cost = nll_flat.copy()
        lo = min(fg_cost.min(), bg_cost.min())
        fg_cost, bg_cost = fg_cost - lo, bg_cost - lo
        fg_cost[hbg], bg_cost[hbg] = HARD, 0.0
        fg_cost[hfg], bg_cost[hfg] = 0.0, HARD
        label = min_cut(fg_cost, bg_cost, a, b, pair_w)
    return label.reshape(h, w)


HEM_BAND = 0.02      # of the person's height: how far beyond a learned mask GrabCut may add a hem
HAND_REACH = 0.08    # of the person's height: a region this near a hand may be something it holds


def refine_with_grabcut(image: np.ndarray, prior: np.ndarray, step: StepHook | None = None,
                        hands: np.ndarray | None = None) -> np.ndarray:
    """Add to a learned [H,W] soft person mask what it tends to miss (a held bag, a loose hem):
    GrabCut on a crop around it, the prior's core as definite person, returning the union of the
    prior and the GrabCut regions that touch it ([H,W] float32).

    With `hands` ([K,2] input pixels of the wrists, from landmarks) an added region far from both
    hands only keeps its part within `HEM_BAND` of the prior's outline: in a cluttered room GrabCut
    also takes the furniture that touches the person's outline, and a loose hem or sleeve is thin,
    while what reaches farther out is held (and so touches a hand) or is not the person's.
    """
    ys, xs = np.nonzero(prior > 0.5)
    if ys.size == 0:
        return prior
    H, W = prior.shape
    pad = int(0.25 * (ys.max() - ys.min()))
    y0, y1 = max(0, ys.min() - pad), min(H, ys.max() + pad)
    x0, x1 = max(0, xs.min() - pad), min(W, xs.max() + pad)
    rgb = downsample_rgb(image[y0:y1, x0:x1])
    h, w = rgb.shape[:2]
    p = _resize_float(prior[y0:y1, x0:x1].astype(np.float32), h, w)
    border = border_band(h, w)
    core = ndimage.binary_erosion(p > 0.5, iterations=2)
    label = grabcut_iterate(rgb, p > 0.5, border & (p < 0.1), core, border_nll(rgb, border), 2, step,
                            border_mix=1.0)
    grown = ndimage.binary_opening(label & ~(p > 0.5), iterations=1)
    lab, n = ndimage.label(grown)
    add = np.zeros_like(grown)
    person_area = float((p > 0.5).sum())
    near = ndimage.binary_dilation(p > 0.5, iterations=2)
    rows = np.nonzero((p > 0.5).any(axis=1))[0]
    height = float(rows[-1] - rows[0] + 1) if rows.size else float(h)
    s = h / (y1 - y0)
    hand_disc = None
    if hands is not None:
        yy, xx = np.mgrid[0:h, 0:w] + 0.5
        hand_disc = np.zeros((h, w), bool)
        for u, v in np.asarray(hands, np.float32):
            hand_disc |= np.hypot(xx - (u - x0) * s, yy - (v - y0) * s) < HAND_REACH * height
        hem = ndimage.distance_transform_edt(~(p > 0.5)) <= max(2.0, HEM_BAND * height)
    for i in range(1, n + 1):
        blob = lab == i
        if (blob & near).any() and not (blob & border).any() and blob.sum() < 0.35 * person_area:
            if hand_disc is not None and not (blob & hand_disc).any():
                blob &= hem
            add |= blob
    out = prior.copy()
    big = _resize_float(add.astype(np.float32), y1 - y0, x1 - x0)
    out[y0:y1, x0:x1] = np.maximum(out[y0:y1, x0:x1], np.clip((big - 0.5) * 2.5 + 0.5, 0, 1))
    return out


def default_rect(h: int, w: int) -> tuple[int, int, int, int]:
    """A central upright box (r0, r1, c0, c1) where a full-body subject usually stands."""
    return round(0.02 * h), h, round(0.18 * w), round(0.82 * w)


def crop_flat_margins(image: np.ndarray, tol: float = 3.0) -> tuple[int, int, int, int]:
    """(r0, r1, c0, c1) of the [H,W,3|4] image without uniform padding bars along its edges."""
    img = image[..., :3].astype(np.float32)
    h, w = img.shape[:2]

    def flat(line: np.ndarray) -> bool:
        return float(line.std(axis=0).max()) < tol

    def edge(a: np.ndarray, b: np.ndarray) -> bool:
        return float(np.median(np.abs(a - b).max(axis=-1))) > 8.0

    r0, r1, c0, c1 = 0, h, 0, w
    while r1 - r0 > h // 2 and flat(img[r0]):
        r0 += 1
    while r1 - r0 > h // 2 and flat(img[r1 - 1]):
        r1 -= 1
    while c1 - c0 > w // 2 and flat(img[:, c0]):
        c0 += 1
    while c1 - c0 > w // 2 and flat(img[:, c1 - 1]):
        c1 -= 1
    # A plain studio background is "flat" too: only cut bars that end in a sharp edge.
    r0 = r0 if r0 > 0 and edge(img[r0 - 1], img[min(r0 + 3, h - 1)]) else 0
    r1 = r1 if r1 < h and edge(img[r1], img[max(r1 - 4, 0)]) else h
    c0 = c0 if c0 > 0 and edge(img[:, c0 - 1], img[:, min(c0 + 3, w - 1)]) else 0
    c1 = c1 if c1 < w and edge(img[:, c1], img[:, max(c1 - 4, 0)]) else w
    if (r1 - r0) * (c1 - c0) < 0.4 * h * w:
        return 0, h, 0, w
    return r0, r1, c0, c1


# ---------------------------------------------------------------------------------- the person
def _components(mask: np.ndarray) -> tuple[np.ndarray, list[tuple[int, slice, slice, int]]]:
    """Label 8-connected blobs: ([h,w] labels, [(label, rows, cols, area)] largest first)."""
    labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
    if n == 0:
        return labels, []
    areas = ndimage.sum_labels(mask, labels, index=np.arange(1, n + 1))
    boxes = ndimage.find_objects(labels)
    items = [(i + 1, boxes[i][0], boxes[i][1], int(areas[i])) for i in range(n)]
    return labels, sorted(items, key=lambda t: -t[3])


def _is_second_person(main: tuple, other: tuple) -> bool:
    """Whether blob `other` looks like a second standing person next to blob `main`.

    Both are (label, rows, cols, area). A second person is about as tall, not much smaller, and
    stands beside the first with the head at a similar height (a held bag's top is far lower).
    """
    mh = main[1].stop - main[1].start
    oh = other[1].stop - other[1].start
    overlap = min(main[1].stop, other[1].stop) - max(main[1].start, other[1].start)
    return (other[3] >= 0.3 * main[3] and oh >= 0.6 * mh and overlap >= 0.5 * oh
            and abs(other[1].start - main[1].start) <= 0.25 * mh)


def select_person(mask: np.ndarray) -> np.ndarray:
    """Keep the one person in a [h,w] bool mask; raise InputError for none or several.

    A blob counts as a person when it is at least MIN_PERSON_HEIGHT of the picture tall and covers
    MIN_PERSON_FRACTION of it. Other blobs near the person's box (a held bag, legs cut off by a
    skirt's edge) are kept; the rest are dropped.
    """
    h, w = mask.shape
    labels, comps = _components(mask)
    people = [c for c in comps if c[3] >= MIN_PERSON_FRACTION * h * w
              and (c[1].stop - c[1].start) >= MIN_PERSON_HEIGHT * h]
    if not people:
        raise InputError("No person found in the photo.")
    main = people[0]
    others = [c for c in people[1:] if _is_second_person(main, c)]
    if others:
        raise InputError(f"The photo shows {len(others) + 1} people; use a photo of one person.")
    keep = labels == main[0]
    r0, c0, c1 = main[1].start, main[2].start, main[2].stop
    pad = (c1 - c0) // 3
    for lab, rows, cols, area in comps[1:]:
        if area >= 0.002 * main[3] and rows.start >= r0 and cols.stop >= c0 - pad and cols.start <= c1 + pad:
            keep |= labels == lab
    return keep


def fill_small_holes(mask: np.ndarray, max_frac: float = 0.002) -> np.ndarray:
    """Fill enclosed holes smaller than max_frac of the [h,w] mask area (keeps arm-torso gaps)."""
    holes = ndimage.binary_fill_holes(mask) & ~mask
    labels, n = ndimage.label(holes)
    if n == 0:
        return mask
    areas = ndimage.sum_labels(holes, labels, index=np.arange(1, n + 1))
    small = np.isin(labels, 1 + np.flatnonzero(areas < max_frac * mask.size))
    return mask | small


def clean_soft_mask(soft: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """[H,W] soft mask -> the same with every pixel outside the selected person zeroed."""
    binary = soft >= threshold
    h, w = soft.shape
    wh, ww = work_size(h, w, 320)
    small = _resize_float(binary.astype(np.float32), wh, ww) >= 0.5
    keep_small = select_person(fill_small_holes(small))
    keep = _resize_float(ndimage.binary_dilation(keep_small, iterations=2).astype(np.float32), h, w) > 0.01
    return np.where(keep, soft, 0.0).astype(np.float32)


def _person_from_grabcut(label: np.ndarray) -> np.ndarray:
    """[h,w] bool GrabCut labels -> [h,w] bool mask of the one person (raises InputError)."""
    person = select_person(fill_small_holes(ndimage.binary_opening(label, iterations=1)))
    return fill_small_holes(bridge_gaps(person))


def bridge_gaps(mask: np.ndarray, frac: float = 0.04) -> np.ndarray:
    """Close short background runs inside a [h,w] bool person mask: garment stripes or checks
    coloured like the backdrop cut bands out of limbs. A closing with a vertical line of `frac`
    of the person's height (and a horizontal one of half that) fills them; the gap between the
    legs stays, as it is open at the bottom."""
    rows = np.nonzero(mask.any(axis=1))[0]
    if rows.size == 0:
        return mask
    n = max(3, int(frac * (rows[-1] - rows[0] + 1)))
    pad = n + 1
    m = np.pad(mask, pad)
    m = ndimage.binary_closing(m, structure=np.ones((n, 1), bool))
    m = ndimage.binary_closing(m, structure=np.ones((1, max(3, n // 2)), bool))
    return m[pad:-pad, pad:-pad] | mask


def grabcut_seed_possible(rgb: np.ndarray) -> bool:
    """True when some part of the [h,w,3] picture is unlike its border (something stands there)."""
    h, w = rgb.shape[:2]
    border = border_band(h, w)
    return bool(loose_guess(border_nll(rgb, border), border).sum() >= 0.25 * MIN_PERSON_FRACTION * h * w)


def classical_mask(image: np.ndarray, step: StepHook | None = None) -> np.ndarray:
    """[H,W,3|4] uint8 -> [H,W] float32 person mask by GrabCut on a reduced grid."""
    h, w = image.shape[:2]
    r0, r1, c0, c1 = crop_flat_margins(image)
    rgb = downsample_rgb(image[r0:r1, c0:c1])
    try:
        person = _person_from_grabcut(grabcut(rgb, None, step))
    except InputError as err:
        if "No person" not in str(err) or not np.any(grabcut_seed_possible(rgb)):
            raise
        person = _person_from_grabcut(grabcut(rgb, default_rect(*rgb.shape[:2]), step))
    person = ndimage.binary_closing(person, iterations=1)
    soft = ndimage.gaussian_filter(person.astype(np.float32), 0.7)
    full = np.zeros((h, w), np.float32)
    full[r0:r1, c0:c1] = np.clip((_resize_float(soft, r1 - r0, c1 - c0) - 0.5) * 2.5 + 0.5, 0, 1)
    return full


# --------------------------------------------------------------------------------- front door
def person_mask(image: np.ndarray, *, method: str = "auto", step: StepHook | None = None,
                hands: np.ndarray | None = None) -> MaskResult:
    """Find the one person in an [H,W,3|4] uint8 image.

    Args:
        method: "auto" (alpha, then mediapipe when installed, then GrabCut), "alpha", "mediapipe"
            or "grabcut".
        step: progress/cancel hook.
        hands: [K,2] input pixels of the wrists when landmarks found them, else None (what GrabCut
            may add to a learned mask far from the outline must touch a hand, see `refine_with_grabcut`).
    Raises:
        InputError: no person, several people, or the requested method is unavailable.
    """
    notes: list[str] = []
    if method in ("auto", "alpha"):
        alpha = mask_from_alpha(image)
        if alpha is not None:
            return MaskResult(clean_soft_mask(alpha), "alpha", ["mask from the alpha channel"])
        if method == "alpha":
            raise InputError("The image has no transparency to use as a person mask.")
    if method in ("auto", "mediapipe"):
        from . import mp_backend
        if mp_backend.available():
            soft = clean_soft_mask(mp_backend.segment(image))
            soft = clean_soft_mask(refine_with_grabcut(image, soft, step, hands))
            return MaskResult(soft, "mediapipe", ["mask from mediapipe selfie segmentation, refined by GrabCut"])
        if method == "mediapipe":
            raise InputError("The landmark models (mediapipe) are not installed; install them with "
                             "`avatar-studio install-landmarks` or use another method.")
        notes.append("mediapipe not installed; classical segmentation used")
    try:
        mask = classical_mask(image, step)
    except InputError as err:
        if notes and "No person" in str(err):  # the classical fallback is weaker than the landmark model
            from ...mediapipe_models import INSTALL_HINT
            raise InputError(f"{err} The optional landmark models find people the classical mask misses; "
                             f"installing them may help: {INSTALL_HINT}") from None
        raise
    return MaskResult(mask, "grabcut", notes + ["mask from classical GrabCut segmentation"])


# ------------------------------------------------------------------------------ edge refinement
EDGE_MARGIN = 0.85   # an edge pixel is background when its colour is this much nearer the background's


def _local_mean(rgb: np.ndarray, where: np.ndarray, sigma: float) -> np.ndarray:
    """[h,w,3] mean colour of the `where` [h,w] bool pixels around every pixel (a Gaussian window of
    `sigma` pixels; beyond the window's reach, the nearest such pixel's colour)."""
    wgt = ndimage.gaussian_filter(where.astype(np.float32), sigma)
    acc = np.stack([ndimage.gaussian_filter(rgb[..., c] * where, sigma) for c in range(3)], -1)
    mean = acc / np.maximum(wgt, 1e-6)[..., None]
    if where.any():
        _, (iy, ix) = ndimage.distance_transform_edt(~where, return_indices=True)
        far = wgt < 1e-3
        mean[far] = rgb[iy[far], ix[far]]
    return mean.astype(np.float32)


def background_edge(rgb: np.ndarray, mask: np.ndarray, band_px: float, ring_px: float = 4.0) -> np.ndarray:
    """[h,w] bool: person pixels within `band_px` of the outline whose colour is nearer the local
    background than the local person colour: a soft or slightly loose mask's fringe of wall, floor
    or sky (a two-class colour model per neighbourhood: the background from a ring just outside the
    outline, the person from a ring just inside the band).

    Args: rgb: [h,w,3] float 0..1; mask: [h,w] bool person.
    """
    d_in = ndimage.distance_transform_edt(mask)
    d_out = ndimage.distance_transform_edt(~mask)
    bg_ring = ~mask & (d_out >= 1.5) & (d_out <= 1.5 + ring_px)
    fg_ring = mask & (d_in > band_px) & (d_in <= band_px + ring_px)
    if not bg_ring.any() or not fg_ring.any():
        return np.zeros_like(mask)
    sigma = band_px + ring_px
    bg = _local_mean(rgb, bg_ring, sigma)
    fg = _local_mean(rgb, fg_ring, sigma)
    d_bg = np.linalg.norm(rgb - bg, axis=-1)
    d_fg = np.linalg.norm(rgb - fg, axis=-1)
    return mask & (d_in <= band_px) & (d_bg < EDGE_MARGIN * d_fg)
