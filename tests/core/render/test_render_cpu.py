"""CpuRenderer specifics: skinning on the CPU against the torch skinning and the GL renderer, 8-bit
outputs, the viewport's premultiplied image, threads, choice by "auto", and bad input.
(Parity with the reference renderer over generated scenes is in test_render_parity.py.)"""
from __future__ import annotations

import numpy as np
import pytest

from avatar_studio.core.errors import InputError
from avatar_studio.core.render.base import Camera, Renderer, Rgba8RenderResult, SkinnedRenderer
from avatar_studio.core.render.cpu import CpuRenderer
from avatar_studio.core.render.reference import ReferenceRenderer, psnr, random_gaussians
from avatar_studio.core.skinning import skin_gaussians

N = 1500


@pytest.fixture(scope="module")
def rig():
    """Canonical Gaussians, top-4 skinning over 55 joints, two posed frames' transforms."""
    from support.body import skinned_rig
    return skinned_rig(21, 8, N)


@pytest.fixture(scope="module")
def cpu():
    with CpuRenderer() as r:
        yield r


def test_is_a_skinned_renderer(cpu):
    assert isinstance(cpu, Renderer) and isinstance(cpu, SkinnedRenderer) and cpu.name == "cpu"


@pytest.mark.parametrize("frame", [0, 1])
def test_skinning_matches_torch_skinning_and_gl(cpu, gl, rig, frame):
    g, idx, w, rel, transl, cam = rig
    posed = skin_gaussians(g, idx, w, rel[frame:frame + 1], transl[frame:frame + 1])[0]
    handle = cpu.set_avatar(g, idx, w)
    b = cpu.render_skinned(handle, rel[frame], transl[frame], cam)
    a = ReferenceRenderer().render(posed, cam)
    assert b.alpha.max() > 0.5
    assert psnr(a.color, b.color) >= 45 and psnr(a.alpha, b.alpha) >= 45
    c = gl.render_skinned(gl.set_avatar(g, idx, w), rel[frame], transl[frame], cam)
    assert psnr(c.color, b.color) >= 45


@pytest.mark.parametrize("backend", ["cpu", "gl"])
def test_rotation_locked_and_fewer_influences(cpu, gl, rig, backend):
    """Both skinning back-ends keep locked Gaussians' rotations and take fewer than 4 influences."""
    r = cpu if backend == "cpu" else gl
    g, idx, w, rel, transl, cam = rig
    locked = np.arange(N) % 3 == 0
    idx2, w2 = idx[:, :2], w[:, :2] / w[:, :2].sum(1, keepdims=True)
    posed = skin_gaussians(g, idx2, w2, rel[:1], transl[:1], rotation_locked=locked)[0]
    handle = r.set_avatar(g, idx2, w2, rotation_locked=locked)
    a = r.render(posed, cam, background=None)
    b = r.render_skinned(handle, rel[0].numpy()[None], transl[0].numpy(), cam, background=None)
    assert psnr(a.color * a.alpha[..., None], b.color * b.alpha[..., None]) >= 45
    # locking matters: the same avatar without locks renders differently
    free = r.render_skinned(r.set_avatar(g, idx2, w2), rel[0], transl[0], cam, background=None)
    assert psnr(free.color * free.alpha[..., None], b.color * b.alpha[..., None]) < 45


def test_one_thread_and_many_threads_agree(rig):
    g, idx, w, rel, transl, cam = rig
    with CpuRenderer(threads=1) as one, CpuRenderer(threads=3) as three:
        a = one.render_skinned(one.set_avatar(g, idx, w), rel[1], transl[1], cam)
        b = three.render_skinned(three.set_avatar(g, idx, w), rel[1], transl[1], cam)
    np.testing.assert_array_equal(a.color, b.color)


def test_eight_bit_read_back_and_premultiplied_image(cpu, rig):
    g, idx, w, rel, transl, cam = rig
    handle = cpu.set_avatar(g, idx, w)
    exact = cpu.render_skinned(handle, rel[0], transl[0], cam, background=(0.2, 0.4, 0.6))
    with CpuRenderer(read_back="8bit") as video:
        fast = video.render_skinned(video.set_avatar(g, idx, w), rel[0], transl[0], cam, background=(0.2, 0.4, 0.6))
    assert isinstance(fast, Rgba8RenderResult)
    assert np.abs(fast.rgb8().astype(int) - exact.rgb8().astype(int)).max() <= 1
    pm = cpu.render_premultiplied(handle, cam, rel[0], transl[0])
    assert pm.dtype == np.uint8 and pm.shape == (cam.height, cam.width, 4)
    clear = cpu.render_skinned(handle, rel[0], transl[0], cam, background=None)
    want = np.clip(np.concatenate([clear.color * clear.alpha[..., None], clear.alpha[..., None]], -1), 0, 1)
    assert np.abs(pm.astype(np.float32) / 255 - want).max() <= 1.01 / 255


def test_image_sizes_not_a_multiple_of_the_tile(cpu):
    g = random_gaussians(400, 3, 0, scale_range=(0.01, 0.05))
    for w, h in ((17, 9), (1, 1), (33, 70)):
        cam = Camera.look_at((0, 0, 2), (0, 0, 0), (0, -1, 0), width=w, height=h)
        a, b = cpu.render(g, cam), ReferenceRenderer().render(g, cam)
        assert a.color.shape == (h, w, 3) and psnr(a.color, b.color) >= 40


def test_gaussians_bigger_than_the_image_and_behind_the_camera(cpu):
    g = random_gaussians(60, 5, 1, extent=(0.5, 0.5, 1.5), scale_range=(0.2, 0.6))
    cam = Camera.look_at((0, 0, 0.4), (0, 0, -1), (0, -1, 0), width=64, height=48, near=0.05)
    a, b = cpu.render(g, cam), ReferenceRenderer().render(g, cam)
    assert psnr(a.color, b.color) >= 40


def test_bad_inputs(cpu, rig):
    g, idx, w, rel, transl, cam = rig
    handle = cpu.set_avatar(g, idx, w)
    with pytest.raises(InputError):
        cpu.render_skinned(handle, np.eye(3), None, cam)            # not [J,4,4]
    with pytest.raises(InputError):
        cpu.render_skinned(handle, rel[0][:10], None, cam)          # fewer bones than the skin uses
    bad = rel[0].clone()
    bad[3, 0, 0] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        cpu.render_skinned(handle, bad, None, cam)
    with pytest.raises(InputError, match="NaN"):
        cpu.render_skinned(handle, rel[0], [0.0, float("inf"), 0.0], cam)
    with pytest.raises(InputError):
        cpu.render(g, cam, mode="normals")
    with pytest.raises(InputError):
        cpu.set_avatar(g, idx[:10], w[:10])
    with pytest.raises(InputError):
        cpu.render_skinned(cpu.set_avatar(g), rel[0], None, cam)    # static set given bones
    cpu.release_avatar(handle)
    with pytest.raises(InputError, match="released"):
        cpu.render_skinned(handle, rel[0], None, cam)


def test_create_renderer_cpu_and_auto_on_software_gl():
    from avatar_studio.core.render.rendering import (available_backends, create_renderer, is_software_gl,
                                                    probe_gl, probe_gsplat)
    r = create_renderer("cpu", video=True)
    assert isinstance(r, CpuRenderer) and r.read_back == "8bit"
    ok, reason = probe_gl()
    assert ok and reason.startswith("ok")
    software = is_software_gl(reason)
    auto = create_renderer("auto")
    if probe_gsplat()[0]:
        assert auto.name == "gsplat"
    else:
        assert auto.name == ("cpu" if software else "gl")
        if software:
            assert available_backends().index("cpu") < available_backends().index("gl")
    auto.close()
    assert is_software_gl("llvmpipe (LLVM 15.0.6, 256 bits)")
    assert not is_software_gl("NVIDIA GeForce RTX 4090/PCIe/SSE2")


def test_a_missing_numba_falls_back_to_gl_with_a_notice(monkeypatch):
    import sys
    from avatar_studio.core.render import rendering
    for name in [m for m in sys.modules if m == "numba" or m.startswith("numba.")
                 or m.endswith("render.cpu_kernels")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "numba", None)   # `import numba` now raises ImportError
    import avatar_studio.core.render as render_pkg
    monkeypatch.delattr(render_pkg, "cpu_kernels", raising=False)
    rendering.probe_cpu.cache_clear()
    try:
        notices: list[str] = []
        r = rendering.create_renderer("cpu", notice=notices.append)
        assert r.name == "gl" and "CPU splat renderer is unavailable" in notices[0]
        r.close()
    finally:
        rendering.probe_cpu.cache_clear()


def test_binning_in_shares_keeps_each_tile_near_to_far():
    """Big sets are binned by several threads: the tile lists must be those of one thread, and each
    tile's list, sorted by its keys, is the host's near-to-far order of the splats in that tile."""
    from avatar_studio.core.render.cpu import _parallel
    from avatar_studio.core.render.host import sort_near_to_far
    g = random_gaussians(20_000, 5, 0, extent=(0.5, 0.5, 0.5), scale_range=(0.005, 0.03))
    cam = Camera.look_at((0.3, -0.2, 2.5), (0, 0, 0), (0, -1, 0), width=200, height=150)
    h = CpuRenderer(threads=1)   # its records: the projected splats binned below
    handle = h.set_avatar(g)
    h._rasterize(handle, cam, None, None)
    rec = handle.records
    k = h.k
    visible = np.flatnonzero(rec[:, 3] > 0)
    assert len(visible) > 3 * 4096
    tx, ty = -(-cam.width // k.TILE), -(-cam.height // k.TILE)
    starts1, ents1, keys1 = (a.copy() for a in k.bin_tiles(rec, tx, ty, 1))
    for threads in (2, 3):
        starts, ents, keys = k.bin_tiles(rec, tx, ty, threads, lambda fn, shares: _parallel(fn, shares, threads))
        np.testing.assert_array_equal(starts, starts1)
        np.testing.assert_array_equal(ents, ents1)
        np.testing.assert_array_equal(keys, keys1)
    host = visible[sort_near_to_far(rec[visible, 2])]
    for t in (0, tx * (ty // 2) + tx // 2, tx * ty - 1):   # a corner, the middle, the last tile
        lo, hi = starts1[t], starts1[t + 1]
        in_tile = host[(rec[host, 12] <= t % tx) & (rec[host, 13] >= t % tx)
                       & (rec[host, 14] <= t // tx) & (rec[host, 15] >= t // tx)]
        perm = np.empty(hi - lo, np.int32)
        k._sort_all(keys1[lo:hi], perm)
        np.testing.assert_array_equal(ents1[lo:hi][perm], rec[in_tile])
    with CpuRenderer(threads=3) as three:
        np.testing.assert_array_equal(three.render(g, cam).color, CpuRenderer(threads=1).render(g, cam).color)


def test_depth_order_is_the_host_sort():
    """The rasterizer's one-kernel counting sort gives `sort_near_to_far`'s order exactly (ties too)."""
    from avatar_studio.core.render.cpu_kernels import REC, depth_order
    from avatar_studio.core.render.host import sort_near_to_far
    rng = np.random.default_rng(3)
    rec = np.zeros((50_000, REC), np.float32)
    rec[:, 2] = rng.uniform(0.5, 4.0, len(rec)).astype(np.float32)
    rec[::7, 2] = rec[3, 2]   # many ties
    rec[:, 3] = (rng.random(len(rec)) > 0.2).astype(np.float32)
    visible = np.flatnonzero(rec[:, 3] > 0)
    np.testing.assert_array_equal(depth_order(rec), visible[sort_near_to_far(rec[visible, 2])])
    assert depth_order(rec[:0]).shape == (0,)
    rec[:, 2] = 2.0   # one depth: every key 0, index order
    np.testing.assert_array_equal(depth_order(rec), visible)
