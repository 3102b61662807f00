"""The results manifest, OUT/batch_results.json: one record per task (status, outputs, seconds,
error, worker).

Two files keep it crash-proof and cheap at thousands of tasks:
- a journal, OUT/batch_results.journal.jsonl: one line appended (and flushed) the moment a task
  finishes; a line cut short by a crash is ignored when read back;
- the manifest itself, rewritten atomically (temp file, then rename) at most once a second while
  tasks finish, and at the end or on a stop. Reading it back replays the journal on top.

Statuses: pending, running, done, failed, interrupted (stopped by Ctrl-C), skipped (its avatar
failed). A resumed run keeps a task that is done with the same settings (key) and whose outputs
exist.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..io.atomic import atomic_path
from .jobs import Task

RESULTS_NAME = "batch_results.json"
JOURNAL_SUFFIX = ".journal.jsonl"
FORMAT = "avatar-studio-batch-results"
SAVE_INTERVAL_S = 1.0


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def journal_path(path: Path) -> Path:
    return path.with_name(path.stem + JOURNAL_SUFFIX)


class Results:
    """Task records keyed by task id, in plan order."""

    def __init__(self, path: Path, source: str, tasks: list[Task]) -> None:
        self.path, self.source = path, source
        self.journal = journal_path(path)
        self.records: dict[str, dict[str, Any]] = {
            t.id: {"id": t.id, "kind": t.kind, "rows": t.rows, "photo": t.photo, "avatar": t.avatar,
                   "motion": t.motion, "outputs": list(t.outputs.values()), "key": t.key(),
                   "status": "pending", "error": None, "seconds": None, "worker": None,
                   "started": None, "finished": None}
            for t in tasks}
        self.started = _now()
        self._saved_at = 0.0
        self._dirty = False

    # ------------------------------------------------------------------ resume
    def adopt_finished(self, previous: dict[str, Any]) -> list[str]:
        """Mark done the tasks `previous` (an earlier manifest) finished with the same key and whose
        outputs are all on disk; returns their ids."""
        kept = []
        for rec in previous.get("tasks", []):
            mine = self.records.get(rec.get("id"))
            if (mine is None or rec.get("status") != "done" or rec.get("key") != mine["key"]
                    or not all(Path(p).exists() for p in mine["outputs"])):
                continue
            for k in ("status", "seconds", "worker", "started", "finished"):
                mine[k] = rec.get(k)
            mine["resumed"] = True
            kept.append(mine["id"])
        return kept

    @staticmethod
    def load(path: Path) -> dict[str, Any]:
        """An earlier manifest with its journal replayed on top, or {} when there is none."""
        data: dict[str, Any] = {}
        if path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
                raise InputError(f"Cannot read the earlier results {path.name} to resume: {err}") from err
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                raise InputError(f"{path} is not a batch results manifest.")
        journal = journal_path(path)
        if journal.exists():
            tasks = {t["id"]: t for t in data.get("tasks", [])}
            for line in journal.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue  # the line a crash cut short
                if isinstance(rec, dict) and "id" in rec:
                    tasks[rec["id"]] = rec
            data = dict(data, format=FORMAT, tasks=list(tasks.values()))
        return data

    # ------------------------------------------------------------------ updates
    def mark_running(self, task_id: str) -> None:
        self.records[task_id].update(status="running", started=_now(), error=None)
        self._dirty = True

    def finish(self, task_id: str, status: str, *, error: str | None = None, seconds: float | None = None,
               worker: str | None = None) -> None:
        """Record a finished task and append it to the journal at once."""
        rec = self.records[task_id]
        rec.update(status=status, error=error, seconds=seconds, worker=worker, finished=_now())
        rec.pop("resumed", None)
        with open(self.journal, "a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self._dirty = True

    def interrupt_running(self) -> None:
        """After a stop: tasks that were running are `interrupted` (their partial files are gone)."""
        for rec in self.records.values():
            if rec["status"] == "running":
                rec.update(status="interrupted", error="stopped before it finished", finished=_now())
        self._dirty = True

    def count(self, *statuses: str) -> int:
        return sum(1 for r in self.records.values() if r["status"] in statuses)

    def failures(self) -> list[dict[str, Any]]:
        return [r for r in self.records.values() if r["status"] in ("failed", "skipped")]

    def save(self, *, engine: str, finished: bool = False, force: bool = False) -> None:
        """Write the manifest atomically, at most once per SAVE_INTERVAL_S unless `force`; a forced
        save starts the journal afresh (the manifest now holds all it said)."""
        now = time.monotonic()
        if not force and (not self._dirty or now - self._saved_at < SAVE_INTERVAL_S):
            return
        data = {"format": FORMAT, "version": 1, "source": self.source, "engine": engine, "started": self.started,
                "updated": _now(), "finished": finished,
                "counts": {s: self.count(s) for s in ("done", "failed", "skipped", "interrupted", "pending",
                                                      "running")},
                "tasks": list(self.records.values())}
        with atomic_path(self.path) as tmp:
            tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        if force:
            self.journal.unlink(missing_ok=True)
        self._saved_at, self._dirty = now, False
