"""Read the frames of a video file or an image folder, with trimming and a frame stride.

Videos (mp4, mov, m4v, webm, mkv, avi, gif) are decoded by ffmpeg through imageio's FFMPEG plugin
(imageio-ffmpeg ships the binary). Image folders hold one picture per frame (png, jpg, jpeg, bmp,
webp, tif), played in natural name order ("frame2" before "frame10").

Frames stream: nothing holds the whole clip in memory. A file that is missing, empty, corrupt or
holds no frame raises `InputError` with a sentence a person understands.

Time convention: frame k of the source is shown at k / source_fps seconds. `start`/`end` are
seconds on that clock (end exclusive); `stride` keeps every stride-th frame from `start`, so the
kept frames play at source_fps / stride.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import InputError

class _ScaledSizeNotice(logging.Filter):
    """Drops imageio-ffmpeg's warning that frames are read at another size: we ask for that."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "is different from the source frame size" not in record.getMessage()


logging.getLogger("imageio_ffmpeg").addFilter(_ScaledSizeNotice())

VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi", ".gif")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
DEFAULT_FOLDER_FPS = 30.0
MIN_SIDE = 32
MAX_SIDE = 8192


@dataclass(frozen=True)
class VideoInfo:
    """What is known about a source before decoding it.

    Attributes:
        path: the file or folder.
        width, height: frame size in pixels (after the rotation a phone video asks for).
        fps: source frame rate.
        num_frames: frame count of the whole source (an estimate for some containers), or None.
        is_folder: True for an image folder.
    """

    path: Path
    width: int
    height: int
    fps: float
    num_frames: int | None
    is_folder: bool

    @property
    def duration(self) -> float | None:
        return None if self.num_frames is None else self.num_frames / self.fps


@dataclass(frozen=True)
class FrameSelection:
    """Which source frames a clip keeps: index k is kept if first <= k < stop and (k - first) % stride == 0.

    `stop` is None when the end of the source is not known in advance.
    """

    first: int
    stop: int | None
    stride: int

    def keeps(self, k: int) -> bool:
        return k >= self.first and (self.stop is None or k < self.stop) and (k - self.first) % self.stride == 0

    def count(self, num_frames: int | None) -> int | None:
        """Number of kept frames for a source of `num_frames` frames (None if unknown)."""
        stop = self.stop if num_frames is None else (num_frames if self.stop is None else min(self.stop, num_frames))
        if stop is None:
            return None
        return max(0, -(-(stop - self.first) // self.stride))


def _natural_key(name: str) -> list:
    return [int(tok) if tok.isdigit() else tok.lower() for tok in re.split(r"(\d+)", name)]


def list_image_files(folder: Path) -> list[Path]:
    """The pictures in `folder`, in natural name order."""
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    return sorted(files, key=lambda p: _natural_key(p.name))


def _read_image(path: Path) -> np.ndarray:
    """[H,W,3] uint8 picture, refusing unreadable files."""
    from ..io.images import read_picture
    try:
        return np.ascontiguousarray(read_picture(path)[..., :3])
    except InputError as err:
        raise InputError(f"Frame picture: {err}") from err


def _check_size(width: int, height: int, label: str) -> None:
    if min(width, height) < MIN_SIDE:
        raise InputError(f"{label} is only {width}x{height} pixels; at least {MIN_SIDE} pixels per side are needed.")
    if max(width, height) > MAX_SIDE:
        raise InputError(f"{label} is {width}x{height} pixels; videos over {MAX_SIDE} pixels per side are refused.")


def probe(path: str | Path, fps: float | None = None) -> VideoInfo:
    """Open `path` (video file or image folder) just far enough to know its size and frame rate.

    Args:
        fps: the source frame rate to use instead of the file's (required for nothing; image
            folders default to 30 fps).
    Raises:
        InputError: missing, empty, corrupt or unsupported sources.
    """
    path = Path(path).expanduser()
    if fps is not None and not (np.isfinite(fps) and 0 < fps <= 1000):
        raise InputError(f"Frame rate must be between 0 and 1000, got {fps}.")
    if path.is_dir():
        files = list_image_files(path)
        if not files:
            raise InputError(f"The folder {path.name} holds no pictures ({', '.join(IMAGE_EXTENSIONS)}).")
        first = _read_image(files[0])
        _check_size(first.shape[1], first.shape[0], f"The pictures in {path.name}")
        return VideoInfo(path, first.shape[1], first.shape[0], float(fps or DEFAULT_FOLDER_FPS), len(files), True)
    if not path.is_file():
        raise InputError(f"Video not found: {path}")
    if path.suffix.lower() not in VIDEO_EXTENSIONS:
        raise InputError(f"{path.name} is not a supported video ({', '.join(VIDEO_EXTENSIONS)}) or image folder.")
    if path.stat().st_size == 0:
        raise InputError(f"{path.name} is empty (0 bytes).")
    reader = _open_reader(path)
    try:
        meta = reader.get_meta_data()
    finally:
        _close_reader(reader)
    width, height = (int(v) for v in meta.get("size", (0, 0)))
    src_fps = float(meta.get("fps") or 0.0)
    if fps is None and not (np.isfinite(src_fps) and src_fps > 0):
        src_fps = DEFAULT_FOLDER_FPS
    n = meta.get("nframes")
    num_frames = int(n) if isinstance(n, (int, float)) and np.isfinite(n) and n > 0 else None
    if num_frames is None and meta.get("duration"):
        num_frames = int(round(float(meta["duration"]) * (fps or src_fps)))
    _check_size(width, height, path.name)
    return VideoInfo(path, width, height, float(fps or src_fps), num_frames, False)


def _open_reader(path: Path, input_params: list[str] | None = None, size: tuple[int, int] | None = None):
    """imageio's FFMPEG reader for `path` (frames scaled to `size` (w, h) if given), with every
    failure turned into an InputError."""
    from imageio.core.request import Request
    from imageio.plugins.ffmpeg import FfmpegFormat
    # The plugin object itself: imageio's lookup refuses names outside its list (.gif among them),
    # though ffmpeg decodes every format our exporter writes.
    plugin = FfmpegFormat("FFMPEG", "ffmpeg video reader", " ".join(VIDEO_EXTENSIONS), "I")
    try:
        reader = plugin.get_reader(Request(str(path), "rI", input_params=input_params or [], size=size))
        _remember_process(reader)
        return reader
    except (OSError, RuntimeError, ValueError, IndexError, KeyError, StopIteration) as err:
        raise InputError(f"{path.name} is not a readable video (ffmpeg: {_short(err)}).") from err


_PROCESSES: dict[int, object] = {}  # id(reader) -> its ffmpeg Popen, kept to close its pipes


def _remember_process(reader) -> None:
    """Note the ffmpeg process of a freshly opened reader (a local of imageio-ffmpeg's frame generator)."""
    frame = getattr(getattr(reader, "_read_gen", None), "gi_frame", None)
    proc = frame.f_locals.get("process") if frame is not None else None
    if proc is not None:
        _PROCESSES[id(reader)] = proc


def _close_reader(reader) -> None:
    """Close an imageio ffmpeg reader and the pipes of its ffmpeg process (imageio stops the process but
    leaves its pipes open)."""
    proc = _PROCESSES.pop(id(reader), None)
    try:
        reader.close()
    finally:
        if proc is not None:
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None:
                    try:
                        pipe.close()
                    except OSError:
                        pass
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def _short(err: Exception) -> str:
    """One line from an imageio/ffmpeg error: its first line, plus ffmpeg's last complaint."""
    text = str(err)
    head, _, stderr = text.partition("=== stderr ===")
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and not ln.lstrip().startswith(
        ("ffmpeg version", "built with", "configuration:", "lib", "Input #", "Duration", "Stream", "Metadata"))]
    msg = " ".join(head.split())
    if lines:
        msg = f"{msg}: {lines[-1]}" if msg else lines[-1]
    return msg if len(msg) <= 200 else msg[:197] + "..."


def frame_selection(info: VideoInfo, start: float | None = None, end: float | None = None,
                    stride: int = 1) -> FrameSelection:
    """Turn seconds and a stride into the source frame indices a clip keeps."""
    if int(stride) != stride or stride < 1:
        raise InputError(f"Frame stride must be a whole number >= 1, got {stride}.")
    s = 0.0 if start is None else float(start)
    if not np.isfinite(s) or s < 0:
        raise InputError(f"Start time must be 0 or later, got {start}.")
    first = int(np.ceil(s * info.fps - 1e-6))
    stop = None
    if end is not None:
        if not np.isfinite(end) or end <= s:
            raise InputError(f"End time ({end}) must be after the start time ({s}).")
        stop = int(np.ceil(float(end) * info.fps - 1e-6))
    # Container frame counts can be one off, so only clearly impossible starts are refused here.
    if info.num_frames is not None and first > info.num_frames:
        dur = info.num_frames / info.fps
        raise InputError(f"The start time {s:.2f} s is past the end of the clip ({dur:.2f} s).")
    return FrameSelection(first, stop, int(stride))


def working_size(info: VideoInfo, max_side: int | None) -> tuple[int, int]:
    """(w, h) the frames are decoded at: the source size, shrunk (aspect kept, even sides) so the
    long side is at most `max_side`."""
    if max_side is None or max(info.width, info.height) <= max_side:
        return info.width, info.height
    s = max_side / max(info.width, info.height)
    return max(2, int(round(info.width * s / 2)) * 2), max(2, int(round(info.height * s / 2)) * 2)


def iter_frames(info: VideoInfo, selection: FrameSelection, max_side: int | None = None
                ) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (source frame index, [h,w,3] uint8 frame) for every kept frame, in order.

    Frames are scaled down (by ffmpeg for videos) so the long side is at most `max_side`; see
    `working_size`.
    Raises:
        InputError: when decoding fails part-way (truncated or corrupt file).
    """
    size = working_size(info, max_side)
    scaled = size != (info.width, info.height)
    if info.is_folder:
        files = list_image_files(info.path)
        stop = len(files) if selection.stop is None else min(selection.stop, len(files))
        for k in range(selection.first, stop, selection.stride):
            img = _read_image(files[k])
            if img.shape[:2] != (info.height, info.width):
                raise InputError(f"Picture {files[k].name} is {img.shape[1]}x{img.shape[0]} pixels but the first one "
                                 f"is {info.width}x{info.height}; all frames of a folder must have one size.")
            if scaled:
                from PIL import Image
                img = np.asarray(Image.fromarray(img).resize(size, Image.Resampling.BILINEAR))
            yield k, img
        return
    # Seek in the container near `first` (fast input seeking, accurate when decoding), then count
    # frames from there. Seek 0.5 s early so keyframe-less seeks can't skip the first kept frame.
    seek_frames = max(0, selection.first - int(round(0.5 * info.fps)))
    seek_s = seek_frames / info.fps
    params = ["-ss", f"{seek_s:.6f}"] if seek_frames > 0 else []
    reader = _open_reader(info.path, params, size if scaled else None)
    k = seek_frames
    try:
        it = iter(reader)
        while selection.stop is None or k < selection.stop:
            try:
                frame = next(it)
            except StopIteration:
                break
            except (IndexError, RuntimeError, OSError, ValueError) as err:
                raise InputError(f"{info.path.name} could not be decoded past frame {k} "
                                 f"(the file may be truncated or corrupt: {_short(err)}).") from err
            if selection.keeps(k):
                yield k, np.ascontiguousarray(np.asarray(frame)[..., :3], dtype=np.uint8)
            k += 1
    finally:
        _close_reader(reader)


def read_frames(path: str | Path, indices: list[int] | np.ndarray, fps: float | None = None,
                max_side: int | None = None) -> list[np.ndarray]:
    """Random access for a check view: [h,w,3] uint8 source frames at the given source indices.

    Decodes from the earliest wanted frame to the last one (a seek, then one pass).
    """
    info = probe(path, fps)
    wanted = sorted({int(i) for i in indices})
    if not wanted:
        return []
    found: dict[int, np.ndarray] = {}
    sel = FrameSelection(wanted[0], wanted[-1] + 1, 1)
    want = set(wanted)
    for k, frame in iter_frames(info, sel, max_side):
        if k in want:
            found[k] = frame
    missing = [i for i in wanted if i not in found]
    if missing:
        raise InputError(f"{info.path.name} has no frame {missing[0]}.")
    return [found[int(i)] for i in indices]
