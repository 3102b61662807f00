"""Coordinate and hand-pose conventions: bring any `Motion` into the renderer's frame.

Frames a `Motion` can be in:
  * world, up_axis "y": the renderer's frame (SMPL-X canonical axes: +Y up, body faces +Z).
  * world, up_axis "z": AMASS (+Z up).
  * camera: OpenCV camera axes (+X right, +Y down, +Z forward): LHM JSON, Human3R, GVHMR in-camera.

Rotating a whole motion by R about the world origin is not just `R @ global_orient`: SMPL-X
rotates the body about the pelvis rest joint J0, so the translation becomes
    transl' = R (J0 + transl) - J0          (J0 at the motion's betas).
"""
from __future__ import annotations


import numpy as np

from ..errors import InputError
from ..rotations import aa_to_rotmat, rotmat_to_aa
from .motion import Motion

# Rotations taking vectors of a source frame into the Y-up world.
Z_UP_TO_Y_UP = np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])   # Rx(-90°): +Z -> +Y
CAMERA_TO_Y_UP = np.diag([1.0, -1.0, -1.0])                     # Rx(180°): OpenCV -> Y up, facing +Z


def rest_joints_of(body, betas: np.ndarray | None = None) -> np.ndarray:
    """[55,3] rest joints at `betas`.

    `body` is a `BodyModel`, a [55,3] array of rest joints (used as is), or None for the default
    body model (environment variable or embedded stand-in).
    """
    if body is None:
        from ..body.model import default_body_model
        body = default_body_model()
    if isinstance(body, np.ndarray):
        if body.shape != (55, 3):
            raise InputError(f"Rest joints must have shape (55, 3), got {body.shape}.")
        return body.astype(np.float64)
    return np.asarray(body.rest_joints(betas), np.float64)


def frame_rotation(motion: Motion) -> np.ndarray:
    """[3,3] rotation taking the motion's frame into the Y-up world."""
    if motion.frame == "camera":
        return CAMERA_TO_Y_UP.copy()
    if motion.up_axis == "z":
        return Z_UP_TO_Y_UP.copy()
    return np.eye(3)


def rotate_motion(motion: Motion, rotation: np.ndarray, pelvis_rest: np.ndarray,
                  offset: np.ndarray | None = None, **changes) -> Motion:
    """Rotate the whole motion by `rotation` [3,3] about the world origin, then add `offset` [3].

    `pelvis_rest` [3] is J0 at the motion's betas; `changes` are other `Motion` fields to set.
    """
    rot = np.asarray(rotation, np.float64)
    j0 = np.asarray(pelvis_rest, np.float64)
    orient = rot[None] @ aa_to_rotmat(motion.global_orient)
    transl = (motion.transl.astype(np.float64) + j0) @ rot.T - j0
    if offset is not None:
        transl = transl + np.asarray(offset, np.float64)
    return motion.replace(global_orient=rotmat_to_aa(orient).astype(np.float32),
                          transl=transl.astype(np.float32), **changes)


def to_world(motion: Motion, body=None, up_axis: str = "y") -> Motion:
    """The same motion expressed in a world frame with `up_axis` ("y" or "z") up.

    Camera-frame motions (OpenCV axes) are turned upright by a 180° turn about X, so a person
    facing the camera faces +Z. `body`: see `rest_joints_of`.
    """
    if up_axis not in ("y", "z"):
        raise InputError(f"Up axis must be 'y' or 'z', got {up_axis!r}.")
    rot = frame_rotation(motion)
    if up_axis == "z":
        rot = Z_UP_TO_Y_UP.T @ rot
    if motion.frame == "world" and motion.up_axis == up_axis:
        return motion
    j0 = rest_joints_of(body, motion.betas)[0]
    return rotate_motion(motion, rot, j0, frame="world", up_axis=up_axis)


def to_world_y_up(motion: Motion, body=None) -> Motion:
    """The motion in the renderer's Y-up world (see `to_world`)."""
    return to_world(motion, body, "y")


def hand_means(body=None) -> np.ndarray:
    """[2,15,3] SMPL-X mean hand poses (left, right) of the body model."""
    if body is None:
        from ..body.model import default_body_model
        body = default_body_model()
    if isinstance(body, np.ndarray):
        raise InputError("Converting hand poses needs a body model, not only its joints.")
    return np.asarray(body.hand_mean, np.float32).reshape(2, 15, 3)


def to_flat_hands(motion: Motion, body=None) -> Motion:
    """The motion with hand poses relative to the flat hand (`flat_hand_mean=True`).

    smplx adds the mean hand pose to the axis-angle hand pose when `flat_hand_mean` is False, so
    the flat-hand equivalent is `hand + mean`.
    """
    if motion.flat_hand_mean:
        return motion
    means = hand_means(body)
    return motion.replace(lhand=motion.lhand + means[0], rhand=motion.rhand + means[1], flat_hand_mean=True)


def to_mean_hands(motion: Motion, body=None) -> Motion:
    """The inverse of `to_flat_hands`: hand poses relative to the model's mean hand."""
    if not motion.flat_hand_mean:
        return motion
    means = hand_means(body)
    return motion.replace(lhand=motion.lhand - means[0], rhand=motion.rhand - means[1], flat_hand_mean=False)


def normalize(motion: Motion, body=None) -> Motion:
    """What the renderer plays: Y-up world, flat hands."""
    return to_flat_hands(to_world_y_up(motion, body), body)


def body_up_direction(global_orient: np.ndarray) -> np.ndarray:
    """[3] mean direction of the body's own +Y axis over [T,3] root rotations (unit)."""
    up = aa_to_rotmat(global_orient)[:, :, 1].mean(axis=0)
    return up / max(float(np.linalg.norm(up)), 1e-9)


def infer_up_axis(global_orient: np.ndarray) -> str:
    """Which signed world axis the body mostly stands along: '+y', '-y', '+z', '-z', '+x' or '-x'."""
    up = body_up_direction(global_orient)
    k = int(np.argmax(np.abs(up)))
    return ("+" if up[k] >= 0 else "-") + "xyz"[k]
