"""Rendering benchmark (a script that prints figures; not a test).

    python tests/bench/bench_render.py                # CPU and GL frame loops at 40k and 200k, 512x512
    python tests/bench/bench_render.py --frames 60 --sizes 40000

The frame loop is what the viewport and the video export do per frame: a new pose (bone transforms),
skin N Gaussians, sort, render 512x512 and read the image back to numpy. Bone transforms are
computed up front (forward kinematics belongs to the motion side; its cost is printed separately).
The gsplat section (1920x1080 at 40k, and 1M Gaussians) runs only where CUDA is available; it times
rasterization alone and with the 8-bit image read back to the host (`--gsplat-only --json f` for the
GPU check, tests/gpu/check.sh).

Scenes:
  * "demo": the demo avatar -- the sample photo reconstructed by the template back-end (flat
    Gaussians of ~4 x 1 mm on the body surface, opacity 0.95), framed to fill the image;
  * "body": Gaussians on a human-shaped surface -- the SMPL-X stand-in body when
    resources/body/smplx/SMPLX_NEUTRAL.npz exists, else a proxy made of ellipsoids -- with flat
    Gaussians (~1 cm across the surface, 1 mm thick), opacity 0.9, skinned to the nearest joints;
  * "box": Gaussians spread through a human-sized box (0.5 x 1.7 x 0.3 m), ~1 cm scale, opacity 0.9,
    random skinning over 55 joints -- a much deeper (harder) scene than a real avatar.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from avatar_studio import RESOURCES_DIR
from avatar_studio.core.gaussians import GaussianSet, rgb_to_sh0
from avatar_studio.core.render.base import Camera
from avatar_studio.core.skinning import SMPLX_PARENTS, batch_rodrigues, forward_kinematics, skin_gaussians

J = 55


# --------------------------------------------------------------------------- scenes
def _rest_joints() -> np.ndarray:
    """[55,3] a plausible T-pose skeleton (metres, Y up, feet at 0) for the proxy scenes."""
    rng = np.random.default_rng(7)
    j = np.zeros((J, 3))
    j[0] = [0, 0.95, 0]
    j[1], j[2], j[3] = [0.09, 0.88, 0], [-0.09, 0.88, 0], [0, 1.05, 0]
    j[4], j[5], j[6] = [0.1, 0.5, 0], [-0.1, 0.5, 0], [0, 1.18, 0]
    j[7], j[8], j[9] = [0.1, 0.08, 0], [-0.1, 0.08, 0], [0, 1.32, 0]
    j[10], j[11], j[12] = [0.1, 0.02, 0.1], [-0.1, 0.02, 0.1], [0, 1.5, 0]
    j[13], j[14], j[15] = [0.08, 1.42, 0], [-0.08, 1.42, 0], [0, 1.62, 0]
    j[16], j[17], j[18], j[19] = [0.18, 1.42, 0], [-0.18, 1.42, 0], [0.45, 1.42, 0], [-0.45, 1.42, 0]
    j[20], j[21] = [0.7, 1.42, 0], [-0.7, 1.42, 0]
    j[22:25] = [0, 1.6, 0.05]
    for side, wrist in ((1, 20), (-1, 21)):
        base = 25 if side == 1 else 40
        j[base:base + 15] = j[wrist] + np.column_stack([side * rng.uniform(0.03, 0.15, 15),
                                                        rng.normal(0, 0.02, 15), rng.normal(0, 0.03, 15)])
    return j.astype(np.float32)


def _proxy_body_points(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Points and normals on a body made of ellipsoids (torso, head, limbs), area-weighted."""
    parts = [  # centre, radii
        ([0, 1.22, 0], [0.17, 0.3, 0.11]), ([0, 1.66, 0], [0.09, 0.12, 0.1]),
        ([0.1, 0.7, 0], [0.07, 0.4, 0.07]), ([-0.1, 0.7, 0], [0.07, 0.4, 0.07]),
        ([0.1, 0.25, 0], [0.055, 0.25, 0.055]), ([-0.1, 0.25, 0], [0.055, 0.25, 0.055]),
        ([0.32, 1.42, 0], [0.15, 0.05, 0.05]), ([-0.32, 1.42, 0], [0.15, 0.05, 0.05]),
        ([0.58, 1.42, 0], [0.14, 0.04, 0.04]), ([-0.58, 1.42, 0], [0.14, 0.04, 0.04]),
        ([0, 0.93, 0], [0.17, 0.12, 0.11]),
    ]
    radii = np.array([p[1] for p in parts])
    area = (radii[:, 0] * radii[:, 1] + radii[:, 1] * radii[:, 2] + radii[:, 0] * radii[:, 2])
    which = rng.choice(len(parts), n, p=area / area.sum())
    d = rng.normal(size=(n, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    pts = d * radii[which] + np.array([p[0] for p in parts])[which]
    normals = d / radii[which]
    return pts, normals / np.linalg.norm(normals, axis=1, keepdims=True)


def _smplx_body_points(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Area-weighted samples on the SMPL-X stand-in template, if the file exists."""
    path = RESOURCES_DIR / "body" / "smplx" / "SMPLX_NEUTRAL.npz"
    if not path.is_file():
        return None
    data = np.load(path)
    v, f, w = data["v_template"], data["f"].astype(np.int64), data["weights"]
    joints = data["J_regressor"] @ v
    tri = v[f]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    area = np.linalg.norm(cross, axis=1)
    face = rng.choice(len(f), n, p=area / area.sum())
    b = rng.dirichlet([1, 1, 1], n)
    pts = (tri[face] * b[:, :, None]).sum(1)
    normals = cross[face] / np.maximum(area[face], 1e-12)[:, None]
    nearest = f[face, np.argmax(b, axis=1)]
    return pts, normals, w[nearest], joints.astype(np.float32)


def _quats_from_normals(normals: np.ndarray) -> np.ndarray:
    """Quaternions (wxyz) rotating +Z onto each normal."""
    z = np.array([0.0, 0.0, 1.0])
    axis = np.cross(z, normals)
    s = np.linalg.norm(axis, axis=1, keepdims=True)
    c = normals @ z
    half = np.arctan2(s[:, 0], c) / 2
    axis = np.where(s > 1e-9, axis / np.maximum(s, 1e-9), [1.0, 0.0, 0.0])
    return np.column_stack([np.cos(half), axis * np.sin(half)[:, None]])


def _top4(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    idx = np.argsort(-weights, axis=1)[:, :4]
    w = np.take_along_axis(weights, idx, 1)
    return idx, w / np.maximum(w.sum(1, keepdims=True), 1e-12)


def body_scene(n: int, seed: int = 0) -> tuple[GaussianSet, np.ndarray, np.ndarray, np.ndarray, str]:
    """A surface avatar: (gaussians, skin idx [N,4], weights [N,4], rest joints [55,3], description)."""
    rng = np.random.default_rng(seed)
    smplx = _smplx_body_points(n, rng)
    if smplx is not None:
        pts, normals, dense_w, joints = smplx
        idx, w = _top4(dense_w)
        label = "SMPL-X stand-in surface"
    else:
        pts, normals = _proxy_body_points(n, rng)
        joints = _rest_joints()
        d = np.linalg.norm(pts[:, None, :] - joints[None], axis=-1)
        idx = np.argsort(d, axis=1)[:, :4]
        w = np.exp(-np.take_along_axis(d, idx, 1) / 0.05)
        w /= w.sum(1, keepdims=True)
        label = "ellipsoid proxy surface"
    tangent = np.exp(rng.normal(np.log(0.008), 0.35, (n, 2)))
    scales = np.column_stack([tangent, np.full(n, 0.001)])
    rgb = np.clip(rng.normal([0.7, 0.55, 0.45], 0.08, (n, 3)), 0, 1)
    g = GaussianSet(pts, _quats_from_normals(normals), scales, np.full(n, 0.9), rgb_to_sh0(rgb)[:, None])
    return g, idx, w.astype(np.float32), joints, f"{label}, flat ~0.8 cm x 1 mm Gaussians"


def box_scene(n: int, seed: int = 0) -> tuple[GaussianSet, np.ndarray, np.ndarray, np.ndarray, str]:
    """Gaussians filling a human-sized box, ~1 cm, random skinning over 55 joints."""
    rng = np.random.default_rng(seed)
    means = rng.uniform([-0.25, 0.0, -0.15], [0.25, 1.7, 0.15], (n, 3))
    q = rng.normal(size=(n, 4))
    scales = np.exp(rng.normal(np.log(0.01), 0.3, (n, 3)))
    rgb = rng.uniform(0.2, 0.9, (n, 3))
    g = GaussianSet(means, q / np.linalg.norm(q, axis=1, keepdims=True), scales, np.full(n, 0.9),
                    rgb_to_sh0(rgb)[:, None])
    idx = rng.integers(0, J, (n, 4))
    w = rng.random((n, 4)) ** 2
    return g, idx, (w / w.sum(1, keepdims=True)).astype(np.float32), _rest_joints(), "box 0.5x1.7x0.3 m, ~1 cm"


_DEMO_AVATARS: dict[int, tuple] = {}


def demo_scene(n: int, seed: int = 0) -> tuple[GaussianSet, np.ndarray, np.ndarray, np.ndarray, str]:
    """The demo avatar: the sample photo reconstructed by the template back-end with n Gaussians
    (what `avatar-studio demo` and the viewport show). Reconstructed once per n."""
    if n not in _DEMO_AVATARS:
        from avatar_studio.core.body.model import default_body_model
        from avatar_studio import SAMPLE_PHOTO
        from avatar_studio.core.reconstruct.base import load_image
        from avatar_studio.core.reconstruct.factory import create_reconstructor
        avatar = create_reconstructor("template", num_gaussians=n).run(load_image(SAMPLE_PHOTO)).avatar
        rest, _ = avatar.transforms(default_body_model(), np.zeros((1, J, 3), np.float32))
        _DEMO_AVATARS[n] = (avatar.gaussians, avatar.rig.skin_indices, avatar.rig.skin_weights,
                            rest[0].numpy().astype(np.float32),
                            "template reconstruction of the sample photo (the demo avatar)")
    return _DEMO_AVATARS[n]


def poses(frames: int, joints: np.ndarray) -> tuple[list[torch.Tensor], float]:
    """Per-frame [55,4,4] rel transforms of a gentle animation, and the FK time per frame (ms)."""
    rng = np.random.default_rng(3)
    amp = rng.normal(0, 0.25, (J, 3))
    amp[0] = [0, 0.4, 0]
    jt = torch.from_numpy(joints)
    out, t0 = [], time.perf_counter()
    for i in range(frames):
        aa = torch.from_numpy((amp * np.sin(2 * np.pi * i / 30.0)).astype(np.float32))[None]
        _, rel = forward_kinematics(batch_rodrigues(aa), jt, SMPLX_PARENTS)
        out.append(rel[0])
    return out, (time.perf_counter() - t0) * 1000 / frames


# --------------------------------------------------------------------------- the machine
def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo; platform.processor() elsewhere)."""
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor() or "unknown CPU"


def vector_isa() -> str:
    """The widest x86 vector extensions numba compiles for here (its view of the host), e.g. "AVX2+FMA"."""
    try:
        import llvmlite.binding as ll
        f = {k for k, v in ll.get_host_cpu_features().items() if v}
    except Exception:  # noqa: BLE001
        return "unknown ISA"
    if "avx512f" in f:
        return "AVX-512 (" + "+".join(x[6:].upper() for x in sorted(f) if x.startswith("avx512")) + ")"
    for name in ("avx2", "avx", "sse4.2", "neon"):
        if name in f:
            return name.upper() + ("+FMA" if "fma" in f else "") + (", no AVX-512" if name == "avx2" else "")
    return "scalar"


def machine_tag() -> str:
    """CPU model, vector ISA, the CPU rasterizer's lane width and the load now: printed with each figure."""
    from avatar_studio.core.render.cpu_kernels import LANES
    return f"[{cpu_model()}, {vector_isa()}, {LANES}-lane tile segments, load {os.getloadavg()[0]:.1f}]"


# --------------------------------------------------------------------------- runs
def _fps(times: list[float], cpu: list[float] | None = None) -> str:
    med = statistics.median(times)
    out = f"{1.0 / med:6.1f} frames/s  (median {med * 1000:6.1f} ms, best {min(times) * 1000:6.1f} ms"
    if cpu:
        out += f", CPU {statistics.median(cpu) * 1000:6.1f} ms/frame over all threads"
    return out + ")"


def bench_gl(scene_fn, n: int, frames: int, size: int, precision: str, naive: bool = False) -> str:
    from avatar_studio.core.render.gl import GLRenderer
    g, idx, w, joints, _ = scene_fn(n)
    lo, hi = g.bounds()
    cam = Camera.framing(lo, hi, azimuth_deg=20, elevation_deg=5, width=size, height=size)
    transforms, _ = poses(frames + 2, joints)
    transl = torch.zeros(3)
    with GLRenderer(precision=precision) as gl:
        handle = gl.set_avatar(g, idx, w)
        times, cpu = [], []
        for i, tf in enumerate(transforms):
            t0, c0 = time.perf_counter(), time.process_time()
            if naive:  # CPU skinning + full upload every frame
                posed = skin_gaussians(g, idx, w, tf[None], transl[None])[0]
                gl.render(posed, cam)
            else:
                gl.render_skinned(handle, tf, transl, cam)
            if i >= 2:  # skip warm-up (shader compile, allocations)
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
        t_static = []
        for _ in range(5):  # same pose and view: no re-projection, no re-sort
            t0 = time.perf_counter()
            gl.render_skinned(handle, transforms[-1], transl, cam)
            t_static.append(time.perf_counter() - t0)
    extra = "" if naive else f" | unchanged pose+view {1.0 / statistics.median(t_static):6.1f} frames/s"
    return _fps(times, cpu) + extra


def bench_cpu(scene_fn, n: int, frames: int, size: int, threads: int | None = None) -> str:
    """The CPU tile rasterizer's frame loop: skin, project, sort, bin, composite, 8-bit image out."""
    from avatar_studio.core.render.cpu import CpuRenderer
    g, idx, w, joints, _ = scene_fn(n)
    lo, hi = g.bounds()
    cam = Camera.framing(lo, hi, azimuth_deg=20, elevation_deg=5, width=size, height=size)
    transforms, _ = poses(frames + 2, joints)
    with CpuRenderer(threads=threads, read_back="8bit") as cpu:
        handle = cpu.set_avatar(g, idx, w)
        times, cpu_times = [], []
        for i, tf in enumerate(transforms):
            t0, c0 = time.perf_counter(), time.process_time()
            cpu.render_skinned(handle, tf, None, cam).rgb8()
            if i >= 2:
                times.append(time.perf_counter() - t0)
                cpu_times.append(time.process_time() - c0)
    return _fps(times, cpu_times)


def _reference_rasterize(means, quats, scales, opacities, sh, cam, background=(1.0, 1.0, 1.0)):
    """The torch reference renderer behind gsplat's `rasterize` signature (a CPU stand-in for dry runs)."""
    from avatar_studio.core.render.reference import finish, project, rasterize
    p = project(means, quats, scales, opacities, sh, cam)
    color, alpha, _ = rasterize(p, cam.width, cam.height)
    out = finish(color, alpha, None, background, "color")
    return torch.from_numpy(out.color), torch.from_numpy(out.alpha), None


def bench_gsplat(n: int, width: int, height: int, frames: int, stand_in: bool = False) -> dict:
    """gsplat at n Gaussians and width x height: frames/s of rasterize alone and with the image read back.

    With `stand_in` the reference renderer on the CPU takes gsplat's place (checks this code, not speed)."""
    from avatar_studio.core.render.reference import random_gaussians
    if stand_in:
        device, rasterize, sync = torch.device("cpu"), _reference_rasterize, (lambda: None)
    else:
        from avatar_studio.core.render.cuda import GsplatRenderer
        r = GsplatRenderer()
        device, rasterize, sync = r.device, r.rasterize, torch.cuda.synchronize
    g = random_gaussians(n, 0, 3, center=(0, 0.9, 0), extent=(0.25, 0.5, 0.15), scale_range=(0.003, 0.02),
                         opacity_range=(0.5, 1.0))
    t = g.to_torch(device)
    cam = Camera.framing(*g.bounds(), width=width, height=height)
    raster, readback = [], []
    for i in range(frames + 3):
        sync()
        t0 = time.perf_counter()
        color, alpha, _ = rasterize(t["means"], t["quats"], t["scales"], t["opacities"], t["sh"], cam)
        sync()
        t1 = time.perf_counter()
        _ = (color.clamp(0, 1) * 255).to(torch.uint8).cpu()
        if i >= 3:
            raster.append(t1 - t0)
            readback.append(time.perf_counter() - t0)
    coverage = float((alpha > 0.5).float().mean())
    return {"n": n, "width": width, "height": height, "frames": frames,
            "fps_rasterize": 1.0 / statistics.median(raster), "fps_with_readback": 1.0 / statistics.median(readback),
            "median_ms_rasterize": statistics.median(raster) * 1000, "best_ms_rasterize": min(raster) * 1000,
            "median_ms_with_readback": statistics.median(readback) * 1000, "coverage_alpha_gt_half": coverage,
            "line": f"{_fps(raster)}; with 8-bit read-back {_fps(readback)}"}


def gsplat_section(sizes: list[int], width: int, height: int, frames: int, stand_in: bool) -> dict:
    """Print and return the gsplat figures ({"skipped": reason} where gsplat cannot run)."""
    label = "reference renderer on the CPU standing in for gsplat (dry run)" if stand_in else "gsplat (CUDA)"
    if not stand_in:
        if not torch.cuda.is_available():
            print(f"\n== {label}: skipped, no CUDA device")
            return {"skipped": "no CUDA device"}
        from avatar_studio.core.render.rendering import probe_gsplat
        ok, reason = probe_gsplat()
        if not ok:
            print(f"\n== {label}: unavailable ({reason})")
            return {"skipped": f"gsplat unavailable: {reason}"}
        label += f" on {torch.cuda.get_device_name()}"
    print(f"\n== {label}")
    runs = []
    for n in sizes:
        fig = bench_gsplat(n, width, height, frames if n <= 100_000 else max(frames // 2, 2), stand_in)
        print(f"  N={n:>9,}  {width}x{height}: {fig['line']}")
        runs.append(fig)
    return {"label": label, "runs": runs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--sizes", type=int, nargs="+", default=[40_000, 200_000])
    ap.add_argument("--scenes", nargs="+", default=["demo", "body", "box"])
    ap.add_argument("--naive", action="store_true", help="also time CPU skinning + full upload per frame")
    ap.add_argument("--no-gl", action="store_true", help="skip the GLSL renderer's rows")
    ap.add_argument("--gsplat-only", action="store_true", help="only the gsplat section")
    ap.add_argument("--gsplat-sizes", type=int, nargs="+", default=[40_000, 1_000_000])
    ap.add_argument("--gsplat-resolution", default="1920x1080", help="WxH (default 1920x1080)")
    ap.add_argument("--gsplat-frames", type=int, default=50)
    ap.add_argument("--stand-in", action="store_true",
                    help="time the torch reference renderer on the CPU in gsplat's place (a dry run of the script)")
    ap.add_argument("--json", type=Path, help="write the gsplat figures to this JSON file")
    args = ap.parse_args()
    width, height = (int(v) for v in args.gsplat_resolution.lower().split("x"))
    print(f"LP_NUM_THREADS={os.environ.get('LP_NUM_THREADS', '(default)')}, cores={os.cpu_count()}, "
          f"load average before start {os.getloadavg()[0]:.2f} (other processes slow the figures down)")
    print(f"CPU: {cpu_model()}, vector extensions {vector_isa()} (each figure below repeats this and the load)")
    if not args.gsplat_only:
        _, fk_ms = poses(30, _rest_joints())
        print(f"forward kinematics (55 joints, torch): {fk_ms:.2f} ms/frame (not in the loop below)")
        scenes = {"demo": demo_scene, "body": body_scene, "box": box_scene}
        for name in args.scenes:
            print(f"\n== frame loop, scene '{name}': {scenes[name](40_000)[4]}, {args.size}x{args.size}")
            for n in args.sizes:
                frames = args.frames if n <= 50_000 else max(args.frames // 4, 5)
                print(f"  N={n:>7,}  CPU tile rasterizer (numba, {os.cpu_count()} threads): "
                      f"{bench_cpu(scenes[name], n, frames, args.size)} {machine_tag()}")
                if args.no_gl:
                    continue
                for precision in ("uint8", "float"):
                    print(f"  N={n:>7,}  {precision:5s}  GPU skinning: "
                          f"{bench_gl(scenes[name], n, frames, args.size, precision)} {machine_tag()}")
                if args.naive:
                    print(f"  N={n:>7,}  float  naive (CPU skin + upload): "
                          f"{bench_gl(scenes[name], n, max(frames // 2, 5), args.size, 'float', naive=True)} "
                          f"{machine_tag()}")
    report = gsplat_section(args.gsplat_sizes, width, height, args.gsplat_frames, args.stand_in)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
