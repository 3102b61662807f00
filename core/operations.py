"""The studio's headless operations as plain functions: photo -> avatar file, avatar + motion ->
video, posed PLY or GLB. The CLI commands and the batch engine (core/batch) both call these, so a
batch job does exactly what the matching command does.

Each function takes paths and plain values; the heavy objects (a reconstructor, a renderer) can be
passed in so a long-lived worker loads them once and reuses them across jobs.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .jobs import CancelToken, FrameProgress, Progress


def reconstruct_photo(photo: str | Path, output: str | Path, *, backend: str = "template",
                      model_dir: str | Path | None = None, prior_dir: str | Path | None = None,
                      device: str = "auto", gaussians: int | None = None, reconstructor: Any = None,
                      progress: Progress | None = None, cancel: CancelToken | None = None) -> tuple[Path, int]:
    """Reconstruct the person in `photo` and write the rigged avatar PLY to `output` (atomically).

    `reconstructor` (from create_reconstructor) overrides backend/model/prior/device/gaussians.
    Returns (the written path, the number of Gaussians).
    """
    from .io.avatar_file import write_avatar
    from .pipeline import reconstruct_file
    result = reconstruct_file(photo, backend=backend, model_dir=model_dir, prior_dir=prior_dir, device=device,
                              gaussians=gaussians, reconstructor=reconstructor, progress=progress, cancel=cancel)
    path = write_avatar(output, result.avatar)
    return path, len(result.avatar.gaussians)


@dataclass
class VideoSettings:
    """How `animate_avatar` renders: what the `animate` command's options say."""

    width: int = 512
    height: int = 512
    fps: float | None = None          # None: the motion's own rate
    start: float = 0.0
    end: float | None = None          # seconds; None: the end of the motion
    frames: int | None = None         # at most this many frames (after start)
    camera: str = "fixed"
    azimuth: float = 20.0
    elevation: float = 8.0
    quality: float = 8.0
    transparent: bool = False


def create_video_renderer(name: str = "auto", notice: Callable[[str], None] | None = None):
    """A renderer for frames that go to video or images (8-bit read-back)."""
    from .render.rendering import create_renderer
    return create_renderer(name, notice=notice, video=True)


def animate_avatar(avatar: str | Path, motion: str | Path, output: str | Path, settings: VideoSettings | None = None,
                   *, renderer: Any = "auto", body_dir: str | Path | None = None,
                   progress: FrameProgress | None = None, notice: Callable[[str], None] | None = None,
                   cancel: CancelToken | None = None, up: str | None = None) -> tuple[Path, int]:
    """Render avatar file `avatar` driven by `motion` into `output` (.mp4/.webm/.gif or a PNG folder).
    `up` overrides the file's up axis (as `--up` does).

    `renderer` is a back-end name (created and closed here) or a renderer to reuse (left open).
    Returns (the written path, the number of frames).
    """
    from .body.model import body_for_rig
    from .export.animation import AnimationSettings, SceneAnimation, avatar_scene
    from .export.video import VideoOptions, write_video
    from .io.avatar_file import read_avatar
    from .pipeline import load_motion_for_playback
    s = settings or VideoSettings()
    av = read_avatar(avatar, up=up)
    body = body_for_rig(av.rig.body_model, av.rig.gender, body_dir)
    mot = load_motion_for_playback(motion, body)
    fps = s.fps or mot.fps
    end = s.end
    if s.frames is not None:  # a frame budget: the clip ends after `frames` frames at the output rate
        by_frames = s.start + s.frames / fps
        end = by_frames if end is None else min(end, by_frames)
    anim_settings = AnimationSettings(width=s.width, height=s.height, fps=fps, start=s.start, end=end,
                                      camera_mode=s.camera, azimuth_deg=s.azimuth, elevation_deg=s.elevation,
                                      background=None if s.transparent else (1.0, 1.0, 1.0))
    own = isinstance(renderer, str)
    rend = create_video_renderer(renderer, notice) if own else renderer
    try:
        anim = SceneAnimation(avatar_scene(av, mot, body), rend, anim_settings)  # the window's export path
        path = write_video(output, anim, anim.num_frames, VideoOptions(fps, s.quality), progress=progress,
                           cancel=cancel)
    finally:
        if own:
            rend.close()
    return path, anim.num_frames


def pose_avatar(avatar: str | Path, motion: str | Path, output: str | Path, *, time: float = 0.0,
                body_dir: str | Path | None = None) -> Path:
    """Write avatar file `avatar` posed by `motion` at `time` seconds as a standard 3DGS PLY."""
    import numpy as np
    from .body.model import body_for_rig
    from .io.avatar_file import read_avatar
    from .io.ply import write_ply
    from .pipeline import load_motion_for_playback
    av = read_avatar(avatar)
    body = body_for_rig(av.rig.body_model, av.rig.gender, body_dir)
    mot = load_motion_for_playback(motion, body)
    full_pose, transl = mot.pose_at(time)
    return write_ply(output, av.posed(body, full_pose, np.asarray(transl)))


def export_glb(avatar: str | Path, output: str | Path, *, motion: str | Path | None = None,
               body_dir: str | Path | None = None) -> Path:
    """Write avatar file `avatar` (with `motion` as its animation, if given) as a rigged GLB (atomically)."""
    from .body.model import body_for_rig
    from .export.glb import export_glb as write_glb
    from .io.avatar_file import read_avatar
    av = read_avatar(avatar)
    body = body_for_rig(av.rig.body_model, av.rig.gender, body_dir)
    mot = None
    if motion is not None:
        from .pipeline import load_motion_for_playback
        mot = load_motion_for_playback(motion, body)
    return write_glb(output, av, body, motion=mot).path
