"""Run fuzz cases in a pool of long-lived workers, each case under a time limit and an address-space limit.

    outcomes = run_cases(cases, workers=2, timeout=10.0)

A case is (target name, index); its file is made from the target's seeds by a `random.Random` seeded
with (seed, target, index), so a failing case can be remade exactly. Outcomes: clean, studio_error,
crash, memory, hang, silent_nan, bad_message.
"""
from __future__ import annotations

import json
import os
import random
import select
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from . import mutate
from .targets import TARGETS

OUTCOMES = ("clean", "studio_error", "crash", "hang", "memory", "silent_nan", "bad_message")
GOOD = {"clean", "studio_error"}
WORKER = Path(__file__).with_name("worker.py")


@dataclass
class Result:
    target: str
    index: int
    outcome: str
    detail: str
    seconds: float


def make_seeds(folder: Path, names: list[str]) -> Path:
    """Valid seed files of each target under folder/<target>/ (made by our own writers)."""
    for name in names:
        d = folder / name
        if not d.is_dir():
            tmp = folder / f".{name}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            TARGETS[name].make_seeds(tmp)
            tmp.rename(d)
    return folder


def make_case(seeds: Path, cases: Path, target: str, index: int, seed: int) -> Path:
    """The damaged input of case (target, index) under `cases`; same arguments, same bytes."""
    rng = random.Random(f"{seed}:{target}:{index}")
    choices = sorted((seeds / target).iterdir())
    src = rng.choice(choices)
    out_dir = cases / f"{target}-{index}"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    dst = out_dir / src.name
    try:
        if TARGETS[target].tree:
            mutate.mutate_tree(rng, src, dst)
        else:
            mutate.mutate_file(rng, src, dst)
    except Exception:  # noqa: BLE001 - a structured mutation that does not apply: damage the bytes instead
        shutil.rmtree(dst, ignore_errors=True) if dst.is_dir() else dst.unlink(missing_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
            victim = sorted(p for p in dst.rglob("*") if p.is_file())[0]
            victim.write_bytes(mutate.flip_bits(rng, victim.read_bytes()))
        else:
            dst.write_bytes(mutate.flip_bits(rng, src.read_bytes()))
    return dst


class _Worker:
    def __init__(self, seeds: Path, names: list[str], memory_mib: int) -> None:
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONFAULTHANDLER="")
        self.proc = subprocess.Popen([sys.executable, str(WORKER), "--seeds", str(seeds), "--memory", str(memory_mib),
                                      "--targets", ",".join(names)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, bufsize=1, env=env)
        first = json.loads(self.proc.stdout.readline() or '{"fatal": "worker died while starting"}')
        if "fatal" in first:
            self.kill()
            raise RuntimeError(first["fatal"])
        self.case: tuple[str, int, Path, float] | None = None

    def send(self, target: str, index: int, path: Path) -> None:
        self.case = (target, index, path, time.monotonic())
        self.proc.stdin.write(f"{target}\t{path}\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


def run_cases(cases: list[tuple[str, int]], *, seed: int = 0, workers: int = 2, timeout: float = 10.0,
              memory_mib: int = 1024, keep: Path | None = None, progress=None) -> list[Result]:
    """Run every (target, index) case; returns one Result each. `keep`: copy failing inputs there."""
    names = sorted({t for t, _ in cases})
    root = Path(tempfile.mkdtemp(prefix="avatar-studio-fuzz-"))
    results: list[Result] = []
    try:
        seeds = make_seeds(root / "seeds", names)
        pending = list(reversed(cases))
        pool = [_Worker(seeds, names, memory_mib) for _ in range(max(1, min(workers, len(cases))))]
        sel = selectors.DefaultSelector()
        for w in pool:
            sel.register(w.proc.stdout, selectors.EVENT_READ, w)

        def feed(w: _Worker) -> None:
            if pending:
                target, index = pending.pop()
                w.send(target, index, make_case(seeds, root / "cases", target, index, seed))
            else:
                w.case = None

        def finish(w: _Worker, outcome: str, detail: str) -> None:
            target, index, path, t0 = w.case
            results.append(Result(target, index, outcome, detail, time.monotonic() - t0))
            if keep is not None and outcome not in GOOD:
                dest = keep / target / f"{outcome}__{index}__{path.name}"
                dest.parent.mkdir(parents=True, exist_ok=True)
                (shutil.copytree if path.is_dir() else shutil.copy)(path, dest)
            shutil.rmtree(path.parent, ignore_errors=True)
            if progress:
                progress(results[-1])

        for w in pool:
            feed(w)
        while any(w.case for w in pool):
            now = time.monotonic()
            wait = min(timeout - (now - w.case[3]) for w in pool if w.case)
            for key, _ in sel.select(max(0.05, wait)):
                w = key.data
                line = w.proc.stdout.readline()
                if line:
                    answer = json.loads(line)
                    finish(w, answer["outcome"], answer["detail"])
                    feed(w)
            for i, w in enumerate(pool):
                if not w.case:
                    continue
                if w.proc.poll() is None and select.select([w.proc.stdout], [], [], 0)[0]:
                    continue  # answered while another worker was restarting: read it on the next round
                died = w.proc.poll() is not None
                late = time.monotonic() - w.case[3] > timeout
                if died or late:
                    sel.unregister(w.proc.stdout)
                    code = w.proc.returncode
                    w.kill()
                    finish(w, "hang" if late and not died else "crash",
                           f"over {timeout:g} s" if late and not died else f"worker died (exit {code})")
                    pool[i] = nw = _Worker(seeds, names, memory_mib)
                    sel.register(nw.proc.stdout, selectors.EVENT_READ, nw)
                    feed(nw)
        for w in pool:
            w.proc.stdin.close()
            w.kill()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return results


def table(results: list[Result]) -> str:
    """A Markdown table of cases per outcome, one row per target and a total."""
    by_target: dict[str, Counter] = {}
    for r in results:
        by_target.setdefault(r.target, Counter())[r.outcome] += 1
    total = Counter(r.outcome for r in results)
    head = "| loader | cases | " + " | ".join(OUTCOMES) + " |"
    rows = [head, "|" + "---|" * (len(OUTCOMES) + 2)]
    for name in sorted(by_target):
        c = by_target[name]
        rows.append(f"| {name} | {sum(c.values())} | " + " | ".join(str(c[o]) for o in OUTCOMES) + " |")
    rows.append(f"| **all** | {sum(total.values())} | " + " | ".join(str(total[o]) for o in OUTCOMES) + " |")
    return "\n".join(rows)
