"""Fit SMPL-X body pose, global orientation and translation to landmarks of all frames at once.

Everything is solved in the OpenCV camera frame (x right, y down, z forward) of a pinhole camera
whose focal length comes from a guessed field of view (`video_camera`). One set of betas
is fitted for the whole clip (with a unit Gaussian prior: proportions show in the landmarks, overall
size hardly does, as it trades against distance); hands, jaw and eyes stay at rest (mediapipe's pose
landmarks give the hand's orientation, which drives the wrist, but not the fingers); the toe joints
stay at rest.

## mediapipe landmarks -> SMPL-X (`MARKERS`)
Each landmark is a *marker*: a point rigidly attached to one SMPL-X joint, given as a rest-pose
point (a joint, or a vertex named in smplx's `vertex_ids.py`, which the stand-in body honours)
plus an offset. Its position at a pose is that joint's skinning transform applied to the point.

| mediapipe | attached to | rest point | why |
|---|---|---|---|
| 11/12 shoulder, 13/14 elbow, 15/16 wrist | same-named joint | the joint | joint centres |
| 25/26 knee, 27/28 ankle | same-named joint | the joint | joint centres |
| 23/24 hip | left/right_hip | the joint + `HIP_OFFSET` (3 cm) outwards | BlazePose hips sit wider (see below) |
| 17/18 pinky, 19/20 index | wrist | pinky1 / index1 joint | BlazePose puts them at the knuckles |
| 21/22 thumb | wrist | thumb2 joint | the thumb's second knuckle |
| 29/30 heel, 31/32 foot index | ankle | vertices LHeel/RHeel, LBigToe/RBigToe | toes stay at rest |
| 0 nose, 2/5 eyes, 7/8 ears | head | vertices nose, leye/reye, lear/rear | |

BlazePose's hips are about 22 cm apart on an adult, SMPL-X's hip joints 13-14 cm. The fit is
insensitive to the offset between 0 and 4.5 cm (PA-MPJPE within 1 mm on `tests/bench/bench_mocap.py`);
3 cm is a middle value.

Not used: the inner/outer eye corners and the mouth (no stable SMPL-X counterpart, and the head
is already fixed by the five points above).

## Objective (`FitWeights`), summed over frames
* 2D reprojection: robust (Geman-McClure) distance between projected markers and image
  landmarks, each residual turned into metres at the person's depth (pixels / f * depth), weighted
  by mediapipe's visibility.
* 3D alignment: robust (Geman-McClure) distance between 3D bone vectors of the markers (`BONES`:
  parent -> child landmark along the limbs, plus the hip, shoulder and head axes) and the same
  vectors of mediapipe's world landmarks (camera-aligned, scaled once per clip so their limb
  lengths match the body's), weighted by visibility. Bone vectors rather than hip-centred
  positions, because mediapipe often tips the whole upper body towards the camera.
* Joint-angle limits (`JOINT_LIMITS`): squared excess of each axis-angle component beyond a
  per-joint anatomical range (knees and elbows are near-hinges; collars and spine move little).
* Pose prior: a diagonal Gaussian around the rest pose, sum ((theta - 0) / sigma)^2 with hand-set
  per-joint, per-axis sigmas (`PRIOR_SIGMA`). It is weak: it resolves what the landmarks cannot
  see (bone twists, how a bend is shared among spine1/2/3 and neck/head).
* Temporal smoothness: squared second differences (accelerations) of joint positions, of the
  joint angles and of the root rotation, scaled to per-second units.
* Balance: the centre of mass (segment masses lumped on the joints, `SEGMENT_MASS`) stays over
  the middle of the feet, measured across a gravity direction fitted once per clip with a prior
  that it is the camera's down axis (a level camera, within about 10 degrees). Monocular depth
  leaves the torso's lean towards or away from the camera loosely fixed; this settles it.
* Shape prior: sum of squared betas.

Initialisation is closed-form per frame from the world landmarks (torso frames, hinge-aware
limb swings), with the translation from a linear least-squares fit of the 2D landmarks. Before
that, `temporal_depth_signs` makes each limb bone's towards/away-from-camera sign consistent over
time (a sign may only change where the picture shows the bone near the image plane); then
Adam refines all frames in one batch for a fixed, small number of iterations (60: on the
benchmark, running longer fits the landmark noise and is less accurate).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from ..reconstruct.base import CancelToken
from ..render.base import Camera
from ..rotations import aa_to_rotmat, rotmat_to_aa
from ..body.joints import SMPLX_PARENTS
from ..skinning import batch_rodrigues, forward_kinematics
from .landmarks import Landmarks

NUM_BODY = 22                      # pelvis + 21 body joints
BODY_PARENTS = SMPLX_PARENTS[:NUM_BODY]
FIXED_JOINTS = (10, 11)            # left_foot, right_foot: toes stay at rest
HIP_OFFSET = 0.03                  # metres, outward: BlazePose hip landmark vs SMPL-X hip joint

# SMPL-X vertex indices from smplx's vertex_ids.py ("smplx" table); the stand-in body puts a
# vertex at the matching place under each of these indices.
VERTEX_IDS = {"nose": 9120, "reye": 9929, "leye": 9448, "rear": 616, "lear": 6,
              "LBigToe": 5770, "LHeel": 8846, "RBigToe": 8463, "RHeel": 8635}


@dataclass(frozen=True)
class Marker:
    """A mediapipe landmark as a point rigidly attached to an SMPL-X joint.

    Attributes:
        landmark: mediapipe pose landmark index (0..32).
        joint: SMPL-X joint (0..21) whose transform moves the point.
        kind, index: rest point source: ("joint", SMPL-X joint index) or ("vertex", vertex index).
        offset: [3] metres added to the rest point (rest-pose axes).
        weight: relative weight in the 2D and 3D terms.
    """

    landmark: int
    joint: int
    kind: str
    index: int
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
    weight: float = 1.0


MARKERS: tuple[Marker, ...] = (
    Marker(0, 15, "vertex", VERTEX_IDS["nose"], weight=0.5),
    Marker(2, 15, "vertex", VERTEX_IDS["leye"], weight=0.3),
    Marker(5, 15, "vertex", VERTEX_IDS["reye"], weight=0.3),
    Marker(7, 15, "vertex", VERTEX_IDS["lear"], weight=0.5),
    Marker(8, 15, "vertex", VERTEX_IDS["rear"], weight=0.5),
    Marker(11, 16, "joint", 16), Marker(12, 17, "joint", 17),
    Marker(13, 18, "joint", 18), Marker(14, 19, "joint", 19),
    Marker(15, 20, "joint", 20), Marker(16, 21, "joint", 21),
    Marker(17, 20, "joint", 31, weight=0.3), Marker(18, 21, "joint", 46, weight=0.3),
    Marker(19, 20, "joint", 25, weight=0.3), Marker(20, 21, "joint", 40, weight=0.3),
    Marker(21, 20, "joint", 38, weight=0.2), Marker(22, 21, "joint", 53, weight=0.2),
    Marker(23, 1, "joint", 1, offset=(HIP_OFFSET, 0.0, 0.0)),
    Marker(24, 2, "joint", 2, offset=(-HIP_OFFSET, 0.0, 0.0)),
    Marker(25, 4, "joint", 4), Marker(26, 5, "joint", 5),
    Marker(27, 7, "joint", 7), Marker(28, 8, "joint", 8),
    Marker(29, 7, "vertex", VERTEX_IDS["LHeel"], weight=0.5),
    Marker(30, 8, "vertex", VERTEX_IDS["RHeel"], weight=0.5),
    Marker(31, 7, "vertex", VERTEX_IDS["LBigToe"], weight=0.5),
    Marker(32, 8, "vertex", VERTEX_IDS["RBigToe"], weight=0.5),
)
LANDMARK_OF_MARKER = np.array([m.landmark for m in MARKERS])
_MK = {m.landmark: k for k, m in enumerate(MARKERS)}  # landmark index -> marker row

# Axis-angle component ranges (radians) of the 21 body joints, in the SMPL-X rest frame
# (Y up, facing +Z, left = +X): rows = joints 1..21, columns = (lo_x, lo_y, lo_z, hi_x, hi_y, hi_z).
# Signs: spine/neck/head bend forward = +x; hip flexion = -x; knee flexion = +x; left arm down = -z,
# left arm forward = -y, left elbow flexion = -y (right side mirrored in y and z).
_R = np.radians
JOINT_LIMITS = np.array([
    # lo x, lo y, lo z,  hi x, hi y, hi z
    [-2.5, -0.9, -0.6, 0.7, 0.9, 1.3],      # 1 left_hip
    [-2.5, -0.9, -1.3, 0.7, 0.9, 0.6],      # 2 right_hip
    [-0.4, -0.45, -0.4, 0.7, 0.45, 0.4],    # 3 spine1
    [-0.05, -0.4, -0.15, 2.6, 0.4, 0.15],   # 4 left_knee
    [-0.05, -0.4, -0.15, 2.6, 0.4, 0.15],   # 5 right_knee
    [-0.4, -0.45, -0.4, 0.7, 0.45, 0.4],    # 6 spine2
    [-0.9, -0.6, -0.5, 0.9, 0.6, 0.5],      # 7 left_ankle
    [-0.9, -0.6, -0.5, 0.9, 0.6, 0.5],      # 8 right_ankle
    [-0.4, -0.45, -0.4, 0.7, 0.45, 0.4],    # 9 spine3
    [0, 0, 0, 0, 0, 0],                     # 10 left_foot (fixed)
    [0, 0, 0, 0, 0, 0],                     # 11 right_foot (fixed)
    [-0.7, -0.8, -0.6, 0.8, 0.8, 0.6],      # 12 neck
    [-0.4, -0.4, -0.4, 0.4, 0.4, 0.5],      # 13 left_collar
    [-0.4, -0.4, -0.5, 0.4, 0.4, 0.4],      # 14 right_collar
    [-0.7, -0.8, -0.6, 0.8, 0.8, 0.6],      # 15 head
    [-1.8, -2.2, -1.8, 1.8, 1.2, 1.8],      # 16 left_shoulder
    [-1.8, -1.2, -1.8, 1.8, 2.2, 1.8],      # 17 right_shoulder
    [-1.7, -2.7, -0.2, 1.7, 0.05, 0.2],     # 18 left_elbow
    [-1.7, -0.05, -0.2, 1.7, 2.7, 0.2],     # 19 right_elbow
    [-1.0, -1.3, -0.9, 1.0, 1.3, 0.9],      # 20 left_wrist
    [-1.0, -1.3, -0.9, 1.0, 1.3, 0.9],      # 21 right_wrist
], np.float32)

# Share of the body's mass carried by each of the 22 body joints (segment masses lumped onto the
# nearest joints), for the centre of mass of the balance term.
SEGMENT_MASS = np.array([0.14, 0.06, 0.06, 0.10, 0.06, 0.06, 0.10, 0.03, 0.03, 0.12, 0.01, 0.01, 0.03, 0.01, 0.01,
                         0.07, 0.025, 0.025, 0.02, 0.02, 0.01, 0.01], np.float32)

# Diagonal Gaussian pose prior around the rest pose: sigma (radians) per joint 1..21 and axis.
PRIOR_SIGMA = np.array([
    [0.9, 0.35, 0.5], [0.9, 0.35, 0.5],     # hips (twist about y is rarely large)
    [0.25, 0.25, 0.25],                     # spine1
    [1.2, 0.15, 0.1], [1.2, 0.15, 0.1],     # knees: hinges about x
    [0.25, 0.25, 0.25],                     # spine2
    [0.4, 0.3, 0.25], [0.4, 0.3, 0.25],     # ankles
    [0.25, 0.25, 0.25],                     # spine3
    [1.0, 1.0, 1.0], [1.0, 1.0, 1.0],       # feet (fixed anyway)
    [0.35, 0.35, 0.3],                      # neck
    [0.12, 0.12, 0.12], [0.12, 0.12, 0.12],  # collars: let the shoulders do the work
    [0.35, 0.35, 0.3],                      # head
    [0.6, 1.0, 1.0], [0.6, 1.0, 1.0],       # shoulders (twist about x weaker)
    [0.6, 1.2, 0.1], [0.6, 1.2, 0.1],       # elbows: hinges about y
    [0.5, 0.6, 0.5], [0.5, 0.6, 0.5],       # wrists
], np.float32)


# A middle guess of a video's field of view across its long side: a phone main camera films roughly
# 65-70 degrees across, a webcam 55-78.
DEFAULT_FOV_DEG = 60.0


def video_camera(width: int, height: int, fov_deg: float = DEFAULT_FOV_DEG) -> Camera:
    """The pinhole camera the fit solves in: at the origin, OpenCV axes, `fov_deg` across the long side."""
    return Camera.from_long_side_fov(width, height, fov_deg)


@dataclass
class FitWeights:
    """Weights of the fit's terms (see the module docstring); residuals are in metres or radians."""

    reproj: float = 1.0
    reproj_sigma: float = 0.05       # metres at the subject: Geman-McClure scale
    world: float = 0.5
    world_sigma: float = 0.08        # metres: Geman-McClure scale of the bone-vector term
    limits: float = 50.0
    prior: float = 0.004
    smooth_joints: float = 1e-5      # on (m/s^2)^2
    smooth_pose: float = 1e-5        # on (rad/s^2)^2
    smooth_root: float = 4e-6
    balance: float = 0.5             # centre of mass over the feet, along the fitted gravity
    balance_sigma: float = 0.08      # metres
    gravity_sigma: float = 0.2       # radians: prior on gravity = the camera's down (+y) axis
    shape_sigma: float = 1.0         # prior on the betas (SMPL-X betas are unit-variance)


@dataclass
class FitSettings:
    """Solver settings: `fov_deg` (camera guess), `iterations` of Adam at `lr`, `fit_shape` (also
    fit one set of betas for the clip), `depth_signs` (`temporal_depth_signs` on the world landmarks
    before the fit), and weights."""

    fov_deg: float = DEFAULT_FOV_DEG
    iterations: int = 60
    lr: float = 0.05
    fit_shape: bool = True
    depth_signs: bool = True
    weights: FitWeights = field(default_factory=FitWeights)


@dataclass
class FitResult:
    """The fitted motion in the camera frame, with what the check view and diagnostics need.

    Attributes:
        global_orient: [T,3] axis-angle, camera frame (OpenCV axes).
        body_pose: [T,21,3] axis-angle.
        transl: [T,3] SMPL-X transl, camera frame, metres.
        joints: [T,22,3] camera-frame body joints.
        markers: [T,33,3] camera-frame positions of the fitted landmarks (zeros for unused ones).
        camera: the intrinsics used (for frames of `landmarks.width` x `landmarks.height`).
        reprojection_px: [T] visibility-weighted mean 2D error in pixels (NaN where no person).
        betas: [B] body shape fitted for the whole clip (zeros unless `FitSettings.fit_shape`).
        loss: final objective value; seconds: solve time.
    """

    global_orient: np.ndarray
    body_pose: np.ndarray
    transl: np.ndarray
    joints: np.ndarray
    markers: np.ndarray
    camera: Camera
    reprojection_px: np.ndarray
    betas: np.ndarray
    loss: float
    seconds: float


# ---------------------------------------------------------------------------------------------------
# Rest-pose geometry
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RestGeometry:
    """Body-model quantities the fit needs, at `betas`, with their linear change per beta.

    Attributes:
        joints: [22,3] rest body joints; points: [K,3] rest marker points; attach: [K] joint index.
        joint_dirs: [22,3,B], point_dirs: [K,3,B]: d(joints)/d(betas), d(points)/d(betas).
    """

    joints: np.ndarray
    points: np.ndarray
    attach: np.ndarray
    joint_dirs: np.ndarray
    point_dirs: np.ndarray


def rest_geometry(body, betas: np.ndarray | None = None, markers: tuple[Marker, ...] = MARKERS) -> RestGeometry:
    """Rest joints and marker points of `body` (a `BodyModel`) at `betas` (default 0)."""
    verts, joints = body.shaped(betas)
    b = body.num_betas
    shapedirs = np.asarray(body.shapedirs, np.float64)[..., :b]                       # [V,3,B]
    jreg = np.asarray(body.J_regressor, np.float64)
    jdirs = np.einsum("jv,vcb->jcb", jreg, shapedirs)                                   # [55,3,B]
    pts, pdirs = [], []
    for m in markers:
        base = joints[m.index] if m.kind == "joint" else verts[m.index]
        pts.append(np.asarray(base, np.float64) + np.asarray(m.offset))
        pdirs.append(jdirs[m.index] if m.kind == "joint" else shapedirs[m.index])
    return RestGeometry(joints[:NUM_BODY].astype(np.float64), np.array(pts), np.array([m.joint for m in markers]),
                        jdirs[:NUM_BODY], np.array(pdirs))


# ---------------------------------------------------------------------------------------------------
# Landmark preparation
# ---------------------------------------------------------------------------------------------------
def fill_gaps(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    """[T,...] per-frame values with absent frames filled by linear interpolation (held at the ends)."""
    idx = np.flatnonzero(present)
    if idx.size == len(present):
        return values.copy()
    flat = values.reshape(len(present), -1)
    out = np.empty_like(flat)
    t = np.arange(len(present))
    for c in range(flat.shape[1]):
        out[:, c] = np.interp(t, idx, flat[idx, c])
    return out.reshape(values.shape)


def marker_targets(lm: Landmarks) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-marker targets with gaps filled.

    Returns:
        pixels: [T,K,2]; world: [T,K,3] (mediapipe world landmarks, camera axes, hip-centred);
        confidence: [T,K] visibility x marker weight, 0 in frames without a person.
    """
    px = fill_gaps(lm.pixels()[:, LANDMARK_OF_MARKER], lm.present)
    world = fill_gaps(lm.world[:, LANDMARK_OF_MARKER], lm.present)
    w = np.array([m.weight for m in MARKERS], np.float32)
    conf = lm.visibility()[:, LANDMARK_OF_MARKER] * w
    return px, world, conf.astype(np.float32)


_LIMBS = ((11, 13), (13, 15), (12, 14), (14, 16), (23, 25), (25, 27), (24, 26), (26, 28))
# Landmark pairs whose 3D difference the world term compares (parent -> child along the body, plus
# the hip, shoulder and ear axes). Differences, not hip-centred positions: mediapipe's world
# landmarks often tip the whole upper body towards the camera, and a difference along one bone
# carries little of that error.
BONES: tuple[tuple[int, int], ...] = (
    (11, 13), (13, 15), (15, 17), (15, 19), (15, 21), (12, 14), (14, 16), (16, 18), (16, 20), (16, 22),
    (23, 25), (25, 27), (27, 29), (27, 31), (24, 26), (26, 28), (28, 30), (28, 32),
    (23, 24), (11, 12), (7, 8), (8, 0), (7, 0))


def world_scale(world: np.ndarray, conf: np.ndarray, rest: RestGeometry) -> float:
    """One factor taking mediapipe world landmarks to the body's size: median ratio of limb lengths."""
    ratios = []
    for a, b in _LIMBS:
        ka, kb = _MK[a], _MK[b]
        model = np.linalg.norm(rest.points[ka] - rest.points[kb])
        obs = np.linalg.norm(world[:, ka] - world[:, kb], axis=-1)
        good = (conf[:, ka] > 0.3) & (conf[:, kb] > 0.3) & (obs > 1e-3)
        ratios.append(model / obs[good])
    r = np.concatenate(ratios) if ratios else np.array([])
    return float(np.clip(np.median(r), 0.5, 2.0)) if r.size else 1.0


# Limb chains for `temporal_depth_signs`: (bone start, bone end, landmarks carried along with the end).
_SIGN_CHAINS: tuple[tuple[int, int, tuple[int, ...]], ...] = (
    (11, 13, (15, 17, 19, 21)), (13, 15, (17, 19, 21)), (12, 14, (16, 18, 20, 22)), (14, 16, (18, 20, 22)),
    (23, 25, (27, 29, 31)), (25, 27, (29, 31)), (24, 26, (28, 30, 32)), (26, 28, (30, 32)))


def temporal_depth_signs(world: np.ndarray, pixels: np.ndarray, conf: np.ndarray, depth: np.ndarray,
                         focal: float, rest: RestGeometry, switch_cost: float = 4.0, min_share: float = 0.25
                         ) -> tuple[np.ndarray, int]:
    """Make each limb bone's towards/away sign in the world landmarks consistent over time.

    A bone of fixed length L whose picture is l long has a depth share |dz|/L = sqrt(1 - (l/L)^2);
    its sign (towards or away from the camera) can only change when that share passes near 0, i.e.
    through the image plane. Per bone (upper arms, forearms, thighs, shins), a two-state Viterbi pass
    picks a sign per frame: disagreeing with mediapipe's world landmarks costs their depth share
    times the landmark confidence; switching costs `switch_cost` times the smaller depth share from
    the picture of the two frames. Frames where the chosen sign contradicts mediapipe's and the
    picture says the bone leaves the image plane by more than `min_share` get the bone's depth
    mirrored (the landmarks further down the limb move with it).

    Args:
        world: [T,K,3] marker targets (scaled world landmarks, camera axes); pixels: [T,K,2];
        conf: [T,K]; depth: [T] the person's distance from the camera (metres); focal: pixels.
    Returns:
        (corrected [T,K,3] copy, number of bone-frames flipped).
    """
    out = world.copy()
    flips = 0
    for a, b, carried in _SIGN_CHAINS:
        ka, kb = _MK[a], _MK[b]
        length = float(np.linalg.norm(rest.points[kb] - rest.points[ka]))
        bone = out[:, kb] - out[:, ka]
        share_mp = bone[:, 2] / np.maximum(np.linalg.norm(bone, axis=-1), 1e-6)          # signed, [-1, 1]
        seen = np.linalg.norm(pixels[:, kb] - pixels[:, ka], axis=-1) * depth / focal   # metres
        share_px = np.sqrt(np.clip(1 - (seen / length) ** 2, 0.0, 1.0))               # unsigned
        trust = np.sqrt(np.clip(conf[:, ka] * conf[:, kb], 0.0, None))
        unary = np.stack([np.maximum(-share_mp, 0), np.maximum(share_mp, 0)], -1) * trust[:, None]  # [T,(+,-)]
        t = len(bone)
        cost = unary[0].copy()
        back = np.zeros((t, 2), np.int64)
        for n in range(1, t):
            switch = switch_cost * min(share_px[n], share_px[n - 1])
            total = cost[:, None] + np.array([[0.0, switch], [switch, 0.0]])               # [prev, now]
            back[n] = np.argmin(total, axis=0)
            cost = total[back[n], [0, 1]] + unary[n]
        state = np.zeros(t, np.int64)
        state[-1] = int(np.argmin(cost))
        for n in range(t - 1, 0, -1):
            state[n - 1] = back[n, state[n]]
        sign = np.where(state == 0, 1.0, -1.0)
        flip = (share_mp * sign < -0.05) & (share_px > min_share)
        if not flip.any():
            continue
        flips += int(flip.sum())
        delta = np.zeros_like(bone)
        delta[:, 2] = np.where(flip, -2 * bone[:, 2], 0.0)                               # mirror the depth
        for k in (b,) + carried:
            out[:, _MK[k]] += delta
    return out, flips


# ---------------------------------------------------------------------------------------------------
# Closed-form initialisation
# ---------------------------------------------------------------------------------------------------
def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def frame_from(primary: np.ndarray, secondary: np.ndarray) -> np.ndarray:
    """[...,3,3] orthonormal frame with columns (primary, secondary made orthogonal, their cross)."""
    a = _unit(primary)
    b = _unit(secondary - np.sum(secondary * a, -1, keepdims=True) * a)
    return np.stack([a, b, np.cross(a, b)], axis=-1)


def swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[...,3,3] shortest rotation taking directions a onto b (both [...,3])."""
    a, b = _unit(a), _unit(b)
    axis = np.cross(a, b)
    s = np.linalg.norm(axis, axis=-1, keepdims=True)
    c = np.sum(a * b, -1, keepdims=True)
    ang = np.arctan2(s, c)
    perp = _unit(np.cross(a, np.where(np.abs(a[..., :1]) < 0.9, [1.0, 0, 0], [0, 1.0, 0])))
    axis = np.where(s > 1e-8, axis / np.maximum(s, 1e-12), np.where(c < 0, perp, 0.0))
    return aa_to_rotmat(axis * ang)


def _split(rel: np.ndarray, parts: int) -> np.ndarray:
    """[...,3,3] rotation -> [...,3,3] rotation whose `parts`-th power is it (same axis, angle/parts)."""
    return aa_to_rotmat(rotmat_to_aa(rel) / parts)


def _limb(g_parent: np.ndarray, d_rest: np.ndarray, d_obs: np.ndarray, child_obs: np.ndarray,
          hinge_rest: np.ndarray | None) -> np.ndarray:
    """World rotation [T,3,3] of a limb's first bone.

    The bone's rest direction `d_rest` [3] goes onto the observed `d_obs` [T,3]. The twist about
    it is the parent's (minimal swing), unless the next bone `child_obs` [T,3] bends away enough to
    show the hinge plane: then the hinge axis `hinge_rest` [3] is put across that plane.
    """
    carried = g_parent @ d_rest                                  # [T,3]
    g_swing = swing(carried, d_obs) @ g_parent
    if hinge_rest is None:
        return g_swing
    normal = np.cross(_unit(d_obs), _unit(child_obs))           # hinge axis seen from the bend
    bend = np.linalg.norm(normal, axis=-1, keepdims=True)       # sin of the bend angle
    hinge_now = g_swing @ hinge_rest                            # hinge axis with minimal twist
    agree = np.sum(normal * hinge_now, -1, keepdims=True) > 0
    use = (bend > np.sin(np.radians(12))) & agree
    target = np.where(use, _unit(normal), hinge_now)
    f_rest = frame_from(d_rest, hinge_rest)                     # [3,3]
    f_obs = frame_from(d_obs, target)
    g_hinge = f_obs @ f_rest.T
    return np.where(use[..., None], g_hinge, g_swing)


def initial_pose(world: np.ndarray, rest: RestGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form pose from hip-centred 3D landmarks (camera axes).

    Args:
        world: [T,K,3] marker targets (scaled world landmarks).
    Returns:
        ([T,3,3] root rotation in the camera frame, [T,21,3] local axis-angle body pose).
    """
    t = world.shape[0]
    p = rest.points
    w = lambda lmk: world[:, _MK[lmk]]                            # noqa: E731
    r = lambda lmk: p[_MK[lmk]]                                   # noqa: E731
    mid = lambda f, a, b: 0.5 * (f(a) + f(b))                     # noqa: E731
    rot = np.broadcast_to(np.eye(3), (t, NUM_BODY, 3, 3)).copy()  # world rotations G
    # Pelvis: left-right axis from the hips, up from the hips' middle to the shoulders' middle.
    f_obs = frame_from(w(23) - w(24), mid(w, 11, 12) - mid(w, 23, 24))
    f_rest = frame_from(r(23) - r(24), mid(r, 11, 12) - mid(r, 23, 24))
    rot[:, 0] = f_obs @ f_rest.T
    # Spine: the shoulders' frame relative to the pelvis, shared equally by spine1..3.
    f_sh = frame_from(w(11) - w(12), mid(w, 11, 12) - mid(w, 23, 24))
    f_sh_rest = frame_from(r(11) - r(12), mid(r, 11, 12) - mid(r, 23, 24))
    g_chest = f_sh @ f_sh_rest.T
    step = _split(np.swapaxes(rot[:, 0], -1, -2) @ g_chest, 3)
    for j, parent in ((3, 0), (6, 3), (9, 6)):
        rot[:, j] = rot[:, parent] @ step
    for j in (12, 13, 14):
        rot[:, j] = rot[:, 9]
    # Head: ear-to-ear axis and the nose; the turn is shared by neck and head.
    f_head = frame_from(w(7) - w(8), w(0) - mid(w, 7, 8))
    f_head_rest = frame_from(r(7) - r(8), r(0) - mid(r, 7, 8))
    half = _split(np.swapaxes(rot[:, 9], -1, -2) @ (f_head @ f_head_rest.T), 2)
    rot[:, 12] = rot[:, 9] @ half
    rot[:, 15] = rot[:, 12] @ half
    # Limbs: (joint, child joint, first-bone landmarks, next-bone landmarks, hinge axis at rest).
    x_axis, y_axis = np.array([1.0, 0, 0]), np.array([0, 1.0, 0])
    limbs = ((1, 4, (23, 25), (25, 27), x_axis), (2, 5, (24, 26), (26, 28), x_axis),
             (16, 18, (11, 13), (13, 15), -y_axis), (17, 19, (12, 14), (14, 16), y_axis))
    for j, child, (a, b), (c, d), hinge in limbs:
        parent = BODY_PARENTS[j]
        rot[:, j] = _limb(rot[:, parent], r(b) - r(a), w(b) - w(a), w(d) - w(c), hinge)
        rot[:, child] = swing(rot[:, j] @ (r(d) - r(c)), w(d) - w(c)) @ rot[:, j]
    # Feet: ankle -> toe direction, with the heel-toe line for the twist-free part.
    for ankle, (heel, toe) in ((7, (29, 31)), (8, (30, 32))):
        g_parent = rot[:, BODY_PARENTS[ankle]]
        rot[:, ankle] = swing(g_parent @ (r(toe) - r(heel)), w(toe) - w(heel)) @ g_parent
    for toe_joint, ankle in ((10, 7), (11, 8)):
        rot[:, toe_joint] = rot[:, ankle]
    # Hands: along the hand to the knuckles' middle, across from pinky to index knuckle.
    for wrist, (pinky, index) in ((20, (17, 19)), (21, (18, 20))):
        wr = 15 if wrist == 20 else 16
        f_obs = frame_from(mid(w, pinky, index) - w(wr), w(index) - w(pinky))
        f_rest = frame_from(mid(r, pinky, index) - r(wr), r(index) - r(pinky))
        rot[:, wrist] = f_obs @ f_rest.T
    local = np.empty_like(rot)
    local[:, 0] = rot[:, 0]
    for j in range(1, NUM_BODY):
        local[:, j] = np.swapaxes(rot[:, BODY_PARENTS[j]], -1, -2) @ rot[:, j]
    pose = rotmat_to_aa(local[:, 1:])
    pose[:, [f - 1 for f in FIXED_JOINTS]] = 0.0
    return rot[:, 0], pose


def initial_translation(markers0: np.ndarray, pixels: np.ndarray, conf: np.ndarray, cam: Camera
                        ) -> np.ndarray:
    """[T,3] translation putting posed markers (at transl 0) under their 2D landmarks.

    Linear least squares per frame: f (X + tx) = (u - cx)(Z + tz), same for y.
    Args:
        markers0: [T,K,3] posed markers without translation; pixels: [T,K,2]; conf: [T,K].
    """
    du = pixels[..., 0] - cam.cx
    dv = pixels[..., 1] - cam.cy
    x, y, z = markers0[..., 0], markers0[..., 1], markers0[..., 2]
    w = np.sqrt(np.maximum(conf, 0.0)) + 1e-6
    zeros = np.zeros_like(du)
    rows_u = np.stack([np.full_like(du, cam.fx), zeros, -du], -1) * w[..., None]
    rows_v = np.stack([zeros, np.full_like(dv, cam.fy), -dv], -1) * w[..., None]
    a = np.concatenate([rows_u, rows_v], axis=1)                 # [T,2K,3]
    b = np.concatenate([(du * z - cam.fx * x) * w, (dv * z - cam.fy * y) * w], axis=1)
    ata = np.swapaxes(a, 1, 2) @ a + 1e-9 * np.eye(3)
    atb = np.swapaxes(a, 1, 2) @ b[..., None]
    tr = np.linalg.solve(ata, atb)[..., 0]
    tr[:, 2] = np.maximum(tr[:, 2], 0.5 - markers0[..., 2].min(axis=1))  # stay in front of the camera
    return tr


# ---------------------------------------------------------------------------------------------------
# The batched solve
# ---------------------------------------------------------------------------------------------------
class _Problem:
    """Tensors and the objective of one fit (float32 torch on the CPU)."""

    def __init__(self, rest: RestGeometry, pixels: np.ndarray, world: np.ndarray, conf: np.ndarray,
                 cam: Camera, fps: float, weights: FitWeights) -> None:
        f32 = lambda a: torch.as_tensor(np.asarray(a, np.float32))  # noqa: E731
        self.joints = f32(rest.joints)
        self.points = f32(rest.points)
        self.joint_dirs = f32(rest.joint_dirs)
        self.point_dirs = f32(rest.point_dirs)
        self.attach = torch.as_tensor(rest.attach, dtype=torch.long)
        self.pixels, self.world, self.conf = f32(pixels), f32(world), f32(conf)
        self.cam = cam
        self.fps = float(fps)
        self.w = weights
        self.lo = f32(JOINT_LIMITS[:, :3])
        self.hi = f32(JOINT_LIMITS[:, 3:])
        self.sigma = f32(PRIOR_SIGMA)
        self.mass = f32(SEGMENT_MASS / SEGMENT_MASS.sum())
        self.feet = torch.as_tensor([_MK[i] for i in (29, 30, 31, 32)])
        mask = torch.ones(21, 3)
        mask[[f - 1 for f in FIXED_JOINTS]] = 0
        self.free = mask
        self.bone_a = torch.as_tensor([_MK[a] for a, _ in BONES])
        self.bone_b = torch.as_tensor([_MK[b] for _, b in BONES])
        wb = torch.sqrt(self.conf[:, self.bone_a] * self.conf[:, self.bone_b])
        self.bone_conf = wb
        self.bone_target = self.world[:, self.bone_b] - self.world[:, self.bone_a]

    def pose(self, root0: torch.Tensor, d_root: torch.Tensor, body: torch.Tensor, transl: torch.Tensor,
             betas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """([T,3,3] root rotation, [T,22,3] joints, [T,K,3] markers), camera frame; betas: [B]."""
        root = root0 @ batch_rodrigues(d_root)
        rots = torch.cat([root[:, None], batch_rodrigues(body * self.free)], dim=1)
        rest_joints = self.joints + self.joint_dirs @ betas
        points = self.points + self.point_dirs @ betas
        joints, rel = forward_kinematics(rots, rest_joints, BODY_PARENTS)
        a = rel[:, self.attach]                                    # [T,K,4,4]
        markers = (a[..., :3, :3] @ points[None, :, :, None])[..., 0] + a[..., :3, 3]
        return root, joints + transl[:, None], markers + transl[:, None]

    def loss(self, root: torch.Tensor, body: torch.Tensor, joints: torch.Tensor, markers: torch.Tensor,
             gravity: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
        """Objective; `gravity` [3] is an axis-angle turning the camera's +y into the fitted "down"."""
        w, cam = self.w, self.cam
        t = markers.shape[0]
        z = markers[..., 2].clamp(min=0.1)
        uv = torch.stack([markers[..., 0] / z * cam.fx + cam.cx, markers[..., 1] / z * cam.fy + cam.cy], -1)
        depth = z.detach().mean(dim=1, keepdim=True)               # [T,1]
        err = (uv - self.pixels).norm(dim=-1) * depth / cam.fx      # metres at the subject
        s2 = w.reproj_sigma ** 2
        gm = err ** 2 / (err ** 2 + s2) * s2                        # Geman-McClure, ~err^2 when small
        e_2d = (self.conf * gm).sum() / t / s2
        bones = markers[:, self.bone_b] - markers[:, self.bone_a]
        d3 = (bones - self.bone_target).pow(2).sum(-1)
        s3 = w.world_sigma ** 2
        e_3d = (self.bone_conf * d3 / (d3 + s3)).sum() / t    # Geman-McClure on bone vectors
        e_lim = (torch.relu(body - self.hi) ** 2 + torch.relu(self.lo - body) ** 2).sum() / t
        e_prior = ((body / self.sigma) ** 2 * self.free).sum() / t
        down = batch_rodrigues(gravity[None])[0, :, 1]                 # [3]
        com = (joints * self.mass[None, :, None]).sum(1)
        off = com - markers[:, self.feet].mean(1)
        off = off - (off @ down)[:, None] * down                        # across gravity
        e_bal = (off.pow(2).sum(-1) / w.balance_sigma ** 2).sum() / t
        e_grav = gravity[[0, 2]].pow(2).sum() / w.gravity_sigma ** 2
        e_shape = betas.pow(2).sum() / w.shape_sigma ** 2
        total = (w.reproj * e_2d + w.world * e_3d + w.limits * e_lim + w.prior * e_prior + w.balance * e_bal
                 + e_grav + e_shape)
        if t >= 3:
            f2 = self.fps ** 2
            acc = lambda x: (x[2:] - 2 * x[1:-1] + x[:-2]) * f2  # noqa: E731
            total = total + (w.smooth_joints * acc(joints).pow(2).sum() + w.smooth_joints * acc(markers).pow(2).sum()
                             + w.smooth_pose * acc(body).pow(2).sum() + w.smooth_root * acc(root).pow(2).sum()) / t
        return total


def fit_landmarks(lm: Landmarks, body, settings: FitSettings | None = None, *,
                  progress: Callable[[float], None] | None = None, cancel: CancelToken | None = None) -> FitResult:
    """Fit SMPL-X to a clip's landmarks (see the module docstring).

    Args:
        lm: landmarks of T frames (at least one with a person).
        body: the `BodyModel` whose rest joints and vertices define the markers.
        progress: called with the fraction done; cancel: checked every iteration.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small batched ops: one thread is fastest, and robust to a busy CPU
    try:
        return _fit(lm, body, settings or FitSettings(), progress, cancel or CancelToken())
    finally:
        torch.set_num_threads(threads)


def _initial_state(world: np.ndarray, pixels: np.ndarray, conf: np.ndarray, cam: Camera, rest: RestGeometry
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """([T,3,3] root rotation, [T,21,3] body pose, [T,3] translation) in closed form."""
    root0, pose0 = initial_pose(world, rest)
    fk_rot = np.concatenate([root0[:, None], aa_to_rotmat(pose0)], axis=1)
    with torch.no_grad():
        _, rel = forward_kinematics(torch.as_tensor(fk_rot, dtype=torch.float32),
                                    torch.as_tensor(rest.joints, dtype=torch.float32), BODY_PARENTS)
        a = rel[:, torch.as_tensor(rest.attach)]
        m0 = ((a[..., :3, :3] @ torch.as_tensor(rest.points, dtype=torch.float32)[None, :, :, None])[..., 0]
              + a[..., :3, 3]).numpy()
    return root0, pose0, initial_translation(m0, pixels, conf, cam)


def _fit(lm: Landmarks, body, settings: FitSettings, progress: Callable[[float], None] | None,
         cancel: CancelToken) -> FitResult:
    t0 = time.perf_counter()
    rest = rest_geometry(body)
    cam = video_camera(lm.width, lm.height, settings.fov_deg)
    pixels, world, conf = marker_targets(lm)
    scale = world_scale(world, conf, rest)
    world = world * scale
    root0, pose0, tr0 = _initial_state(world, pixels, conf, cam, rest)
    if settings.depth_signs:
        depth = tr0[:, 2] + (root0 @ rest.joints[0])[:, 2]            # the pelvis's distance
        world, _ = temporal_depth_signs(world, pixels, conf, depth, cam.fx, rest)
        root0, pose0, tr0 = _initial_state(world, pixels, conf, cam, rest)
    prob = _Problem(rest, pixels, world, conf, cam, lm.fps, settings.weights)
    root0_t = torch.as_tensor(root0, dtype=torch.float32)
    d_root = torch.zeros(lm.num_frames, 3, requires_grad=True)
    gravity = torch.zeros(3, requires_grad=True)
    betas = torch.zeros(rest.joint_dirs.shape[-1], requires_grad=settings.fit_shape)
    body_pose = torch.as_tensor(pose0, dtype=torch.float32).clone().requires_grad_(True)
    transl = torch.as_tensor(tr0, dtype=torch.float32).clone().requires_grad_(True)
    params = [d_root, body_pose, transl, gravity] + ([betas] if settings.fit_shape else [])
    opt = torch.optim.Adam(params, lr=settings.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, settings.iterations, eta_min=settings.lr * 0.05)
    n_it = max(1, settings.iterations)
    value = torch.tensor(0.0)
    for it in range(n_it):
        cancel.check("Motion capture cancelled.")
        opt.zero_grad(set_to_none=True)
        root, joints, markers = prob.pose(root0_t, d_root, body_pose, transl, betas)
        value = prob.loss(root, body_pose, joints, markers, gravity, betas)
        value.backward()
        opt.step()
        sched.step()
        if progress is not None and (it % 5 == 4 or it == n_it - 1):
            progress((it + 1) / n_it)
    with torch.no_grad():
        root, joints, markers = prob.pose(root0_t, d_root, body_pose, transl, betas)
        pose = (body_pose * prob.free).numpy().astype(np.float32)
    joints_np, markers_np = joints.numpy(), markers.numpy()
    all_markers = np.zeros((lm.num_frames, 33, 3), np.float32)
    all_markers[:, LANDMARK_OF_MARKER] = markers_np
    uv = cam.project(markers_np)[..., :2]
    err = np.linalg.norm(uv - lm.pixels()[:, LANDMARK_OF_MARKER], axis=-1)
    vis = lm.visibility()[:, LANDMARK_OF_MARKER]
    reproj = np.where(lm.present, (err * vis).sum(1) / np.maximum(vis.sum(1), 1e-6), np.nan)
    return FitResult(global_orient=rotmat_to_aa(root.numpy().astype(np.float64)).astype(np.float32),
                     body_pose=pose, transl=transl.detach().numpy().astype(np.float32), joints=joints_np,
                     markers=all_markers, camera=cam, reprojection_px=reproj.astype(np.float32),
                     betas=betas.detach().numpy().astype(np.float32), loss=float(value.detach()),
                     seconds=time.perf_counter() - t0)
