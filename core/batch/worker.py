"""What runs inside a worker (a pool process or a Ray worker): one task at a time, through the same
core operations the CLI commands use. Models and renderers are loaded once per worker process and
kept for its later tasks.

`run_task` never raises for a bad input: it returns a result dict with status "failed" and a
one-line message, so one bad photo never stops the others.
"""
from __future__ import annotations

import os
import signal
import socket
import time
from typing import Any

from ..errors import StudioError
from .jobs import VIDEO_KINDS, Task

# Per-process cache: (kind, settings) -> a loaded reconstructor or renderer.
_CACHE: dict[tuple, Any] = {}


def _reconstructor(task: Task):
    key = ("rec", task.backend, task.model, task.prior, task.gaussians)
    if key not in _CACHE:
        from ..reconstruct.factory import create_reconstructor
        _CACHE[key] = create_reconstructor(task.backend, model_dir=task.model, prior_dir=task.prior,
                                           num_gaussians=task.gaussians)
    return _CACHE[key]


def _renderer(name: str):
    key = ("render", name)
    if key not in _CACHE:
        from ..operations import create_video_renderer
        _CACHE[key] = create_video_renderer(name)
    return _CACHE[key]


def init_worker(warm: dict[str, Any] | None = None) -> None:
    """Pool initializer: leave Ctrl-C to the driver (it stops the pool), then load the models the
    tasks will need, once. `warm` may name {"backend", "gaussians", "renderer", "threads"}; a load
    that fails here is retried (and reported) by the first task that needs it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if not warm:
        return
    try:
        if warm.get("threads"):
            import torch
            torch.set_num_threads(int(warm["threads"]))
        from ..body.model import default_body_model
        default_body_model()
        if warm.get("backend"):
            _reconstructor(Task(id="warm", kind="avatar", outputs={}, backend=warm["backend"],
                                gaussians=warm.get("gaussians")))
        if warm.get("renderer"):
            _renderer(warm["renderer"])
    except Exception:  # noqa: BLE001 - the task that needs the model reports the failure
        pass


def _run(task: Task) -> list[str]:
    from .. import operations as ops
    if task.kind == "invalid":
        raise StudioError(task.error or "invalid job")
    if task.kind == "avatar":
        path, _ = ops.reconstruct_photo(task.photo, task.outputs["ply"], reconstructor=_reconstructor(task))
        return [str(path)]
    written = []
    for kind, out in task.outputs.items():
        if kind in VIDEO_KINDS:
            w, h = task.size
            settings = ops.VideoSettings(width=w, height=h, fps=task.fps, frames=task.frames, camera=task.camera)
            path, _ = ops.animate_avatar(task.avatar, task.motion, out, settings, renderer=_renderer(task.renderer),
                                         body_dir=task.body)
        elif kind == "ply":
            path = ops.pose_avatar(task.avatar, task.motion, out, time=task.time, body_dir=task.body)
        elif kind == "glb":
            path = ops.export_glb(task.avatar, out, motion=task.motion, body_dir=task.body)
        else:
            raise StudioError(f"unknown output kind '{kind}'")
        written.append(str(path))
    return written


def run_task(task_dict: dict[str, Any]) -> dict[str, Any]:
    """Run one task (as Task.to_dict()). Returns {"id", "status": "done"|"failed", "outputs",
    "error", "seconds", "worker"}."""
    task = Task.from_dict(task_dict)
    t0 = time.perf_counter()
    result: dict[str, Any] = {"id": task.id, "outputs": [], "error": None,
                              "worker": f"{socket.gethostname()}:{os.getpid()}"}
    try:
        result["outputs"] = _run(task)
        result["status"] = "done"
    except StudioError as err:
        result["status"], result["error"] = "failed", str(err)
    except MemoryError:
        result["status"], result["error"] = "failed", "out of memory"
    except Exception as err:  # noqa: BLE001 - a bug or a library error: report it, keep the batch going
        result["status"], result["error"] = "failed", f"internal error: {type(err).__name__}: {str(err)[:300]}"
    result["seconds"] = round(time.perf_counter() - t0, 3)
    return result
