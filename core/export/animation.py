"""Render an animated avatar (or a 4D sequence) frame by frame: the one path the CLI, the GUI's
export dialog and the demo share.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..avatar import Avatar
from ..body.model import BodyModel
from ..errors import InputError
from ..motion.motion import Motion
from ..render.base import Camera, Renderer, SkinnedRenderer

CameraMode = Literal["fixed", "turntable", "follow"]


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


class AvatarAnimation:
    """Frame source for an avatar driven by a motion (Y-up world motion expected)."""

    def __init__(self, avatar: Avatar, motion: Motion, body: BodyModel, renderer: Renderer,
                 settings: AnimationSettings | None = None) -> None:
        self.avatar, self.motion, self.body, self.renderer = avatar, motion, body, renderer
        self.settings = settings or AnimationSettings()
        self.settings.validate()
        end = self.motion.duration if self.settings.end is None else min(self.settings.end, self.motion.duration)
        start = max(0.0, self.settings.start)
        if end <= start:
            raise InputError(f"The time range {start:.2f}..{end:.2f} s is empty.")
        self.start, self.end = start, end
        self.num_frames = max(1, int(round((end - start) * self.settings.fps)))
        self._times = start + np.arange(self.num_frames) / self.settings.fps
        self._bounds = self._motion_bounds()
        self._handle = None  # device-side avatar for renderers that skin on the GPU

    def time_of(self, i: int) -> float:
        return float(self._times[i])

    def pose(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        return self.motion.pose_at(self.time_of(i))

    def _motion_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Box around the avatar over the whole range (from posed joints, padded by the avatar's extent)."""
        idx = np.linspace(0, self.num_frames - 1, min(self.num_frames, 60)).round().astype(int)
        poses = np.stack([self.pose(i)[0] for i in idx])
        transl = np.stack([self.pose(i)[1] for i in idx])
        joints, _ = self.avatar.transforms(self.body, poses)
        pts = joints.numpy().reshape(-1, 3) + np.repeat(transl, 55, axis=0)
        pad = 0.25  # metres: hands, feet, hair and clothes reach past the joints
        return pts.min(0) - pad, pts.max(0) + pad

    def camera(self, i: int) -> Camera:
        s = self.settings
        lo, hi = self._bounds
        if s.camera_mode == "fixed":
            return Camera.framing(lo, hi, s.azimuth_deg, s.elevation_deg, s.fov_y_deg, s.width, s.height)
        # Follow and turntable frame one body-sized box around the current root.
        root = self.avatar.transforms(self.body, self.pose(i)[0][None])[0][0, 0].numpy() + self.pose(i)[1]
        half = np.array([0.9, 1.0, 0.9])
        az = s.azimuth_deg
        if s.camera_mode == "turntable":
            az += 360.0 * s.turns * i / max(self.num_frames, 1)
        centre = root if s.camera_mode == "follow" else np.array([(lo[0] + hi[0]) / 2, root[1], (lo[2] + hi[2]) / 2])
        centre = np.array([centre[0], root[1], centre[2]])
        return Camera.framing(centre - half, centre + half, az, s.elevation_deg, s.fov_y_deg, s.width, s.height)

    def render(self, i: int) -> np.ndarray:
        """[H,W,3] uint8 (or [H,W,4] for a transparent background) frame i."""
        full_pose, transl = self.pose(i)
        cam = self.camera(i)
        bg = self.settings.background
        if isinstance(self.renderer, SkinnedRenderer):
            if self._handle is None:
                rig = self.avatar.rig
                self._handle = self.renderer.set_avatar(self.avatar.gaussians, rig.skin_indices, rig.skin_weights,
                                                        rig.rotation_locked)
            _, rel = self.avatar.transforms(self.body, full_pose[None])
            out = self.renderer.render_skinned(self._handle, rel[0], transl, cam, background=bg)
        else:
            out = self.renderer.render(self.avatar.posed(self.body, full_pose, transl), cam, background=bg)
        return out.rgba8() if bg is None else out.rgb8()

    __call__ = render
