"""The Qt-free scene model: avatars with their motions, static splats, 4D sequences, and the
current time. The GUI observes it through plain callbacks (`Scene.events`) and never holds
logic that the CLI lacks.
"""
from __future__ import annotations

import copy
import dataclasses
import itertools
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from .avatar import Avatar
from .body.model import BodyModel
from .gaussians import GaussianSet
from .motion.motion import Motion
from .rotations import aa_to_rotmat

Listener = Callable[[str, Any], None]
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


@dataclass(eq=False)  # items are compared by identity (their arrays have no truth value)
class SceneItem:
    """One thing in the scene. Exactly one of `avatar`, `gaussians`, `sequence` is set."""

    name: str
    avatar: Avatar | None = None
    motion: Motion | None = None
    gaussians: GaussianSet | None = None
    sequence: Any = None  # core.sequence.GaussianSequence
    placement: Placement = field(default_factory=Placement)
    visible: bool = True
    uid: int = field(default_factory=lambda: next(_ids))

    @property
    def kind(self) -> str:
        return "avatar" if self.avatar is not None else "sequence" if self.sequence is not None else "splats"

    @property
    def duration(self) -> float:
        if self.motion is not None:
            return self.motion.duration
        if self.sequence is not None:
            return float(self.sequence.duration)
        return 0.0

    @property
    def fps(self) -> float | None:
        if self.motion is not None:
            return self.motion.fps
        if self.sequence is not None:
            return float(self.sequence.fps)
        return None

    def pose_at(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """([55,3] pose, [3] transl) at time t (rest pose without a motion)."""
        if self.motion is None:
            return np.zeros((55, 3), np.float32), np.zeros(3, np.float32)
        return self.motion.pose_at(min(t, self.motion.duration))

    def skinning(self, body: BodyModel, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For GPU skinning at time t: ([55,4,4] transforms incl. placement, [3] transl, [55,3] joints in world)."""
        assert self.avatar is not None
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

    def gaussians_at(self, body: BodyModel, t: float) -> GaussianSet | None:
        """The item's Gaussians in world space at time t (CPU skinning for avatars)."""
        if not self.visible:
            return None
        if self.avatar is not None:
            pose, transl = self.pose_at(t)
            g = self.avatar.posed(body, pose, transl)
        elif self.sequence is not None:
            g = self.sequence[self.sequence.frame_at(t)]
        else:
            g = self.gaussians
        if g is None or self.placement.is_identity():
            return g
        m = self.placement.matrix()
        return g.transformed(m[:3, :3] / self.placement.scale, m[:3, 3], self.placement.scale)


class Scene:
    """Avatars, motions, splats and sequences on one timeline.

    Events emitted (name, payload): "items" (list changed), "item" (SceneItem changed),
    "selection" (SceneItem | None), "time" (float seconds).
    """

    def __init__(self, body: BodyModel | None = None, smplx_path: str | None = None) -> None:
        self._body = body
        self.smplx_path = smplx_path
        self.items: list[SceneItem] = []
        self.selected: SceneItem | None = None
        self.time = 0.0
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
    def add(self, item: SceneItem, select: bool = True) -> SceneItem:
        self.items.append(item)
        self.events.emit("items", self.items)
        if select:
            self.select(item)
        return item

    def remove(self, item: SceneItem) -> None:
        if item in self.items:
            self.items.remove(item)
            if self.selected is item:
                self.select(self.items[-1] if self.items else None)
            self.events.emit("items", self.items)

    def select(self, item: SceneItem | None) -> None:
        self.selected = item
        self.events.emit("selection", item)

    def changed(self, item: SceneItem) -> None:
        """Call after mutating an item (motion replaced, placement moved, visibility)."""
        self.events.emit("item", item)

    def set_motion(self, item: SceneItem, motion: Motion | None) -> None:
        item.motion = motion
        self.changed(item)
        self.set_time(min(self.time, self.duration))

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
    def gaussians_at(self, t: float | None = None) -> GaussianSet:
        """Everything visible at time t (default: now), concatenated, world space."""
        t = self.time if t is None else t
        sets = [g for g in (i.gaussians_at(self.body_for(i), t) for i in self.items) if g is not None and len(g)]
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
