"""Scrub-latency benchmark for GaussianSequence: 1,000 frames × 65,536 Gaussians (L4GM-sized).

    python tests/bench/bench_sequence.py                  # npz (3.7 GB) and PLY folder (4.5 GB)
    python tests/bench/bench_sequence.py --formats npz --frames 200 --dir /big/disk --keep

Generates the data to a temporary folder (removed afterwards unless --keep), then reports per format:
- open: load_sequence time;
- cold: random frame access with the OS page cache dropped for the files (posix_fadvise DONTNEED)
  and our LRU empty — a first scrub to an unseen part of the clip;
- os-warm: random access that misses our LRU but hits the OS page cache;
- warm: random access to frames in our LRU (scrubbing back and forth over a short range);
- playback: sequential frames/s from a cold page cache, read-ahead on (the worker loads the next
  frames while the caller "renders");
- peak RSS of the process (ru_maxrss), to show the clip is never held in memory at once.
Prints one table; keep runs short on shared machines (2 cores).
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from avatar_studio.core.gaussians import GaussianSet
from avatar_studio.core.rotations import normalize_quats
from avatar_studio.core.sequence import DEFAULT_CACHE_BYTES, load_sequence
from avatar_studio.core.sequence.writers import _write_npz


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def drop_page_cache(paths: list[Path]) -> None:
    if not hasattr(os, "posix_fadvise"):
        return
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def synthetic_frames(t: int, n: int, seed: int = 0):
    """L4GM-like frames: a base cloud that drifts and breathes, new Gaussian order every frame."""
    rng = np.random.default_rng(seed)
    means = rng.uniform(-1, 1, (n, 3)).astype(np.float32)
    quats = normalize_quats(rng.normal(size=(n, 4)))
    scales = rng.uniform(0.002, 0.02, (n, 3)).astype(np.float32)
    opac = rng.uniform(0.05, 1.0, n).astype(np.float32)
    sh = rng.normal(size=(n, 1, 3)).astype(np.float32) * 0.5
    for i in range(t):
        perm = np.roll(np.arange(n), i * 7919)
        shift = np.float32(0.001 * i)
        yield GaussianSet(means[perm] * (1 + 0.05 * np.sin(i / 10)) + shift, quats[perm], scales[perm], opac[perm],
                          sh[perm])


def generate(kind: str, folder: Path, t: int, n: int) -> tuple[Path, list[Path]]:
    t0 = time.perf_counter()
    if kind == "npz":
        out = folder / "seq.npz"
        _write_npz(out, synthetic_frames(t, n), np.full(t, n, np.int64), 1, 30.0, None)
        files = [out]
    else:
        from avatar_studio.core.io.ply import write_ply
        out = folder / "ply"
        out.mkdir()
        files = []
        for i, g in enumerate(synthetic_frames(t, n)):
            files.append(write_ply(out / f"frame{i + 1:04d}.ply", g))
    size = sum(f.stat().st_size for f in files)
    print(f"[{kind}] generated {t} frames × {n:,} Gaussians: {size / 2**30:.2f} GiB in {time.perf_counter() - t0:.0f} s",
          file=sys.stderr)
    return out, files


def timed(seq, indices) -> list[float]:
    out = []
    for i in indices:
        t0 = time.perf_counter()
        seq[int(i)]
        out.append((time.perf_counter() - t0) * 1000)
    return out


def summary(ms: list[float]) -> str:
    s = sorted(ms)
    return f"median {statistics.median(s):8.2f} ms  p95 {s[int(0.95 * (len(s) - 1))]:8.2f} ms  max {s[-1]:8.2f} ms"


def bench(kind: str, path: Path, files: list[Path], t: int, samples: int, play: int, render_ms: float) -> dict:
    rng = np.random.default_rng(1)
    res = {}
    t0 = time.perf_counter()
    seq = load_sequence(path, readahead=0)
    res["open"] = f"{(time.perf_counter() - t0) * 1000:.1f} ms"
    picks = rng.choice(t, size=samples, replace=False)
    drop_page_cache(files)
    res["cold"] = summary(timed(seq, picks))
    seq.clear_cache()
    res["os-warm"] = summary(timed(seq, picks))
    near = picks[:1] + np.arange(0, 8)  # scrub back and forth over 8 neighbouring frames
    near = np.clip(near, 0, t - 1)
    timed(seq, near)
    res["warm"] = summary(timed(seq, np.tile(near, 10)))
    seq.close()

    n_play = min(play, t)
    for label, start, sleep_ms in (("playback", 0, 0.0), ("+render", t - n_play, render_ms)):
        drop_page_cache(files)
        seq = load_sequence(path, readahead=2)
        t0 = time.perf_counter()
        worst = 0.0
        for i in range(start, start + n_play):
            a = time.perf_counter()
            seq[i]
            worst = max(worst, time.perf_counter() - a)
            if sleep_ms:
                time.sleep(sleep_ms / 1000)  # the renderer's share of a frame
        dt = time.perf_counter() - t0
        what = "frames delivered back to back" if not sleep_ms else f"with {sleep_ms:g} ms render per frame"
        res[label] = f"{n_play / dt:6.1f} fps over {n_play} cold frames, {what}; worst wait {worst * 1000:.1f} ms"
        info = seq.cache_info()
        res["cache"] = f"{info['frames']} frames, {info['bytes'] / 2**20:.0f} MiB of {info['budget'] / 2**20:.0f} MiB"
        seq.close()
    res["peak RSS"] = f"{peak_rss_mib():.0f} MiB"
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--gaussians", type=int, default=65536)
    ap.add_argument("--formats", default="npz,ply", help="comma list of npz, ply")
    ap.add_argument("--samples", type=int, default=40, help="random frames per latency measurement")
    ap.add_argument("--play", type=int, default=300, help="frames of sequential playback")
    ap.add_argument("--render-ms", type=float, default=10.0, help="simulated render time per played frame")
    ap.add_argument("--dir", default=None, help="where to generate the data (default: a temp folder)")
    ap.add_argument("--keep", action="store_true", help="keep the generated data")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench_seq_", dir=args.dir))
    print(f"data in {base}; cache budget {DEFAULT_CACHE_BYTES / 2**20:.0f} MiB; {os.cpu_count()} CPUs", file=sys.stderr)
    results = {}
    try:
        for kind in args.formats.split(","):
            sub = base / kind
            sub.mkdir()
            path, files = generate(kind, sub, args.frames, args.gaussians)
            results[kind] = bench(kind, path, files, args.frames, min(args.samples, args.frames), args.play,
                                  args.render_ms)
            if not args.keep:
                shutil.rmtree(sub, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    print(f"\nGaussianSequence scrub benchmark: {args.frames} frames × {args.gaussians:,} Gaussians (SH 0)")
    for kind, res in results.items():
        print(f"  {kind}:")
        for k, v in res.items():
            print(f"    {k:9s} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
