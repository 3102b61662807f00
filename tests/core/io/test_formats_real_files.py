"""Every real third-party splat file in ../shared/real-data/splats (never copied here) opens, converts to every
writable format and back the same way up, and the negative examples (meshes, point clouds) give a clear
error. Skipped where the shared data is absent."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avatar_studio.core.errors import StudioError
from avatar_studio.core.rotations import quat_to_rotmat
from avatar_studio.core.io.formats import FORMATS, read_gaussians, sniff_path, write_gaussians

REAL = Path(__file__).resolve().parents[3].parent / "shared" / "real-data" / "splats"
NEGATIVE = {"adobe__colors.ply", "gs3d_pr477__bunny_2k.ply", "gshairlod__donut_color.ply", "brush__init.ply"}
SPLAT_SUFFIXES = (".ply", ".spz", ".splat", ".ksplat", ".sog", ".glb")


def _positives() -> list[str]:
    if not REAL.is_dir():
        return []
    names = [p.relative_to(REAL).as_posix() for p in sorted(REAL.rglob("*"))
             if p.is_file() and p.name.endswith(SPLAT_SUFFIXES) and p.name not in NEGATIVE]
    return names + [p.name for p in sorted(REAL.iterdir()) if p.is_dir() and (p / "meta.json").is_file()]


POSITIVES = _positives() or ["(real data missing)"]
WRITABLE = [f for f in FORMATS if f.can_write]


def _real(name: str) -> Path:
    path = REAL / name
    if not path.exists():
        pytest.skip(f"real data missing: {REAL} (see the issue's shared data)")
    return path


@pytest.mark.parametrize("name", POSITIVES)
def test_real_file_opens_and_survives_every_format(tmp_path, name):
    src = _real(name)
    notes: list[str] = []
    g = read_gaussians(src, notes=notes)
    assert len(g) > 0 and np.isfinite(g.means).all()
    lo, hi = g.bounds()
    extent = float(np.max(hi - lo))
    from scipy.spatial import cKDTree
    tree = cKDTree(g.means)
    for f in WRITABLE:
        out = write_gaussians(tmp_path / f"x{f.extensions[0]}", g, format=f.name)
        assert sniff_path(out) == f.name, f.name
        r = read_gaussians(out)
        assert len(r) == len(g), f.name
        # the same way up: every centre lands on its own (orders may differ), the bounds agree
        dist, _ = tree.query(r.means)
        assert np.percentile(dist, 99) <= 2e-3 * extent + 1e-6, (f.name, float(np.percentile(dist, 99)))
        r_lo, r_hi = r.bounds()
        assert np.abs(r_lo - lo).max() <= 5e-3 * extent + 1e-6 and np.abs(r_hi - hi).max() <= 5e-3 * extent + 1e-6, \
            f.name


@pytest.mark.parametrize("name", sorted(NEGATIVE))
def test_negative_examples_give_a_clear_error(name):
    src = _real(name)
    with pytest.raises(StudioError, match="mesh or a plain point cloud"):
        read_gaussians(src)


@pytest.mark.parametrize("name", ["engine__biker.compressed.ply", "engine__biker.spz", "sog_playbot_4_0"])
def test_scenes_with_a_floor_stand_on_it_y_up(name):
    """The biker and PlayCanvas's playbot stand on the ground: after reading, their lowest point is
    the floor at y ~ 0 and they rise along +y (read upside down, they would hang below it)."""
    g = read_gaussians(_real(name))
    lo, hi = g.bounds()
    assert abs(lo[1]) < 0.05 * (hi[1] - lo[1]) and hi[1] > 1.0


def test_biker_ply_and_spz_are_the_same_scene_the_same_way_up():
    """PlayCanvas ships one scene as y-down compressed PLY and as RUB (y-up) SPZ: read, they coincide."""
    from scipy.spatial import cKDTree
    a = read_gaussians(_real("engine__biker.compressed.ply"))
    b = read_gaussians(_real("engine__biker.spz"))
    dist, idx = cKDTree(a.means).query(b.means)
    assert np.percentile(dist, 99) < 5e-4
    ra, rb = quat_to_rotmat(a.quats[idx]).astype(np.float64), quat_to_rotmat(b.quats).astype(np.float64)
    ca = ra * a.scales[idx][:, None, :]
    cb = rb * b.scales[:, None, :]
    cov_a, cov_b = ca @ ca.transpose(0, 2, 1), cb @ cb.transpose(0, 2, 1)
    rel = np.linalg.norm(cov_a - cov_b, axis=(1, 2)) / np.linalg.norm(cov_b, axis=(1, 2))
    assert np.median(rel) < 0.1
    assert np.median(np.abs(a.colors[idx] - b.colors)) < 0.01


def test_biker_renders_upright_from_both_files():
    """Rendered by the CPU rasterizer from a y-up camera in front of the scene, the biker from the y-down
    compressed PLY and from the y-up SPZ gives the same silhouette, standing on the floor's image line."""
    pytest.importorskip("numba")
    from avatar_studio.core.render.base import Camera
    from avatar_studio.core.render.rendering import create_renderer
    a = read_gaussians(_real("engine__biker.compressed.ply"))
    b = read_gaussians(_real("engine__biker.spz"))
    lo, hi = a.bounds()
    centre = (lo + hi) / 2
    cam = Camera.look_at(centre + [0.0, 0.0, 6.0], centre, width=160, height=160, fov_y_deg=40.0)
    renderer = create_renderer("cpu")
    try:
        masks = [np.asarray(renderer.render(g, cam, mode="alpha").alpha) > 0.5 for g in (a, b)]
    finally:
        renderer.close()
    iou = np.count_nonzero(masks[0] & masks[1]) / np.count_nonzero(masks[0] | masks[1])
    assert iou > 0.9
    rows = np.flatnonzero(masks[0].any(1))
    floor_row = cam.project(np.array([[centre[0], 0.0, centre[2]]]))[0, 1]
    assert abs(rows.max() - floor_row) <= 10  # its lowest pixels sit on the floor (splat skirts reach ~6 px below)
    assert rows.min() < floor_row - 50  # and it rises up the image from there


FUZZ = REAL.parent.parent / "fuzz-corpus"


@pytest.mark.parametrize("kind", ["ply", "spz", "avatar_ply"])
def test_fuzz_corpus_splat_files_give_studio_errors(kind):
    """The shared fuzz corpus's damaged splat files: a StudioError each (or a clean read), nothing else."""
    from avatar_studio.core.pipeline import load_splats
    folder = FUZZ / kind
    if not folder.is_dir():
        pytest.skip(f"fuzz corpus missing: {folder}")
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        try:
            load_splats(path)
        except StudioError:
            pass
