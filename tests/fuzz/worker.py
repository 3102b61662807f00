"""A long-lived fuzz worker: reads `target<TAB>path` lines on stdin, answers one JSON line per case.

It imports every loader, loads each target's valid seeds once (to warm up imports and thread pools),
then caps its address space at what it uses plus `--memory` MiB, so a loader that allocates from a
size claim hits MemoryError instead of the machine. Loader output goes to stderr; the answers use the
original stdout.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import sys
from pathlib import Path

MAX_MESSAGE = 400


def _vm_size() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


def nonfinite(obj, depth: int = 0, seen: set | None = None) -> str | None:
    """The first place where `obj` (arrays, dataclasses, containers) holds NaN or Inf, or None."""
    import numpy as np
    seen = seen if seen is not None else set()
    if depth > 8 or id(obj) in seen:
        return None
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in "fc" and obj.size and not np.all(np.isfinite(obj)):
            return f"array {obj.shape}"
        return None
    if isinstance(obj, float):
        return None if math.isfinite(obj) else "float"
    if isinstance(obj, dict):
        items = list(obj.items())[:2000]
        for k, v in items:
            where = nonfinite(v, depth + 1, seen)
            if where:
                return f"{k}.{where}"
        return None
    if isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj[:2000]):
            where = nonfinite(v, depth + 1, seen)
            if where:
                return f"[{i}].{where}"
        return None
    fields = getattr(obj, "__dict__", None)
    if isinstance(fields, dict) and type(obj).__module__.startswith("avatar_studio"):
        return nonfinite({k: v for k, v in fields.items() if not k.startswith("_") or k == "_frames"},
                         depth + 1, seen)
    return None


def message_problem(message: str) -> str | None:
    if len(message) > MAX_MESSAGE:
        return f"message of {len(message)} characters"
    if "\\x" in message or re.search(r"(^|[\s(:=,])b'", message) or any(ord(c) < 32 for c in message):
        return "message quotes raw bytes"
    return None


def run_case(target, path: Path) -> tuple[str, str]:
    """(outcome, detail) for one case: clean, studio_error, crash, memory, silent_nan, bad_message."""
    from avatar_studio.core.errors import StudioError
    try:
        result = target.load(path)
    except StudioError as err:
        problem = message_problem(str(err))
        return ("bad_message", f"{problem}: {str(err)[:160]!r}") if problem else ("studio_error", str(err)[:200])
    except MemoryError as err:
        return "memory", f"MemoryError {str(err)[:160]}"
    except RecursionError as err:
        return "crash", f"RecursionError {str(err)[:160]}"
    except BaseException as err:  # noqa: BLE001 - every other type is the finding
        import traceback
        tb = traceback.extract_tb(err.__traceback__)
        where = next((f"{Path(f.filename).name}:{f.lineno}" for f in reversed(tb) if "avatar_studio" in f.filename
                      or "/core/" in f.filename), "?")
        return "crash", f"{type(err).__name__} at {where}: {str(err)[:160]}"
    where = nonfinite(result)
    if where:
        return "silent_nan", where
    return "clean", ""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", required=True, help="folder holding <target>/ seed files")
    parser.add_argument("--memory", type=int, default=1024, help="MiB allowed above the warmed-up size")
    parser.add_argument("--targets", default="", help="comma-separated targets to warm up (default: all)")
    args = parser.parse_args()
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # loader prints go to stderr
    sys.stdout = sys.stderr
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from fuzz.targets import TARGETS
    names = args.targets.split(",") if args.targets else list(TARGETS)
    for name in names:  # warm up: import everything, load each valid seed once
        target = TARGETS[name]
        for seed in sorted((Path(args.seeds) / name).iterdir()):
            outcome, detail = run_case(target, seed)
            if outcome != "clean":
                fatal = f"seed {name}/{seed.name} does not load: {outcome} {detail}"
                answers.write(json.dumps({"fatal": fatal}) + "\n")
                return
    limit = _vm_size() + (args.memory << 20)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    answers.write(json.dumps({"ready": os.getpid()}) + "\n")
    for line in sys.stdin:
        name, _, path = line.rstrip("\n").partition("\t")
        outcome, detail = run_case(TARGETS[name], Path(path))
        answers.write(json.dumps({"outcome": outcome, "detail": detail}) + "\n")


if __name__ == "__main__":
    main()
