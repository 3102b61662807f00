"""Every writable splat format round-trips within its stated tolerance, at SH degree 0 and 3.

Tolerances (test data: centres within a few metres, scales 5–100 mm, SH rest clipped to the
format's range), each derived from the format's quantisation:

| format          | centres              | scales (|Δ log|)       | opacity | colour (f_dc)        | rotation  | SH bands 1–3          |
|-----------------|----------------------|------------------------|---------|----------------------|-----------|-----------------------|
| ply             | 1e-5                 | 1e-5                   | 1e-5    | 1e-5                 | exact     | 1e-5                  |
| compressed_ply  | chunk box / 2046     | chunk log range / 2046 | 1/510   | chunk rgb range/510/C0 | < 0.25° | 1/64 inside [-3.97, 3.97] |
| splat           | exact (float32)      | exact (float32)        | 1/510   | 1/510/C0 (rgb 0..1)  | < 1°      | dropped               |
| spz v3/v4       | 2^-13 m              | 1/32                   | 1/510   | 1/(2·0.15·255)       | < 0.25°   | 9/256 (band 1), 17/256 (2, 3) in [-1, 1) |
| spz v2          | as v3                | as v3                  | as v3   | as v3                | < 15° (w is derived) | as v3                 |
"""
from __future__ import annotations

import numpy as np
import pytest

from avatar_studio.core.errors import InputError
from avatar_studio.core.gaussians import SH_C0, GaussianSet
from avatar_studio.core.io import formats
from avatar_studio.core.io.compressed_ply import compressed_ply_order
from avatar_studio.core.io.orientation import from_studio
from avatar_studio.core.io.formats import (FORMATS, detect_format, file_dialog_filter, format_for_output,
                                           lost_in_conversion, read_gaussians, write_gaussians)
from support import random_gaussians


def sample(rng, degree: int, n: int = 700, sh_limit: float = 0.99) -> GaussianSet:
    g = random_gaussians(n, rng, degree)
    g.means *= 2.0
    g.sh[:, 0] = np.clip(g.sh[:, 0], -1.7, 1.7)  # displayable base colour, so .splat keeps it too
    g.sh[:, 1:] = np.clip(g.sh[:, 1:], -sh_limit, sh_limit)
    return g


def angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotation angle between unit quaternions (stable for tiny angles; q and -q are the same)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    b = b * np.sign(np.sum(a * b, axis=1) + 1e-300)[:, None]
    return np.degrees(4 * np.arcsin(np.clip(np.linalg.norm(a - b, axis=1) / 2, 0, 1)))


def log_ratio(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(np.log(a.astype(np.float64) / b)).max())


@pytest.mark.parametrize("degree", [0, 3])
def test_ply_round_trip(tmp_path, rng, degree):
    g = sample(rng, degree)
    write_gaussians(tmp_path / "g.ply", g)
    r = read_gaussians(tmp_path / "g.ply")
    assert detect_format(tmp_path / "g.ply") == "ply" and r.sh_degree == degree
    for f in ("means", "scales", "opacities", "sh"):
        np.testing.assert_allclose(getattr(r, f), getattr(g, f), atol=1e-5, rtol=1e-5)
    assert angle_deg(r.quats, g.quats).max() < 0.01


@pytest.mark.parametrize("degree", [0, 3])
@pytest.mark.parametrize("name", ["g.compressed.ply", "plain_name.ply"])
def test_compressed_ply_round_trip(tmp_path, rng, degree, name):
    g = sample(rng, degree, sh_limit=3.9)
    path = write_gaussians(tmp_path / name, g, format="compressed_ply")
    assert detect_format(path) == "compressed_ply"  # by header, whatever the name
    r = read_gaussians(path)
    ref = g.subset(compressed_ply_order(from_studio(g, "rdf")))  # sorted in the file's frame
    assert len(r) == len(g) and r.sh_degree == degree
    ext = g.means.max(0) - g.means.min(0)
    assert np.all(np.abs(r.means - ref.means) <= ext / 2046 + 1e-6)
    log_range = np.log(g.scales.max() / g.scales.min())
    assert log_ratio(r.scales, ref.scales) <= log_range / 2046 + 1e-5
    assert np.abs(r.opacities - ref.opacities).max() <= 1 / 510 + 1e-6
    rgb_range = (g.sh[:, 0].max(0) - g.sh[:, 0].min(0)) * SH_C0
    assert np.all(np.abs(r.sh[:, 0] - ref.sh[:, 0]) * SH_C0 <= rgb_range / 510 + 1e-5)
    assert angle_deg(r.quats, ref.quats).max() < 0.25
    if degree:
        assert np.abs(r.sh[:, 1:] - ref.sh[:, 1:]).max() <= 1 / 64 + 1e-6


def test_compressed_ply_unsorted_keeps_order_and_handles_partial_chunks(tmp_path, rng):
    g = sample(rng, 1, n=300)  # one full chunk + a 44-splat one
    write_gaussians(tmp_path / "u.compressed.ply", g, sort=False)
    r = read_gaussians(tmp_path / "u.compressed.ply")
    assert np.abs(r.opacities - g.opacities).max() <= 1 / 510 + 1e-6
    ext = g.means.max(0) - g.means.min(0)
    assert np.all(np.abs(r.means - g.means) <= ext / 2046 + 1e-6)


@pytest.mark.parametrize("degree", [0, 3])
def test_splat_round_trip(tmp_path, rng, degree):
    g = sample(rng, degree)
    write_gaussians(tmp_path / "g.splat", g)
    assert (tmp_path / "g.splat").stat().st_size == 32 * len(g)
    r = read_gaussians(tmp_path / "g.splat")
    assert r.sh_degree == 0
    np.testing.assert_array_equal(r.means, g.means)
    np.testing.assert_allclose(r.scales, g.scales, rtol=1e-7)
    assert np.abs(r.opacities - g.opacities).max() <= 1 / 510 + 1e-6
    assert (np.abs(r.sh[:, 0] - g.sh[:, 0]) * SH_C0).max() <= 1 / 510 + 1e-6
    assert angle_deg(r.quats, g.quats).max() < 1.0


@pytest.mark.parametrize("version", [2, 3, 4])
@pytest.mark.parametrize("degree", [0, 3])
def test_spz_round_trip(tmp_path, rng, degree, version):
    if version == 4:
        pytest.importorskip("zstandard")
    g = sample(rng, degree)
    write_gaussians(tmp_path / "g.spz", g, version=version)
    from avatar_studio.core.io.spz import spz_version
    assert spz_version((tmp_path / "g.spz").read_bytes()) == version
    r = read_gaussians(tmp_path / "g.spz")
    assert r.sh_degree == degree
    assert np.abs(r.means - g.means).max() <= 2.0**-13 + 1e-7
    assert log_ratio(r.scales, g.scales) <= 1 / 32 + 1e-5
    assert np.abs(r.opacities - g.opacities).max() <= 1 / 510 + 1e-6
    assert np.abs(r.sh[:, 0] - g.sh[:, 0]).max() <= 1 / (2 * 0.15 * 255) + 1e-5
    assert angle_deg(r.quats, g.quats).max() < (15.0 if version == 2 else 0.25)
    if degree:
        assert np.abs(r.sh[:, 1:4] - g.sh[:, 1:4]).max() <= 9 / 256 + 1e-6
        assert np.abs(r.sh[:, 4:] - g.sh[:, 4:]).max() <= 17 / 256 + 1e-6


def test_spz_far_positions_use_fewer_fractional_bits(tmp_path, rng):
    g = sample(rng, 0, n=50)
    g.means[0] = [3000.0, -2500.0, 10.0]  # beyond ±2048 m, the range at 12 fractional bits
    write_gaussians(tmp_path / "far.spz", g)
    r = read_gaussians(tmp_path / "far.spz")
    assert np.abs(r.means - g.means).max() <= 2.0**-11


def test_ksplat_cannot_be_written(tmp_path, rng):
    with pytest.raises(InputError, match="read but not written"):
        write_gaussians(tmp_path / "g.ksplat", sample(rng, 0, n=5))
    assert not (tmp_path / "g.ksplat").exists()


def test_formats_table_and_dialog_filters():
    names = {f.name for f in FORMATS}
    assert names == {"ply", "compressed_ply", "splat", "spz", "ksplat", "sog", "gltf"}
    by = {f.name: f for f in FORMATS}
    assert not by["ksplat"].can_write and all(f.can_read for f in FORMATS)
    assert not by["splat"].keeps_sh_bands and by["spz"].keeps_sh_bands and by["compressed_ply"].keeps_sh_bands
    assert not by["ply"].quantised and by["spz"].quantised
    read_filter, write_filter = file_dialog_filter("read"), file_dialog_filter("write")
    assert "*.ksplat" in read_filter and "*.ksplat" not in write_filter and "*.compressed.ply" in write_filter


def test_output_format_from_name(tmp_path):
    assert format_for_output("a.compressed.ply") == "compressed_ply"
    assert format_for_output("a.PLY") == "ply"
    assert format_for_output("a.spz") == "spz"
    assert format_for_output("a.bin", "splat") == "splat"
    with pytest.raises(InputError, match="Cannot tell the output format"):
        format_for_output("a.bin")
    with pytest.raises(InputError, match="Unknown splat format"):
        format_for_output("a.ply", "obj")


def test_content_sniffing_for_unknown_extensions(tmp_path, rng):
    g = sample(rng, 0, n=20)
    write_gaussians(tmp_path / "a.spz", g)
    write_gaussians(tmp_path / "b.ply", g)
    (tmp_path / "a.spz").rename(tmp_path / "a.bin")
    (tmp_path / "b.ply").rename(tmp_path / "b.dat")
    assert detect_format(tmp_path / "a.bin") == "spz" and len(read_gaussians(tmp_path / "a.bin")) == 20
    assert detect_format(tmp_path / "b.dat") == "ply" and len(read_gaussians(tmp_path / "b.dat")) == 20
    (tmp_path / "c.xyz").write_bytes(b"hello world")
    with pytest.raises(InputError, match="unknown splat format"):
        read_gaussians(tmp_path / "c.xyz")


def test_option_checks(tmp_path, rng):
    g = sample(rng, 0, n=5)
    with pytest.raises(InputError, match="do not apply"):
        write_gaussians(tmp_path / "a.splat", g, version=3)
    with pytest.raises(InputError, match="version 5"):
        write_gaussians(tmp_path / "a.spz", g, version=5)
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_conversion_notes(rng):
    g = sample(rng, 3, n=10)
    assert any("degree 3 bands are dropped" in n for n in lost_in_conversion(g, "splat"))
    assert lost_in_conversion(g, "ply") == []
    assert any("quantises" in n for n in lost_in_conversion(g, "spz"))


def test_all_formats_read_back_through_the_dispatcher(tmp_path, rng):
    g = sample(rng, 3, n=64)
    for f in FORMATS:
        if not f.can_write:
            continue
        p = write_gaussians(tmp_path / f"x{f.extensions[0]}", g, format=f.name)
        r = formats.read_gaussians(p)
        assert len(r) == len(g), f.name
        assert r.sh_degree == (3 if f.keeps_sh_bands else 0), f.name


def test_spz_reads_version_1_and_uncompressed_legacy(rng):
    """v1 stored float16 positions; some tools write the legacy layout without gzip."""
    import gzip
    import struct
    from avatar_studio.core.io.spz import decode_spz, encode_spz
    g = sample(rng, 1, n=40)
    v2 = gzip.decompress(encode_spz(g, 2))
    n = len(g)
    v1 = v2[:4] + struct.pack("<I", 1) + v2[8:16] + g.means.astype("<f2").tobytes() + v2[16 + 9 * n:]
    r1 = decode_spz(gzip.compress(v1))
    np.testing.assert_allclose(r1.means, g.means, atol=2e-3)  # float16
    raw = decode_spz(v2)  # no gzip
    assert np.abs(raw.means - g.means).max() <= 2.0**-13 + 1e-7 and raw.sh_degree == 1
