"""Start-up of light CLI commands: wall time of `avatar-studio --help` and `avatar-studio info` on a small PLY,
each in a fresh process (median of N runs), and whether torch was imported.

    python tests/bench/bench_startup.py [--runs 7]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def small_ply(folder: Path) -> Path:
    from avatar_studio.core.gaussians import GaussianSet
    from avatar_studio.core.io.ply import write_ply
    rng = np.random.default_rng(0)
    n = 1000
    path = folder / "small.ply"
    write_ply(path, GaussianSet(rng.normal(size=(n, 3)), np.tile([1.0, 0, 0, 0], (n, 1)), np.full((n, 3), 0.01),
                                np.full(n, 0.5), np.zeros((n, 1, 3))))
    return path


def timed(argv: list[str], runs: int) -> tuple[float, float, bool]:
    """(median wall s, min wall s, torch imported) for `python -m avatar_studio.cli ARGV`."""
    code = ("import sys\nfrom avatar_studio.cli.main import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            "sys.stderr.write('TORCH\\n' if 'torch' in sys.modules else 'NO-TORCH\\n')")
    walls, torch_seen = [], False
    for _ in range(runs):
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        walls.append(time.perf_counter() - t0)
        torch_seen |= done.stderr.strip().endswith("TORCH") and not done.stderr.strip().endswith("NO-TORCH")
    return statistics.median(walls), min(walls), torch_seen


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        ply = small_ply(Path(tmp))
        for label, argv in (("--help", ["--help"]), ("info small.ply", ["info", str(ply)])):
            med, best, torch_seen = timed(argv, args.runs)
            print(f"avatar-studio {label:<16} median {med:.3f} s, best {best:.3f} s, "
                  f"torch imported: {'yes' if torch_seen else 'no'}")


if __name__ == "__main__":
    main()
