"""Synthetic ground-truth people: avatars made by our own code, and "photos" rendered of them.

A subject is the body model with random betas, dressed by colouring and displacing Gaussians
sampled on its surface (a top with sleeves, trousers, shorts or a skirt, shoes, skin with a simple
face, hair), plus extra geometry the naked body lacks: a flared skirt and long hair or a bun.
Clothing patterns are solid, stripes, checks, noise or a front print, so the front and back of a
garment are alike but not identical, as in real clothes.

`hard_spec` poses a subject for the occlusion cases (`HARD_CASES`: a hand in front of the face or
torso, crossed arms, a bag or a box held rigidly in a lowered hand) and `background(..., "busy")`
photographs it in a cluttered room.

Used by the template benchmark (`tests/bench/bench_template.py`), the tests, and the sample photos:
`python -m avatar_studio.testing.synthetic --photos resources/photos`.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.avatar import Avatar, Rig
from ..core.body.model import BodyModel, default_body_model
from ..core.gaussians import GaussianSet
from ..core.render.base import Camera
from ..core.skinning import dense_to_sparse_weights
from ..core.reconstruct.template.surface import (face_areas_normals, interpolate, mean_spacing, sample_surface, surfels,
                               vertex_normals)

PATTERNS = ("solid", "stripes", "checks", "noise", "print")
SKIN_TONES = np.array([[0.96, 0.80, 0.69], [0.90, 0.72, 0.58], [0.78, 0.57, 0.42], [0.58, 0.40, 0.28],
                       [0.40, 0.27, 0.19]], np.float32)
HAIR_COLOURS = np.array([[0.08, 0.06, 0.05], [0.28, 0.17, 0.09], [0.55, 0.38, 0.20], [0.80, 0.66, 0.42],
                         [0.60, 0.60, 0.62]], np.float32)

HEAD = (15, 22, 23, 24)
HANDS = (20, 21) + tuple(range(25, 55))
FEET = (7, 8, 10, 11)


# ------------------------------------------------------------------------------------ the spec
@dataclass
class Garment:
    """One garment's look: two colours mixed by a pattern of a given period (metres)."""

    colour: tuple[float, float, float]
    colour2: tuple[float, float, float]
    pattern: str = "solid"
    period: float = 0.08


@dataclass
class SubjectSpec:
    """Everything that makes one synthetic subject (JSON-serialisable)."""

    seed: int
    betas: list[float]
    skin: tuple[float, float, float]
    hair_colour: tuple[float, float, float]
    hair: str                 # "short", "long", "bun" or "bald"
    top: Garment
    sleeve: float             # 0 = sleeveless ... 1 = to the wrist
    bottom: Garment
    bottom_kind: str          # "trousers", "shorts" or "skirt"
    skirt_flare: float = 1.3  # hem radius / waist radius
    skirt_length: float = 0.6  # 0 = at the hips ... 1 = at the knees
    shoes: tuple[float, float, float] = (0.1, 0.1, 0.1)
    pose: list[list[float]] = field(default_factory=list)  # [55,3] photo pose
    held: str = "none"        # "none", "bag" or "box": hangs rigidly from the held_wrist
    held_wrist: int = 21      # 20 = left, 21 = right
    held_colour: tuple[float, float, float] = (0.6, 0.45, 0.3)
    case: str = "random"      # which of HARD_CASES made it, or "random"

    @property
    def pose_array(self) -> np.ndarray:
        return np.asarray(self.pose, np.float32).reshape(55, 3)


def _colour(rng: np.random.Generator, vivid: bool = True) -> tuple[float, float, float]:
    """A random clothing colour (HSV-ish sampling that avoids mud)."""
    h = rng.random()
    s = rng.uniform(0.35, 0.85) if vivid else rng.uniform(0.0, 0.25)
    v = rng.uniform(0.25, 0.95)
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return tuple(round(float(c), 3) for c in rgb)


def _garment(rng: np.random.Generator) -> Garment:
    pattern = str(rng.choice(PATTERNS, p=[0.3, 0.2, 0.15, 0.15, 0.2]))
    return Garment(_colour(rng, rng.random() < 0.7), _colour(rng, rng.random() < 0.6), pattern,
                   round(float(rng.uniform(0.04, 0.12)), 3))


def random_photo_pose(rng: np.random.Generator) -> np.ndarray:
    """[55,3] a natural standing pose: arms lowered 40-75 deg (sometimes one raised), slight
    elbow and knee bends, feet apart, the body turned up to +-20 deg."""
    pose = np.zeros((55, 3), np.float32)
    pose[0] = (0.0, np.radians(rng.uniform(-20, 20)), 0.0)
    for side, sign in ((16, -1.0), (17, 1.0)):
        down = rng.uniform(40, 75) if rng.random() > 0.15 else rng.uniform(-35, 10)
        pose[side] = (np.radians(rng.uniform(-10, 10)), np.radians(rng.uniform(-15, 15)), sign * np.radians(down))
        pose[side + 2] = (0.0, sign * np.radians(rng.uniform(0, 35)), 0.0)  # elbow bends forward
    spread = rng.uniform(0, 12)
    pose[1] = (np.radians(rng.uniform(-8, 8)), 0.0, np.radians(spread))
    pose[2] = (np.radians(rng.uniform(-8, 8)), 0.0, -np.radians(spread))
    pose[4] = (np.radians(rng.uniform(0, 15)), 0.0, 0.0)
    pose[5] = (np.radians(rng.uniform(0, 15)), 0.0, 0.0)
    pose[15] = (np.radians(rng.uniform(-8, 8)), np.radians(rng.uniform(-15, 15)), 0.0)
    return pose


# Poses where limbs cover the body and held things, for the occlusion benchmark. Arm rotations
# (shoulder axis-angle, elbow bend) found by placing the stand-in body's wrist at the target
# (in front of the face, in front of the belly, on the other elbow).
HARD_CASES = ("hand_face", "hand_torso", "crossed_arms", "bag", "box")
_HAND_FACE = ((-1.11, -1.2, -0.07), 2.04)
_HAND_TORSO = ((0.22, -0.98, -0.98), 2.11)
_CROSSED = ((0.26, -1.58, -1.12), 1.37)


def _set_arm(pose: np.ndarray, left: bool, shoulder: tuple[float, float, float], bend: float) -> None:
    """Pose one arm in [55,3] `pose` from the left arm's shoulder rotation and elbow bend (the
    right arm mirrored through the body's midplane)."""
    sx, sy, sz = shoulder
    if left:
        pose[16], pose[18] = (sx, sy, sz), (0.0, -bend, 0.0)
    else:
        pose[17], pose[19] = (sx, -sy, -sz), (0.0, bend, 0.0)


def hard_spec(seed: int, case: str) -> SubjectSpec:
    """`random_spec(seed)` in one of the `HARD_CASES`: a hand raised in front of the face, a hand in
    front of the torso, crossed arms, or a bag or box held in a lowered hand. Backdrops for these
    are meant to be busy (`background(..., "busy")`)."""
    if case not in HARD_CASES:
        raise ValueError(f"unknown case {case!r}")
    spec = random_spec(seed)
    rng = np.random.default_rng(seed + 500)
    pose = spec.pose_array.copy()
    left = bool(rng.random() < 0.5)
    jitter = rng.uniform(-0.08, 0.08, 4)
    if case == "hand_face":
        _set_arm(pose, left, tuple(np.add(_HAND_FACE[0], jitter[:3])), _HAND_FACE[1] + jitter[3])
    elif case == "hand_torso":
        _set_arm(pose, left, tuple(np.add(_HAND_TORSO[0], jitter[:3])), _HAND_TORSO[1] + jitter[3])
    elif case == "crossed_arms":
        _set_arm(pose, True, _CROSSED[0], _CROSSED[1])
        _set_arm(pose, False, (_CROSSED[0][0] + 0.1, _CROSSED[0][1], _CROSSED[0][2]), _CROSSED[1] - 0.12)
    else:
        side, sign = (16, -1.0) if left else (17, 1.0)
        pose[side] = (0.0, 0.0, sign * np.radians(rng.uniform(55, 65)))
        pose[side + 2] = (0.0, sign * np.radians(rng.uniform(0, 15)), 0.0)
        spec.held = case
        spec.held_wrist = 20 if left else 21
        spec.held_colour = _colour(rng, True)
    spec.pose = pose.round(4).tolist()
    spec.case = case
    return spec


def random_spec(seed: int) -> SubjectSpec:
    """A random subject; the same seed always gives the same subject."""
    rng = np.random.default_rng(seed)
    betas = np.zeros(10)
    betas[:4] = rng.normal(0, 1.0, 4).clip(-2, 2)
    bottom_kind = str(rng.choice(["trousers", "shorts", "skirt"], p=[0.45, 0.2, 0.35]))
    return SubjectSpec(
        seed=seed, betas=[round(float(b), 3) for b in betas],
        skin=tuple(float(c) for c in SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.95, 1.03)),
        hair_colour=tuple(float(c) for c in HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))]),
        hair=str(rng.choice(["short", "long", "bun", "bald"], p=[0.35, 0.4, 0.15, 0.1])),
        top=_garment(rng), sleeve=round(float(rng.choice([0.0, 0.35, 0.6, 1.0])), 2),
        bottom=_garment(rng), bottom_kind=bottom_kind,
        skirt_flare=round(float(rng.uniform(1.15, 1.6)), 3), skirt_length=round(float(rng.uniform(0.35, 0.9)), 3),
        shoes=_colour(rng, rng.random() < 0.4),
        pose=random_photo_pose(rng).round(4).tolist())


# ----------------------------------------------------------------------------------- textures
def _value_noise(p: np.ndarray, period: float, seed: int) -> np.ndarray:
    """[N,3] points -> [N] smooth noise in 0..1 (sum of random plane waves)."""
    rng = np.random.default_rng(seed)
    dirs = rng.normal(size=(6, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    phase = rng.uniform(0, 2 * np.pi, 6)
    waves = np.sin(p @ dirs.T * (2 * np.pi / period) + phase)
    return 0.5 + 0.5 * waves.mean(axis=1) * 1.6


def garment_colour(g: Garment, p: np.ndarray, front_print_centre: np.ndarray | None, seed: int) -> np.ndarray:
    """[N,3] canonical points -> [N,3] RGB of garment `g` (solid 3D textures, so seams match)."""
    c1, c2 = np.asarray(g.colour, np.float32), np.asarray(g.colour2, np.float32)
    if g.pattern == "stripes":
        t = (np.sin(p[:, 1] * 2 * np.pi / g.period) > 0.2).astype(np.float32)
    elif g.pattern == "checks":
        t = ((np.floor(p[:, 0] / g.period) + np.floor(p[:, 1] / g.period) + np.floor(p[:, 2] / g.period)) % 2)
    elif g.pattern == "noise":
        t = np.clip(_value_noise(p, g.period * 3, seed), 0, 1)
    elif g.pattern == "print" and front_print_centre is not None:
        d = np.linalg.norm((p - front_print_centre)[:, :2] / [0.09, 0.07], axis=1)
        t = ((d < 1.0) & (p[:, 2] > front_print_centre[2] - 0.06)).astype(np.float32)
        t *= 0.6 + 0.4 * (np.sin(p[:, 0] * 120) > 0)
    else:
        t = np.zeros(p.shape[0], np.float32)
    rgb = c1[None] * (1 - t[:, None]) + c2[None] * t[:, None]
    return rgb * (0.96 + 0.04 * _value_noise(p, 0.02, seed + 1)[:, None])


# ------------------------------------------------------------------------------- body regions
@dataclass
class Regions:
    """Per-sample body-region facts for N canonical samples (all [N] arrays)."""

    arm: np.ndarray      # 0 at the shoulder .. 1 at the wrist; -1 off the arm
    leg: np.ndarray      # 0 at the hip .. 1 at the ankle; -1 off the leg
    head: np.ndarray     # bool
    hand: np.ndarray     # bool
    foot: np.ndarray     # bool
    torso: np.ndarray    # bool (includes neck and pelvis)


def body_regions(points: np.ndarray, dominant: np.ndarray, joints: np.ndarray) -> Regions:
    """Classify canonical T-pose samples by dominant joint [N] and position [N,3]."""
    n = points.shape[0]
    x = points[:, 0]
    arm = np.full(n, -1.0, np.float32)
    for sh, wr in ((16, 20), (17, 21)):
        side = np.sign(joints[sh, 0])
        t = (x * side - abs(joints[sh, 0])) / (abs(joints[wr, 0]) - abs(joints[sh, 0]))
        on = np.isin(dominant, (sh, sh + 2, wr, sh - 3)) & (x * side > abs(joints[sh, 0]) - 0.05)
        arm[on] = np.clip(t[on], 0, 1.2)
    leg = np.full(n, -1.0, np.float32)
    for hip, ank in ((1, 7), (2, 8)):
        t = (joints[hip, 1] - points[:, 1]) / (joints[hip, 1] - joints[ank, 1])
        on = np.isin(dominant, (hip, hip + 3, ank, ank + 3)) | ((dominant == 0) & (points[:, 1] < joints[0, 1] - 0.04)
                                                                  & (np.sign(x) == np.sign(joints[hip, 0])))
        leg[on] = np.clip(t[on], 0, 1.2)
    head = np.isin(dominant, HEAD) | ((dominant == 12) & (points[:, 1] > joints[12, 1] + 0.02))
    hand = np.isin(dominant, HANDS)
    foot = np.isin(dominant, FEET) & (points[:, 1] < joints[7, 1] + 0.03)
    torso = ~head & ~hand & ~foot & (arm < 0) & (leg < 0)
    return Regions(arm, leg, head, hand, foot, torso)


def head_frame(joints: np.ndarray) -> tuple[np.ndarray, float]:
    """(head centre [3], head radius) from the rest joints."""
    centre = joints[15] + np.array([0.0, 0.07, 0.0], np.float32)
    return centre, 0.095


def face_colour(p: np.ndarray, skin: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """[N,3] head samples -> [N,3] skin with eyes, brows and mouth on the front."""
    rgb = np.repeat(skin[None], p.shape[0], axis=0).astype(np.float32)
    eye_y = joints[23, 1]
    front = p[:, 2] > joints[15, 2] + 0.04
    for eye in (23, 24):
        d = np.hypot(p[:, 0] - joints[eye, 0], (p[:, 1] - eye_y) * 1.6)
        rgb[front & (d < 0.014)] = (0.12, 0.08, 0.07)
        brow = front & (np.abs(p[:, 0] - joints[eye, 0]) < 0.022) & (np.abs(p[:, 1] - eye_y - 0.027) < 0.005)
        rgb[brow] = skin * 0.45
    mouth = front & (np.abs(p[:, 0] - joints[15, 0]) < 0.022) & (np.abs(p[:, 1] - (eye_y - 0.075)) < 0.006)
    rgb[mouth] = (0.65, 0.28, 0.28)
    return rgb


def hair_mask(p: np.ndarray, joints: np.ndarray, style: str) -> np.ndarray:
    """[N] bool: head samples covered by hair (scalp above the hairline, and the back)."""
    if style == "bald":
        return np.zeros(p.shape[0], bool)
    eye_y = joints[23, 1]
    centre, _ = head_frame(joints)
    rel = p - centre
    top = rel[:, 1] > (eye_y - centre[1]) + 0.035 + 0.05 * np.clip(rel[:, 2] / 0.1, 0, 1)
    back = (rel[:, 2] < -0.02) & (p[:, 1] > joints[12, 1] + (0.03 if style == "short" else 0.0))
    sides = (np.abs(rel[:, 0]) > 0.07) & (p[:, 1] > eye_y - 0.02)
    return top | back | sides


# ------------------------------------------------------------------------------ extra geometry
def _ring_points(n: int, rng: np.random.Generator, y0: float, y1: float, rx0: float, rz0: float,
                 rx1: float, rz1: float, centre: np.ndarray, angles: tuple[float, float] = (-np.pi, np.pi)
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Samples on an elliptical frustum between heights y0 (top) and y1.

    Returns: points [n,3], outward normals [n,3], height fraction [n] (0 at y0, 1 at y1).
    """
    h = rng.random(n)
    a = rng.uniform(angles[0], angles[1], n)
    rx, rz = rx0 + (rx1 - rx0) * h, rz0 + (rz1 - rz0) * h
    pts = np.stack([centre[0] + rx * np.sin(a), y0 + (y1 - y0) * h, centre[2] + rz * np.cos(a)], axis=1)
    nrm = np.stack([np.sin(a) / rx, np.full(n, 0.0), np.cos(a) / rz], axis=1)
    nrm[:, 1] = -(np.hypot(rx1 - rx0, rz1 - rz0) / 2) / max(abs(y1 - y0), 1e-3) * 0.0
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
    return pts.astype(np.float32), nrm.astype(np.float32), h.astype(np.float32)


def body_extent_at(verts: np.ndarray, y: float, torso_verts: np.ndarray) -> tuple[float, float, float, float]:
    """(centre x, centre z, half width, half depth) of the torso vertices near height y."""
    band = torso_verts[np.abs(torso_verts[:, 1] - y) < 0.02]
    if band.shape[0] < 3:
        band = torso_verts
    cx, cz = float(np.median(band[:, 0])), float((band[:, 2].max() + band[:, 2].min()) / 2)
    return cx, cz, float(np.abs(band[:, 0] - cx).max()), float((band[:, 2].max() - band[:, 2].min()) / 2)


def make_skirt(spec: SubjectSpec, verts: np.ndarray, joints: np.ndarray, torso_verts: np.ndarray, n: int,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A flared skirt from the hips to between hips and knees.

    Returns: points [n,3], normals [n,3], skin indices [n,4], skin weights [n,4].
    """
    y0 = float(joints[0, 1] + 0.03)
    y1 = float(joints[1, 1] - spec.skirt_length * (joints[1, 1] - joints[4, 1]) * 0.95)
    cx, cz, hw, hd = body_extent_at(verts, y0, torso_verts)
    hw1, hd1 = body_extent_at(verts, (y0 + y1) / 2 + 0.05, torso_verts)[2:]
    rx0, rz0 = max(hw, hw1) + 0.012, max(hd, hd1) + 0.015
    pts, nrm, h = _ring_points(n, rng, y0, y1, rx0, rz0, rx0 * spec.skirt_flare, rz0 * (spec.skirt_flare + 0.15),
                               np.array([cx, 0.0, cz]))
    left = 1 / (1 + np.exp(-(pts[:, 0] - cx) / 0.03))
    w_leg = 0.75 * h
    dense = np.zeros((n, 55), np.float32)
    dense[:, 0] = 1 - w_leg
    dense[:, 1] = w_leg * left
    dense[:, 2] = w_leg * (1 - left)
    idx, w = dense_to_sparse_weights(dense, 4)
    return pts, nrm, idx, w


def make_long_hair(joints: np.ndarray, verts: np.ndarray, n: int, rng: np.random.Generator, length: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hair hanging behind the head and shoulders: a half-cylinder pushed out of the body.

    Returns: points [n,3], normals [n,3], skin indices [n,4], skin weights [n,4].
    """
    centre, radius = head_frame(joints)
    y_top = centre[1] + 0.02
    y_end = joints[12, 1] - length
    pts, nrm, h = _ring_points(n, rng, y_top, y_end, radius + 0.02, radius + 0.015, radius + 0.05, 0.06,
                               np.array([centre[0], 0.0, centre[2] - 0.02]), (np.pi * 0.42, np.pi * 1.58))
    pts = _push_behind_body(pts, verts, 0.02)
    below_neck = np.clip((joints[12, 1] + 0.02 - pts[:, 1]) / 0.1, 0, 1)
    dense = np.zeros((n, 55), np.float32)
    dense[:, 15] = 1 - below_neck
    dense[:, 12] = below_neck * 0.5
    dense[:, 9] = below_neck * 0.5
    idx, w = dense_to_sparse_weights(dense, 4)
    return pts, nrm, idx, w


def _push_behind_body(pts: np.ndarray, verts: np.ndarray, gap: float) -> np.ndarray:
    """Move points that sit inside or in front of the body's back surface to behind it."""
    from scipy.spatial import cKDTree
    tree = cKDTree(verts[:, :2])
    out = pts.copy()
    near = tree.query_ball_point(pts[:, :2], 0.02)
    for i, nb in enumerate(near):
        if nb:
            back = float(verts[nb, 2].min()) - gap
            out[i, 2] = min(out[i, 2], back)
    return out


def make_bun(joints: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A sphere of hair at the back of the crown: points [n,3], normals [n,3]."""
    centre, radius = head_frame(joints)
    c = centre + np.array([0.0, radius * 0.55, -radius * 0.75])
    d = rng.normal(size=(n, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return (c + d * 0.045).astype(np.float32), d.astype(np.float32)


# ------------------------------------------------------------------------------------ dressing
def dress(spec: SubjectSpec, points: np.ndarray, normals: np.ndarray, regions: Regions, joints: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray]:
    """Colour [N,3] body samples and push clothed ones out along their normals.

    Returns: rgb [N,3], displaced points [N,3].
    """
    skin = np.asarray(spec.skin, np.float32)
    rgb = np.repeat(skin[None], points.shape[0], axis=0)
    offset = np.zeros(points.shape[0], np.float32)
    waist_y = joints[0, 1] + 0.05
    print_centre = np.array([joints[9, 0], joints[9, 1] - 0.02, joints[9, 2] + 0.1], np.float32)
    top = (regions.torso & (points[:, 1] >= waist_y) & (points[:, 1] < joints[12, 1] - 0.015)) | (
        (regions.arm >= 0) & (regions.arm <= spec.sleeve * 1.0) & (spec.sleeve > 0))
    top |= regions.torso & (points[:, 1] >= waist_y) & (regions.arm < 0) & (points[:, 1] < joints[12, 1] - 0.015)
    rgb[top] = garment_colour(spec.top, points[top], print_centre, spec.seed)
    offset[top] = 0.008
    bottom_len = {"trousers": 1.0, "shorts": 0.45, "skirt": 0.12}[spec.bottom_kind]
    bottom = (regions.torso & (points[:, 1] < waist_y)) | ((regions.leg >= 0) & (regions.leg <= bottom_len))
    rgb[bottom] = garment_colour(spec.bottom, points[bottom], None, spec.seed + 10)
    offset[bottom] = 0.01 if spec.bottom_kind == "trousers" else 0.006
    rgb[regions.foot] = spec.shoes
    offset[regions.foot] = 0.006
    head = regions.head
    rgb[head] = face_colour(points[head], skin, joints)
    hair = head & hair_mask(points, joints, spec.hair)
    strands = 0.85 + 0.15 * np.sin(points[hair, 0] * 400 + points[hair, 2] * 150)
    rgb[hair] = np.asarray(spec.hair_colour, np.float32)[None] * strands[:, None]
    offset[hair] = 0.012
    return rgb, points + normals * offset[:, None]


def make_held(spec: SubjectSpec, body: BodyModel, betas: np.ndarray, n: int, rng: np.random.Generator, radius: float
              ) -> tuple[GaussianSet, np.ndarray, np.ndarray]:
    """The held bag or box in canonical space, rigid on its wrist: built hanging straight down from
    the hand in the photo pose (a box, or a bag with a strap up to the hand), then carried back by
    the inverse of the wrist's transform. Returns (Gaussians, [n,4] joint indices, [n,4] weights)."""
    joints, rel = body.joint_transforms(spec.pose_array[None], betas)
    wrist = joints[0, spec.held_wrist].numpy()
    out = np.sign(wrist[0]) * 0.05                     # hangs a little away from the thigh
    w, h, d = (0.3, 0.28, 0.1) if spec.held == "bag" else (0.26, 0.22, 0.2)
    top = wrist[1] - (0.12 if spec.held == "bag" else 0.06)
    centre = np.array([wrist[0] + out, top - h / 2, wrist[2]], np.float32)
    n_strap = n // 12 if spec.held == "bag" else 0
    m = n - n_strap
    half = np.array([w / 2, h / 2, d / 2], np.float32)
    areas = np.array([h * d, h * d, w * d, w * d, w * h, w * h])   # +-x, +-y, +-z faces
    face = rng.choice(6, size=m, p=areas / areas.sum())
    pts = rng.uniform(-1, 1, (m, 3)).astype(np.float32) * half
    axis, sign = face // 2, np.where(face % 2 == 0, 1.0, -1.0).astype(np.float32)
    pts[np.arange(m), axis] = sign * half[axis]
    nrm = np.zeros((m, 3), np.float32)
    nrm[np.arange(m), axis] = sign
    pts += centre
    rgb = np.repeat(np.asarray(spec.held_colour, np.float32)[None], m, 0)
    rgb *= (0.9 + 0.1 * np.sin(pts[:, 1] * 90) * np.sin(pts[:, 0] * 70))[:, None]
    if n_strap:
        t = rng.random(n_strap)
        a = rng.uniform(0, 2 * np.pi, n_strap)
        s_pts = np.stack([wrist[0] + out * t + 0.01 * np.cos(a), wrist[1] + (top - wrist[1]) * t,
                          wrist[2] + 0.01 * np.sin(a)], 1).astype(np.float32)
        s_nrm = np.stack([np.cos(a), np.zeros(n_strap), np.sin(a)], 1).astype(np.float32)
        pts, nrm = np.concatenate([pts, s_pts]), np.concatenate([nrm, s_nrm])
        rgb = np.concatenate([rgb, np.repeat(rgb[:1] * 0.6, n_strap, 0)])
    inv = np.linalg.inv(rel[0, spec.held_wrist].numpy().astype(np.float64))
    can = pts @ inv[:3, :3].T + inv[:3, 3]
    can_n = nrm @ inv[:3, :3].T
    idx = np.zeros((n, 4), np.int64)
    idx[:, 0] = spec.held_wrist
    wts = np.zeros((n, 4), np.float32)
    wts[:, 0] = 1.0
    return surfels(can.astype(np.float32), can_n.astype(np.float32), rgb, radius), idx, wts


def make_avatar(spec: SubjectSpec, body: BodyModel | None = None, num_gaussians: int = 50000) -> Avatar:
    """The ground-truth avatar of `spec` in canonical space (T-pose, subject betas)."""
    body = body or default_body_model()
    rng = np.random.default_rng(spec.seed + 1000)
    verts, joints = body.shaped(np.asarray(spec.betas, np.float32))
    faces = body.faces
    n_extra = {"long": 0.14, "bun": 0.03}.get(spec.hair, 0.0) + (0.16 if spec.bottom_kind == "skirt" else 0.0)
    n_body = int(num_gaussians * (1 - n_extra))
    face_idx, bary = sample_surface(verts, faces, n_body, rng)
    pts = interpolate(verts, faces, face_idx, bary)
    nrm = interpolate(vertex_normals(verts, faces), faces, face_idx, bary)
    nrm /= np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-9)
    dense_w = interpolate(body.weights, faces, face_idx, bary)
    regions = body_regions(pts, np.argmax(dense_w, axis=1), joints)
    rgb, pts = dress(spec, pts, nrm, regions, joints)
    idx, w = dense_to_sparse_weights(dense_w, 4)
    area = float(face_areas_normals(verts, faces)[0].sum())
    radius = mean_spacing(area, n_body) * 0.75
    parts = [(surfels(pts, nrm, rgb, radius), idx, w)]
    torso_verts = verts[np.isin(np.argmax(body.weights, axis=1), (0, 3, 6, 9))]
    parts += _extras(spec, verts, joints, torso_verts, num_gaussians - n_body, rng, radius)
    if spec.held != "none":
        parts.append(make_held(spec, body, np.asarray(spec.betas, np.float32), num_gaussians // 12, rng, radius))
    gs = GaussianSet.concat([p[0] for p in parts])
    rig = Rig(np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts]),
              np.asarray(spec.betas, np.float32), body_model="standin" if body.is_standin else "smplx")
    return Avatar(gs, rig, name=f"synthetic_{spec.seed}")


def _extras(spec: SubjectSpec, verts: np.ndarray, joints: np.ndarray, torso_verts: np.ndarray, n: int,
            rng: np.random.Generator, radius: float) -> list[tuple[GaussianSet, np.ndarray, np.ndarray]]:
    """Skirt, long hair and bun Gaussians with their skinning, sharing `n` samples."""
    out = []
    hair_rgb = np.asarray(spec.hair_colour, np.float32)
    share = {"skirt": 0.16 if spec.bottom_kind == "skirt" else 0.0,
             "long": 0.14 if spec.hair == "long" else 0.0, "bun": 0.03 if spec.hair == "bun" else 0.0}
    total = sum(share.values()) or 1.0
    if share["skirt"]:
        m = int(n * share["skirt"] / total)
        p, nr, idx, w = make_skirt(spec, verts, joints, torso_verts, m, rng)
        rgb = garment_colour(spec.bottom, p, None, spec.seed + 10)
        out.append((surfels(p, nr, rgb, radius * 1.4), idx, w))
    if share["long"]:
        m = int(n * share["long"] / total)
        p, nr, idx, w = make_long_hair(joints, verts, m, rng, 0.12 + 0.1 * (spec.seed % 3))
        rgb = hair_rgb[None] * (0.85 + 0.15 * np.sin(p[:, 0] * 300))[:, None]
        out.append((surfels(p, nr, rgb, radius * 1.4), idx, w))
    if share["bun"]:
        m = n - sum(len(o[0]) for o in out)
        p, nr = make_bun(joints, m, rng)
        idx, w = dense_to_sparse_weights(np.eye(55, dtype=np.float32)[np.full(m, 15)], 4)
        out.append((surfels(p, nr, np.repeat(hair_rgb[None], m, 0), radius), idx, w))
    return out


# -------------------------------------------------------------------------------------- photos
def posed_world(avatar: Avatar, body: BodyModel, pose: np.ndarray) -> GaussianSet:
    """The avatar in `pose` [55,3] (no translation)."""
    return avatar.posed(body, pose)


def photo_camera(gaussians: GaussianSet, width: int = 768, height: int = 1024, fov_y_deg: float = 40.0,
                 fill: float = 0.86) -> Camera:
    """A front camera (on +Z, looking at -Z, level) that makes the subject fill `fill` of the height."""
    lo, hi = np.percentile(gaussians.means, 0.2, axis=0), np.percentile(gaussians.means, 99.8, axis=0)
    centre = (lo + hi) / 2
    half = max((hi[1] - lo[1]) / 2, (hi[0] - lo[0]) / 2 * height / width) / fill
    dist = half / np.tan(np.radians(fov_y_deg) / 2) + (hi[2] - lo[2]) / 2
    return Camera.look_at(centre + [0.0, 0.0, dist], centre, fov_y_deg=fov_y_deg, width=width, height=height)


def background(height: int, width: int, rng: np.random.Generator, kind: str = "gradient") -> np.ndarray:
    """[H,W,3] float32 backdrop: "plain", "gradient" (studio sweep), "texture" (soft noise) or
    "busy" (a room: shelves and furniture as rectangles of many colours, some of them near the
    subject's, and a floor)."""
    if kind == "busy":
        return _busy_background(height, width, rng)
    base = np.asarray(_colour(rng, False), np.float32) * 0.4 + 0.55
    img = np.repeat(np.repeat(base[None, None], height, 0), width, 1)
    if kind in ("gradient", "texture"):
        yy = np.linspace(-1, 1, height)[:, None, None]
        xx = np.linspace(-1, 1, width)[None, :, None]
        img = img * (1.0 - 0.08 * yy - 0.05 * xx ** 2)
    if kind == "texture":
        from scipy.ndimage import gaussian_filter
        noise = gaussian_filter(rng.normal(size=(height // 4 + 1, width // 4 + 1)), 2.0)
        noise = np.kron(noise, np.ones((4, 4)))[:height, :width]
        img = img * (1.0 + 0.015 * noise / max(noise.std(), 1e-6))[..., None]
    return np.clip(img, 0, 1).astype(np.float32)


def _busy_background(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A cluttered backdrop (see `background`)."""
    img = np.repeat(np.repeat(np.asarray(_colour(rng, False), np.float32)[None, None], height, 0), width, 1)
    floor = int(height * rng.uniform(0.72, 0.85))
    img[floor:] = np.asarray(_colour(rng, rng.random() < 0.3), np.float32) * 0.8
    for _ in range(int(rng.integers(25, 45))):
        h, w = int(rng.uniform(0.03, 0.35) * height), int(rng.uniform(0.02, 0.3) * width)
        y, x = int(rng.integers(0, max(floor - h // 2, 1))), int(rng.integers(-w // 2, width))
        img[max(y, 0):y + h, max(x, 0):x + w] = _colour(rng, rng.random() < 0.5)
    yy = np.linspace(-1, 1, height)[:, None, None]
    img = img * (1.0 - 0.1 * yy)
    from scipy.ndimage import gaussian_filter
    noise = gaussian_filter(rng.normal(size=(height, width)), 1.0)
    return np.clip(img * (1.0 + 0.03 * noise / max(noise.std(), 1e-6))[..., None], 0, 1).astype(np.float32)


def render_rgba(gaussians: GaussianSet, camera: Camera, renderer=None) -> np.ndarray:
    """[H,W,4] float32 straight-alpha render of `gaussians` through `camera`."""
    from ..core.render.rendering import create_renderer
    r = renderer or create_renderer("auto")
    out = r.render(gaussians, camera, background=None)
    return np.concatenate([out.color, out.alpha[..., None]], axis=-1)


def composite(rgba: np.ndarray, backdrop: np.ndarray) -> np.ndarray:
    """[H,W,4] straight-alpha float over [H,W,3] backdrop -> [H,W,3] uint8."""
    a = rgba[..., 3:4]
    return (np.clip(rgba[..., :3] * a + backdrop * (1 - a), 0, 1) * 255 + 0.5).astype(np.uint8)


@dataclass
class SyntheticPhoto:
    """A rendered photo and its ground truth.

    Attributes:
        rgba: [H,W,4] uint8 (alpha = exact person mask).
        rgb: [H,W,3] uint8 over a backdrop.
        camera: the photo camera; pose: [55,3]; avatar: the ground-truth avatar; spec: its spec.
        joints_2d: [55,2] pixel positions of the posed joints.
        backdrop: [H,W,3] float32 the backdrop behind the subject in `rgb`.
    """

    rgba: np.ndarray
    rgb: np.ndarray
    camera: Camera
    pose: np.ndarray
    avatar: Avatar
    spec: SubjectSpec
    joints_2d: np.ndarray
    backdrop: np.ndarray | None = None


def make_photo(spec: SubjectSpec, body: BodyModel | None = None, *, width: int = 768, height: int = 1024,
               backdrop: str = "gradient", num_gaussians: int = 50000, renderer=None,
               fov_y_deg: float = 40.0) -> SyntheticPhoto:
    """Render subject `spec` in its photo pose from the front."""
    body = body or default_body_model()
    avatar = make_avatar(spec, body, num_gaussians)
    pose = spec.pose_array
    posed = posed_world(avatar, body, pose)
    cam = photo_camera(posed, width, height, fov_y_deg)
    rgba = render_rgba(posed, cam, renderer)
    rng = np.random.default_rng(spec.seed + 7)
    back = background(height, width, rng, backdrop)
    rgb = composite(rgba, back)
    rgba8 = (np.clip(rgba, 0, 1) * 255 + 0.5).astype(np.uint8)
    rgba8[..., :3] = np.where(rgba8[..., 3:4] > 0, rgba8[..., :3], 0)
    joints = body.joint_transforms(pose[None], avatar.rig.betas)[0][0].numpy()
    return SyntheticPhoto(rgba8, rgb, cam, pose, avatar, spec, cam.project(joints)[:, :2], back)


# ------------------------------------------------------------------------------ sample photos
SAMPLE_SEEDS = {"sample_person_1": 8, "sample_person_2": 13, "sample_person_3": 4}  # the last one is RGBA


def write_sample_photos(folder: Path, width: int = 768, height: int = 1024) -> list[Path]:
    """Write the three shipped sample photos (two RGB, one RGBA) and their README."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for (name, seed), backdrop in zip(SAMPLE_SEEDS.items(), ("gradient", "texture", "plain")):
        spec = random_spec(seed)
        photo = make_photo(spec, width=width, height=height, backdrop=backdrop)
        from PIL import Image
        path = folder / f"{name}.png"
        if name.endswith("3"):
            Image.fromarray(photo.rgba, "RGBA").save(path, optimize=True)
        else:
            Image.fromarray(photo.rgb, "RGB").save(path, optimize=True)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=Path, help="write the sample photos into this folder")
    ap.add_argument("--seed", type=int, help="render one subject with this seed to --out")
    ap.add_argument("--out", type=Path, default=Path("synthetic.png"))
    args = ap.parse_args(argv)
    if args.photos:
        for p in write_sample_photos(args.photos):
            print(p)
    if args.seed is not None:
        from PIL import Image
        photo = make_photo(random_spec(args.seed))
        Image.fromarray(photo.rgb).save(args.out)
        print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
