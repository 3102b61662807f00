"""`avatar-studio demo`: the whole path on the embedded samples — photo -> avatar -> animation."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from .. import SAMPLE_MOTION, SAMPLE_PHOTO


def run_demo(out_dir: Path, *, photo: str | Path | None = None, motion: str | Path | None = None,
             size: int = 512, renderer: str = "auto", quiet: bool = False) -> dict[str, Path]:
    """Write avatar.ply, demo.mp4 and demo_frame.png into `out_dir`; returns their paths."""
    from ..core.body.model import default_body_model
    from ..core.export.animation import AnimationSettings, SceneAnimation, avatar_scene
    from ..core.export.video import VideoOptions, write_video
    from ..core.io.avatar_file import write_avatar
    from ..core.pipeline import load_motion_for_playback, reconstruct_file
    from ..core.render.rendering import create_renderer
    from .progress import ConsoleProgress

    out_dir.mkdir(parents=True, exist_ok=True)
    photo = Path(photo) if photo else SAMPLE_PHOTO
    motion_path = Path(motion) if motion else SAMPLE_MOTION
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, file=sys.stderr))
    t0 = time.perf_counter()

    prog = ConsoleProgress("reconstruct", quiet)
    avatar = reconstruct_file(photo, backend="template", progress=prog.stage).avatar
    avatar_path = write_avatar(out_dir / "avatar.ply", avatar)
    prog.done(f"{len(avatar.gaussians):,} Gaussians -> {avatar_path}")

    body = default_body_model()
    motion_obj = load_motion_for_playback(motion_path, body)
    rend = create_renderer(renderer, notice=lambda msg: say(f"notice: {msg}"), video=True)
    try:
        settings = AnimationSettings(width=size, height=size, fps=30.0, camera_mode="fixed", azimuth_deg=15.0)
        anim = SceneAnimation(avatar_scene(avatar, motion_obj, body), rend, settings)
        prog = ConsoleProgress("animate", quiet)
        video = write_video(out_dir / "demo.mp4", anim, anim.num_frames, VideoOptions(30.0, 8.0), progress=prog.frames)
        prog.done(f"{anim.num_frames} frames ({anim.num_frames / 30:.1f} s) -> {video}")
        from PIL import Image
        frame_path = out_dir / "demo_frame.png"
        Image.fromarray(anim.render(anim.num_frames // 3)).save(frame_path)
    finally:
        rend.close()
    say(f"demo: finished in {time.perf_counter() - t0:.1f} s — open {video}")
    return {"avatar": avatar_path, "video": video, "frame": frame_path}
