"""What a new user met in the window (issue 23), each as a real-Qt test that failed before its fix:
typed placement decimals, feet on the floor, turntable framing, the timeline, the docks, errors."""
from __future__ import annotations

import numpy as np
import pytest

from support import random_gaussians
from test_app_helpers import pump, requires_display

pytestmark = [requires_display, pytest.mark.gui]


@pytest.fixture
def qt_app():
    from test_app_helpers import app
    return app()


def _splat_scene(n_items: int = 1):
    from avatar_studio.core.scene import AvatarItem, Scene, SplatsItem
    rng = np.random.default_rng(0)
    scene = Scene()
    for k in range(n_items):
        scene.add(SplatsItem(f"splats {k}", gaussians=random_gaussians(20, rng)))
    return scene


def _type_into(box, text: str) -> None:
    """Click into a spin box, select its text and type `text` then Enter, key by key, as a person does."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    box.setFocus()
    box.selectAll()
    for ch in text:
        QTest.keyClick(box, ch)
        pump(0.01)
    QTest.keyClick(box, Qt.Key.Key_Return)
    pump(0.02)


def test_placement_fields_keep_typed_decimals_as_one_undo_step(qt_app):
    from PySide6.QtGui import QUndoStack
    from avatar_studio.app.scene_panel import ScenePanel
    stack = QUndoStack()
    panel = ScenePanel(stack)
    scene = _splat_scene()
    panel.set_scene(scene)
    panel.show()
    pump(0.05)
    item = scene.selected
    x, _, z = panel.pos_boxes
    _type_into(z, "0.75")
    _type_into(x, "-1.5")
    assert item.placement.translation[2] == pytest.approx(0.75)
    assert item.placement.translation[0] == pytest.approx(-1.5)
    assert z.value() == pytest.approx(0.75) and x.value() == pytest.approx(-1.5)
    assert stack.count() == 2, [stack.text(i) for i in range(stack.count())]  # one step per typed field
    stack.undo()
    assert item.placement.translation[0] == 0 and item.placement.translation[2] == pytest.approx(0.75)
    stack.undo()
    assert not np.any(item.placement.translation)
    # arrow steps on one field are one undo step too
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    y = panel.pos_boxes[1]
    y.setFocus()
    for _ in range(3):
        QTest.keyClick(y, Qt.Key.Key_Up)
    assert item.placement.translation[1] == pytest.approx(0.15)
    assert stack.index() == 1 and stack.count() == 1
    panel.close()


# ---------------------------------------------------------------------- in the window
def _no_questions(win) -> None:
    win._ask = lambda *a, **k: pytest.fail(f"unexpected question: {a[:2]}")


window = __import__("test_app_helpers").window_fixture(configure=_no_questions)


def _small_avatar(body, n: int = 2000, seed: int = 0):
    """A rigged avatar on the body's own surface (the window's scene convention: rest feet near y = -1.3)."""
    from avatar_studio.core.avatar import Avatar, Rig
    from avatar_studio.core.skinning import dense_to_sparse_weights
    rng = np.random.default_rng(seed)
    v, _ = body.shaped()
    sel = rng.choice(body.num_vertices, n, replace=False)
    g = random_gaussians(n, rng).replace(means=v[sel])
    idx, w = dense_to_sparse_weights(body.weights[sel], 4)
    return Avatar(g, Rig(idx, w))


def _fresh_scene(win) -> None:
    win._ask = lambda *a, **k: __import__("PySide6.QtWidgets").QtWidgets.QMessageBox.StandardButton.Yes
    win.file_menu.new_project()
    _no_questions(win)
    pump(0.05)


def _add_dancer(win, name: str = "dancer", seed: int = 0):
    from avatar_studio import SAMPLE_MOTION
    from avatar_studio.core.pipeline import load_motion_for_playback
    from avatar_studio.core.scene import AvatarItem, SplatsItem
    body = win.scene.body
    item = AvatarItem(name, avatar=_small_avatar(body, seed=seed))
    win.add_item(item)
    win.scene.select(item)
    win.motion_menu.set_motion(load_motion_for_playback(SAMPLE_MOTION, body))
    pump(0.1)
    return item


def _lowest_y(win, item) -> float:
    g = item.gaussians_at(win.scene.body_for(item), win.scene.time)
    return float(np.percentile(g.means[:, 1], 0.25))


def test_feet_on_floor_keeps_a_standing_dancer_on_the_grid(window):
    _fresh_scene(window)
    item = _add_dancer(window)
    window.timeline.set_frame(20, emit=True)
    pump(0.05)
    window.frame_all()
    floor, low = window.viewport.ground_y, _lowest_y(window, item)
    target_y = float(window.viewport.orbit_camera.target[1])
    window.motion_panel.ground_button.click()
    pump(0.1)
    assert window.undo_stack.text(window.undo_stack.index() - 1) == "Feet on floor"
    assert abs(_lowest_y(window, item) - low) < 0.05, "the dancer left the floor"
    assert abs(window.viewport.ground_y - floor) < 0.05, "the floor grid jumped"
    assert float(window.viewport.orbit_camera.target[1]) == pytest.approx(target_y)
    # lifted by hand, the button puts it back on the same grid
    from avatar_studio.app.undo import PlacementEdit
    window.undo_stack.push(PlacementEdit(window.scene, item, translation=np.array([0, 0.5, 0], np.float32)))
    window.motion_panel.ground_button.click()
    pump(0.1)
    assert abs(_lowest_y(window, item) - floor) < 0.05


def test_turntable_frames_two_avatars_whole_on_every_frame(window):
    """Each sampled frame of a one-turn turntable holds both dancers whole, at a steady size."""
    from avatar_studio.core.export.animation import AnimationSettings, SceneAnimation
    from avatar_studio.core.render.rendering import create_renderer
    _fresh_scene(window)
    _add_dancer(window, "one", seed=1)
    two = _add_dancer(window, "two", seed=2)
    from avatar_studio.app.undo import PlacementEdit
    window.undo_stack.push(PlacementEdit(window.scene, two, translation=np.array([2.5, 0, -0.8], np.float32)))
    snap = window.scene.snapshot()
    renderer = create_renderer("cpu")
    try:
        anim = SceneAnimation(snap, renderer, AnimationSettings(width=320, height=240, fps=30, end=2.0,
                                                                camera_mode="turntable"))
        assert anim.num_frames == 60
        heights, distances = [], []
        for i in (0, 15, 30, 45):
            cam = anim.camera(i)
            uv = cam.project(snap.gaussians_at(anim.time_of(i)).means)
            inside = ((uv[:, 0] >= 0) & (uv[:, 0] < 320) & (uv[:, 1] >= 0) & (uv[:, 1] < 240)).mean()
            assert inside > 0.995, f"frame {i}: only {inside:.0%} of the scene is in the picture"
            heights.append(np.ptp(uv[:, 1]))
            distances.append(float(np.linalg.norm(cam.position - np.mean(anim._bounds, axis=0))))
            assert heights[-1] > 0.33 * 240, f"frame {i}: the scene is only {heights[-1]:.0f} px tall"
        assert np.ptp(distances) < 1e-3, f"the camera breathes: {distances}"  # circles one centre
    finally:
        renderer.close()


# ---------------------------------------------------------------------- timeline
def _ruler_x_range(tl) -> tuple[float, float]:
    return tuple(tl.plot.getViewBox().viewRange()[0])


def test_timeline_ruler_follows_every_range_change(qt_app):
    """A shorter clip (trim, or a still scene) must not clamp the ruler of the next, longer one."""
    from avatar_studio.app.timeline import Timeline
    tl = Timeline()
    tl.resize(900, 120)
    tl.show()
    tl.build_ruler()
    for frames in (1, 150, 105, 150):  # empty scene, a motion, trimmed, Ctrl+Z
        tl.set_range(frames, 30.0)
        pump(0.02)
        lo, hi = _ruler_x_range(tl)
        assert lo <= 0.5 and hi >= max(frames - 1, 10) - 0.5, f"{frames} frames: ruler {lo:.0f}–{hi:.0f}"
        assert hi <= max(frames - 1, 10) * 1.05 + 1
    tl.close()


def _drag(view, start, end, modifiers=None) -> None:
    """A real left-button drag in a QGraphicsView's viewport (press, moves with the button held, release)."""
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication
    mods = modifiers if modifiers is not None else Qt.KeyboardModifier.NoModifier
    vp = view.viewport()

    def send(kind, pos, button, buttons):
        local = QPointF(pos)
        ev = QMouseEvent(kind, local, vp.mapToGlobal(local), button, buttons, mods)
        QApplication.sendEvent(vp, ev)
        pump(0.01)
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    send(QMouseEvent.Type.MouseButtonPress, start, left, left)
    for k in range(1, 11):
        p = start + (end - start) * (k / 10)
        send(QMouseEvent.Type.MouseMove, p, none, left)
    send(QMouseEvent.Type.MouseButtonRelease, end, left, none)


def test_timeline_drag_inside_the_range_scrubs(qt_app):
    from PySide6.QtCore import QPointF, Qt
    from avatar_studio.app.timeline import Timeline
    tl = Timeline()
    tl.resize(900, 120)
    tl.show()
    tl.build_ruler()
    tl.set_range(150, 30.0)
    tl.set_trim(20, 120)
    pump(0.05)
    vb = tl.plot.getViewBox()

    def at(frame: float) -> QPointF:
        scene_pt = vb.mapViewToScene(QPointF(frame, 0.5))
        return QPointF(tl.plot.mapFromScene(scene_pt))
    _drag(tl.plot, at(50), at(90))
    assert tl.trim_range() == (20, 120), "a plain drag moved the range"
    assert abs(tl.frame - 90) <= 1, f"a plain drag did not scrub (frame {tl.frame})"
    _drag(tl.plot, at(60), at(70), Qt.KeyboardModifier.ShiftModifier)  # Shift+drag moves the range
    assert tl.trim_range() == (30, 130)
    tl.close()


# ---------------------------------------------------------------------- docks
def test_curves_dock_only_with_a_motion_and_not_under_the_side_docks(window):
    _fresh_scene(window)
    pump(0.1)
    assert not window.curves_dock.isVisible(), "the Curves dock is open with no motion"
    vp = window.viewport.size()
    assert vp.height() > 0.7 * window.height(), f"viewport {vp.width()}×{vp.height()}"
    print(f"viewport {vp.width()}×{vp.height()} in a {window.width()}×{window.height()} window")
    _add_dancer(window)
    pump(0.1)
    assert window.curves_dock.isVisible() and window.curves.joint_list.isEnabled()
    # the side docks keep the bottom corners: the curves sit under the viewport only
    assert window.curves_dock.width() < window.width() - window.scene_dock.width() - window.motion_dock.width() + 20
    assert window.viewport.width() == vp.width()
    # closed by the user, it stays closed for the next motion
    window.curves_dock.close()
    pump(0.05)
    _add_dancer(window, "second", seed=4)
    pump(0.1)
    assert not window.curves_dock.isVisible()
    window.curves_dock.toggleViewAction().trigger()
    pump(0.05)
    assert window.curves_dock.isVisible()


# ---------------------------------------------------------------------- errors and readouts
def test_several_bad_files_dropped_at_once_are_all_listed(window, tmp_path):
    from test_app_helpers import drop_files, wait_until
    bad = {"broken.ply": b"ply\nformat ascii 1.0\nelement", "broken.npz": b"PK\x03\x04garbage",
           "broken.bvh": b"HIERARCHY\nROOT"}
    for name, data in bad.items():
        (tmp_path / name).write_bytes(data)
    shown = []
    window.error_shown.connect(shown.append)
    drop_files(window, [tmp_path / name for name in bad])
    wait_until(lambda: len(shown) >= 3, 60, what="three errors")
    box = window._error_box
    assert box is not None
    text = box.text()
    for name in bad:
        assert name in text, f"{name} missing from the error box:\n{text}"
    box.close()
    pump(0.05)
    assert window._error_box is None


def test_status_bar_names_the_renderer_that_draws(window):
    from test_app_helpers import wait_until
    wait_until(lambda: not window.viewport._awaiting_probe, 60, what="the renderer probes")
    pump(0.05)
    drawing = window.viewport.renderer_label
    assert window.core_label.text().startswith(f"{drawing} · ready"), window.core_label.text()
    from avatar_studio.core.render.rendering import probe_gsplat
    if probe_gsplat()[0]:
        pytest.skip("gsplat works here: nothing falls back")
    old = window.settings.renderer
    try:
        window.settings.renderer = "gsplat"
        window.file_menu.apply_settings()
        pump(0.05)
        assert window.viewport.renderer_label != "gsplat"
        text = window.core_label.text()
        assert text.startswith(window.viewport.renderer_label) and "gsplat unavailable" in text, text
        assert "gsplat" in window.core_label.toolTip()
    finally:
        window.settings.renderer = old
        window.file_menu.apply_settings()
    wait_until(lambda: not window.viewport._awaiting_probe, 60, what="the renderer probes")
    pump(0.05)
    assert window.core_label.text() == f"{window.viewport.renderer_label} · ready"


def test_eye_toggle_shows_and_hides_without_errors(qt_app, monkeypatch):
    """The eye in each scene row toggles visibility (one undo step, nothing printed); renaming still works."""
    import sys
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QUndoStack
    from PySide6.QtTest import QTest
    from avatar_studio.app.scene_panel import ScenePanel
    errors = []
    monkeypatch.setattr(sys, "excepthook", lambda *exc: errors.append(exc[1]))
    stack = QUndoStack()
    panel = ScenePanel(stack)
    scene = _splat_scene(2)
    panel.set_scene(scene)
    panel.resize(300, 400)
    panel.show()
    pump(0.05)
    eye = panel.eye_rect(0).center()
    icon_before = panel.list.item(0).icon().cacheKey()
    QTest.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, eye)
    pump(0.02)
    assert not scene.items[0].visible and stack.count() == 1
    assert panel.list.item(0).icon().cacheKey() != icon_before  # the eye closes
    QTest.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, eye)
    pump(0.02)
    assert scene.items[0].visible and stack.count() == 2
    panel.list.item(1).setData(Qt.ItemDataRole.EditRole, "renamed")
    pump(0.02)
    assert scene.items[1].name == "renamed" and not errors, errors
    panel.close()


def test_fps_readout_during_slow_playback(qt_app):
    import time
    from avatar_studio.app.viewport import Viewport
    vp = Viewport()
    vp.show_fps = True
    vp.set_playing(True, 3.0)  # e.g. a 30 fps clip at 0.1×
    now = time.perf_counter()
    vp._frame_times.extend(now - 1.6 + 0.4 * k for k in range(5))  # 2.5 frames a second
    vp._update_label()
    assert vp.readout.startswith("  2 fps") or vp.readout.startswith("  3 fps"), vp.readout
    vp.set_playing(False)
    vp._update_label()
    assert vp.readout.startswith("idle"), vp.readout
    vp.deleteLater()


def test_recovered_session_comes_back_as_its_project(window, tmp_path):
    import shutil
    from PySide6.QtWidgets import QMessageBox
    from test_app_helpers import wait_until
    from avatar_studio.app.undo import PlacementEdit
    _fresh_scene(window)
    item = _add_dancer(window)
    path = tmp_path / "walk.avsproj"
    finished = []
    window.job_finished.connect(finished.append)
    window.file_menu.save_project(path=path)
    wait_until(lambda: any("walk.avsproj" in t for t in finished), 60, what="the save")
    window.undo_stack.push(PlacementEdit(window.scene, item, translation=np.array([0.3, 0, 0], np.float32)))
    job = window.autosave.save()
    wait_until(lambda: not job.running, 60, what="autosave")
    crashed = window.autosave.folder / "autosave-999998.avsproj"
    shutil.copy(window.autosave.path, crashed)
    window._ask = lambda *a, **k: QMessageBox.StandardButton.Yes
    window.undo_stack.setClean()
    window.autosave.check_recovery()
    wait_until(lambda: any("autosave-999998" in t for t in finished), 60, what="the recovery")
    _no_questions(window)
    assert window.project_path == path, window.project_path
    assert window.windowTitle().startswith("walk.avsproj") and window.isWindowModified(), window.windowTitle()
    assert np.allclose(window.scene.items[0].placement.translation, [0.3, 0, 0])


def test_first_export_does_not_default_into_the_apps_own_folders(window, tmp_path):
    from avatar_studio import RESOURCES_DIR
    from avatar_studio import SAMPLE_MOTION
    from test_app_helpers import drop_files, wait_until
    _fresh_scene(window)
    item = _add_dancer(window)
    window.settings.export_dir = ""
    drop_files(window, [SAMPLE_MOTION])  # opening the sample motion makes resources/motions the last folder
    wait_until(lambda: window.settings.last_dir == str(SAMPLE_MOTION.parent) and not window.status_jobs.jobs, 60,
               what="the sample motion")
    from avatar_studio.app.dialogs.export_dialog import ExportDialog
    seen = []

    def exec_(dlg):  # what File ▸ Export Video would offer, without a modal loop
        seen.append(dlg.request().path)
        return ExportDialog.DialogCode.Rejected
    ExportDialog.exec = exec_
    try:
        window.export_menu.export_dialog()
    finally:
        del ExportDialog.exec
    folder = seen[0].parent
    assert RESOURCES_DIR not in [folder, *folder.parents], folder
    window.project_path = tmp_path / "walk.avsproj"
    assert window.export_menu.export_folder() == tmp_path  # with a project: beside it
    window.settings.export_dir = str(tmp_path / "nope")
    assert window.export_menu.export_folder() == tmp_path
    window.project_path = None
    assert item.motion is not None


# ---------------------------------------------------------------------- polish
def test_menus_say_what_they_do(window, tmp_path):
    from PySide6.QtCore import QSize
    from avatar_studio.app.startup import initial_size
    # View ▸ Grid/Skeleton show their tick, not an icon
    for act in (window.view_menu.act_grid, window.view_menu.act_skeleton):
        assert act.isCheckable() and not act.isIconVisibleInMenu()
    # Open Recent tells two files of one name apart
    a, b = tmp_path / "a" / "avatar.ply", tmp_path / "b" / "avatar.ply"
    for p in (a, b):
        p.parent.mkdir()
        p.write_bytes(b"ply\n")
        window.settings.add_recent(p)
    window.file_menu.fill_recent_menu()
    texts = [act.text() for act in window.file_menu.recent_menu.actions()[:2]]
    assert texts[0] != texts[1], texts
    # at 150 % scaling a 1920×1080 screen is 1280×~700 logical pixels: the window must fit
    w, h = initial_size(QSize(1280, 690))
    assert w <= 1280 and h <= 690
    assert initial_size(QSize(2560, 1400)) == (1400, 900)


def test_trim_button_without_a_motion(qt_app):
    from avatar_studio.app.motion_panel import MotionPanel
    panel = MotionPanel()
    panel.set_item(None)
    panel.set_trim(0, 0)
    assert panel.trim_button.text() == "Trim to handles"
    panel.deleteLater()


def test_grid_shows_on_a_light_background():
    from avatar_studio.app.viewport import grid_lines
    for bg in ((0.95, 0.95, 0.95), (0.227, 0.239, 0.259)):
        lines = grid_lines(0.0, background=bg)
        minor = lines[(lines[:, 3] == lines[:, 4]) & (lines[:, 4] == lines[:, 5])]  # grey lines, not the axes
        contrast = np.abs(minor[:, 3:6] - np.asarray(bg)).max(axis=1) * minor[:, 6]  # colour gap × opacity
        assert contrast.min() > 0.08, f"background {bg}: contrast {contrast.min():.3f}"


def test_curve_axis_names_what_it_plots(qt_app):
    from avatar_studio.app.curves import ROOT_TRANSLATION, CurveView
    from avatar_studio.core.motion.motion import Motion
    view = CurveView()
    view.build_plot()
    fp = np.zeros((20, 55, 3), np.float32)
    view.set_motion(Motion.from_full_pose(fp, np.zeros((20, 3)), fps=30))
    view.select_joints([ROOT_TRANSLATION])
    assert view.plot.getAxis("left").labelText == "translation (cm)"
    view.select_joints([16])
    assert view.plot.getAxis("left").labelText == "rotation (°)"
    view.deleteLater()


def test_key_rotation_boxes_are_labelled(qt_app):
    from avatar_studio.app.motion_panel import MotionPanel
    panel = MotionPanel()
    assert [b.prefix().strip() for b in panel.angle_boxes] == ["X", "Y", "Z"]
    panel.deleteLater()


def test_a_new_avatar_stands_clear_of_its_neighbour(window):
    from avatar_studio.core.scene import AvatarItem, SplatsItem
    _fresh_scene(window)
    body = window.scene.body
    a = AvatarItem("a", avatar=_small_avatar(body, seed=5))  # rest pose: a T-pose, arms out
    b = AvatarItem("b", avatar=_small_avatar(body, seed=6))
    window.add_item(a)
    window.add_item(b)
    xa = a.gaussians_at(body, 0.0).means[:, 0]
    xb = b.gaussians_at(body, 0.0).means[:, 0]
    assert np.percentile(xa, 99.5) < np.percentile(xb, 0.5), "the arms pass through the neighbour"


def test_wheel_zoom_keeps_the_point_under_the_cursor(qt_app):
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication
    from avatar_studio.app.viewport import Viewport
    vp = Viewport()
    vp.resize(640, 480)
    cam0 = vp.orbit_camera.camera(640, 480)
    view = cam0.view.astype(np.float64)
    cursor = (480.0, 120.0)
    # the world point under the cursor on the target's plane
    point = vp.orbit_camera.target + ((cursor[0] - cam0.cx) / cam0.fx * view[0, :3]
                                      + (cursor[1] - cam0.cy) / cam0.fy * view[1, :3]) * vp.orbit_camera.distance
    ev = QWheelEvent(QPointF(*cursor), QPointF(*cursor), QPoint(0, 0), QPoint(0, 360), Qt.MouseButton.NoButton,
                     Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(vp, ev)
    assert vp.orbit_camera.distance < 3.5 * 0.7  # zoomed in
    uv = vp.orbit_camera.camera(640, 480).project(point[None])[0]
    assert abs(uv[0] - cursor[0]) < 1.0 and abs(uv[1] - cursor[1]) < 1.0, uv
    vp.deleteLater()


def test_dragging_files_over_the_window_shows_where_they_go(window, tmp_path):
    import warnings
    from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent
    from PySide6.QtWidgets import QApplication
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path / "x.png"))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        enter = QDragEnterEvent(QPoint(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    hint = window._drop_hint
    assert hint is not None and hint.isVisible()
    vp_top_left = window.viewport.mapTo(window, QPoint(0, 0))
    assert hint.geometry().topLeft() == vp_top_left and hint.size() == window.viewport.size()
    QApplication.sendEvent(window, QDragLeaveEvent())
    assert not hint.isVisible()


def test_lhm_without_folders_is_explained_in_the_windows_words(window, tmp_path):
    from test_app_helpers import generated_photo, wait_until
    old = window.settings.reconstructor, window.settings.lhm_model_dir, window.settings.lhm_prior_dir
    window.settings.reconstructor, window.settings.lhm_model_dir, window.settings.lhm_prior_dir = "lhm", "", ""
    try:
        window.last_error = ""
        window.file_menu.reconstruct(generated_photo(tmp_path / "p.png"))
        wait_until(lambda: window.last_error, 120, what="the LHM error")
        msg = window.last_error
        assert "--model" not in msg and "--prior" not in msg and "Settings" in msg, msg
        if window._error_box is not None:
            window._error_box.close()
    finally:
        window.settings.reconstructor, window.settings.lhm_model_dir, window.settings.lhm_prior_dir = old


def test_a_renamed_file_error_says_it_once(window, tmp_path):
    from avatar_studio import RESOURCES_DIR
    from test_app_helpers import drop_files, wait_until
    fake = tmp_path / "dance.npz"
    fake.write_bytes((RESOURCES_DIR / "icons" / "avatar-studio-64.png").read_bytes())  # a PNG renamed .npz
    window.last_error = ""
    drop_files(window, [fake])
    wait_until(lambda: window.last_error, 60, what="the error")
    msg = window.last_error
    if window._error_box is not None:
        window._error_box.close()
    assert msg.count("dance.npz") == 1 and msg.count("can read") == 1, msg


def test_settings_dialog_flags_only_what_is_needed_and_holds_still(qt_app, tmp_path):
    from PySide6.QtCore import QSettings
    from avatar_studio.app.dialogs.settings_dialog import SettingsDialog
    from avatar_studio.app.settings import StudioSettings
    s = StudioSettings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    dlg = SettingsDialog(s)
    dlg.show()
    pump(0.05)
    assert s.reconstructor == "template"
    for row in (dlg.lhm_model_row, dlg.lhm_prior_row):
        assert "✗" not in row.message.text(), row.message.text()  # not needed with Template
    height = dlg.height()
    dlg.reconstructor_box.setCurrentIndex(dlg.reconstructor_box.findData("lhm"))
    pump(0.05)
    assert "✗" in dlg.lhm_model_row.message.text() and "not valid" in dlg.backend_message.text()
    dlg.adjustSize()
    pump(0.05)
    assert dlg.height() == height, "the dialog jumped when LHM was chosen"
    dlg.close()


def test_export_dialog_remembers_and_shares_the_range(qt_app, tmp_path):
    from avatar_studio.app.dialogs.export_dialog import ExportDialog
    first = ExportDialog(num_frames=150, fps=30.0, trim=(0, 149), folder=str(tmp_path))
    first.camera_box.setCurrentIndex(first.camera_box.findData("turntable"))
    first.size_box.setCurrentIndex(3)  # 1280 × 720
    first.start_box.setValue(10)
    first.end_box.setValue(59)
    req = first.request()
    again = ExportDialog(num_frames=150, fps=30.0, trim=(0, 149), folder=str(tmp_path), previous=req)
    back = again.request()
    assert (back.camera_mode, back.width, back.height) == ("turntable", 1280, 720)
    assert (back.start_frame, back.end_frame) == (10, 59)
    # the range is not on the Video tab only: the PLY tab shows it too
    again.tabs.setCurrentIndex(1)
    again.show()
    pump(0.02)
    assert again.start_box.isVisible()
    # a trim made on the timeline since wins over the remembered range
    trimmed = ExportDialog(num_frames=150, fps=30.0, trim=(20, 30), folder=str(tmp_path), previous=req)
    assert (trimmed.request().start_frame, trimmed.request().end_frame) == (20, 30)
    for d in (first, again, trimmed):
        d.deleteLater()


def test_curves_unwrap_a_turn_through_180(qt_app):
    from avatar_studio.app.curves import CurveView
    from avatar_studio.core.motion.motion import Motion
    fp = np.zeros((40, 55, 3), np.float32)
    yaw = np.radians(np.linspace(150, 210, 40))  # turning on the spot through 180°
    fp[:, 0, 1] = np.where(yaw > np.pi, yaw - 2 * np.pi, yaw)  # as motion files store it: wrapped
    view = CurveView()
    view.build_plot()
    view.set_motion(Motion.from_full_pose(fp, np.zeros((40, 3)), fps=30))
    view.select_joints([0])
    y = view.curve_data()["pelvis.y"]
    assert np.abs(np.diff(y)).max() < 5.0, "the yaw curve jumps"
    assert y[-1] == pytest.approx(210, abs=0.5)
    view.deleteLater()


def test_reconstruction_status_line_fits_beside_the_readouts(window):
    from avatar_studio.app.menus.file import reconstruction_message
    notes = ["mask from mediapipe selfie segmentation, refined by GrabCut",
             "keypoints from mediapipe pose landmarks"]
    short, full = reconstruction_message("sample_person_1.png", 40000, notes)
    bar = window.statusBar()
    free = bar.width() - window.fps_readout.width() - window.core_label.width() - 40
    assert bar.fontMetrics().horizontalAdvance(short) < free, (short, free)
    assert all(n in full for n in notes)


def test_set_key_takes_euler_angles(qt_app):
    from avatar_studio.app.motion_panel import MotionPanel
    from avatar_studio.core.motion.motion import Motion
    from avatar_studio.core.rotations import aa_to_rotmat, euler_to_rotmat, rotmat_to_euler_xyz
    rng = np.random.default_rng(1)
    for angles in rng.uniform(-170, 170, (20, 3)) * [1, 0.5, 1]:  # |Y| < 90: away from gimbal lock
        assert np.allclose(rotmat_to_euler_xyz(euler_to_rotmat(angles, "XYZ")), angles, atol=1e-6)
    fp = np.zeros((20, 55, 3), np.float32)

    class Item:  # what the panel reads of a scene item
        avatar, motion = object(), Motion.from_full_pose(fp, np.zeros((20, 3)), fps=30)
    panel = MotionPanel()
    panel.set_item(Item)
    panel.set_frame_source(lambda: 5)
    panel.joint_box.setCurrentIndex(18)
    edits = []
    panel.edit_requested.connect(lambda label, fn, keys: edits.append(fn))
    for sb, v in zip(panel.angle_boxes, (30.0, 45.0, -20.0)):
        sb.setValue(v)
    panel.key_button.click()
    keyed = edits[-1](Item.motion, None)
    got = aa_to_rotmat(keyed.full_pose()[5, 18].astype(np.float64))
    assert np.allclose(got, euler_to_rotmat(np.array([30.0, 45.0, -20.0]), "XYZ"), atol=1e-4)
    Item.motion = keyed
    panel.refresh_key_values()  # and the boxes read it back as the same three angles
    assert np.allclose([sb.value() for sb in panel.angle_boxes], (30.0, 45.0, -20.0), atol=0.06)
    panel.deleteLater()
