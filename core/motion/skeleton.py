"""SMPL-X left/right pairs, foot joints and numpy forward kinematics (the names and parents live in
core/body/joints.py)."""
from __future__ import annotations

import numpy as np

from ..body.joints import JOINT_INDEX, NUM_BODY_JOINTS, SMPLX_JOINT_NAMES  # noqa: F401 - re-exported for motion code
from ..body.joints import SMPLX_PARENTS as PARENTS
from ..rotations import aa_to_rotmat

LEFT_ANKLE, RIGHT_ANKLE, LEFT_FOOT, RIGHT_FOOT = 7, 8, 10, 11
FOOT_JOINTS = (LEFT_ANKLE, RIGHT_ANKLE, LEFT_FOOT, RIGHT_FOOT)


def _mirror_permutation() -> np.ndarray:
    perm = np.arange(len(SMPLX_JOINT_NAMES))
    for i, name in enumerate(SMPLX_JOINT_NAMES):
        for a, b in (("left_", "right_"), ("right_", "left_")):
            if name.startswith(a):
                perm[i] = JOINT_INDEX[b + name[len(a):]]
    return perm


MIRROR_PERMUTATION = _mirror_permutation()  # [55] index of each joint's left/right twin (itself if central)


def resolve_joint(joint: int | str) -> int:
    """SMPL-X joint index from an index or a name (e.g. 'left_elbow')."""
    if isinstance(joint, (int, np.integer)):
        if not 0 <= int(joint) < len(SMPLX_JOINT_NAMES):
            raise ValueError(f"joint index {joint} is outside 0..54")
        return int(joint)
    key = str(joint).strip().lower()
    if key not in JOINT_INDEX:
        raise ValueError(f"unknown SMPL-X joint '{joint}'")
    return JOINT_INDEX[key]


def global_rotations(local: np.ndarray, parents: np.ndarray = PARENTS) -> np.ndarray:
    """[T,J,3,3] local rotations -> [T,J,3,3] world rotations (parents precede children)."""
    out = np.empty_like(local)
    for j, p in enumerate(parents):
        out[:, j] = local[:, j] if p < 0 else out[:, p] @ local[:, j]
    return out


def local_from_global(world: np.ndarray, parents: np.ndarray = PARENTS) -> np.ndarray:
    """[T,J,3,3] world rotations -> [T,J,3,3] rotations relative to each parent."""
    out = np.empty_like(world)
    for j, p in enumerate(parents):
        out[:, j] = world[:, j] if p < 0 else np.swapaxes(world[:, p], -1, -2) @ world[:, j]
    return out


def forward_kinematics_np(local: np.ndarray, rest_joints: np.ndarray, parents: np.ndarray = PARENTS
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Pose a skeleton whose rest frames are the identity (SMPL-X convention).

    Args:
        local: [T,J,3,3] local rotations; rest_joints: [J,3] rest positions.
    Returns:
        ([T,J,3,3] world rotations, [T,J,3] joint positions, root at its rest position).
    """
    world = global_rotations(local, parents)
    pos = np.empty(local.shape[:2] + (3,))
    for j, p in enumerate(parents):
        if p < 0:
            pos[:, j] = rest_joints[j]
        else:
            pos[:, j] = pos[:, p] + world[:, p] @ (rest_joints[j] - rest_joints[p])
    return world, pos


def posed_joints(full_pose: np.ndarray, transl: np.ndarray, rest_joints: np.ndarray) -> np.ndarray:
    """World joint positions [T,55,3] from [T,55,3] axis-angle, [T,3] transl and [55,3] rest joints."""
    _, pos = forward_kinematics_np(aa_to_rotmat(full_pose), np.asarray(rest_joints, np.float64))
    return pos + np.asarray(transl, np.float64)[:, None, :]
