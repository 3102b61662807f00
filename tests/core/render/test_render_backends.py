"""Back-end selection (`create_renderer`, probes), the gsplat back-end and the CUDA->GL texture bridge."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from avatar_studio.core.errors import BackendUnavailableError, InputError
from avatar_studio.core.render import Camera, RenderResult, Renderer, available_backends, create_renderer
from avatar_studio.core.render.reference import ReferenceRenderer, psnr, random_gaussians
from avatar_studio.core.render.rendering import probe_gsplat

HAS_CUDA = torch.cuda.is_available()


@pytest.fixture
def fresh_probe():
    probe_gsplat.cache_clear()
    yield
    probe_gsplat.cache_clear()


def test_public_exports():
    assert Camera and RenderResult and Renderer


@pytest.mark.skipif(HAS_CUDA, reason="checks the CPU-only fallback")
def test_forcing_gsplat_without_cuda_falls_back_to_gl(fresh_probe):
    notices: list[str] = []
    r = create_renderer("gsplat", notice=notices.append)
    try:
        assert r.name == "gl" and isinstance(r, Renderer)
        assert len(notices) == 1
        assert notices[0].startswith("gsplat unavailable (") and notices[0].endswith("); using the OpenGL renderer")
    finally:
        r.close()


@pytest.mark.skipif(HAS_CUDA, reason="checks the CPU-only fallback")
def test_auto_without_cuda_picks_quietly_by_the_kind_of_opengl(fresh_probe):
    """No CUDA: OpenGL on a real GPU, the CPU rasterizer where OpenGL is software (llvmpipe here)."""
    from avatar_studio.core.render.rendering import is_software_gl, probe_gl
    notices: list[str] = []
    r = create_renderer("auto", notice=notices.append)
    try:
        assert r.name == ("cpu" if is_software_gl(probe_gl()[1]) else "gl") and notices == []
    finally:
        r.close()


def test_probe_survives_cuda_reported_but_unusable(fresh_probe, monkeypatch):
    """CUDA claims to be there but rasterization cannot run: the probe says no, it does not crash."""
    if HAS_CUDA:
        pytest.skip("a real CUDA device is present")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    ok, reason = probe_gsplat()
    assert ok is False and "rasterization failed" in reason
    notices: list[str] = []
    r = create_renderer("gsplat", notice=notices.append)
    try:
        assert r.name == "gl" and "rasterization failed" in notices[0]
    finally:
        r.close()


def test_probe_reports_missing_cuda(fresh_probe):
    ok, reason = probe_gsplat()
    assert ok == HAS_CUDA or reason
    if not HAS_CUDA:
        assert ok is False and "CUDA" in reason


def test_other_names():
    assert isinstance(create_renderer("reference"), ReferenceRenderer)
    with pytest.raises(InputError):
        create_renderer("vulkan")


def test_available_backends():
    names = available_backends()
    assert "gl" in names and names[-1] == "reference"
    assert ("gsplat" in names) == probe_gsplat()[0]


def test_gl_renderer_on_a_given_context():
    """The Qt viewport passes its own moderngl context; the renderer must not release it."""
    from avatar_studio.core.render.gl import GLRenderer, create_headless_context
    ctx = create_headless_context()
    r = create_renderer("gl", ctx=ctx)
    g = random_gaussians(50, 0)
    out = r.render(g, Camera.look_at((0, 0, 2), (0, 0, 0), width=32, height=32))
    assert isinstance(r, GLRenderer) and out.alpha.max() > 0
    r.close()
    assert ctx.buffer(reserve=4)  # still alive
    ctx.release()


@pytest.mark.skipif(HAS_CUDA, reason="only meaningful without CUDA")
def test_gsplat_renderer_refuses_without_cuda():
    from avatar_studio.core.render.cuda import GsplatRenderer
    with pytest.raises(BackendUnavailableError):
        GsplatRenderer()


# --------------------------------------------------------------------------- texture bridge
@pytest.fixture
def gl_ctx():
    from avatar_studio.core.render.gl import create_headless_context
    ctx = create_headless_context()
    yield ctx
    ctx.release()


def test_texture_bridge_host_copy(gl_ctx):
    from avatar_studio.core.render.cuda import TextureBridge
    h, w = 12, 20
    img = torch.rand(h, w, 3)
    bridge = TextureBridge(gl_ctx, w, h)
    bridge.update(img)
    assert not bridge.uses_interop
    got = np.frombuffer(bridge.texture.read(), np.uint8).reshape(h, w, 4)
    np.testing.assert_array_equal(got[..., :3], (img.numpy() * 255 + 0.5).astype(np.uint8))
    assert np.all(got[..., 3] == 255)
    rgba8 = torch.randint(0, 256, (h, w, 4), dtype=torch.uint8)
    bridge.update(rgba8)
    np.testing.assert_array_equal(np.frombuffer(bridge.texture.read(), np.uint8).reshape(h, w, 4), rgba8.numpy())
    with pytest.raises(InputError):
        bridge.update(torch.rand(h + 1, w, 3))
    bridge.release()


@pytest.mark.skipif(HAS_CUDA, reason="checks the no-CUDA path")
def test_texture_bridge_require_interop_without_cuda(gl_ctx):
    from avatar_studio.core.render.cuda import TextureBridge
    bridge = TextureBridge(gl_ctx, 4, 4, interop="require")
    with pytest.raises(BackendUnavailableError):
        bridge.update(torch.rand(4, 4, 3))
    bridge.release()


# --------------------------------------------------------------------------- CUDA only
needs_gsplat = pytest.mark.skipif(not probe_gsplat()[0], reason="gsplat/CUDA unavailable: " + probe_gsplat()[1])


@pytest.mark.cuda
@needs_gsplat
@pytest.mark.parametrize("bg", [(1.0, 1.0, 1.0), None])
def test_gsplat_matches_reference(bg):
    from avatar_studio.core.render.cuda import GsplatRenderer
    g = random_gaussians(1500, 3, 3)
    cam = Camera.look_at((0.4, -0.3, 2.4), (0, 0, 0), (0, -1, 0), width=192, height=160)
    a = ReferenceRenderer().render(g, cam, background=bg)
    b = GsplatRenderer().render(g, cam, background=bg)
    pm = lambda r: r.color * r.alpha[..., None]  # noqa: E731
    assert psnr(pm(a), pm(b)) >= 35 and psnr(a.alpha, b.alpha) >= 35
    d_a = ReferenceRenderer().render(g, cam, mode="depth")
    d_b = GsplatRenderer().render(g, cam, mode="depth")
    solid = d_a.alpha > 0.5
    assert np.abs(d_a.depth[solid] - d_b.depth[solid]).max() < 1e-2


@pytest.mark.cuda
@needs_gsplat
def test_gsplat_skinned_matches_cpu_skinning():
    from avatar_studio.core.render.cuda import GsplatRenderer
    from avatar_studio.core.skinning import SMPLX_PARENTS, batch_rodrigues, forward_kinematics, skin_gaussians
    rng = np.random.default_rng(0)
    g = random_gaussians(1000, 1, 3, extent=(0.2, 0.5, 0.15), scale_range=(0.005, 0.03))
    idx = rng.integers(0, 55, (1000, 4))
    w = rng.random((1000, 4)).astype(np.float32)
    w /= w.sum(1, keepdims=True)
    joints = torch.tensor(rng.normal(size=(55, 3)) * 0.3, dtype=torch.float32)
    _, rel = forward_kinematics(batch_rodrigues(torch.tensor(rng.normal(size=(1, 55, 3)) * 0.3, dtype=torch.float32)),
                                joints, SMPLX_PARENTS)
    cam = Camera.look_at((0.3, -0.2, 2.5), (0, 0, 0), (0, -1, 0), width=160, height=128)
    r = GsplatRenderer()
    a = r.render(skin_gaussians(g, idx, w, rel)[0], cam)
    b = r.render_skinned(r.set_avatar(g, idx, w), rel[0], None, cam)
    assert psnr(a.color, b.color) >= 45


@pytest.mark.cuda
@needs_gsplat
def test_texture_bridge_interop_on_cuda(gl_ctx):
    from avatar_studio.core.render.cuda import TextureBridge
    img = torch.rand(16, 24, 3, device="cuda")
    bridge = TextureBridge(gl_ctx, 24, 16)
    bridge.update(img)
    got = np.frombuffer(bridge.texture.read(), np.uint8).reshape(16, 24, 4)
    np.testing.assert_array_equal(got[..., :3], (img.cpu().numpy() * 255 + 0.5).astype(np.uint8))
    bridge.release()
