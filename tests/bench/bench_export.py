"""Export speed: render + encode N frames of a 40k-Gaussian avatar to MP4, end to end.

Run: python tests/bench/bench_export.py [--frames 300] [--gaussians 40000] [--sizes 512 1080p] [--avatars demo blobs]
         [--paths cli studio]
Prints frames/s for each size and back-end (--renderers: "auto" is what exports use; on a machine
without a GPU that is the CPU rasterizer, "gl" the GLSL renderer on llvmpipe), encoding with libx264,
for the CLI's `animate` (a one-item scene) and the studio's video export (a snapshot of the window's scene):
both go through the scene pass (`SceneAnimation`).
Not a test: figures depend on the machine; README records them with the machine stated.
"""
from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from avatar_studio.core.motion.amass import load_amass


def body_avatar(n: int, seed: int = 0):
    """A 40k-Gaussian avatar on the embedded body surface, skinned with the surface weights."""
    from avatar_studio.core.avatar import Avatar, Rig
    from avatar_studio.core.body.model import default_body_model
    from avatar_studio.core.gaussians import GaussianSet
    from avatar_studio.core.rotations import normalize_quats
    from avatar_studio.core.skinning import dense_to_sparse_weights
    body = default_body_model()
    rng = np.random.default_rng(seed)
    v, _ = body.shaped()
    f = body.faces
    area = np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1)
    tri = rng.choice(len(f), n, p=area / area.sum())
    b = rng.dirichlet(np.ones(3), n)
    means = np.einsum("nk,nkd->nd", b, v[f[tri]])
    weights = np.einsum("nk,nkj->nj", b, body.weights[f[tri]])
    idx, w = dense_to_sparse_weights(weights, 4)
    rgb = 0.5 + 0.4 * np.sin(means * 7.0 + [0, 2, 4])
    g = GaussianSet.from_rgb(means, normalize_quats(rng.normal(size=(n, 4))), rng.uniform(0.004, 0.012, (n, 3)),
                             np.full(n, 0.9), rgb)
    return Avatar(g, Rig(idx, w)), body


def demo_avatar(n: int):
    """The demo avatar: the sample photo reconstructed by the template back-end with n Gaussians."""
    from avatar_studio.core.body.model import default_body_model
    from avatar_studio import SAMPLE_PHOTO
    from avatar_studio.core.reconstruct.base import load_image
    from avatar_studio.core.reconstruct.factory import create_reconstructor
    return create_reconstructor("template", num_gaussians=n).run(load_image(SAMPLE_PHOTO)).avatar, default_body_model()


AVATARS = {"demo": demo_avatar, "blobs": body_avatar}


def run(frames: int, n: int, size: tuple[int, int], renderer_name: str, avatar_kind: str = "demo",
        path: str = "cli") -> tuple[float, str]:
    from avatar_studio import RESOURCES_DIR
    from avatar_studio.core.export.animation import AnimationSettings, SceneAnimation, avatar_scene
    from avatar_studio.core.scene import AvatarItem, Scene
    from avatar_studio.core.export.video import VideoOptions, write_video
    from avatar_studio.core.motion.motion import Motion
    from avatar_studio.core.render.rendering import create_renderer
    avatar, body = AVATARS[avatar_kind](n)
    motion = load_amass(RESOURCES_DIR / "motions" / "dance.npz")
    renderer = create_renderer(renderer_name, video=True)  # as every export makes it
    try:
        settings = AnimationSettings(width=size[0], height=size[1], fps=30.0, end=frames / 30.0 + 1e-6)
        # Loop the motion if it is shorter than the requested frames.
        reps = int(np.ceil(frames / motion.num_frames))
        fp = np.concatenate([motion.full_pose()] * reps)[:frames]
        tr = np.concatenate([motion.transl] * reps)[:frames]
        motion = Motion.from_full_pose(fp, tr, fps=30.0, up_axis="y")
        if path == "cli":
            anim = SceneAnimation(avatar_scene(avatar, motion, body), renderer, settings)  # as `animate` does
        else:  # what the studio's export dialog renders: a snapshot of the scene
            scene = Scene(body)
            scene.add(AvatarItem("avatar", avatar=avatar, motion=motion))
            anim = SceneAnimation(scene.snapshot(), renderer, settings)
        anim.render(0)  # warm-up: shader compile, upload
        with tempfile.TemporaryDirectory() as tmp:
            t0, c0 = time.perf_counter(), time.process_time()
            write_video(Path(tmp) / "bench.mp4", anim, anim.num_frames, VideoOptions(30.0, 8.0))
            dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        return anim.num_frames / dt, renderer.name, cpu * 1000 / anim.num_frames
    finally:
        renderer.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--gaussians", type=int, default=40000)
    ap.add_argument("--sizes", nargs="+", default=["512", "1080p"])
    ap.add_argument("--renderers", nargs="+", default=["auto", "gl"])
    ap.add_argument("--avatars", nargs="+", default=["demo", "blobs"], choices=sorted(AVATARS),
                    help="demo: the sample photo's template avatar; blobs: random 4-12 mm Gaussians on the body")
    ap.add_argument("--paths", nargs="+", default=["cli", "studio"], choices=["cli", "studio"],
                    help="cli: `avatar-studio animate`; studio: the window's video export")
    args = ap.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; load {os.getloadavg()[0]:.1f}")
    for kind in args.avatars:
        for s in args.sizes:
            size = (1920, 1080) if s == "1080p" else (int(s), int(s))
            for path in args.paths:
                for name in args.renderers:
                    fps, used, cpu_ms = run(args.frames, args.gaussians, size, name, kind, path)
                    print(f"export {args.frames} frames, {kind} avatar, {args.gaussians:,} Gaussians, "
                          f"{size[0]}x{size[1]}, MP4, {path} path, renderer {name} ({used}): {fps:.1f} frames/s, "
                          f"{cpu_ms:.1f} ms process CPU a frame (ffmpeg not counted); load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
