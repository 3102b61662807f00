"""The full fuzz run: >= 1,000 cases per loader, printed as a table of cases per outcome.

    nice -n 10 python tests/fuzz/run_fuzz.py --cases 1100 --workers 2 [--keep /tmp/fuzz-failures]

Exits 1 when any case crashed, hung, blew memory, passed NaN/Inf on silently or printed a bad message.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fuzz.runner import GOOD, run_cases, table  # noqa: E402
from fuzz.targets import TARGETS  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=1100, help="cases per loader (default 1100)")
    p.add_argument("--targets", default=",".join(TARGETS), help="comma-separated loaders (default: all)")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per case before it counts as a hang")
    p.add_argument("--memory", type=int, default=1024, help="MiB a case may allocate before it counts as a blow-up")
    p.add_argument("--keep", type=Path, default=None, help="copy failing inputs into this folder")
    args = p.parse_args(argv)
    names = args.targets.split(",")
    cases = [(t, i) for i in range(args.cases) for t in names]
    t0 = time.monotonic()
    done = Counter()

    def progress(r) -> None:
        done[r.outcome] += 1
        if r.outcome not in GOOD:
            print(f"{r.target} #{r.index}: {r.outcome}: {r.detail}", file=sys.stderr)
        n = sum(done.values())
        if n % 500 == 0:
            print(f"... {n}/{len(cases)} cases, {time.monotonic() - t0:.0f} s", file=sys.stderr)

    results = run_cases(cases, seed=args.seed, workers=args.workers, timeout=args.timeout, memory_mib=args.memory,
                        keep=args.keep, progress=progress)
    print(table(results))
    print(f"\n{len(results)} cases in {time.monotonic() - t0:.0f} s (seed {args.seed}, {args.workers} workers, "
          f"{args.timeout:g} s and {args.memory} MiB per case)")
    return 0 if all(r.outcome in GOOD for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
