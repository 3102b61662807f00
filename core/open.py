"""What is this file, and open it: the one place that answers for every front door.

    classify(path) -> Classified       # cheap: reads at most the first 64 KiB, a zip's member list
    open_path(path, ...) -> Opened     # classify, then read it with the reader of its kind

Kinds (`KINDS`): a photo to reconstruct from, a project (.avsproj), an avatar (a PLY carrying a rig),
plain splats (any splat format, SOG folders included), a motion (every source of `motion.sources`),
a Gaussian sequence (a folder of frames, an L4GM .npz/.npy, a .zip of frames).

Content decides, not the name: an SPZ saved without its extension is splats, a BVH is known by its
`HIERARCHY`, an npz by its members (AMASS arrays, an L4GM (T, N, 14) array, a project.json). Where
following the content would surprise (a picture named .npz would start a reconstruction) or the reader
goes by the name (an L4GM array named .dat), the message says what the file holds and how to name it.
Unknown and damaged files raise `InputError` naming the file once, with what was found.
"""
from __future__ import annotations

import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError, StudioError
from .io.safe import excerpt, file_members
from .motion.sources import motion_source

KINDS = ("photo", "project", "avatar", "splats", "motion", "sequence")
PHOTO_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
PROJECT_SUFFIX = ".avsproj"  # the same as project.PROJECT_SUFFIX (that module imports the scene: heavy)
SEQUENCE_SUFFIXES = (".npz", ".npy", ".zip")
MOTION_PATTERNS = "*.npz *.json *.bvh *.pt *.npy"  # file-dialog patterns; folders open by drag and drop
L4GM_COLUMNS = 14  # xyz, opacity, scale 3, rotation 4, rgb 3 per Gaussian
MOTIONX_COLUMNS = 322
_HEAD_BYTES = 65536
_PICTURE_MAGIC = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"BM", "BMP"),
                  (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"))


@dataclass(frozen=True)
class Classified:
    """What a path holds: `kind` (one of KINDS), `format` (a splat format of io.formats, a motion
    source of motion.sources, or "png", "folder", "l4gm_npz", "avsproj", …) and `target`, the file
    or folder to read (a frame file inside an LHM or Human3R folder resolves to its folder)."""

    kind: str
    format: str
    target: Path


@dataclass
class Opened:
    """A path read by `open_path`: `value` is an Avatar, GaussianSet, Motion, GaussianSequence,
    (Scene, ProjectData) or, for a photo, its [H,W,3|4] uint8 pixels. `notes` say what the read
    repaired or guessed (non-finite splats dropped, an uncertain SH order)."""

    kind: str
    format: str
    path: Path
    value: Any
    notes: list[str] = field(default_factory=list)


def what_opens() -> str:
    """One sentence listing what the studio opens (for messages)."""
    from .io.formats import FORMATS
    splats = ", ".join(sorted({e for f in FORMATS if f.can_read for e in f.extensions if e.count(".") == 1}))
    # compact: it follows a file name and a reason, and the whole message stays a short one (< 400 characters)
    return (f"It opens photos ({', '.join(PHOTO_EXTENSIONS[:2])}, …), splats and avatars ({splats}, SOG folders), "
            f"motions (.npz, .bvh, .pt, .npy, LHM/Human3R folders), sequences (.npz, .npy, .zip, frame folders) "
            f"and projects ({PROJECT_SUFFIX}).")


def _unknown(path: Path, why: str, listing: bool = True) -> InputError:
    return InputError(f"{excerpt(path.name or str(path), 40)} is not a file Avatar Studio can read ({why})."
                      + (" " + what_opens() if listing else ""))


def _picture(head: bytes) -> str | None:
    """"PNG", "JPEG", … for a picture's first bytes, else None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return next((name for magic, name in _PICTURE_MAGIC if head.startswith(magic)), None)


def _read_head(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(_HEAD_BYTES)
    except OSError as err:
        raise InputError(f"Cannot read {excerpt(path.name)}: {err.strerror}.") from err


def _npy_shape(data: bytes, label: str) -> tuple[int, ...] | None:
    """The shape an npy header in `data` states, or None when it is not a readable npy header."""
    from .io.safe import _npy_header
    try:
        return _npy_header(data, label)[0]
    except InputError:
        return None


def _zip_members(path: Path) -> dict[str, zipfile.ZipInfo] | None:
    """The members of a zip archive (npz, project, zip of frames), or None when it is not one."""
    try:
        with zipfile.ZipFile(path) as zf:
            return {i.filename: i for i in file_members(zf)}
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return None


def _member_shape(path: Path, info: zipfile.ZipInfo) -> tuple[int, ...] | None:
    """The shape of an npz member from its npy header (a few hundred bytes are inflated)."""
    try:
        with zipfile.ZipFile(path) as zf, zf.open(info) as fh:
            return _npy_shape(fh.read(4096), info.filename)
    except Exception:  # noqa: BLE001 - damaged members: the reader says why when it is opened
        return None


def _is_l4gm_shape(shape: tuple[int, ...] | None) -> bool:
    return shape is not None and len(shape) in (2, 3) and shape[-1] == L4GM_COLUMNS


def _frame_extensions() -> tuple[str, ...]:
    """Extensions of one-file splat formats a sequence folder holds frames in."""
    from .io.formats import FORMATS
    return tuple(e for f in FORMATS if f.can_read and f.name != "sog" for e in f.extensions)


def _classify_folder(path: Path) -> Classified:
    from .io.formats import sniff_path
    if (path / "meta.json").is_file():
        try:
            return Classified("splats", sniff_path(path), path)
        except StudioError:
            pass
    try:
        fmt, target = motion_source(path)
        return Classified("motion", fmt, target)
    except StudioError:
        pass  # its listing of motion layouts would repeat the one below
    frames = _frame_extensions()
    if (path / "manifest.json").is_file() or any(
            f.name.lower().endswith(frames) and not f.name.startswith(".") for f in path.iterdir() if f.is_file()):
        return Classified("sequence", "folder", path)
    raise InputError(f"The folder {excerpt(path.name or str(path), 100)} holds nothing Avatar Studio can read: "
                     f"no splat frames ({', '.join(frames)}), no motion layout (LHM, Human3R, GVHMR) and no SOG "
                     "meta.json.")


def _classify_zip(path: Path, members: dict[str, zipfile.ZipInfo]) -> Classified:
    """A zip archive by its members: a project, an AMASS motion, an L4GM sequence or a zip of frames."""
    lower = path.name.lower()
    names = set(members)
    if "project.json" in names or lower.endswith(PROJECT_SUFFIX):
        return Classified("project", "avsproj", path)
    if "poses.npy" in names and "trans.npy" in names:
        return _named(Classified("motion", "amass", path), ".npz", "an AMASS motion")
    if path.parent.name == "smpl" and lower.endswith(".npz"):  # one Human3R frame: the whole folder opens
        fmt, target = motion_source(path)
        return Classified("motion", fmt, target)
    if any(n.endswith(".npy") and _is_l4gm_shape(_member_shape(path, i)) for n, i in members.items()):
        return _named(Classified("sequence", "l4gm_npz", path), ".npz", "an L4GM Gaussian sequence")
    frames = _frame_extensions()
    if any(n.lower().endswith(frames) for n in names):
        return _named(Classified("sequence", "zip", path), ".zip", "a zip of splat frames")
    found = ", ".join(excerpt(n, 30) for n in sorted(names)[:4]) + (", …" if len(names) > 4 else "") or "nothing"
    # the members say what it holds; the listing of what opens would make the message too long to read
    raise _unknown(path, f"a zip archive holding {found}; no project, motion or Gaussian sequence", listing=False)


def _named(found: Classified, suffix: str, what: str) -> Classified:
    """`found`, when the file's name lets its reader read it; else a message saying how to name it."""
    if found.target.name.lower().endswith(suffix):
        return found
    raise InputError(f"{excerpt(found.target.name, 100)} holds {what}; name it {suffix} to open it.")


def classify(path: str | Path) -> Classified:
    """What `path` holds, from its content (first 64 KiB, a zip's member list) and, where the content
    cannot tell, its name. Raises InputError for a missing, unreadable or unknown path."""
    path = Path(path).expanduser()
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise InputError(f"File not found: {excerpt(str(path), 200)}") from None
    except OSError as err:
        raise InputError(f"Cannot read {excerpt(path.name)}: {err.strerror}.") from err
    if stat.S_ISDIR(mode):
        return _classify_folder(path)
    if not stat.S_ISREG(mode):
        raise InputError(f"{excerpt(path.name)} is not a regular file (a pipe or device); save it to a file first.")
    head = _read_head(path)
    lower = path.name.lower()
    if not head:
        raise _unknown(path, "the file is empty")
    picture = _picture(head)
    if picture is not None:
        if lower.endswith(PHOTO_EXTENSIONS):
            return Classified("photo", picture.lower(), path)
        raise _unknown(path, f"it holds a {picture} picture; to reconstruct an avatar from it, name it "
                             f".{'jpg' if picture == 'JPEG' else picture.lower()}", listing=False)
    if lower.endswith((".pt", ".pth")):  # torch's own zip layout: GVHMR results
        return Classified("motion", "gvhmr", path)
    from .io.formats import sniff_format
    splat = sniff_format(head, path.name)
    if splat is not None:
        if splat == "ply" and b"property float skin_j0" in head.split(b"end_header", 1)[0]:
            return Classified("avatar", "ply", path)
        return Classified("splats", splat, path)
    if head.lstrip()[:9].upper() == b"HIERARCHY":
        return Classified("motion", "bvh", path)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        members = _zip_members(path)
        if members is None:
            raise _unknown(path, "a damaged zip archive")
        return _classify_zip(path, members)
    if head.startswith(b"\x93NUMPY"):
        shape = _npy_shape(head, excerpt(path.name))
        if shape is not None and len(shape) == 2 and shape[1] == MOTIONX_COLUMNS:
            return Classified("motion", "motionx", path)
        if _is_l4gm_shape(shape):
            return _named(Classified("sequence", "l4gm_npy", path), ".npy", "an L4GM Gaussian sequence")
        if shape is None:
            raise _unknown(path, "a .npy array whose header is damaged", listing=False)
        raise _unknown(path, f"an array of shape {excerpt(shape)}; a Motion-X motion is (T, {MOTIONX_COLUMNS}) "
                             f"and an L4GM sequence (T, N, {L4GM_COLUMNS})")
    if lower.endswith(".json"):
        try:
            fmt, target = motion_source(path)
            return Classified("motion", fmt, target)
        except StudioError:
            raise _unknown(path, "a JSON file that is not an LHM motion frame, a SOG meta.json or glTF") from None
    if lower.endswith(PROJECT_SUFFIX):
        raise InputError(f"{excerpt(path.name, 100)} is not an Avatar Studio project (it is not a zip archive); "
                         "the file may be damaged or incomplete.")
    suffix = path.suffix.lower()
    raise _unknown(path, f"unknown content for a '{excerpt(suffix, 12)}' file" if suffix else "unknown content")


def open_path(path: str | Path, *, body: Any = None, playable: bool = False, fps: float | None = None,
              up: str | None = None, strict: bool = False, sh_order: str | None = None,
              scene: Any = None) -> Opened:
    """Classify `path` and read it with the reader of its kind.

    body: the avatar's `BodyModel` for motions (BVH retargeting, Human3R head offsets); None: default.
    playable: a motion comes converted to what the renderer plays (Y-up world, flat hands, on the floor).
    fps: a motion's or sequence's frame rate instead of the stored one.
    up, strict, sh_order: splat reading as in `pipeline.load_splats`.
    scene: the `Scene` a project's items are added to (default: a new one).
    """
    found = classify(path)
    kind, fmt, target = found.kind, found.format, found.target
    notes: list[str] = []
    if kind == "photo":
        from .io.images import read_picture
        value: Any = read_picture(target)
    elif kind == "project":
        from .project import load_project
        value = load_project(target, scene)
    elif kind in ("avatar", "splats"):
        from .avatar import Avatar
        from .pipeline import load_splats
        value = load_splats(target, up=up, notes=notes, strict=strict, sh_order=sh_order)
        kind = "avatar" if isinstance(value, Avatar) else "splats"
    elif kind == "motion":
        from .pipeline import load_motion, motion_for_playback
        value = load_motion(target, body, format=fmt, **({"fps": fps} if fps else {}))
        if playable:
            value = motion_for_playback(value, body)
    else:
        from .sequence import load_sequence
        value = load_sequence(target, fps=fps)
    return Opened(kind, fmt, target, value, notes)


__all__ = ["KINDS", "Classified", "Opened", "classify", "open_path", "motion_source", "what_opens", "PHOTO_EXTENSIONS",
           "PROJECT_SUFFIX", "MOTION_PATTERNS"]
