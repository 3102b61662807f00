"""PLY round trips: our writer/reader, gsplat's exporter, and plain plyfile."""
import numpy as np
import pytest
import torch
from plyfile import PlyData, PlyElement

from avatar_studio.core.errors import InputError
from avatar_studio.core.gaussians import SH_C0
from avatar_studio.core.io.orientation import from_studio
from avatar_studio.core.io.ply import read_ply, write_ply
from support import random_gaussians

FIELDS = ("means", "quats", "scales", "opacities", "sh")


def assert_same(a, b, tol=1e-5):
    for f in FIELDS:
        np.testing.assert_allclose(getattr(a, f), getattr(b, f), atol=tol, rtol=1e-5, err_msg=f)


@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_round_trip(tmp_path, rng, degree):
    g = random_gaussians(500, rng, degree)
    write_ply(tmp_path / "g.ply", g)
    assert_same(g, read_ply(tmp_path / "g.ply"))


def test_written_layout_matches_inria_order(tmp_path, rng):
    write_ply(tmp_path / "g.ply", random_gaussians(10, rng, 3))
    names = [p.name for p in PlyData.read(str(tmp_path / "g.ply"))["vertex"].properties]
    expected = (["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"] + [f"f_rest_{i}" for i in range(45)]
                + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"])
    assert names == expected


def test_plain_plyfile_reads_our_values(tmp_path, rng):
    studio = random_gaussians(50, rng, 1)
    write_ply(tmp_path / "g.ply", studio)
    g = from_studio(studio, "rdf")  # a scene PLY stores COLMAP's y-down frame, as SuperSplat expects
    v = PlyData.read(str(tmp_path / "g.ply"))["vertex"]
    np.testing.assert_allclose(v["x"], g.means[:, 0], atol=1e-6)
    np.testing.assert_allclose(1 / (1 + np.exp(-v["opacity"])), g.opacities, atol=1e-5)
    np.testing.assert_allclose(np.exp(v["scale_2"]), g.scales[:, 2], rtol=1e-5)
    np.testing.assert_allclose(v["f_dc_1"] * SH_C0 + 0.5, g.sh[:, 0, 1] * SH_C0 + 0.5, atol=1e-6)
    # f_rest is channel-major: all R coefficients first.
    np.testing.assert_allclose(v["f_rest_0"], g.sh[:, 1, 0], atol=1e-6)
    np.testing.assert_allclose(v["f_rest_3"], g.sh[:, 1, 1], atol=1e-6)


@pytest.mark.parametrize("degree", [0, 3])
def test_gsplat_exporter_reads_back(tmp_path, rng, degree):
    from gsplat.exporter import export_splats
    g = random_gaussians(300, rng, degree)
    t = {k: torch.from_numpy(v) for k, v in dict(means=g.means, quats=g.quats, sh=g.sh).items()}
    export_splats(means=t["means"], scales=torch.from_numpy(np.log(g.scales)), quats=t["quats"],
                  opacities=torch.from_numpy(np.log(g.opacities / (1 - g.opacities))),
                  sh0=t["sh"][:, :1], shN=t["sh"][:, 1:], format="ply", save_to=str(tmp_path / "gs.ply"))
    back = read_ply(tmp_path / "gs.ply", up="y")  # the values as stored, no frame turn
    assert_same(g, back, tol=1e-4)


def test_variants_without_normals_or_rest_and_extra_props(tmp_path, rng):
    n = 20
    cols = {"x": rng.normal(size=n), "y": rng.normal(size=n), "z": rng.normal(size=n),
            "f_dc_0": rng.normal(size=n), "f_dc_1": rng.normal(size=n), "f_dc_2": rng.normal(size=n),
            "opacity": rng.normal(size=n), "scale_0": np.full(n, -3.0), "scale_1": np.full(n, -3.0),
            "scale_2": np.full(n, -3.0), "rot_0": np.full(n, 2.0), "rot_1": np.zeros(n), "rot_2": np.zeros(n),
            "rot_3": np.zeros(n), "mystery": np.arange(n)}
    arr = np.empty(n, dtype=[(k, "f8" if k == "x" else "f4") for k in cols])
    for k, v in cols.items():
        arr[k] = v
    PlyData([PlyElement.describe(arr, "vertex")], text=True).write(str(tmp_path / "v.ply"))
    g = read_ply(tmp_path / "v.ply", up="y")
    assert len(g) == n and g.sh_degree == 0
    np.testing.assert_allclose(g.quats[:, 0], 1.0)  # not-normalised quaternions are normalised
    np.testing.assert_allclose(g.scales, np.exp(-3.0), rtol=1e-5)


@pytest.mark.parametrize("content", [b"", b"ply\nformat binary_little_endian 1.0\nelement vertex 10\n",
                                     b"not a ply at all", b"ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nend_header\n1\n"])
def test_corrupt_files_raise_input_error(tmp_path, content):
    p = tmp_path / "bad.ply"
    p.write_bytes(content)
    with pytest.raises(InputError):
        read_ply(p)


def test_truncated_binary(tmp_path, rng):
    write_ply(tmp_path / "g.ply", random_gaussians(100, rng))
    data = (tmp_path / "g.ply").read_bytes()
    (tmp_path / "t.ply").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError):
        read_ply(tmp_path / "t.ply")


def test_nan_refused_on_write_and_failed_write_leaves_nothing(tmp_path, rng):
    g = random_gaussians(10, rng)
    g.means[0, 0] = np.nan
    with pytest.raises(InputError):
        write_ply(tmp_path / "nan.ply", g)
    assert list(tmp_path.iterdir()) == []
