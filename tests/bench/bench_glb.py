"""Rigged GLB export on the demo avatar: file size, export time, how closely the baked mesh matches
the Gaussians (our mesh check render, PSNR front/back), and the mesh drawn by three.js in headless
Chromium (an independent glTF renderer) beside our splat render at the same pose and camera.

Run: python tests/bench/bench_glb.py [--avatar A.ply] [--motion M] [--time 1.0] [--texture-size 2048] [--docs]
Without --avatar the sample photo is reconstructed with the template back-end (as `avatar-studio demo`).
three.js: `npm install` in tests/tools; Chromium: `apt-get install -y chromium`. Images go to
tests/bench/output/ (gitignored); --docs also writes the small resources/docs/glb_threejs.png.
Not a test: figures depend on the machine; README records them with the machine stated.
"""
from __future__ import annotations

import argparse
import base64
import functools
import html
import io
import os
import re
import shutil
import subprocess
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "bench" / "output"


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / max(float(np.mean((a - b) ** 2)), 1e-12)))


def threejs_render(glb: Path, camera, t: float) -> np.ndarray | None:
    """[H,W,3] float image of the GLB's meshes drawn by three.js at animation time t, or None."""
    from PIL import Image
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None or not (ROOT / "tests" / "tools" / "node_modules" / "three").is_dir():
        print("three.js render skipped: needs chromium and `npm install` in tests/tools")
        return None
    handler = functools.partial(type("Quiet", (SimpleHTTPRequestHandler,), {"log_message": lambda *a: None}),
                                directory=str(ROOT))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        view = camera.view.astype(np.float64)
        eye = camera.position
        target, up = eye + view[2, :3], -view[1, :3]  # OpenCV rows: camera z forward, y down
        fmt = lambda v: ",".join(f"{x:.6f}" for x in v)  # noqa: E731
        url = (f"http://127.0.0.1:{server.server_port}/tests/tools/render_glb.html?glb=/{glb.relative_to(ROOT)}"
               f"&w={camera.width}&h={camera.height}&t={t}&fov={camera.fov_y_deg:.6f}"
               f"&eye={fmt(eye)}&target={fmt(target)}&up={fmt(up)}")
        run = subprocess.run([chromium, "--headless=new", "--no-sandbox", "--use-angle=swiftshader",
                              "--enable-unsafe-swiftshader", "--virtual-time-budget=60000", "--dump-dom", url],
                             capture_output=True, text=True, timeout=300)
    finally:
        server.shutdown()
    m = re.search(r'<pre id="out">(.*?)</pre>', run.stdout, re.S)
    text = html.unescape(m.group(1)) if m else ""
    if not text.startswith("data:image/png;base64,"):
        print(f"three.js render failed: {text[:200] or run.stderr[-400:]}")
        return None
    png = base64.b64decode(text.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), np.float32) / 255.0


def blender_check(glb: Path, avatar, body, motion) -> None:
    """Import the GLB with Blender's own glTF importer (if Blender is installed) and compare its bone
    heads at a few frames with our joints."""
    import json
    from avatar_studio.core.export.glb import smplx_joint_names
    blender = shutil.which("blender")
    if blender is None:
        print("Blender check skipped: no `blender` on PATH (apt-get install blender)")
        return
    frames = [0, 1, 15, 30, 60, 120]
    run = subprocess.run([blender, "-b", "--factory-startup", "--python",
                          str(ROOT / "tests" / "tools" / "blender_pose_glb.py"), "--", str(glb), str(motion.fps),
                          *map(str, frames)], capture_output=True, text=True, timeout=600)
    line = next((ln for ln in run.stdout.splitlines() if ln.startswith("BLENDER_JSON ")), None)
    if line is None:
        print(f"Blender import failed: {(run.stderr or run.stdout)[-600:]}")
        return
    got = json.loads(line.split(" ", 1)[1])
    start = got["frame_range"][0] if got["frame_range"] else 0.0
    names = smplx_joint_names()
    worst = 0.0
    for frame in frames:
        if frame < start:
            continue
        pose, transl = motion.pose_at((frame - start) / motion.fps)
        ours = body.joint_transforms(pose[None], avatar.rig.betas)[0][0].numpy() + transl
        theirs = np.array([got["poses"][str(frame)][n] for n in names])
        worst = max(worst, float(np.abs(theirs - ours).max()))
    print(f"Blender import: {len(got['bones'])} bones, meshes {got['meshes']}, skinned {got['skinned']}, "
          f"materials {got['materials']}, action frames {got['frame_range']}; bone heads vs our joints at "
          f"{len(frames)} frames: max {worst * 1000:.4f} mm")


def skinned_mesh(mesh, body, betas, pose, transl) -> np.ndarray:
    """[V',3] the exported mesh's vertices posed by our LBS with the file's four influences."""
    import torch
    from avatar_studio.core.export.glb import four_influences
    from avatar_studio.core.skinning import dense_to_sparse_weights, lbs_points
    idx, w = four_influences(*dense_to_sparse_weights(body.weights[mesh.source_vertex], 4))
    _, rel = body.joint_transforms(pose[None], betas)
    posed, _ = lbs_points(torch.from_numpy(mesh.positions), torch.from_numpy(idx.astype(np.int64)),
                          torch.from_numpy(w), rel)
    return posed[0].numpy() + transl


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--avatar", default=None)
    ap.add_argument("--motion", default=None)
    ap.add_argument("--time", type=float, default=1.0, help="seconds into the motion for the posed pictures")
    ap.add_argument("--texture-size", type=int, default=2048)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--docs", action="store_true")
    args = ap.parse_args()
    from PIL import Image
    from avatar_studio.core.body.model import body_for_rig
    from avatar_studio import SAMPLE_MOTION, SAMPLE_PHOTO
    from avatar_studio.core.export.glb import GlbOptions, build_glb, export_glb, render_textured_mesh
    from avatar_studio.core.io.avatar_file import read_avatar
    from avatar_studio.core.pipeline import load_motion_for_playback
    from avatar_studio.core.render.base import Camera
    from avatar_studio.core.render.rendering import create_renderer
    OUT.mkdir(parents=True, exist_ok=True)
    if args.avatar:
        avatar = read_avatar(args.avatar)
    else:
        from avatar_studio.core.reconstruct.base import load_image
        from avatar_studio.core.reconstruct.factory import create_reconstructor
        avatar = create_reconstructor("template").run(load_image(SAMPLE_PHOTO)).avatar
    body = body_for_rig(avatar.rig.body_model, avatar.rig.gender)
    motion = load_motion_for_playback(args.motion or SAMPLE_MOTION, body)
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; avatar {len(avatar.gaussians):,} "
          f"Gaussians; motion {motion.num_frames} frames at {motion.fps:g} fps")

    glb = OUT / "demo.glb"
    t0 = time.perf_counter()
    report = export_glb(glb, avatar, body, motion, GlbOptions(texture_size=args.texture_size))
    print(f"export: {time.perf_counter() - t0:.1f} s, {report.size_bytes / 1e6:.2f} MB "
          f"({report.num_faces:,} triangles, {report.num_vertices:,} vertices, {report.num_gaussians:,} Gaussians, "
          f"{report.num_keys} keys, texture {args.texture_size}²)")
    mesh_only = OUT / "demo_mesh_only.glb"
    mesh_report = export_glb(mesh_only, avatar, body, motion, GlbOptions(splats=False, texture_size=args.texture_size))
    print(f"  --no-splats: {mesh_report.size_bytes / 1e6:.2f} MB")

    blender_check(glb, avatar, body, motion)
    renderer = create_renderer("auto")
    try:
        _, summary = build_glb(avatar, body, None, renderer, GlbOptions(splats=False, texture_size=args.texture_size))
        mesh = summary["mesh"]
        lo, hi = avatar.gaussians.bounds()
        def rest_psnr(az: float, el: float) -> tuple[float, float]:
            cam = Camera.framing(lo, hi, az, el, 35.0, args.size, args.size)
            splats = renderer.render(avatar.gaussians, cam, background=(1.0, 1.0, 1.0))
            img, hit = render_textured_mesh(mesh, mesh.positions, cam)
            covered = np.asarray(splats.alpha) > 0.5
            both = hit & covered
            return psnr(img[both], splats.color[both]), both.sum() / (hit | covered).sum()

        for az in (20.0, 200.0):
            value, iou = rest_psnr(az, 8.0)
            print(f"rest pose, azimuth {az:.0f}: baked mesh vs splats PSNR {value:.1f} dB (where both cover), "
                  f"silhouette IoU {iou:.2f}")
        for el in (8.0, 45.0):
            print(f"rest pose, mean over 8 azimuths at elevation {el:.0f}: "
                  f"{np.mean([rest_psnr(az, el)[0] for az in range(0, 360, 45)]):.1f} dB")

        pose, transl = motion.pose_at(args.time)
        posed = avatar.posed(body, pose, transl)
        posed_mesh = skinned_mesh(mesh, body, avatar.rig.betas, pose, transl)
        plo, phi = posed.bounds()
        rows = []
        for az in (20.0, 200.0):
            cam = Camera.framing(plo, phi, az, 8.0, 35.0, args.size, args.size)
            ours = np.asarray(renderer.render(posed, cam, background=(1.0, 1.0, 1.0)).color)
            three = threejs_render(glb, cam, args.time)
            if three is None:
                return
            drawn = (three < 0.99).any(-1) & (ours < 0.99).any(-1)
            our_mesh, hit = render_textured_mesh(mesh, posed_mesh, cam)
            same = hit & (three < 0.99).any(-1)
            print(f"t = {args.time:g} s, azimuth {az:.0f}: three.js mesh vs our splat render PSNR "
                  f"{psnr(three[drawn], ours[drawn]):.1f} dB where both draw; vs our render of the same mesh "
                  f"{psnr(three[same], our_mesh[same]):.1f} dB, silhouette IoU "
                  f"{same.sum() / (hit | (three < 0.99).any(-1)).sum():.3f}")
            rows.append(np.concatenate([ours, three], 1))
    finally:
        renderer.close()
    sheet = (np.clip(np.concatenate(rows, 0), 0, 1) * 255 + 0.5).astype(np.uint8)
    Image.fromarray(sheet).save(OUT / "glb_threejs.png")
    print(f"wrote {OUT / 'glb_threejs.png'} (left: our splat render; right: the GLB's mesh in three.js)")
    if args.docs:
        small = Image.fromarray(sheet).resize((sheet.shape[1] // 2, sheet.shape[0] // 2), Image.LANCZOS)
        small.save(ROOT / "resources" / "docs" / "glb_threejs.png", optimize=True)


if __name__ == "__main__":
    main()
