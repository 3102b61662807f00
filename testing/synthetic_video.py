"""Videos with a known truth: one of our avatars performing a known motion, rendered by our renderer.

Used by the motion-capture tests and `tests/bench/bench_mocap.py`:

    clip = render_clip(avatar, body, motion, camera_for(avatar, body, motion, "front"), "walk.mp4")
    result = capture_motion(clip.path)
    pa_mpjpe(result.fit.joints, clip.joints_camera)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..core.avatar import Avatar
from ..core.motion.motion import Motion
from ..core.render.base import Camera

VIEWS = {"front": 0.0, "three_quarter": 45.0}


@dataclass
class RenderedClip:
    """A rendered video and its truth.

    Attributes:
        path: the video file; camera: the camera it was rendered with; motion: the truth.
        joints_world: [T,22,3] body joints (avatar's betas) in the motion's Y-up world.
        joints_camera: [T,22,3] the same in the camera frame (OpenCV axes).
    """

    path: Path
    camera: Camera
    motion: Motion
    joints_world: np.ndarray
    joints_camera: np.ndarray


def posed_body_joints(avatar: Avatar, body, motion: Motion) -> np.ndarray:
    """[T,22,3] world body joints of `avatar` (its betas) performing `motion`."""
    joints, _ = avatar.transforms(body, motion.full_pose())
    return joints.numpy()[:, :22] + motion.transl[:, None, :]


def camera_for(avatar: Avatar, body, motion: Motion, view: str | float = "front", width: int = 1280,
               height: int = 720, fov_y_deg: float = 40.0, elevation_deg: float = 5.0) -> Camera:
    """A fixed camera that keeps the whole motion in view.

    `view` is "front" (azimuth 0: on +Z, facing the rest pose's front), "three_quarter" (45
    degrees) or an azimuth in degrees.
    """
    az = VIEWS[view] if isinstance(view, str) else float(view)
    joints = posed_body_joints(avatar, body, motion).reshape(-1, 3)
    pad = np.array([0.25, 0.3, 0.25])  # hands, feet, hair reach past the joints
    return Camera.framing(joints.min(0) - pad, joints.max(0) + pad, az, elevation_deg, fov_y_deg, width, height,
                          margin=1.0)


def render_clip(avatar: Avatar, body, motion: Motion, camera: Camera, path: str | Path, *, renderer=None,
                backdrop: np.ndarray | None = None, quality: float = 8.0,
                progress: Callable[[int, int], None] | None = None) -> RenderedClip:
    """Render `motion` on `avatar` through `camera` into a video at the motion's frame rate.

    Args:
        renderer: a `Renderer` (default: a new OpenGL one, closed afterwards).
        backdrop: [H,W,3] float 0..1 picture behind the person (default: a plain light grey).
    """
    from ..core.export.video import VideoOptions, write_video
    own = renderer is None
    if own:
        from ..core.render.rendering import create_renderer
        renderer = create_renderer("gl")
    if backdrop is None:
        backdrop = np.full((camera.height, camera.width, 3), 0.8, np.float32)
    full_pose = motion.full_pose()

    def frame(i: int) -> np.ndarray:
        posed = avatar.posed(body, full_pose[i], motion.transl[i])
        out = renderer.render(posed, camera, background=None)
        a = out.alpha[..., None]
        return (np.clip(out.color * a + backdrop * (1 - a), 0, 1) * 255 + 0.5).astype(np.uint8)

    try:
        write_video(path, frame, motion.num_frames, VideoOptions(motion.fps, quality), progress=progress)
    finally:
        if own:
            renderer.close()
    world = posed_body_joints(avatar, body, motion)
    cam = world @ camera.view[:3, :3].T.astype(np.float64) + camera.view[:3, 3]
    return RenderedClip(Path(path), camera, motion, world, cam)
