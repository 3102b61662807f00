"""Video -> SMPL-X `Motion`: the one entry point the CLI and the GUI share.

    result = capture_motion("dance.mp4", progress=lambda stage, f: ..., cancel=token)
    write_amass(result.motion, "dance.npz")                 # (motion.amass) Y-up world, feet on the floor
    img = overlay_skeleton(frame, result, i)                # check view: fitted skeleton on frame i

Stages (reported through `progress(stage, fraction_of_whole_job)`): "landmarks" (decoding and
mediapipe, frame by frame), "fit" (batched torch optimisation), "cleanup". The `CancelToken` is
checked between frames and between solver iterations.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import CancelledError, InputError
from ..motion.motion import Motion
from ..reconstruct.base import CancelToken, Progress, StageProgress
from .cleanup import CleanupSettings, clean_motion, still_in_picture
from .fit import MARKERS, FitResult, FitSettings, fit_landmarks, marker_targets, rest_geometry
from .landmarks import CONNECTIONS, Landmarks, detect_landmarks
from .video import VideoInfo, frame_selection, iter_frames, probe

STAGES = [("landmarks", 0.75), ("fit", 0.2), ("cleanup", 0.05)]
FOOT_LANDMARKS = (29, 31, 30, 32)
BODY_BONES = tuple((j, p) for j, p in enumerate([-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17,
                                                  18, 19]) if p >= 0)


@dataclass
class MocapSettings:
    """Knobs of the whole pipeline.

    Attributes:
        max_side: frames are decoded at most this many pixels on the long side (mediapipe works
            on a 256-pixel crop, so larger frames only cost time).
        model_complexity: mediapipe pose model, 0 (lite), 1 (full) or 2 (heavy: not in the wheel; see
            `mediapipe_models.HEAVY_INSTALL_HINT`; about 4x slower).
        fit: solver settings (camera field of view, iterations, weights).
        cleanup: smoothing and foot-skate settings.
    """

    max_side: int | None = 640
    model_complexity: int = 1
    fit: FitSettings = field(default_factory=FitSettings)
    cleanup: CleanupSettings = field(default_factory=CleanupSettings)


@dataclass
class MocapDiagnostics:
    """What the capture found on the way.

    Attributes:
        video: the source as probed; frames: kept frames; detected: frames with a person.
        working_size: (w, h) the frames were analysed at.
        reprojection_px: [T] mean fitted-landmark error in working-size pixels (NaN: no person).
        to_world: [3,3] rotation from the camera frame into the motion's world frame.
        contacts: [T,4] foot contact weights (left heel, left toe, right heel, right toe).
        foot_slide: m/s of feet near the floor after clean-up.
        timings: seconds per stage; fps: kept frames per second of wall time, end to end.
        notes: sentences for the user.
    """

    video: VideoInfo
    frames: int
    detected: int
    working_size: tuple[int, int]
    reprojection_px: np.ndarray
    to_world: np.ndarray
    contacts: np.ndarray
    foot_slide: float
    timings: dict[str, float]
    fps: float
    notes: list[str] = field(default_factory=list)


@dataclass
class MocapResult:
    """The capture's output.

    Attributes:
        motion: Y-up world `Motion` (the fitted betas, flat hands, hands and face at rest), one
            frame per kept video frame, at `source fps / stride`.
        landmarks: the per-frame mediapipe landmarks (normalised to the working size).
        fit: the camera-frame fit (joints, markers, camera) used by `overlay_skeleton`.
        diagnostics: see `MocapDiagnostics`.
    """

    motion: Motion
    landmarks: Landmarks
    fit: FitResult
    diagnostics: MocapDiagnostics

    @property
    def source_indices(self) -> np.ndarray:
        """[T] index in the source video of each motion frame."""
        return self.landmarks.source_indices


def capture_motion(video_path: str | Path, *, fps: float | None = None, start: float | None = None,
                   end: float | None = None, stride: int = 1, progress: Progress | None = None,
                   cancel: CancelToken | None = None, settings: MocapSettings | None = None,
                   body=None) -> MocapResult:
    """Capture one person's SMPL-X motion from a video file or an image folder.

    Args:
        video_path: .mp4/.mov/.webm/... file, or a folder of frame pictures.
        fps: frame rate of the source; default the video's own, 30 for image folders.
        start, end: seconds of the source to use (end exclusive); default the whole clip.
        stride: keep every stride-th frame (the motion plays at fps / stride).
        progress: progress(stage, fraction 0..1 of the whole job).
        cancel: a `CancelToken`; cancelling raises `CancelledError` within a frame or an iteration.
        settings: `MocapSettings`; body: the `BodyModel` to fit (default: the studio's).
    Raises:
        InputError: unreadable or corrupt video, empty range, no person found.
        BackendUnavailableError: mediapipe is not installed (the message says how to install it).
        CancelledError: cancelled.
    """
    settings = settings or MocapSettings()
    cancel = cancel or CancelToken()
    prog = StageProgress(STAGES, progress, cancel, job="Motion capture")
    if body is None:
        from ..body.model import default_body_model
        body = default_body_model()
    t_start = time.perf_counter()
    prog.stage("landmarks", 0.0)
    info = probe(video_path, fps)
    sel = frame_selection(info, start, end, stride)
    total = sel.count(info.num_frames)
    out_fps = info.fps / sel.stride
    try:
        lm = detect_landmarks(iter_frames(info, sel, settings.max_side), fps=out_fps, total=total,
                              progress=lambda f: prog.stage("landmarks", f), cancel=cancel,
                              model_complexity=settings.model_complexity)
    except InputError:
        if cancel.cancelled:  # Ctrl-C also stops ffmpeg, which looks like a broken file
            raise CancelledError("Motion capture cancelled.") from None
        raise
    return solve_landmarks(lm, body, settings, info=info, name=Path(video_path).stem, prog=prog, t_start=t_start)


def solve_landmarks(lm: Landmarks, body, settings: MocapSettings | None = None, *, info: VideoInfo | None = None,
                    name: str = "capture", prog: StageProgress | None = None, t_start: float | None = None
                    ) -> MocapResult:
    """The fit and clean-up stages of `capture_motion` on landmarks already detected (benchmarks
    reuse one detection for several solver settings). `info` defaults to a description of `lm`."""
    settings = settings or MocapSettings()
    prog = prog or StageProgress(STAGES, None, CancelToken(), job="Motion capture")
    t_start = time.perf_counter() if t_start is None else t_start
    cancel = prog.cancel
    out_fps = lm.fps
    if info is None:
        info = VideoInfo(Path(name), lm.width, lm.height, lm.fps, lm.num_frames, False)
    prog.stage("fit", 0.0)
    fit = fit_landmarks(lm, body, settings.fit, progress=lambda f: prog.stage("fit", f), cancel=cancel)
    prog.stage("cleanup", 0.0)
    rest = rest_geometry(body, fit.betas)
    feet_rows = [next(k for k, m in enumerate(MARKERS) if m.landmark == i) for i in FOOT_LANDMARKS]
    pixels, _, conf = marker_targets(lm)
    still = still_in_picture(pixels[:, feet_rows], conf[:, feet_rows], pixels, out_fps)
    cleaned = clean_motion(fit.global_orient, fit.body_pose, fit.transl, out_fps, rest.joints,
                           rest.points[feet_rows], rest.attach[feet_rows], settings.cleanup,
                           name=name, still=still)
    motion = cleaned.motion.replace(betas=fit.betas)
    prog.stage("cleanup", 1.0)
    timings = prog.finish()
    elapsed = time.perf_counter() - t_start
    notes = list(lm.notes)
    missing = int(lm.num_frames - lm.present.sum())
    if missing:
        notes.append(f"No person in {missing} of {lm.num_frames} frames; the motion there is interpolated.")
    diag = MocapDiagnostics(info, lm.num_frames, int(lm.present.sum()), (lm.width, lm.height),
                            fit.reprojection_px, cleaned.rotation, cleaned.contacts, cleaned.foot_slide, timings,
                            lm.num_frames / max(elapsed, 1e-9), notes)
    return MocapResult(motion, lm, fit, diag)


# ---------------------------------------------------------------------------------------------------
# Check view
# ---------------------------------------------------------------------------------------------------
def project_fit(result: MocapResult, i: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixels of the fitted skeleton in frame i, for a frame of `width` x `height`.

    Returns:
        ([22,2] SMPL-X body joints, [33,2] fitted landmark markers (NaN for unused ones)).
    """
    cam = result.fit.camera.resized(width, height)
    joints = cam.project(result.fit.joints[i])[:, :2]
    markers = cam.project(result.fit.markers[i])[:, :2]
    used = np.zeros(33, bool)
    used[[m.landmark for m in MARKERS]] = True
    markers[~used] = np.nan
    return joints, markers


def overlay_skeleton(frame: np.ndarray, result: MocapResult, i: int, *, show_landmarks: bool = True,
                     line_width: int | None = None) -> np.ndarray:
    """Draw the fitted SMPL-X skeleton (and mediapipe's landmarks) over source frame i.

    Args:
        frame: [H,W,3|4] uint8, the source frame `result.source_indices[i]` at any size.
        i: motion frame index (0..T-1).
        show_landmarks: also draw mediapipe's detected landmarks (thin white lines, for comparison).
    Returns:
        [H,W,3] uint8 copy with the drawing: fitted bones in orange (left side cyan), joints as dots.
    """
    from PIL import Image, ImageDraw
    if not 0 <= i < result.motion.num_frames:
        raise InputError(f"Frame {i} is outside the motion (0..{result.motion.num_frames - 1}).")
    img = Image.fromarray(np.ascontiguousarray(np.asarray(frame)[..., :3]))
    w, h = img.size
    lw = line_width or max(2, int(round(max(w, h) / 250)))
    draw = ImageDraw.Draw(img)
    lm = result.landmarks
    if show_landmarks and lm.present[i]:
        px = lm.image[i, :, :2] * [w, h]
        for a, b in CONNECTIONS:
            draw.line([tuple(px[a]), tuple(px[b])], fill=(255, 255, 255), width=max(1, lw // 2))
    joints, _ = project_fit(result, i, w, h)
    left = {1, 4, 7, 10, 13, 16, 18, 20}
    for j, p in BODY_BONES:
        colour = (40, 200, 255) if j in left else (255, 140, 0)
        draw.line([tuple(joints[p]), tuple(joints[j])], fill=colour, width=lw)
    r = lw * 1.2
    for x, y in joints:
        draw.ellipse([x - r, y - r, x + r, y + r], fill=(255, 230, 40))
    return np.asarray(img)
