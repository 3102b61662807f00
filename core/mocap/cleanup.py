"""Clean-up of a fitted camera-frame motion: Y-up world, level floor, smoothing, foot skate, feet on floor.

Steps (`clean_motion`):
1. Camera frame -> Y-up world: OpenCV axes are turned upright (180 degrees about x), so a person
   facing the camera faces +Z. The up direction is then estimated from the body (the mean
   ankle-to-pelvis direction of frames with straight legs, which does not lean when the torso
   does) and, when the feet touch down at places spread over more than 30 cm, from a plane fitted
   through those contacts. The motion is turned so that direction is +Y (this removes the camera's
   pitch and roll; its yaw is kept, so "towards the camera" stays +Z).
2. Savitzky-Golay smoothing of joint rotations (as sign-continuous quaternions, renormalised)
   and of the translation, with the motion editor's `smooth_savgol`.
3. Foot skate: foot points (heels and toe tips) that are the lowest of their frame and stand
   still in the picture (with a static camera a planted foot does not move there; without the
   picture, slow and near the floor in 3D) are "in contact". The root's horizontal velocity is
   corrected by the contact-weighted velocity of those points, so planted feet stay put, and the
   height is corrected so contacts stand at one floor height. Then a small IK solve bends hips,
   knees and ankles so each planted point stays on its anchor (what the root alone cannot fix).
4. Feet on the floor: one vertical offset for the clip (a low percentile of the lowest foot point).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..motion.ground import CONTACT_SPEED, estimate_up_from_joints as estimate_up
from ..motion.motion import Motion
from ..rotations import aa_to_rotmat, rotation_between, rotmat_to_aa
from ..motion.skeleton import forward_kinematics_np

CAMERA_TO_Y_UP = np.diag([1.0, -1.0, -1.0])
FOOT_LANDMARKS = (29, 31, 30, 32)          # left heel, left toe, right heel, right toe
CONTACT_HEIGHT = 0.05                      # metres above the floor


# ---------------------------------------------------------------------------------------------------
# Geometry helpers
# ---------------------------------------------------------------------------------------------------
def rotate_about_origin(global_orient: np.ndarray, transl: np.ndarray, rot: np.ndarray, pelvis_rest: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Turn a whole motion by `rot` [3,3] about the world origin.

    SMPL-X turns the body about its rest pelvis J0, so transl' = R (J0 + transl) - J0.
    Args:
        global_orient: [T,3]; transl: [T,3]; pelvis_rest: [3].
    Returns:
        ([T,3] global_orient, [T,3] transl).
    """
    orient = rotmat_to_aa(rot[None] @ aa_to_rotmat(global_orient))
    tr = (transl.astype(np.float64) + pelvis_rest) @ rot.T - pelvis_rest
    return orient.astype(np.float32), tr.astype(np.float32)


def attached_points(global_orient: np.ndarray, body_pose: np.ndarray, transl: np.ndarray, rest_joints: np.ndarray,
                    points: np.ndarray, attach: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World positions of body joints and of rest points rigidly attached to them.

    Args:
        global_orient: [T,3]; body_pose: [T,21,3]; transl: [T,3]; rest_joints: [22,3];
        points: [K,3] rest points; attach: [K] joint index of each point.
    Returns:
        ([T,22,3] joints, [T,K,3] points).
    """
    local = aa_to_rotmat(np.concatenate([global_orient[:, None], body_pose], axis=1))
    parents = np.array([-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19])
    world, pos = forward_kinematics_np(local, rest_joints, parents)
    rel = points - rest_joints[attach]                               # [K,3]
    pts = pos[:, attach] + np.einsum("tkab,kb->tka", world[:, attach], rel)
    return pos + transl[:, None], pts + transl[:, None]


# ---------------------------------------------------------------------------------------------------
# 1. World frame
# ---------------------------------------------------------------------------------------------------
def to_world(global_orient: np.ndarray, body_pose: np.ndarray, transl: np.ndarray, rest_joints: np.ndarray,
             foot_points: np.ndarray, foot_attach: np.ndarray, fps: float
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Camera-frame motion -> Y-up world motion with the estimated floor level.

    Returns:
        ([T,3] global_orient, [T,3] transl, [3,3] rotation applied to camera-frame points).
    """
    g, tr = rotate_about_origin(global_orient, transl, CAMERA_TO_Y_UP, rest_joints[0])
    joints, feet = attached_points(g, body_pose, tr, rest_joints, foot_points, foot_attach)
    up = estimate_up(joints, feet, fps, rest_joints)
    level = rotation_between(up, np.array([0.0, 1.0, 0.0]))
    g, tr = rotate_about_origin(g, tr, level, rest_joints[0])
    return g, tr, level @ CAMERA_TO_Y_UP


# ---------------------------------------------------------------------------------------------------
# 2. Smoothing
# ---------------------------------------------------------------------------------------------------
def smooth(motion: Motion, seconds: float, order: int = 2) -> Motion:
    """Savitzky-Golay over a window of `seconds` (`core.motion.edit.smooth_savgol`: rotations as
    sign-continuous quaternions, and the translation)."""
    from ..motion.edit import smooth_savgol
    window = max(3, int(round(seconds * motion.fps)) | 1)
    return smooth_savgol(motion, window=window, order=min(order, window - 1))


# ---------------------------------------------------------------------------------------------------
# 3. Foot contacts and skate
# ---------------------------------------------------------------------------------------------------
def still_in_picture(feet_px: np.ndarray, feet_conf: np.ndarray, all_px: np.ndarray, fps: float,
                     speed: float = 0.4) -> np.ndarray:
    """[T,P] weights 0..1 that foot landmarks stand still around frame t.

    A foot that does not move in the picture (relative to the body's size there) is taken to be
    planted: with a static camera, it does not move in 3D either.
    Args:
        feet_px: [T,P,2] pixels; feet_conf: [T,P]; all_px: [T,K,2] all marker pixels (for the body
            size); speed: body heights per second below which a foot counts as still.
    """
    if feet_px.shape[0] < 2:
        return np.zeros(feet_px.shape[:2], np.float32)
    height = np.median(np.ptp(all_px[..., 1], axis=1))
    v = np.linalg.norm(np.gradient(feet_px, axis=0), axis=-1) * fps / max(height, 1.0)  # [T,P]
    w = np.clip(1.5 - v / speed, 0, 1) * np.clip(feet_conf / 0.5, 0, 1)
    return w.astype(np.float32)


def foot_contacts(feet: np.ndarray, fps: float, hint: np.ndarray | None = None) -> np.ndarray:
    """[T,P] contact weights 0..1 of Y-up foot points [T,P,3].

    A point is in contact when it is among the lowest of the frame (within 8 cm of the lowest
    foot point) and still: still in the picture if `hint` [T,P] (from `still_in_picture`) is
    given, else slow in 3D.
    """
    h = feet[..., 1]
    near_lowest = np.clip(1.5 - (h - h.min(axis=1, keepdims=True)) / 0.08 * 1.5 + 0.75, 0, 1)
    if hint is not None:
        return (near_lowest * hint).astype(np.float32)
    floor = float(np.percentile(h.min(axis=1), 5))
    vel = np.gradient(feet, axis=0) * fps if feet.shape[0] > 1 else np.zeros_like(feet)
    slow = np.clip(1.5 - np.linalg.norm(vel, axis=-1) / CONTACT_SPEED, 0, 1)
    low = np.clip(1.5 - (h - floor) / CONTACT_HEIGHT, 0, 1)
    return (near_lowest * slow * low).astype(np.float32)


def reduce_foot_skate(transl: np.ndarray, feet: np.ndarray, fps: float, strength: float = 1.0,
                      hint: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Adjust the root so planted feet do not slide and stand on one floor height.

    Horizontal: the root's velocity is reduced by the contact-weighted mean velocity of the
    foot points, then integrated (no jumps). Vertical: in contact frames the height is moved so
    the lowest contact sits at the clip's floor (the median height of contacts); in between, the
    correction is interpolated; then lightly smoothed.
    Args:
        transl: [T,3] Y-up root translation; feet: [T,P,3] foot points of the same motion;
        hint: [T,P] stillness in the picture (see `foot_contacts`).
    Returns:
        ([T,3] new transl, [T,P] contact weights).
    """
    t = transl.shape[0]
    contact = foot_contacts(feet, fps, hint)
    if t < 3 or strength <= 0:
        return transl.copy(), contact
    step = np.diff(feet[..., [0, 2]], axis=0)                          # [T-1,P,2]
    w = np.minimum(contact[1:], contact[:-1])                          # [T-1,P]
    total = w.sum(axis=1, keepdims=True)
    slide = (w[..., None] * step).sum(axis=1) / np.maximum(total, 1e-6)
    slide *= np.minimum(total, 1.0) * strength
    out = transl.astype(np.float64).copy()
    out[1:, [0, 2]] -= np.cumsum(slide, axis=0)
    h = feet[..., 1]
    lowest = np.where(contact > 0.5, h, np.inf).min(axis=1)
    have = np.isfinite(lowest)
    if have.sum() >= 2:
        frames = np.flatnonzero(have)
        floor = float(np.median(lowest[have]))
        corr = np.interp(np.arange(t), frames, (floor - lowest[have]) * strength)
        out[:, 1] += gaussian_filter1d(corr, sigma=max(1.0, 0.05 * fps), mode="nearest")
    return out.astype(np.float32), contact


LEG_JOINTS = (1, 2, 4, 5, 7, 8)            # hips, knees, ankles: what `pin_feet` may bend


def contact_anchors(feet: np.ndarray, contact: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each planted foot point should stay: the contact-weighted mean of its positions over
    each run of frames in contact (weight > 0.5).

    Args:
        feet: [T,P,3]; contact: [T,P].
    Returns:
        ([T,P,3] anchors, [T,P] weights, 0 outside contact runs).
    """
    anchors = feet.copy()
    weights = np.zeros_like(contact)
    for p in range(feet.shape[1]):
        on = contact[:, p] > 0.5
        edges = np.flatnonzero(np.diff(np.r_[0, on.astype(np.int8), 0]))
        for a, b in zip(edges[::2], edges[1::2]):
            w = contact[a:b, p]
            anchors[a:b, p] = (w[:, None] * feet[a:b, p]).sum(0) / w.sum()
            weights[a:b, p] = w
    return anchors, weights


def pin_feet(global_orient: np.ndarray, body_pose: np.ndarray, transl: np.ndarray, rest_joints: np.ndarray,
             foot_points: np.ndarray, foot_attach: np.ndarray, contact: np.ndarray, iterations: int = 40
             ) -> np.ndarray:
    """Bend the legs a little so planted foot points stay on their anchors (`contact_anchors`).

    A small batched least-squares solve (Adam) over the hip, knee and ankle rotations of all
    frames: pinned points onto their anchors (0.5 cm scale), changes kept small (0.15 rad scale)
    and smooth over time (0.05 rad/frame^2 scale).
    Args:
        global_orient: [T,3]; body_pose: [T,21,3]; transl: [T,3] (Y-up world); rest_joints: [22,3];
        foot_points: [P,3] rest points; foot_attach: [P]; contact: [T,P].
    Returns:
        [T,21,3] body pose.
    """
    import torch
    from ..skinning import batch_rodrigues, forward_kinematics
    feet = attached_points(global_orient, body_pose, transl, rest_joints, foot_points, foot_attach)[1]
    anchors, weights = contact_anchors(feet, contact)
    if weights.sum() < 1 or global_orient.shape[0] < 3:
        return body_pose.copy()
    parents = np.array([-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19])
    f32 = lambda a: torch.as_tensor(np.asarray(a, np.float32))  # noqa: E731
    aa = f32(np.concatenate([global_orient[:, None], body_pose], axis=1))
    legs = torch.as_tensor(LEG_JOINTS)
    joints, pts_rest, attach = f32(rest_joints), f32(foot_points), torch.as_tensor(np.asarray(foot_attach))
    tr, target, w = f32(transl), f32(anchors), f32(weights)
    delta = torch.zeros(aa.shape[0], len(LEG_JOINTS), 3, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=0.015)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(iterations):
            opt.zero_grad(set_to_none=True)
            full = aa.clone()
            full[:, legs] = full[:, legs] + delta
            _, rel = forward_kinematics(batch_rodrigues(full), joints, parents)
            a = rel[:, attach]
            pts = (a[..., :3, :3] @ pts_rest[None, :, :, None])[..., 0] + a[..., :3, 3] + tr[:, None]
            loss = (w * (pts - target).pow(2).sum(-1)).sum() / 0.005 ** 2 + (delta / 0.15).pow(2).sum()
            loss = loss + ((delta[2:] - 2 * delta[1:-1] + delta[:-2]) / 0.05).pow(2).sum()
            loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    out = body_pose.astype(np.float32).copy()
    out[:, [j - 1 for j in LEG_JOINTS]] += delta.detach().numpy()
    return out


def floor_offset(feet: np.ndarray) -> float:
    """Height to subtract so the feet stand on y = 0: a low percentile of each frame's lowest foot point."""
    lowest = feet[..., 1].min(axis=1)
    return float(np.percentile(lowest, 5)) if lowest.size > 3 else float(lowest.min())


def foot_slide(feet: np.ndarray, fps: float, height: float = 0.03) -> float:
    """Mean horizontal speed (m/s) of foot points while they are within `height` of the floor.

    Args:
        feet: [T,P,3] Y-up foot points with the floor at y = 0 (e.g. after `floor_offset`).
    """
    if feet.shape[0] < 2:
        return 0.0
    low = (feet[1:, :, 1] < height) & (feet[:-1, :, 1] < height)
    step = np.linalg.norm(np.diff(feet[..., [0, 2]], axis=0), axis=-1) * fps
    return float(step[low].mean()) if low.any() else 0.0


def make_motion(global_orient: np.ndarray, body_pose: np.ndarray, transl: np.ndarray, fps: float, *,
                frame: str = "world", name: str = "video motion") -> Motion:
    """A `Motion` with rest hands/face, betas 0, flat hands, Y up."""
    t = global_orient.shape[0]
    zeros3 = np.zeros((t, 3), np.float32)
    hands = np.zeros((t, 15, 3), np.float32)
    return Motion(global_orient=global_orient, body_pose=body_pose, jaw=zeros3, leye=zeros3, reye=zeros3,
                  lhand=hands, rhand=hands.copy(), transl=transl, fps=fps, flat_hand_mean=True, up_axis="y",
                  frame=frame, name=name)


# ---------------------------------------------------------------------------------------------------
# All steps
# ---------------------------------------------------------------------------------------------------
@dataclass
class CleanupSettings:
    """`smooth_seconds`: Savitzky-Golay window (0 = off); `foot_skate`: 0..1 strength of the
    root's contact correction; `pin_feet`: also bend the legs to keep planted feet in place;
    `centre`: put the first frame's pelvis above the origin."""

    smooth_seconds: float = 0.2
    foot_skate: float = 1.0
    pin_feet: bool = True
    centre: bool = True


@dataclass
class CleanedMotion:
    """The clean-up's output.

    Attributes:
        motion: Y-up world `Motion`, feet on y = 0.
        rotation: [3,3] rotation taking camera-frame vectors into this world.
        contacts: [T,4] contact weights of (left heel, left toe, right heel, right toe).
        foot_slide: mean horizontal speed (m/s) of foot points near the floor, after clean-up.
    """

    motion: Motion
    rotation: np.ndarray
    contacts: np.ndarray
    foot_slide: float


def clean_motion(global_orient: np.ndarray, body_pose: np.ndarray, transl: np.ndarray, fps: float,
                 rest_joints: np.ndarray, foot_points: np.ndarray, foot_attach: np.ndarray,
                 settings: CleanupSettings | None = None, name: str = "video motion",
                 still: np.ndarray | None = None) -> CleanedMotion:
    """Camera-frame fit -> clean Y-up world motion (the module's steps 1-4).

    Args:
        global_orient: [T,3] camera frame; body_pose: [T,21,3]; transl: [T,3] camera frame;
        rest_joints: [22,3]; foot_points: [4,3] rest points of (left heel, left toe, right heel,
        right toe); foot_attach: [4] their joints; still: [T,4] how still those points stand in
        the picture (`still_in_picture`): the best contact cue with a static camera.
    """
    s = settings or CleanupSettings()
    g, tr, rot = to_world(global_orient, body_pose, transl, rest_joints, foot_points, foot_attach, fps)
    pose = body_pose.astype(np.float32)
    if s.smooth_seconds > 0:
        smoothed = smooth(make_motion(g, pose, tr, fps), s.smooth_seconds)
        g, pose, tr = smoothed.global_orient, smoothed.body_pose, smoothed.transl
    feet = attached_points(g, pose, tr, rest_joints, foot_points, foot_attach)[1]
    contacts = foot_contacts(feet, fps, still)
    if s.foot_skate > 0:
        tr, contacts = reduce_foot_skate(tr, feet, fps, s.foot_skate, still)
        if s.pin_feet:
            pose = pin_feet(g, pose, tr, rest_joints, foot_points, foot_attach, contacts)
        feet = attached_points(g, pose, tr, rest_joints, foot_points, foot_attach)[1]
    shift = np.array([0.0, -floor_offset(feet), 0.0])
    if s.centre:
        shift[[0, 2]] = -(rest_joints[0] + tr[0])[[0, 2]]
    tr = (tr + shift).astype(np.float32)
    feet = feet + shift
    motion = make_motion(g, pose, tr, fps, name=name)
    return CleanedMotion(motion, rot, contacts, foot_slide(feet, fps))
