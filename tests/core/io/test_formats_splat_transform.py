"""Cross-checks against PlayCanvas's @playcanvas/splat-transform (npm; tests/tools/package.json, installed by
setup.sh with `cd tests/tools && npm install`): for each format both tools write, the tool converts our
reference PLY to it and we read the result, and we write it and the tool converts it back to PLY for us to
read. Positions, rotations and scales (as covariances, which do not care about quaternion signs or
equivalent axis choices), opacities and colours must agree within the format's quantisation, and so must
the orientation: the expected frame relation is asserted, not ignored.

Orientation, as splat-transform 3.x does it: PLY, compressed PLY, SOG, .splat and .ksplat are in PLY
space (y down), as we read them. Its glTF output is PlayCanvas's engine space, PLY turned 180° about Z,
while we turn PLY 180° about X so that glTF's +z is the front, as glTF specifies: both are y-up, they differ
by 180° of yaw. Its SPZ files are written and read *without* the RDF -> RUB turn that Niantic's spec
and PlayCanvas's own engine assets (biker.spz) use; we follow the spec, so its SPZ is upside down to us
and ours to it by exactly that turn.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from avatar_studio.core.gaussians import SH_C0, GaussianSet
from avatar_studio.core.rotations import normalize_quats, quat_to_rotmat
from avatar_studio.core.io.formats import read_gaussians, write_gaussians
from avatar_studio.core.io.orientation import rotate_gaussians

REPO = Path(__file__).resolve().parents[3]
TOOL = REPO / "tests" / "tools" / "node_modules" / "@playcanvas" / "splat-transform" / "bin" / "cli.mjs"
NODE = shutil.which("node")
REAL = REPO.parent / "shared" / "real-data" / "splats"


def _tool_problem() -> str | None:
    """Why splat-transform cannot run here, or None. It asks for node 22; older nodes may not run it."""
    if NODE is None:
        return "node is not installed, so splat-transform cannot run"
    if not TOOL.is_file():
        return "splat-transform is not installed: run `cd tests/tools && npm install`"
    try:
        done = subprocess.run([NODE, str(TOOL), "--version"], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return "splat-transform did not answer --version within 60 s"
    if done.returncode != 0:
        version = subprocess.run([NODE, "--version"], capture_output=True, text=True).stdout.strip()
        return f"splat-transform does not run on node {version} (it asks for node 22)"
    return None


TOOL_PROBLEM = _tool_problem()
pytestmark = [pytest.mark.skipif(TOOL_PROBLEM is not None, reason=str(TOOL_PROBLEM))]

X_TURN, Y_TURN = np.diag([1.0, -1.0, -1.0]), np.diag([-1.0, 1.0, -1.0])
# what we read from the tool's file = this turn applied to the scene as we hold it (see the docstring)
TOOL_TURN = {"ply": np.eye(3), "compressed_ply": np.eye(3), "sog": np.eye(3), "spz": X_TURN, "gltf": Y_TURN,
             "splat": np.eye(3)}
EXT = {"ply": ".ply", "compressed_ply": ".compressed.ply", "sog": ".sog", "spz": ".spz", "gltf": ".glb",
       "splat": ".splat"}
# per format: (position, |log scale|, opacity, rgb, SH rest, covariance relative) limits, and the
# percentile they apply to (the 256-entry codebooks of SOG have tails; every other format is checked on its max)
TOL = {
    "ply": ((1e-5, 1e-4, 1e-5, 1e-5, 1e-5, 1e-4), 100),
    "compressed_ply": ((2e-3, 4e-3, 2.5 / 255, 4e-3, 0.02, 0.03), 100),
    "spz": ((3e-4, 0.035, 1.5 / 255, 6e-3, 0.07, 0.1), 100),
    "sog": ((5e-4, 0.06, 1.5 / 255, 0.012, 0.06, 0.15), 99),
    "gltf": ((1e-5, 1e-4, 1e-5, 1e-5, 1e-5, 1e-4), 100),
    "splat": ((1e-5, 1e-4, 1.5 / 255, 3e-3, 0.0, 0.05), 100),
}


def run_tool(*args: str, timeout: int = 300) -> None:
    """Run splat-transform (CPU only: SOG's k-means would otherwise look for a GPU)."""
    cmd = [NODE, str(TOOL), "-q", "-w", "-g", "cpu", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"splat-transform failed: {' '.join(args)}\n{done.stdout[-2000:]}{done.stderr[-2000:]}"


def scene(seed: int = 7) -> GaussianSet:
    """512 splats on a jittered grid (neighbours >= 0.15 m apart, so matching by position is unambiguous),
    SH degree 2, values inside every format's range."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.linspace(-0.9, 0.9, 8)] * 3, indexing="ij"), -1).reshape(-1, 3)
    n = len(grid)
    means = grid + rng.uniform(-0.05, 0.05, grid.shape)
    sh = np.zeros((n, 9, 3))
    sh[:, 0] = (rng.uniform(0.1, 0.9, (n, 3)) - 0.5) / SH_C0
    sh[:, 1:] = np.clip(rng.normal(0, 0.25, (n, 8, 3)), -0.9, 0.9)
    return GaussianSet(means + [0.0, 0.4, 0.2], normalize_quats(rng.normal(size=(n, 4))),
                       np.exp(rng.uniform(-5, -2, (n, 3))), rng.uniform(0.1, 0.95, n), sh)


def covariances(g: GaussianSet) -> np.ndarray:
    m = quat_to_rotmat(g.quats).astype(np.float64) * g.scales[:, None, :]
    return m @ m.transpose(0, 2, 1)


def assert_agrees(got: GaussianSet, want: GaussianSet, fmt: str, what: str) -> None:
    """`got` matches `want` splat for splat (paired by nearest centre) within `fmt`'s quantisation."""
    from scipy.spatial import cKDTree
    (pos_tol, scale_tol, opac_tol, rgb_tol, rest_tol, cov_tol), pct = TOL[fmt]
    assert len(got) == len(want), f"{what}: {len(got)} splats, expected {len(want)}"
    dist, idx = cKDTree(want.means).query(got.means)
    assert len(np.unique(idx)) == len(want), f"{what}: splats do not pair up one to one (wrong frame?)"
    w = want.subset(idx)

    def check(name: str, err: np.ndarray, tol: float) -> None:
        value = np.percentile(err, pct) if err.size else 0.0
        assert value <= tol, f"{what}: {name} error {value:.3g} > {tol:.3g} (percentile {pct})"

    check("position", dist, pos_tol)
    cov_w = covariances(w)
    cov_err = np.linalg.norm(covariances(got) - cov_w, axis=(1, 2)) / np.linalg.norm(cov_w, axis=(1, 2))
    check("covariance", cov_err, cov_tol)
    check("log scale", np.abs(np.sort(np.log(got.scales), 1) - np.sort(np.log(w.scales), 1)), scale_tol)
    check("opacity", np.abs(got.opacities - w.opacities), opac_tol)
    check("colour", np.abs(got.sh[:, 0] - w.sh[:, 0]) * SH_C0, rgb_tol)
    k = min(got.sh.shape[1], w.sh.shape[1])
    if rest_tol and k > 1:
        check("SH bands 1-2", np.abs(got.sh[:, 1:k] - w.sh[:, 1:k]), rest_tol)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Our scene and the PLY we write for it (the tool's input)."""
    folder = tmp_path_factory.mktemp("splat_transform")
    g = scene()
    write_gaussians(folder / "ref.ply", g)
    return g, folder


@pytest.mark.parametrize("fmt", ["ply", "compressed_ply", "spz", "sog", "gltf"])
def test_tool_writes_we_read(reference, fmt):
    g, folder = reference
    out = folder / f"by_tool{EXT[fmt]}"
    run_tool(str(folder / "ref.ply"), str(out))
    got = read_gaussians(out)
    assert_agrees(got, rotate_gaussians(g, TOOL_TURN[fmt]), fmt, f"splat-transform -> {fmt} -> us")


@pytest.mark.parametrize("fmt", ["ply", "compressed_ply", "spz", "sog", "splat"])
def test_we_write_tool_reads(reference, fmt):
    g, folder = reference
    ours = write_gaussians(folder / f"by_us{EXT[fmt]}", g)
    back = folder / f"by_us_{fmt}_back.ply"
    run_tool(str(ours), str(back))
    got = read_gaussians(back)  # a plain PLY from the tool: y-down, as we read every PLY scene
    want = rotate_gaussians(g, TOOL_TURN[fmt])
    if fmt == "splat":  # .splat keeps only band 0
        want = GaussianSet(want.means, want.quats, want.scales, want.opacities, want.sh[:, :1])
    assert_agrees(got, want, fmt, f"us -> {fmt} -> splat-transform -> ply -> us")


def test_real_ksplat_reads_alike(tmp_path):
    src = REAL / "third_party_written" / "gs3d__fruit_drops_L0_sh0.ksplat"
    if not src.is_file():
        pytest.skip(f"real data missing: {src}")
    run_tool(str(src), str(tmp_path / "k.ply"))
    assert_agrees(read_gaussians(src), read_gaussians(tmp_path / "k.ply"), "ply", "real .ksplat: us vs splat-transform")


def test_real_sog_reads_alike(tmp_path):
    src = REAL / "sog_playbot_4_0" / "meta.json"
    if not src.is_file():
        pytest.skip(f"real data missing: {src}")
    run_tool(str(src), str(tmp_path / "s.ply"))
    assert_agrees(read_gaussians(src), read_gaussians(tmp_path / "s.ply"), "ply", "real SOG: us vs splat-transform")
