"""Write frames to MP4 (H.264), WebM (VP9, with alpha), GIF, or a PNG sequence — atomically.

Frames come from a callable so the writer can stream: nothing holds the whole clip in memory.
A cancelled or failed export leaves no file behind (temp file/folder, then rename).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

import numpy as np

from ..errors import CancelledError, InputError, StudioError
from ..io.atomic import atomic_dir, atomic_path
from ..jobs import CancelToken, FrameProgress

VideoFormat = Literal["mp4", "webm", "gif", "png"]
FrameImages = Callable[[int], np.ndarray]
"""frame_images(i) -> [H,W,3] or [H,W,4] uint8 image for output frame i (not a sequence's FrameSource)."""


def format_from_path(path: str | Path) -> VideoFormat:
    """Pick the output format from the path: .mp4 .webm .gif, or a folder / .png pattern for PNGs."""
    p = Path(path)
    ext = p.suffix.lower()
    if ext in (".mp4", ".m4v", ".mov"):
        return "mp4"
    if ext == ".webm":
        return "webm"
    if ext == ".gif":
        return "gif"
    if ext == ".png" or ext == "":
        return "png"
    raise InputError(f"Cannot tell the video format from '{p.name}'. Use .mp4, .webm, .gif, or a folder for PNG frames.")


@dataclass
class VideoOptions:
    """fps: output frame rate; quality: 0 (smallest) .. 10 (best), mapped to each codec's scale."""

    fps: float = 30.0
    quality: float = 8.0


def _even(img: np.ndarray) -> np.ndarray:
    """H.264 with yuv420p needs even dimensions; pad by edge replication."""
    h, w = img.shape[:2]
    if h % 2 or w % 2:
        img = np.pad(img, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    return img


def write_video(path: str | Path, frame_source: FrameImages, num_frames: int, options: VideoOptions | None = None,
                *, progress: FrameProgress | None = None, cancel: CancelToken | None = None) -> Path:
    """Render `num_frames` frames from `frame_source` into `path`.

    Args:
        progress: called as progress(done, total) after each frame.
        cancel: checked before each frame; a cancel raises CancelledError and removes the partial file.
    """
    options = options or VideoOptions()
    if num_frames <= 0:
        raise InputError("Nothing to export: the frame range is empty.")
    if not (options.fps > 0 and np.isfinite(options.fps)):
        raise InputError(f"Frame rate must be positive, got {options.fps}.")
    fmt = format_from_path(path)
    path = Path(path)
    cancel = cancel or CancelToken()

    def frames():
        for i in range(num_frames):
            if cancel.cancelled:
                raise CancelledError("Export cancelled.")
            img = np.asarray(frame_source(i))
            if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] not in (3, 4):
                raise StudioError(f"Frame {i} is not an RGB(A) uint8 image (got {img.dtype} {img.shape}).")
            yield img
            if progress is not None:
                progress(i + 1, num_frames)

    if fmt == "png":
        return _write_png_sequence(path, frames())
    with atomic_path(path) as tmp:
        if fmt == "gif":
            _write_gif(tmp, frames(), options)
        else:
            _write_ffmpeg(tmp, frames(), options, fmt)
    return path


def _write_ffmpeg(tmp: Path, frames, options: VideoOptions, fmt: str) -> None:
    import imageio.v2 as iio
    q = float(np.clip(options.quality, 0, 10))
    if fmt == "mp4":
        crf = int(round(35 - 2.0 * q))  # quality 10 -> crf 15, 8 -> 19, 0 -> 35
        kw = dict(codec="libx264", pixelformat="yuv420p", output_params=["-crf", str(crf), "-preset", "veryfast"])
        channels = 3
    else:
        crf = int(round(50 - 2.7 * q))
        kw = dict(codec="libvpx-vp9", pixelformat="yuva420p",
                  output_params=["-crf", str(crf), "-b:v", "0", "-deadline", "realtime", "-cpu-used", "8",
                                 "-row-mt", "1", "-auto-alt-ref", "0"])
        channels = 4
    from ..io.atomic import signals_deferred
    writer = iio.get_writer(str(tmp), format="FFMPEG", mode="I", fps=options.fps, macro_block_size=1,
                            ffmpeg_log_level="error", **kw)
    try:
        for img in frames:
            if img.shape[2] != channels:
                img = img[..., :3] if channels == 3 else np.concatenate(
                    [img, np.full(img.shape[:2] + (1,), 255, np.uint8)], axis=2)
            with signals_deferred():  # the first frame starts ffmpeg: never leave it orphaned
                writer.append_data(_even(img) if fmt == "mp4" else img)
    finally:
        with signals_deferred():  # ffmpeg finishes with the temp file before it is removed
            writer.close()


def _write_gif(tmp: Path, frames, options: VideoOptions) -> None:
    from PIL import Image
    images = []
    for img in frames:
        im = Image.fromarray(img[..., :3] if img.shape[2] == 4 else img)
        images.append(im.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE))
    duration = int(round(1000 / options.fps))
    images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=duration, loop=0,
                   optimize=False, disposal=2)


def _write_png_sequence(path: Path, frames) -> Path:
    from PIL import Image
    folder = path.with_suffix("") if path.suffix.lower() == ".png" else path
    with atomic_dir(folder) as tmp:
        for i, img in enumerate(frames):
            Image.fromarray(img).save(tmp / f"frame{i + 1:04d}.png", compress_level=1)
    return folder
