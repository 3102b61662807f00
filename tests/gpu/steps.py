"""The GPU check's own steps (run by tests/gpu/check.py, one process each; each writes a JSON report).

    python tests/gpu/steps.py info   --json f            # versions, GPU, OpenGL, CPU
    python tests/gpu/steps.py build  --json f            # compile gsplat's CUDA kernels (JIT) and probe them
    python tests/gpu/steps.py parity --json f [--backend cpu --scenes 1]   # PSNR against the reference
    python tests/gpu/steps.py bridge --json f [--size 64x48]               # CUDA -> GL texture bridge

With no CUDA device `parity --backend cpu` and `bridge` still run (CPU tile rasterizer, host copies),
so the check's dry run exercises every line except the CUDA calls.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

TESTS_DIR = Path(__file__).resolve().parents[1]
MIN_PSNR = 35.0


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (platform.processor() elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# --------------------------------------------------------------------------- info
def step_info(args: argparse.Namespace) -> dict:
    """Versions of what the check runs on; never fails for a missing part (it says which)."""
    out: dict[str, Any] = {"python": sys.version.split()[0], "executable": sys.executable, "cpu": cpu_model(),
                           "cores": os.cpu_count(), "packages": {}}
    for dist in ("torch", "gsplat", "numpy", "numba", "moderngl", "glcontext", "cuda-bindings", "cuda-python",
                 "smplx", "scipy", "pytest"):
        out["packages"][dist] = _version(dist)
    import torch
    out["torch_cuda_build"] = torch.version.cuda
    out["cuda_available"] = torch.cuda.is_available()
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        out["gpu"] = {"name": props.name, "capability": f"{props.major}.{props.minor}",
                      "memory_gib": round(props.total_memory / 2**30, 1),
                      "multiprocessors": props.multi_processor_count}
    from avatar_studio.core.render.rendering import probe_gl
    ok, reason = probe_gl()
    out["opengl"] = reason if ok else f"unavailable: {reason}"
    import avatar_studio
    out["avatar_studio"] = str(Path(avatar_studio.__file__).parent)
    print(json.dumps(out, indent=1))
    return out


# --------------------------------------------------------------------------- build
def step_build(args: argparse.Namespace) -> dict:
    """Compile gsplat's CUDA extension once (torch JIT; cached in TORCH_EXTENSIONS_DIR), then probe it."""
    import torch
    out: dict[str, Any] = {"gsplat": _version("gsplat")}
    if not torch.cuda.is_available():
        import gsplat  # noqa: F401 - importing works without CUDA; that much is checked
        out["skipped"] = "no CUDA device (gsplat imported; nothing compiled)"
        print(out["skipped"])
        return out
    if not os.environ.get("TORCH_CUDA_ARCH_LIST"):  # one architecture, this GPU's: a much shorter build
        major, minor = torch.cuda.get_device_capability(0)
        os.environ["TORCH_CUDA_ARCH_LIST"] = f"{major}.{minor}"
    os.environ.setdefault("MAX_JOBS", str(max((os.cpu_count() or 2) - 2, 1)))
    out["arch"], out["max_jobs"] = os.environ["TORCH_CUDA_ARCH_LIST"], os.environ["MAX_JOBS"]
    t0 = time.perf_counter()
    from gsplat.cuda._backend import _C
    out["compile_or_load_s"] = round(time.perf_counter() - t0, 1)
    out["extension_loaded"] = _C is not None
    from avatar_studio.core.render.rendering import probe_gsplat
    ok, reason = probe_gsplat()
    out["probe"] = reason
    out["ok"] = bool(ok)
    if not ok:
        out["error"] = f"gsplat does not run here: {reason}"
    print(json.dumps(out, indent=1))
    return out


# --------------------------------------------------------------------------- parity
def _parity_module() -> Any:
    """tests/core/render/test_render_parity.py, whose scenes are the parity scenes."""
    spec = importlib.util.spec_from_file_location("avatar_gpu_parity_scenes", TESTS_DIR / "core" / "render" / "test_render_parity.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def step_parity(args: argparse.Namespace) -> dict:
    """PSNR of a back-end against the torch reference on the parity scenes and the golden scene."""
    from avatar_studio.core.render.reference import ReferenceRenderer, psnr
    mod = _parity_module()
    if args.backend == "gsplat":
        from avatar_studio.core.render.cuda import GsplatRenderer
        renderer = GsplatRenderer()
    else:
        from avatar_studio.core.render.cpu import CpuRenderer
        renderer = CpuRenderer()
    ref = ReferenceRenderer()
    cases = list(mod.SCENES)[: args.scenes] if args.scenes else list(mod.SCENES)
    golden_g, golden_cam = mod.golden_scene()
    cases.append(("golden-transparent", golden_g, golden_cam, None))
    rows = []
    pm = lambda r: r.color * r.alpha[..., None]  # noqa: E731 - premultiplied: straight colour is unstable at alpha ~ 0
    for name, g, cam, bg in cases:
        a = ref.render(g, cam, background=bg)
        t0 = time.perf_counter()
        b = renderer.render(g, cam, background=bg)
        ms = (time.perf_counter() - t0) * 1000
        color = psnr(pm(a), pm(b)) if bg is None else psnr(a.color, b.color)
        row = {"scene": name, "n": len(g), "size": f"{cam.width}x{cam.height}", "psnr_color_db": round(color, 2),
               "psnr_alpha_db": round(psnr(a.alpha, b.alpha), 2), "render_ms": round(ms, 1)}
        if name == mod.SCENES[1][0]:  # depth on the transparent scene, as the parity test does
            da = ref.render(g, cam, background=bg, mode="depth")
            db = renderer.render(g, cam, background=bg, mode="depth")
            solid = da.alpha > 0.2
            row["depth_max_abs_err"] = float(abs(da.depth[solid] - db.depth[solid]).max())
        rows.append(row)
        print(f"  {name:22s} {row['size']:>8s}  colour {row['psnr_color_db']:6.2f} dB  "
              f"alpha {row['psnr_alpha_db']:6.2f} dB  ({ms:.1f} ms)")
    worst = min(min(r["psnr_color_db"], r["psnr_alpha_db"]) for r in rows)
    renderer.close()
    out = {"backend": args.backend, "scenes": rows, "min_psnr_db": worst, "target_db": MIN_PSNR,
           "target_met": worst >= MIN_PSNR}
    print(f"  worst {worst:.2f} dB (target >= {MIN_PSNR} dB): {'met' if out['target_met'] else 'NOT met'}")
    if not out["target_met"]:
        out["error"] = f"{args.backend} is {worst:.2f} dB from the reference (target >= {MIN_PSNR} dB)"
    return out


# --------------------------------------------------------------------------- bridge
def _bridge_image(width: int, height: int, device: str) -> tuple[Any, str]:
    """An [H,W,4] frame to push through the bridge: gsplat's render of 40k Gaussians where it runs."""
    import torch
    from avatar_studio.core.render.rendering import probe_gsplat
    if device == "cuda" and probe_gsplat()[0]:
        from avatar_studio.core.render.base import Camera
        from avatar_studio.core.render.cuda import GsplatRenderer
        from avatar_studio.core.render.reference import random_gaussians
        g = random_gaussians(40_000, 0, 3, center=(0, 0.9, 0), extent=(0.25, 0.5, 0.15), scale_range=(0.003, 0.02))
        t = g.to_torch("cuda")
        t = GsplatRenderer().rasterize(t["means"], t["quats"], t["scales"], t["opacities"], t["sh"],
                                       Camera.framing(*g.bounds(), width=width, height=height), background=None)
        return torch.cat([t[0], t[1][..., None]], dim=-1), "gsplat frame, 40k Gaussians"
    gen = torch.Generator(device=device).manual_seed(0)
    return torch.rand(height, width, 4, device=device, generator=gen), f"random image on {device}"


def _time_updates(bridge: Any, image: Any, ctx: Any, sync: Callable[[], None], frames: int) -> list[float]:
    times = []
    for _ in range(frames):
        sync()
        t0 = time.perf_counter()
        bridge.update(image)
        ctx.finish()  # the texture is ready for drawing only once GL has the data
        times.append(time.perf_counter() - t0)
    return times


def step_bridge(args: argparse.Namespace) -> dict:
    """`TextureBridge` both ways (CUDA-GL interop, host copy): ms per 8-bit frame and an exact read-back."""
    import numpy as np
    import torch
    from avatar_studio.core.render.cuda import TextureBridge, _cudart
    from avatar_studio.core.render.gl import create_headless_context
    width, height = (int(v) for v in args.size.lower().split("x"))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    ctx = create_headless_context()
    out: dict[str, Any] = {"gl_renderer": str(ctx.info.get("GL_RENDERER", "")), "size": f"{width}x{height}",
                           "cuda_python": _cudart() is not None, "device": device, "modes": {}}
    image, what = _bridge_image(width, height, device)
    out["image"] = what
    expected = TextureBridge.to_rgba8(image).cpu().numpy()
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    for mode in ("auto", "never"):
        bridge = TextureBridge(ctx, width, height, interop=mode)
        try:
            times = _time_updates(bridge, image, ctx, sync, args.frames + 2)[2:]
            got = np.frombuffer(bridge.texture.read(), np.uint8).reshape(height, width, 4)
            row = {"uses_interop": bridge.uses_interop, "median_ms": round(statistics.median(times) * 1000, 3),
                   "best_ms": round(min(times) * 1000, 3), "exact": bool(np.array_equal(got, expected))}
        finally:
            bridge.release()
        out["modes"][mode] = row
        print(f"  interop={mode:5s}: {'CUDA-GL interop' if row['uses_interop'] else 'host copy'}, "
              f"{row['median_ms']:.3f} ms/frame (best {row['best_ms']:.3f}), exact read-back: {row['exact']}")
    if device == "cuda" and not out["modes"]["auto"]["uses_interop"]:
        try:  # "auto" hides why interop was not used; "require" says it
            b = TextureBridge(ctx, width, height, interop="require")
            b.update(image)
            b.release()
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            out["interop_error"] = f"{type(exc).__name__}: {exc}"[:400]
            print(f"  interop unavailable: {out['interop_error']}")
    ctx.release()
    if not all(r["exact"] for r in out["modes"].values()):
        out["error"] = "the texture read back differs from the image sent"
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("step", choices=["info", "build", "parity", "bridge"])
    ap.add_argument("--json", type=Path, required=True, help="where the step writes its report")
    ap.add_argument("--backend", choices=["gsplat", "cpu"], default="gsplat", help="parity: renderer under test")
    ap.add_argument("--scenes", type=int, default=0, help="parity: only the first N scenes (0: all)")
    ap.add_argument("--size", default="1920x1080", help="bridge: WxH of the texture")
    ap.add_argument("--frames", type=int, default=30, help="bridge: timed updates per mode")
    args = ap.parse_args(argv)
    report = {"info": step_info, "build": step_build, "parity": step_parity, "bridge": step_bridge}[args.step](args)
    args.json.write_text(json.dumps(report, indent=1, default=str))
    if report.get("error"):
        print(f"error: {report['error']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
