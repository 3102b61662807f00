"""LHM benchmark (a script that prints figures; not a test).

    python tests/bench/bench_lhm.py                   # LHM-500M, full size, random weights, CUDA
    python tests/bench/bench_lhm.py --model 1B --runs 5
    python tests/bench/bench_lhm.py --cpu-mini        # no CUDA: time LHM-MINI on the CPU (slow: minutes)
    python tests/bench/bench_lhm.py --cpu-mini --sapiens-depth 2 --dino-depth 4 --points 4000
                                                      # CPU, reduced size, extrapolated to full size
    python tests/bench/bench_lhm.py --cpu --model 500M --sapiens-depth 2 --dino-depth 4 --points 4000
    python tests/bench/bench_lhm.py --tiny --json f   # seconds on any machine: the test config, figures to JSON

Times photo -> Gaussians with random weights at full size: preprocessing (crop to 5:3, head crop),
the Sapiens-1B body encoder (a random-weight ViT of Sapiens-1B's size: 1536 wide, 40 blocks, patch
16 at 1024 px, under bf16 autocast as LHM runs it), and the LHM network (DINOv2-L head encoder,
transformer, Gaussian heads) in both precisions: "reference" (fp32 network, as LHM) and "bf16".
Prints the median of --runs after one warm-up, per stage, and the peak GPU memory.
Targets on an H100 for LHM-500M: <= 2.0 s and <= 12 GB.
`--tiny` runs the same code on the tests' tiny LHM config with a one-block encoder (it checks the
script, not the speed; tests/gpu/check.sh uses it in its dry run). `--json PATH` also writes the figures.

On the CPU (`--cpu-mini`, or `--cpu --model M`) every stage prints wall seconds and process CPU seconds
(all threads), and the run prints its peak resident memory (ru_maxrss). `--sapiens-depth`,
`--dino-depth` and `--points` shrink the encoders and the point count; each stage's time is then also
extrapolated to full size by its operation count (`core/lhm/cost.py`), which is how the per-layer
profile is taken without minutes per variant. Levers: `--int8` (int8 dynamic Linear layers in Sapiens
and the network: opt-in, not reference numerics), `--release-encoder` (free Sapiens before the network
runs, as `LHMReconstructor(keep_encoder=False)`), `--threads N`, `--compile` (torch.compile).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time

import numpy as np
import torch
from torch import nn

from pathlib import Path

from avatar_studio.core.lhm import LHMConfig, LHMNetwork
from avatar_studio.core.lhm.config import DinoSpec
from avatar_studio.core.lhm.cost import stage_flops
from avatar_studio.core.lhm.dinov2 import ViTBlock
from avatar_studio.core.lhm.preprocess import body_image, head_image, sapiens_input

TARGET_S, TARGET_GB = 2.0, 12.0
TINY_CONFIG = Path(__file__).resolve().parents[1] / "fixtures" / "lhm" / "tiny_config.json"


class SapiensSized(nn.Module):
    """Random ViT the size of Sapiens-1B: [B,3,1024,1024] -> ([B,1536,64,64],) (smaller with other args)."""

    def __init__(self, dim: int = 1536, depth: int = 40, heads: int = 24, grid: int = 64) -> None:
        super().__init__()
        self.grid = grid
        self.patch = nn.Conv2d(3, dim, 16, 16)
        self.pos = nn.Parameter(torch.randn(1, grid * grid, dim) * 0.02)
        self.blocks = nn.ModuleList([ViTBlock(dim, heads, 4.0) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        t = self.patch(x).flatten(2).transpose(1, 2) + self.pos
        for blk in self.blocks:
            t = blk(t)
        t = self.norm(t)
        return (t.transpose(1, 2).reshape(t.shape[0], -1, self.grid, self.grid),)


def synthetic_photo(h: int = 1536, w: int = 1024) -> np.ndarray:
    rng = np.random.default_rng(0)
    img = (rng.random((h, w, 4)) * 255).astype(np.uint8)
    yy, xx = np.mgrid[:h, :w]
    img[..., 3] = np.where((np.abs(xx - w / 2) < w * 0.2) & (yy > h * 0.05) & (yy < h * 0.97), 255, 0)
    return img


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


@torch.no_grad()
def photo_to_gaussians(cfg: LHMConfig, net: LHMNetwork, sapiens: nn.Module, img: np.ndarray, qp: torch.Tensor,
                       device: torch.device, bf16_net: bool) -> dict[str, float]:
    """One photo -> Gaussians; returns seconds per stage."""
    t = {}
    t0 = time.perf_counter()
    mask = img[..., 3] / 255.0
    ys, xs = np.nonzero(mask > 0.5)
    top = ys.min()
    side = (ys.max() - top) / 7
    body = body_image(img, mask, cfg.image_hw).to(device)
    head = head_image(img, (xs.mean() - side / 2, top, xs.mean() + side / 2, top + side)).to(device)
    sync(device)
    t["preprocess"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        feats = sapiens(sapiens_input(body, cfg.sapiens_resolution))[0]
    tokens = feats.float().permute(0, 2, 3, 1).flatten(1, 2)
    sync(device)
    t["sapiens"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16_net and device.type == "cuda"):
        out = net.forward_gaussians(tokens, head, qp)
    sync(device)
    t["network"] = time.perf_counter() - t0
    assert torch.isfinite(out["offset"]).all()
    t["total"] = sum(t.values())
    return t


def bench(model: str, device: torch.device, runs: int, precisions: list[str]) -> dict:
    """Time photo -> Gaussians; prints figures and returns them (model, device, per precision: stages, peak)."""
    tiny = model.upper() == "TINY"
    cfg = LHMConfig.from_json(TINY_CONFIG) if tiny else LHMConfig.preset(model)
    torch.manual_seed(0)
    with torch.device(device):
        net = LHMNetwork(cfg).eval()
        sapiens = (SapiensSized(cfg.body_feat_dim, 1, 2) if tiny else SapiensSized()).eval()
    qp = (torch.rand(1, cfg.num_points, 3, device=device) - 0.5) * torch.tensor([1.0, 1.8, 0.4], device=device)
    img = synthetic_photo()
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    params_m = sum(p.numel() for p in net.parameters()) / 1e6
    print(f"{cfg.name}: {params_m:.0f}M network parameters, "
          f"{cfg.num_points} points, image {cfg.image_hw}, on {device}" + (f" ({gpu})" if gpu else ""))
    report: dict = {"model": "tiny test config" if tiny else cfg.name, "device": str(device), "gpu": gpu,
                    "network_parameters_m": round(params_m, 1), "runs": runs, "precisions": {}}
    for precision in precisions:
        bf16 = precision == "bf16"
        photo_to_gaussians(cfg, net, sapiens, img, qp, device, bf16)  # warm-up
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        times = [photo_to_gaussians(cfg, net, sapiens, img, qp, device, bf16) for _ in range(runs)]
        med = {k: statistics.median(t[k] for t in times) for k in times[0]}
        line = ", ".join(f"{k} {v:.3f} s" for k, v in med.items())
        print(f"  [{precision}] {line}")
        entry: dict = {"seconds": {k: round(v, 4) for k, v in med.items()}}
        if device.type == "cuda":
            peak = torch.cuda.max_memory_allocated(device) / 2**30
            ok = med["total"] <= TARGET_S and peak <= TARGET_GB
            entry.update(peak_gpu_gib=round(peak, 3), target_met=ok)
            print(f"  [{precision}] peak GPU memory {peak:.2f} GiB; target <= {TARGET_S} s and <= {TARGET_GB} GB: "
                  f"{'met' if ok else 'NOT met'}")
        report["precisions"][precision] = entry
    return report


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


class StageTimer:
    """Wall and process-CPU seconds per stage."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def run(self, name: str, fn):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        self.wall[name] = time.perf_counter() - w
        self.cpu[name] = time.process_time() - c
        return out


def reduced_config(cfg: LHMConfig, dino_depth: int | None, points: int | None) -> LHMConfig:
    """cfg with a shallower DINOv2 (its last 4 blocks feed the fusion head) and/or fewer query points."""
    if dino_depth:
        d = cfg.dino
        layers = tuple(range(max(dino_depth - 4, 0), dino_depth))[-len(d.layers):]
        cfg = cfg.with_(dino=DinoSpec(d.embed_dim, dino_depth, d.num_heads, layers, d.img_size, d.patch_size,
                                      d.num_registers, d.mlp_ratio))
    if points:
        cfg = cfg.with_(num_points=points)
    return cfg


@torch.inference_mode()
def bench_cpu(model: str, *, sapiens_depth: int, dino_depth: int | None, points: int | None, int8: bool,
              release_encoder: bool, compile_: bool) -> dict:
    """One photo -> Gaussians on the CPU, per stage wall/CPU seconds, extrapolated to full size; peak RSS."""
    from avatar_studio.core.lhm.quant import quantize_linears_int8
    full = LHMConfig.preset(model)
    cfg = reduced_config(full, dino_depth, points)
    flops_full, flops_run = stage_flops(full), stage_flops(cfg, sapiens_depth)
    torch.manual_seed(0)
    img = synthetic_photo()
    qp = (torch.rand(1, cfg.num_points, 3) - 0.5) * torch.tensor([1.0, 1.8, 0.4])
    timer = StageTimer()

    def build_net() -> LHMNetwork:
        net = LHMNetwork(cfg).eval()
        if int8:
            quantize_linears_int8(net)
        return torch.compile(net.forward_gaussians) if compile_ else net.forward_gaussians

    sapiens = SapiensSized(depth=sapiens_depth).eval()
    if int8:
        quantize_linears_int8(sapiens)
    run_sapiens = torch.compile(sapiens) if compile_ else sapiens
    net = None if release_encoder else build_net()
    mask = img[..., 3] / 255.0
    ys, xs = np.nonzero(mask > 0.5)
    side = (ys.max() - ys.min()) / 7
    box = (xs.mean() - side / 2, ys.min(), xs.mean() + side / 2, ys.min() + side)
    body = timer.run("preprocess", lambda: body_image(img, mask, cfg.image_hw))
    head = head_image(img, box)
    feats = timer.run("body encoder", lambda: run_sapiens(sapiens_input(body, cfg.sapiens_resolution))[0])
    tokens = feats.float().permute(0, 2, 3, 1).flatten(1, 2)
    if release_encoder:
        del sapiens, run_sapiens
        net = build_net()
    assert net is not None
    out = timer.run("network", lambda: net(tokens, head, qp))
    assert torch.isfinite(out["offset"]).all()
    net_flops = {k: flops_full[k] / flops_run[k] for k in ("head encoder", "transformer")}
    run_net = flops_run["head encoder"] + flops_run["transformer"]
    scale = {"preprocess": 1.0, "body encoder": flops_full["body encoder"] / flops_run["body encoder"],
             "network": (flops_full["head encoder"] + flops_full["transformer"]) / run_net}
    reduced = scale["body encoder"] != 1.0 or abs(scale["network"] - 1.0) > 1e-9
    report = {"model": full.name, "reduced": reduced, "sapiens_depth": sapiens_depth,
              "dino_depth": cfg.dino.depth, "points": cfg.num_points, "int8": int8,
              "release_encoder": release_encoder, "compile": compile_, "threads": torch.get_num_threads(),
              "wall_s": {}, "cpu_s": {}, "full_size_wall_s": {}, "full_size_cpu_s": {},
              "tflop_run": {k: round(v / 1e12, 3) for k, v in flops_run.items()},
              "network_scale": {k: round(v, 2) for k, v in net_flops.items()}}
    for k in timer.wall:
        report["wall_s"][k] = round(timer.wall[k], 2)
        report["cpu_s"][k] = round(timer.cpu[k], 2)
        report["full_size_wall_s"][k] = round(timer.wall[k] * scale[k], 1)
        report["full_size_cpu_s"][k] = round(timer.cpu[k] * scale[k], 1)
    for key in ("wall_s", "cpu_s", "full_size_wall_s", "full_size_cpu_s"):
        report[key]["total"] = round(sum(report[key].values()), 2)
    report["peak_rss_gib"] = round(peak_rss_gib(), 2)
    report["load_at_end"] = [round(v, 2) for v in os.getloadavg()]  # other jobs on the machine slow the wall time
    rate = {k: (flops_run["body encoder"] if k == "body encoder" else run_net) / 1e9 / max(timer.cpu[k], 1e-9)
            for k in ("body encoder", "network")}
    report["gflop_per_cpu_s"] = {k: round(v, 1) for k, v in rate.items()}
    print(f"{full.name} on the CPU ({torch.get_num_threads()} threads): Sapiens depth {sapiens_depth}/40, "
          f"DINOv2 depth {cfg.dino.depth}, {cfg.num_points} points; int8 {int8}, release encoder "
          f"{release_encoder}, compile {compile_}")
    for k in timer.wall:
        line = f"  {k:<13} wall {timer.wall[k]:7.2f} s  cpu {timer.cpu[k]:7.2f} s"
        if reduced and k != "preprocess":
            fw, fc = report["full_size_wall_s"][k], report["full_size_cpu_s"][k]
            line += f"  -> full size: wall {fw:7.1f} s, cpu {fc:7.1f} s"
        if k in rate:
            line += f"  ({rate[k]:.0f} GFLOP per CPU-second)"
        print(line)
    tot = report["full_size_wall_s"]["total"] if reduced else report["wall_s"]["total"]
    print(f"  total {'(extrapolated) ' if reduced else ''}wall {tot:.1f} s, cpu "
          f"{report['full_size_cpu_s']['total'] if reduced else report['cpu_s']['total']:.1f} s; "
          f"peak RSS {report['peak_rss_gib']:.2f} GiB{' (of the reduced run)' if reduced else ''}; "
          f"load average at the end {report['load_at_end'][0]:.1f} / {report['load_at_end'][1]:.1f}")
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="500M", help="MINI, 500M, 1B (default 500M)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--precision", choices=["reference", "bf16", "both"], default="both")
    parser.add_argument("--cpu-mini", action="store_true", help="without CUDA, time LHM-MINI on the CPU")
    parser.add_argument("--cpu", action="store_true", help="time --model on the CPU even with CUDA present")
    parser.add_argument("--sapiens-depth", type=int, default=40, help="CPU: Sapiens stand-in blocks (40 = full)")
    parser.add_argument("--dino-depth", type=int, help="CPU: DINOv2 blocks (24 = full ViT-L)")
    parser.add_argument("--points", type=int, help="CPU: query points (full: 20000 MINI, 40000 others)")
    parser.add_argument("--int8", action="store_true", help="CPU: int8 dynamic Linear layers (opt-in lever)")
    parser.add_argument("--release-encoder", action="store_true", help="CPU: free Sapiens before the network")
    parser.add_argument("--threads", type=int, help="CPU: torch threads")
    parser.add_argument("--compile", action="store_true", help="CPU: torch.compile Sapiens and the network")
    parser.add_argument("--tiny", action="store_true", help="the tests' tiny config (checks the script in seconds)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    precisions = ["reference", "bf16"] if args.precision == "both" else [args.precision]
    report: dict = {"skipped": None}
    if args.threads:
        torch.set_num_threads(args.threads)
    cpu_kw = dict(sapiens_depth=args.sapiens_depth, dino_depth=args.dino_depth, points=args.points,
                  int8=args.int8, release_encoder=args.release_encoder, compile_=args.compile)
    if args.cpu or args.cpu_mini:
        report = bench_cpu("MINI" if args.cpu_mini else args.model, **cpu_kw)
    elif torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = False  # LHM's default numerics for the fp32 path
        report = bench("TINY" if args.tiny else args.model, torch.device("cuda"), args.runs, precisions)
    elif args.tiny:
        report = bench("TINY", torch.device("cpu"), args.runs, precisions)
    else:
        report["skipped"] = "no CUDA GPU"
        print("bench_lhm: the LHM-500M benchmark needs a CUDA GPU (targets: <= 2.0 s, <= 12 GB on an H100). "
              "Run with --cpu-mini for a CPU timing of LHM-MINI.")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
