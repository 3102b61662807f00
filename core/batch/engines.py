"""Where tasks run: a process pool on this machine, or Ray tasks on a cluster (or a local Ray).

Both engines take the same task dicts and return the same result dicts (worker.run_task); the
scheduler (runner.py) talks to them through submit / wait / stop / close.
"""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
from typing import Any

from ..errors import BackendUnavailableError, InputError
from .jobs import Task
from .worker import init_worker, run_task

RAY_MISSING = "The ray engine needs Ray: pip install 'avatar-studio[cluster]'"


def crashed(task_id: str, why: str) -> dict[str, Any]:
    """The result of a task whose worker died under it (the scheduler may retry it once)."""
    return {"id": task_id, "status": "crashed", "outputs": [], "error": why, "seconds": None, "worker": None}


class LocalEngine:
    """A pool of `workers` processes (spawned, so no torch/GL state is forked); each loads its models
    once in the initializer and ignores Ctrl-C, which the driver handles by terminating the pool."""

    name = "local"

    def __init__(self, workers: int | None = None, warm: dict[str, Any] | None = None) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.slots = self.workers
        # Each worker's torch gets its share of the cores (as Ray does), not all of them.
        self._warm = dict(warm or {}, threads=max(1, (os.cpu_count() or 1) // self.workers))
        self._pool: cf.ProcessPoolExecutor | None = None

    def _executor(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            self._pool = cf.ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                                initializer=init_worker, initargs=(self._warm,))
        return self._pool

    def submit(self, task: Task) -> cf.Future:
        try:
            return self._executor().submit(run_task, task.to_dict())
        except cf.process.BrokenProcessPool:  # a worker died earlier: start a fresh pool
            self._pool = None
            return self._executor().submit(run_task, task.to_dict())

    def wait(self, handles: dict[Any, str], timeout: float) -> list[tuple[Any, dict[str, Any]]]:
        """The handles that finished within `timeout` seconds, with their results."""
        done, _ = cf.wait(list(handles), timeout=timeout, return_when=cf.FIRST_COMPLETED)
        out = []
        for fut in done:
            try:
                out.append((fut, fut.result()))
            except cf.process.BrokenProcessPool:
                self._pool = None  # the next submit starts a fresh pool
                out.append((fut, crashed(handles[fut], "its worker process died (a crash or out of memory)")))
        return out

    def stop(self, handles: list[Any]) -> None:
        """Terminate the workers now (running tasks die; the driver removes their partial files)."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        procs = list(getattr(pool, "_processes", {}).values())  # the executor has no public terminate
        for p in procs:
            p.terminate()
        for p in procs:
            p.join(timeout=10)
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def import_ray():
    """The ray module, or a one-line error naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise BackendUnavailableError(RAY_MISSING) from None
    return ray


class RayEngine:
    """Tasks as Ray tasks: on the cluster at `address` (inputs and outputs must then be on a path
    every node sees), or on a local Ray instance with `workers` CPUs. GPU tasks ask for one GPU."""

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        ray = import_ray()
        self.ray = ray
        self._own = not ray.is_initialized()
        if self._own:
            kwargs: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
            if address:
                kwargs["address"] = address
            else:
                kwargs["num_cpus"] = max(1, workers or os.cpu_count() or 1)
            try:
                ray.init(**kwargs)
            except Exception as err:  # noqa: BLE001 - Ray raises several types for a bad address or start
                where = f"the Ray cluster at {address}" if address else "a local Ray instance"
                raise InputError(f"Cannot start or reach {where}: {str(err).strip()[:200]}") from err
        resources = ray.cluster_resources()
        cpus = int(resources.get("CPU", 1))
        self.gpus = int(resources.get("GPU", 0))
        self.slots = max(1, workers or cpus) if address else max(1, cpus)
        self._remote = ray.remote(run_task)

    def submit(self, task: Task) -> Any:
        if task.needs_gpu and not self.gpus:  # Ray would keep it pending for ever
            raise BackendUnavailableError("this task needs a GPU (LHM back-end or gsplat renderer) and the Ray "
                                          "cluster has none")
        return self._remote.options(num_cpus=1, num_gpus=1 if task.needs_gpu else 0).remote(task.to_dict())

    def wait(self, handles: dict[Any, str], timeout: float) -> list[tuple[Any, dict[str, Any]]]:
        ready, _ = self.ray.wait(list(handles), num_returns=1, timeout=timeout)
        out = []
        for ref in ready:
            try:
                out.append((ref, self.ray.get(ref)))
            except Exception as err:  # noqa: BLE001 - a lost worker or node: Ray's own retries are spent
                out.append((ref, crashed(handles[ref], f"its Ray worker failed ({type(err).__name__})")))
        return out

    def stop(self, handles: list[Any]) -> None:
        """Cancel the running tasks (killing their workers), then leave the cluster."""
        for ref in handles:
            try:
                self.ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - already finished or gone
                pass
        self.close()

    def close(self) -> None:
        if self._own and self.ray.is_initialized():
            self.ray.shutdown()  # ends this driver's tasks and, for a local instance, the instance


def create_engine(name: str, *, workers: int | None = None, address: str | None = None,
                  warm: dict[str, Any] | None = None):
    if name == "local":
        if address:
            raise InputError("--address is for --engine ray.")
        return LocalEngine(workers, warm)
    if name == "ray":
        return RayEngine(address, workers)
    raise InputError(f"Unknown engine '{name}'; use local or ray.")
