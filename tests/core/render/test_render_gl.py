"""GLRenderer specifics: GPU skinning, caching, drawing into a given framebuffer, overlays, errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from avatar_studio.core.errors import InputError
from avatar_studio.core.render.base import Camera, Renderer
from avatar_studio.core.render.reference import psnr, random_gaussians
from avatar_studio.core.skinning import skin_gaussians

N = 1500


@pytest.fixture(scope="module")
def rig():
    """Canonical Gaussians, top-4 skinning over 55 joints, two posed frames' transforms."""
    from support.body import skinned_rig
    return skinned_rig(11, 7, N)


def test_is_a_renderer(gl):
    assert isinstance(gl, Renderer) and gl.name == "gl"


@pytest.mark.parametrize("frame", [0, 1])
def test_gpu_skinning_matches_cpu_skinning(gl, rig, frame):
    g, idx, w, rel, transl, cam = rig
    posed = skin_gaussians(g, idx, w, rel[frame:frame + 1], transl[frame:frame + 1])[0]
    handle = gl.set_avatar(g, idx, w)
    a = gl.render(posed, cam)
    b = gl.render_skinned(handle, rel[frame], transl[frame], cam)
    assert psnr(a.color, b.color) >= 50 and psnr(a.alpha, b.alpha) >= 50
    gl.release_avatar(handle)


def test_projection_and_sort_rerun_only_on_change(gl, rig, monkeypatch):
    g, idx, w, rel, transl, cam = rig
    handle = gl.set_avatar(g, idx, w)
    calls = []
    original = type(gl)._run_projection
    monkeypatch.setattr(type(gl), "_run_projection", lambda self, *a: (calls.append(1), original(self, *a)))
    first = gl.render_skinned(handle, rel[0], transl[0], cam)
    again = gl.render_skinned(handle, rel[0], transl[0], cam, background=(0.0, 0.0, 0.0))
    assert len(calls) == 1, "same pose and view: no re-projection"
    np.testing.assert_allclose(first.alpha, again.alpha)
    gl.render_skinned(handle, rel[1], transl[1], cam)
    gl.render_skinned(handle, rel[1], transl[1], cam.resized(100, 80))
    assert len(calls) == 3
    gl.release_avatar(handle)


def test_static_handle_equals_render(gl, rig):
    g, _, _, _, _, cam = rig
    handle = gl.set_avatar(g)
    a = gl.render(g, cam)
    b = gl.render_avatar(handle, cam)
    assert psnr(a.color, b.color) >= 80
    with pytest.raises(InputError):
        gl.render_skinned(handle, torch.eye(4)[None].repeat(55, 1, 1), None, cam)
    gl.release_avatar(handle)
    with pytest.raises(InputError):
        gl.render_avatar(handle, cam)


def test_draw_into_framebuffer_with_offset_and_flip(gl, rig):
    """The viewport path: draw into a caller's framebuffer at (x, y) with y up, no read-back."""
    g, idx, w, rel, transl, cam = rig
    handle = gl.set_avatar(g, idx, w)
    expected = gl.render_skinned(handle, rel[0], transl[0], cam, background=(0.0, 0.0, 1.0))
    ctx = gl.ctx
    ctx.__enter__()  # make the context current (never `with ctx:`: glcontext releases on exit)
    tex = ctx.texture((260, 200), 4, dtype="f4")
    fbo = ctx.framebuffer([tex])
    fbo.clear(0.5, 0.5, 0.5, 1.0)
    gl.draw(handle, cam, framebuffer=fbo, viewport=(40, 30, cam.width, cam.height), transforms=rel[0],
            transl=transl[0], background=(0.0, 0.0, 1.0), flip_y=True)
    ctx.__enter__()  # make the context current (never `with ctx:`: glcontext releases on exit)
    full = np.frombuffer(fbo.read(components=4, dtype="f4"), np.float32).reshape(200, 260, 4)
    fbo.release()
    tex.release()
    inner = full[30:30 + cam.height, 40:40 + cam.width][::-1]  # GL rows are bottom-up
    assert psnr(expected.color, inner[..., :3]) >= 50
    np.testing.assert_allclose(full[:30, :, :3], 0.5)  # outside the viewport untouched
    gl.release_avatar(handle)


def test_draw_modes_and_texture_blit_run(gl, rig):
    g, _, _, _, _, cam = rig
    ctx = gl.ctx
    ctx.__enter__()  # make the context current (never `with ctx:`: glcontext releases on exit)
    tex = ctx.texture((cam.width, cam.height), 4)
    fbo = ctx.framebuffer([tex])
    for mode in ("color", "alpha", "depth", "centers"):
        gl.draw(g, cam, framebuffer=fbo, mode=mode, background=(1.0, 1.0, 1.0))
        ctx.__enter__()  # make the context current (never `with ctx:`: glcontext releases on exit)
        img = np.frombuffer(fbo.read(components=4), np.uint8).reshape(cam.height, cam.width, 4)
        assert img[..., :3].std() > 1.0, mode  # something was drawn
    ctx.__enter__()  # make the context current (never `with ctx:`: glcontext releases on exit)
    src = ctx.texture((cam.width, cam.height), 4, data=np.full((cam.height, cam.width, 4), 77, np.uint8).tobytes())
    gl.draw_texture(src, framebuffer=fbo)
    ctx.__enter__()  # make the context current (never `with ctx:`: glcontext releases on exit)
    assert np.all(np.frombuffer(fbo.read(components=4), np.uint8) == 77)
    for obj in (src, fbo, tex):
        obj.release()


def test_skeleton_overlay(gl, rig):
    g, _, _, _, _, cam = rig
    joints = np.array([[0.0, -0.4, 0.0], [0.0, 0.4, 0.0], [0.3, 0.4, 0.0], [0.0, 0.0, 5.0]], np.float32)
    parents = np.array([-1, 0, 1, 0])  # the last joint is behind the camera: its bone gets clipped
    plain = gl.render(g, cam, background=None)
    over = gl.render(g, cam, background=None, skeleton=(joints, parents))
    u, v = cam.project(np.array([[0.0, 0.0, 0.0]]))[0, :2].astype(int)
    np.testing.assert_allclose(over.color[v, u], (1.0, 0.35, 0.1), atol=1e-3)
    assert over.alpha[v, u] == pytest.approx(1.0)
    changed = np.any(np.abs(over.color - plain.color) > 1e-3, axis=-1)
    assert 0 < changed.mean() < 0.2


def test_big_gaussians_use_quads_in_order(gl):
    """Gaussians too large for a sprite are drawn as quads without breaking the depth order."""
    from avatar_studio.core.render.reference import ReferenceRenderer
    g = random_gaussians(300, 9, 0, extent=(0.3, 0.3, 0.3), scale_range=(0.05, 0.3))
    cam = Camera.look_at((0, 0, 1.2), (0, 0, 0), (0, -1, 0), width=96, height=96)
    out = gl.render(g, cam)
    kinds = {k for k, _, _ in gl._scratch.runs}
    assert kinds == {"point", "quad"}
    assert psnr(ReferenceRenderer().render(g, cam).color, out.color) >= 35


def test_sort_helpers():
    from avatar_studio.core.render.gl import GLRenderer, pack_skin, sort_near_to_far
    z = np.random.default_rng(0).uniform(0.5, 3.0, 5000).astype(np.float32)
    for bits in (16, 32):
        order = sort_near_to_far(z, bits)
        assert np.all(np.diff(z[order]) >= -(3.0 - 0.5) / 65535 * 1.01)
    assert np.array_equal(sort_near_to_far(z, 32), np.argsort(z, kind="stable"))
    assert GLRenderer._runs(np.array([0, 0, 1, 1, 0], bool)) == [("point", 0, 2), ("quad", 2, 2), ("point", 4, 1)]
    packed, w = pack_skin(np.array([[1, 2, 3, 4, 5, 6]]), np.array([[0.1, 0.2, 0.3, 0.4, 0.5, 0.6]]))
    ids = [(int(packed[0]) >> s) & 255 for s in (0, 8, 16, 24)]
    assert ids == [6, 5, 4, 3] and w.sum() == pytest.approx(1.0)
    with pytest.raises(InputError):
        pack_skin(np.array([[300]]), np.array([[1.0]]))


def test_bad_inputs(gl, rig):
    g, idx, w, _, _, cam = rig
    handle = gl.set_avatar(g, idx, w)
    with pytest.raises(InputError):
        gl.render_skinned(handle, np.eye(3), None, cam)
    with pytest.raises(InputError):
        gl.render(g, cam, mode="normals")
    gl.release_avatar(handle)


def test_two_headless_renderers_on_one_thread(rig):
    from avatar_studio.core.render.gl import GLRenderer
    g, _, _, _, _, cam = rig
    a, b = GLRenderer(), GLRenderer(precision="uint8")
    first = a.render(g, cam)
    b.render(g, cam)
    b.close()
    again = a.render(g, cam)  # a's context is made current again
    np.testing.assert_array_equal(first.color, again.color)
    a.close()
    a.close()  # idempotent


def test_occlusion_culling_is_invisible():
    """Culling drops only Gaussians over opaque pixels: the image must not change."""
    from avatar_studio.core.render.gl import GLRenderer
    g = random_gaussians(6000, 12, 0, extent=(0.15, 0.15, 0.3), scale_range=(0.01, 0.03), opacity_range=(0.8, 1.0))
    cam = Camera.look_at((0, 0, 1.5), (0, 0, 0), (0, -1, 0), width=128, height=128)
    with GLRenderer() as plain, GLRenderer() as culling:
        plain.occlusion_culling = False
        culling.occlusion_culling = True
        culling.cull_stages = (0.3, 0.6)
        a, b = plain.render(g, cam), culling.render(g, cam)
        stamp = culling._stamp
        dropped = np.frombuffer(culling._scratch.buffers["culled"].read(), np.uint32) == stamp
    assert dropped.mean() > 0.2, "the dense scene should let culling drop many splats"
    assert psnr(a.color, b.color) >= 60 and psnr(a.alpha, b.alpha) >= 60


def test_eight_bit_output_matches_float_and_converts_lazily(rig):
    """RGBA8 blending (the viewport's) stays close to float blending even on this deep, semi-
    transparent scene (56 dB on the demo avatar); its result hands the read-back bytes to `rgb8()`
    and makes float colour only on demand."""
    from avatar_studio.core.render.base import Rgba8RenderResult
    from avatar_studio.core.render.rendering import create_renderer
    g, idx, w, rel, transl, cam = rig
    exact, fast = create_renderer("gl"), create_renderer("gl", eight_bit=True)
    try:
        assert (exact.precision, fast.precision) == ("float", "uint8")
        a = exact.render_skinned(exact.set_avatar(g, idx, w), rel[0], transl[0], cam)
        b = fast.render_skinned(fast.set_avatar(g, idx, w), rel[0], transl[0], cam)
        transparent = fast.render(g, cam, background=None)
    finally:
        exact.close()
        fast.close()
    assert isinstance(b, Rgba8RenderResult) and not isinstance(transparent, Rgba8RenderResult)
    assert b._color is None                      # nothing converted yet
    px = b.rgb8()
    assert px.dtype == np.uint8 and px.shape == (cam.height, cam.width, 3) and px.flags.c_contiguous
    np.testing.assert_array_equal(px, (np.clip(b.color, 0, 1) * 255 + 0.5).astype(np.uint8))
    assert b.alpha.shape == (cam.height, cam.width) and b.alpha.max() > 0.9
    assert psnr(a.color, b.color) >= 30


def test_auto_culling_only_for_deep_scenes():
    """"auto" occlusion culling runs its mid-frame test only where sprites pile up (overdraw)."""
    from avatar_studio.core.render import gl as gl_module
    cam = Camera.look_at((0, 0, 1.5), (0, 0, 0), (0, -1, 0), width=128, height=128)
    deep = random_gaussians(6000, 12, 0, extent=(0.15, 0.15, 0.3), scale_range=(0.01, 0.03))
    thin = random_gaussians(300, 13, 0, extent=(0.3, 0.3, 0.05), scale_range=(0.002, 0.006))
    with gl_module.GLRenderer() as r:
        assert r.occlusion_culling == "auto"
        r.render(deep, cam)
        assert r._scratch.overdraw > gl_module.AUTO_CULL_OVERDRAW and len(r._stages(r._scratch)) == 2
        r.render(thin, cam)
        assert r._scratch.overdraw < gl_module.AUTO_CULL_OVERDRAW and len(r._stages(r._scratch)) == 1


def test_video_read_back_quantizes_on_the_gpu(rig):
    """read_back="8bit" (video export) blends in float, quantizes on the GPU and gives the same
    bytes as converting the float image on the CPU (rounding may differ by one level)."""
    from avatar_studio.core.render.base import Rgba8RenderResult
    from avatar_studio.core.render.rendering import create_renderer
    g, idx, w, rel, transl, cam = rig
    exact, video = create_renderer("gl"), create_renderer("gl", video=True)
    try:
        assert video.read_back == "8bit" and video.precision == "float"
        a = exact.render_skinned(exact.set_avatar(g, idx, w), rel[1], transl[1], cam, background=(0.2, 0.3, 0.4))
        handle = video.set_avatar(g, idx, w)
        b = video.render_skinned(handle, rel[1], transl[1], cam, background=(0.2, 0.3, 0.4))
        transparent = video.render_skinned(handle, rel[1], transl[1], cam, background=None)
    finally:
        exact.close()
        video.close()
    assert isinstance(b, Rgba8RenderResult) and not isinstance(transparent, Rgba8RenderResult)
    cpu, gpu = a.rgb8().astype(int), b.rgb8().astype(int)
    assert np.abs(cpu - gpu).max() <= 1                    # ties (x.5) may round either way
    assert np.abs(cpu[::-1] - gpu).max() > 10              # a real picture, rows in the same order


def test_close_leaves_no_context_current():
    """A closed headless renderer leaves no EGL context current on its thread: one left behind
    breaks a Qt (GLX) context used on that thread afterwards (its framebuffer grabs came back empty)."""
    import ctypes
    from avatar_studio.core.render.gl import GLRenderer
    egl = ctypes.CDLL("libEGL.so.1")
    egl.eglGetCurrentContext.restype = ctypes.c_void_p
    r = GLRenderer()
    rng = np.random.default_rng(0)
    r.render(random_gaussians(50, rng), Camera.orbit(np.zeros(3), 3.0, 0.0, 0.0, width=32, height=32))
    if not egl.eglGetCurrentContext():
        r.close()
        pytest.skip("the headless context is not an EGL one here")
    r.close()
    assert not egl.eglGetCurrentContext()
