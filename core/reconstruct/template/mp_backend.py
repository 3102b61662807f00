"""Optional mediapipe back-end for the person mask and 2D keypoints (see `core.mediapipe_models`).
Used only when the models load; the template reconstructor falls back to classical methods."""
from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np

from ...mediapipe_models import available, solutions  # noqa: F401 - `available` is this back-end's probe

# mediapipe Pose landmark index -> SMPL-X joint index (approximate correspondences).
MP_TO_SMPLX = {
    11: 16, 12: 17,   # shoulders
    13: 18, 14: 19,   # elbows
    15: 20, 16: 21,   # wrists
    23: 1, 24: 2,     # hips
    25: 4, 26: 5,     # knees
    27: 7, 28: 8,     # ankles
    31: 10, 32: 11,   # foot index -> foot
}
# mediapipe "left" is the subject's left, as in SMPL-X.

_lock = threading.Lock()


@lru_cache(maxsize=1)
def _models():
    sol = solutions()
    seg = sol.selfie_segmentation.SelfieSegmentation(model_selection=0)
    pose = sol.pose.Pose(static_image_mode=True, model_complexity=1, enable_segmentation=False)
    return seg, pose


def segment(image: np.ndarray) -> np.ndarray:
    """[H,W,3|4] uint8 -> [H,W] float32 person probability (selfie segmentation)."""
    seg, _ = _models()
    rgb = np.ascontiguousarray(image[..., :3])
    with _lock:
        out = seg.process(rgb)
    if out.segmentation_mask is None:
        return np.zeros(image.shape[:2], np.float32)
    return np.asarray(out.segmentation_mask, np.float32)


def keypoints(image: np.ndarray) -> dict[int, tuple[float, float, float]] | None:
    """[H,W,3|4] uint8 -> {smplx_joint: (u, v, confidence)} in pixels, plus 15 (head) from the
    ears/nose; None when no pose is found."""
    found = landmarks(image)
    return None if found is None else found[0]


def landmarks(image: np.ndarray) -> tuple[dict[int, tuple[float, float, float]],
                                          dict[int, tuple[float, float, float, float]] | None] | None:
    """[H,W,3|4] uint8 -> (pixels, world) or None when no pose is found.

    pixels: {smplx_joint: (u, v, confidence)} as `keypoints` returns.
    world: {smplx_joint: (x, y, z, confidence)} from mediapipe's world landmarks: metres, centred
    between the hips, in camera-aligned axes (x right, y down, z away from the camera, as OpenCV);
    None when mediapipe gave none. Only the joints of `MP_TO_SMPLX`.
    """
    _, pose = _models()
    h, w = image.shape[:2]
    rgb = np.ascontiguousarray(image[..., :3])
    with _lock:
        out = pose.process(rgb)
    if out.pose_landmarks is None:
        return None
    lm = out.pose_landmarks.landmark
    pts = {j: (lm[i].x * w, lm[i].y * h, float(lm[i].visibility)) for i, j in MP_TO_SMPLX.items()}
    ears = [lm[7], lm[8]]
    pts[15] = (float(np.mean([e.x for e in ears])) * w, float(np.mean([e.y for e in ears])) * h,
               float(min(e.visibility for e in ears)))
    world = None
    if getattr(out, "pose_world_landmarks", None) is not None:
        wl = out.pose_world_landmarks.landmark
        world = {j: (float(wl[i].x), float(wl[i].y), float(wl[i].z), float(lm[i].visibility))
                 for i, j in MP_TO_SMPLX.items()}
    return pts, world
