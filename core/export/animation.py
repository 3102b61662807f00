"""Render a scene frame by frame into images: the one path the CLI (a one-item scene), the window's
video export and the demo share, drawn by the same scene pass as the viewport.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from ..avatar import Avatar
from ..body.model import BodyModel
from ..errors import InputError
from ..motion.motion import Motion
from ..render.base import Camera, Renderer
from ..render.draw import DrawList, ImageTarget
from ..scene import AvatarItem
from ..scene_pass import ScenePass

if TYPE_CHECKING:
    from ..scene import Scene

CameraMode = Literal["fixed", "turntable", "follow"]
# Metres a posed body reaches past its joints (hands, head top, hair and clothes): pads joint boxes.
JOINT_BOX_PAD = np.array([0.15, 0.22, 0.15])


@dataclass
class AnimationSettings:
    """What to render: output size, fps, the motion's time range, and how the camera moves."""

    width: int = 512
    height: int = 512
    fps: float = 30.0
    start: float = 0.0
    end: float | None = None  # seconds; None = end of the motion
    camera_mode: CameraMode = "fixed"
    azimuth_deg: float = 20.0
    elevation_deg: float = 8.0
    fov_y_deg: float = 35.0
    background: tuple[float, float, float] | None = (1.0, 1.0, 1.0)
    turns: float = 1.0  # turntable revolutions over the clip

    def validate(self) -> None:
        if not (16 <= self.width <= 8192 and 16 <= self.height <= 8192):
            raise InputError(f"Video size {self.width}x{self.height} is out of range (16..8192 pixels per side).")
        if not (0 < self.fps <= 240):
            raise InputError(f"Frame rate {self.fps} is out of range (0..240).")
        if self.camera_mode not in ("fixed", "turntable", "follow"):
            raise InputError(f"Unknown camera mode '{self.camera_mode}'; use fixed, turntable or follow.")


class _Animation:
    """Shared frame timing and camera logic; subclasses provide bounds, root and pixels."""

    def __init__(self, duration: float, settings: AnimationSettings | None) -> None:
        self.settings = settings or AnimationSettings()
        self.settings.validate()
        end = duration if self.settings.end is None else min(self.settings.end, duration)
        start = max(0.0, self.settings.start)
        if end <= start:
            raise InputError(f"The time range {start:.2f}..{end:.2f} s is empty.")
        self.start, self.end = start, end
        self.num_frames = max(1, int(round((end - start) * self.settings.fps)))
        self._times = start + np.arange(self.num_frames) / self.settings.fps

    def time_of(self, i: int) -> float:
        return float(self._times[i])

    def _sample_frames(self, count: int = 60) -> np.ndarray:
        return np.linspace(0, self.num_frames - 1, min(self.num_frames, count)).round().astype(int)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Box around everything over the whole range."""
        raise NotImplementedError

    def root(self, i: int) -> np.ndarray:
        """[3] the point a following camera tracks at frame i."""
        raise NotImplementedError

    def camera(self, i: int) -> Camera:
        s = self.settings
        lo, hi = self._bounds
        if s.camera_mode == "fixed":
            return Camera.framing(lo, hi, s.azimuth_deg, s.elevation_deg, s.fov_y_deg, s.width, s.height)
        az = s.azimuth_deg
        if s.camera_mode == "turntable":
            az += 360.0 * s.turns * i / max(self.num_frames, 1)
            if self._frames_whole_box():
                return self._turntable_camera(az)
        # Follow (and a one-avatar turntable) frame one body-sized box around the current root.
        root = self.root(i)
        half = np.array([0.9, 1.0, 0.9])
        if s.camera_mode == "turntable":
            root = np.array([(lo[0] + hi[0]) / 2, root[1], (lo[2] + hi[2]) / 2])
        return Camera.framing(root - half, root + half, az, s.elevation_deg, s.fov_y_deg, s.width, s.height)

    def _frames_whole_box(self) -> bool:
        """Whether a turntable frames the whole range's box (several items) rather than one body."""
        return False

    def _turntable_camera(self, azimuth_deg: float) -> Camera:
        """A camera circling the centre of the whole range's box at one distance, far enough that the box
        stays whole from every side (so nothing is cropped and the size does not breathe as it turns)."""
        s = self.settings
        if getattr(self, "_turntable_distance", None) is None:
            lo, hi = self._bounds
            self._turntable_distance = max(
                float(np.linalg.norm(Camera.framing(lo, hi, a, s.elevation_deg, s.fov_y_deg, s.width,
                                                    s.height).position - (lo + hi) / 2))
                for a in np.arange(0.0, 360.0, 7.5))
        lo, hi = self._bounds
        d, radius = self._turntable_distance, float(np.linalg.norm(hi - lo)) / 2
        return Camera.orbit((lo + hi) / 2, d, azimuth_deg, s.elevation_deg, fov_y_deg=s.fov_y_deg, width=s.width,
                            height=s.height, near=max(d - 2 * radius, 0.01), far=d + 2 * radius)

    def __call__(self, i: int) -> np.ndarray:
        return self.render(i)


class SceneAnimation(_Animation):
    """Frame source for a scene: every visible avatar with its motion and placement, static splats and
    4D sequences, on one timeline, drawn by the scene pass the viewport uses (`ScenePass` ->
    `renderer.composite` into an `ImageTarget`). The CLI's `animate` and the demo render a one-item scene.

    The box a camera frames comes from the posed joints when the scene shows one avatar (padded by how
    far limbs and clothes reach past them; a following camera tracks its pelvis), else from the posed
    Gaussians.
    """

    def __init__(self, scene: "Scene", renderer: Renderer, settings: AnimationSettings | None = None,
                 duration: float | None = None) -> None:
        self.scene, self.renderer = scene, renderer
        self._pass = ScenePass()
        visible = [item for item in scene.items if item.visible]
        self._item = visible[0] if len(visible) == 1 and isinstance(visible[0], AvatarItem) else None
        total = scene.duration if duration is None else duration
        if total <= 0:  # nothing moves: a still scene, long enough for a turntable
            total = 3.0
        super().__init__(total, settings)
        self._bounds = self.bounds()

    def _frames_whole_box(self) -> bool:
        return sum(1 for item in self.scene.items if item.visible) > 1

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        boxes = [self._frame_bounds(i) for i in self._sample_frames(60 if self._item is not None else 20)]
        return np.min([b[0] for b in boxes], 0), np.max([b[1] for b in boxes], 0)

    def _joints(self, i: int) -> np.ndarray:
        """[55,3] world joints of the one avatar at frame i."""
        return self._pass.skinning(self.scene, self._item, self.time_of(i))[1]

    def _frame_bounds(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        if self._item is not None:
            joints = self._joints(i)
            return joints.min(0) - JOINT_BOX_PAD, joints.max(0) + JOINT_BOX_PAD
        g = self.scene.gaussians_at(self.time_of(i))
        if len(g) == 0:
            return np.array([-0.5, -1.0, -0.5]), np.array([0.5, 1.0, 0.5])
        return np.percentile(g.means, 0.25, axis=0), np.percentile(g.means, 99.75, axis=0)

    def root(self, i: int) -> np.ndarray:
        if self._item is not None:
            return self._joints(i)[0]
        lo, hi = self._frame_bounds(i)
        return (lo + hi) / 2

    def draw_list(self, i: int) -> DrawList:
        """Frame i's draw list (the scene pass at the frame's time, with the frame's camera)."""
        return self._pass.draw_list(self.scene, self.time_of(i), self.camera(i))

    def render(self, i: int) -> np.ndarray:
        """[H,W,3] uint8 (or [H,W,4] straight RGBA for a transparent background) frame i."""
        dl = self.draw_list(i)
        target = ImageTarget(dl.camera.width, dl.camera.height, self.settings.background)
        self.renderer.composite(dl, target)
        return target.pixels()


def avatar_scene(avatar: Avatar, motion: Motion | None, body: BodyModel) -> "Scene":
    """A scene holding just `avatar` driven by `motion` (what the CLI and the demo export)."""
    from ..scene import Scene
    scene = Scene(body)
    scene.add(AvatarItem(avatar.name or "avatar", avatar, motion=motion))
    return scene
