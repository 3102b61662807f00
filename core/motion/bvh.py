"""BVH files: parser, writer and Euler-angle conversions.

A BVH joint's rotation channels are intrinsic Euler angles in degrees, applied in the order the
channels are listed: "Zrotation Xrotation Yrotation" means R = Rz @ Rx @ Ry. Position channels,
when a joint has them, replace that joint's OFFSET component for that axis (Blender and most tools
read the root this way). In the rest pose (all channels zero) every joint frame is world-aligned.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..rotations import euler_to_rotmat

POSITION_CHANNELS = ("Xposition", "Yposition", "Zposition")
ROTATION_CHANNELS = ("Xrotation", "Yrotation", "Zrotation")
_CHANNEL_LOOKUP = {c.lower(): c for c in POSITION_CHANNELS + ROTATION_CHANNELS}
EULER_ORDERS = ("XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX")


# ---------------------------------------------------------------------------------------------- data
@dataclass
class BvhSkeleton:
    """A BVH hierarchy.

    Attributes:
        names: [J] joint names; parents: [J] parent index (-1 for roots; parents come first);
        offsets: [J,3] OFFSET of each joint from its parent (file units);
        channels: per joint, its channel names in file order (canonical spelling, e.g. "Zrotation");
        end_sites: joint index -> [3] offset of its End Site.
    """

    names: list[str]
    parents: np.ndarray
    offsets: np.ndarray
    channels: list[tuple[str, ...]]
    end_sites: dict[int, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.parents = np.asarray(self.parents, np.int64)
        self.offsets = np.asarray(self.offsets, np.float64).reshape(-1, 3)
        if not (len(self.names) == len(self.parents) == len(self.offsets) == len(self.channels)):
            raise InputError("BVH skeleton: names, parents, offsets and channels differ in length.")
        for j, p in enumerate(self.parents):
            if p >= j:
                raise InputError("BVH skeleton: every joint must come after its parent.")

    @property
    def num_joints(self) -> int:
        return len(self.names)

    @property
    def num_channels(self) -> int:
        return sum(len(c) for c in self.channels)

    def channel_starts(self) -> np.ndarray:
        """[J] first column of each joint's channels in a frame row."""
        counts = np.array([len(c) for c in self.channels], np.int64)
        return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def children(self, j: int) -> list[int]:
        return [int(c) for c in np.flatnonzero(self.parents == j)]

    def rotation_order(self, j: int) -> str:
        """Euler order of joint j's rotation channels, e.g. "ZXY" ("" if it has none)."""
        return "".join(c[0] for c in self.channels[j] if c in ROTATION_CHANNELS)

    def rest_positions(self) -> np.ndarray:
        """[J,3] joint positions in the rest pose (all channels zero, root offsets included)."""
        pos = np.zeros((self.num_joints, 3))
        for j, p in enumerate(self.parents):
            pos[j] = self.offsets[j] + (pos[p] if p >= 0 else 0.0)
        return pos


@dataclass
class BvhClip:
    """A skeleton plus its motion: `values` [T,C] channel values in file order, `frame_time` seconds."""

    skeleton: BvhSkeleton
    values: np.ndarray
    frame_time: float
    name: str = "bvh"

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, np.float64)
        if self.values.ndim != 2 or self.values.shape[1] != self.skeleton.num_channels:
            raise InputError(f"BVH motion has shape {self.values.shape}; expected (frames, {self.skeleton.num_channels}).")
        if self.values.shape[0] == 0:
            raise InputError("BVH file has no frames.")
        if not np.all(np.isfinite(self.values)):
            raise InputError("BVH motion contains NaN or infinite values.")
        if not (math.isfinite(self.frame_time) and self.frame_time > 0):
            raise InputError(f"BVH frame time must be positive, got {self.frame_time}.")

    @property
    def num_frames(self) -> int:
        return int(self.values.shape[0])

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    def _joint_values(self, j: int) -> tuple[tuple[str, ...], np.ndarray]:
        start = self.skeleton.channel_starts()[j]
        chans = self.skeleton.channels[j]
        return chans, self.values[:, start:start + len(chans)]

    def local_rotations(self) -> np.ndarray:
        """[T,J,3,3] each joint's rotation relative to its parent."""
        t, sk = self.num_frames, self.skeleton
        out = np.broadcast_to(np.eye(3), (t, sk.num_joints, 3, 3)).copy()
        for j in range(sk.num_joints):
            chans, vals = self._joint_values(j)
            cols = [i for i, c in enumerate(chans) if c in ROTATION_CHANNELS]
            if cols:
                out[:, j] = euler_to_rotmat(vals[:, cols], "".join(chans[i][0] for i in cols))
        return out

    def local_translations(self) -> np.ndarray:
        """[T,J,3] each joint's offset from its parent: OFFSET, with position channels replacing axes."""
        t, sk = self.num_frames, self.skeleton
        out = np.broadcast_to(sk.offsets, (t, sk.num_joints, 3)).copy()
        for j in range(sk.num_joints):
            chans, vals = self._joint_values(j)
            for i, c in enumerate(chans):
                if c in POSITION_CHANNELS:
                    out[:, j, "XYZ".index(c[0])] = vals[:, i]
        return out

    def global_transforms(self) -> tuple[np.ndarray, np.ndarray]:
        """([T,J,3,3] world rotations, [T,J,3] world joint positions)."""
        local_r, local_t = self.local_rotations(), self.local_translations()
        rot = np.empty_like(local_r)
        pos = np.empty_like(local_t)
        for j, p in enumerate(self.skeleton.parents):
            if p < 0:
                rot[:, j], pos[:, j] = local_r[:, j], local_t[:, j]
            else:
                rot[:, j] = rot[:, p] @ local_r[:, j]
                pos[:, j] = pos[:, p] + (rot[:, p] @ local_t[:, j, :, None])[..., 0]
        return rot, pos


# ---------------------------------------------------------------------------------------------- Euler
def _axes(order: str) -> tuple[int, int, int, float]:
    order = order.upper()
    if order not in EULER_ORDERS:
        raise ValueError(f"unsupported Euler order {order!r}")
    i, j, k = ("XYZ".index(a) for a in order)
    even = (i, j, k) in ((0, 1, 2), (1, 2, 0), (2, 0, 1))
    return i, j, k, (1.0 if even else -1.0)


def rotmat_to_euler(m: np.ndarray, order: str) -> np.ndarray:
    """[...,3,3] rotations -> [...,3] intrinsic Euler angles in degrees, inverse of `euler_to_rotmat`.

    The middle angle lies in [-90°, 90°]; at gimbal lock the last angle is set to zero.
    """
    m = np.asarray(m, np.float64)
    i, j, k, s = _axes(order)
    sin_b = np.clip(s * m[..., i, k], -1.0, 1.0)
    b = np.arcsin(sin_b)
    a = np.arctan2(-s * m[..., j, k], m[..., k, k])
    c = np.arctan2(-s * m[..., i, j], m[..., i, i])
    locked = np.abs(sin_b) > 1 - 1e-10
    if np.any(locked):
        a = np.where(locked, np.arctan2(s * m[..., k, j], m[..., j, j]), a)
        c = np.where(locked, 0.0, c)
    return np.degrees(np.stack([a, b, c], axis=-1))


def continuous_euler(m: np.ndarray, order: str) -> np.ndarray:
    """[T,...,3,3] -> [T,...,3] Euler degrees without jumps between frames.

    Per frame it picks the closer of the two equivalent solutions (a, b, c) and
    (a+180, 180-b, c+180), then unwraps each angle by multiples of 360.
    """
    first = rotmat_to_euler(m, order)
    second = first + np.array([180.0, 0.0, 180.0])
    second[..., 1] = 180.0 - first[..., 1]
    out = np.empty_like(first)
    out[0] = first[0]
    for t in range(1, first.shape[0]):
        prev = out[t - 1]
        best = None
        for cand in (first[t], second[t]):
            cand = cand + 360.0 * np.round((prev - cand) / 360.0)
            dist = np.abs(cand - prev).sum(axis=-1, keepdims=True)
            if best is None:
                best, best_dist = cand, dist
            else:
                best = np.where(dist < best_dist, cand, best)
                best_dist = np.minimum(dist, best_dist)
        out[t] = best
    return out


# ---------------------------------------------------------------------------------------------- parse
class _Tokens:
    """Tokens of the HIERARCHY part, each with its line number."""

    def __init__(self, lines: list[str], source: str) -> None:
        self.items: list[tuple[str, int]] = []
        self.source = source
        for no, line in enumerate(lines, 1):
            for tok in re.findall(r"[{}]|[^\s{}]+", line):
                self.items.append((tok, no))
        self.pos = 0

    def error(self, message: str) -> InputError:
        line = self.items[min(self.pos, len(self.items) - 1)][1] if self.items else 0
        return InputError(f"{self.source}: {message} (line {line}).")

    def peek(self) -> str | None:
        return self.items[self.pos][0] if self.pos < len(self.items) else None

    def take(self, what: str = "a value") -> str:
        if self.pos >= len(self.items):
            raise self.error(f"the file ends where {what} was expected")
        tok = self.items[self.pos][0]
        self.pos += 1
        return tok

    def expect(self, word: str) -> None:
        tok = self.take(f"'{word}'")
        if tok.upper() != word.upper():
            self.pos -= 1
            raise self.error(f"expected '{word}' but found '{tok}'")

    def number(self, what: str) -> float:
        tok = self.take(what)
        try:
            value = float(tok)
        except ValueError:
            self.pos -= 1
            raise self.error(f"expected a number for {what} but found '{tok}'") from None
        if not math.isfinite(value):
            self.pos -= 1
            raise self.error(f"{what} is not a finite number")
        return value

    def name_until_brace(self) -> str:
        words = []
        while self.peek() not in (None, "{"):
            words.append(self.take())
        if not words:
            raise self.error("a joint has no name")
        return " ".join(words)


def _parse_joint(tokens: _Tokens, name: str, parent: int, sk: dict) -> None:
    index = len(sk["names"])
    sk["names"].append(name)
    sk["parents"].append(parent)
    tokens.expect("{")
    tokens.expect("OFFSET")
    sk["offsets"].append([tokens.number(f"the OFFSET of '{name}'") for _ in range(3)])
    channels: tuple[str, ...] = ()
    if (tokens.peek() or "").upper() == "CHANNELS":
        tokens.take()
        count = tokens.number(f"the channel count of '{name}'")
        if count != int(count) or not 0 <= count <= 6:
            raise tokens.error(f"joint '{name}' declares {count:g} channels; BVH allows 0 to 6")
        names = []
        for _ in range(int(count)):
            tok = tokens.take(f"a channel name of '{name}'")
            if tok.lower() not in _CHANNEL_LOOKUP:
                tokens.pos -= 1
                raise tokens.error(f"unknown channel '{tok}' on joint '{name}'")
            names.append(_CHANNEL_LOOKUP[tok.lower()])
        if len(set(names)) != len(names):
            raise tokens.error(f"joint '{name}' repeats a channel")
        channels = tuple(names)
    sk["channels"].append(channels)
    while True:
        tok = tokens.take("'}' closing joint '" + name + "'")
        word = tok.upper()
        if tok == "}":
            return
        if word == "JOINT":
            _parse_joint(tokens, tokens.name_until_brace(), index, sk)
        elif word == "END":
            tokens.expect("Site")
            tokens.expect("{")
            tokens.expect("OFFSET")
            sk["end_sites"][index] = np.array([tokens.number(f"the End Site offset of '{name}'") for _ in range(3)])
            tokens.expect("}")
        else:
            tokens.pos -= 1
            raise tokens.error(f"unexpected '{tok}' inside joint '{name}'")


MAX_JOINT_DEPTH = 256


def parse_bvh(text: str, source: str = "BVH") -> BvhClip:
    """Parse BVH text. Raises InputError naming the line for anything malformed or truncated."""
    from ..io.safe import check_text_nesting
    check_text_nesting(text, source, "{", "}", MAX_JOINT_DEPTH)  # the joint parser recurses per level
    lines = text.splitlines()
    motion_line = next((i for i, ln in enumerate(lines) if ln.strip().upper().startswith("MOTION")), None)
    if not lines or not lines[0].strip().upper().startswith("HIERARCHY"):
        first = next((ln.strip() for ln in lines if ln.strip()), "")
        if not first.upper().startswith("HIERARCHY"):
            raise InputError(f"{source} is not a BVH file: it does not start with HIERARCHY.")
    if motion_line is None:
        raise InputError(f"{source}: there is no MOTION section (the file may be truncated).")
    tokens = _Tokens(lines[:motion_line], source)
    tokens.expect("HIERARCHY")
    sk: dict = {"names": [], "parents": [], "offsets": [], "channels": [], "end_sites": {}}
    while tokens.peek() is not None:
        tokens.expect("ROOT")
        _parse_joint(tokens, tokens.name_until_brace(), -1, sk)
    if not sk["names"]:
        raise InputError(f"{source}: the HIERARCHY has no ROOT joint.")
    if len(set(sk["names"])) != len(sk["names"]):
        dup = sorted({n for n in sk["names"] if sk["names"].count(n) > 1})
        raise InputError(f"{source}: joint names repeat ({', '.join(dup)}).")
    skeleton = BvhSkeleton(sk["names"], np.array(sk["parents"]), np.array(sk["offsets"]), sk["channels"],
                           sk["end_sites"])
    frames, frame_time, values = _parse_motion(lines, motion_line, skeleton.num_channels, source)
    return BvhClip(skeleton, values, frame_time, name=Path(source).stem)


def _header_value(line: str, key: str, source: str, line_no: int) -> str:
    head, _, value = line.partition(":")
    if head.strip().lower().replace(" ", "") != key.lower().replace(" ", "") or not value.strip():
        raise InputError(f"{source}: expected '{key}: <value>' (line {line_no}).")
    return value.strip()


def _parse_motion(lines: list[str], motion_line: int, num_channels: int, source: str
                  ) -> tuple[int, float, np.ndarray]:
    rest = [(i + 1, ln) for i, ln in enumerate(lines) if i > motion_line and ln.strip()]
    if len(rest) < 2:
        raise InputError(f"{source}: the MOTION section lacks 'Frames:' and 'Frame Time:' (truncated?).")
    (n1, l1), (n2, l2) = rest[0], rest[1]
    try:
        frames = int(float(_header_value(l1, "Frames", source, n1)))
        frame_time = float(_header_value(l2, "Frame Time", source, n2))
    except (ValueError, OverflowError):
        raise InputError(f"{source}: the frame count or frame time is not a usable number (line {n1}).") from None
    if frames <= 0:
        raise InputError(f"{source} declares {frames} frames; it needs at least one.")
    if not (math.isfinite(frame_time) and frame_time > 0):
        raise InputError(f"{source}: frame time must be a positive number of seconds, got {frame_time}.")
    data = rest[2:]
    if len(data) < frames:
        raise InputError(f"{source} declares {frames} frames but holds {len(data)}: the file is truncated.")
    values = np.empty((frames, num_channels))
    for row, (no, line) in enumerate(data[:frames]):
        parts = line.split()
        if len(parts) != num_channels:
            raise InputError(f"{source}: frame {row + 1} has {len(parts)} values, the hierarchy needs "
                             f"{num_channels} (line {no}).")
        try:
            values[row] = [float(p) for p in parts]
        except ValueError:
            raise InputError(f"{source}: frame {row + 1} holds something that is not a number (line {no}).") from None
        if not np.all(np.isfinite(values[row])):
            raise InputError(f"{source}: frame {row + 1} holds NaN or infinite values (line {no}).")
    return frames, frame_time, values


def decode_text(raw: bytes) -> str:
    """BVH bytes as text: UTF-8 (with or without a BOM), else Latin-1 (older European exporters),
    so joint names such as 'Épaule' or '左腕' are kept, never replaced."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def read_bvh(path: str | Path) -> BvhClip:
    """Read a BVH file (any channel order, any hierarchy)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"BVH file not found: {path}")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise InputError(f"Cannot read {path}: {err.strerror}.") from err
    if b"\x00" in raw[:4096]:
        raise InputError(f"{path.name} is not a BVH file: it is binary.")
    clip = parse_bvh(decode_text(raw), source=path.name)
    clip.name = path.stem
    return clip


# ---------------------------------------------------------------------------------------------- write
def clip_from_motion(skeleton: BvhSkeleton, local_rotations: np.ndarray, local_translations: np.ndarray,
                     frame_time: float, name: str = "bvh") -> BvhClip:
    """Channel values for `skeleton` from [T,J,3,3] local rotations and [T,J,3] local translations.

    Translations are read only for joints with position channels; rotations are written in each
    joint's own channel order, continuous over time.
    """
    t = local_rotations.shape[0]
    values = np.zeros((t, skeleton.num_channels))
    starts = skeleton.channel_starts()
    for j, chans in enumerate(skeleton.channels):
        order = skeleton.rotation_order(j)
        euler = continuous_euler(local_rotations[:, j], order) if order else None
        r = 0
        for i, c in enumerate(chans):
            if c in POSITION_CHANNELS:
                values[:, starts[j] + i] = local_translations[:, j, "XYZ".index(c[0])]
            else:
                values[:, starts[j] + i] = euler[:, r]
                r += 1
    return BvhClip(skeleton, values, frame_time, name)


def _fmt(x: float, precision: int) -> str:
    s = f"{x:.{precision}f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def depth_first_order(skeleton: BvhSkeleton) -> list[int]:
    """Joint indices in the order a BVH file lists them (each joint, then its subtrees)."""
    order: list[int] = []

    def visit(j: int) -> None:
        order.append(j)
        for c in skeleton.children(j):
            visit(c)

    for root in np.flatnonzero(skeleton.parents < 0):
        visit(int(root))
    return order


def format_bvh(clip: BvhClip, precision: int = 6) -> str:
    """BVH text for `clip` (tab-indented hierarchy, one line per frame)."""
    sk = clip.skeleton
    out = ["HIERARCHY"]

    def write_joint(j: int, depth: int) -> None:
        pad = "\t" * depth
        kind = "ROOT" if sk.parents[j] < 0 else "JOINT"
        out.append(f"{pad}{kind} {sk.names[j]}")
        out.append(pad + "{")
        out.append(f"{pad}\tOFFSET " + " ".join(_fmt(v, precision) for v in sk.offsets[j]))
        if sk.channels[j]:
            out.append(f"{pad}\tCHANNELS {len(sk.channels[j])} " + " ".join(sk.channels[j]))
        for c in sk.children(j):
            write_joint(c, depth + 1)
        if j in sk.end_sites:
            out.append(f"{pad}\tEnd Site")
            out.append(pad + "\t{")
            out.append(f"{pad}\t\tOFFSET " + " ".join(_fmt(v, precision) for v in sk.end_sites[j]))
            out.append(pad + "\t}")
        out.append(pad + "}")

    for root in np.flatnonzero(sk.parents < 0):
        write_joint(int(root), 0)
    starts = sk.channel_starts()
    columns = [starts[j] + i for j in depth_first_order(sk) for i in range(len(sk.channels[j]))]
    out += ["MOTION", f"Frames: {clip.num_frames}", f"Frame Time: {clip.frame_time:.8f}"]
    out += [" ".join(_fmt(v, precision) for v in row) for row in clip.values[:, columns]]
    return "\n".join(out) + "\n"


def write_bvh(path: str | Path, clip: BvhClip, precision: int = 6) -> Path:
    """Write `clip` to `path` atomically; returns the path."""
    from ..io.atomic import atomic_path
    path = Path(path)
    text = format_bvh(clip, precision)
    with atomic_path(path, suffix=".bvh") as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
