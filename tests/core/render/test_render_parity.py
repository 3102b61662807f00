"""GL and CPU renderers vs the pure-torch reference: generated scenes, render modes, and a golden image."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avatar_studio.core.gaussians import GaussianSet
from avatar_studio.core.render.base import Camera
from avatar_studio.core.render.reference import ReferenceRenderer, psnr, random_gaussians

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "render" / "golden_small.png"
MIN_PSNR = 35.0


@pytest.fixture(scope="module")
def ref():
    return ReferenceRenderer()


@pytest.fixture(scope="module", params=["gl", "cpu"])
def splatter(request, gl):
    """Each fast back-end in turn: the OpenGL renderer and the CPU tile rasterizer."""
    if request.param == "gl":
        yield gl
        return
    from avatar_studio.core.render.cpu import CpuRenderer
    with CpuRenderer() as r:
        yield r


def _needle_scene(n: int, seed: int) -> GaussianSet:
    """Strongly anisotropic, randomly rotated Gaussians (needles and discs)."""
    g = random_gaussians(n, seed, 1, extent=(0.3, 0.4, 0.3), scale_range=(0.002, 0.01))
    rng = np.random.default_rng(seed + 100)
    long_axis = rng.integers(0, 3, n)
    scales = g.scales.copy()
    scales[np.arange(n), long_axis] *= 12.0
    return g.replace(scales=scales)


def _scenes():
    """(id, gaussians, camera, background) cases; every case keeps the reference under ~2 s."""
    front = dict(up=(0.0, -1.0, 0.0))
    return [
        ("aniso-deg0-white", random_gaussians(800, 1, 0),
         Camera.look_at((0.4, -0.3, 2.4), (0, 0, 0), **front, width=160, height=128), (1.0, 1.0, 1.0)),
        ("deg3-transparent", random_gaussians(1200, 2, 3),
         Camera.look_at((-0.6, 0.2, 2.2), (0, 0, 0), **front, width=192, height=160), None),
        ("needles-deg1-grey", _needle_scene(1000, 3),
         Camera.look_at((0.0, 0.0, 2.0), (0, 0, 0), **front, width=160, height=160), (0.2, 0.3, 0.4)),
        ("near-and-behind-camera", random_gaussians(700, 4, 3, extent=(0.4, 0.4, 0.4), scale_range=(0.01, 0.08)),
         Camera.look_at((0.0, 0.0, 0.3), (0, 0, -1), **front, width=160, height=128, near=0.05), (1.0, 1.0, 1.0)),
        ("2000-at-256-transparent", random_gaussians(2000, 5, 2, scale_range=(0.004, 0.03)),
         Camera.look_at((0.3, 0.5, 2.0), (0, 0, 0), **front, width=256, height=256), None),
        ("100-off-centre", random_gaussians(100, 6, 3, center=(0.6, 0.0, 0.0), scale_range=(0.02, 0.1)),
         Camera(200, 150, 180.0, 170.0, 80.0, 90.0, np.diag([1.0, 1.0, 1.0, 1.0]) + np.array(
             [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 2.5], [0, 0, 0, 0]]), 0.01, 100.0), (1.0, 1.0, 1.0)),
    ]


SCENES = _scenes()


def _premultiplied(r) -> np.ndarray:
    return r.color * r.alpha[..., None]


@pytest.mark.parametrize("case", SCENES, ids=[s[0] for s in SCENES])
def test_splatter_matches_reference(splatter, ref, case):
    _, g, cam, bg = case
    a = ref.render(g, cam, background=bg)
    b = splatter.render(g, cam, background=bg)
    assert b.color.shape == (cam.height, cam.width, 3) and b.alpha.shape == (cam.height, cam.width)
    assert a.alpha.max() > 0.5, "the scene should be visible"
    if bg is None:  # straight colour is ill-conditioned where alpha ~ 0: compare premultiplied
        assert psnr(_premultiplied(a), _premultiplied(b)) >= MIN_PSNR
    else:
        assert psnr(a.color, b.color) >= MIN_PSNR
    assert psnr(a.alpha, b.alpha) >= MIN_PSNR


def test_uint8_precision_close_to_reference(ref):
    from avatar_studio.core.render.gl import GLRenderer
    _, g, cam, bg = SCENES[0]
    with GLRenderer(precision="uint8") as fast:
        b = fast.render(g, cam, background=bg)
    assert psnr(ref.render(g, cam, background=bg).color, b.color) >= MIN_PSNR


def test_depth_mode(splatter, ref):
    _, g, cam, bg = SCENES[1]
    a = ref.render(g, cam, background=bg, mode="depth")
    b = splatter.render(g, cam, background=bg, mode="depth")
    assert b.depth is not None and b.depth.shape == (cam.height, cam.width)
    solid = a.alpha > 0.2
    assert np.abs(a.depth[solid] - b.depth[solid]).max() < 1e-3
    assert np.all(b.depth[b.alpha == 0] == 0)
    assert psnr(a.color * a.alpha[..., None], b.color * b.alpha[..., None]) >= MIN_PSNR


def test_alpha_mode(splatter, ref):
    _, g, cam, bg = SCENES[0]
    a = ref.render(g, cam, background=bg, mode="alpha")
    b = splatter.render(g, cam, background=bg, mode="alpha")
    np.testing.assert_allclose(b.color, np.repeat(b.alpha[..., None], 3, -1), atol=1e-6)
    assert psnr(a.alpha, b.alpha) >= MIN_PSNR


@pytest.mark.parametrize("bg", [(1.0, 1.0, 1.0), None])
def test_centers_mode(splatter, ref, bg):
    _, g, cam, _ = SCENES[1]
    a = ref.render(g, cam, background=bg, mode="centers")
    b = splatter.render(g, cam, background=bg, mode="centers")
    assert (a.alpha > 0).sum() > 100
    assert np.mean(a.alpha != b.alpha) < 1e-3
    assert psnr(a.color, b.color) >= MIN_PSNR


def test_color_mode_has_no_depth(splatter):
    _, g, cam, bg = SCENES[0]
    assert splatter.render(g, cam, background=bg).depth is None


def test_empty_set_renders_background(splatter, ref):
    cam = Camera.look_at((0, 0, 2), (0, 0, 0), width=32, height=24)
    for r in (splatter, ref):
        out = r.render(GaussianSet.empty(3), cam, background=(0.1, 0.2, 0.3))
        np.testing.assert_allclose(out.color, np.broadcast_to([0.1, 0.2, 0.3], out.color.shape), atol=1e-6)
        assert out.alpha.max() == 0


def golden_scene() -> tuple[GaussianSet, Camera]:
    """The small fixed scene behind tests/fixtures/render/golden_small.png."""
    g = random_gaussians(300, 42, 3, extent=(0.25, 0.3, 0.2), scale_range=(0.01, 0.06), opacity_range=(0.4, 1.0))
    cam = Camera.look_at((0.5, -0.4, 1.8), (0, 0, 0), (0, -1, 0), width=96, height=80)
    return g, cam


def write_golden() -> None:
    """Regenerate the golden PNG from the reference renderer (run by hand when the maths changes)."""
    import imageio.v2 as imageio
    g, cam = golden_scene()
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    imageio.imwrite(GOLDEN, ReferenceRenderer().render(g, cam, background=None).rgba8())


def test_golden_image(splatter, ref):
    import imageio.v2 as imageio
    golden = imageio.imread(GOLDEN).astype(np.float32) / 255.0
    g, cam = golden_scene()
    for r, floor in ((ref, 45.0), (splatter, MIN_PSNR)):
        out = r.render(g, cam, background=None)
        rgba = out.rgba8().astype(np.float32) / 255.0
        pm = lambda x: x[..., :3] * x[..., 3:]  # noqa: E731 - premultiply for a fair comparison
        assert psnr(pm(rgba), pm(golden)) >= floor, r.name
        assert psnr(rgba[..., 3], golden[..., 3]) >= floor, r.name


if __name__ == "__main__":
    write_golden()
