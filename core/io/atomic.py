"""Atomic output: write to a temp file beside the target, then rename, so a crash never leaves half a file.

Temp names carry a tag and the writer's process id (`.<name>.avstmp-<pid>-<random><suffix>`), so they are
recognisable: a writer removes its own on failure, cancel or SIGTERM (the CLI turns SIGTERM into an
exception), and the next write into the same folder (or `sweep_stale`) removes those a killed process
left behind. Scratch folders in the system temp dir (`scratch_dir`) follow the same rule.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from ..errors import InputError

TEMP_TAG = "avstmp"
_STALE = re.compile(rf"(?:^|\.){TEMP_TAG}-(\d+)-")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def pid_alive(pid: int) -> bool:
    """True unless no process `pid` exists (a process we may not signal, or an odd number, counts as alive)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):
        return True
    return True


def sweep_stale(folder: str | Path) -> list[Path]:
    """Remove temp files and folders in `folder` left by writers that no longer run; returns what was removed."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _STALE.search(entry.name)
        if not m or pid_alive(int(m.group(1))):
            continue
        path = Path(entry.path)
        if entry.name.endswith("-old") and entry.name.startswith("."):
            # atomic_dir's previous folder: killed between its two renames, it is the only copy left
            target = path.with_name(entry.name[1:].split(f".{TEMP_TAG}-")[0])
            if not target.exists():
                with contextlib.suppress(OSError):
                    os.replace(path, target)
                    removed.append(path)
                    continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
        removed.append(path)
    return removed


def temp_prefix(name: str) -> str:
    """The start of a temp name for `name` written by this process."""
    return f".{name}.{TEMP_TAG}-{os.getpid()}-"


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temp path in the target's folder; on success rename it onto `path`, else delete it.

    `suffix` keeps the extension for writers that choose a format from it (imageio, numpy).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"Cannot create the folder {path.parent}: {err.strerror}.") from err
    sweep_stale(path.parent)
    tmp_path: Path | None = None
    held = signals_deferred()  # a signal right after mkstemp must still find the cleanup below armed
    held.__enter__()
    try:
        try:
            fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path.stem),
                                       suffix=suffix if suffix is not None else path.suffix, dir=path.parent)
            os.close(fd)
            tmp_path = Path(tmp)
        except OSError as err:
            raise InputError(f"Cannot write in {path.parent}: {err.strerror}.") from err
        finally:
            held.__exit__(None, None, None)
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get normal permissions
        os.replace(tmp_path, path)
    except BaseException:
        if tmp_path is not None:
            with contextlib.suppress(OSError):
                tmp_path.unlink()
        raise


def write_bytes_atomically(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` through `atomic_path`: an existing file is replaced only by a whole new one."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temp folder beside `path`; on success it replaces `path` (a folder), else it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(path.parent)
    tmp: Path | None = None
    held = signals_deferred()
    held.__enter__()
    try:
        try:
            tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(path.name), dir=path.parent))
        finally:
            held.__exit__(None, None, None)
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        if path.exists():
            old = path.with_name(f"{temp_prefix(path.name)}old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise


class Terminated(BaseException):
    """SIGTERM, raised in the main thread by `sigterm_unwinds` so writers unwind and remove their temp files."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


@contextlib.contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """While active, SIGTERM raises `Terminated` in the main thread (elsewhere: nothing changes)."""
    import signal
    try:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends, then deliver them (main thread only).

    For steps that must not be cut in half, such as starting an encoder process: interrupted inside
    `Popen`, the child would be orphaned and could write a temp file after it was cleaned up.
    """
    import signal
    import threading
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: held.append(signum)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if held:
            signal.raise_signal(held[0])


@contextlib.contextmanager
def scratch_dir(label: str) -> Iterator[Path]:
    """A private work folder in the system temp dir, removed afterwards (and swept if this process is killed)."""
    base = Path(tempfile.gettempdir())
    sweep_stale(base)
    tmp: Path | None = None
    held = signals_deferred()
    held.__enter__()
    try:
        try:
            tmp = Path(tempfile.mkdtemp(prefix=f"avatar-studio-{label}.{TEMP_TAG}-{os.getpid()}-", dir=base))
        finally:
            held.__exit__(None, None, None)
        yield tmp
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
