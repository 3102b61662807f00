"""Videos with a known truth: one of our avatars performing a known motion, rendered by our renderer.

Used by the motion-capture tests and `tests/bench/bench_mocap.py`:

    clip = render_clip(avatar, body, motion, camera_for(avatar, body, motion, "front"), "walk.mp4")
    result = capture_motion(clip.path)
    pa_mpjpe(result.fit.joints, clip.joints_camera)
"""
from __future__ import annotations

import zlib
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

    skinned = hasattr(renderer, "render_skinned")
    if skinned:  # upload once, send bone transforms per frame (10x faster than posing on the CPU)
        handle = renderer.set_avatar(avatar.gaussians, avatar.rig.skin_indices, avatar.rig.skin_weights,
                                     avatar.rig.rotation_locked)
        _, rel = avatar.transforms(body, full_pose)

    def frame(i: int) -> np.ndarray:
        if skinned:
            out = renderer.render_skinned(handle, rel[i], motion.transl[i], camera, background=None)
        else:
            out = renderer.render(avatar.posed(body, full_pose[i], motion.transl[i]), camera, background=None)
        a = out.alpha[..., None]
        return (np.clip(out.color * a + backdrop * (1 - a), 0, 1) * 255 + 0.5).astype(np.uint8)

    try:
        write_video(path, frame, motion.num_frames, VideoOptions(motion.fps, quality), progress=progress)
    finally:
        if skinned and not own:
            renderer.release_avatar(handle)
        if own:
            renderer.close()
    world = posed_body_joints(avatar, body, motion)
    cam = world @ camera.view[:3, :3].T.astype(np.float64) + camera.view[:3, 3]
    return RenderedClip(Path(path), camera, motion, world, cam)


# ---------------------------------------------------------------------------------------------------
# The held-out set (issue #20): real motion capture on avatars and cameras the solver was not tuned on
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HeldOutClip:
    """One held-out clip: a stretch of a real BVH take, an avatar and a camera.

    Attributes:
        name: file stem of the clip; bvh: file name in `../shared/real-data/motion/`.
        start, seconds: the stretch of the take (seconds), played at 30 frames/s.
        avatar: "photo:<file in ../shared/photos>" (the template reconstructor's avatar of that
            photo) or "synthetic:<seed>:<outfit>" (outfit: "skirt", "dark", "loose" or "as-is").
        azimuth: camera azimuth in degrees (0: in front of the motion's +Z); elevation: degrees.
        height_fraction: standing body height over image height at the centre of the motion's path.
        fov_y: vertical field of view in degrees.
        hard: what makes it hard (printed by the benchmark).
    """

    name: str
    bvh: str
    start: float
    seconds: float
    avatar: str
    azimuth: float
    elevation: float
    height_fraction: float
    fov_y: float = 40.0
    hard: str = ""


HELD_OUT: tuple[HeldOutClip, ...] = (
    HeldOutClip("cmu_turn_around", "fairmotion_cmu_01_01.bvh", 8.3, 3.5, "synthetic:21:skirt", 20, 5, 0.55,
                hard="turning round in place, skirt"),
    HeldOutClip("cmu_jumps_towards", "fairmotion_cmu_01_01.bvh", 18.0, 4.0, "photo:streetwear_black.jpg", 0, 8,
                0.45, hard="jumps towards the camera, dark clothes"),
    HeldOutClip("mocapbank_crouch", "bvhpython_test_mocapbank.bvh", 3.5, 4.0, "photo:elderly_man_library.jpg",
                -30, 5, 0.7, hard="crouch with arms forward, loose clothes"),
    HeldOutClip("pymo_curve_far", "pymo_AV_8Walk_Meredith.bvh", 3.5, 4.0, "photo:woman_bag_hat.png", 0, 10, 0.25,
                fov_y=50.0, hard="walks a curve, turning 180 degrees, far (25 %)"),
    HeldOutClip("hug_near", "opencollar_hug.bvh", 0.0, 4.0, "photo:anime_illustration.jpg", 0, 5, 0.9,
                hard="both arms reach at the camera, near (90 %)"),
    HeldOutClip("kneel", "opencollar_Kneel 1.bvh", 0.0, 4.0, "photo:woman_white_skirt_studio.png", 35, 5, 0.8,
                hard="kneels, thighs towards the camera, skirt"),
    HeldOutClip("mixamo_spin_near", "bvhpython_test_freebvh.bvh", 0.0, 2.3, "synthetic:22:dark", -60, 0, 0.85,
                hard="a full turn in place, dark clothes, near"),
    HeldOutClip("bandai_walk_towards", "bandai2_walk_active_001.bvh", 1.0, 3.5, "synthetic:23:loose", 0, 15, 0.3,
                fov_y=50.0, hard="walks straight at the camera (size doubles), looking down from 15 degrees"),
    HeldOutClip("xia_walk_profile", "dme_xia_neutral_01_000.bvh", 0.0, 2.7, "synthetic:24:skirt", 90, 5, 0.45,
                hard="walk in profile, legs cross, skirt"),
    HeldOutClip("bandai_walk_away", "bandai1_walk_normal_001.bvh", 1.0, 3.5, "synthetic:25:dark", 150, 5, 0.35,
                hard="walks away, seen from behind"),
)
HELD_OUT_FPS = 30.0
# Real-capture clips in the *tuning* set (other takes or other stretches than HELD_OUT's, other
# subjects and cameras): settings may be chosen on these, never on HELD_OUT.
TUNING_REAL: tuple[HeldOutClip, ...] = (
    HeldOutClip("tune_cmu_jumps_side", "fairmotion_cmu_01_01.bvh", 0.5, 3.5, "synthetic:31:as-is", 60, 5, 0.5,
                hard="forward jumps seen from the side"),
    HeldOutClip("tune_dme_walk", "dme_blender_example.bvh", 0.0, 2.3, "synthetic:32:skirt", -30, 10, 0.4,
                hard="walk, three-quarter, skirt"),
    HeldOutClip("tune_mocapbank_rise", "bvhpython_test_mocapbank.bvh", 10.5, 3.5, "synthetic:33:dark", 20, 5, 0.75,
                hard="rises from a crouch, dark clothes"),
)


def shared_dir() -> Path:
    """`../shared` beside the repository (real motion files and photos; never committed)."""
    from .. import PACKAGE_DIR
    return Path(PACKAGE_DIR).resolve().parent / "shared"


def held_out_motion(clip: HeldOutClip, body) -> Motion:
    """The clip's stretch of its BVH take, retargeted by our importer, at 30 frames/s, feet on the floor."""
    from ..core.motion.detect import load_playable_motion
    from ..core.motion.edit import resample, trim
    path = shared_dir() / "real-data" / "motion" / clip.bvh
    motion = resample(load_playable_motion(path, body), HELD_OUT_FPS)
    a = int(round(clip.start * HELD_OUT_FPS))
    return trim(motion, a, min(motion.num_frames, a + int(round(clip.seconds * HELD_OUT_FPS))))


def synthetic_outfit(seed: int, outfit: str):
    """A synthetic subject (`reconstruct.synthetic.SubjectSpec`) with a given kind of clothes."""
    from dataclasses import replace as dc_replace

    from . import synthetic as syn
    spec = syn.random_spec(seed)
    dark = syn.Garment((0.06, 0.06, 0.07), (0.12, 0.11, 0.12), "solid", 0.08)
    if outfit == "skirt":
        return dc_replace(spec, bottom_kind="skirt", skirt_flare=1.55, skirt_length=0.85)
    if outfit == "dark":
        return dc_replace(spec, top=dark, bottom=dark, bottom_kind="trousers", sleeve=1.0, shoes=(0.05, 0.05, 0.05))
    if outfit == "loose":  # a wide, knee-long skirt over trousers-coloured legs reads as loose trousers
        return dc_replace(spec, bottom_kind="skirt", skirt_flare=1.35, skirt_length=1.0, sleeve=1.0)
    return spec


def held_out_avatar(key: str, body, num_gaussians: int = 30000) -> Avatar:
    """The avatar a `HeldOutClip.avatar` key names (photos: the template reconstructor, at run time)."""
    kind, _, rest = key.partition(":")
    if kind == "photo":
        from ..core.reconstruct.base import load_image
        from ..core.reconstruct.template import TemplateReconstructor
        image = load_image(shared_dir() / "photos" / rest)
        return TemplateReconstructor(body, num_gaussians=num_gaussians).run(image).avatar
    from . import synthetic as syn
    seed, _, outfit = rest.partition(":")
    return syn.make_avatar(synthetic_outfit(int(seed), outfit or "as-is"), body, num_gaussians)


def camera_at(avatar: Avatar, body, motion: Motion, azimuth: float, elevation: float, height_fraction: float,
              width: int, height: int, fov_y_deg: float = 40.0) -> Camera:
    """A fixed camera aimed at the middle of the motion's path, at the distance where the standing
    body fills `height_fraction` of the image height (never closer than 0.6 m to the nearest joint)."""
    joints = posed_body_joints(avatar, body, motion)                        # [T,22,3]
    rest = body.rest_joints(avatar.rig.betas)[:22]
    stature = float(rest[:, 1].max() - rest[:, 1].min()) + 0.3              # head top and soles past the joints
    centre = 0.5 * (joints.reshape(-1, 3).min(0) + joints.reshape(-1, 3).max(0))
    distance = stature / (2 * height_fraction * np.tan(np.radians(fov_y_deg) / 2))
    az, el = np.radians(azimuth), np.radians(elevation)
    towards = np.array([np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el)])
    reach = float(((joints.reshape(-1, 3) - centre) @ towards).max())
    distance = max(distance, reach + 0.6)
    return Camera.orbit(centre, distance, azimuth, elevation, fov_y_deg=fov_y_deg, width=width, height=height,
                        near=0.05, far=distance + 20.0)


def held_out_rendered(clip: HeldOutClip, body, folder: str | Path, width: int = 1280, height: int = 720, *,
                      renderer=None, avatar: Avatar | None = None) -> RenderedClip:
    """Render a held-out clip into `folder` (`<name>_<width>x<height>.mp4` and a `.truth.npz` beside it),
    or load both when they are already there (rendering is deterministic, so the cache is safe)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    video = folder / f"{clip.name}_{width}x{height}.mp4"
    truth = video.with_suffix(".truth.npz")
    if video.is_file() and truth.is_file():
        return load_rendered(video, truth)
    motion = held_out_motion(clip, body)
    avatar = avatar or held_out_avatar(clip.avatar, body)
    camera = camera_at(avatar, body, motion, clip.azimuth, clip.elevation, clip.height_fraction, width, height,
                       clip.fov_y)
    from . import synthetic as syn
    backdrop = syn.background(height, width, np.random.default_rng(zlib.crc32(clip.name.encode())), "texture")
    rendered = render_clip(avatar, body, motion.replace(betas=avatar.rig.betas), camera, video, renderer=renderer,
                           backdrop=backdrop)
    save_truth(rendered, truth)
    return rendered


def save_truth(clip: RenderedClip, path: str | Path) -> None:
    """Keep a rendered clip's truth (motion, camera, joints) beside its video, atomically."""
    from ..core.io.atomic import atomic_path
    m, c = clip.motion, clip.camera
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, full_pose=m.full_pose(), transl=m.transl, betas=m.betas, fps=m.fps,
                     view=c.view, intrinsics=np.array([c.fx, c.fy, c.cx, c.cy, c.width, c.height]),
                     joints_world=clip.joints_world, joints_camera=clip.joints_camera)


def load_rendered(video: str | Path, truth: str | Path) -> RenderedClip:
    """A `RenderedClip` from a video and the truth `save_truth` wrote."""
    from ..core.motion.motion import POSE_PARTS
    z = np.load(truth)
    pose = z["full_pose"]
    parts = {k: pose[:, a:b].reshape(len(pose), -1) if b - a == 1 else pose[:, a:b] for k, (a, b) in POSE_PARTS.items()}
    motion = Motion(**parts, transl=z["transl"], betas=z["betas"], fps=float(z["fps"]))
    fx, fy, cx, cy, w, h = z["intrinsics"]
    camera = Camera(view=z["view"], fx=float(fx), fy=float(fy), cx=float(cx), cy=float(cy), width=int(w),
                    height=int(h))
    return RenderedClip(Path(video), camera, motion, z["joints_world"], z["joints_camera"])
