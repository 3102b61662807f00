"""Motion export: AMASS-style npz and BVH (the SMPL-X skeleton, or any skeleton driven by SMPL-X joints).

The LHM `smplx_params` folder writer lives in `lhm_json.py`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..rotations import aa_to_rotmat
from .amass import write_amass
from .bvh import POSITION_CHANNELS, BvhClip, BvhSkeleton, clip_from_motion, write_bvh
from .conventions import Z_UP_TO_Y_UP, rest_joints_of, to_flat_hands, to_world
from .motion import Motion
from .retarget import hip_height
from .skeleton import PARENTS, SMPLX_JOINT_NAMES, forward_kinematics_np, global_rotations

_ROTATION_NAMES = {"X": "Xrotation", "Y": "Yrotation", "Z": "Zrotation"}


@dataclass
class BvhExportSkeleton:
    """How to write SMPL-X motion onto a BVH skeleton.

    Each BVH joint k is placed at the rest position of SMPL-X joint `anchors[k]` and turns with
    the world rotation of SMPL-X joint `drivers[k]`. The BVH rest pose is SMPL-X posed by
    `rest_pose` (e.g. arms down for an A-pose); `bone_scale` stretches each offset.

    Attributes:
        names, parents: [K] BVH joint names and parent indices (root first, parents first);
        drivers, anchors: [K] SMPL-X joint indices; root must anchor at the pelvis (0);
        rest_pose: [55,3] axis-angle local rotations of the BVH rest pose (zeros: SMPL-X rest);
        bone_scale: [K] multipliers of each joint's offset (ones: SMPL-X proportions);
        order: rotation channel order, one for all joints or one per joint, e.g. "ZXY";
        units: file units per metre (1 for metres, 100 for centimetres);
        up_axis: "y" or "z", the BVH world's up axis.
    """

    names: list[str]
    parents: list[int]
    drivers: list[int]
    anchors: list[int]
    rest_pose: np.ndarray = field(default_factory=lambda: np.zeros((55, 3)))
    bone_scale: np.ndarray | None = None
    order: str | list[str] = "ZXY"
    units: float = 1.0
    up_axis: str = "y"

    def orders(self) -> list[str]:
        return [self.order] * len(self.names) if isinstance(self.order, str) else list(self.order)


def smplx_export_skeleton(joints: list[int] | None = None, order: str = "ZXY", units: float = 1.0) -> BvhExportSkeleton:
    """The SMPL-X skeleton itself (all 55 joints, or a parent-closed subset), identity rest frames."""
    joints = list(range(55)) if joints is None else sorted(joints)
    pos = {j: k for k, j in enumerate(joints)}
    parents = []
    for j in joints:
        p = int(PARENTS[j])
        if p >= 0 and p not in pos:
            raise InputError(f"Joint {SMPLX_JOINT_NAMES[j]} is exported without its parent {SMPLX_JOINT_NAMES[p]}.")
        parents.append(pos[p] if p >= 0 else -1)
    return BvhExportSkeleton([SMPLX_JOINT_NAMES[j] for j in joints], parents, joints, joints, order=order, units=units)


_Y_TO_Z_UP = Z_UP_TO_Y_UP.T


def motion_to_bvh(motion: Motion, body=None, spec: BvhExportSkeleton | None = None) -> BvhClip:
    """A BVH clip of `motion` on `spec` (default: the SMPL-X skeleton in metres, Y up).

    The motion is first brought to a world frame with flat hands. `body`: see `rest_joints_of`.
    """
    spec = spec or smplx_export_skeleton()
    if spec.anchors[0] != 0 or spec.parents[0] != -1:
        raise InputError("A BVH export skeleton must have its root at the SMPL-X pelvis.")
    if spec.up_axis not in ("y", "z"):
        raise InputError(f"BVH up axis must be 'y' or 'z', got {spec.up_axis!r}.")
    if isinstance(body, np.ndarray) and not motion.flat_hand_mean:
        raise InputError("Exporting hands relative to the mean hand needs a body model.")
    world = to_world(motion, body, "y")
    if not world.flat_hand_mean:
        world = to_flat_hands(world, body)
    rest = rest_joints_of(body, world.betas)
    k = len(spec.names)
    scale = np.ones(k) if spec.bone_scale is None else np.asarray(spec.bone_scale, np.float64)
    rest_rot, rest_pos = forward_kinematics_np(aa_to_rotmat(np.asarray(spec.rest_pose, np.float64))[None], rest)
    rest_rot, rest_pos = rest_rot[0], rest_pos[0]
    anchors = np.asarray(spec.anchors)
    drivers = np.asarray(spec.drivers)
    parents = np.asarray(spec.parents)
    placed = rest_pos[anchors]                                               # [K,3] metres, Y up
    offsets = np.array([placed[j] - placed[p] if p >= 0 else placed[j] for j, p in enumerate(parents)]) * scale[:, None]
    bvh_rest = np.zeros_like(offsets)
    for j, p in enumerate(parents):
        bvh_rest[j] = offsets[j] + (bvh_rest[p] if p >= 0 else 0)
    world_rot = global_rotations(aa_to_rotmat(world.full_pose()))             # [T,55,3,3]
    bvh_world = world_rot[:, drivers] @ np.swapaxes(rest_rot[drivers], -1, -2)  # rest frames -> identity
    local = np.empty_like(bvh_world)
    for j, p in enumerate(parents):
        local[:, j] = bvh_world[:, j] if p < 0 else np.swapaxes(bvh_world[:, p], -1, -2) @ bvh_world[:, j]
    feet = [i for i, a in enumerate(anchors) if a in (7, 8)]
    h_bvh = hip_height(bvh_rest, 0, feet, np.array([0.0, 1.0, 0.0]))
    h_smplx = hip_height(rest, 0, [7, 8], np.array([0.0, 1.0, 0.0]))
    root_scale = h_bvh / h_smplx if feet and h_smplx > 1e-9 and h_bvh > 1e-9 else float(scale[0])
    root_path = root_scale * (rest[0] + world.transl.astype(np.float64))      # [T,3]
    axis = _Y_TO_Z_UP if spec.up_axis == "z" else np.eye(3)
    local = axis @ local @ axis.T
    translations = np.zeros(local.shape[:2] + (3,))
    translations[:, 0] = root_path @ axis.T * spec.units
    offsets = offsets @ axis.T * spec.units
    orders = spec.orders()
    channels = [(POSITION_CHANNELS if p < 0 else ()) + tuple(_ROTATION_NAMES[a] for a in orders[j])
                for j, p in enumerate(parents)]
    end_sites = {}
    for j in range(k):
        if not np.any(parents == j):
            tip = offsets[j] * 0.5 if np.linalg.norm(offsets[j]) > 1e-9 else axis @ np.array([0.0, 0.05, 0.0]) * spec.units
            end_sites[j] = tip
    skeleton = BvhSkeleton(list(spec.names), parents, offsets, channels, end_sites)
    return clip_from_motion(skeleton, local, translations, 1.0 / world.fps, name=motion.name)


def save_bvh(motion: Motion, path: str | Path, body=None, spec: BvhExportSkeleton | None = None) -> Path:
    """Write `motion` as BVH (default: SMPL-X skeleton, metres, Y up, so Blender imports it at scale 1)."""
    return write_bvh(path, motion_to_bvh(motion, body, spec))


def save_amass(motion: Motion, path: str | Path, body=None) -> Path:
    """Write an AMASS-style SMPL-X npz: Z-up world, flat hands, `poses` [T,165], `trans`, `betas`."""
    out = to_world(motion, body, "z")
    if not out.flat_hand_mean:
        out = to_flat_hands(out, body)
    return write_amass(out, path)
