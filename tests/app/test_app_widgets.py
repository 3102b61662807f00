"""Studio widgets on their own: settings checks and persistence, the orbit camera, the timeline's
transport and trim handles, the export and settings dialogs, background jobs and their cancel."""
from __future__ import annotations

import time
import zipfile

import numpy as np
import pytest

from support.app import requires_display, wait_until

# ---------------------------------------------------------------------- Qt-free parts
from avatar_studio.app.settings import check_lhm_model_dir, check_lhm_prior_dir, check_smplx_dir


def test_smplx_dir_checks(tmp_path, random_smplx_dir):
    assert check_smplx_dir("").ok  # stand-in
    assert not check_smplx_dir(str(tmp_path / "nope")).ok
    empty = tmp_path / "empty"
    empty.mkdir()
    r = check_smplx_dir(str(empty))
    assert not r.ok and "SMPLX_NEUTRAL.npz" in r.message, r.message
    assert check_smplx_dir(str(random_smplx_dir)).ok
    assert check_smplx_dir(str(random_smplx_dir / "smplx")).ok
    fake = tmp_path / "fake" / "smplx"
    fake.mkdir(parents=True)
    with zipfile.ZipFile(fake / "SMPLX_NEUTRAL.npz", "w") as zf:
        zf.writestr("v_template.npy", b"")
    r = check_smplx_dir(str(fake.parent))
    assert not r.ok and "J_regressor" in r.message
    (fake / "SMPLX_NEUTRAL.npz").write_bytes(b"junk")
    assert "not a readable" in check_smplx_dir(str(fake.parent)).message


def test_lhm_dir_checks(tmp_path):
    assert not check_lhm_model_dir("").ok
    ckpt = tmp_path / "LHM-500M" / "step_060000"
    ckpt.mkdir(parents=True)
    assert not check_lhm_model_dir(str(ckpt.parent)).ok
    (ckpt / "config.json").write_text("{}")
    (ckpt / "model.safetensors").write_bytes(b"x")
    r = check_lhm_model_dir(str(ckpt.parent))
    assert r.ok and "step_060000" in r.message
    (ckpt / "config.json").write_text('{"dense_sample_pts": 20000}')  # an LHM-MINI checkpoint
    prior = tmp_path / "pretrained_models"
    prior.mkdir()
    r = check_lhm_prior_dir(str(prior), str(ckpt.parent))
    assert not r.ok and "Missing" in r.message
    from avatar_studio.core.lhm.config import LHMConfig
    from avatar_studio.core.lhm.prior import required_files
    cfg = LHMConfig.from_json(ckpt / "config.json")
    for rel in required_files(cfg.num_points, cfg.sapiens_relpath):
        (prior / rel).parent.mkdir(parents=True, exist_ok=True)
        (prior / rel).write_bytes(b"x")
    r = check_lhm_prior_dir(str(prior), str(ckpt.parent))
    assert r.ok, r.message


def test_orbit_camera():
    from avatar_studio.app.viewport import OrbitCamera, gl_projection
    cam = OrbitCamera()
    cam.frame(np.array([-0.3, -1.0, -0.2]), np.array([0.3, 0.8, 0.2]), aspect=1.0)
    c = cam.camera(400, 300)
    uvz = c.project(np.array([[0.0, -0.1, 0.0]]))
    assert abs(uvz[0, 0] - 200) < 1 and abs(uvz[0, 1] - 150) < 1  # target projects to the centre
    # Everything in the box is in view.
    corners = np.array([[x, y, z] for x in (-0.3, 0.3) for y in (-1.0, 0.8) for z in (-0.2, 0.2)])
    uv = c.project(corners)
    assert (uv[:, 0] > 0).all() and (uv[:, 0] < 400).all() and (uv[:, 1] > 0).all() and (uv[:, 1] < 300).all()
    # The GL matrix agrees with the OpenCV projection (row 0 at the top: NDC y = +1).
    clip = gl_projection(c) @ np.append(corners[0], 1.0)
    ndc = clip[:3] / clip[3]
    assert ndc[0] == pytest.approx(uv[0, 0] / 200 - 1, abs=1e-4)
    assert ndc[1] == pytest.approx(1 - uv[0, 1] / 150, abs=1e-4)
    d = cam.distance
    cam.zoom(0.5)
    assert cam.distance == pytest.approx(d / 2)
    before = cam.target.copy()
    cam.pan(100, 0, 300)
    assert cam.target[0] < before[0]  # drag right: the scene follows, so the target moves left
    cam.set_view("side")
    assert cam.azimuth == 90
    cam.orbit(0, 500)
    assert cam.elevation == 89
    assert OrbitCamera.from_dict(cam.to_dict()).to_dict() == cam.to_dict()


def test_job_progress_success_failure_and_cancel_within_a_second():
    pytest.importorskip("PySide6")
    from support.app import app
    if __import__("support.app", fromlist=["DISPLAY"]).DISPLAY is None:
        pytest.skip("no display")
    app()
    from avatar_studio.app.jobs import JobManager
    from avatar_studio.core.errors import InputError
    jobs = JobManager()
    seen = []

    def ok(progress, cancel):
        for i in range(5):
            progress("counting", i / 5)
        return 42

    j = jobs.submit("ok", ok)
    j.progress.connect(lambda s, f: seen.append((s, f)))
    j.succeeded.connect(lambda r: seen.append(("result", r)))
    j.start()
    wait_until(lambda: not j.running, 10)
    assert ("result", 42) in seen and seen[0][0] == "counting"

    def bad(progress, cancel):
        raise InputError("That file is broken.")
    j = jobs.submit("bad", bad)
    msgs = []
    j.failed.connect(lambda m, d: msgs.append(m))
    j.start()
    wait_until(lambda: not j.running, 10)
    assert msgs == ["That file is broken."]

    def slow(progress, cancel):
        while True:
            time.sleep(0.05)
            progress("working", 0.5)  # checks the token

    j = jobs.submit("slow", slow)
    ended = []
    j.cancelled.connect(lambda: ended.append(time.perf_counter()))
    j.start()
    time.sleep(0.2)
    t0 = time.perf_counter()
    j.cancel()
    wait_until(lambda: ended, 5, interval=0.001)
    assert ended[0] - t0 < 1.0
    jobs.cancel_all()


@pytest.fixture
def qt_app():
    if __import__("support.app", fromlist=["DISPLAY"]).DISPLAY is None:
        pytest.skip("no display")
    from support.app import app
    return app()


@requires_display
def test_playback_resolution_drops_only_when_it_pays(qt_app):
    """Late frames lower the playback resolution, but if the paint time does not fall with the
    pixel count (llvmpipe: per-splat set-up dominates) the full resolution comes back."""
    from avatar_studio.app.viewport import MIN_PLAYBACK_SCALE, Viewport

    def frames(vp, paint_ms, interval_s=0.05, n=6):
        for _ in range(n):
            last = vp._frame_times[-1] if vp._frame_times else 0.0
            vp._frame_times.append(last + interval_s)
            vp._paint_ms.append(paint_ms(vp.render_scale))
            vp.last_render_ms = vp._paint_ms[-1]
            vp._adapt_playback_scale()

    fill_bound = Viewport()
    fill_bound.set_playing(True, 30.0)
    for _ in range(10):
        frames(fill_bound, lambda s: 40.0 * s * s)          # cost follows the pixels
    assert fill_bound.render_scale == MIN_PLAYBACK_SCALE

    setup_bound = Viewport()
    setup_bound.set_playing(True, 30.0)
    for _ in range(10):
        frames(setup_bound, lambda s: 36.0 + 4.0 * s * s)   # mostly per-splat cost
    assert setup_bound.render_scale == 1.0 and not setup_bound._scaling_pays
    setup_bound.set_playing(False)
    setup_bound.set_playing(True, 30.0)                     # a new playback tries again
    assert setup_bound._scaling_pays


@requires_display
def test_curve_view_playhead_throttled_while_playing(qt_app):
    """During playback the curve view's playhead moves at most every PLAYBACK_REFRESH_S, and always ends on
    the last frame asked for; outside playback it follows at once."""
    from avatar_studio.app import curves
    from avatar_studio.testing.motion_samples import squat
    view = curves.CurveView()
    view.build_plot()
    view.set_motion(squat())
    view.set_frame(3)
    assert view.playhead.value() == 3
    view.set_frame(4, throttle=True)   # just moved: held back ...
    view.set_frame(5, throttle=True)
    assert view.playhead.value() == 3
    wait_until(lambda: view.playhead.value() == 5, 2, what="the deferred playhead move")
    view.set_frame(9)                  # not playing: immediate
    assert view.playhead.value() == 9


@requires_display
def test_timeline_plays_in_real_time(qt_app):
    """At 1x, 30 fps, one second of playback advances ~30 frames (the clock's own ticks must not
    restart it: that played at two thirds of the speed), and the readouts stay cheap."""
    from PySide6.QtCore import QEventLoop, QTimer
    from avatar_studio.app.timeline import Timeline
    tl = Timeline()
    tl.set_range(300, 30.0)
    texts = []
    tl.time_label.setText = lambda t, orig=tl.time_label.setText: (texts.append(t), orig(t))
    tl.play()
    loop = QEventLoop()
    QTimer.singleShot(1000, loop.quit)
    loop.exec()
    tl.pause()
    assert 25 <= tl.frame <= 32, tl.frame
    # The time label and frame box follow at ~10 Hz while playing (each repaint is costly on a
    # GL-composed window) and show the exact frame once paused.
    assert len(texts) <= 14, len(texts)
    assert tl.frame_box.value() == tl.frame and texts[-1].startswith(f"{tl.frame / 30.0:.2f} s")


@requires_display
def test_timeline_transport_and_trim(qt_app):
    from avatar_studio.app.timeline import Timeline
    tl = Timeline()
    tl.build_ruler()
    frames = []
    tl.frame_changed.connect(frames.append)
    tl.set_range(60, 30.0)
    assert tl.trim_range() == (0, 59)
    tl.step(1)
    tl.step(1)
    assert frames == [1, 2]
    tl.go_end()
    assert tl.frame == 59
    tl.go_start()
    assert tl.frame == 0
    tl.set_trim(10, 20)
    tl.loop = True
    tl.speed_box.setCurrentIndex(tl.speed_box.findData(4.0))
    tl.play()
    assert tl.is_playing and tl.frame == 10  # playback starts inside the trim range
    wait_until(lambda: 20 in frames, 5)
    frames.clear()
    wait_until(lambda: frames and frames[-1] < 15, 5, what="the loop back to the trim start")
    assert all(10 <= f <= 20 for f in frames)
    tl.pause()
    assert not tl.is_playing
    tl.loop = False
    tl.set_frame(18)
    tl.play()
    wait_until(lambda: not tl.is_playing, 5, what="playback to stop at the trim end")
    assert tl.frame == 20
    tl.playhead.setValue(33.4)  # dragging the playhead snaps to frames
    assert tl.frame == 33
    trims = []
    tl.trim_changed.connect(lambda a, b: trims.append((a, b)))
    tl.region.setRegion((5.2, 40.7))
    tl.region.sigRegionChangeFinished.emit(tl.region)
    assert trims[-1] == (5, 41) and tl.trim_range() == (5, 41)
    tl.deleteLater()


@requires_display
def test_export_dialog_builds_requests(qt_app, tmp_path):
    from avatar_studio.app.dialogs.export_dialog import ExportDialog
    dlg = ExportDialog(None, num_frames=100, fps=25.0, trim=(10, 49), folder=str(tmp_path), name="bob")
    req = dlg.request()
    assert req.kind == "video" and req.fmt == "mp4" and req.path.name == "bob.mp4"
    assert (req.start_frame, req.end_frame, req.fps) == (10, 49, 25.0)
    dlg.format_box.setCurrentIndex(dlg.format_box.findData("webm"))
    dlg.transparent_box.setChecked(True)
    dlg.camera_box.setCurrentIndex(dlg.camera_box.findData("turntable"))
    req = dlg.request()
    assert req.path.name == "bob.webm" and req.transparent and req.camera_mode == "turntable"
    dlg.format_box.setCurrentIndex(dlg.format_box.findData("mp4"))
    assert not dlg.request().transparent  # MP4 has no alpha
    dlg.tabs.setCurrentIndex(1)
    dlg.ply_buttons["range"].setChecked(True)
    req = dlg.request()
    assert req.kind == "ply" and req.ply_mode == "range" and req.path.name == "bob_plys"
    dlg.deleteLater()


@requires_display
def test_settings_dialog_validates_and_persists(qt_app, tmp_path):
    from PySide6.QtCore import QSettings
    from avatar_studio.app.dialogs.settings_dialog import SettingsDialog
    from avatar_studio.app.settings import StudioSettings
    s = StudioSettings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    assert s.reconstructor == "template" and s.renderer == "auto" and s.show_grid
    dlg = SettingsDialog(s)
    dlg.smplx_row.edit.setText(str(tmp_path / "missing"))
    assert "does not exist" in dlg.smplx_row.message.text()
    dlg.reconstructor_box.setCurrentIndex(dlg.reconstructor_box.findData("lhm"))
    assert "not valid" in dlg.backend_message.text()
    dlg.renderer_box.setCurrentIndex(dlg.renderer_box.findData("gl"))
    dlg.accept()
    s2 = StudioSettings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    assert s2.reconstructor == "lhm" and s2.renderer == "gl" and s2.smplx_dir.endswith("missing")
    for i in range(12):
        s2.add_recent(tmp_path / f"f{i}.ply")
    assert len(s2.recent_files) == 10 and s2.recent_files[0].endswith("f11.ply")
    s2.background = (1.0, 0.5, 0.0)
    assert np.allclose(s2.background, (1.0, 0.5, 0.0), atol=1 / 255)


@requires_display
def test_window_builds_without_heavy_imports(tmp_path):
    """Start-up stays fast: torch and pyqtgraph are not imported before the window is on screen."""
    import os
    import subprocess
    import sys
    code = ("import sys\n"
            "from avatar_studio.app.main import create_application\n"
            "app = create_application()\n"
            "from avatar_studio.app.main_window import MainWindow\n"
            "w = MainWindow()\n"
            "print(sorted(m for m in ('torch', 'pyqtgraph', 'smplx') if m in sys.modules))\n")
    env = dict(os.environ, AVATAR_STUDIO_SETTINGS=str(tmp_path / "s.ini"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


def test_process_worker_results_errors_crashes_and_cancel():
    """Reconstruction runs in a child process: results and StudioErrors come back, a crash becomes a
    readable error (and the next job gets a fresh process), and Cancel ends even a job that ignores it."""
    import os
    from avatar_studio.app.process_worker import ProcessWorker
    from avatar_studio.core.errors import CancelledError, StudioError
    from avatar_studio.core.reconstruct.base import CancelToken
    target = "avatar_studio.app.process_worker:selftest"
    worker = ProcessWorker()
    seen = []
    try:
        pid = worker.call(target, {"seconds": 0.2}, lambda s, f: seen.append(s), CancelToken())
        assert pid != os.getpid() and "waiting" in seen
        with pytest.raises(StudioError, match="failed as asked"):
            worker.call(target, {"fail": "studio"}, lambda s, f: None, CancelToken())
        with pytest.raises(StudioError, match="stopped unexpectedly"):
            worker.call(target, {"fail": "crash"}, lambda s, f: None, CancelToken())
        assert worker.call(target, {}, lambda s, f: None, CancelToken()) != pid  # a fresh child

        import threading
        for ignore in (False, True):
            token = CancelToken()
            threading.Timer(0.3, token.cancel).start()
            t0 = time.perf_counter()
            with pytest.raises(CancelledError):
                worker.call(target, {"seconds": 30, "ignore_cancel": ignore}, lambda s, f: None, token)
            assert time.perf_counter() - t0 < 0.3 + 1.0
    finally:
        worker.stop()
    assert not worker.alive
