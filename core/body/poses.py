"""Named SMPL-X poses used across back-ends."""
from __future__ import annotations

import numpy as np


def big_pose() -> np.ndarray:
    """LHM's canonical "big pose" [55,3]: legs apart, left hip (0,0,+pi/9), right hip (0,0,-pi/9) (SPECS §3.3)."""
    pose = np.zeros((55, 3), np.float32)
    pose[1] = (0.0, 0.0, np.pi / 9)
    pose[2] = (0.0, 0.0, -np.pi / 9)
    return pose


def a_pose(arm_down_deg: float = 45.0) -> np.ndarray:
    """[55,3] arms lowered by `arm_down_deg` from the T-pose (left arm is +X, rotated about -Z)."""
    pose = np.zeros((55, 3), np.float32)
    a = np.radians(arm_down_deg)
    pose[16] = (0.0, 0.0, -a)
    pose[17] = (0.0, 0.0, a)
    return pose
