"""`avatar-studio batch`: reading JOBS, planning tasks, the local pool and a real local Ray instance
on the same small manifest (photos x motions, bad rows among them), and a run killed midway then
resumed. Sizes are tiny (64 px, 5 frames, 2,000 Gaussians) so the whole file stays around a minute
or two on two cores."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from avatar_studio import RESOURCES_DIR
from avatar_studio.core.batch import JobDefaults, plan_tasks, read_jobs, run_batch
from avatar_studio.core.batch.results import RESULTS_NAME
from avatar_studio.core.batch.runner import sweep_temps
from avatar_studio.core.errors import BackendUnavailableError, InputError

REPO = Path(__file__).resolve().parents[3]
PHOTOS = RESOURCES_DIR / "photos"
MOTIONS = RESOURCES_DIR / "motions"
TINY = dict(size=(64, 64), frames=5, gaussians=2000, renderer="cpu")


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    """2 photos x 2 motions, a photo that is not an image (x 1 motion), a row with a bad size, a
    GLB row, and an avatar file (a synthetic subject) posed to PLY and animated."""
    from avatar_studio.core.io.avatar_file import write_avatar
    from avatar_studio.testing.synthetic import make_avatar, random_spec
    folder = tmp_path_factory.mktemp("jobs")
    (folder / "broken.png").write_text("not an image")
    write_avatar(folder / "synthetic.ply", make_avatar(random_spec(3), num_gaussians=2000))
    rows = ["photo,avatar,motion,outputs,size,time"]
    for photo in (PHOTOS / "sample_person_1.png", PHOTOS / "sample_person_3.png"):
        for motion in ("walk", "wave"):
            rows.append(f"{photo},,{MOTIONS / motion}.npz,mp4,,")
    rows.append(f"broken.png,,{MOTIONS / 'walk.npz'},mp4,,")
    rows.append(f"{PHOTOS / 'sample_person_1.png'},,{MOTIONS / 'walk.npz'},mp4,huge,")
    rows.append(f"{PHOTOS / 'sample_person_3.png'},,,glb,,")
    rows.append(f",synthetic.ply,{MOTIONS / 'wave.npz'},ply mp4,,0.5")
    path = folder / "jobs.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def _tiny_defaults() -> JobDefaults:
    return JobDefaults(size=TINY["size"], frames=TINY["frames"], gaussians=TINY["gaussians"],
                       renderer=TINY["renderer"])


# ------------------------------------------------------------------------------ reading and planning
def test_manifest_plan_reconstructs_each_photo_once(manifest, tmp_path):
    jobs = read_jobs(manifest, _tiny_defaults())
    assert len(jobs) == 8
    tasks = plan_tasks(jobs, tmp_path)
    kinds = [t.kind for t in tasks]
    assert kinds.count("avatar") == 3 and kinds.count("invalid") == 1 and kinds.count("motion") == 7
    by_id = {t.id: t for t in tasks}
    assert len(by_id) == len(tasks)  # ids are unique
    walk = by_id["sample_person_1/walk"]
    assert walk.depends_on == "sample_person_1/avatar"
    assert walk.avatar == str(tmp_path.resolve() / "sample_person_1" / "avatar.ply")
    assert walk.outputs == {"mp4": str(tmp_path.resolve() / "sample_person_1" / "walk.mp4")}
    posed = by_id["synthetic/wave"]
    assert posed.depends_on is None and posed.avatar.endswith("synthetic.ply") and posed.time == 0.5
    assert sorted(posed.outputs) == ["mp4", "ply"]
    invalid = next(t for t in tasks if t.kind == "invalid")
    assert "row 6" in invalid.error and "huge" in invalid.error
    # Same JOBS -> same ids and keys, which is what --resume matches on.
    again = plan_tasks(read_jobs(manifest, _tiny_defaults()), tmp_path)
    assert [(t.id, t.key()) for t in again] == [(t.id, t.key()) for t in tasks]
    assert not any(t.needs_gpu for t in tasks)


def test_gpu_tasks_ask_for_a_gpu(tmp_path):
    manifest = tmp_path / "jobs.json"
    manifest.write_text(json.dumps([{"photo": "a.png", "motion": "m.npz", "backend": "lhm", "renderer": "gsplat"},
                                    {"photo": "b.png", "motion": "m.npz", "outputs": ["ply"]}]))
    tasks = {t.id: t for t in plan_tasks(read_jobs(manifest), tmp_path / "out")}
    assert tasks["a/avatar"].needs_gpu and tasks["a/m"].needs_gpu
    assert not tasks["b/avatar"].needs_gpu
    assert "b/m" not in tasks  # a photo row's "ply" is its avatar: no motion task to run


def test_plan_names_never_collide(tmp_path):
    """Repeated rows, a motion called "glb", a second reconstruction setting: distinct ids and files."""
    manifest = tmp_path / "jobs.json"
    rows = [{"photo": "a.png", "outputs": "glb"}, {"photo": "a.png", "outputs": "glb ply"},
            {"photo": "a.png", "motion": "x/glb.npz"}, {"photo": "a.png", "motion": "y/glb.npz"},
            {"photo": "a.png", "motion": "walk.npz", "gaussians": 100}]
    manifest.write_text(json.dumps(rows))
    tasks = plan_tasks(read_jobs(manifest), tmp_path / "out")
    outputs = [p for t in tasks for p in t.outputs.values()]
    assert len({t.id for t in tasks}) == len(tasks) == 6
    assert len(set(outputs)) == len(outputs)
    assert sum(t.kind == "avatar" for t in tasks) == 2  # the same photo, two Gaussian counts


def test_folder_and_glob_sources(tmp_path):
    for name in ("a.png", "b.jpg", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    d = JobDefaults(motions=["walk.npz", "wave.npz"])
    assert len(read_jobs(tmp_path, d)) == 4
    assert [Path(j.photo).name for j in read_jobs(str(tmp_path / "*.png"), d)] == ["a.png", "a.png"]
    with pytest.raises(InputError, match="No photos match"):
        read_jobs(str(tmp_path / "*.gif"), d)


def test_bad_manifests_give_one_clear_error(tmp_path):
    bad_col = tmp_path / "a.csv"
    bad_col.write_text("photo,moiton\nx.png,walk.npz\n")
    with pytest.raises(InputError, match="unknown column 'moiton'"):
        read_jobs(bad_col)
    bad_json = tmp_path / "b.json"
    bad_json.write_text("[{")
    with pytest.raises(InputError, match="not valid JSON"):
        read_jobs(bad_json)
    rows = tmp_path / "c.csv"
    rows.write_text("photo,avatar,outputs\nx.png,y.ply,\nx.png,,mp4\nx.png,,obj\n")
    errors = [j.error for j in read_jobs(rows)]
    assert "exactly one of photo or avatar" in errors[0]
    assert "needs a motion" in errors[1]
    assert "unknown output kind 'obj'" in errors[2]


def test_sweep_removes_only_atomic_temps(tmp_path):
    out = tmp_path / "avatar.ply"
    out.write_text("whole")
    (tmp_path / ".avatar.k2j3h.ply").write_text("half")
    (tmp_path / ".walk.abc").mkdir()
    assert sweep_temps([str(out), str(tmp_path / "walk.mp4")]) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["avatar.ply"]


def test_results_journal_survives_a_crash(tmp_path):
    """A task recorded between two manifest writes is found again by resume, via the journal."""
    from avatar_studio.core.batch.jobs import Task
    from avatar_studio.core.batch.results import Results
    out = tmp_path / "a.ply"
    out.write_text("whole")
    tasks = [Task(id="a/avatar", kind="avatar", outputs={"ply": str(out)}, photo="a.png"),
             Task(id="b/avatar", kind="avatar", outputs={"ply": str(tmp_path / "b.ply")}, photo="b.png")]
    res = Results(tmp_path / RESULTS_NAME, "jobs.csv", tasks)
    res.save(engine="local", force=True)
    res.finish("a/avatar", "done", seconds=1.0)
    res.save(engine="local")  # within a second of the last write: skipped
    assert json.loads(res.path.read_text())["counts"]["done"] == 0
    with open(res.journal, "a") as f:
        f.write('{"id": "b/avatar", "status": "do')  # the line a crash cut short
    again = Results(tmp_path / RESULTS_NAME, "jobs.csv", tasks)
    assert again.adopt_finished(Results.load(res.path)) == ["a/avatar"]
    again.save(engine="local", force=True)
    assert not res.journal.exists() and json.loads(res.path.read_text())["counts"]["done"] == 1


def test_ray_missing_names_the_extra(monkeypatch):
    from avatar_studio.core.batch.engines import import_ray
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(BackendUnavailableError, match=r"avatar-studio\[cluster\]"):
        import_ray()


# ------------------------------------------------------------------------------ both engines
def _frames(path: Path) -> np.ndarray:
    import imageio.v2 as iio
    reader = iio.get_reader(str(path))
    try:
        return np.stack([f for f in reader])
    finally:
        reader.close()


def _check_run(summary, out: Path) -> dict:
    data = json.loads((out / RESULTS_NAME).read_text())
    status = {t["id"]: t["status"] for t in data["tasks"]}
    assert data["finished"] and not any(s in ("running", "pending") for s in status.values())
    for subj in ("sample_person_1", "sample_person_3"):
        assert status[f"{subj}/avatar"] == "done"
        for motion in ("walk", "wave"):
            assert status[f"{subj}/{motion}"] == "done"
            frames = _frames(out / subj / f"{motion}.mp4")
            assert frames.shape == (5, 64, 64, 3)
            assert 0.02 < (frames.sum(-1) < 700).mean() < 0.6  # a figure on the white background
    assert status["broken/avatar"] == "failed" and status["broken/walk"] == "skipped"
    failed = {f[0]: f for f in summary.failures}
    assert "broken.png is not a picture" in failed["broken/avatar"][2]
    assert failed["broken/walk"][1].endswith("broken.png")
    assert "size" in failed["row6/invalid"][2]
    assert status["sample_person_3/glb"] == "done"
    assert (out / "sample_person_3" / "avatar.glb").read_bytes()[:4] == b"glTF"
    posed = status["synthetic/wave"]
    assert posed == "done" and _frames(out / "synthetic" / "wave.mp4").shape == (5, 64, 64, 3)
    from avatar_studio.core.io.ply import read_ply
    assert len(read_ply(out / "synthetic" / "wave.ply")) == 2000  # posed at t = 0.5 s as plain 3DGS
    assert summary.done == 8 and summary.failed == 3
    assert not list(out.rglob(".*"))  # no temp files left
    return status


def _start(manifest: Path, out: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "avatar_studio.cli", "batch", str(manifest), "-o", str(out), "--workers", "1",
           "--size", "64", "--frames", "5", "--gaussians", "2000", "--renderer", "cpu", *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))


def _status(out: Path) -> dict[str, dict]:
    return {t["id"]: t for t in json.loads((out / RESULTS_NAME).read_text())["tasks"]}


def _wait_for_done(proc: subprocess.Popen, out: Path, count: int, timeout: float = 180.0) -> None:
    """Poll the results manifest until `count` tasks are done."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        assert proc.poll() is None, proc.communicate()
        try:
            if json.loads((out / RESULTS_NAME).read_text())["counts"]["done"] >= count:
                return
        except (OSError, KeyError, json.JSONDecodeError):
            pass
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail("the batch made no progress")


def _group_gone(pgid: int) -> bool:
    for _ in range(50):
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def _run_local_killed_twice(manifest: Path, out: Path) -> dict:
    """The local engine's run of the manifest, killed twice on the way (real subprocesses):
    1. `batch` with one worker, the whole process group SIGKILLed (a crash) once a task is done;
    2. `batch --resume`, stopped by SIGINT to the process group (Ctrl-C) once 3 tasks are done;
    3. run_batch(resume=True) with two workers finishes it.
    Returns what each stop left."""
    seen: dict = {}
    proc = _start(manifest, out)
    _wait_for_done(proc, out, 1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    seen["after_kill"] = _status(out)  # parses: the manifest is written atomically
    seen["done_outputs_whole"] = all(Path(p).is_file() and Path(p).stat().st_size > 0
                                     for t in seen["after_kill"].values() if t["status"] == "done"
                                     for p in t["outputs"])
    seen["avatar_mtime"] = (out / "sample_person_1" / "avatar.ply").stat().st_mtime_ns

    proc = _start(manifest, out, "--resume")
    _wait_for_done(proc, out, 3)
    os.killpg(proc.pid, signal.SIGINT)
    _, seen["stderr"] = proc.communicate(timeout=60)
    seen["returncode"] = proc.returncode
    seen["group_gone"] = _group_gone(proc.pid)
    seen["temps_after_stop"] = [p.name for p in out.rglob(".*")]
    seen["after_stop"] = _status(out)
    seen["mtimes"] = {p: os.stat(p).st_mtime_ns for t in seen["after_stop"].values() if t["status"] == "done"
                      for p in t["outputs"]}

    seen["summary"] = run_batch(manifest, out, defaults=_tiny_defaults(), engine="local", workers=2, resume=True,
                                quiet=True)
    return seen


def test_engines_stop_resume_and_agree(manifest, tmp_path):
    """One test, so that pytest-xdist never runs the expensive local run twice: the local engine
    (killed and resumed on the way) and a real local Ray instance run the same manifest; both
    finish every good job, fail each bad one, and write the same outputs."""
    local_out = tmp_path / "local"
    seen = _run_local_killed_twice(manifest, local_out)

    # The crash (SIGKILL of driver and workers) lost nothing finished.
    assert seen["after_kill"]["sample_person_1/avatar"]["status"] == "done"
    assert seen["done_outputs_whole"]

    # Ctrl-C: exit 130 with a one-line hint, no worker left, no partial file, a consistent manifest.
    assert seen["returncode"] == 130, seen["stderr"]
    assert "--resume" in seen["stderr"].strip().splitlines()[-1]
    assert seen["group_gone"], "worker processes outlived the stopped batch"
    assert seen["temps_after_stop"] == []
    second = seen["after_stop"]
    assert {t["status"] for t in second.values()} <= {"done", "failed", "skipped", "pending", "interrupted"}
    assert sum(t["status"] == "done" for t in second.values()) >= 3
    # The resumed run kept the crash-surviving avatar rather than reconstructing it again.
    assert second["sample_person_1/avatar"]["started"] == seen["after_kill"]["sample_person_1/avatar"]["started"]

    # The last resume redid nothing finished and completed the rest.
    summary = seen["summary"]
    assert summary.resumed == sum(t["status"] == "done" for t in second.values())
    assert (local_out / "sample_person_1" / "avatar.ply").stat().st_mtime_ns == seen["avatar_mtime"]
    assert {p: os.stat(p).st_mtime_ns for p in seen["mtimes"]} == seen["mtimes"]
    _check_run(summary, local_out)

    # A real local Ray instance, same manifest, same outputs.
    pytest.importorskip("ray", reason="Ray is the optional 'cluster' extra")
    ray_out = tmp_path / "ray"
    _check_run(run_batch(manifest, ray_out, defaults=_tiny_defaults(), engine="ray", workers=2, quiet=True),
               ray_out)
    from avatar_studio.core.io.avatar_file import read_avatar
    for subj in ("sample_person_1", "sample_person_3"):
        a, b = read_avatar(local_out / subj / "avatar.ply"), read_avatar(ray_out / subj / "avatar.ply")
        for name in ("means", "quats", "scales", "opacities", "sh"):
            np.testing.assert_allclose(getattr(a.gaussians, name), getattr(b.gaussians, name), atol=1e-4)
        for motion in ("walk", "wave"):
            fa, fb = _frames(local_out / subj / f"{motion}.mp4"), _frames(ray_out / subj / f"{motion}.mp4")
            assert np.abs(fa.astype(int) - fb).max() <= 2


def test_cli_batch_error_and_summary(tmp_path, capsys):
    from avatar_studio.cli.main import main
    assert main(["batch", str(tmp_path / "nothing-here"), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: JOBS must be") and len(err.strip().splitlines()) == 1
