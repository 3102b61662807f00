"""The Qt-free scene model: avatars with their motions, static splats, 4D sequences, and the
current time. The GUI observes it through plain callbacks (`Scene.events`) and never holds
logic that the CLI lacks.
"""
from __future__ import annotations

import copy
import dataclasses
import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Protocol, runtime_checkable

import numpy as np
import torch

from .avatar import Avatar
from .body.model import BodyModel
from .gaussians import GaussianSet
from .motion.motion import Motion
from .rotations import aa_to_rotmat

Listener = Callable[[str, Any], None]
NEIGHBOUR_GAP_M = 0.25  # space left between a new avatar and the one beside it
_ids = itertools.count(1)


class EventEmitter:
    """Minimal observer list: `connect(fn)`, `emit(name, payload)`; fn(name, payload)."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def connect(self, fn: Listener) -> None:
        self._listeners.append(fn)

    def disconnect(self, fn: Listener) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def emit(self, name: str, payload: Any = None) -> None:
        for fn in list(self._listeners):
            fn(name, payload)


@dataclass
class Placement:
    """Per-item world transform: yaw about +Y (degrees), then translation (metres), uniform scale."""

    translation: np.ndarray = field(default_factory=lambda: np.zeros(3, np.float32))
    yaw_deg: float = 0.0
    scale: float = 1.0

    def matrix(self) -> np.ndarray:
        """[4,4] world matrix."""
        m = np.eye(4, dtype=np.float32)
        m[:3, :3] = self.scale * aa_to_rotmat(np.array([0.0, np.radians(self.yaw_deg), 0.0]))
        m[:3, 3] = self.translation
        return m

    def is_identity(self) -> bool:
        return self.yaw_deg == 0 and self.scale == 1 and not np.any(self.translation)


@runtime_checkable
class Timeline(Protocol):
    """What every timed thing in the scene answers: its length, its own frame rate (None: none),
    and which of its frames shows at time t (an index clamped to the clip, 0 for a still)."""

    @property
    def duration(self) -> float: ...

    @property
    def fps(self) -> float | None: ...

    def frame_at(self, t: float) -> int: ...


@dataclass(eq=False)  # items are compared by identity (their arrays have no truth value)
class SceneItem:
    """What every scene item has: a name, a world placement, visibility, an id, and a revision that
    the scene bumps whenever the item changes (caches key on (uid, revision); `content_revision` skips
    placement and name changes: what the item shows in its own frame). The kinds below add
    their body; the body attributes of the other kinds read None, so `item.avatar is not None`
    and `isinstance(item, AvatarItem)` say the same."""

    name: str
    placement: Placement = field(default_factory=Placement, kw_only=True)
    visible: bool = field(default=True, kw_only=True)
    uid: int = field(default_factory=lambda: next(_ids), kw_only=True)
    revision: int = field(default=0, kw_only=True)
    content_revision: int = field(default=0, kw_only=True)  # bumped with revision, except by moves and renames

    kind: ClassVar[str] = ""
    avatar: ClassVar[Avatar | None] = None
    motion: ClassVar[Motion | None] = None
    gaussians: ClassVar[GaussianSet | None] = None
    sequence: ClassVar[Any] = None

    @property
    def duration(self) -> float:
        return 0.0

    @property
    def fps(self) -> float | None:
        return None

    def frame_at(self, t: float) -> int:
        return 0

    def local_gaussians_at(self, body: BodyModel, t: float) -> GaussianSet:
        """The item's Gaussians at time t before its placement."""
        raise NotImplementedError

    def gaussians_at(self, body: BodyModel, t: float) -> GaussianSet | None:
        """The item's Gaussians in world space at time t (CPU skinning for avatars); None while hidden."""
        if not self.visible:
            return None
        g = self.local_gaussians_at(body, t)
        if g is None or self.placement.is_identity():
            return g
        m = self.placement.matrix()
        return g.transformed(m[:3, :3] / self.placement.scale, m[:3, 3], self.placement.scale)


@dataclass(eq=False)
class AvatarItem(SceneItem):
    """A rigged avatar, optionally driven by a motion (its timeline)."""

    avatar: Avatar = field()  # type: ignore[misc]  # (field(): no default inherited from the base)
    motion: Motion | None = None  # type: ignore[misc]
    keys: dict[int, list[int]] = field(default_factory=dict)  # joint -> frames keyed by hand (curve markers)
    kind: ClassVar[str] = "avatar"

    @property
    def duration(self) -> float:
        return self.motion.duration if self.motion is not None else 0.0

    @property
    def fps(self) -> float | None:
        return self.motion.fps if self.motion is not None else None

    def frame_at(self, t: float) -> int:
        """The motion frame at or before t (as a sequence counts), clamped; 0 without a motion."""
        if self.motion is None or not math.isfinite(t):
            return 0
        return int(min(max(math.floor(t * self.motion.fps + 1e-6), 0), self.motion.num_frames - 1))

    def pose_at(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """([55,3] pose, [3] transl) at time t (rest pose without a motion)."""
        if self.motion is None:
            return np.zeros((55, 3), np.float32), np.zeros(3, np.float32)
        return self.motion.pose_at(min(t, self.motion.duration))

    def skinning(self, body: BodyModel, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For GPU skinning at time t: ([55,4,4] transforms incl. placement, [3] transl, [55,3] joints in world)."""
        pose, transl = self.pose_at(t)
        joints, rel = self.avatar.transforms(body, pose[None])
        rel = rel[0].numpy()
        world = self.placement.matrix()
        # Placement applies after posing and translation: x_w = P (A x + t).
        rel_w = np.einsum("ab,jbc->jac", world, rel)
        transl_w = world[:3, :3] @ transl
        rel_w[:, :3, 3] += transl_w
        joints_w = (joints[0].numpy() + transl) @ world[:3, :3].T + world[:3, 3]
        return rel_w.astype(np.float32), transl_w.astype(np.float32), joints_w.astype(np.float32)

    def local_gaussians_at(self, body: BodyModel, t: float) -> GaussianSet:
        pose, transl = self.pose_at(t)
        return self.avatar.posed(body, pose, transl)


@dataclass(eq=False)
class SplatsItem(SceneItem):
    """Static Gaussian splats (a still: duration 0, frame 0)."""

    gaussians: GaussianSet = field()  # type: ignore[misc]
    kind: ClassVar[str] = "splats"

    def local_gaussians_at(self, body: BodyModel, t: float) -> GaussianSet:
        return self.gaussians


@dataclass(eq=False)
class SequenceItem(SceneItem):
    """A 4D Gaussian sequence (core.sequence.GaussianSequence): one GaussianSet per frame."""

    sequence: Any = field()  # type: ignore[misc]
    kind: ClassVar[str] = "sequence"

    @property
    def duration(self) -> float:
        return float(self.sequence.duration)

    @property
    def fps(self) -> float | None:
        return float(self.sequence.fps)

    def frame_at(self, t: float) -> int:
        return int(self.sequence.frame_at(t))

    def local_gaussians_at(self, body: BodyModel, t: float) -> GaussianSet:
        return self.sequence[self.frame_at(t)]


class Scene:
    """Avatars, motions, splats and sequences on one timeline.

    Change it through its methods (add, remove, set_motion, set_placement, set_visible, rename,
    set_gaussians, set_time): each emits its event and bumps `revision`.
    Events emitted (name, payload): "items" (list changed), "item" (SceneItem changed),
    "selection" (SceneItem | None), "time" (float seconds).
    """

    def __init__(self, body: BodyModel | None = None, smplx_path: str | None = None) -> None:
        self._body = body
        self.smplx_path = smplx_path
        self.items: list[SceneItem] = []
        self.selected: SceneItem | None = None
        self.time = 0.0
        self.revision = 0  # bumped by every item change (not by time): caches key on it
        self.events = EventEmitter()

    @property
    def body(self) -> BodyModel:
        if self._body is None:
            from .body.model import default_body_model
            self._body = default_body_model()
        return self._body

    def snapshot(self) -> "Scene":
        """A copy for a worker thread: same bodies, copied item records, and no listeners, so a
        worker never reaches the GUI. Items are replaced, never mutated in place, so sharing their
        avatars, motions and sequences is safe."""
        snap = copy.copy(self)
        snap.events = EventEmitter()
        snap.items = [dataclasses.replace(i) for i in self.items]
        pos = next((k for k, i in enumerate(self.items) if i is self.selected), -1)
        snap.selected = snap.items[pos] if pos >= 0 else None
        return snap

    def body_for(self, item: SceneItem) -> BodyModel:
        """The body an item's avatar is rigged on (stand-in or real SMPL-X)."""
        if item.avatar is None or self._body is not None:
            return self.body
        from .body.model import body_for_rig
        rig = item.avatar.rig
        return body_for_rig(rig.body_model, rig.gender, self.smplx_path)

    # ---------------------------------------------------------------- items
    # Every change goes through these methods: each bumps `revision` (and the item's own) and emits
    # its event, so views and undo never edit `items` or fire events by hand.
    def _bump(self, item: SceneItem | None = None, content: bool = True) -> None:
        self.revision += 1
        if item is not None:
            item.revision += 1
            item.content_revision += content

    def add(self, item: SceneItem, select: bool = True, index: int | None = None) -> SceneItem:
        """Put `item` in the scene (at `index`, default last) and emit "items"; selects it unless told not to."""
        if index is None:
            self.items.append(item)
        else:
            self.items.insert(min(max(index, 0), len(self.items)), item)
        self._bump(item)
        self.events.emit("items", self.items)
        if select:
            self.select(item)
        return item

    def remove(self, item: SceneItem) -> int:
        """Take `item` out; returns where it was (-1 when absent), for an undo to put it back there."""
        pos = self.index_of(item)
        if pos >= 0:
            del self.items[pos]
            self._bump(item)
            if self.selected is item:
                self.select(self.items[-1] if self.items else None)
            self.events.emit("items", self.items)
        return pos

    def index_of(self, item: SceneItem) -> int:
        """Position of `item` by identity, or -1."""
        return next((n for n, i in enumerate(self.items) if i is item), -1)

    def select(self, item: SceneItem | None) -> None:
        self.selected = item
        self.events.emit("selection", item)

    def changed(self, item: SceneItem, content: bool = True) -> None:
        """Bump the revisions and emit "item" (the setters below call it; call it after any other edit;
        `content` False for an edit that leaves what the item shows in its own frame alone)."""
        self._bump(item, content)
        self.events.emit("item", item)

    def set_motion(self, item: AvatarItem, motion: Motion | None, keys: dict[int, list[int]] | None = None) -> None:
        """Give an avatar a motion; `keys` (joint -> keyed frames) replaces its key markers when given."""
        item.motion = motion
        if keys is not None:
            item.keys = {int(j): sorted(int(f) for f in frames) for j, frames in keys.items() if frames}
        self.changed(item)
        self.set_time(min(self.time, self.duration))

    @staticmethod
    def keys_with(item: AvatarItem, joint: int, frame: int) -> dict[int, list[int]]:
        """The item's key markers plus (joint, frame): what a key override's motion edit sets."""
        keys = {j: list(f) for j, f in item.keys.items()}
        marks = keys.setdefault(int(joint), [])
        if int(frame) not in marks:
            marks.append(int(frame))
        return keys

    def set_placement(self, item: SceneItem, placement: Placement) -> None:
        item.placement = copy.deepcopy(placement)
        self.changed(item, content=False)

    def set_visible(self, item: SceneItem, visible: bool) -> None:
        item.visible = bool(visible)
        self.changed(item)

    def rename(self, item: SceneItem, name: str) -> None:
        item.name = name
        if isinstance(item, AvatarItem):
            item.avatar.name = name
        self.changed(item, content=False)

    def set_gaussians(self, item: SplatsItem, gaussians: GaussianSet) -> None:
        item.gaussians = gaussians
        self.changed(item)

    def unique_name(self, name: str, exclude: SceneItem | None = None) -> str:
        """`name`, or `name (2)`, `name (3)`... so no two items in the list share a label."""
        taken = {i.name for i in self.items if i is not exclude}
        if name not in taken:
            return name
        n = 2
        while f"{name} ({n})" in taken:
            n += 1
        return f"{name} ({n})"

    def x_extent(self, item: SceneItem) -> tuple[float, float]:
        """(left, right) world x of an item's splats now (robust: ignores the outermost 0.5 %)."""
        g = self.item_gaussians(item)  # None while hidden
        if g is None or not len(g):
            x = float(item.placement.translation[0])
            return x - 0.45, x + 0.45
        lo, hi = np.percentile(g.means[:, 0], [0.5, 99.5])
        return float(lo), float(hi)

    def place_new(self, item: SceneItem) -> bool:
        """Where a new item stands: an unplaced item of a kind already in the scene goes beside the
        rightmost one of its kind with a gap (measured on the splats, T-pose arms included), not inside
        them. Sets its placement; returns whether others of its kind were there."""
        others = [i for i in self.items if i.kind == item.kind]
        if others and item.placement.is_identity():
            right = max(self.x_extent(i)[1] for i in others)
            item.placement.translation = np.array([right + NEIGHBOUR_GAP_M - self.x_extent(item)[0], 0.0, 0.0],
                                                  np.float32)
        return bool(others)

    # ---------------------------------------------------------------- time
    @property
    def duration(self) -> float:
        return max((i.duration for i in self.items), default=0.0)

    @property
    def fps(self) -> float:
        item = self.selected if self.selected is not None and self.selected.fps else None
        item = item or next((i for i in self.items if i.fps), None)
        return float(item.fps) if item is not None else 30.0

    @property
    def num_frames(self) -> int:
        return max(1, int(round(self.duration * self.fps)))

    @property
    def content_key(self) -> tuple:
        """Changes when items come or go or what one shows in its own frame changes (not with moves,
        renames or time): e.g. the floor height is measured again on it."""
        return tuple((i.uid, i.content_revision) for i in self.items)

    def set_time(self, t: float) -> None:
        t = float(np.clip(t, 0.0, max(self.duration, 0.0)))
        if t != self.time:
            self.time = t
            self.events.emit("time", t)

    def set_frame(self, frame: int) -> None:
        self.set_time(frame / self.fps)

    @property
    def frame(self) -> int:
        return int(round(self.time * self.fps))

    # ---------------------------------------------------------------- content
    def item_gaussians(self, item: SceneItem, t: float | None = None) -> GaussianSet | None:
        """One item's world-space Gaussians at time t (default: now), posed on its own body; None while hidden."""
        return item.gaussians_at(self.body_for(item), self.time if t is None else t)

    def gaussians_at(self, t: float | None = None) -> GaussianSet:
        """Everything visible at time t (default: now), concatenated, world space."""
        t = self.time if t is None else t
        sets = [g for g in (self.item_gaussians(i, t) for i in self.items) if g is not None and len(g)]
        return GaussianSet.concat(sets) if sets else GaussianSet.empty()

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        g = self.gaussians_at()
        if len(g) == 0:
            return np.array([-0.5, -1.0, -0.5], np.float32), np.array([0.5, 1.0, 0.5], np.float32)
        # Robust bounds: ignore the sparsest 0.5% (floaters).
        lo, hi = np.percentile(g.means, 0.25, axis=0), np.percentile(g.means, 99.75, axis=0)
        return lo.astype(np.float32), hi.astype(np.float32)

    def skeletons(self, t: float | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """[(joints [55,3] world, parents [55])] for visible avatars, for the skeleton overlay."""
        t = self.time if t is None else t
        out = []
        for item in self.items:
            if item.avatar is not None and item.visible:
                _, _, joints = item.skinning(self.body_for(item), t)
                out.append((joints, self.body.parents))
        return out


def torch_threads_for_ui() -> None:
    """Keep torch from starving the GUI thread on small machines."""
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
