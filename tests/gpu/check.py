"""The GPU check: install what is missing, then run every CUDA path once within a time budget.

Run through tests/gpu/check.sh (see README, "GPU check"). Standard library only: this file runs
before anything is installed. Every step is a child process with its own timeout, cut to what is
left of the budget; the results file is rewritten after each step, so a run stopped from outside
still leaves what it measured.

Environment:
    GPU_CHECK_BUDGET_S   whole run, install included (default 500)
    GPU_CHECK_OUT        folder for gpu_check.json (default $OUT, else ./gpu-check-out)
    GPU_CHECK_PYTHON     interpreter to run on (default: the one running this file)
    GPU_CHECK_WHEELS     wheels to install offline (default <repo>/.whl, filled by tests/gpu/prepare.sh)
    GPU_CHECK_TORCH      torch version pip installs when the interpreter has no torch (default 2.13.0)
    GPU_CHECK_WORK       scratch folder: site-packages, torch extension cache (default /tmp/avatar-gpu-check)
    GPU_CHECK_OFFLINE    1: never ask a package registry (wheels folder only)
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
RESULTS_NAME = "gpu_check.json"
# import name -> distribution; installed without dependencies (pip would pull a second torch), so
# the ones these need are listed too. Optional ones only narrow what runs when missing.
REQUIRED = {"numpy": "numpy", "scipy": "scipy", "numba": "numba", "PIL": "pillow", "imageio": "imageio",
            "safetensors": "safetensors", "smplx": "smplx", "plyfile": "plyfile", "zstandard": "zstandard",
            "moderngl": "moderngl", "glcontext": "glcontext", "gsplat": "gsplat", "jaxtyping": "jaxtyping",
            "rich": "rich", "ninja": "ninja", "packaging": "packaging", "pytest": "pytest"}
OPTIONAL = {"cuda.bindings": "cuda-bindings"}  # CUDA-GL interop; without it the bridge copies through the host
STEP_NAMES = ("info", "gsplat-build", "bench-lhm", "parity", "bench-render", "bridge", "pytest-cuda")
TAIL = 3000  # characters of each step's output kept in the results


@dataclass
class Ctx:
    """What every step needs: the budget's clock, the interpreter and environment to run with, results."""

    dry_run: bool
    budget_s: float
    out_dir: Path
    work: Path
    python: str = sys.executable
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    t0: float = field(default_factory=time.monotonic)
    results: dict[str, Any] = field(default_factory=dict)
    only: set[str] | None = None  # step names to run (None: all)

    def left(self) -> float:
        return self.budget_s - (time.monotonic() - self.t0)

    def save(self) -> None:
        """Rewrite the results file whole (a temporary file renamed over the old one)."""
        self.results["elapsed_s"] = round(time.monotonic() - self.t0, 1)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / RESULTS_NAME
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.results, indent=1, default=str))
        os.replace(tmp, path)


def _tail(text: str) -> str:
    return text[-TAIL:]


def run(ctx: Ctx, name: str, cmd: list[str], cap_s: float, *, env: dict[str, str] | None = None,
        report: Path | None = None, needs: str | None = None) -> dict[str, Any]:
    """Run one step with timeout min(cap_s, budget left); record status, seconds, output tail, its report."""
    step: dict[str, Any] = {"command": " ".join(cmd)}
    ctx.results["steps"][name] = step
    if ctx.only is not None and name not in ctx.only:
        needs = "not selected (--steps)"
    if needs:
        step.update(status="skipped", reason=needs)
        print(f"[{name}] skipped: {needs}", flush=True)
        ctx.save()
        return step
    timeout = min(cap_s, ctx.left() - 5)
    if timeout < 10:
        step.update(status="skipped", reason="the time budget is spent")
        print(f"[{name}] skipped: the time budget is spent", flush=True)
        ctx.save()
        return step
    print(f"[{name}] {step['command']}  (timeout {timeout:.0f} s)", flush=True)
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env or ctx.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace", start_new_session=True)
    return finish(ctx, name, proc, t0, timeout, report)


def finish(ctx: Ctx, name: str, proc: subprocess.Popen, t0: float, timeout: float,
           report: Path | None) -> dict[str, Any]:
    """Wait for a step's process (killing its whole group at the timeout) and record the outcome."""
    step = ctx.results["steps"][name]
    try:
        output, _ = proc.communicate(timeout=max(timeout - (time.monotonic() - t0), 1))
        status = "ok" if proc.returncode == 0 else "failed"
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        output, _ = proc.communicate()
        status = "timeout"
    step.update(status=status, rc=proc.returncode, seconds=round(time.monotonic() - t0, 1), output_tail=_tail(output))
    if report is not None and report.is_file():
        try:
            step["report"] = json.loads(report.read_text())
        except ValueError as exc:
            step["report_error"] = str(exc)
    print(output.rstrip(), flush=True)
    print(f"[{name}] {status} in {step['seconds']} s", flush=True)
    ctx.save()
    return step


# --------------------------------------------------------------------------- install
def _missing(ctx: Ctx, modules: dict[str, str]) -> list[str]:
    """Import names that `ctx.python` cannot import."""
    code = ("import importlib, json, sys\nmissing = []\nfor m in sys.argv[1:]:\n    try:\n"
            "        importlib.import_module(m)\n    except Exception:\n        missing.append(m)\n"
            "print(json.dumps(missing))")
    proc = subprocess.run([ctx.python, "-c", code, *modules], env=ctx.env, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        return list(modules)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _pip(ctx: Ctx, args: list[str], timeout: float) -> tuple[bool, str]:
    cmd = [ctx.python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-compile", *args]
    try:
        proc = subprocess.run(cmd, env=ctx.env, capture_output=True, text=True, timeout=max(timeout, 5))
    except subprocess.TimeoutExpired:
        return False, "pip timed out"
    return proc.returncode == 0, _tail(proc.stdout + proc.stderr)


def setup_gl_libraries(ctx: Ctx) -> dict[str, Any]:
    """Unpack the EGL/GL loader packages of <repo>/.gl (tests/gpu/prepare.sh) where libEGL is missing."""
    out: dict[str, Any] = {}
    nvidia_egl = Path("/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json")
    if nvidia_egl.is_file():
        ctx.env.setdefault("__EGL_VENDOR_LIBRARY_FILENAMES", str(nvidia_egl))
        out["egl_vendor"] = str(nvidia_egl)
    have = subprocess.run(["sh", "-c", "ldconfig -p 2>/dev/null | grep -q 'libEGL.so.1 '"]).returncode == 0
    debs = sorted((REPO / ".gl").glob("*.deb"))
    if have:
        out["libEGL"] = "present"
    elif debs and shutil.which("dpkg") and os.geteuid() == 0:
        for deb in debs:
            subprocess.run(["dpkg", "-x", str(deb), "/"], check=False, capture_output=True)
        subprocess.run(["ldconfig"], check=False)
        out["libEGL"] = f"unpacked {len(debs)} packages from .gl"
    else:
        out["libEGL"] = "missing (no .gl/*.deb to unpack, or not root): OpenGL steps will fail"
    return out


def install(ctx: Ctx) -> dict[str, Any]:
    """Make `ctx.python` + `ctx.env` able to import torch (CUDA), the project and its needs.

    The interpreter's own torch is used when it has one (the GPU image ships a CUDA build); otherwise a
    venv gets `torch==$GPU_CHECK_TORCH` from the registry. Everything else missing goes into a
    --target folder on PYTHONPATH, from the wheels folder first, then the registry, without dependencies.
    """
    t0 = time.monotonic()
    out: dict[str, Any] = {"python": ctx.python}
    probe = subprocess.run([ctx.python, "-c", "import torch; print(torch.__version__, torch.version.cuda)"],
                           env=ctx.env, capture_output=True, text=True, timeout=300)
    if probe.returncode == 0:
        out["torch"] = f"present: {probe.stdout.strip()}"
    else:
        venv = ctx.work / "venv"
        subprocess.run([ctx.python, "-m", "venv", str(venv)], check=True, timeout=120)
        ctx.python = str(venv / "bin" / "python")
        version = os.environ.get("GPU_CHECK_TORCH", "2.13.0")
        ok, log = _pip(ctx, [f"torch=={version}"], min(300, ctx.left() - 60))
        out["torch"] = f"pip install torch=={version}: {'ok' if ok else 'FAILED'}"
        if not ok:
            out["torch_log"] = log
    site = ctx.work / "site"
    site.mkdir(parents=True, exist_ok=True)
    pp = ctx.work / "pp"  # a folder whose avatar_studio is this checkout (the repo root is the package)
    pp.mkdir(parents=True, exist_ok=True)
    link = pp / "avatar_studio"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(REPO)
    ctx.env["PYTHONPATH"] = os.pathsep.join([str(pp), str(site)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    wanted = {**REQUIRED, **OPTIONAL}
    missing = _missing(ctx, wanted)
    wheels = Path(os.environ.get("GPU_CHECK_WHEELS", REPO / ".whl"))
    installed, failed = [], {}
    for module in missing:
        dist = wanted[module]
        base = ["--no-deps", "--target", str(site), "--upgrade"]
        ok, log = False, "no wheels folder"
        if wheels.is_dir():
            ok, log = _pip(ctx, [*base, "--no-index", "--find-links", str(wheels), dist], 120)
        if not ok and os.environ.get("GPU_CHECK_OFFLINE") != "1":
            ok, log = _pip(ctx, [*base, "--timeout", "10", "--retries", "1", dist], min(180, ctx.left() - 60))
        (installed.append(dist) if ok else failed.__setitem__(dist, log[-400:]))
    still = _missing(ctx, wanted)
    out.update(installed=installed, failed=failed, still_missing=[wanted[m] for m in still],
               seconds=round(time.monotonic() - t0, 1))
    if any(m in REQUIRED for m in still):
        out["error"] = ("could not install " + ", ".join(wanted[m] for m in still if m in REQUIRED)
                        + f" (no wheel in {wheels}, and the registry did not answer): run tests/gpu/prepare.sh "
                        "where the registry is reachable and carry .whl")
    return out


# --------------------------------------------------------------------------- steps
def cuda_test_files() -> list[str]:
    """Test files holding CUDA-marked tests (so that GUI-only modules are not even collected)."""
    return sorted(str(p.relative_to(REPO)) for p in (REPO / "tests").rglob("test_*.py")
                  if "pytest.mark.cuda" in p.read_text(errors="replace"))


def junit_counts(path: Path) -> dict[str, Any]:
    """Totals and failing test ids from a pytest JUnit XML file."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    out: dict[str, Any] = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
    out["failing"] = []
    for case in root.iter("testcase"):
        bad = case.find("failure") if case.find("failure") is not None else case.find("error")
        if bad is not None:
            out["failing"].append({"test": f"{case.get('classname')}::{case.get('name')}",
                                   "message": (bad.get("message") or "")[:300]})
    return out


def without_nvcc(env: dict[str, str]) -> dict[str, str]:
    """An environment in which gsplat cannot start another (minutes-long) JIT build after one failed."""
    env = dict(env)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if p and not Path(p, "nvcc").exists())
    env["CUDA_HOME"] = env["CUDA_PATH"] = "/nonexistent-gsplat-build-failed"
    return env


def report_path(ctx: Ctx, name: str) -> Path:
    path = ctx.work / "reports" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    return path


def run_steps(ctx: Ctx) -> None:
    """Every step in order; gsplat's compile runs in the background while the LHM benchmark uses the GPU."""
    py, dry = ctx.python, ctx.dry_run
    steps_py, bench = "tests/gpu/steps.py", "tests/bench"
    run(ctx, "info", [py, steps_py, "info", "--json", str(r := report_path(ctx, "info"))], 120, report=r)

    build_report = report_path(ctx, "gsplat-build")
    build_cmd = [py, steps_py, "build", "--json", str(build_report)]
    ctx.results["steps"]["gsplat-build"] = {"command": " ".join(build_cmd)}
    build_timeout = max(min(420, ctx.left() - 150), 10)
    build_t0 = time.monotonic()
    build = None  # built (or loaded from the cache) whenever a step that needs gsplat is selected
    users = {"gsplat-build"} if dry else {"gsplat-build", "parity", "bench-render", "bridge", "pytest-cuda"}
    if ctx.only is None or ctx.only & users:
        print(f"[gsplat-build] {' '.join(build_cmd)}  (background, timeout {build_timeout:.0f} s)", flush=True)
        build = subprocess.Popen(build_cmd, cwd=REPO, env=ctx.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, errors="replace", start_new_session=True)

    lhm = [py, f"{bench}/bench_lhm.py", "--json", str(r := report_path(ctx, "lhm"))]
    lhm += ["--tiny", "--runs", "1"] if dry else ["--model", "500M", "--runs", "3"]
    step = run(ctx, "bench-lhm", lhm, 240, report=r)
    step["note"] = "ran while gsplat compiled in the background (CPU busy; GPU timings barely affected)"

    if build is not None:
        built = finish(ctx, "gsplat-build", build, build_t0, build_timeout, build_report)
    else:
        built = run(ctx, "gsplat-build", build_cmd, 0)
    has_gsplat = built["status"] == "ok" and not (built.get("report") or {}).get("skipped")
    gsplat_missing = None if has_gsplat or dry else f"gsplat does not run ({built['status']}; see gsplat-build)"
    env = ctx.env if has_gsplat or dry else without_nvcc(ctx.env)

    parity = [py, steps_py, "parity", "--json", str(r := report_path(ctx, "parity"))]
    parity += ["--backend", "cpu", "--scenes", "2"] if dry else ["--backend", "gsplat"]
    run(ctx, "parity", parity, 150, env=env, report=r, needs=gsplat_missing)

    render = [py, f"{bench}/bench_render.py", "--gsplat-only", "--json", str(r := report_path(ctx, "bench-render"))]
    render += (["--stand-in", "--gsplat-sizes", "300", "--gsplat-resolution", "48x32", "--gsplat-frames", "2"]
               if dry else ["--gsplat-sizes", "40000", "1000000", "--gsplat-resolution", "1920x1080"])
    run(ctx, "bench-render", render, 180, env=env, report=r, needs=gsplat_missing)

    bridge = [py, steps_py, "bridge", "--json", str(r := report_path(ctx, "bridge"))]
    bridge += ["--size", "64x48", "--frames", "3"] if dry else ["--size", "1920x1080", "--frames", "30"]
    run(ctx, "bridge", bridge, 120, env=env, report=r)

    junit = report_path(ctx, "pytest-cuda").with_suffix(".xml")
    junit.unlink(missing_ok=True)
    tests = [py, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider", "-rfEs", f"--junitxml={junit}",
             *(["--collect-only"] if dry else []), *cuda_test_files()]
    step = run(ctx, "pytest-cuda", tests, 240, env=env)
    if dry and step.get("status") == "ok":
        found = re.search(r"(\d+)(?:/\d+)? tests? collected", step.get("output_tail", ""))
        step["report"] = {"collected": int(found.group(1)) if found else None}
    elif junit.is_file():
        step["report"] = junit_counts(junit)
    if dry:  # in the dry run these steps run on the CPU or are skipped by design: say so
        for name in ("gsplat-build", "parity", "bench-render", "bench-lhm"):
            if ctx.results["steps"][name].get("status") != "skipped":
                ctx.results["steps"][name]["dry_run_mode"] = "CPU stand-in or tiny config; no GPU figures"
    ctx.save()


# --------------------------------------------------------------------------- summary
def _fig(steps: dict, name: str) -> dict:
    return (steps.get(name) or {}).get("report") or {}


def summarize(ctx: Ctx) -> list[str]:
    """Readable lines: each step's status, then the figures against the issue's targets."""
    steps = ctx.results["steps"]
    lines = [f"GPU check{' (DRY RUN: no GPU steps)' if ctx.dry_run else ''}, {ctx.results['started_utc']}, "
             f"{ctx.results['elapsed_s']} s of a {ctx.budget_s:.0f} s budget"]
    info = _fig(steps, "info")
    gpu = info.get("gpu") or {}
    lines.append(f"machine: {gpu.get('name', 'no CUDA GPU')}, torch {info.get('packages', {}).get('torch')} "
                 f"(CUDA {info.get('torch_cuda_build')}), gsplat {info.get('packages', {}).get('gsplat')}, "
                 f"OpenGL {info.get('opengl')}, CPU {info.get('cpu')} x{info.get('cores')}")
    inst = ctx.results.get("install") or {}
    if inst:
        lines.append(f"install: {inst.get('torch', '')}; installed {inst.get('installed') or 'nothing'}; "
                     f"missing {inst.get('still_missing') or 'nothing'} ({inst.get('seconds')} s)")
    for name, step in steps.items():
        extra = step.get("reason") or ""
        if step.get("status") not in ("ok", "skipped"):
            extra = (step.get("report") or {}).get("error") or step.get("output_tail", "").strip().splitlines()[-1:]
        lines.append(f"  {name:13s} {step.get('status', '?'):8s} {step.get('seconds', '')!s:>6} s  {extra or ''}")
    parity = _fig(steps, "parity")
    if parity.get("min_psnr_db") is not None:
        lines.append(f"parity ({parity['backend']} vs reference): worst {parity['min_psnr_db']:.2f} dB over "
                     f"{len(parity['scenes'])} scenes; target >= 35 dB: {'met' if parity['target_met'] else 'NOT met'}")
    for run_ in _fig(steps, "bench-render").get("runs", []):
        met = "met" if run_["fps_rasterize"] >= 300 else "NOT met"
        target = f"; target >= 300 frames/s: {met}" if run_["n"] == 40_000 else ""
        lines.append(f"render N={run_['n']:,} {run_['width']}x{run_['height']}: {run_['fps_rasterize']:.1f} frames/s "
                     f"rasterize, {run_['fps_with_readback']:.1f} with 8-bit read-back{target}")
    lhm = _fig(steps, "bench-lhm")
    for prec, entry in (lhm.get("precisions") or {}).items():
        mem = f", peak {entry['peak_gpu_gib']:.2f} GiB" if "peak_gpu_gib" in entry else ""
        met = "met" if entry.get("target_met") else "NOT met"
        target = f"; target <= 2.0 s, <= 12 GB: {met}" if "target_met" in entry else ""
        lines.append(f"LHM {lhm.get('model')} [{prec}]: {entry['seconds']['total']:.3f} s{mem}{target}")
    bridge = _fig(steps, "bridge")
    for mode, row in (bridge.get("modes") or {}).items():
        how = "CUDA-GL interop" if row["uses_interop"] else "host copy"
        lines.append(f"bridge {bridge.get('size')} interop={mode}: {how} {row['median_ms']:.3f} ms/frame, "
                     f"exact {row['exact']}"
                     + (f" ({bridge['interop_error']})" if mode == "auto" and bridge.get("interop_error") else ""))
    tests = _fig(steps, "pytest-cuda")
    if "tests" in tests:
        lines.append(f"CUDA tests: {tests['tests']} run, {tests['failures']} failed, {tests['errors']} errors, "
                     f"{tests['skipped']} skipped")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true",
                    help="no GPU: CPU stand-ins and tiny configs, so that only GPU steps can fail on the GPU machine")
    ap.add_argument("--install", choices=["auto", "yes", "no"], default="auto",
                    help="install what is missing (auto: yes, except in a dry run)")
    ap.add_argument("--budget", type=float, default=float(os.environ.get("GPU_CHECK_BUDGET_S", 500)))
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("GPU_CHECK_OUT") or os.environ.get("OUT")
                                                     or REPO / "gpu-check-out"))
    ap.add_argument("--steps", help="comma-separated step names to run (default: all): " + ", ".join(STEP_NAMES))
    args = ap.parse_args(argv)
    only = None if not args.steps else {n.strip() for n in args.steps.split(",") if n.strip()}
    if only is not None and only - set(STEP_NAMES):
        ap.error(f"unknown step(s): {', '.join(sorted(only - set(STEP_NAMES)))}; known: {', '.join(STEP_NAMES)}")
    work = Path(os.environ.get("GPU_CHECK_WORK", "/tmp/avatar-gpu-check"))
    work.mkdir(parents=True, exist_ok=True)
    ctx = Ctx(args.dry_run, args.budget, args.out, work, python=os.environ.get("GPU_CHECK_PYTHON", sys.executable),
              only=only)
    ctx.env.update(PYTHONUNBUFFERED="1", TORCH_EXTENSIONS_DIR=str(work / "torch_extensions"))
    ctx.results.update(started_utc=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
                       dry_run=args.dry_run, budget_s=args.budget, repo=str(REPO), steps={})
    if args.install == "yes" or (args.install == "auto" and not args.dry_run):
        ctx.results["install"] = install(ctx)
        print(f"[install] {json.dumps(ctx.results['install'])}", flush=True)
    else:
        pp = work / "pp"
        pp.mkdir(exist_ok=True)
        if not (pp / "avatar_studio").exists():
            (pp / "avatar_studio").symlink_to(REPO)
        ctx.env["PYTHONPATH"] = os.pathsep.join([str(pp)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    if not args.dry_run:
        ctx.results["gl_libraries"] = setup_gl_libraries(ctx)
    ctx.save()
    run_steps(ctx)
    ctx.results["summary"] = summarize(ctx)
    ctx.save()
    print("\n" + "\n".join(ctx.results["summary"]))
    print(f"\nresults: {ctx.out_dir / RESULTS_NAME}")
    bad = [n for n, s in ctx.results["steps"].items() if s.get("status") not in ("ok", "skipped")]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
