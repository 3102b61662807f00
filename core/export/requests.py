"""Export requests and their work: what the window's Export dialogs ask for, done in core.

A front door (the window, a script, the CLI) builds a request and calls `run_export(request, scene)`
(or `export_scene_glb`) on a worker thread with a `progress(stage, fraction)` callback and a
cancel token; the result is the path written. `check_export` says up front, in a person's words,
why a request cannot run on a scene (so the window can refuse before it starts a job).

    video   the scene rendered from `start_frame` to `end_frame` (inclusive) as MP4/WebM/GIF/PNG frames
    ply     "canonical": the export avatar as its rigged PLY; "frame": the scene (or the avatar) posed at
            the scene's time in any writable splat format, by extension; "range": a folder of posed PLYs
            with its manifest.json (`core.sequence.write_frame_folder`)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..errors import InputError

if TYPE_CHECKING:  # heavy (torch)
    from ..scene import Scene, SceneItem

Progress = Callable[[str, float], None]
VIDEO_FORMATS = ("mp4", "webm", "gif", "png")
PLY_MODES = ("canonical", "frame", "range")


@dataclass
class ExportRequest:
    """One export: `kind` "video" or "ply", the output `path`, and the choices of that kind."""

    kind: str                 # "video" or "ply"
    path: Path
    # video
    fmt: str = "mp4"
    width: int = 512
    height: int = 512
    fps: float = 30.0
    start_frame: int = 0
    end_frame: int = 0        # inclusive
    camera_mode: str = "fixed"
    azimuth: float = 20.0
    elevation: float = 8.0
    quality: float = 8.0
    transparent: bool = False
    background: tuple[float, float, float] | None = None  # None: the renderer's default (when not transparent)
    renderer: str = "auto"    # the back-end that renders (a headless one is made on the worker thread)
    # ply
    ply_mode: str = "canonical"
    whole_scene: bool = False


def export_avatar_item(scene: "Scene") -> "SceneItem | None":
    """The avatar an export is about: the selected item if it is an avatar, else the first avatar."""
    sel = scene.selected
    if sel is not None and sel.avatar is not None:
        return sel
    return next((i for i in scene.items if i.avatar is not None), None)


def check_export(req: ExportRequest, scene: "Scene") -> None:
    """Raise InputError when `req` cannot run on `scene` (nothing to export, no avatar for canonical)."""
    if not scene.items:
        raise InputError("Nothing to export yet.")
    if req.kind not in ("video", "ply"):
        raise InputError(f"Unknown export kind '{req.kind}'; choose video or ply.")
    if req.kind == "video" and req.fmt not in VIDEO_FORMATS:
        raise InputError(f"Unknown video format '{req.fmt}'; choose one of {', '.join(VIDEO_FORMATS)}.")
    if req.kind == "ply" and req.ply_mode not in PLY_MODES:
        raise InputError(f"Unknown PLY export '{req.ply_mode}'; choose one of {', '.join(PLY_MODES)}.")
    if req.kind == "ply" and req.ply_mode == "canonical" and export_avatar_item(scene) is None:
        raise InputError("There is no avatar to export; choose 'current posed frame' for plain splats.")


def run_export(req: ExportRequest, scene: "Scene", progress: Progress | None = None, cancel: Any = None) -> Path:
    """Do `req` on `scene` (a snapshot the caller does not change meanwhile); returns the path written.
    `cancel` is a `jobs.CancelToken` (checked between frames); writes are atomic, so a cancel leaves nothing."""
    check_export(req, scene)
    progress = progress or (lambda stage, fraction: None)
    if cancel is None:
        from ..jobs import CancelToken
        cancel = CancelToken()
    if req.kind == "video":
        return _export_video(req, scene, progress, cancel)
    return _export_ply(req, scene, progress, cancel)


def video_path(req: ExportRequest) -> Path:
    """The video's path with the format's extension (PNG frames: the path as given, a folder)."""
    if req.fmt != "png" and req.path.suffix.lower() != f".{req.fmt}":
        return req.path.with_suffix(f".{req.fmt}")
    return req.path


def _export_video(req: ExportRequest, scene: "Scene", progress: Progress, cancel: Any) -> Path:
    from ..render.rendering import create_renderer
    from .animation import AnimationSettings, SceneAnimation
    from .video import VideoOptions, write_video
    if scene.duration > 0:
        start, end = req.start_frame / scene.fps, (req.end_frame + 1) / scene.fps
    else:  # a still scene: three seconds (a turntable makes sense)
        start, end = 0.0, None
    background = None if req.transparent else req.background
    progress("starting renderer", 0.0)
    renderer = create_renderer(req.renderer, video=True)  # headless, owned by this thread
    try:
        settings = AnimationSettings(width=req.width, height=req.height, fps=req.fps, start=start, end=end,
                                     camera_mode=req.camera_mode, azimuth_deg=req.azimuth,
                                     elevation_deg=req.elevation, background=background)
        anim = SceneAnimation(scene, renderer, settings)
        return write_video(video_path(req), anim, anim.num_frames, VideoOptions(req.fps, req.quality),
                           progress=lambda d, n: progress(f"frame {d}/{n}", d / n), cancel=cancel)
    finally:
        renderer.close()


def _export_ply(req: ExportRequest, scene: "Scene", progress: Progress, cancel: Any) -> Path:
    from ..io.avatar_file import write_avatar
    item = export_avatar_item(scene)
    path = req.path

    def posed(t: float):
        if req.whole_scene or item is None:
            return scene.gaussians_at(t)
        return scene.item_gaussians(item, t)

    if req.ply_mode == "canonical":
        progress("writing avatar", 0.2)
        return write_avatar(path if path.suffix.lower() == ".ply" else path.with_suffix(".ply"), item.avatar)
    if req.ply_mode == "frame":  # any writable splat format, chosen by the extension
        from ..io.formats import FORMATS, write_gaussians
        progress("posing", 0.2)
        g = posed(scene.time)
        if g is None or not len(g):
            raise InputError("Nothing is visible to export.")
        writable = [e for f in FORMATS if f.can_write for e in f.extensions]
        if not any(path.name.lower().endswith(e) for e in writable):
            path = path.with_suffix(".ply")
        return write_gaussians(path, g)
    from ..sequence.writers import write_frame_folder   # the one frame-folder writer (frames + manifest)
    frames = range(req.start_frame, req.end_frame + 1)
    folder = path.with_suffix("") if path.suffix.lower() == ".ply" else path
    return write_frame_folder(folder, (cancel.check() or posed(f / scene.fps) for f in frames), len(frames),
                              scene.fps, "ply", lambda d, n: progress(f"frame {d}/{n}", d / n))


def export_scene_glb(path: str | Path, scene: "Scene", item: "SceneItem | None" = None, *, renderer: str = "auto",
                     progress: Progress | None = None) -> Path:
    """The avatar `item` (default: the export avatar) with its motion, whole clip, as a rigged GLB."""
    from ..render.rendering import create_renderer
    from .glb import GlbOptions, export_glb
    item = item or export_avatar_item(scene)
    if item is None or item.avatar is None:
        raise InputError("GLB export needs an avatar: open a photo or an avatar first.")
    path = Path(path)
    path = path if path.suffix.lower() == ".glb" else path.with_suffix(".glb")
    r = create_renderer(renderer)  # headless, owned by this thread
    try:
        return export_glb(path, item.avatar, scene.body_for(item), item.motion, GlbOptions(), renderer=r,
                          progress=progress).path
    finally:
        r.close()


__all__ = ["ExportRequest", "run_export", "check_export", "export_scene_glb", "export_avatar_item", "video_path",
           "VIDEO_FORMATS", "PLY_MODES"]
