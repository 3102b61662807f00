"""What one scene pass hands a back-end: a depth-ordered draw list, and the target it composites into.

`core.scene_pass.ScenePass` turns (scene, time, camera) into a `DrawList`; every back-end implements
`composite(draw_list, target)`, drawing the list far to near over what the target holds. Targets:

- `ImageTarget` (here): a numpy image, for video and image exports;
- the viewport's targets (app/viewport.py): a QPainter over the widget, or an OpenGL framebuffer
  (`FramebufferTarget`), where the GL and CUDA back-ends draw without a read-back.

Back-ends keep their device copies of the draws' sources in an `Uploads` cache keyed by the draw's
`key` and `version`, so a frame uploads nothing that did not change.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Protocol, runtime_checkable

import numpy as np

from ..camera import Camera
from ..gaussians import GaussianSet


@dataclass(eq=False)
class Draw:
    """One thing to composite this frame.

    Attributes:
        key: the scene item's uid; a back-end caches its upload of `source` under it.
        version: changes whenever `source` must be uploaded again.
        depth: camera-space depth of the item's centre (the list draws far to near).
        source: an `Avatar` (skinned by the back-end with `transforms`) or world-space `GaussianSet`.
        transforms: [J,4,4] rest-to-world bone transforms (placement included) for an avatar, else None.
        world: the draw's world-space Gaussians posed on the CPU, for back-ends that cannot skin.
        count: Gaussians drawn.
    """

    key: int
    version: Hashable
    depth: float
    source: Any
    transforms: np.ndarray | None
    world: Callable[[], GaussianSet]
    count: int

    @property
    def skinned(self) -> bool:
        return self.transforms is not None


@dataclass
class DrawList:
    """A frame's draws, far to near, for one camera; plus the skeletons ([(joints [J,3], parents [J])]) of
    the avatars drawn (for overlays) and the Gaussians drawn in all."""

    camera: Camera
    draws: list[Draw] = field(default_factory=list)
    skeletons: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)

    @property
    def splat_count(self) -> int:
        return sum(d.count for d in self.draws)

    @property
    def keys(self) -> set[int]:
        return {d.key for d in self.draws}


@runtime_checkable
class Target(Protocol):
    """Where a back-end composites. `blend` puts [H,W,4] uint8 pixels (rows top first, at the draw list
    camera's size) over what the target holds: premultiplied or straight alpha. `background` is the
    opaque colour an empty target starts from (None: transparent, or already painted by its owner)."""

    background: tuple[float, float, float] | None

    def blend(self, rgba8: np.ndarray, premultiplied: bool) -> None: ...


@runtime_checkable
class FramebufferTarget(Target, Protocol):
    """An OpenGL framebuffer on `ctx` (the GL viewport's offscreen target): the GL back-end draws into
    it, the CUDA back-end blends a texture it filled (`blend_texture`)."""

    ctx: Any
    framebuffer: Any

    def blend_texture(self, texture: Any, premultiplied: bool) -> None: ...


class ImageTarget:
    """A numpy image the draws composite into (exports). The first draw may come already composited over
    the background (`put`, what a back-end renders fastest); later draws blend over it.

    `pixels()` gives [H,W,3] uint8 over an opaque background, or [H,W,4] straight RGBA when transparent.
    """

    def __init__(self, width: int, height: int,
                 background: tuple[float, float, float] | None = (1.0, 1.0, 1.0)) -> None:
        self.width, self.height = int(width), int(height)
        self.background = None if background is None else tuple(float(c) for c in background)
        self._first: Any = None                  # a RenderResult from `put`
        self._premul: np.ndarray | None = None   # [H,W,4] uint8 premultiplied over the background

    @property
    def empty(self) -> bool:
        return self._first is None and self._premul is None

    def put(self, result: Any) -> None:
        """The first draw, rendered over `background` (a `RenderResult`: straight colour when transparent)."""
        if not self.empty:
            raise ValueError("put() takes the first draw only; blend() the others")
        self._first = result

    def _buffer(self) -> np.ndarray:
        if self._premul is not None:
            return self._premul
        if self._first is not None:
            if self.background is None:
                rgba = self._first.rgba8().astype(np.uint16)
                rgba[..., :3] = (rgba[..., :3] * rgba[..., 3:] + 127) // 255
                self._premul = rgba.astype(np.uint8)
            else:
                rgb = self._first.rgb8()
                self._premul = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=-1)
            self._first = None
        else:
            self._premul = np.zeros((self.height, self.width, 4), np.uint8)
            if self.background is not None:
                self._premul[...] = np.round(np.append(np.clip(self.background, 0, 1), 1.0) * 255).astype(np.uint8)
        return self._premul

    def blend(self, rgba8: np.ndarray, premultiplied: bool) -> None:
        """Source-over in 8 bits (as a screen framebuffer blends)."""
        src = np.asarray(rgba8, np.uint8)
        dst = self._buffer()
        a = src[..., 3:].astype(np.uint16)
        colour = src.astype(np.uint16)
        if not premultiplied:
            colour[..., :3] = (colour[..., :3] * a + 127) // 255
        out = colour + (dst.astype(np.uint16) * (255 - a) + 127) // 255
        self._premul = np.minimum(out, 255).astype(np.uint8)

    def pixels(self) -> np.ndarray:
        """[H,W,3] uint8 (opaque background) or [H,W,4] straight RGBA uint8 (transparent)."""
        if self._first is not None:
            return self._first.rgb8() if self.background is not None else self._first.rgba8()
        self._buffer()
        if self.background is not None:
            return np.ascontiguousarray(self._premul[..., :3])
        rgba = self._premul.astype(np.uint32)
        a = rgba[..., 3:]
        rgba[..., :3] = np.where(a > 0, (rgba[..., :3] * 255 + a // 2) // np.maximum(a, 1), 0)
        return np.minimum(rgba, 255).astype(np.uint8)


class Uploads:
    """A back-end's device copies of draw sources, one per draw key, made again when the version changes."""

    def __init__(self) -> None:
        self._entries: dict[int, tuple[Hashable, Any]] = {}

    def handle(self, draw: Draw, upload: Callable[[Draw, Any], Any]) -> Any:
        """The upload of `draw.source`; `upload(draw, previous handle or None)` makes it when missing or stale."""
        entry = self._entries.get(draw.key)
        if entry is not None and entry[0] == draw.version:
            return entry[1]
        handle = upload(draw, entry[1] if entry is not None else None)
        self._entries[draw.key] = (draw.version, handle)
        return handle

    def prune(self, live: set[int], release: Callable[[Any], None] | None = None) -> None:
        """Drop (and release) the uploads of keys no longer drawn."""
        for key in [k for k in self._entries if k not in live]:
            _, handle = self._entries.pop(key)
            if release is not None and handle is not None:
                release(handle)

    def clear(self, release: Callable[[Any], None] | None = None) -> None:
        self.prune(set(), release)


def composite_rendered(renderer: Any, draw_list: DrawList, target: Target) -> None:
    """`composite` for a back-end that only renders GaussianSets (the reference renderer): each draw is
    posed on the CPU, rendered and blended; the first one straight over an empty `ImageTarget`."""
    cam = draw_list.camera
    for n, d in enumerate(draw_list.draws):
        g = d.world()
        if n == 0 and isinstance(target, ImageTarget) and target.empty and len(draw_list.draws) == 1:
            target.put(renderer.render(g, cam, background=target.background))
        else:
            target.blend(renderer.render(g, cam, background=None).rgba8(), premultiplied=False)

