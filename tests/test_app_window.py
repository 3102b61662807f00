"""The studio window end to end, with real Qt (Xvfb), real OpenGL (llvmpipe) and the real pipeline:
drop a generated photo -> an avatar renders; scrub -> the frame changes; cancel a reconstruction;
export MP4 and PLY from the GUI path; corrupt files show an error and the window keeps working;
undo/redo; projects, autosave and recovery; the README screenshot after loading the demo."""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from test_app_helpers import (drop_files, generated_photo, non_background_fraction, pump,
                              requires_display, wait_until, window_fixture)

pytestmark = [requires_display, pytest.mark.gui]

ROOT = Path(__file__).resolve().parents[1]
# The README's screenshot is refreshed only on request (AVATAR_STUDIO_UPDATE_DOCS=1), so a test run
# never dirties the checkout; otherwise it lands in the gitignored bench output folder.
SCREENSHOT = (ROOT / "resources" / "docs" if os.environ.get("AVATAR_STUDIO_UPDATE_DOCS")
              else ROOT / "tests" / "bench" / "output") / "screenshot_main_window.png"


# ---------------------------------------------------------------------- fixtures
def _no_questions(win) -> None:
    win._ask = lambda *a, **k: pytest.fail(f"unexpected question: {a[:2]}")


window = window_fixture(configure=_no_questions)


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    return generated_photo(tmp_path_factory.mktemp("photo") / "person.png")


def wait_job(win, title_part: str, timeout: float = 120.0) -> None:
    done = []
    win.job_finished.connect(lambda t: done.append(t))
    wait_until(lambda: any(title_part in t for t in done), timeout, what=f"job '{title_part}'")


def close_error(win) -> str:
    msg = win.last_error
    if win._error_box is not None:
        win._error_box.close()
    pump(0.05)
    return msg


@pytest.fixture(scope="module")
def avatar_item(window, photo):
    """Drop the generated photo on the window and wait for the avatar."""
    n = len(window.scene.items)
    window.last_error = ""
    drop_files(window, [photo])
    wait_until(lambda: len(window.scene.items) > n or window.last_error, 180, what="the reconstruction")
    assert len(window.scene.items) > n, window.last_error
    return window.scene.items[-1]


@pytest.fixture(scope="module")
def dancing(window, avatar_item):
    """The avatar with the sample dance, dropped as a motion file."""
    from avatar_studio import SAMPLE_MOTION
    window.scene.select(avatar_item)
    window.last_error = ""
    drop_files(window, [SAMPLE_MOTION])
    wait_until(lambda: avatar_item.motion is not None or window.last_error, 60, what="the motion")
    assert avatar_item.motion is not None, window.last_error
    return avatar_item


# ---------------------------------------------------------------------- tests
def test_drop_photo_shows_avatar(window, avatar_item):
    assert avatar_item.avatar is not None and len(avatar_item.avatar.gaussians) > 1000
    window.viewport.frame_all()
    img = window.viewport.grab_rgb()
    frac = non_background_fraction(img, window.viewport.background)
    assert frac > 0.03, f"only {frac:.1%} of the viewport differs from the background"
    assert "Reconstruct" in window.undo_stack.undoText()
    assert window.viewport.renderer_label


def test_scrub_changes_rendered_frame(window, dancing):
    from PySide6.QtCore import QPointF
    tl = window.timeline
    assert tl.num_frames == dancing.motion.num_frames
    window.timeline.set_frame(0, emit=True)
    first = window.viewport.grab_rgb()
    # Scrub by dragging the playhead the way a mouse does (the line's own drag path).
    tl.playhead.setValue(tl.num_frames // 2)
    assert window.scene.frame == tl.num_frames // 2
    mid = window.viewport.grab_rgb()
    assert np.abs(mid.astype(int) - first.astype(int)).mean() > 0.5, "scrubbing did not change the image"
    # Clicking the ruler also scrubs.
    vb = tl.plot.getViewBox()
    scene_pos = vb.mapViewToScene(QPointF(10, 0.5))
    assert vb.mapSceneToView(scene_pos).x() == pytest.approx(10, abs=0.6)
    tl.set_frame(10, emit=True)
    assert window.scene.frame == 10
    assert window.curves.curve_data(), "the curve view shows no channels"


def test_viewport_moves_to_the_cpu_rasterizer_on_software_gl(window, dancing):
    """Where OpenGL is a software rasterizer (llvmpipe here), the viewport moves to the CPU splatter
    once its kernels are compiled off the GUI thread, in the raster (QPainter, no GL) viewport. It
    draws the same picture as the GLSL path, with the skeleton overlay, and Settings can still switch
    between them."""
    from avatar_studio.app.viewport import RasterViewport, wants_raster
    from avatar_studio.core.render.reference import psnr
    from avatar_studio.core.render.rendering import is_software_gl
    vp = window.viewport
    if not is_software_gl(vp._screen_gl_name()):
        pytest.skip("OpenGL runs on a GPU here: the viewport keeps the GLSL renderer")
    assert isinstance(vp, RasterViewport) == wants_raster("auto")
    wait_until(lambda: vp.renderer_label == "cpu", 60, what="the switch to the CPU rasterizer")
    window.timeline.set_frame(5, emit=True)
    vp.frame_all()
    on_cpu = vp.grab_rgb()
    assert non_background_fraction(on_cpu, vp.background) > 0.03
    vp.set_show_skeleton(True)
    with_skeleton = vp.grab_rgb()
    vp.set_show_skeleton(False)
    assert np.abs(with_skeleton.astype(int) - on_cpu.astype(int)).max() > 100, "no skeleton drawn"
    vp.set_renderer_name("gl")
    try:
        on_gl = vp.grab_rgb()
        assert vp.renderer_label == "gl"
        assert psnr(on_cpu / 255.0, on_gl / 255.0) >= 35
    finally:
        vp.set_renderer_name("auto")
    assert vp.renderer_label == "cpu"


def test_fps_readout_in_status_bar(window, dancing):
    """The viewport's readout (fps, frame time, splats, size, renderer) shows in the status bar, not
    over the GL widget, and the View menu toggles it."""
    from test_app_helpers import pump
    vp = window.viewport
    assert not [c for c in vp.children() if c.isWidgetType() and c.isVisible()], "widgets over the viewport"
    for f in range(6):
        window.timeline.set_frame(f, emit=True)
        vp.repaint()
        pump(0.06)
    wait_until(lambda: "splats" in window.fps_readout.text(), 5, what="the FPS readout")
    assert window.fps_readout.isVisible() and f"{len(dancing.avatar.gaussians):,} splats" in window.fps_readout.text()
    window.view_menu.act_fps.trigger()
    assert not window.fps_readout.isVisible()
    window.view_menu.act_fps.trigger()
    assert window.fps_readout.isVisible()


def test_playback_repaints_only_the_viewport(window, dancing):
    """While the window plays, each new frame repaints the viewport, not the widgets behind and
    around it: the timeline's time label follows at ~10 Hz (through the scene's time events too),
    and shows the exact frame once paused."""
    from PySide6.QtCore import QEvent, QEventLoop, QObject, QTimer
    paints = {"viewport": 0, "label": 0, "splitter": 0}
    watched = {window.viewport: "viewport", window.timeline.time_label: "label",
               window.viewport.parentWidget(): "splitter"}

    class PaintCounter(QObject):
        def eventFilter(self, obj, event):
            if event.type() == QEvent.Type.Paint and obj in watched:
                paints[watched[obj]] += 1
            return False

    counter = PaintCounter()
    for w in watched:
        w.installEventFilter(counter)
    tl = window.timeline
    try:
        tl.set_frame(0, emit=True)
        tl.play()
        t0 = time.perf_counter()
        # 1.5 s, or longer on a loaded machine until the viewport has drawn 8 frames (at most 8 s).
        while time.perf_counter() - t0 < 1.5 or (paints["viewport"] < 8 and time.perf_counter() - t0 < 8.0):
            loop = QEventLoop()
            QTimer.singleShot(100, loop.quit)
            loop.exec()
        elapsed = time.perf_counter() - t0
        tl.pause()
    finally:
        for w in watched:
            w.removeEventFilter(counter)
    # 1.5 s at 10 Hz, the first and the final frame, and a spare expose: before, both followed every
    # viewport frame (20-30 a second).
    assert paints["viewport"] >= 8, paints
    spare = 7 + int(10 * elapsed)  # the label at 10 Hz, the first and final frame, a spare expose
    assert paints["label"] <= spare and paints["splitter"] <= spare, (paints, elapsed)
    assert tl.time_label.text().startswith(f"{tl.frame / tl.fps:.2f} s") and tl.frame_box.value() == tl.frame


def test_keyboard_transport(window, dancing):
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication
    close_error(window)
    window.raise_()
    window.activateWindow()
    QTest.qWaitForWindowActive(window, 2000)
    window.viewport.setFocus()
    wait_until(lambda: QApplication.activeWindow() is window, 5, what="the window to be active")
    window.timeline.set_frame(5, emit=True)
    QTest.keyClick(window.viewport, Qt.Key.Key_Right)
    assert window.scene.frame == 6
    QTest.keyClick(window.viewport, Qt.Key.Key_Left)
    assert window.scene.frame == 5
    QTest.keyClick(window.viewport, Qt.Key.Key_End)
    assert window.scene.frame == window.scene.num_frames - 1
    QTest.keyClick(window.viewport, Qt.Key.Key_Home)
    assert window.scene.frame == 0
    QTest.keyClick(window.viewport, Qt.Key.Key_Space)
    assert window.timeline.is_playing
    wait_until(lambda: window.scene.frame > 3, 5, what="playback to advance")
    QTest.keyClick(window.viewport, Qt.Key.Key_Space)
    assert not window.timeline.is_playing


def test_cancel_reconstruction(window, photo, avatar_item):
    n = len(window.scene.items)
    stages = []
    job = window.file_menu.reconstruct(photo)
    assert job is not None
    job.progress.connect(lambda s, f: stages.append(s))
    wait_until(lambda: stages or not job.running, 60, what="the first progress report")
    assert window.status_jobs.progress_bar.isVisible() and window.status_jobs.cancel_button.isVisible()
    t0 = time.perf_counter()
    window.status_jobs.cancel_button.click()
    wait_until(lambda: not job.running, 5, interval=0.002, what="the cancel")
    took = time.perf_counter() - t0
    assert took < 1.0, f"cancel took {took:.2f} s"
    pump(0.2)
    assert len(window.scene.items) == n
    assert not window.status_jobs.progress_bar.isVisible()
    assert window.file_menu.busy is False


def test_export_mp4_and_ply(window, dancing, tmp_path):
    from avatar_studio.app.dialogs.export_dialog import ExportDialog, ExportRequest
    from avatar_studio.core.io.avatar_file import read_avatar
    from avatar_studio.core.io.ply import read_ply
    # The dialog builds the request the GUI runs.
    dlg = ExportDialog(window, num_frames=window.scene.num_frames, fps=window.scene.fps, trim=(0, 5),
                       folder=str(tmp_path), name="clip")
    dlg.size_box.setCurrentIndex(dlg.size_box.count() - 1)  # custom
    dlg.width_box.setValue(96)
    dlg.height_box.setValue(128)
    req = dlg.request()
    dlg.deleteLater()
    assert req.kind == "video" and req.path == tmp_path / "clip.mp4" and (req.start_frame, req.end_frame) == (0, 5)
    window.export_menu.run_export(req)
    wait_job(window, "clip.mp4")
    assert req.path.is_file(), window.last_error
    import imageio.v2 as iio
    reader = iio.get_reader(str(req.path))
    frames = [f for f in reader]
    reader.close()
    assert len(frames) == 6 and frames[0].shape[:2] == (128, 96)

    canonical = ExportRequest(kind="ply", path=tmp_path / "avatar.ply", ply_mode="canonical")
    window.export_menu.run_export(canonical)
    wait_job(window, "avatar.ply")
    assert len(read_avatar(canonical.path).gaussians) == len(dancing.avatar.gaussians)

    window.timeline.set_frame(20, emit=True)
    posed = ExportRequest(kind="ply", path=tmp_path / "posed.ply", ply_mode="frame")
    window.export_menu.run_export(posed)
    wait_job(window, "posed.ply")
    g = read_ply(posed.path)
    assert len(g) == len(dancing.avatar.gaussians)
    assert not np.allclose(g.means, dancing.avatar.gaussians.means, atol=1e-3)
    # The posed frame goes to any writable splat format, chosen by the extension.
    from avatar_studio.core.io.formats import read_gaussians
    for name in ("posed.spz", "posed.splat", "posed.compressed.ply"):
        req = ExportRequest(kind="ply", path=tmp_path / name, ply_mode="frame")
        window.export_menu.run_export(req)
        wait_job(window, name)
        assert len(read_gaussians(tmp_path / name)) == len(g)

    seq = ExportRequest(kind="ply", path=tmp_path / "frames", ply_mode="range", start_frame=3, end_frame=5)
    window.export_menu.run_export(seq)
    wait_job(window, "frames")
    # the one frame-folder writer (core.sequence.writers): frames plus a manifest with the scene's rate
    assert sorted(p.name for p in seq.path.iterdir()) == ["frame0001.ply", "frame0002.ply", "frame0003.ply",
                                                         "manifest.json"]
    from avatar_studio.core.sequence import load_sequence
    assert load_sequence(seq.path).fps == pytest.approx(window.scene.fps)


def test_cancel_export_leaves_no_file(window, dancing, tmp_path):
    from avatar_studio.app.dialogs.export_dialog import ExportRequest
    req = ExportRequest(kind="video", path=tmp_path / "long.mp4", width=64, height=64, start_frame=0,
                        end_frame=window.scene.num_frames - 1)
    job = window.export_menu.run_export(req)
    wait_until(lambda: job.fraction > 0 or not job.running, 60, what="export progress")
    from PySide6.QtWidgets import QPushButton
    window.export_menu.progress_dialog.findChild(QPushButton).click()  # the dialog's Cancel button
    wait_until(lambda: not job.running, 5, what="export cancel")
    assert not req.path.exists() and not list(tmp_path.glob(".long*"))


def test_corrupt_files_show_error_and_window_keeps_working(window, avatar_item, tmp_path):
    bad = {"broken.png": b"\x89PNG\r\n\x1a\nnot really", "broken.ply": b"ply\nformat ascii 1.0\nelement",
           "broken.npz": b"PK\x03\x04garbage", "broken.avsproj": b"nope", "broken.bvh": b"HIERARCHY\nROOT"}
    n = len(window.scene.items)
    for name, data in bad.items():
        path = tmp_path / name
        path.write_bytes(data)
        window.last_error = ""
        drop_files(window, [path])
        wait_until(lambda: window.last_error, 30, what=f"an error for {name}")
        msg = close_error(window)
        assert name in msg or "not" in msg.lower(), msg
        assert "Traceback" not in msg
    window.last_error = ""
    window.open_paths([tmp_path / "missing.png"])
    assert "not found" in close_error(window)
    assert len(window.scene.items) == n
    # Still usable: scrub and render.
    window.timeline.set_frame(1, emit=True)
    assert non_background_fraction(window.viewport.grab_rgb(), window.viewport.background) > 0.01


def test_motion_edit_undo_redo(window, dancing):
    motion = dancing.motion
    n = motion.num_frames
    window.timeline.set_trim(10, 39)
    window.motion_panel.set_trim(10, 39)
    window.motion_panel.trim_button.click()
    assert dancing.motion.num_frames == 30 and window.timeline.num_frames == 30
    window.motion_panel.mirror_button.click()
    mirrored = dancing.motion
    assert mirrored is not motion and mirrored.num_frames == 30
    assert "Mirror" in window.undo_stack.undoText()
    window.edit_menu.act_undo.trigger()
    window.edit_menu.act_undo.trigger()
    assert dancing.motion is motion and window.timeline.num_frames == n
    window.edit_menu.act_redo.trigger()
    window.edit_menu.act_redo.trigger()
    assert dancing.motion is mirrored
    # Key a joint: the rotation at that frame becomes the keyed one.
    window.timeline.set_frame(12, emit=True)
    panel = window.motion_panel
    panel.joint_box.setCurrentIndex(18)  # left elbow
    for sb, v in zip(panel.angle_boxes, (0.0, -60.0, 0.0)):
        sb.setValue(v)
    panel.key_button.click()
    aa = dancing.motion.full_pose()[12, 18]
    assert np.allclose(np.degrees(aa), (0, -60, 0), atol=0.5)
    assert dancing.keys[18] == [12]   # the key marker lives on the item, and undoes with the edit
    window.edit_menu.act_undo.trigger()
    assert 18 not in dancing.keys
    window.edit_menu.act_redo.trigger()
    assert dancing.keys[18] == [12]
    while window.undo_stack.canUndo() and "Reconstruct" not in window.undo_stack.undoText() \
            and "Load motion" not in window.undo_stack.undoText():
        window.edit_menu.act_undo.trigger()
    assert dancing.motion is motion


def test_project_round_trip_and_recovery(window, dancing, tmp_path):
    from PySide6.QtWidgets import QMessageBox
    from avatar_studio.app.undo import PlacementEdit
    window.undo_stack.push(PlacementEdit(window.scene, dancing, translation=np.array([0.5, 0, 0], np.float32)))
    path = tmp_path / "scene.avsproj"
    window.file_menu.save_project(path=path)
    wait_job(window, "scene.avsproj")
    assert path.is_file() and window.undo_stack.isClean() and window.project_path == path
    names = [i.name for i in window.scene.items]
    frames = dancing.motion.num_frames

    window.file_menu.new_project()
    assert window.scene.items == []
    window.file_menu.open_project(path)
    wait_job(window, "scene.avsproj")
    assert [i.name for i in window.scene.items] == names
    reopened = next(i for i in window.scene.items if i.motion is not None)
    assert reopened.motion.num_frames == frames
    assert np.allclose(reopened.placement.translation, [0.5, 0, 0])
    assert str(path) in window.settings.recent_files[0]

    # Autosave, then pretend the process died: the next start offers recovery.
    window.undo_stack.push(PlacementEdit(window.scene, reopened, translation=np.array([0.25, 0, 0], np.float32)))
    job = window.autosave.save()
    assert job is not None
    wait_until(lambda: not job.running, 60, what="autosave")
    assert window.autosave.path.is_file()
    crashed = window.autosave.folder / "autosave-999999.avsproj"
    shutil.copy(window.autosave.path, crashed)
    assert crashed in window.autosave.orphaned()
    window._ask = lambda *a, **k: QMessageBox.StandardButton.Yes
    window.undo_stack.setClean()
    window.autosave.check_recovery()
    wait_job(window, "autosave-999999")
    window._ask = lambda *a, **k: pytest.fail("unexpected question")
    assert not crashed.exists()
    recovered = next(i for i in window.scene.items if i.motion is not None)
    assert np.allclose(recovered.placement.translation, [0.25, 0, 0])
    # it comes back as the project it was, with unsaved changes (not "Untitled")
    assert window.project_path == path and not window.undo_stack.isClean()
    assert window.windowTitle().startswith("scene.avsproj") and window.isWindowModified()


def test_screenshot_after_loading_demo(window):
    """Load the demo (sample photo + sample dance) and save the README screenshot."""
    from avatar_studio.app.menus.file import sample_photo
    if sample_photo() is None:
        pytest.skip("the sample photos have not been generated into resources/photos yet")
    window._ask = lambda *a, **k: __import__("PySide6.QtWidgets").QtWidgets.QMessageBox.StandardButton.Yes
    window.file_menu.new_project()
    window._ask = lambda *a, **k: pytest.fail("unexpected question")
    window.last_error = ""
    window.file_menu.load_demo()
    wait_until(lambda: window.scene.items and window.scene.items[0].motion is not None or window.last_error, 180,
               what="the demo avatar")
    assert window.scene.items and window.scene.items[0].motion is not None, window.last_error
    assert window.timeline.is_playing  # Open Demo plays what it loads
    window.timeline.pause()
    window.view_menu.act_skeleton.setChecked(False)
    window.timeline.set_frame(window.scene.num_frames // 3, emit=True)
    window.viewport.frame_all()
    window.viewport.set_view("front")
    window.viewport.orbit_camera.orbit(20, 5)
    window.curves.select_joints([16, 17])
    pump(0.5)
    img = window.grab()
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    assert img.save(str(SCREENSHOT), "PNG", 9)
    assert SCREENSHOT.stat().st_size < 400_000
    assert non_background_fraction(window.viewport.grab_rgb(), window.viewport.background) > 0.03
