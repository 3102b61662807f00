"""Run heavy job functions (photo reconstruction) in a separate, long-lived Python process.

Why: in-process worker threads share the GIL with the GUI thread; native code that holds it (and the
Python glue of a reconstruction) made the window stutter by 100+ ms on a 2-core machine. A child
process shares nothing, so the UI stays responsive, a crash in native code cannot take the window
down, and Cancel is guaranteed: the child is asked to stop and, if it has not within
`KILL_AFTER_S`, it is killed (and a fresh one started).

The child is `python -m avatar_studio.app.process_worker ADDRESS` (not multiprocessing's spawn, which
re-runs an unguarded main script); it connects back over a local socket with an auth key.

Protocol (one connection; messages are tuples, pickled):
    parent -> child: ("run", "module:function", kwargs) | ("cancel",) | ("quit",)
    child -> parent: ("ready",) | ("progress", stage, fraction) | ("result", value)
                     | ("error", kind, message, traceback)   kind: "cancelled" | "studio" | "internal"
A job function has the signature fn(progress, cancel, **kwargs) -> picklable value, like the
functions `jobs.Job` runs in a thread.
"""
from __future__ import annotations

import importlib
import os
import queue
import secrets
import subprocess
import sys
import threading
import time
import traceback
from multiprocessing.connection import Client, Listener
from typing import Any, Callable

KILL_AFTER_S = 0.5           # a cancelled child that has not stopped by then is killed
PROGRESS_INTERVAL_S = 0.05   # the child sends at most ~20 progress messages a second
WARM_MODULES = ("avatar_studio.core.reconstruct.base", "avatar_studio.core.reconstruct.factory",
                "avatar_studio.core.reconstruct.template", "avatar_studio.core.body.model")


# ---------------------------------------------------------------------- child side
def _child_main(conn) -> None:  # runs in the child process
    try:
        os.nice(2)  # the GUI process comes first
    except (AttributeError, OSError):
        pass
    import torch
    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))
    for name in WARM_MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # reported when a job actually needs it
            pass
    try:
        from avatar_studio.core.body.model import body_for_rig, default_body_model
        default_body_model()
        body_for_rig("standin")
    except Exception:
        pass
    from avatar_studio.core.errors import CancelledError, StudioError
    from avatar_studio.core.reconstruct.base import CancelToken

    jobs: queue.Queue = queue.Queue()
    current: dict[str, Any] = {"token": None}

    def listen() -> None:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):  # the studio has gone: stop the job, then exit
                if current["token"] is not None:
                    current["token"].cancel()
                jobs.put(None)
                return
            if msg[0] == "cancel":
                if current["token"] is not None:
                    current["token"].cancel()
            elif msg[0] == "run":
                jobs.put(msg)
            else:  # quit
                jobs.put(None)
                return

    threading.Thread(target=listen, daemon=True).start()
    conn.send(("ready",))
    while True:
        msg = jobs.get()
        if msg is None:
            return
        _, target, kwargs = msg
        token = CancelToken()
        current["token"] = token
        last = [0.0, ""]

        def progress(stage: str, fraction: float) -> None:
            now = time.perf_counter()
            if stage != last[1] or now - last[0] >= PROGRESS_INTERVAL_S or fraction >= 1.0:
                last[0], last[1] = now, stage
                conn.send(("progress", str(stage), float(fraction)))
            token.check()

        try:
            module, name = target.split(":")
            fn = getattr(importlib.import_module(module), name)
            result = fn(progress, token, **kwargs)
            token.check()
            conn.send(("result", result))
        except CancelledError as err:
            conn.send(("error", "cancelled", str(err), ""))
        except StudioError as err:
            conn.send(("error", "studio", str(err), traceback.format_exc()))
        except MemoryError:
            conn.send(("error", "studio", "Out of memory. Try a smaller image or fewer Gaussians.",
                          traceback.format_exc()))
        except BaseException as err:  # noqa: BLE001 - a bug: report it, keep serving
            conn.send(("error", "internal", f"Unexpected error: {type(err).__name__}: {err}",
                          traceback.format_exc()))
        finally:
            current["token"] = None


# ---------------------------------------------------------------------- job functions run in the child
def reconstruct_photo(progress: Callable[[str, float], None], cancel: Any, *, path: str, backend: str,
                      model_dir: str | None, prior_dir: str | None) -> Any:
    """Photo file -> ReconstructionResult (the avatar is named after the file), as the CLI does it."""
    from avatar_studio.core.pipeline import reconstruct_file
    progress("reading photo", 0.0)  # the window shows a stage while the photo loads
    return reconstruct_file(path, backend=backend, model_dir=model_dir, prior_dir=prior_dir, progress=progress,
                            cancel=cancel)


def selftest(progress: Callable[[str, float], None], cancel: Any, *, seconds: float = 0.0, fail: str | None = None,
             ignore_cancel: bool = False) -> Any:
    """Diagnostics of the worker process: wait `seconds` reporting progress, then return the child's pid,
    or fail as asked ("studio": a StudioError; "crash": the process dies)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        time.sleep(0.02)
        if not ignore_cancel:
            progress("waiting", (time.perf_counter() - t0) / seconds)
    if fail == "studio":
        from avatar_studio.core.errors import InputError
        raise InputError("The self-test failed as asked.")
    if fail == "crash":
        os._exit(3)
    return os.getpid()


# ---------------------------------------------------------------------- parent side
class ProcessWorker:
    """One child process serving one job at a time. `call` blocks (run it from a job thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()        # one job at a time
        self._start_lock = threading.Lock()  # one child at a time
        self._proc: subprocess.Popen | None = None
        self._conn: Any = None
        self._listener: Any = None
        self._authkey = secrets.token_bytes(16)
        self._connecting: threading.Thread | None = None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start (or restart) the child; returns at once, the child warms up on its own."""
        with self._start_lock:
            self._start()

    def _start(self) -> None:
        if self.alive:
            return
        if self._listener is None:
            self._listener = Listener(authkey=self._authkey)
        env = dict(os.environ, AVATAR_STUDIO_WORKER_KEY=self._authkey.hex())
        self._conn = None
        self._proc = subprocess.Popen([sys.executable, "-m", "avatar_studio.app.process_worker",
                                       str(self._listener.address)], env=env, stdin=subprocess.DEVNULL)
        self._connecting = threading.Thread(target=self._accept, daemon=True)
        self._connecting.start()

    def _accept(self) -> None:
        try:
            self._conn = self._listener.accept()
        except (OSError, EOFError):
            self._conn = None

    def _wait_connected(self, progress: Callable[[str, float], None], cancel: Any, timeout_s: float = 180.0) -> Any:
        """The connection to the child once it has connected back (it starts in a second or two)."""
        from avatar_studio.core.errors import CancelledError, StudioError
        t0 = time.perf_counter()
        while self._conn is None:
            if not self.alive:
                raise self._died()
            if cancel.cancelled:
                raise CancelledError()
            if time.perf_counter() - t0 > timeout_s:
                self._kill()
                raise StudioError("The reconstruction process did not start.")
            try:
                progress("starting the reconstruction process", 0.0)
            except CancelledError:
                pass
            if self._connecting is not None:
                self._connecting.join(0.1)
        return self._conn

    def _died(self, what: str = "stopped unexpectedly") -> Exception:
        from avatar_studio.core.errors import StudioError
        code = self._proc.poll() if self._proc is not None else None
        self._proc = None
        self._conn = None
        return StudioError(f"The reconstruction process {what} (exit code {code}). Try again; if it keeps "
                           "happening, try another photo.")

    def stop(self, timeout_s: float = 1.0) -> None:
        proc = self._proc
        if proc is None:
            return
        try:
            if self._conn is not None:
                self._conn.send(("quit",))
        except (OSError, ValueError):
            pass
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10.0)  # a killed child is reaped at once on a quiet machine; allow for a loaded one
        self._proc = None
        self._conn = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def _kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(10.0)
        self._proc = None
        self._conn = None

    def call(self, target: str, kwargs: dict, progress: Callable[[str, float], None], cancel: Any) -> Any:
        """Run `module:function` in the child with `kwargs`; relays progress; honours `cancel`."""
        from avatar_studio.core.errors import CancelledError, StudioError
        with self._lock:
            self.start()
            conn = self._wait_connected(progress, cancel)
            conn.send(("run", target, kwargs))
            cancel_sent: float | None = None
            while True:
                if cancel.cancelled and cancel_sent is None:
                    cancel_sent = time.perf_counter()
                    try:
                        conn.send(("cancel",))
                    except (OSError, ValueError):
                        pass
                if cancel_sent is not None and time.perf_counter() - cancel_sent > KILL_AFTER_S:
                    self._kill()
                    threading.Thread(target=self.start, daemon=True).start()  # be warm for the next photo
                    raise CancelledError()
                if not self.alive:
                    raise self._died()
                try:
                    if not conn.poll(0.05):
                        continue
                    msg = conn.recv()
                except (EOFError, OSError):
                    time.sleep(0.05)
                    continue  # the liveness check above reports it
                kind = msg[0]
                if kind == "progress":
                    try:
                        progress(msg[1], msg[2])
                    except CancelledError:
                        pass  # noticed at the top of the loop
                elif kind == "result":
                    return msg[1]
                elif kind == "error":
                    _, what, message, details = msg
                    if what == "cancelled":
                        raise CancelledError()
                    err = StudioError(message)
                    err.details = details  # type: ignore[attr-defined]
                    raise err


def _serve(address: str) -> None:
    """Child entry point: connect back to the studio and serve jobs until told to quit (or the studio
    goes away, which ends this process quietly)."""
    key = bytes.fromhex(os.environ.pop("AVATAR_STUDIO_WORKER_KEY", ""))
    try:
        conn = Client(address, authkey=key)
    except (OSError, EOFError):
        return
    try:
        _child_main(conn)
    except (OSError, EOFError):
        pass
    finally:
        conn.close()


if __name__ == "__main__":
    _serve(sys.argv[1])
