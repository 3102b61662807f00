"""Per-frame body landmarks of one person, from mediapipe's pose landmarker (optional dependency).

mediapipe 0.10.21 ships `pose_detection.tflite` and `pose_landmark_full.tflite` inside its wheel
and runs with no network (SPECS §6); install it with `avatar-studio install-landmarks`.

What it gives per frame (BlazePose topology, 33 points, "left" = the subject's left):
  * image landmarks: x, y normalised to the frame width/height, z a relative depth on the x
    scale (smaller = nearer), and a visibility in 0..1;
  * world landmarks: metres, origin between the hips, axes aligned with the camera (x right,
    y down, z away from the camera). Checked on this project's machines: the 2D part matches the
    image landmarks up to scale and a shift, with under 1 degree of rotation.

One person: the legacy `Pose` solution follows a single person. In video mode it finds a person
with its detector, then tracks that person's region from frame to frame, and runs the detector
again only when tracking is lost. With several people in view it may therefore jump to another
person after an occlusion. `consistent_track` finds such jumps (sudden changes of position, size
or in-picture rotation) and keeps the longest consistent track, dropping the other frames, and
says so in `notes`. `fix_left_right_swaps` undoes frames where the model swapped the left and right
legs (common in profile), arms or torso, and `align_world_to_image` removes a rotation about the
camera axis that the world landmarks sometimes keep.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable

import numpy as np

from ..errors import BackendUnavailableError, InputError
from ..reconstruct.base import CancelToken

NUM_LANDMARKS = 33
LANDMARK_NAMES: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle", "left_heel", "right_heel", "left_foot_index", "right_foot_index")
from ..mediapipe_models import HEAVY_INSTALL_HINT, INSTALL_HINT, available, heavy_available, solutions  # noqa: F401

# Lines between landmarks, for drawing (BlazePose body connections without the face).
CONNECTIONS: tuple[tuple[int, int], ...] = (
    (11, 12), (11, 23), (12, 24), (23, 24), (11, 13), (13, 15), (12, 14), (14, 16), (15, 17), (15, 19),
    (15, 21), (17, 19), (16, 18), (16, 20), (16, 22), (18, 20), (23, 25), (25, 27), (27, 29), (29, 31),
    (27, 31), (24, 26), (26, 28), (28, 30), (30, 32), (28, 32), (0, 7), (0, 8))

_TORSO = (11, 12, 23, 24)


@dataclass
class Landmarks:
    """Landmarks of one person over a clip.

    Attributes:
        image: [T,33,4] float32 (x, y normalised to width/height, z relative depth, visibility).
        world: [T,33,3] float32 metres, hip-centred, camera-aligned axes (x right, y down, z away).
        present: [T] bool, False where no person was found (those rows are zeros).
        width, height: size in pixels of the frames the normalised coordinates refer to.
        fps: frame rate of the kept frames.
        source_indices: [T] int64 index of each kept frame in the source video.
        notes: remarks for the user (tracking jumps, dropped frames).
    """

    image: np.ndarray
    world: np.ndarray
    present: np.ndarray
    width: int
    height: int
    fps: float
    source_indices: np.ndarray
    notes: list[str] = field(default_factory=list)

    @property
    def num_frames(self) -> int:
        return int(self.present.shape[0])

    def pixels(self) -> np.ndarray:
        """[T,33,2] image landmarks in pixels of a `width` x `height` frame."""
        return self.image[..., :2] * np.array([self.width, self.height], np.float32)

    def visibility(self) -> np.ndarray:
        """[T,33] visibility, 0 in frames without a person."""
        return self.image[..., 3] * self.present[:, None]


def _import_mediapipe():
    try:
        return solutions().pose
    except BackendUnavailableError as err:
        raise BackendUnavailableError(f"Motion capture from video needs the optional offline landmark model. {err}") from err


_create_lock = threading.Lock()


class PoseTracker:
    """One mediapipe `Pose` graph in video (tracking) mode. Not thread-safe: one per clip."""

    def __init__(self, model_complexity: int = 1) -> None:
        pose_mod = _import_mediapipe()
        if model_complexity == 2 and not heavy_available():  # the runtime would try to download it
            raise BackendUnavailableError("The heavy pose landmark model is not installed; install it with: "
                                          f"{HEAVY_INSTALL_HINT}")
        with _create_lock:  # graph start-up touches process-wide state
            self._pose = pose_mod.Pose(static_image_mode=False, model_complexity=model_complexity,
                                       smooth_landmarks=True, enable_segmentation=False,
                                       min_detection_confidence=0.5, min_tracking_confidence=0.5)

    def process(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """[H,W,3] uint8 RGB -> ([33,4] image landmarks, [33,3] world landmarks), or None."""
        out = self._pose.process(np.ascontiguousarray(frame[..., :3]))
        if out.pose_landmarks is None or out.pose_world_landmarks is None:
            return None
        img = np.array([(p.x, p.y, p.z, p.visibility) for p in out.pose_landmarks.landmark], np.float32)
        wld = np.array([(p.x, p.y, p.z) for p in out.pose_world_landmarks.landmark], np.float32)
        return img, wld

    def close(self) -> None:
        self._pose.close()

    def __enter__(self) -> "PoseTracker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def detect_landmarks(frames: Iterable[tuple[int, np.ndarray]], *, fps: float, total: int | None = None,
                     progress: Callable[[float], None] | None = None, cancel: CancelToken | None = None,
                     model_complexity: int = 1, keep_frame: Callable[[int, np.ndarray], None] | None = None
                     ) -> Landmarks:
    """Run the pose landmarker over (source index, [H,W,3] uint8) frames.

    Args:
        fps: frame rate of the given frames.
        total: number of frames expected (for progress), if known.
        progress: called with the fraction done after each frame.
        cancel: checked before each frame.
        keep_frame: called with (source index, frame) for each frame, e.g. to keep thumbnails.
    Returns:
        `Landmarks` after `consistent_track`.
    Raises:
        InputError: no frames, or no person in any frame.
        BackendUnavailableError: mediapipe is not installed.
        CancelledError: cancelled.
    """
    cancel = cancel or CancelToken()
    images, worlds, present, indices = [], [], [], []
    size = None
    with PoseTracker(model_complexity) as tracker:
        for n, (k, frame) in enumerate(frames):
            cancel.check("Motion capture cancelled.")
            size = size or (frame.shape[1], frame.shape[0])
            found = tracker.process(frame)
            if keep_frame is not None:
                keep_frame(k, frame)
            if found is None:
                images.append(np.zeros((NUM_LANDMARKS, 4), np.float32))
                worlds.append(np.zeros((NUM_LANDMARKS, 3), np.float32))
            else:
                images.append(found[0])
                worlds.append(found[1])
            present.append(found is not None)
            indices.append(k)
            if progress is not None:
                progress((n + 1) / total if total else min(0.99, 1 - 1 / (2 + 0.05 * n)))
    if not indices:
        raise InputError("The video holds no frames in the selected time range.")
    lm = Landmarks(np.stack(images), np.stack(worlds), np.array(present, bool), size[0], size[1], float(fps),
                   np.array(indices, np.int64))
    if not lm.present.any():
        raise InputError("No person found in the video: the landmark model saw nobody in any of its "
                         f"{lm.num_frames} frames. Use a clip where one person is fully in view.")
    return align_world_to_image(fix_left_right_swaps(consistent_track(lm)))


# Left/right landmark pairs per body part, for `fix_left_right_swaps`.
SWAP_GROUPS: dict[str, tuple[tuple[int, int], ...]] = {
    "legs": ((25, 26), (27, 28), (29, 30), (31, 32)),
    "arms": ((13, 14), (15, 16), (17, 18), (19, 20), (21, 22)),
    "torso": ((11, 12), (23, 24), (1, 4), (2, 5), (3, 6), (7, 8), (9, 10)),
}


def fix_left_right_swaps(lm: Landmarks, penalty: float = 0.3) -> Landmarks:
    """Undo frames where the landmark model swapped left and right (legs in profile, mostly).

    For each part (legs, arms, torso with face) a two-state Viterbi pass over the present frames
    chooses "as given" or "swapped" per frame, minimising how far the landmarks jump between
    consecutive frames (pixels over the torso size) plus `penalty` per swapped frame. Where the
    limbs cross, both readings cost the same and mediapipe's is kept.
    """
    idx = np.flatnonzero(lm.present)
    if idx.size < 2:
        return lm
    _, size, _ = _torso_state(lm)
    scale = float(np.median(size[idx]))
    px = lm.pixels() / scale
    image, world = lm.image.copy(), lm.world.copy()
    fixed: list[str] = []
    for part, pairs in SWAP_GROUPS.items():
        a = np.array([i for i, _ in pairs] + [j for _, j in pairs])
        b = np.array([j for _, j in pairs] + [i for i, _ in pairs])
        pos = np.stack([px[idx][:, a], px[idx][:, b]], axis=1)                  # [N,2,P,2]: as given / swapped
        jump = np.linalg.norm(pos[1:, None] - pos[:-1, :, None], axis=-1).sum(-1)  # [N-1,2 (prev),2 (now)]
        cost = np.array([0.0, penalty])
        back = np.zeros((idx.size, 2), np.int64)
        for n in range(1, idx.size):
            total = cost[:, None] + jump[n - 1]                                 # [prev, now]
            back[n] = np.argmin(total, axis=0)
            cost = total[back[n], [0, 1]] + [0.0, penalty]
        state = np.zeros(idx.size, np.int64)
        state[-1] = int(np.argmin(cost))
        for n in range(idx.size - 1, 0, -1):
            state[n - 1] = back[n, state[n]]
        frames = idx[state == 1]
        if frames.size:
            image[frames[:, None], a] = lm.image[frames[:, None], b]
            world[frames[:, None], a] = lm.world[frames[:, None], b]
            fixed.append(f"{part} in {frames.size}")
    if not fixed:
        return lm
    note = f"Undid left/right swaps of the landmark model ({', '.join(fixed)} frames)."
    return replace(lm, image=image, world=world, notes=lm.notes + [note])


def align_world_to_image(lm: Landmarks) -> Landmarks:
    """Turn each frame's world landmarks about the camera axis so they agree with the image landmarks.

    mediapipe computes the landmarks in a crop turned to make the body upright. Its image
    landmarks are turned back into the frame, but the world landmarks can keep part of that turn
    (seen as bodies upside down in 3D while upright in 2D, e.g. when tracking starts on a
    person in profile). The in-plane rotation is the 2D Procrustes rotation (no reflection) from the
    world landmarks' x, y onto the image landmarks' pixels, weighted by visibility.
    """
    world = lm.world.copy()
    px = lm.pixels()
    vis = lm.image[..., 3]
    for t in np.flatnonzero(lm.present):
        w = np.clip(vis[t], 0.05, 1.0)[:, None]
        a = px[t] - (w * px[t]).sum(0) / w.sum()
        b = world[t, :, :2] - (w * world[t, :, :2]).sum(0) / w.sum()
        cov = (w * b).T @ a                                           # [2,2]
        angle = np.arctan2(cov[0, 1] - cov[1, 0], cov[0, 0] + cov[1, 1])
        c, s = np.cos(angle), np.sin(angle)
        world[t, :, :2] = world[t, :, :2] @ np.array([[c, s], [-s, c]])
    return replace(lm, world=world)


def _torso_state(lm: Landmarks) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """([T,2] torso centre in pixels, [T] torso size in pixels: mean shoulder-hip distance,
    [T] torso angle in radians: direction from the hips' middle to the shoulders' middle)."""
    px = lm.pixels()
    centre = px[:, _TORSO].mean(axis=1)
    size = 0.5 * (np.linalg.norm(px[:, 11] - px[:, 23], axis=-1) + np.linalg.norm(px[:, 12] - px[:, 24], axis=-1))
    up = 0.5 * (px[:, 11] + px[:, 12]) - 0.5 * (px[:, 23] + px[:, 24])
    return centre, np.maximum(size, 1.0), np.arctan2(up[:, 1], up[:, 0])


def consistent_track(lm: Landmarks, max_jump: float = 0.6, max_scale: float = 1.5, max_turn: float = 1.0
                     ) -> Landmarks:
    """Keep the longest run of frames that show the same person, tracked consistently; drop the rest.

    Present frames are cut into segments wherever the torso centre moves by more than
    `max_jump` torso sizes per frame, the torso size changes by more than a factor
    `max_scale`, or the torso turns in the picture by more than `max_turn` radians per frame
    (allowing more over gaps; this also catches the tracker locking on upside down). Segments
    are chained into tracks greedily (a segment joins the latest compatible track), and the track
    with the most frames is kept.
    """
    state = _torso_state(lm)
    idx = np.flatnonzero(lm.present)
    segments: list[list[int]] = []
    for a, b in zip(np.r_[-1, idx[:-1]], idx):
        if a < 0 or not _compatible(state, a, b, max_jump, max_scale, max_turn):
            segments.append([int(b)])
        else:
            segments[-1].append(int(b))
    if len(segments) == 1:
        return lm
    tracks: list[list[int]] = []
    for seg in segments:
        fits = [(_distance(state, track[-1], seg[0]), k) for k, track in enumerate(tracks)
                if _compatible(state, track[-1], seg[0], max_jump, max_scale, max_turn)]
        if fits:
            tracks[min(fits)[1]].extend(seg)
        else:
            tracks.append(list(seg))
    if len(tracks) == 1:
        return lm
    best = max(tracks, key=len)
    keep = np.zeros_like(lm.present)
    keep[best] = True
    dropped = int(lm.present.sum() - keep.sum())
    note = (f"The landmark model follows one person; its track broke into {len(tracks)} inconsistent parts "
            f"(another person, or a lost or upside-down track). Kept the most consistent one ({len(best)} frames) "
            f"and ignored {dropped} frames.")
    image, world = lm.image.copy(), lm.world.copy()
    image[~keep] = 0
    world[~keep] = 0
    return replace(lm, image=image, world=world, present=keep, notes=lm.notes + [note])


def _distance(state: tuple[np.ndarray, np.ndarray, np.ndarray], a: int, b: int) -> float:
    """Torso-centre distance of frames a and b in torso sizes."""
    centre, size, _ = state
    return float(np.linalg.norm(centre[b] - centre[a]) / max(size[a], size[b]))


def _compatible(state: tuple[np.ndarray, np.ndarray, np.ndarray], a: int, b: int, max_jump: float,
                max_scale: float, max_turn: float) -> bool:
    """Can frames a < b show the same person, tracked the same way (allowance grows with the gap)?"""
    centre, size, angle = state
    gap = max(1, b - a)
    turn = abs((angle[b] - angle[a] + np.pi) % (2 * np.pi) - np.pi)
    if turn > min(np.pi, max_turn * gap):
        return False
    ratio = size[b] / size[a]
    if not (1 / max_scale ** min(gap, 3) <= ratio <= max_scale ** min(gap, 3)):
        return False
    jump = np.linalg.norm(centre[b] - centre[a]) / max(size[a], size[b])
    return bool(jump <= max_jump * min(gap, 10))
