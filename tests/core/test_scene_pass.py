"""One scene pass for screen and files (issue 22, item 1): the viewport (real Qt, real renderer), the
window's video export and the CLI's `animate` draw the same image for the same scene and time, and the
draw list itself (order, uploads kept by revision)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from support import random_gaussians
from support.app import requires_display

W, H, FPS, FRAME = 320, 240, 10.0, 5
AZIMUTH, ELEVATION = 20.0, 8.0
WHITE = (1.0, 1.0, 1.0)


def _avatar(body, n: int = 3000, seed: int = 0):
    from avatar_studio.core.avatar import Avatar, Rig
    from avatar_studio.core.skinning import dense_to_sparse_weights
    rng = np.random.default_rng(seed)
    v, _ = body.shaped()
    sel = rng.choice(body.num_vertices, n, replace=False)
    g = random_gaussians(n, rng).replace(means=v[sel])
    idx, w = dense_to_sparse_weights(body.weights[sel], 4)
    return Avatar(g, Rig(idx, w), name="dancer")


def _waving(frames: int = 30):
    from avatar_studio.core.motion.motion import Motion
    fp = np.zeros((frames, 55, 3), np.float32)
    fp[:, 17, 2] = np.linspace(0, 1.5, frames)   # the right shoulder raises
    fp[:, 0, 1] = np.linspace(0, 0.6, frames)    # and the body turns
    return Motion.from_full_pose(fp, np.zeros((frames, 3)), fps=30, up_axis="y")


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> tuple[Path, Path]:
    """An avatar file and a motion file: what the CLI reads, and what the window opened."""
    from avatar_studio.core.body.model import default_body_model
    from avatar_studio.core.io.avatar_file import write_avatar
    from avatar_studio.core.motion.amass import write_amass
    tmp = tmp_path_factory.mktemp("scene-pass")
    avatar_path = write_avatar(tmp / "dancer.ply", _avatar(default_body_model()))
    return avatar_path, write_amass(_waving(), tmp / "wave.npz")


def _window_scene(files: tuple[Path, Path]):
    """The scene a window holds after opening the avatar and its motion (as the window reads them)."""
    from avatar_studio.core.body.model import body_for_rig
    from avatar_studio.core.io.avatar_file import read_avatar
    from avatar_studio.core.pipeline import load_motion_for_playback
    from avatar_studio.core.scene import AvatarItem, Scene
    avatar = read_avatar(files[0])
    body = body_for_rig(avatar.rig.body_model, avatar.rig.gender, None)
    scene = Scene(body)
    scene.add(AvatarItem("dancer", avatar, motion=load_motion_for_playback(files[1], body)))
    return scene


def _settings():
    from avatar_studio.core.export.animation import AnimationSettings
    return AnimationSettings(width=W, height=H, fps=FPS, end=(FRAME + 1) / FPS, azimuth_deg=AZIMUTH,
                             elevation_deg=ELEVATION, background=WHITE)


def _window_export(scene, renderer_name: str, tmp: Path) -> tuple[np.ndarray, object]:
    """Frame FRAME of the window's video export (a snapshot of its scene, a headless video renderer),
    written as PNGs and read back; and the animation (for its camera)."""
    from PIL import Image
    from avatar_studio.core.export.animation import SceneAnimation
    from avatar_studio.core.export.video import write_video
    from avatar_studio.core.render.rendering import create_renderer
    renderer = create_renderer(renderer_name, video=True)
    try:
        anim = SceneAnimation(scene.snapshot(), renderer, _settings())
        folder = write_video(tmp / "window", anim, anim.num_frames)
    finally:
        renderer.close()
    return np.asarray(Image.open(folder / f"frame{FRAME + 1:04d}.png").convert("RGB")), anim


def _cli_export(files: tuple[Path, Path], renderer_name: str, tmp: Path) -> np.ndarray:
    """Frame FRAME of `avatar-studio animate` (the operation the command calls), as PNGs."""
    from PIL import Image
    from avatar_studio.core.operations import VideoSettings, animate_avatar
    folder, count = animate_avatar(files[0], files[1], tmp / "cli", VideoSettings(
        width=W, height=H, fps=FPS, frames=FRAME + 1, azimuth=AZIMUTH, elevation=ELEVATION), renderer=renderer_name)
    assert count == FRAME + 1
    return np.asarray(Image.open(folder / f"frame{FRAME + 1:04d}.png").convert("RGB"))


def _viewport_frame(scene, anim, renderer_name: str) -> np.ndarray:
    """What the window's viewport shows at the export frame's time, looking through its camera
    (grid off, the export's background)."""
    from support.app import app, pump, wait_until
    from avatar_studio.core.camera import OrbitCamera
    from avatar_studio.app.viewport import RasterViewport, Viewport
    app()
    cam = anim.camera(FRAME)
    lo, hi = anim._bounds
    centre = (lo + hi) / 2
    vp = (RasterViewport if renderer_name == "cpu" else Viewport)(renderer_name=renderer_name)
    try:
        vp.resize(W, H)
        vp.show()
        wait_until(lambda: vp.windowHandle() is not None and vp.windowHandle().isExposed(), 10, what="the viewport")
        wait_until(lambda: vp.renderer is not None and vp.renderer_label == renderer_name, 60,
                   what=f"the {renderer_name} renderer")
        assert vp.device_size() == (W, H)
        vp.set_show_grid(False)
        vp.set_background(WHITE)
        vp.orbit_camera = OrbitCamera(centre, float(np.linalg.norm(cam.position - centre)), AZIMUTH, ELEVATION,
                                      anim.settings.fov_y_deg)
        np.testing.assert_allclose(vp.camera().view, cam.view, atol=1e-5)
        vp.set_scene(scene)
        scene.set_time(anim.time_of(FRAME))
        pump(0.05)
        return vp.grab_rgb()
    finally:
        vp.close()
        vp.deleteLater()


@requires_display
@pytest.mark.gui
@pytest.mark.parametrize("renderer_name", ["cpu", "gl"])
def test_viewport_window_export_and_cli_export_draw_the_same_image(files, renderer_name, tmp_path):
    """The same scene and time through the three front doors. The CLI and the window's export are one
    code path: identical bytes. The viewport composites the same draw list on screen: with the CPU
    rasterizer within one level (it blends the premultiplied 8-bit image, the export rasterizes over the
    background); with GL it blends in RGBA8 like a screen, bit-identical to an export drawn with 8-bit
    blending, and close to the float-blended export."""
    from avatar_studio.core.export.animation import SceneAnimation
    from avatar_studio.core.render.rendering import create_renderer, probe_cpu, probe_gl
    from avatar_studio.core.render.reference import psnr
    probe = probe_cpu() if renderer_name == "cpu" else probe_gl()
    if not probe[0]:
        pytest.skip(f"the {renderer_name} renderer cannot run here: {probe[1]}")
    scene = _window_scene(files)
    window, anim = _window_export(scene, renderer_name, tmp_path)
    cli = _cli_export(files, renderer_name, tmp_path)
    np.testing.assert_array_equal(cli, window)
    assert (window.astype(int).sum(-1) < 740).mean() > 0.02, "the avatar is not in the exported frame"
    screen = _viewport_frame(scene, anim, renderer_name)
    assert screen.shape == window.shape
    if renderer_name == "cpu":
        assert np.abs(screen.astype(int) - window.astype(int)).max() <= 1
        return
    renderer = create_renderer("gl", video=True, eight_bit=True)   # the viewport's blending
    try:
        same_blending = SceneAnimation(scene.snapshot(), renderer, _settings()).render(FRAME)
    finally:
        renderer.close()
    np.testing.assert_array_equal(screen, same_blending)
    assert psnr(screen / 255.0, window / 255.0) >= 40.0


def test_draw_list_orders_far_to_near_and_keeps_uploads_by_revision(body):
    """Draws come far to near; a back-end uploads an item once and again only when it changes."""
    from avatar_studio.core.camera import Camera
    from avatar_studio.core.render.draw import ImageTarget
    from avatar_studio.core.render.reference import ReferenceRenderer
    from avatar_studio.core.scene import AvatarItem, Placement, Scene, SplatsItem
    from avatar_studio.core.scene_pass import ScenePass
    rng = np.random.default_rng(1)
    scene = Scene(body)
    near = scene.add(SplatsItem("near", random_gaussians(40, rng),
                                placement=Placement(np.array([0, 0, 1.0], np.float32))))
    far = scene.add(AvatarItem("far", _avatar(body, 200), motion=_waving(),
                               placement=Placement(np.array([0, 0, -1.5], np.float32))))
    cam = Camera.look_at((0.0, 0.5, 4.0), (0.0, 0.0, 0.0), width=64, height=48)
    sp = ScenePass()
    dl = sp.draw_list(scene, 0.2, cam)
    assert [d.key for d in dl.draws] == [far.uid, near.uid] and dl.draws[0].skinned and not dl.draws[1].skinned
    assert dl.splat_count == 240 and len(dl.skeletons) == 1
    # the CPU-posed world Gaussians of the skinned draw are the item's own at that time
    np.testing.assert_allclose(dl.draws[0].world().means, far.gaussians_at(body, 0.2).means)
    versions = [d.version for d in dl.draws]
    assert [d.version for d in sp.draw_list(scene, 0.5, cam).draws] == versions   # time is not a change
    scene.set_placement(near, Placement(np.array([0, 0, 1.2], np.float32)))   # splats are placed before upload
    scene.set_placement(far, Placement(np.array([0.1, 0, -1.5], np.float32)))  # an avatar's bones carry its place
    again = sp.draw_list(scene, 0.5, cam).draws
    assert again[0].version == versions[0] and again[1].version != versions[1]
    assert not np.allclose(again[0].transforms, dl.draws[0].transforms)
    scene.set_visible(far, False)
    assert [d.key for d in sp.draw_list(scene, 0.5, cam).draws] == [near.uid]
    # a back-end without skinning composites the list by posing on the CPU
    target = ImageTarget(64, 48, (0.0, 0.0, 0.0))
    ReferenceRenderer().composite(sp.draw_list(scene, 0.5, cam), target)
    assert target.pixels().shape == (48, 64, 3) and target.pixels().max() > 0


def test_image_target_blends_like_a_single_render(body):
    """Two draws blended into an ImageTarget equal rendering both sets as one when they do not overlap
    (up to 8-bit rounding), over opaque and transparent backgrounds."""
    from avatar_studio.core.camera import Camera
    from avatar_studio.core.render.draw import ImageTarget
    from avatar_studio.core.render.reference import ReferenceRenderer
    from avatar_studio.core.gaussians import GaussianSet
    from avatar_studio.core.scene import Placement, Scene, SplatsItem
    from avatar_studio.core.scene_pass import draw_list
    rng = np.random.default_rng(2)
    scene = Scene(body)
    for x in (-0.6, 0.6):
        g = random_gaussians(60, rng).replace(means=rng.normal(0, 0.08, (60, 3)).astype(np.float32))
        scene.add(SplatsItem(f"x{x}", g, placement=Placement(np.array([x, 0, 0], np.float32))))
    cam = Camera.look_at((0.0, 0.0, 3.0), (0.0, 0.0, 0.0), width=96, height=64)
    ref = ReferenceRenderer()
    for bg in (WHITE, None):
        target = ImageTarget(96, 64, bg)
        ref.composite(draw_list(scene, 0.0, cam), target)
        whole = ref.render(GaussianSet.concat([i.gaussians_at(body, 0.0) for i in scene.items]), cam, background=bg)
        expect = whole.rgb8() if bg is not None else whole.rgba8()
        got = target.pixels()
        assert got.shape == expect.shape
        if bg is None:   # colour only where there is coverage worth speaking of
            seen = expect[..., 3] > 16
            assert np.abs(got[..., 3].astype(int) - expect[..., 3]).max() <= 2
            assert np.abs(got[seen][:, :3].astype(int) - expect[seen][:, :3]).max() <= 8
        else:
            assert np.abs(got.astype(int) - expect).max() <= 2


@pytest.mark.cuda
def test_gsplat_composites_a_draw_list_like_the_reference(body):
    """The gsplat back-end's `composite` (device skinning, one sort across draws) against the reference
    back-end's (CPU posing, draw by draw) on two items apart on screen, at two times (the device upload
    is kept; only the bones change). Runs where CUDA and gsplat are (the GPU check)."""
    from avatar_studio.core.render.rendering import probe_gsplat
    ok, why = probe_gsplat()
    if not ok:
        pytest.skip(f"gsplat/CUDA unavailable: {why}")
    from avatar_studio.core.camera import Camera
    from avatar_studio.core.render.cuda import GsplatRenderer
    from avatar_studio.core.render.draw import ImageTarget
    from avatar_studio.core.render.reference import ReferenceRenderer
    from avatar_studio.core.scene import AvatarItem, Placement, Scene, SplatsItem
    from avatar_studio.core.scene_pass import ScenePass
    rng = np.random.default_rng(3)
    scene = Scene(body)
    scene.add(AvatarItem("dancer", _avatar(body, 2000), motion=_waving(),
                         placement=Placement(np.array([-0.5, 0, 0], np.float32))))
    g = random_gaussians(300, rng).replace(means=rng.normal(0, 0.1, (300, 3)).astype(np.float32))
    scene.add(SplatsItem("still", g, placement=Placement(np.array([0.7, 1.0, 0], np.float32))))
    cam = Camera.look_at((0.0, 0.9, 3.5), (0.0, 0.8, 0.0), width=160, height=120)
    gs, ref, sp = GsplatRenderer(), ReferenceRenderer(), ScenePass()
    try:
        for t in (0.1, 0.8):
            a, b = ImageTarget(160, 120, WHITE), ImageTarget(160, 120, WHITE)
            dl = sp.draw_list(scene, t, cam)
            ref.composite(dl, a)
            gs.composite(dl, b)
            err = a.pixels().astype(np.float64) - b.pixels()
            psnr = 10 * np.log10(255.0 ** 2 / max(np.mean(err ** 2), 1e-12))
            assert psnr >= 35, f"t={t}: {psnr:.1f} dB"
    finally:
        gs.close()
