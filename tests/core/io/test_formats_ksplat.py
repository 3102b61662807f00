"""`.ksplat` (GaussianSplats3D) reading, against files made by our own fixture writer.

`make_ksplat` writes the exact layout of GaussianSplats3D 0.4.x `SplatBuffer` (format 0.1): what its
PLY → ksplat converter produces, including its per-splat conversions (colour and opacity as
floor(·255), linear scales, normalised wxyz rotations, SH channel-major per band), its
5 m-block / 256-splat bucketing (splats are stored bucket by bucket: full buckets first, then
the partly filled ones by block id) and one section per input part.
Tolerances: level 0 — float32 exact, colour/opacity 1/255 (floor); level 1 — centres half a
step (2.5 m / 32767 / 2), float16 scales/rotations/SH; level 2 — SH 8-bit over [min, max].
"""
from __future__ import annotations

import struct

import numpy as np
import pytest

from avatar_studio.core.errors import InputError
from avatar_studio.core.gaussians import SH_C0, GaussianSet
from avatar_studio.core.io.notes import collecting
from avatar_studio.core.io.formats import detect_format, read_gaussians
from avatar_studio.core.io.ksplat import bytes_per_splat, decode_ksplat
from support import random_gaussians
from support.ksplat import make_ksplat


def _sample(rng, n, degree, spread=1.0):
    g = random_gaussians(n, rng, degree)
    g.means *= spread
    g.sh[:, 0] = np.clip(g.sh[:, 0], -1.7, 1.7)
    return g


def _angle_deg(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)
    b = b * np.sign(np.sum(a * b, axis=1) + 1e-300)[:, None]
    return np.degrees(4 * np.arcsin(np.clip(np.linalg.norm(a - b, axis=1) / 2, 0, 1)))


# ---------------------------------------------------------------------- tests
@pytest.mark.parametrize("degree", [0, 1, 2])
def test_level0_reads_exactly(tmp_path, rng, degree):
    g = _sample(rng, 600, degree, spread=6.0)  # several 5 m blocks, buckets reorder splats
    data, (order,) = make_ksplat([g], level=0)
    (tmp_path / "a.ksplat").write_bytes(data)
    r = read_gaussians(tmp_path / "a.ksplat", up="y")  # as stored, without the y-down -> y-up turn
    ref = g.subset(order)
    assert len(r) == 600 and r.sh_degree == degree
    np.testing.assert_array_equal(r.means, ref.means)
    np.testing.assert_allclose(r.scales, ref.scales, rtol=1e-7)
    assert _angle_deg(r.quats, ref.quats).max() < 1e-3
    assert np.abs(r.opacities - ref.opacities).max() <= 1 / 255 + 1e-6
    assert (np.abs(r.sh[:, 0] - ref.sh[:, 0]) * SH_C0).max() <= 1 / 255 + 1e-6
    np.testing.assert_allclose(r.sh[:, 1:], ref.sh[:, 1:], atol=1e-6)


@pytest.mark.parametrize("degree", [0, 2])
def test_level1_half_floats_and_bucket_centres(rng, degree):
    g = _sample(rng, 1500, degree, spread=4.0)  # > 256 per block: full and partial buckets
    data, (order,) = make_ksplat([g], level=1)
    r = decode_ksplat(data)
    ref = g.subset(order)
    assert np.abs(r.means - ref.means).max() <= 2.5 / 32767 / 2 + 1e-5
    np.testing.assert_allclose(r.scales, ref.scales, rtol=2**-10)
    assert _angle_deg(r.quats, ref.quats).max() < 0.2
    assert np.abs(r.opacities - ref.opacities).max() <= 1 / 255 + 1e-6
    if degree:
        np.testing.assert_allclose(r.sh[:, 1:], ref.sh[:, 1:], atol=2**-10 * 4)


def test_level2_eight_bit_sh_and_several_sections(rng):
    parts = [_sample(rng, 300, 2), _sample(rng, 200, 1, spread=3.0)]
    data, orders = make_ksplat(parts, level=2, sh_range=(-1.5, 1.5))
    r = decode_ksplat(data)
    assert len(r) == 500 and r.sh_degree == 2
    ref = GaussianSet.concat([p.subset(o) for p, o in zip(parts, orders)])
    clipped = np.clip(ref.sh[:, 1:], -1.5, 1.5)
    assert np.abs(r.sh[:, 1:] - clipped).max() <= 3.0 / 255 + 1e-5
    assert np.abs(r.means - ref.means).max() <= 2.5 / 32767 / 2 + 1e-5


def test_detected_by_extension_and_by_content(tmp_path, rng):
    data, _ = make_ksplat([_sample(rng, 50, 0)], level=1)
    (tmp_path / "x.ksplat").write_bytes(data)
    (tmp_path / "x.bin").write_bytes(data)
    assert detect_format(tmp_path / "x.ksplat") == "ksplat"
    assert detect_format(tmp_path / "x.bin") == "ksplat"
    assert len(read_gaussians(tmp_path / "x.bin")) == 50


def test_corrupt_files_raise_input_error(rng):
    data, _ = make_ksplat([_sample(rng, 300, 1)], level=1)
    with pytest.raises(InputError, match="truncated"):
        decode_ksplat(data[:-100])
    with pytest.raises(InputError, match="truncated"):
        decode_ksplat(data[:1000])
    bad = bytearray(data)
    bad[1] = 0  # version 0.0
    with pytest.raises(InputError, match="version"):
        decode_ksplat(bytes(bad))
    bad = bytearray(data)
    struct.pack_into("<H", bad, 20, 7)
    with pytest.raises(InputError, match="compression level"):
        decode_ksplat(bytes(bad))
    bad = bytearray(data)
    struct.pack_into("<H", bad, 4096 + 40, 3)
    with pytest.raises(InputError, match="SH degree"):
        decode_ksplat(bytes(bad))
    bad = bytearray(data)
    struct.pack_into("<I", bad, 4096 + 32, 9)  # full bucket count no longer adds up
    with pytest.raises(InputError, match="buckets"):
        decode_ksplat(bytes(bad))
    nan = bytearray(make_ksplat([_sample(rng, 10, 0)], level=0)[0])
    struct.pack_into("<f", nan, 4096 + 1024, float("nan"))
    with collecting() as notes:
        assert len(decode_ksplat(bytes(nan), "n.ksplat")) == 9  # the bad splat is dropped and noted
    assert notes and "dropped 1 of 10" in notes[0]
    with pytest.raises(InputError, match="NaN"), collecting(strict=True):
        decode_ksplat(bytes(nan))
