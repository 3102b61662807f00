"""Where the floor is: foot sole points over time, floor estimation and feet-on-floor alignment."""
from __future__ import annotations

import numpy as np

from ..rotations import rotation_between
from .conventions import frame_rotation, rest_joints_of, rotate_motion, to_world_y_up
from .motion import Motion
from .skeleton import FOOT_JOINTS, posed_joints

MAX_FRAMES = 400        # frames sampled when estimating the floor
MAX_SOLE_POINTS = 300   # foot vertices used per frame
CONTACT_SPEED = 0.5     # metres per second: a foot point slower than this is on the floor


def _frame_stride(num_frames: int) -> int:
    return max(1, int(np.ceil(num_frames / MAX_FRAMES)))


def foot_points(motion: Motion, body=None) -> np.ndarray:
    """[T',P,3] points on the feet in the motion's own frame, for every `_frame_stride`-th frame.

    With a `BodyModel`: skinned vertices that belong mostly to the ankle and foot joints (the
    soles). With only rest joints ([55,3] array): the ankle and foot joints.
    """
    step = _frame_stride(motion.num_frames)
    sub = motion.frames(slice(None, None, step))
    if body is None or isinstance(body, np.ndarray):
        joints = posed_joints(sub.full_pose(), sub.transl, rest_joints_of(body, motion.betas))
        return joints[:, list(FOOT_JOINTS)]
    owner = np.argmax(body.weights, axis=1)
    idx = np.flatnonzero(np.isin(owner, FOOT_JOINTS))
    if idx.size == 0:
        joints = posed_joints(sub.full_pose(), sub.transl, rest_joints_of(body, motion.betas))
        return joints[:, list(FOOT_JOINTS)]
    import torch
    idx = idx[:: max(1, idx.size // MAX_SOLE_POINTS)]
    verts = torch.from_numpy(body.shaped(motion.betas)[0][idx].astype(np.float32))
    _, rel = body.joint_transforms(sub.full_pose(), motion.betas)           # [T',55,4,4]
    w = torch.from_numpy(body.weights[idx])                                  # [P,55]
    m = torch.einsum("pj,tjab->tpab", w, rel[:, :, :3, :])
    pts = (m[..., :3] @ verts[None, :, :, None])[..., 0] + m[..., 3]
    return pts.numpy().astype(np.float64) + sub.transl[:, None, :].astype(np.float64)


def floor_height(motion: Motion, body=None, up: np.ndarray | None = None) -> float:
    """Height of the floor along `up` [3] (default +Y): a low percentile of each frame's lowest foot point."""
    up = np.array([0.0, 1.0, 0.0]) if up is None else np.asarray(up, np.float64)
    lowest = (foot_points(motion, body) @ up).min(axis=1)                    # [T']
    return float(np.percentile(lowest, 5)) if lowest.size > 3 else float(lowest.min())


def estimate_up_from_joints(joints: np.ndarray, feet: np.ndarray, fps: float, rest_joints: np.ndarray) -> np.ndarray:
    """[3] unit up direction from [T,22,3] joints and [T,4,3] foot points (any frame).

    First guess: the direction from the ankles' middle to the pelvis in frames whose legs are
    straight, tipped back by the angle that direction has in the rest pose (SMPL-X ankles sit a
    little behind the pelvis). Then the floor contacts (each frame's lowest foot point, when slow)
    refine it: contacts spread over more than 30 cm in two directions give a plane whose normal is
    used (if within 30 degrees of the guess); contacts along a line (walking straight) only tell
    that up is perpendicular to that line, so the guess is made so.
    """
    hip_knee = np.linalg.norm(joints[:, [1, 2]] - joints[:, [4, 5]], axis=-1)
    knee_ankle = np.linalg.norm(joints[:, [4, 5]] - joints[:, [7, 8]], axis=-1)
    hip_ankle = np.linalg.norm(joints[:, [1, 2]] - joints[:, [7, 8]], axis=-1)
    straight = np.clip((hip_ankle / (hip_knee + knee_ankle) - 0.9) / 0.1, 0, 1).min(axis=1)  # [T]
    legs = joints[:, 0] - 0.5 * (joints[:, 7] + joints[:, 8])
    legs /= np.maximum(np.linalg.norm(legs, axis=-1, keepdims=True), 1e-9)
    rest_legs = rest_joints[0] - 0.5 * (rest_joints[7] + rest_joints[8])
    tilt = np.arctan2(rest_legs[2], rest_legs[1])                     # forward lean at rest
    forward = np.cross(joints[:, 1] - joints[:, 2], legs)
    forward /= np.maximum(np.linalg.norm(forward, axis=-1, keepdims=True), 1e-9)
    ups = np.cos(tilt) * legs - np.sin(tilt) * forward
    w = straight ** 2 + 1e-3
    guess = (ups * w[:, None]).sum(0)
    guess /= max(np.linalg.norm(guess), 1e-9)
    heights = feet @ guess                                             # [T,4]
    contact = feet[np.arange(len(feet)), np.argmin(heights, axis=1)]   # [T,3]
    speed = np.r_[np.inf, np.linalg.norm(np.diff(contact, axis=0), axis=-1) * fps]
    pts = contact[speed < CONTACT_SPEED]
    if pts.shape[0] < 8:
        return guess
    centred = pts - pts.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    if s[0] / np.sqrt(len(pts)) < 0.1:                                 # contacts within ~30 cm
        return guess
    if s[1] > 0.3 * s[0]:
        normal = vt[-1] * (1.0 if vt[-1] @ guess >= 0 else -1.0)
        if normal @ guess > np.cos(np.radians(30)):
            return normal
        return guess
    line = vt[0]
    if abs(line @ guess) > np.sin(np.radians(30)):                     # not a walk on the level
        return guess
    up = guess - (guess @ line) * line
    return up / np.linalg.norm(up)


def estimate_up(motion: Motion, body=None) -> np.ndarray:
    """[3] unit up direction in the motion's own frame, fitted to the feet rather than the body's lean.

    `estimate_up_from_joints` (the motion-capture clean-up uses it too): the ankles-to-pelvis direction of frames with
    straight legs, then the floor contacts (each sampled frame's lowest, slow foot point): spread in
    two directions they give the floor's normal; along a line (a straight walk) up is made
    perpendicular to that line, so a walker's forward lean no longer tilts the floor.
    """
    rest = rest_joints_of(body, motion.betas)
    step = _frame_stride(motion.num_frames)
    sub = motion.frames(slice(None, None, step))
    joints = posed_joints(sub.full_pose(), sub.transl, rest)[:, :22]
    return estimate_up_from_joints(joints, foot_points(motion, body), motion.fps / step, rest[:22])


def level_to_ground(motion: Motion, body=None, *, centre: bool = True) -> Motion:
    """Turn the motion so the estimated floor is level and put the feet on y = 0.

    Works from any frame (camera frames that are not gravity-aligned included); the result is a
    Y-up world motion. `centre` moves the first frame's pelvis above the origin.
    """
    up = estimate_up(motion, body)
    base = frame_rotation(motion)
    rot = rotation_between(base @ up, np.array([0.0, 1.0, 0.0])) @ base
    j0 = rest_joints_of(body, motion.betas)[0]
    levelled = rotate_motion(motion, rot, j0, frame="world", up_axis="y")
    return feet_on_floor(levelled, body, centre=centre)


def feet_on_floor(motion: Motion, body=None, *, centre: bool = False) -> Motion:
    """Shift a motion vertically (one offset for the clip) so its feet touch y = 0 in the Y-up world.

    Motions in another frame are first converted with `to_world_y_up`. With `centre`, the first
    frame's pelvis is also moved above the origin.
    """
    world = to_world_y_up(motion, body)
    shift = np.array([0.0, -floor_height(world, body), 0.0])
    if centre:
        pelvis0 = rest_joints_of(body, world.betas)[0] + world.transl[0]
        shift[[0, 2]] = -pelvis0[[0, 2]]
    return world.replace(transl=(world.transl + shift).astype(np.float32))



def needs_floor(motion: Motion) -> bool:
    """True for sources whose height means nothing in a world: camera frames (LHM, GVHMR in-camera,
    Human3R per-camera) and Motion-X (its `trans` is not floor-referenced)."""
    return motion.frame == "camera" or motion.meta.get("source") == "motionx"


def playable(motion: Motion, body=None) -> Motion:
    """What the renderer plays: Y-up world, flat hands, and camera-frame sources on the floor."""
    from .conventions import normalize
    out = normalize(motion, body)
    return feet_on_floor(out, body) if needs_floor(motion) else out


def avatar_sole_height(motion: Motion, avatar, body, max_frames: int = 40) -> float:
    """Height (motion space, Y-up) of an avatar's lowest points over a clip: per sampled frame the 0.25th
    percentile of the posed Gaussian centres' y (as the viewport's floor ignores floaters), then the 5th
    percentile over frames (a jump does not lift the floor). motion: Y-up world, T frames; avatar: rigged."""
    step = max(1, int(np.ceil(motion.num_frames / max_frames)))
    sub = motion.frames(slice(None, None, step))
    lows = []
    for start in range(0, sub.num_frames, 8):  # small batches keep the [B,N,3] posed means small
        part = sub.frames(slice(start, start + 8))
        lows += [float(np.percentile(g.means[:, 1], 0.25))
                 for g in avatar.posed_batch(body, part.full_pose(), part.transl)]
    lows_arr = np.asarray(lows)
    return float(np.percentile(lows_arr, 5)) if lows_arr.size > 3 else float(lows_arr.min())


def avatar_feet_on_floor(motion: Motion, avatar, body, floor_y: float = 0.0) -> Motion:
    """Shift a clip vertically (one offset) so this avatar's lowest points touch y = `floor_y` (motion space,
    Y-up; other frames are converted first). Unlike `feet_on_floor` (the body model's soles at y = 0) this
    measures the avatar itself, so a clip already standing on the viewport's floor stays where it is."""
    world = motion if (motion.frame == "world" and motion.up_axis == "y") else to_world_y_up(motion, body)
    dy = floor_y - avatar_sole_height(world, avatar, body)
    return world.replace(transl=(world.transl + np.array([0.0, dy, 0.0])).astype(np.float32))
