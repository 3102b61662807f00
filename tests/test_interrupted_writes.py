"""Real `avatar-studio` processes killed mid-write (SIGKILL, SIGTERM, SIGINT), for every writer: the file
already at the final path stays byte-identical, SIGTERM and SIGINT leave no temp files, and after SIGKILL
the next run removes what the dead process left."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from avatar_studio.core.io.atomic import TEMP_TAG
from avatar_studio.core.motion.amass import write_amass

REPO = Path(__file__).resolve().parents[1]
SIGNALS = [signal.SIGKILL, signal.SIGTERM, signal.SIGINT]


def _cli() -> list[str]:
    exe = shutil.which("avatar-studio")
    return [exe] if exe else [sys.executable, "-m", "avatar_studio.cli"]


def _env() -> dict:
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.environ.get("PYTHONPATH", ""))


PROJECT_WRITER = """
import sys
import numpy as np
from avatar_studio.core.io.atomic import Terminated, sigterm_unwinds
from avatar_studio.core.project import save_project
from avatar_studio.core.scene import Scene, SplatsItem
from avatar_studio.core.gaussians import GaussianSet
from avatar_studio.core.rotations import normalize_quats
rng = np.random.default_rng(0)
n = 400_000
g = GaussianSet(rng.normal(size=(n, 3)), normalize_quats(rng.normal(size=(n, 4))), rng.uniform(0.01, 0.1, (n, 3)),
                rng.uniform(0.1, 0.9, n), rng.normal(size=(n, 16, 3)))
scene = Scene()
scene.add(SplatsItem(name="big", gaussians=g))
try:
    with sigterm_unwinds():
        save_project(sys.argv[1], scene)
except Terminated:
    print("terminated", file=sys.stderr)
    sys.exit(143)
except KeyboardInterrupt:
    print("cancelled", file=sys.stderr)
    sys.exit(130)
"""


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A large splat file (slow enough to interrupt), a small one, an avatar and a long motion."""
    from support import random_gaussians
    from support.motion import smooth_motion
    from avatar_studio.core.avatar import Avatar, Rig
    from avatar_studio.core.io.avatar_file import write_avatar
    from avatar_studio.core.io.ply import write_ply
    d = tmp_path_factory.mktemp("kill_inputs")
    rng = np.random.default_rng(3)
    write_ply(d / "big.ply", random_gaussians(150_000, rng, 3))
    write_ply(d / "small.ply", random_gaussians(50, rng, 0))
    n = 2000
    rig = Rig(rng.integers(0, 22, (n, 1)).astype(np.int32), np.ones((n, 1), np.float32), np.zeros(10, np.float32),
              "neutral", "standin", None)
    write_avatar(d / "avatar.ply", Avatar(random_gaussians(n, rng, 0), rig, "runner"))
    write_amass(smooth_motion(600), d / "long.npz")
    return d


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if TEMP_TAG in p.name) if folder.is_dir() else []


def _scratch(pid: int) -> list[str]:
    return [p.name for p in Path(tempfile.gettempdir()).iterdir() if f"{TEMP_TAG}-{pid}-" in p.name]


def _kill_mid_write(cmd: list[str], out_dir: Path, sig: signal.Signals, deadline: float = 120.0):
    """Start `cmd`, wait until a temp file appears in `out_dir`, send `sig`; returns the finished process."""
    proc = subprocess.Popen(cmd, env=_env(), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    while not _temps(out_dir):
        if proc.poll() is not None or time.monotonic() - t0 > deadline:
            out, err = proc.communicate()
            pytest.fail(f"{cmd[-3:]} ended (exit {proc.returncode}) before its temp file was seen: {err[-400:]}")
        time.sleep(0.002)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    return proc, err


WRITERS = {
    "ply": lambda d, out: _cli() + ["convert", str(d / "big.ply"), str(out), "-q"],
    "spz": lambda d, out: _cli() + ["convert", str(d / "big.ply"), str(out), "-q"],
    "compressed_ply": lambda d, out: _cli() + ["convert", str(d / "big.ply"), str(out), "-q"],
    "video": lambda d, out: _cli() + ["animate", str(d / "avatar.ply"), "--motion", str(d / "long.npz"), "-o", str(out),
                                      "--size", "64", "--renderer", "cpu", "-q"],
    "frame_folder": lambda d, out: _cli() + ["animate", str(d / "avatar.ply"), "--motion", str(d / "long.npz"), "-o",
                                             str(out), "--size", "64", "--renderer", "cpu", "-q"],
    "project": lambda d, out: [sys.executable, "-c", PROJECT_WRITER, str(out)],
}
OUTPUT = {"ply": "out.ply", "spz": "out.spz", "compressed_ply": "out.compressed.ply", "video": "out.mp4",
          "frame_folder": "frames", "project": "scene.avsproj"}


def _snapshot(path: Path) -> dict[str, bytes]:
    if path.is_dir():
        return {p.name: p.read_bytes() for p in sorted(path.iterdir())}
    return {"": path.read_bytes()}


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
@pytest.mark.parametrize("writer", list(WRITERS))
def test_killed_writer_leaves_the_old_file_whole_and_no_temp_files(inputs, tmp_path, writer, sig):
    out = tmp_path / OUTPUT[writer]
    if writer == "frame_folder":
        out.mkdir()
        (out / "frame0001.png").write_bytes(b"the previous export")
    else:
        out.write_bytes(b"the previous file, which must survive")
    before = _snapshot(out)
    proc, err = _kill_mid_write(WRITERS[writer](inputs, out), tmp_path, sig)
    assert _snapshot(out) == before, f"{writer}: the existing output changed after {sig.name}"
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
        # the next run (any write into the same folder) removes what the killed process left
        nxt = subprocess.run(_cli() + ["convert", str(inputs / "small.ply"), str(tmp_path / "next.ply"), "-q"],
                             env=_env(), cwd=REPO, capture_output=True, text=True, timeout=300)
        assert nxt.returncode == 0, nxt.stderr
    else:
        assert proc.returncode in (130, 143), (proc.returncode, err[-400:])
        lines = [ln for ln in err.strip().splitlines() if ln.strip()]
        assert len(lines) == 1 and "Traceback" not in err, err[-600:]
    assert _temps(tmp_path) == [], f"{writer}: temp files left after {sig.name}"
    assert _scratch(proc.pid) == [], f"{writer}: scratch folders left in the temp dir after {sig.name}"


@pytest.mark.gui
def test_sigterm_closes_the_window_process_cleanly(tmp_path):
    """`kill` on a running studio window: it quits within seconds, exit 0, no traceback, and keeps
    its autosave folder for recovery (nothing written under HOME's normal data folder by the test)."""
    if not os.environ.get("DISPLAY"):
        pytest.skip("needs an X display (run the tests under xvfb-run)")
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_CONFIG_HOME": str(tmp_path / "config")}
    env.pop("QT_QPA_PLATFORM", None)
    proc = subprocess.Popen([sys.executable, "-m", "avatar_studio.cli"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(6.0)  # the window is up and its core is loading
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err
