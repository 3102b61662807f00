"""The GPU check (tests/gpu/check.sh) stays runnable: its dry run on this CPU machine, and its summary."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _check_module():
    spec = importlib.util.spec_from_file_location("avatar_gpu_check", REPO / "tests" / "gpu" / "check.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def test_dry_run_of_a_fast_subset_writes_one_results_file(tmp_path):
    out = tmp_path / "out"
    env = dict(os.environ, GPU_CHECK_PYTHON=sys.executable, GPU_CHECK_WORK=str(tmp_path / "work"),
               GPU_CHECK_OFFLINE="1", GPU_CHECK_WHEELS=str(tmp_path / "no-wheels"), GPU_CHECK_BUDGET_S="300")
    env.pop("OUT", None)
    steps = ["info", "bench-lhm", "bench-render", "bridge", "pytest-cuda"]
    proc = subprocess.run(["bash", str(REPO / "tests" / "gpu" / "check.sh"), "--dry-run", "--install", "yes",
                           "--out", str(out), "--steps", ",".join(steps)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert [p.name for p in out.iterdir()] == ["gpu_check.json"]
    res = json.loads((out / "gpu_check.json").read_text())
    assert res["dry_run"] is True and res["summary"][0].startswith("GPU check (DRY RUN")
    for name, step in res["steps"].items():
        assert step["status"] == ("ok" if name in steps else "skipped"), (name, step)
    # every module is importable here, except the optional interop bindings, which offline cannot come
    assert res["install"]["still_missing"] in ([], ["cuda-bindings"]) and "error" not in res["install"]
    lhm = res["steps"]["bench-lhm"]["report"]
    assert lhm["model"] == "tiny test config" and lhm["precisions"]["reference"]["seconds"]["total"] > 0
    render = res["steps"]["bench-render"]["report"]
    assert render["runs"][0]["n"] == 300 and render["runs"][0]["fps_rasterize"] > 0
    bridge = res["steps"]["bridge"]["report"]
    assert bridge["modes"]["never"]["exact"] and not bridge["modes"]["never"]["uses_interop"]
    assert res["steps"]["pytest-cuda"]["report"]["collected"] >= 4


def test_unknown_step_is_refused(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "tests" / "gpu" / "check.py"), "--dry-run", "--steps", "nope",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "unknown step(s): nope" in proc.stderr


def test_summary_of_gpu_figures_states_each_target(tmp_path):
    mod = _check_module()
    ctx = mod.Ctx(False, 500, tmp_path, tmp_path)
    ctx.results.update(started_utc="now", elapsed_s=1.0, steps={
        "info": {"status": "ok", "report": {"gpu": {"name": "NVIDIA H100"}, "packages": {"torch": "2.11"}}},
        "parity": {"status": "ok", "report": {"backend": "gsplat", "min_psnr_db": 36.2, "target_met": True,
                                              "scenes": [{}, {}]}},
        "bench-render": {"status": "ok", "report": {"runs": [
            {"n": 40_000, "width": 1920, "height": 1080, "fps_rasterize": 250.0, "fps_with_readback": 120.0}]}},
        "bench-lhm": {"status": "failed", "output_tail": "x\nRuntimeError: out of memory", "report": {
            "model": "LHM-500M", "precisions": {"bf16": {"seconds": {"total": 1.5}, "peak_gpu_gib": 9.0,
                                                        "target_met": True}}}},
    })
    text = "\n".join(mod.summarize(ctx))
    assert "worst 36.20 dB over 2 scenes; target >= 35 dB: met" in text
    assert "250.0 frames/s rasterize, 120.0 with 8-bit read-back; target >= 300 frames/s: NOT met" in text
    assert "LHM LHM-500M [bf16]: 1.500 s, peak 9.00 GiB; target <= 2.0 s, <= 12 GB: met" in text
    assert "RuntimeError: out of memory" in text


def test_junit_counts_reads_failures(tmp_path):
    xml = tmp_path / "j.xml"
    xml.write_text('<testsuites><testsuite tests="3" failures="1" errors="0" skipped="1">'
                   '<testcase classname="t" name="a"/><testcase classname="t" name="b">'
                   '<failure message="psnr 30 dB"/></testcase><testcase classname="t" name="c"><skipped/></testcase>'
                   '</testsuite></testsuites>')
    got = _check_module().junit_counts(xml)
    assert got["tests"] == 3 and got["failures"] == 1 and got["skipped"] == 1
    assert got["failing"] == [{"test": "t::b", "message": "psnr 30 dB"}]
