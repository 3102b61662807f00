"""Batch throughput: jobs per minute for 20 photos x 2 motions with 1 and 2 local workers and with
a local Ray instance, and Ray's overhead per task.

    PYTHONPATH=... python tests/bench/bench_batch.py [--photos 20] [--size 128] [--frames 15]

Photos: the three shipped samples plus synthetic subjects (testing/synthetic.py) up to
--photos, rendered once into a cache folder. Every run starts from an empty output folder, so its
time includes starting the workers and loading their models. Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from avatar_studio import RESOURCES_DIR


def make_photos(folder: Path, count: int, width: int = 384, height: int = 512) -> list[Path]:
    """The sample photos, then synthetic ones (seeds 100, 101, ...) until there are `count`."""
    from PIL import Image
    folder.mkdir(parents=True, exist_ok=True)
    samples = sorted((RESOURCES_DIR / "photos").glob("*.png"))[:count]
    for p in samples:
        if not (folder / p.name).exists():
            shutil.copy(p, folder / p.name)
    from avatar_studio.testing.synthetic import make_photo, random_spec
    for seed in range(100, 100 + count - len(samples)):
        path = folder / f"synthetic_{seed}.png"
        if not path.exists():
            Image.fromarray(make_photo(random_spec(seed), width=width, height=height).rgb).save(path)
    return sorted(folder.glob("*.png"))[:count]


def ray_overhead(n: int = 200) -> tuple[float, float, float]:
    """(ray.init seconds, ms per task when many are in flight, ms for one task's round trip) on a
    local Ray instance, with a task that does nothing."""
    import ray
    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    start = time.perf_counter() - t0

    @ray.remote
    def noop(x):
        return x

    ray.get([noop.remote(i) for i in range(20)])  # start the workers
    t0 = time.perf_counter()
    ray.get([noop.remote(i) for i in range(n)])
    throughput_ms = (time.perf_counter() - t0) / n * 1000
    t0 = time.perf_counter()
    for i in range(50):
        ray.get(noop.remote(i))
    latency_ms = (time.perf_counter() - t0) / 50 * 1000
    ray.shutdown()
    return start, throughput_ms, latency_ms


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=20)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--frames", type=int, default=15)
    ap.add_argument("--gaussians", type=int, default=None, help="default: the template back-end's")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "avatar_studio_bench_photos")
    ap.add_argument("--runs", default="local1,local2,ray", help="comma-separated: local1, local2, ray")
    args = ap.parse_args()
    from avatar_studio.core.batch import JobDefaults, run_batch

    t0 = time.perf_counter()
    photos = make_photos(args.cache, args.photos)
    print(f"{len(photos)} photos in {args.cache} ({time.perf_counter() - t0:.1f} s to prepare)")
    motions = [str(RESOURCES_DIR / "motions" / "walk.npz"), str(RESOURCES_DIR / "motions" / "wave.npz")]
    defaults = JobDefaults(motions=motions, size=(args.size, args.size), frames=args.frames,
                           gaussians=args.gaussians, renderer="cpu")
    print(f"jobs: {len(photos)} photos x {len(motions)} motions, video {args.size} px, {args.frames} frames, "
          f"CPU renderer; load before: {os.getloadavg()[0]:.2f}")
    for run in args.runs.split(","):
        engine, workers = ("ray", 2) if run == "ray" else ("local", int(run[-1]))
        out = Path(tempfile.mkdtemp(prefix=f"bench_batch_{run}_"))
        try:
            s = run_batch(str(args.cache / "*.png"), out, defaults=defaults, engine=engine, workers=workers,
                          quiet=True)
            tasks = json.loads(s.results_path.read_text())["tasks"]
        finally:
            shutil.rmtree(out, ignore_errors=True)
        per_kind = {k: [t["seconds"] for t in tasks if t["kind"] == k and t["seconds"]] for k in ("avatar", "motion")}
        mean = ", ".join(f"{k} {sum(v) / len(v):.1f} s" for k, v in per_kind.items() if v)
        print(f"{run:>6}: {s.jobs} jobs ({s.tasks} tasks, {s.failed} failed) in {s.seconds:6.1f} s = "
              f"{s.jobs_per_minute:5.1f} jobs/min (mean task: {mean}); load after {os.getloadavg()[0]:.2f}")
    if "ray" in args.runs:
        start, per_task, latency = ray_overhead()
        print(f"ray overhead (no-op task, local instance, 2 CPUs): ray.init {start:.1f} s, "
              f"{per_task:.2f} ms/task with many in flight, {latency:.2f} ms for one task's round trip")


if __name__ == "__main__":
    main()
