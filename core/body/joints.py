"""The SMPL-X skeleton: joint names and parents in SMPL-X order (SPECS §1.1). Their one home; the body
model, skinning, motion, export and the app take them from here."""
from __future__ import annotations

import numpy as np

_FINGERS = ("index", "middle", "pinky", "ring", "thumb")  # SMPL-X order of the finger chains
_HAND = tuple(f"{finger}{i}" for finger in _FINGERS for i in (1, 2, 3))

SMPLX_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "jaw", "left_eye_smplhf", "right_eye_smplhf",
    *(f"left_{n}" for n in _HAND), *(f"right_{n}" for n in _HAND))
# [55] parent of each joint (-1 for the pelvis); parents precede their children.
SMPLX_PARENTS = np.array([-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 15, 15, 15,
                          20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35, 20, 37, 38,
                          21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50, 21, 52, 53], np.int64)
JOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(SMPLX_JOINT_NAMES)}
NUM_JOINTS = 55
NUM_BODY_JOINTS = 22  # pelvis + 21 body joints
assert len(SMPLX_JOINT_NAMES) == NUM_JOINTS == len(SMPLX_PARENTS)
