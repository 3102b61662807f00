"""Generator of the embedded stand-in SMPL-X body model.

The real SMPL-X files cannot be shipped (licence), so Avatar Studio carries a body of its own in the
exact SMPL-X `.npz` layout that `smplx` 0.1.28 reads. Everything here is generated from scratch:

1. a 55-joint skeleton in the SMPL-X joint order, T-pose, Y up, facing +Z, left = +X, metres, with
   the pelvis near (0, -0.35, 0) and the soles at y = -1.30 (about 1.70 m tall), like SMPL-X;
2. a smooth implicit humanoid (smooth union of capsules, ellipsoids and rounded boxes laid along the
   bones; five modelled fingers per hand, nose, ears, eyes);
3. a closed, oriented surface from it by marching tetrahedra (own code) on three grids, coarse for
   the body, finer for the head, finest for the hands, whose open surfaces are zipped together at
   the neck and forearms;
4. adaptive decimation by independent edge collapses (link condition, no fold-overs), relative to a
   sizing field that spends more vertices on hands and face, down to exactly 10475 vertices; a few
   rounds of split/collapse to even out edge lengths; then edge flips, tangential smoothing and
   projection back onto the implicit surface;
5. skinning weights (nearest bone, then diffused over the mesh, at most 4 influences), a joint
   regressor (each joint a non-negative weighted mean of nearby vertices that reproduces it), shape
   directions (height, girth, shoulder width, leg length) and two small expression directions,
   landmarks, hand means; no pose correctives (`posedirs` is all zeros).

Run `python -m avatar_studio.testing.standin --out resources/body/smplx/SMPLX_NEUTRAL.npz`.
The result is deterministic for a given seed (the seed only breaks ties in the decimation).
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

NUM_VERTICES = 10475
NUM_JOINTS = 55
NUM_SHAPE = 300
NUM_EXPR = 100
NUM_POSE_BASIS = (NUM_JOINTS - 1) * 9  # 486
FLOOR_Y = -1.30

from ..core.body.joints import SMPLX_JOINT_NAMES as JOINT_NAMES, SMPLX_PARENTS as PARENTS  # noqa: E402
_J = {name: i for i, name in enumerate(JOINT_NAMES)}
FINGERS = ("index", "middle", "pinky", "ring", "thumb")  # SMPL-X order of the finger chains

# smplx's vertex_ids.py ('smplx') names these vertex indices; the stand-in puts a vertex at the
# matching place of the body under each index so that smplx's extra joints mean the same thing.
SPECIAL_VERTICES = {
    "nose": 9120, "reye": 9929, "leye": 9448, "rear": 616, "lear": 6,
    "rthumb": 8079, "rindex": 7669, "rmiddle": 7794, "rring": 7905, "rpinky": 8022,
    "lthumb": 5361, "lindex": 4933, "lmiddle": 5058, "lring": 5169, "lpinky": 5286,
    "LBigToe": 5770, "LSmallToe": 5780, "LHeel": 8846, "RBigToe": 8463, "RSmallToe": 8474, "RHeel": 8635,
}


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _mirror(p) -> np.ndarray:
    """Left side (+X) to right side."""
    return np.asarray(p, np.float64) * np.array([-1.0, 1.0, 1.0])


# ---------------------------------------------------------------------------------------------------
# Skeleton
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Finger:
    """One finger chain of the left hand: joint positions, the tip, and the radius at each of them."""
    joints: np.ndarray  # [3,3] finger1..finger3
    tip: np.ndarray     # [3] end of the distal segment (inside the fingertip)
    radii: np.ndarray   # [4] radius at joints 1..3 and at the tip


@dataclass(frozen=True)
class Skeleton:
    joints: np.ndarray                 # [55,3]
    hand_frame: np.ndarray             # [3,3] rows: along the hand, forward (thumb side), back of hand (left)
    fingers: dict[str, Finger]         # left hand
    toe_tip: np.ndarray                # left foot, front of the toes (on the surface)
    heel: np.ndarray                   # left foot, back of the heel (on the surface)
    head_top: np.ndarray
    chin: np.ndarray


def _limb_frame(elbow: np.ndarray, wrist: np.ndarray) -> np.ndarray:
    u = _unit(wrist - elbow)
    f = _unit(np.array([0.0, 0.0, 1.0]) - u[2] * u)
    up = np.cross(f, u)  # +Y for the left hand (palm faces -Y)
    return np.stack([u, f, up])


def build_skeleton() -> Skeleton:
    """The rest joints: a neutral adult of about 1.70 m in SMPL-X's template frame and T-pose."""
    j = np.zeros((NUM_JOINTS, 3))

    def put(name: str, p, mirror: bool = True) -> None:
        j[_J[name]] = p
        if mirror and name.startswith("left_"):
            j[_J["right_" + name[5:]]] = _mirror(p)

    put("pelvis", (0.0, -0.350, 0.010))
    put("left_hip", (0.072, -0.450, -0.010))
    put("spine1", (0.0, -0.240, -0.015))
    put("left_knee", (0.105, -0.820, -0.022))
    put("spine2", (0.0, -0.110, -0.020))
    put("left_ankle", (0.085, -1.225, -0.050))
    put("spine3", (0.0, -0.055, 0.002))
    put("left_foot", (0.118, -1.283, 0.068))
    put("neck", (0.0, 0.108, -0.022))
    put("left_collar", (0.047, 0.028, -0.004))
    put("head", (0.0, 0.268, -0.004))
    put("left_shoulder", (0.165, 0.085, -0.016))
    put("left_elbow", (0.420, 0.045, -0.032))
    put("left_wrist", (0.670, 0.030, -0.040))
    put("jaw", (0.0, 0.255, 0.030))
    put("left_eye_smplhf", (0.031, 0.326, 0.080))

    wrist = j[_J["left_wrist"]]
    frame = _limb_frame(j[_J["left_elbow"]], wrist)
    u, f, up = frame

    def local(a: float, b: float, c: float) -> np.ndarray:
        return wrist + a * u + b * f + c * up

    def rotated(angle_deg: float, droop_deg: float = 0.0) -> np.ndarray:
        a, d = np.radians(angle_deg), np.radians(droop_deg)
        return _unit(np.cos(d) * (np.cos(a) * u + np.sin(a) * f) - np.sin(d) * up)

    fingers: dict[str, Finger] = {}
    # name: (knuckle in the hand frame, fan angle, segment lengths, radii at joints 1..3 and tip)
    table = {
        "index": ((0.088, 0.025, 0.001), 7.0, (0.040, 0.024, 0.019), (0.0086, 0.0078, 0.0072, 0.0066)),
        "middle": ((0.092, 0.005, 0.002), 1.5, (0.045, 0.027, 0.021), (0.0088, 0.0080, 0.0074, 0.0067)),
        "ring": ((0.087, -0.015, 0.001), -4.5, (0.042, 0.026, 0.020), (0.0083, 0.0076, 0.0070, 0.0064)),
        "pinky": ((0.078, -0.033, -0.001), -11.0, (0.032, 0.020, 0.018), (0.0073, 0.0067, 0.0062, 0.0057)),
    }
    for name, (knuckle, angle, lengths, radii) in table.items():
        d = rotated(angle, 2.0)
        p1 = local(*knuckle)
        p2 = p1 + lengths[0] * d
        d2 = rotated(angle, 5.0)
        p3 = p2 + lengths[1] * d2
        tip = p3 + lengths[2] * rotated(angle, 8.0)
        fingers[name] = Finger(np.stack([p1, p2, p3]), tip, np.array(radii))
    # Thumb: from the base of the metacarpal near the wrist, out and forward, a little below the palm.
    t1 = local(0.022, 0.020, -0.010)
    dt = rotated(42.0, 14.0)
    t2 = t1 + 0.040 * dt
    dt2 = rotated(36.0, 16.0)
    t3 = t2 + 0.031 * dt2
    ttip = t3 + 0.024 * rotated(32.0, 16.0)
    fingers["thumb"] = Finger(np.stack([t1, t2, t3]), ttip, np.array([0.0120, 0.0098, 0.0088, 0.0080]))
    for name, fing in fingers.items():
        for k in range(3):
            put(f"left_{name}{k + 1}", fing.joints[k])
    return Skeleton(joints=j, hand_frame=frame, fingers=fingers,
                    toe_tip=np.array([0.128, FLOOR_Y + 0.016, 0.185]),
                    heel=np.array([0.085, FLOOR_Y + 0.025, -0.110]),
                    head_top=np.array([0.0, 0.405, -0.010]), chin=np.array([0.0, 0.203, 0.085]))


# ---------------------------------------------------------------------------------------------------
# Implicit body: primitives, smooth unions
# ---------------------------------------------------------------------------------------------------
def smin(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Polynomial smooth minimum: equals min(a, b) where |a - b| >= k, rounds the crease below that."""
    if k <= 0:
        return np.minimum(a, b)
    h = np.maximum(k - np.abs(a - b), 0.0) / k
    return np.minimum(a, b) - 0.25 * k * h * h


def smax(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    return -smin(-a, -b, k)


class Prim:
    """A primitive: a signed distance estimate and a box outside of which it is positive."""

    def __init__(self, fn: Callable[[np.ndarray], np.ndarray], lo, hi) -> None:
        self.fn, self.lo, self.hi = fn, np.asarray(lo, np.float64), np.asarray(hi, np.float64)

    def __call__(self, p: np.ndarray) -> np.ndarray:
        return self.fn(p)


def capsule(a, b, ra: float, rb: float) -> Prim:
    """Segment a-b swept by a sphere whose radius varies linearly from ra to rb."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ab = b - a
    l2 = float(ab @ ab)

    def fn(p: np.ndarray) -> np.ndarray:
        t = np.clip(((p - a) @ ab) / l2, 0.0, 1.0)
        q = p - (a + t[:, None] * ab)
        return np.sqrt(np.einsum("ij,ij->i", q, q)) - (ra + (rb - ra) * t)

    r = max(ra, rb)
    return Prim(fn, np.minimum(a, b) - r, np.maximum(a, b) + r)


def ellipsoid(center, radii, axes: np.ndarray | None = None) -> Prim:
    """Ellipsoid; `axes` rows are its local axes (default: world axes). Distance to first order."""
    c, r = np.asarray(center, np.float64), np.asarray(radii, np.float64)
    ax = np.eye(3) if axes is None else np.asarray(axes, np.float64)

    def fn(p: np.ndarray) -> np.ndarray:
        q = (p - c) @ ax.T
        k0 = np.linalg.norm(q / r, axis=1)
        k1 = np.linalg.norm(q / (r * r), axis=1)
        return k0 * (k0 - 1.0) / np.maximum(k1, 1e-12)

    ext = np.abs(ax.T * r).sum(axis=1)  # a box around the rotated ellipsoid
    return Prim(fn, c - ext, c + ext)


def rounded_box(center, half, rounding: float, axes: np.ndarray) -> Prim:
    """Box with half extents `half` (in its local `axes`, rows) grown by `rounding`."""
    c, hb, ax = np.asarray(center, np.float64), np.asarray(half, np.float64), np.asarray(axes, np.float64)

    def fn(p: np.ndarray) -> np.ndarray:
        q = np.abs((p - c) @ ax.T) - hb
        outside = np.linalg.norm(np.maximum(q, 0.0), axis=1)
        inside = np.minimum(q.max(axis=1), 0.0)
        return outside + inside - rounding

    ext = np.abs(ax.T * (hb + rounding)).sum(axis=1)
    return Prim(fn, c - ext, c + ext)


class Group:
    """Smooth union of members (primitives or groups); member i joins the union so far with k[i]."""

    def __init__(self, members: Sequence, k: float | Sequence[float]) -> None:
        self.members = list(members)
        self.ks = [k] * len(self.members) if np.isscalar(k) else list(k)
        self.lo = np.min([m.lo for m in self.members], axis=0)
        self.hi = np.max([m.hi for m in self.members], axis=0)
        self.cut: tuple[np.ndarray, float, float] | None = None  # half-space kept: n.p <= c (smooth k)

    def __call__(self, p: np.ndarray) -> np.ndarray:
        return evaluate(self, p)


class Carve:
    """`base` with the `tools` smoothly cut away (blend radius k)."""

    def __init__(self, base, tools: list[Prim], k: float) -> None:
        self.base, self.tools, self.k = base, tools, k
        self.lo, self.hi = base.lo, base.hi


BAND = 0.025  # values are right within this distance of the surface (more than a grid cell's diagonal)
FAR = 1.0  # value of points culled as far away: large, so that it never takes part in a smooth union


def evaluate(node, p: np.ndarray, margin: float = BAND) -> np.ndarray:
    """Implicit value of `node` at points p [N,3]: negative inside, about the distance to the surface
    within `margin` of it. Points further than `margin` outside the node's box get FAR."""
    out = np.full(p.shape[0], FAR)
    inside = np.all((p >= node.lo - margin) & (p <= node.hi + margin), axis=1)
    idx = np.nonzero(inside)[0]
    if idx.size == 0:
        return out
    q = p[idx]
    if isinstance(node, Prim):
        out[idx] = node(q)
        return out
    if isinstance(node, Carve):
        d = evaluate(node.base, q, margin + node.k)
        for tool in node.tools:
            d = smax(d, -tool(q), node.k)
        out[idx] = d
        return out
    d = None
    # A member culled where it is further than margin + k away cannot change a smooth union (with
    # blend radius k) whose value there is below margin: every join of the group must be covered.
    inner = margin + max(node.ks)
    for m, k in zip(node.members, node.ks):
        dm = evaluate(m, q, inner)
        d = dm if d is None else smin(d, dm, k)
    if node.cut is not None:
        n, c, k = node.cut
        d = smax(d, q @ n - c, k)
    out[idx] = d
    return out


def build_body(sk: Skeleton) -> Group:
    """The implicit humanoid around the skeleton `sk`."""
    J = sk.joints

    def jp(name: str) -> np.ndarray:
        return J[_J[name]]

    def pair(left: Prim, k: float) -> Group:
        """A left primitive and its mirror image, joined symmetrically."""
        right = Prim(lambda p: left(p * np.array([-1.0, 1.0, 1.0])), left.lo * (-1, 1, 1), left.hi * (-1, 1, 1))
        right.lo, right.hi = np.minimum(right.lo, right.hi), np.maximum(right.lo, right.hi)
        return Group([left, right], k)

    torso = Group([
        ellipsoid((0.0, -0.385, -0.004), (0.163, 0.120, 0.102)),               # pelvis
        pair(ellipsoid((0.066, -0.425, -0.048), (0.083, 0.092, 0.080)), 0.05),   # buttocks
        ellipsoid((0.0, -0.215, 0.006), (0.126, 0.150, 0.092)),                # abdomen
        ellipsoid((0.0, -0.020, -0.004), (0.150, 0.165, 0.106)),               # ribcage
        ellipsoid((0.0, 0.058, -0.020), (0.175, 0.066, 0.082)),                # shoulder girdle
        pair(ellipsoid((0.064, 0.012, 0.050), (0.072, 0.058, 0.048)), 0.05),     # chest
        pair(capsule((0.0, 0.098, -0.030), (0.150, 0.095, -0.022), 0.040, 0.036), 0.05),  # trapezius
    ], 0.05)

    neck = capsule((0.0, 0.060, -0.022), (0.0, 0.285, -0.008), 0.062, 0.053)

    eye_l, eye_r = jp("left_eye_smplhf"), jp("right_eye_smplhf")
    head = Group([
        ellipsoid((0.0, 0.318, -0.012), (0.077, 0.088, 0.097)),               # cranium
        ellipsoid((0.0, 0.268, 0.024), (0.061, 0.066, 0.072)),                # face and jaw
        ellipsoid((0.0, 0.222, 0.066), (0.027, 0.020, 0.023)),                # chin
        ellipsoid((0.0, 0.343, 0.066), (0.060, 0.016, 0.028)),                # brow
        pair(ellipsoid((0.044, 0.300, 0.058), (0.024, 0.019, 0.026)), 0.03),    # cheekbones
    ], 0.03)
    carved = Carve(head, [ellipsoid(e + (0.0, -0.002, 0.015), (0.021, 0.015, 0.014)) for e in (eye_l, eye_r)],
                   0.008)  # eye sockets
    face = Group([
        carved,
        pair(ellipsoid(eye_l, (0.0125, 0.0125, 0.0125)), 0.004),               # eyeballs
        capsule((0.0, 0.322, 0.090), (0.0, 0.292, 0.108), 0.0065, 0.0090),    # nose
        ellipsoid((0.0, 0.287, 0.097), (0.016, 0.008, 0.011)),                # nostril wings
        ellipsoid((0.0, 0.244, 0.088), (0.023, 0.0095, 0.009)),               # lips
        pair(ellipsoid((0.077, 0.303, -0.012), (0.010, 0.030, 0.019)), 0.006),  # ears
    ], [0.0, 0.004, 0.010, 0.010, 0.010, 0.006])

    def leg(side: str) -> Group:
        hip, knee, ankle = jp(f"{side}_hip"), jp(f"{side}_knee"), jp(f"{side}_ankle")
        s = 1.0 if side == "left" else -1.0
        hip_top = hip + (0.016 * s, 0.03, 0.0)
        thigh_mid = hip + 0.38 * (knee - hip) + (0.012 * s, 0.0, 0.010)
        calf_mid = knee + 0.30 * (ankle - knee) + (0.0, 0.0, -0.028)
        v = _unit(knee - hip)
        w = _unit(ankle - knee)
        thigh_ax = _limb_frame(hip, hip + v)[[1, 0, 2]]  # rows: forward-ish, along, side
        calf_ax = _limb_frame(knee, knee + w)[[1, 0, 2]]
        foot_ball = jp(f"{side}_foot")
        toe = sk.toe_tip * (s, 1, 1)
        heel = sk.heel * (s, 1, 1)
        foot = Group([
            ellipsoid(heel + (0.0, 0.012, 0.035), (0.032, 0.037, 0.040)),                     # heel
            capsule(ankle + (0.0, -0.012, 0.0), foot_ball + (-0.010 * s, 0.004, -0.012), 0.036, 0.026),  # instep
            ellipsoid(foot_ball + (0.002 * s, -0.002, 0.004), (0.047, 0.021, 0.040)),           # ball
            ellipsoid(toe + (-0.010 * s, 0.004, -0.040), (0.040, 0.015, 0.042)),                # toes
            capsule(heel + (0.0, 0.004, 0.03), foot_ball + (0.0, -0.004, 0.0), 0.026, 0.025),   # sole
        ], 0.03)
        return Group([
            capsule(hip_top, knee, 0.082, 0.052),
            ellipsoid(thigh_mid, (0.072, 0.150, 0.070), thigh_ax),
            ellipsoid(knee + (0.0, 0.0, 0.008), (0.048, 0.052, 0.050)),
            capsule(knee, ankle, 0.049, 0.032),
            ellipsoid(calf_mid, (0.050, 0.125, 0.052), calf_ax),
            ellipsoid(ankle, (0.033, 0.030, 0.034)),
            foot,
        ], [0.0, 0.05, 0.03, 0.03, 0.04, 0.025, 0.03])

    def arm(side: str) -> Group:
        sh, el, wr = jp(f"{side}_shoulder"), jp(f"{side}_elbow"), jp(f"{side}_wrist")
        s = 1.0 if side == "left" else -1.0
        ua_ax = _limb_frame(sh, el)
        fa_ax = _limb_frame(el, wr)
        return Group([
            ellipsoid(sh + (0.012 * s, 0.008, 0.0), (0.060, 0.058, 0.056)),            # deltoid
            capsule(sh, el, 0.048, 0.037),
            ellipsoid(sh + 0.48 * (el - sh), (0.115, 0.044, 0.046), ua_ax),            # biceps/triceps
            ellipsoid(el, (0.036, 0.036, 0.036)),
            capsule(el, wr, 0.038, 0.024),
            ellipsoid(el + 0.30 * (wr - el), (0.095, 0.039, 0.044), fa_ax),            # forearm muscles
            ellipsoid(wr, (0.020, 0.018, 0.027), fa_ax),                               # wrist
        ], [0.0, 0.03, 0.04, 0.03, 0.03, 0.04, 0.02])

    def hand(side: str) -> Group:
        s = np.array([1.0, 1.0, 1.0]) if side == "left" else np.array([-1.0, 1.0, 1.0])
        u, f, up = sk.hand_frame * s  # mirrored vectors
        wr = jp(f"{side}_wrist")
        frame = np.stack([u, f, up])
        palm = rounded_box(wr + 0.047 * u + 0.000 * f + 0.002 * up, (0.034, 0.031, 0.004), 0.010, frame)
        heel_of_hand = ellipsoid(wr + 0.028 * u - 0.002 * f - 0.002 * up, (0.030, 0.034, 0.014), frame)
        members: list = [palm, heel_of_hand]
        ks: list[float] = [0.0, 0.02]
        for name in ("index", "middle", "ring", "pinky"):
            fg = sk.fingers[name]
            pts = np.vstack([fg.joints, fg.tip[None]]) * s
            r = fg.radii
            segs = [capsule(pts[i], pts[i + 1], r[i], r[i + 1]) for i in range(3)]
            # The metacarpal inside the palm, so that knuckles read as bumps.
            base = capsule(wr + 0.035 * u + (pts[0] - wr) @ f * f, pts[0], r[0] * 0.9, r[0])
            members.append(Group([base] + segs, [0.0, 0.004, 0.003, 0.003]))
            ks.append(0.009)
        th = sk.fingers["thumb"]
        pts = np.vstack([th.joints, th.tip[None]]) * s
        r = th.radii
        thumb = Group([
            capsule(pts[0] - 0.012 * u, pts[1], 0.016, r[1]),        # thenar eminence
            capsule(pts[1], pts[2], r[1], r[2]),
            capsule(pts[2], pts[3], r[2], r[3]),
        ], [0.0, 0.004, 0.003])
        members.append(thumb)
        ks.append(0.018)
        return Group(members, ks)

    legs = Group([leg("left"), leg("right")], 0.008)  # the thighs must not blend into each other
    body = Group([torso, neck, face, legs, arm("left"), arm("right"), hand("left"), hand("right")],
                 [0.0, 0.035, 0.03, 0.045, 0.035, 0.035, 0.018, 0.018])
    body.cut = (np.array([0.0, -1.0, 0.0]), -FLOOR_Y, 0.004)  # flat soles: keep y >= FLOOR_Y
    return body


def sdf_gradient(body, p: np.ndarray, eps: float = 2e-4, d0: np.ndarray | None = None) -> np.ndarray:
    """Finite-difference gradient (forward differences when the values `d0` at p are given)."""
    g = np.zeros_like(p)
    for a in range(3):
        d = np.zeros(3)
        d[a] = eps
        if d0 is None:
            g[:, a] = (evaluate(body, p + d) - evaluate(body, p - d)) / (2 * eps)
        else:
            g[:, a] = (evaluate(body, p + d) - d0) / eps
    return g


def project_to_surface(body, p: np.ndarray, iters: int = 3, max_step: float = 0.01) -> np.ndarray:
    """Newton steps p <- p - f(p) grad / |grad|^2, each step clipped to `max_step`."""
    p = p.copy()
    for _ in range(iters):
        d = evaluate(body, p)
        g = sdf_gradient(body, p, d0=d)
        gg = np.maximum(np.einsum("ij,ij->i", g, g), 1e-8)
        step = -(d / gg)[:, None] * g
        n = np.linalg.norm(step, axis=1, keepdims=True)
        step *= np.minimum(1.0, max_step / np.maximum(n, 1e-12))
        p += step
    return p


# ---------------------------------------------------------------------------------------------------
# Surface extraction: marching tetrahedra on a rectilinear grid
# ---------------------------------------------------------------------------------------------------
# The six tetrahedra of a cube along its main diagonal (Kuhn): paths 000 -> 111 over the axes in
# each order. Neighbouring cubes split their shared faces the same way, so the result is conforming.
_PERMS = ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))


def _tet_offsets() -> np.ndarray:
    out = np.zeros((6, 4, 3), np.int64)
    for t, perm in enumerate(_PERMS):
        cur = np.zeros(3, np.int64)
        for s, axis in enumerate(perm):
            cur = cur.copy()
            cur[axis] = 1
            out[t, s + 1] = cur
    return out


def _case_table() -> dict[int, list[tuple[tuple[int, int], ...]]]:
    """For each 4-bit inside code of a tetrahedron: triangles, each as three (inside, outside) edges."""
    table: dict[int, list[tuple[tuple[int, int], ...]]] = {}
    for code in range(16):
        ins = [i for i in range(4) if code >> i & 1]
        out = [i for i in range(4) if not code >> i & 1]
        if len(ins) == 1:
            a = ins[0]
            table[code] = [((a, out[0]), (a, out[1]), (a, out[2]))]
        elif len(ins) == 3:
            d = out[0]
            table[code] = [((ins[0], d), (ins[1], d), (ins[2], d))]
        elif len(ins) == 2:
            a, b = ins
            c, d = out
            table[code] = [((a, c), (a, d), (b, d)), ((a, c), (b, d), (b, c))]
    return table


def marching_tetrahedra(xs: np.ndarray, ys: np.ndarray, zs: np.ndarray, values: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Closed triangle surface {values = 0} (values < 0 inside) with outward-facing triangles.

    The piecewise-linear field on the tetrahedra has a 2-manifold zero set when no node value is
    exactly zero, so the result is watertight wherever the field is positive on the grid boundary.
    """
    nx, ny, nz = values.shape
    vals = np.where(values == 0.0, 1e-12, values)
    inside = vals < 0
    corners = [inside[a:nx - 1 + a, b:ny - 1 + b, c:nz - 1 + c] for a in (0, 1) for b in (0, 1) for c in (0, 1)]
    any_in = np.logical_or.reduce(corners)
    all_in = np.logical_and.reduce(corners)
    ci, cj, ck = np.nonzero(any_in & ~all_in)
    del corners, any_in, all_in
    offs = _tet_offsets()  # [6,4,3]
    nodes = ((ci[:, None, None] + offs[None, :, :, 0]) * ny + (cj[:, None, None] + offs[None, :, :, 1])) * nz \
        + (ck[:, None, None] + offs[None, :, :, 2])
    nodes = nodes.reshape(-1, 4)
    flat = vals.reshape(-1)
    ins = flat[nodes] < 0
    code = ins.astype(np.int64) @ np.array([1, 2, 4, 8])
    tris_a, tris_b, refs = [], [], []  # node pairs of the three edges of each triangle; orientation refs
    grid_pts = lambda n: np.stack([xs[n // (ny * nz)], ys[(n // nz) % ny], zs[n % nz]], axis=-1)  # noqa: E731
    for c, tris in _case_table().items():
        sel = np.nonzero(code == c)[0]
        if sel.size == 0:
            continue
        tn = nodes[sel]
        tin = ins[sel].astype(np.float64)
        pts = grid_pts(tn)  # [m,4,3]
        ref = (pts * (1 - tin)[..., None]).sum(1) / (1 - tin).sum(1, keepdims=True) \
            - (pts * tin[..., None]).sum(1) / tin.sum(1, keepdims=True)
        for tri in tris:
            tris_a.append(np.stack([tn[:, e[0]] for e in tri], axis=1))
            tris_b.append(np.stack([tn[:, e[1]] for e in tri], axis=1))
            refs.append(ref)
    ea = np.concatenate(tris_a)  # [T,3] inside node of each edge
    eb = np.concatenate(tris_b)  # [T,3] outside node
    ref = np.concatenate(refs)
    n_nodes = nx * ny * nz
    keys = ea * n_nodes + eb
    uniq, inv = np.unique(keys.reshape(-1), return_inverse=True)
    faces = inv.reshape(-1, 3)
    na, nb = uniq // n_nodes, uniq % n_nodes
    pa, pb = grid_pts(na), grid_pts(nb)
    da, db = flat[na], flat[nb]
    t = np.clip(da / (da - db), 0.01, 0.99)
    verts = pa + t[:, None] * (pb - pa)
    # Orientation from the edge midpoints (never degenerate): normals point from inside to outside.
    mid = 0.5 * (pa + pb)
    m = mid[faces]
    nrm = np.cross(m[:, 1] - m[:, 0], m[:, 2] - m[:, 0])
    flip = np.einsum("ij,ij->i", nrm, ref) < 0
    faces[flip] = faces[flip][:, ::-1]
    return verts, faces


def largest_component(verts: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    n = verts.shape[0]
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    g = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    _, lab = connected_components(g, directed=False)
    keep_label = np.bincount(lab[faces[:, 0]]).argmax()
    keep = lab == keep_label
    remap = np.cumsum(keep) - 1
    f = faces[keep[faces[:, 0]]]
    return verts[keep], remap[f]


def _grid_values(body, xs: np.ndarray, ys: np.ndarray, zs: np.ndarray) -> np.ndarray:
    vals = np.empty((xs.size, ys.size, zs.size), np.float64)
    yy, zz = np.meshgrid(ys, zs, indexing="ij")
    yz = np.stack([yy.reshape(-1), zz.reshape(-1)], axis=1)
    step = max(1, 400_000 // yz.shape[0])
    for i0 in range(0, xs.size, step):
        xc = xs[i0:i0 + step]
        p = np.concatenate([np.repeat(xc, yz.shape[0])[:, None], np.tile(yz, (xc.size, 1))], axis=1)
        vals[i0:i0 + step] = evaluate(body, p).reshape(xc.size, ys.size, zs.size)
    return vals


def _axis(lo: float, hi: float, h: float) -> np.ndarray:
    return np.linspace(lo, hi, int(np.ceil((hi - lo) / h)) + 1)


def boundary_loops(faces: np.ndarray) -> list[np.ndarray]:
    """Closed loops of boundary half-edges (half-edges whose twin is missing), each in the direction
    the half-edges run in their faces."""
    he = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    n = int(faces.max()) + 1
    keys = he[:, 0].astype(np.int64) * n + he[:, 1]
    twin = he[:, 1].astype(np.int64) * n + he[:, 0]
    border = he[~np.isin(keys, twin)]
    nxt = dict(zip(border[:, 0].tolist(), border[:, 1].tolist()))
    if len(nxt) != len(border):
        raise RuntimeError("a boundary vertex is not manifold")
    loops, seen = [], set()
    for s in sorted(nxt):
        if s in seen:
            continue
        loop = [s]
        seen.add(s)
        while nxt[loop[-1]] != s:
            loop.append(nxt[loop[-1]])
            seen.add(loop[-1])
        loops.append(np.array(loop))
    return loops


def zip_loops(verts: np.ndarray, loop_a: np.ndarray, loop_b: np.ndarray, axis: int) -> np.ndarray:
    """Triangles joining two boundary loops that run around the same tube, across planes normal to
    `axis`. Each loop is a list of vertex ids in its half-edge direction; the new triangles use those
    half-edges reversed, so the result is consistently oriented."""
    others = [a for a in range(3) if a != axis]
    center = verts[loop_b][:, others].mean(0)

    def angles(loop: np.ndarray) -> np.ndarray:
        q = verts[loop][:, others] - center
        return np.arctan2(q[:, 1], q[:, 0])

    def ordered(loop: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        """The loop turned to run by increasing angle from its smallest angle in [0, 2 pi); the
        unwrapped angles; whether it was reversed."""
        th = np.unwrap(angles(loop))
        rev = bool(th[-1] < th[0])
        if rev:
            loop = loop[::-1]
            th = np.unwrap(angles(loop))
        if np.any(np.diff(th) <= 0) or th[-1] - th[0] >= 2 * np.pi:
            raise RuntimeError("a cut cross-section is not star-shaped around its centre")
        loop = np.roll(loop, -int(np.argmin(np.mod(th, 2 * np.pi))))
        th = np.unwrap(angles(loop))
        return loop, th - th[0] + np.mod(th[0], 2 * np.pi), rev

    la, ta, rev_a = ordered(loop_a)
    lb, tb, rev_b = ordered(loop_b)
    ta = np.append(ta, ta[0] + 2 * np.pi)
    tb = np.append(tb, tb[0] + 2 * np.pi)
    m, k = la.size, lb.size
    tris, own = [], []  # own: which loop's edge the triangle holds (0 = a, 1 = b)
    i = j = 0
    while i < m or j < k:
        if j >= k or (i < m and ta[i + 1] <= tb[j + 1]):
            tris.append((la[i], la[(i + 1) % m], lb[j % k]))
            own.append(0)
            i += 1
        else:
            tris.append((la[i % m], lb[j], lb[(j + 1) % k]))
            own.append(1)
            j += 1
    t = np.array(tris)
    own = np.array(own)
    # Triangle (a_i, a_i+1, b) runs a_i -> a_i+1: right if the loop's own half-edge runs the other
    # way (the loop was reversed to increase the angle); likewise for (a, b_j, b_j+1).
    flip = np.where(own == 0, not rev_a, not rev_b)
    t[flip] = t[flip][:, ::-1]
    return t


def extract_surface(body, h_body: float = 0.013, h_head: float = 0.0055, h_hand: float = 0.0031
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Closed surface of `body` by marching tetrahedra on three kinds of grid: coarse for the body,
    finer for the head and finest for the hands. The body grid ends at planes across the neck and
    the forearms, the other grids start a few millimetres beyond them; the open surfaces' boundary
    loops on those planes are zipped together."""
    x_cut, y_cut, gap = 0.625, 0.168, 0.005
    parts = []
    grids = [
        (_axis(-x_cut, x_cut, h_body), _axis(FLOOR_Y - 0.03, y_cut, h_body), _axis(-0.19, 0.25, h_body)),
        (_axis(-0.13, 0.13, h_head), _axis(y_cut + gap, 0.44, h_head), _axis(-0.15, 0.17, h_head)),
    ]
    hx = _axis(x_cut + gap, 0.92, h_hand)
    hy, hz = _axis(-0.075, 0.125, h_hand), _axis(-0.135, 0.105, h_hand)
    grids += [(hx, hy, hz), (-hx[::-1], hy, hz)]
    offset = 0
    for xs, ys, zs in grids:
        v, f = marching_tetrahedra(xs, ys, zs, _grid_values(body, xs, ys, zs))
        parts.append((v, f + offset))
        offset += v.shape[0]
    verts = np.concatenate([p[0] for p in parts])
    faces = np.concatenate([p[1] for p in parts])
    loops = boundary_loops(faces)

    def on_plane(axis: int, value: float) -> np.ndarray:
        hits = [lp for lp in loops if np.allclose(verts[lp, axis], value, atol=1e-9)]
        if len(hits) != 1:
            raise RuntimeError(f"expected one boundary loop on the cut plane, found {len(hits)}")
        return hits[0]

    if len(loops) != 6:
        raise RuntimeError(f"expected 6 boundary loops at the cuts, found {len(loops)}")
    stitches = [zip_loops(verts, on_plane(1, y_cut), on_plane(1, y_cut + gap), 1),
                zip_loops(verts, on_plane(0, x_cut), on_plane(0, x_cut + gap), 0),
                zip_loops(verts, on_plane(0, -x_cut), on_plane(0, -x_cut - gap), 0)]
    faces = np.concatenate([faces] + stitches)
    return largest_component(verts, faces)


# ---------------------------------------------------------------------------------------------------
# Mesh operations (vectorised over independent sets)
# ---------------------------------------------------------------------------------------------------
def unique_edges(faces: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique edges [E,2] and, per face, the ids of its edges (v0v1, v1v2, v2v0) [F,3]."""
    a = faces.reshape(-1)
    b = faces[:, [1, 2, 0]].reshape(-1)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    keys = lo.astype(np.int64) * n + hi
    uniq, inv = np.unique(keys, return_inverse=True)
    return np.stack([uniq // n, uniq % n], axis=1), inv.reshape(-1, 3)


def adjacency(edges: np.ndarray, n: int):
    from scipy.sparse import csr_matrix
    e = np.concatenate([edges, edges[:, ::-1]])
    return csr_matrix((np.ones(len(e), np.int8), (e[:, 0], e[:, 1])), shape=(n, n))


def face_normals(verts: np.ndarray, faces: np.ndarray, unit: bool = True) -> np.ndarray:
    p = verts[faces]
    n = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    if unit:
        n = n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-20)
    return n


def triangle_quality(p: np.ndarray) -> np.ndarray:
    """4*sqrt(3)*area / (sum of squared edge lengths) of triangles p [F,3,3]: 1 equilateral, 0 degenerate."""
    n = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    area2 = np.linalg.norm(n, axis=1)
    l2 = ((p[:, 1] - p[:, 0]) ** 2 + (p[:, 2] - p[:, 1]) ** 2 + (p[:, 0] - p[:, 2]) ** 2).sum(1)
    return 2 * np.sqrt(3) * area2 / np.maximum(l2, 1e-30)


def vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    fn = face_normals(verts, faces, unit=False)
    vn = np.zeros_like(verts)
    for k in range(3):
        np.add.at(vn, faces[:, k], fn)
    return vn / np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-20)


def _independent(edges: np.ndarray, cand: np.ndarray, priority: np.ndarray, n: int) -> np.ndarray:
    """Candidate edges whose priority is the lowest among all candidates touching their endpoints'
    closed neighbourhoods: no two chosen edges have adjacent or shared endpoints."""
    big = np.iinfo(np.int64).max
    rank = np.full(len(edges), big, np.int64)
    order = cand[np.argsort(priority[cand], kind="stable")]
    rank[order] = np.arange(order.size)
    vmin1 = np.full(n, big, np.int64)
    np.minimum.at(vmin1, edges[cand, 0], rank[cand])
    np.minimum.at(vmin1, edges[cand, 1], rank[cand])
    vmin2 = vmin1.copy()
    np.minimum.at(vmin2, edges[:, 0], vmin1[edges[:, 1]])
    np.minimum.at(vmin2, edges[:, 1], vmin1[edges[:, 0]])
    ok = rank[cand] == np.minimum(vmin2[edges[cand, 0]], vmin2[edges[cand, 1]])
    return cand[ok]


def collapse_edges(verts: np.ndarray, faces: np.ndarray, priority: np.ndarray, cand: np.ndarray,
                   edges: np.ndarray, place: Callable[[np.ndarray], np.ndarray], limit: int,
                   min_quality: float = 0.12, max_valence: int = 10, tiny: float = 0.0, body=None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Collapse an independent subset of the candidate edges (cheapest `priority` first), each to
    `place(midpoint)`, keeping the surface a closed 2-manifold without fold-overs (at most `limit`).
    Returns the new mesh, the old ids of the kept vertices, the new ids of the moved ones and the
    (old) endpoints of the edges that were chosen but refused. Edges shorter than `tiny` (tangles
    left by the extraction, whose normals mean nothing) skip the geometric checks."""
    n = verts.shape[0]
    sel = _independent(edges, cand, priority, n)
    refused = [np.zeros(0, np.int64)]
    none = lambda: (verts, faces, np.arange(n), np.zeros(0, np.int64), np.concatenate(refused))  # noqa: E731
    if sel.size == 0:
        return none()
    adj = adjacency(edges, n)
    a, b = edges[sel, 0], edges[sel, 1]
    common = np.asarray(adj[a].multiply(adj[b]).sum(axis=1)).ravel()
    valence = np.diff(adj.indptr)
    ok = (common == 2) & (valence[a] + valence[b] - 4 <= max_valence)
    refused.append(np.concatenate([a[~ok], b[~ok]]))
    a, b, sel = a[ok], b[ok], sel[ok]
    if sel.size == 0:
        return none()
    # Where one end has valence 3 (a tent left by the extraction), keep the other end's position.
    p = place(0.5 * (verts[a] + verts[b]))
    p = np.where((valence[a] == 3)[:, None], verts[b], p)
    p = np.where((valence[b] == 3)[:, None] & (valence[a] > 3)[:, None], verts[a], p)
    cid = np.full(n, -1, np.int64)
    cid[a] = np.arange(a.size)
    cid[b] = np.arange(a.size)
    fc = cid[faces].max(axis=1)
    touched = np.nonzero(fc >= 0)[0]
    ft = faces[touched]
    c = fc[touched]
    old = verts[ft]
    n_old_raw = np.cross(old[:, 1] - old[:, 0], old[:, 2] - old[:, 0])
    ref = np.zeros((a.size, 3))
    np.add.at(ref, c, n_old_raw)  # area-weighted normal of the whole umbrella
    ref /= np.maximum(np.linalg.norm(ref, axis=1, keepdims=True), 1e-30)
    q_old = triangle_quality(old)
    qmin_old = np.full(a.size, np.inf)
    np.minimum.at(qmin_old, c, q_old)
    has_a = (ft == a[c][:, None]).any(1)
    has_b = (ft == b[c][:, None]).any(1)
    keep = ~(has_a & has_b)
    ft, c, old, n_old_raw, q_old = ft[keep], c[keep], old[keep], n_old_raw[keep], q_old[keep]
    new = old.copy()
    moved = (ft == a[c][:, None]) | (ft == b[c][:, None])
    new[moved] = p[np.repeat(c, 3).reshape(-1, 3)[moved]]
    n_old = n_old_raw / np.maximum(np.linalg.norm(n_old_raw, axis=1, keepdims=True), 1e-30)
    nn = np.cross(new[:, 1] - new[:, 0], new[:, 2] - new[:, 0])
    nn = nn / np.maximum(np.linalg.norm(nn, axis=1, keepdims=True), 1e-30)
    q_new = triangle_quality(new)
    qmin_new = np.full(a.size, np.inf)
    np.minimum.at(qmin_new, c, q_new)
    bad = (np.einsum("ij,ij->i", nn, ref[c]) < 0.0) | ((q_old > 0.1) & (np.einsum("ij,ij->i", n_old, nn) < 0.2))
    rejected = (np.bincount(c[bad], minlength=a.size) > 0) | (qmin_new < np.minimum(min_quality, 0.9 * qmin_old))
    is_tiny = np.linalg.norm(verts[a] - verts[b], axis=1) < tiny
    if is_tiny.any():
        # Tangles: judge the new faces against the implicit surface's normal instead.
        t = is_tiny[c]
        g = sdf_gradient(body, new[t].mean(1)) if body is not None else nn[t]
        g /= np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
        flipped = np.einsum("ij,ij->i", nn[t], g) < 0.2
        rejected = np.where(is_tiny, np.bincount(c[t][flipped], minlength=a.size) > 0, rejected)
    refused.append(np.concatenate([a[rejected], b[rejected]]))
    good = ~rejected
    if good.sum() > limit:
        idx = np.nonzero(good)[0]
        good[idx[np.argsort(priority[sel[idx]], kind="stable")[limit:]]] = False
    a, b, p = a[good], b[good], p[good]
    if a.size == 0:
        return none()
    verts = verts.copy()
    verts[a] = p
    remap = np.arange(n)
    remap[b] = a
    f = remap[faces]
    f = f[(f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 2] != f[:, 0])]
    keepv = np.ones(n, bool)
    keepv[b] = False
    newid = np.cumsum(keepv) - 1
    return verts[keepv], newid[f], np.nonzero(keepv)[0], newid[a], np.concatenate(refused)


def _edge_faces(faces: np.ndarray, fe: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For each edge of a closed manifold: its two faces and the slot of the edge in each."""
    order = np.argsort(fe.reshape(-1), kind="stable")
    fidx = (order // 3).reshape(-1, 2)
    slot = (order % 3).reshape(-1, 2)
    return fidx[:, 0], fidx[:, 1], slot[:, 0], slot[:, 1]


def flip_edges(verts: np.ndarray, faces: np.ndarray, mode: str = "delaunay") -> tuple[np.ndarray, int]:
    """One round of independent edge flips that improve the mesh: 'delaunay' flips edges whose
    opposite angles sum above pi; 'valence' flips edges that bring the four vertices closer to
    valence 6. Flips keep nearly coplanar pairs only and never create an existing edge."""
    n = verts.shape[0]
    edges, fe = unique_edges(faces, n)
    ne = len(edges)
    # The two faces of each edge and the vertex opposite the edge in each.
    f0, f1, s0, s1 = _edge_faces(faces, fe)
    opp0 = faces[f0, (s0 + 2) % 3]
    opp1 = faces[f1, (s1 + 2) % 3]
    # Edge as it runs in face f0: faces[f0, s0] -> faces[f0, s0 + 1].
    u = faces[f0, s0]
    w = faces[f0, (s0 + 1) % 3]
    pu, pw, pc, pd = verts[u], verts[w], verts[opp0], verts[opp1]

    def angle(at, x, y):
        e1, e2 = x - at, y - at
        cosv = np.einsum("ij,ij->i", e1, e2) / np.maximum(np.linalg.norm(e1, axis=1) * np.linalg.norm(e2, axis=1), 1e-20)
        return np.arccos(np.clip(cosv, -1, 1))

    n0 = face_normals(verts, faces[f0])
    n1 = face_normals(verts, faces[f1])
    flat = np.einsum("ij,ij->i", n0, n1) > 0.94
    if mode == "delaunay":
        gain = angle(pc, pu, pw) + angle(pd, pu, pw) - np.pi
        want = gain > 1e-3
    else:
        adj = adjacency(edges, n)
        val = np.diff(adj.indptr).astype(np.int64)
        dev = lambda x: (x - 6) ** 2  # noqa: E731
        before = dev(val[u]) + dev(val[w]) + dev(val[opp0]) + dev(val[opp1])
        after = dev(val[u] - 1) + dev(val[w] - 1) + dev(val[opp0] + 1) + dev(val[opp1] + 1)
        gain = (before - after).astype(np.float64)
        want = (gain > 0) & (val[u] > 4) & (val[w] > 4)
    # Face f0 runs u->w->c and f1 runs w->u->d; after the flip: (u, d, c) and (w, c, d).
    nf0 = np.stack([u, opp1, opp0], 1)
    nf1 = np.stack([w, opp0, opp1], 1)
    q_old = np.minimum(triangle_quality(verts[faces[f0]]), triangle_quality(verts[faces[f1]]))
    q_new = np.minimum(triangle_quality(verts[nf0]), triangle_quality(verts[nf1]))
    m0, m1 = face_normals(verts, nf0), face_normals(verts, nf1)
    nsum = n0 + n1
    orient_ok = (np.einsum("ij,ij->i", m0, nsum) > 0.5) & (np.einsum("ij,ij->i", m1, nsum) > 0.5)
    if mode == "delaunay":
        cand = want & flat & orient_ok & (q_new > q_old)
    else:
        cand = want & flat & orient_ok & (q_new > 0.5 * q_old) & (q_new > 0.2)
    cand &= opp0 != opp1
    # The new edge must not exist already.
    lo, hi = np.minimum(opp0, opp1), np.maximum(opp0, opp1)
    exist_keys = edges[:, 0] * n + edges[:, 1]
    cand &= ~np.isin(lo * n + hi, exist_keys)
    idx = np.nonzero(cand)[0]
    if idx.size == 0:
        return faces, 0
    # Independent: each face takes part in at most one flip (highest gain wins).
    prio = np.full(ne, -np.inf)
    prio[idx] = gain[idx] + 1e-9 * np.arange(idx.size)[::-1]
    best = np.full(len(faces), -np.inf)
    np.maximum.at(best, f0[idx], prio[idx])
    np.maximum.at(best, f1[idx], prio[idx])
    chosen = idx[(prio[idx] == best[f0[idx]]) & (prio[idx] == best[f1[idx]])]
    # Two flips on different faces could still create the same new edge: keep the first.
    k = lo[chosen] * n + hi[chosen]
    _, first = np.unique(k, return_index=True)
    chosen = chosen[np.sort(first)]
    faces = faces.copy()
    faces[f0[chosen]] = nf0[chosen]
    faces[f1[chosen]] = nf1[chosen]
    return faces, int(chosen.size)


def split_edges(verts: np.ndarray, faces: np.ndarray, priority: np.ndarray, cand: np.ndarray,
                place: Callable[[np.ndarray], np.ndarray], limit: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Split up to `limit` candidate edges (highest `priority` first; no two in one face) at
    `place(midpoint)`; each split adds one vertex and two faces."""
    n = verts.shape[0]
    edges, fe = unique_edges(faces, n)
    f0, f1, s0, s1 = _edge_faces(faces, fe)
    prio = np.full(len(edges), -np.inf)
    prio[cand] = priority[cand]
    best = np.full(len(faces), -np.inf)
    np.maximum.at(best, f0[cand], prio[cand])
    np.maximum.at(best, f1[cand], prio[cand])
    chosen = cand[(prio[cand] == best[f0[cand]]) & (prio[cand] == best[f1[cand]])]
    chosen = chosen[np.argsort(-prio[chosen], kind="stable")][:limit]
    if chosen.size == 0:
        return verts, faces, 0
    g0, g1, t0, t1 = f0[chosen], f1[chosen], s0[chosen], s1[chosen]
    u = faces[g0, t0]
    w = faces[g0, (t0 + 1) % 3]
    c = faces[g0, (t0 + 2) % 3]
    d = faces[g1, (t1 + 2) % 3]
    m = n + np.arange(chosen.size)
    newv = place(0.5 * (verts[u] + verts[w]))
    faces = faces.copy()
    faces[g0] = np.stack([u, m, c], 1)
    faces[g1] = np.stack([w, m, d], 1)
    extra = np.concatenate([np.stack([m, w, c], 1), np.stack([m, u, d], 1)])
    return np.vstack([verts, newv]), np.vstack([faces, extra]), int(chosen.size)



def _relative_edge_lengths(verts: np.ndarray, faces: np.ndarray, size_fn, rng: np.random.Generator):
    """(edges [E,2], sizing field [V], edge length / local target size [E] with a tiny random
    tie-breaker so sorting is deterministic for a given rng)."""
    edges, _ = unique_edges(faces, verts.shape[0])
    size = size_fn(verts)
    rel = np.linalg.norm(verts[edges[:, 0]] - verts[edges[:, 1]], axis=1) \
        / (0.5 * (size[edges[:, 0]] + size[edges[:, 1]]))
    rel *= 1.0 + 1e-3 * rng.random(rel.size)
    return edges, size, rel


def equalize(verts: np.ndarray, faces: np.ndarray, body, size_fn: Callable[[np.ndarray], np.ndarray],
             rng: np.random.Generator, rounds: int = 12, fraction: float = 0.03) -> tuple[np.ndarray, np.ndarray]:
    """Even out edge lengths relative to the sizing field at a fixed vertex count: split the
    relatively longest edges, collapse as many relatively shortest ones, flip toward valence 6."""
    place = lambda m: project_to_surface(body, m, iters=2)  # noqa: E731
    target = verts.shape[0]
    for _ in range(rounds):
        n = verts.shape[0]
        edges, size, rel = _relative_edge_lengths(verts, faces, size_fn, rng)
        k = max(1, int(fraction * n))
        longest = np.argsort(-rel, kind="stable")[:3 * k]
        verts, faces, _ = split_edges(verts, faces, rel, longest, place, k)
        spread = 6
        while verts.shape[0] > target:
            n = verts.shape[0]
            edges, size, rel = _relative_edge_lengths(verts, faces, size_fn, rng)
            cand = np.argsort(rel, kind="stable")[:spread * (n - target)]
            tiny = 0.1 * np.median(rel) * float(np.min(size))
            verts, faces, _, _, _ = collapse_edges(verts, faces, rel, cand, edges, place, n - target, tiny=tiny,
                                                   body=body)
            if verts.shape[0] == n:
                spread *= 2
                if spread > 4 * len(edges):
                    raise RuntimeError("equalization stalled")
        faces, _ = flip_edges(verts, faces, "valence")
    return verts, faces


def tangential_smooth(verts: np.ndarray, faces: np.ndarray, body, weight: np.ndarray | None = None,
                      step: float = 0.5) -> np.ndarray:
    """Move each vertex toward the (weighted) mean of its neighbours within its tangent plane, then
    back onto the implicit surface."""
    n = verts.shape[0]
    edges, _ = unique_edges(faces, n)
    w = np.ones(len(edges)) if weight is None else 0.5 * (weight[edges[:, 0]] + weight[edges[:, 1]])
    acc = np.zeros_like(verts)
    tot = np.zeros(n)
    np.add.at(acc, edges[:, 0], w[:, None] * verts[edges[:, 1]])
    np.add.at(acc, edges[:, 1], w[:, None] * verts[edges[:, 0]])
    np.add.at(tot, edges[:, 0], w)
    np.add.at(tot, edges[:, 1], w)
    delta = acc / tot[:, None] - verts
    nrm = vertex_normals(verts, faces)
    delta -= np.einsum("ij,ij->i", delta, nrm)[:, None] * nrm
    new = project_to_surface(body, verts + step * delta, iters=2)
    # Keep moves that do not fold faces over.
    fn_old = face_normals(verts, faces)
    fn_new = face_normals(new, faces)
    bad = np.einsum("ij,ij->i", fn_old, fn_new) < 0.5
    if bad.any():
        revert = np.zeros(n, bool)
        revert[faces[bad].reshape(-1)] = True
        new[revert] = verts[revert]
    return new


def _seg_dist(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    t = np.clip(((p - a) @ ab) / float(ab @ ab), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[:, None] * ab), axis=1)


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def sizing(sk: Skeleton, p: np.ndarray) -> np.ndarray:
    """Relative target edge length: 1 on the body, smaller on the hands, face and feet."""
    J = sk.joints
    s = np.ones(p.shape[0])
    for side, sx in (("left", 1.0), ("right", -1.0)):
        wr = J[_J[f"{side}_wrist"]]
        m = np.array([sx, 1.0, 1.0])
        d = _seg_dist(p, wr + 0.02 * (J[_J[f"{side}_middle1"]] - wr), J[_J[f"{side}_middle1"]])
        for fg in sk.fingers.values():
            pts = np.vstack([fg.joints, fg.tip[None]]) * m
            for a, b in zip(pts[:-1], pts[1:]):
                d = np.minimum(d, _seg_dist(p, a, b))
        s = np.minimum(s, 0.30 + 0.70 * _smoothstep(0.005, 0.06, d))
        d = _seg_dist(p, J[_J[f"{side}_ankle"]], sk.toe_tip * (sx, 1, 1))
        s = np.minimum(s, 0.90 + 0.10 * _smoothstep(0.03, 0.10, d))
    face_c = np.array([0.0, 0.29, 0.07])
    d = np.linalg.norm((p - face_c) / (1.0, 1.0, 1.5), axis=1)
    s = np.minimum(s, 0.36 + 0.64 * _smoothstep(0.05, 0.10, d))
    d = _seg_dist(p, J[_J["head"]], sk.head_top)
    s = np.minimum(s, 0.70 + 0.30 * _smoothstep(0.09, 0.16, d))
    return s


def decimate(verts: np.ndarray, faces: np.ndarray, body, size_fn: Callable[[np.ndarray], np.ndarray],
             target: int, rng: np.random.Generator, verbose: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Collapse edges, relatively shortest first, until exactly `target` vertices remain. A length
    threshold (relative to the sizing field) rises slowly; at each level every edge below it is
    collapsed (independent sets, several rounds) before it rises again."""
    def place(mid: np.ndarray) -> np.ndarray:
        # Midpoints of short chords already lie on the surface (within 0.05 mm): leave those.
        far = np.nonzero(np.abs(evaluate(body, mid)) > 5e-5)[0]
        out = mid.copy()
        out[far] = project_to_surface(body, mid[far], iters=1)
        return out

    size = size_fn(verts)
    penalty = np.zeros(verts.shape[0])  # raised on the ends of refused collapses, so others get a turn
    thr, rounds, stalled = None, 0, 0
    while verts.shape[0] > target:
        n = verts.shape[0]
        edges, _ = unique_edges(faces, n)
        ln = np.linalg.norm(verts[edges[:, 0]] - verts[edges[:, 1]], axis=1)
        cost = ln / (0.5 * (size[edges[:, 0]] + size[edges[:, 1]]))
        cost *= 1.0 + 1e-3 * rng.random(cost.size)
        if thr is None:
            thr = float(np.quantile(cost, 0.2))
        cand = np.nonzero(cost <= thr)[0]
        prio = cost * 2.0 ** (penalty[edges[:, 0]] + penalty[edges[:, 1]])
        verts, faces, kept, moved, refused = collapse_edges(verts, faces, prio, cand, edges, place, n - target)
        penalty[refused] += 1
        size, penalty = size[kept], penalty[kept]
        size[moved] = size_fn(verts[moved])
        penalty[moved] = 0
        k = n - verts.shape[0]
        rounds += 1
        if verbose:
            print(f"round {rounds}: {verts.shape[0]} vertices (threshold {thr:.4f}, collapsed {k}, "
                  f"refused {refused.size // 2})")
        if k < 0.01 * cand.size or k < 0.002 * n:
            thr *= 1.1
            penalty *= 0.5
        if k == 0:
            stalled += 1
            faces, _ = flip_edges(verts, faces, "valence")
            if stalled > 200:
                raise RuntimeError("decimation stalled")
    return verts, faces


def folded_faces(verts: np.ndarray, faces: np.ndarray, body, min_dot: float = -0.3) -> np.ndarray:
    """Faces whose normal points against the implicit surface's normal (folds). Near creases of the
    implicit surface the comparison is loose, hence a negative threshold."""
    g = sdf_gradient(body, verts[faces].mean(1))
    g /= np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
    return np.einsum("ij,ij->i", face_normals(verts, faces), g) < min_dot


def relax(verts: np.ndarray, faces: np.ndarray, body, sk: Skeleton, iters: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Delaunay flips and tangential smoothing (denser where the sizing field is smaller)."""
    for _ in range(iters):
        faces, _ = flip_edges(verts, faces, "delaunay")
        verts = tangential_smooth(verts, faces, body, weight=1.0 / sizing(sk, verts) ** 2)
    if folded_faces(verts, faces, body).any():
        raise RuntimeError("the surface folds over itself")
    return verts, faces


# ---------------------------------------------------------------------------------------------------
# Vertex order: put a vertex at the body part smplx's vertex_ids.py expects under each special index
# ---------------------------------------------------------------------------------------------------
def special_vertex_targets(verts: np.ndarray, sk: Skeleton) -> dict[str, int]:
    """Current index of the vertex that best plays each of smplx's named vertices."""
    J = sk.joints
    out: dict[str, int] = {}

    def nearest(p) -> int:
        return int(np.argmin(np.linalg.norm(verts - np.asarray(p), axis=1)))

    face = (np.abs(verts[:, 0]) < 0.01) & (verts[:, 1] > 0.27) & (verts[:, 1] < 0.31)
    out["nose"] = int(np.nonzero(face)[0][np.argmax(verts[face, 2])])
    for side, tag in (("left", "l"), ("right", "r")):
        eye = J[_J[f"{side}_eye_smplhf"]]
        out[f"{tag}eye"] = nearest(eye + (0.0, 0.0, 0.02))
        head = (verts[:, 1] > 0.27) & (verts[:, 1] < 0.34)
        sx = 1.0 if side == "left" else -1.0
        out[f"{tag}ear"] = int(np.nonzero(head)[0][np.argmax(sx * verts[head, 0])])
        for name in ("thumb", "index", "middle", "ring", "pinky"):
            fg = sk.fingers[name]
            d = _unit(fg.tip - fg.joints[2])
            out[f"{tag}{name}"] = nearest((fg.tip + fg.radii[3] * d) * (sx, 1, 1))
        up = "L" if side == "left" else "R"
        tip = sk.toe_tip * (sx, 1, 1)
        out[f"{up}BigToe"] = nearest(tip + (-0.022 * sx, 0.0, -0.01))
        out[f"{up}SmallToe"] = nearest(tip + (0.030 * sx, -0.004, -0.045))
        out[f"{up}Heel"] = nearest(sk.heel * (sx, 1, 1) + (0.0, -0.01, 0.0))
    if len(set(out.values())) != len(out):
        raise RuntimeError("two named vertices fell on the same vertex")
    return out


def special_vertex_order(verts: np.ndarray, sk: Skeleton) -> np.ndarray:
    """A permutation `perm` (new index -> old index) that puts each named vertex at smplx's index."""
    perm = np.arange(verts.shape[0])
    pos = np.arange(verts.shape[0])  # old index -> new index
    for name, old in special_vertex_targets(verts, sk).items():
        want = SPECIAL_VERTICES[name]
        cur = pos[old]
        other = perm[want]
        perm[want], perm[cur] = old, other
        pos[old], pos[other] = want, cur
    return perm


# ---------------------------------------------------------------------------------------------------
# Rig: bones, skinning weights, joint regressor
# ---------------------------------------------------------------------------------------------------
def bone_segments(sk: Skeleton) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per joint: the segment (a, b) of the body part it moves and a radius that scales distances.
    The eye joints get no part (radius 0)."""
    J = sk.joints
    a = np.zeros((NUM_JOINTS, 3))
    b = np.zeros((NUM_JOINTS, 3))
    r = np.zeros(NUM_JOINTS)

    def seg(name: str, p, q, rad: float) -> None:
        i = _J[name]
        a[i], b[i], r[i] = p, q, rad

    seg("pelvis", (0.0, -0.44, -0.01), (0.0, -0.30, 0.0), 0.14)
    seg("spine1", J[_J["spine1"]], J[_J["spine2"]], 0.13)
    seg("spine2", J[_J["spine2"]], J[_J["spine3"]] + (0, 0.02, 0), 0.14)
    seg("spine3", J[_J["spine3"]] + (0, 0.02, 0), (0.0, 0.045, -0.02), 0.15)
    seg("neck", J[_J["neck"]], J[_J["head"]], 0.065)
    seg("head", J[_J["head"]] + (0, 0.03, 0), sk.head_top - (0, 0.05, 0), 0.085)
    seg("jaw", J[_J["jaw"]] + (0, -0.01, 0.02), sk.chin - (0, 0.0, 0.02), 0.035)
    for side, sx in (("left", 1.0), ("right", -1.0)):
        m = np.array([sx, 1.0, 1.0])
        jj = lambda n: J[_J[f"{side}_{n}"]]  # noqa: E731
        seg(f"{side}_hip", jj("hip"), jj("knee"), 0.075)
        seg(f"{side}_knee", jj("knee"), jj("ankle"), 0.05)
        seg(f"{side}_ankle", jj("ankle"), jj("foot") + (-0.005 * sx, 0.01, -0.02), 0.045)
        seg(f"{side}_foot", jj("foot"), sk.toe_tip * m, 0.03)
        seg(f"{side}_collar", jj("collar"), jj("shoulder"), 0.07)
        seg(f"{side}_shoulder", jj("shoulder"), jj("elbow"), 0.05)
        seg(f"{side}_elbow", jj("elbow"), jj("wrist"), 0.04)
        seg(f"{side}_wrist", jj("wrist"), jj("middle1") - 0.01 * _unit(jj("middle1") - jj("wrist")), 0.035)
        for name in FINGERS:
            fg = sk.fingers[name]
            pts = np.vstack([fg.joints, fg.tip[None]]) * m
            for k in range(3):
                seg(f"{side}_{name}{k + 1}", pts[k], pts[k + 1], 0.014 if (name == "thumb" and k == 0) else fg.radii[k])
    return a, b, r


def _closest_on_segments(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Closest points [N,J,3] on each segment and the distances [N,J]."""
    ab = b - a
    l2 = np.maximum((ab * ab).sum(1), 1e-12)
    t = np.clip(np.einsum("njk,jk->nj", p[:, None, :] - a[None], ab) / l2, 0.0, 1.0)
    c = a[None] + t[..., None] * ab[None]
    return c, np.linalg.norm(p[:, None, :] - c, axis=2)


def _side(name: str) -> str:
    return "left" if name.startswith("left") else "right" if name.startswith("right") else ""


def skinning_weights(verts: np.ndarray, faces: np.ndarray, sk: Skeleton, width: float = 0.75,
                     max_influences: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Weights [V,55]. Each vertex starts on its nearest bone (distance / bone radius); the labels
    are then diffused over the surface (one implicit heat step, with a diffusion length of `width`
    times the local limb radius, so thick joints blend wider than fingers), influences from the
    other side of the body are dropped and the strongest `max_influences` kept. Also returns the
    hard labels."""
    from scipy.sparse import csr_matrix, diags, identity
    from scipy.sparse.linalg import splu
    a, b, r = bone_segments(sk)
    _, dist = _closest_on_segments(verts, a, b)
    rel = np.where(r > 0, dist / np.maximum(r, 1e-9), np.inf)
    label = np.argmin(rel, axis=1)
    n = verts.shape[0]
    radius = np.clip(dist[np.arange(n), label], 0.004, 0.15)
    edges, _ = unique_edges(faces, n)
    inv_l2 = 1.0 / np.maximum(((verts[edges[:, 0]] - verts[edges[:, 1]]) ** 2).sum(1), 1e-12)
    k = csr_matrix((np.r_[inv_l2, inv_l2], (np.r_[edges[:, 0], edges[:, 1]], np.r_[edges[:, 1], edges[:, 0]])),
                   shape=(n, n))
    deg = np.bincount(edges.reshape(-1), minlength=n)
    lap = diags(4.0 / deg) @ (diags(np.asarray(k.sum(1)).ravel()) - k)  # ~ -Laplace-Beltrami
    t = np.maximum(width * radius, 0.008) ** 2  # at least 8 mm: finger joints blend over a few edges
    system = (identity(n, format="csc") + diags(t) @ lap).tocsc()
    w0 = np.zeros((n, NUM_JOINTS))
    w0[np.arange(n), label] = 1.0
    w = splu(system).solve(w0)
    w = np.clip(w, 0.0, None)
    # No influence crosses from one side of the body to the other (e.g. between the thighs).
    related = np.zeros((NUM_JOINTS, NUM_JOINTS), bool)
    for j in range(NUM_JOINTS):
        for kk in range(NUM_JOINTS):
            sj, sk_ = _side(JOINT_NAMES[j]), _side(JOINT_NAMES[kk])
            related[j, kk] = (sj == sk_ or "" in (sj, sk_)) and r[kk] > 0
    w *= related[label]
    idx = np.argsort(-w, axis=1, kind="stable")[:, :max_influences]
    top = np.take_along_axis(w, idx, axis=1)
    top /= top.sum(1, keepdims=True)
    top[top < 0.01] = 0.0
    out = np.zeros_like(w)
    np.put_along_axis(out, idx, top, axis=1)
    out /= out.sum(1, keepdims=True)
    return out, label


def joint_regressor(verts: np.ndarray, weights: np.ndarray, joints: np.ndarray, tol: float = 1e-3) -> np.ndarray:
    """J_regressor [55,V]: each joint a non-negative weighted mean (weights sum to 1) of the
    vertices of its body part nearest to it, solved so that it reproduces the joint."""
    from scipy.optimize import nnls
    n = verts.shape[0]
    reg = np.zeros((NUM_JOINTS, n))
    children = [np.nonzero(PARENTS == j)[0] for j in range(NUM_JOINTS)]
    for j in range(NUM_JOINTS):
        group = [j] + ([PARENTS[j]] if PARENTS[j] >= 0 else []) + list(children[j])
        member = weights[:, group].sum(1) > 0.2
        if JOINT_NAMES[j].endswith("eye_smplhf") or not member.any():
            member = weights[:, _J["head"]] > 0.5
        cand = np.nonzero(member)[0]
        d = np.linalg.norm(verts[cand] - joints[j], axis=1)
        order = cand[np.argsort(d, kind="stable")]
        k = 24 if j >= 25 else 40
        while True:
            sel = order[:k]
            dv = np.linalg.norm(verts[sel] - joints[j], axis=1)
            sigma = np.median(dv)
            prior = np.exp(-0.5 * (dv / sigma) ** 2)
            prior /= prior.sum()
            lam, mu = 0.05, 50.0 / max(sigma, 1e-3)
            A = np.vstack([lam * np.eye(sel.size), mu * verts[sel].T, mu * np.ones((1, sel.size))])
            rhs = np.concatenate([lam * prior, mu * joints[j], [mu]])
            x, _ = nnls(A, rhs, maxiter=2000)
            x /= x.sum()
            err = np.linalg.norm(x @ verts[sel] - joints[j])
            if err < tol or k >= min(order.size, 400):
                break
            k = min(2 * k, order.size)
        reg[j, sel] = x
    return reg


# ---------------------------------------------------------------------------------------------------
# Shape and expression directions, landmarks, hand means
# ---------------------------------------------------------------------------------------------------
def shape_directions(verts: np.ndarray, weights: np.ndarray, sk: Skeleton) -> np.ndarray:
    """shapedirs [V,3,400]: 0 height, 1 girth, 2 shoulder width, 3 leg length; 300 mouth open,
    301 brows up; the rest zero."""
    n = verts.shape[0]
    out = np.zeros((n, 3, NUM_SHAPE + NUM_EXPR), np.float32)
    # 0: height, scaling about the floor under the body: +10 cm per unit.
    out[:, :, 0] = (0.10 / 1.70) * (verts - np.array([0.0, FLOOR_Y, 0.0]))
    # 1: girth, radial growth away from each bone, blended by the skinning weights.
    a, b, _ = bone_segments(sk)
    c, _ = _closest_on_segments(verts, a, b)
    gain = np.full(NUM_JOINTS, 0.03)
    for name, g in (("pelvis", 0.11), ("spine1", 0.13), ("spine2", 0.11), ("spine3", 0.09), ("neck", 0.06),
                    ("left_hip", 0.10), ("right_hip", 0.10), ("left_knee", 0.06), ("right_knee", 0.06),
                    ("left_collar", 0.06), ("right_collar", 0.06), ("left_shoulder", 0.09),
                    ("right_shoulder", 0.09), ("left_elbow", 0.06), ("right_elbow", 0.06),
                    ("head", 0.02), ("jaw", 0.04)):
        gain[_J[name]] = g
    radial = verts[:, None, :] - c  # [V,J,3]
    girth = np.einsum("vj,j,vjk->vk", weights, gain, radial)
    belly = np.exp(-0.5 * (((verts[:, 1] + 0.20) / 0.09) ** 2 + (verts[:, 0] / 0.10) ** 2)) * (verts[:, 2] > 0)
    girth[:, 2] += 0.012 * belly * np.clip(verts[:, 2] / 0.08, 0, 1)
    out[:, :, 1] = girth
    # 2: shoulder width: arms and hands move out, the collars part of the way.
    arm = np.zeros(n)
    for side, sx in (("left", 1.0), ("right", -1.0)):
        names = [f"{side}_{p}" for p in ("shoulder", "elbow", "wrist")] + \
                [f"{side}_{f}{k}" for f in FINGERS for k in (1, 2, 3)]
        part = weights[:, [_J[x] for x in names]].sum(1) + 0.6 * weights[:, _J[f"{side}_collar"]]
        arm += sx * part
    out[:, 0, 2] = 0.025 * arm
    # 3: leg length: everything below the hips stretches down, 4 cm per unit at the soles.
    y_top = -0.40
    out[:, 1, 3] = -0.04 * np.clip((y_top - verts[:, 1]) / (y_top - FLOOR_Y), 0.0, 1.0)
    # Expressions (small): 300 opens the mouth (chin and lower lip down), 301 raises the brows.
    front = np.clip((verts[:, 2] - 0.03) / 0.04, 0, 1) * (np.abs(verts[:, 0]) < 0.07)
    lower = np.clip((0.247 - verts[:, 1]) / 0.012, 0, 1) * np.clip((verts[:, 1] - 0.185) / 0.02, 0, 1)
    out[:, 1, NUM_SHAPE] = -0.006 * front * lower * np.exp(-0.5 * (verts[:, 0] / 0.04) ** 2)
    brow = np.exp(-0.5 * (((verts[:, 1] - 0.345) / 0.012) ** 2 + ((np.abs(verts[:, 0]) - 0.035) / 0.025) ** 2))
    out[:, 1, NUM_SHAPE + 1] = 0.003 * brow * front
    return out


def ray_hits(verts: np.ndarray, faces: np.ndarray, origins: np.ndarray, dirs: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """First hit of each ray on the triangles: (face index, barycentric weights [R,3])."""
    p0, p1, p2 = (verts[faces[:, k]] for k in range(3))
    e1, e2 = p1 - p0, p2 - p0
    best_t = np.full(len(origins), np.inf)
    best_f = np.full(len(origins), -1)
    best_b = np.zeros((len(origins), 3))
    for s in range(0, len(origins), 64):
        o, d = origins[s:s + 64, None, :], dirs[s:s + 64, None, :]
        pv = np.cross(d, e2[None])
        det = (e1[None] * pv).sum(-1)
        inv = 1.0 / np.where(np.abs(det) < 1e-14, np.inf, det)
        tv = o - p0[None]
        u = (tv * pv).sum(-1) * inv
        qv = np.cross(tv, e1[None])
        v = (d * qv).sum(-1) * inv
        t = (e2[None] * qv).sum(-1) * inv
        ok = (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 1e-9) & (inv != 0)
        t = np.where(ok, t, np.inf)
        k = np.argmin(t, axis=1)
        rows = np.arange(t.shape[0])
        hit = np.isfinite(t[rows, k])
        best_t[s:s + 64] = t[rows, k]
        best_f[s:s + 64] = np.where(hit, k, -1)
        uu, vv = u[rows, k], v[rows, k]
        best_b[s:s + 64] = np.stack([1 - uu - vv, uu, vv], 1)
    if (best_f < 0).any():
        raise RuntimeError("a landmark ray missed the head")
    return best_f, best_b


def face_landmarks() -> np.ndarray:
    """The 51 static landmarks (brows, nose, eyes, mouth in the usual 68-point order without the
    jaw line) as (x, y) on the face; the right side (subject's) is -X."""
    pts: list[tuple[float, float]] = []
    brow = [(-0.058, 0.341), (-0.048, 0.347), (-0.037, 0.349), (-0.026, 0.348), (-0.014, 0.345)]
    pts += brow + [(-x, y) for x, y in reversed(brow)]
    pts += [(0.0, 0.326), (0.0, 0.314), (0.0, 0.302), (0.0, 0.292)]
    pts += [(-0.014, 0.283), (-0.007, 0.280), (0.0, 0.279), (0.007, 0.280), (0.014, 0.283)]
    reye = [(-0.045, 0.326), (-0.037, 0.331), (-0.026, 0.331), (-0.018, 0.326), (-0.026, 0.322), (-0.037, 0.322)]
    leye = [(0.018, 0.326), (0.026, 0.331), (0.037, 0.331), (0.045, 0.326), (0.037, 0.322), (0.026, 0.322)]
    pts += reye + leye
    cx, cy, hw, hh = 0.0, 0.244, 0.024, 0.0095
    outer = [(-hw, cy)] + [(cx + hw * np.cos(t), cy + hh * np.sin(t)) for t in np.radians([150, 120, 90, 60, 30])]
    outer += [(hw, cy)] + [(cx + hw * np.cos(t), cy - hh * np.sin(t)) for t in np.radians([30, 60, 90, 120, 150])]
    pts += outer
    inner = [(-0.017, cy), (-0.008, cy + 0.003), (0.0, cy + 0.0035), (0.008, cy + 0.003), (0.017, cy),
             (0.008, cy - 0.003), (0.0, cy - 0.0035), (-0.008, cy - 0.003)]
    pts += inner
    return np.array(pts)


def landmarks(verts: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Static landmarks by rays along -Z onto the face; the dynamic jaw contour (79 yaw angles x 17
    points) by rays out from inside the head, turned with the yaw."""
    head = faces[(verts[faces].mean(1)[:, 1] > 0.17)]
    head_ids = np.nonzero(verts[faces].mean(1)[:, 1] > 0.17)[0]
    xy = face_landmarks()
    o = np.column_stack([xy, np.full(len(xy), 0.5)])
    d = np.tile([0.0, 0.0, -1.0], (len(xy), 1))
    fi, bc = ray_hits(verts, head, o, d)
    static_f, static_b = head_ids[fi], bc
    s = np.linspace(-1.0, 1.0, 17)
    ys = 0.300 - 0.085 * (1.0 - s ** 2)
    yaw = np.concatenate([np.arange(0, 40), -np.arange(1, 40)])  # smplx's table order
    dyn_f = np.zeros((79, 17), np.int64)
    dyn_b = np.zeros((79, 17, 3))
    for i, a in enumerate(yaw):
        phi = np.radians(np.clip(a + 82.0 * s, -95.0, 95.0))
        o = np.column_stack([np.zeros(17), ys, np.full(17, 0.01)])
        d = np.column_stack([np.sin(phi), np.zeros(17), np.cos(phi)])
        fi, bc = ray_hits(verts, head, o, d)
        dyn_f[i], dyn_b[i] = head_ids[fi], bc
    return static_f, static_b, dyn_f, dyn_b


def hand_means(sk: Skeleton) -> tuple[np.ndarray, np.ndarray]:
    """A gentle, natural finger curl per hand (45 axis-angle values, SMPL-X finger order)."""
    curl = {"index": (0.10, 0.20, 0.10), "middle": (0.12, 0.22, 0.11), "ring": (0.15, 0.25, 0.12),
            "pinky": (0.18, 0.28, 0.13), "thumb": (0.05, 0.10, 0.14)}
    palm = np.array([0.0, -1.0, 0.0])
    out = []
    for sx in (1.0, -1.0):
        m = np.array([sx, 1.0, 1.0])
        vals = []
        for name in FINGERS:
            fg = sk.fingers[name]
            pts = np.vstack([fg.joints, fg.tip[None]]) * m
            for k in range(3):
                d = _unit(pts[k + 1] - pts[k])
                vals.append(_unit(np.cross(d, palm)) * curl[name][k])
        out.append(np.concatenate(vals).astype(np.float32))
    return out[0], out[1]


# ---------------------------------------------------------------------------------------------------
# Checks, assembly, CLI
# ---------------------------------------------------------------------------------------------------
def check_closed_manifold(verts: np.ndarray, faces: np.ndarray) -> None:
    """Raise unless the mesh is one closed, consistently oriented genus-0 surface, outward facing,
    without degenerate faces or duplicate vertices."""
    n = verts.shape[0]
    he = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]).astype(np.int64)
    keys = he[:, 0] * n + he[:, 1]
    if np.unique(keys).size != keys.size:
        raise RuntimeError("a directed edge is used twice (non-manifold or inconsistent orientation)")
    if not np.isin(he[:, 1] * n + he[:, 0], keys).all():
        raise RuntimeError("the surface has a boundary")
    edges, _ = unique_edges(faces, n)
    if n - len(edges) + len(faces) != 2:
        raise RuntimeError("the surface is not a sphere (Euler characteristic != 2)")
    if np.bincount(faces.reshape(-1), minlength=n).min() == 0:
        raise RuntimeError("unused vertices")
    _, comp = largest_component(verts, faces)
    if comp.shape[0] != faces.shape[0]:
        raise RuntimeError("more than one connected component")
    area = np.linalg.norm(face_normals(verts, faces, unit=False), axis=1)
    if area.min() <= 1e-12:
        raise RuntimeError("degenerate face")
    vol = np.einsum("ij,ij->i", verts[faces[:, 0]], np.cross(verts[faces[:, 1]], verts[faces[:, 2]])).sum() / 6
    if vol <= 0:
        raise RuntimeError("faces point inward")
    from scipy.spatial import cKDTree
    if cKDTree(verts).query_pairs(1e-6):
        raise RuntimeError("duplicate vertices")


def build(seed: int = 0, verbose: bool = False) -> dict[str, np.ndarray]:
    """All arrays of the stand-in SMPL-X model file."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    sk = build_skeleton()
    body = build_body(sk)
    verts, faces = extract_surface(body)
    if verbose:
        print(f"surface: {verts.shape[0]} vertices ({time.perf_counter() - t0:.1f} s)")
    size_fn = lambda p: sizing(sk, p)  # noqa: E731
    verts, faces = decimate(verts, faces, body, size_fn, NUM_VERTICES, rng)
    verts, faces = equalize(verts, faces, body, size_fn, rng, rounds=3, fraction=0.01)
    verts, faces = relax(verts, faces, body, sk)
    if verbose:
        print(f"decimated and relaxed: {verts.shape[0]} vertices ({time.perf_counter() - t0:.1f} s)")
    perm = special_vertex_order(verts, sk)
    inv = np.empty_like(perm)
    inv[perm] = np.arange(perm.size)
    verts, faces = verts[perm], inv[faces]
    check_closed_manifold(verts, faces)

    weights, _ = skinning_weights(verts, faces, sk)
    jreg = joint_regressor(verts, weights, sk.joints)
    err = np.linalg.norm(jreg @ verts - sk.joints, axis=1).max()
    if err > 0.005:
        raise RuntimeError(f"the joint regressor misses a joint by {err * 1000:.1f} mm")
    shapedirs = shape_directions(verts, weights, sk)
    lf, lb, df, db = landmarks(verts, faces)
    hml, hmr = hand_means(sk)
    kintree = np.stack([PARENTS, np.arange(NUM_JOINTS)]).astype(np.int64)
    if verbose:
        print(f"rig done ({time.perf_counter() - t0:.1f} s); joint regressor error {err * 1000:.2f} mm")
    return {
        "v_template": verts.astype(np.float32),
        "f": faces.astype(np.int64),
        "shapedirs": shapedirs,
        "posedirs": np.zeros((NUM_VERTICES, 3, NUM_POSE_BASIS), np.float32),
        "J_regressor": jreg.astype(np.float32),
        "weights": weights.astype(np.float32),
        "kintree_table": kintree,
        "hands_componentsl": np.eye(45, dtype=np.float32),
        "hands_componentsr": np.eye(45, dtype=np.float32),
        "hands_meanl": hml,
        "hands_meanr": hmr,
        "lmk_faces_idx": lf.astype(np.int64),
        "lmk_bary_coords": lb.astype(np.float32),
        "dynamic_lmk_faces_idx": df.astype(np.int64),
        "dynamic_lmk_bary_coords": db.astype(np.float32),
        "avatar_studio_standin": np.array(1),
        "avatar_studio_joint_names": np.array(JOINT_NAMES, dtype="<U32"),
    }


def generate(out_path: Path, seed: int = 0, verbose: bool = False) -> Path:
    """Write the stand-in model to `out_path` (an SMPL-X `.npz`) and return the path."""
    out_path = Path(out_path)
    arrays = build(seed, verbose)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(out_path)
    return out_path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate Avatar Studio's stand-in SMPL-X body model.")
    parser.add_argument("--out", type=Path, default=Path("resources/body/smplx/SMPLX_NEUTRAL.npz"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    path = generate(args.out, args.seed, verbose=not args.quiet)
    if not args.quiet:
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB) in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
