"""2D body keypoints for the fit: from mediapipe when the optional extra is installed, else none
(the fit then works from the silhouette alone and reports its own projected joints)."""
from __future__ import annotations

import numpy as np

from . import mp_backend
from .fit import BODY_JOINTS

# Detections at joints whose landmark sits off the SMPL-X joint centre get less trust.
JOINT_TRUST = np.ones(BODY_JOINTS, np.float32)
JOINT_TRUST[[1, 2]] = 0.5    # mediapipe hips lie outside SMPL-X's hip joints
JOINT_TRUST[[10, 11]] = 0.3  # foot index vs foot joint
JOINT_TRUST[15] = 0.5        # ears' midpoint vs head joint


def detect_keypoints(image: np.ndarray, method: str = "auto", min_conf: float = 0.5) -> tuple[np.ndarray | None, str]:
    """[H,W,3|4] uint8 -> ([22,3] (u, v, confidence) in input pixels or None, note).

    Rows are SMPL-X joints 0..21; undetected joints have confidence 0.
    """
    kp, _, note = detect_landmarks(image, method, min_conf)
    return kp, note


def detect_landmarks(image: np.ndarray, method: str = "auto", min_conf: float = 0.5
                     ) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    """[H,W,3|4] uint8 -> (keypoints, world, note).

    keypoints: [22,3] (u, v, confidence) in input pixels or None, as `detect_keypoints`.
    world: [22,4] (x, y, z, confidence) 3D landmarks in metres, hip-centred, camera axes (x right,
    y down, z away from the camera), confidence 0 where not detected; None when there are none
    (no detector, or no keypoints).
    """
    if method == "none" or (method == "auto" and not mp_backend.available()):
        return None, None, "no keypoint detector; fitted to the silhouette only"
    if method == "mediapipe" and not mp_backend.available():
        return None, None, "mediapipe is not installed; fitted to the silhouette only"
    found = mp_backend.landmarks(image)
    if found is None:
        return None, None, "mediapipe found no body landmarks; fitted to the silhouette only"
    pixels, world_found = found
    kp = np.zeros((BODY_JOINTS, 3), np.float32)
    for joint, (u, v, c) in pixels.items():
        if joint < BODY_JOINTS and c >= min_conf:
            kp[joint] = (u, v, c * JOINT_TRUST[joint])
    if (kp[:, 2] > 0).sum() < 6:
        return None, None, "too few confident landmarks; fitted to the silhouette only"
    world = None
    if world_found:
        world = np.zeros((BODY_JOINTS, 4), np.float32)
        for joint, (x, y, z, c) in world_found.items():
            if joint < BODY_JOINTS and c >= min_conf:
                world[joint] = (x, y, z, c)
    return kp, world, "keypoints from mediapipe pose landmarks"


def to_view(kp: np.ndarray, x0: float, y0: float, scale: float) -> np.ndarray:
    """[J,3] keypoints in input pixels -> the same in a crop starting at (x0, y0) scaled by `scale`."""
    out = kp.copy()
    out[:, 0] = (kp[:, 0] - x0) * scale
    out[:, 1] = (kp[:, 1] - y0) * scale
    return out


def from_view(uv: np.ndarray, x0: float, y0: float, scale: float) -> np.ndarray:
    """[J,2] view pixels -> [J,2] input pixels."""
    return np.stack([uv[:, 0] / scale + x0, uv[:, 1] / scale + y0], 1).astype(np.float32)
