"""The one scene pass for screen and files: (scene, time, camera) -> a depth-ordered `DrawList`.

The viewport (each paint), the window's video export and the CLI's `animate` (a one-item scene) all
draw through it, then hand the list to the back-end's `composite(draw_list, target)`:

- an unscaled avatar is one draw of its `Avatar` with 55 bone transforms (placement included): the
  back-end uploads the avatar once and skins it (GL, CUDA, CPU rasterizer; the reference renderer
  poses it on the CPU through `Draw.world`);
- static splats are one draw of their world-space Gaussians, placed once per item revision;
- sequences and scaled avatars are posed on the CPU at time t.

Draws are ordered far to near by their centre's depth (each item sorts its own Gaussians).
A `ScenePass` remembers skinning and placed splats between frames, keyed on item revisions.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .camera import Camera
from .gaussians import GaussianSet
from .render.draw import Draw, DrawList
from .scene import AvatarItem, Scene, SceneItem, SplatsItem


class ScenePass:
    """Builds a scene's draw list frame after frame, reusing what did not change."""

    def __init__(self) -> None:
        self._skinning: dict[int, tuple[tuple, tuple[np.ndarray, np.ndarray]]] = {}
        self._placed: dict[int, tuple[int, GaussianSet, np.ndarray]] = {}

    def skinning(self, scene: Scene, item: AvatarItem, t: float) -> tuple[np.ndarray, np.ndarray]:
        """(transforms [55,4,4] incl. placement, joints [55,3] world), recomputed only when the pose changes."""
        key = (t, item.revision)
        hit = self._skinning.get(item.uid)
        if hit is None or hit[0] != key:
            transforms, _, joints = item.skinning(scene.body_for(item), t)
            hit = (key, (transforms, joints))
            self._skinning[item.uid] = hit
        return hit[1]

    def _placed_splats(self, item: SplatsItem) -> tuple[GaussianSet, np.ndarray]:
        """(world-space Gaussians, [3] centre) of a static item, placed once per revision."""
        hit = self._placed.get(item.uid)
        if hit is None or hit[0] != item.revision:
            g = item.gaussians
            if not item.placement.is_identity():
                m = item.placement.matrix()
                g = g.transformed(m[:3, :3] / item.placement.scale, m[:3, 3], item.placement.scale)
            lo, hi = item.gaussians.bounds()
            centre = (item.placement.matrix() @ np.append((lo + hi) / 2, 1.0))[:3]
            hit = (item.revision, g, centre)
            self._placed[item.uid] = hit
        return hit[1], hit[2]

    def draw_list(self, scene: Scene, t: float, camera: Camera, *, skeletons: bool = False) -> DrawList:
        """The visible items at time t as draws, far to near, for `camera`. With `skeletons`, every
        visible avatar's joints come along (the overlay); unscaled avatars always bring theirs."""
        view = camera.view

        def depth(p: np.ndarray) -> float:
            return float(view[2, :3] @ p + view[2, 3])

        out = DrawList(camera)
        live: set[int] = set()
        for item in scene.items:
            live.add(item.uid)
            if not item.visible:
                continue
            if isinstance(item, AvatarItem):
                skinned = item.placement.scale == 1.0
                if skinned or skeletons:
                    transforms, joints = self.skinning(scene, item, t)
                    out.skeletons.append((joints, scene.body_for(item).parents))
                if skinned:
                    out.draws.append(Draw(item.uid, ("avatar", item.content_revision), depth(joints[0]), item.avatar,
                                          transforms, _posed(scene, item, t), len(item.avatar.gaussians)))
                    continue
            elif isinstance(item, SplatsItem):
                g, centre = self._placed_splats(item)
                out.draws.append(Draw(item.uid, ("splats", item.revision), depth(centre), g, None,
                                      (lambda g=g: g), len(g)))
                continue
            # sequences and scaled avatars: posed on the CPU for this time
            g = scene.item_gaussians(item, t)
            if g is None or not len(g):
                continue
            out.draws.append(Draw(item.uid, ("posed", item.revision, item.frame_at(t), t), depth(g.means.mean(0)),
                                  g, None, (lambda g=g: g), len(g)))
        for uid in [u for u in self._skinning if u not in live]:
            del self._skinning[uid]
        for uid in [u for u in self._placed if u not in live]:
            del self._placed[uid]
        out.draws.sort(key=lambda d: -d.depth)  # far first; stable for equal depths
        return out


def _posed(scene: Scene, item: SceneItem, t: float) -> Any:
    """A callable posing `item` on the CPU at t (for back-ends that cannot skin)."""
    return lambda: scene.item_gaussians(item, t)


def draw_list(scene: Scene, t: float, camera: Camera, *, skeletons: bool = False) -> DrawList:
    """One frame's draw list without caching (a still, a test); views and exports keep a `ScenePass`."""
    return ScenePass().draw_list(scene, t, camera, skeletons=skeletons)
