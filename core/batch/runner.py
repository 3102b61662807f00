"""The batch scheduler: plan the tasks, hand ready ones to an engine, record each result as it
comes back, show progress, stop cleanly on Ctrl-C, and sum up.

Nothing lost, nothing repeated: every output is written atomically by the core writers; each
finished task is journalled at once and the results manifest rewritten atomically (results.py);
a stop or crash leaves at worst temp files, which the next run removes; `resume=True` skips tasks
already done.
"""
from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, TextIO

from ..errors import CancelledError, InputError, StudioError
from .engines import create_engine
from .jobs import VIDEO_KINDS, JobDefaults, Task, plan_tasks, read_jobs
from .results import RESULTS_NAME, Results

MAX_CRASHES = 2  # a task whose worker dies this many times is failed, not retried


@dataclass
class BatchSummary:
    """What a run did. `failures`: (task id, input, error) for every task that failed or was skipped."""

    results_path: Path
    jobs: int
    tasks: int
    done: int
    failed: int
    resumed: int
    seconds: float
    failures: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def jobs_per_minute(self) -> float:
        return 60.0 * self.jobs / self.seconds if self.seconds > 0 else 0.0


def _fmt_eta(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


class BatchProgress:
    """A bar with done/failed counts and an ETA on stderr: redrawn on a terminal, one line per
    finished task in a log."""

    def __init__(self, total: int, already: int, quiet: bool, stream: TextIO | None = None) -> None:
        self.total, self.already, self.quiet = total, already, quiet
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.t0 = time.perf_counter()
        self._last = 0.0

    def line(self, done: int, failed: int, running: int) -> str:
        finished = done + failed
        pct = finished / max(self.total, 1)
        elapsed = time.perf_counter() - self.t0
        new = finished - self.already
        eta = f"ETA {_fmt_eta(elapsed / new * (self.total - finished))}" if new > 0 else "ETA --"
        bar = "#" * int(pct * 24)
        return (f"batch: [{bar:<24}] {finished}/{self.total} done {done} failed {failed} running {running} "
                f"{eta}")

    def update(self, done: int, failed: int, running: int, *, finished_one: bool) -> None:
        if self.quiet:
            return
        now = time.perf_counter()
        if self.tty:
            if finished_one or now - self._last > 0.5:
                self.stream.write("\r" + self.line(done, failed, running).ljust(100))
                self.stream.flush()
                self._last = now
        elif finished_one:
            self.stream.write(self.line(done, failed, running) + "\n")
            self.stream.flush()

    def close(self) -> None:
        if not self.quiet and self.tty:
            self.stream.write("\n")


def sweep_temps(paths: list[str]) -> int:
    """Remove the temp files and folders atomic writers leave beside these outputs when killed
    (`.{stem}.XXXX{suffix}`); returns how many were removed."""
    import shutil
    removed = 0
    for p in map(Path, paths):
        if not p.parent.is_dir():
            continue
        for tmp in p.parent.glob(f".{p.stem}.*"):
            if tmp.name.endswith(".old") and tmp.is_dir():
                continue
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    tmp.unlink()
            removed += 1
    return removed


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """A `kill` (SIGTERM) stops the batch as cleanly as Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def run_batch(source: str | Path, out_dir: str | Path, *, defaults: JobDefaults | None = None,
              engine: str = "local", workers: int | None = None, address: str | None = None,
              resume: bool = False, quiet: bool = False, stream: TextIO | None = None) -> BatchSummary:
    """Run every job in `source` (see jobs.read_jobs) into `out_dir`.

    Raises CancelledError after Ctrl-C/SIGTERM, once the workers are stopped, their partial outputs
    removed and the results manifest saved with the running tasks marked interrupted.
    """
    d = defaults or JobDefaults()
    stream = stream or sys.stderr
    out = Path(out_dir).resolve()
    jobs = read_jobs(source, d)
    tasks = plan_tasks(jobs, out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"Cannot create the output folder {out}: {err.strerror}.") from err
    results = Results(out / RESULTS_NAME, str(source), tasks)
    resumed: list[str] = []
    if resume:
        resumed = results.adopt_finished(Results.load(results.path))
    sweep_temps([p for t in tasks for p in t.outputs.values()] + [str(results.path)])
    by_id = {t.id: t for t in tasks}
    crashes: dict[str, int] = {}

    # The pool warms the reconstructor and renderer the tasks still to run use most.
    todo = [t for t in tasks if t.id not in resumed]
    backends = [t.backend for t in todo if t.kind == "avatar"]
    renderers = [t.renderer for t in todo if t.kind == "motion" and any(k in VIDEO_KINDS for k in t.outputs)]
    warm = {"backend": max(set(backends), key=backends.count) if backends else None,
            "gaussians": next((t.gaussians for t in todo if t.kind == "avatar"), None),
            "renderer": max(set(renderers), key=renderers.count) if renderers else None}
    runner = create_engine(engine, workers=workers, address=address, warm=warm)
    progress = BatchProgress(len(tasks), len(resumed), quiet, stream)
    t0 = time.perf_counter()
    running: dict[Any, str] = {}
    status = lambda tid: results.records[tid]["status"]  # noqa: E731

    def save(finished: bool = False, force: bool = False) -> None:
        results.save(engine=engine, finished=finished, force=force)

    def record(task_id: str, result: dict[str, Any]) -> None:
        if result["status"] == "crashed":
            crashes[task_id] = crashes.get(task_id, 0) + 1
            sweep_temps(list(by_id[task_id].outputs.values()))
            if crashes[task_id] < MAX_CRASHES:
                results.records[task_id]["status"] = "pending"  # another worker tries it again
                return
            result = dict(result, status="failed")
        results.finish(task_id, result["status"], error=result.get("error"), seconds=result.get("seconds"),
                       worker=result.get("worker"))

    def ready() -> list[Task]:
        """Pending tasks whose avatar is done; tasks whose avatar failed are skipped here."""
        out_tasks = []
        for t in tasks:
            if status(t.id) != "pending":
                continue
            if t.kind == "invalid":
                results.finish(t.id, "failed", error=t.error)
                continue
            dep = status(t.depends_on) if t.depends_on else "done"
            if dep in ("failed", "skipped"):
                results.finish(t.id, "skipped", error=f"its avatar ({t.depends_on}) failed")
            elif dep == "done":
                out_tasks.append(t)
        return out_tasks

    try:
        with _sigterm_as_interrupt():
            save(force=True)
            while True:
                finished = False
                for t in ready():
                    if len(running) >= runner.slots:
                        break
                    if t.id in running.values():
                        continue
                    results.mark_running(t.id)
                    try:
                        running[runner.submit(t)] = t.id
                    except StudioError as err:  # the engine cannot run it at all (e.g. no GPU)
                        results.finish(t.id, "failed", error=str(err))
                if not running:
                    if any(status(t.id) == "pending" for t in tasks):
                        continue  # newly skipped tasks may have freed others; re-plan
                    break
                for handle, result in runner.wait(running, timeout=0.25):
                    record(running.pop(handle), result)
                    finished = True
                save()  # throttled: at most once a second, and only after a change
                progress.update(results.count("done"), results.count("failed", "skipped"), len(running),
                                finished_one=finished)
            save(finished=True, force=True)
    except KeyboardInterrupt:
        runner.stop(list(running))
        sweep_temps([p for tid in running.values() for p in by_id[tid].outputs.values()])
        results.interrupt_running()
        save(force=True)
        left = sum(1 for r in results.records.values() if r["status"] not in ("done", "failed", "skipped"))
        raise CancelledError(f"batch stopped: {results.count('done')} done, {results.count('failed', 'skipped')} "
                             f"failed, {left} not run; run again with --resume to finish "
                             f"(results in {results.path})") from None
    finally:
        progress.close()
        runner.close()

    def source_of(task: Task) -> str:  # the photo a person knows, not the avatar file it was to become
        dep = by_id.get(task.depends_on or "")
        return (dep.photo if dep else None) or task.photo or task.avatar or ""

    failures = [(r["id"], source_of(by_id[r["id"]]), r["error"] or "") for r in results.failures()]
    return BatchSummary(results.path, len(jobs), len(tasks), results.count("done"),
                        results.count("failed", "skipped"), len(resumed), time.perf_counter() - t0, failures)
