"""Corrupt, truncated, wrong-shape and NaN inputs raise InputError with a readable message, never
another exception."""
from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from avatar_studio.core.errors import InputError
from avatar_studio.core.io.compressed_ply import decode_compressed_ply, encode_compressed_ply
from avatar_studio.core.io.notes import collecting
from avatar_studio.core.io.formats import decode_gaussians, read_gaussians, write_gaussians
from avatar_studio.core.io.splat import decode_splat, encode_splat
from avatar_studio.core.io.spz import LEGACY_HEADER, MAGIC, decode_spz, encode_spz
from support import random_gaussians


def test_missing_and_folder_inputs(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_gaussians(tmp_path / "nope.spz")
    with pytest.raises(InputError, match="folder"):
        read_gaussians(tmp_path)


def test_compressed_ply_damage(rng):
    data = encode_compressed_ply(random_gaussians(600, rng, 1))
    with pytest.raises(InputError, match="not a readable PLY"):
        decode_compressed_ply(data[:-500])
    with pytest.raises(InputError):
        decode_compressed_ply(b"ply\nformat binary_little_endian 1.0\nelement chunk 1\nend_header\n")
    bad = data.replace(b"element chunk 3", b"element chunk 2", 1)
    with pytest.raises(InputError):
        decode_compressed_ply(bad)
    head_end = data.index(b"end_header\n") + 11
    nan = bytearray(data)
    nan[head_end:head_end + 4] = struct.pack("<f", float("nan"))
    with pytest.raises(InputError, match="NaN"):
        decode_compressed_ply(bytes(nan))
    wrong_type = data.replace(b"property uint packed_color", b"property float packed_color", 1)
    with pytest.raises(InputError, match="unsigned"):
        decode_compressed_ply(wrong_type)


def test_splat_damage(rng):
    data = encode_splat(random_gaussians(10, rng, 0))
    with pytest.raises(InputError, match="32-byte"):
        decode_splat(data[:-5])
    with pytest.raises(InputError, match="empty"):
        decode_splat(b"")
    nan = bytearray(data)
    nan[0:4] = struct.pack("<f", float("inf"))
    with collecting() as notes:
        assert len(decode_splat(bytes(nan), "x.splat")) == 9  # one bad splat is dropped, not the file
    assert notes == ["x.splat: dropped 1 of 10 splats holding NaN or infinite values"]
    with pytest.raises(InputError, match="NaN or infinite"), collecting(strict=True):
        decode_splat(bytes(nan))
    neg = bytearray(data)
    neg[12:16] = struct.pack("<f", -1.0)
    with pytest.raises(InputError, match="negative"):
        decode_splat(bytes(neg))


def test_spz_damage(rng):
    g = random_gaussians(200, rng, 1)
    v3 = encode_spz(g, 3)
    with pytest.raises(InputError, match="truncated|corrupt"):
        decode_spz(v3[: len(v3) // 2])
    with pytest.raises(InputError, match="not an SPZ"):
        decode_spz(b"hello, not a splat")
    body = gzip.decompress(v3)
    with pytest.raises(InputError, match="bad magic"):
        decode_spz(gzip.compress(b"XXXX" + body[4:]))
    with pytest.raises(InputError, match="version 9"):
        decode_spz(gzip.compress(body[:4] + struct.pack("<I", 9) + body[8:]))
    with pytest.raises(InputError, match="truncated"):
        decode_spz(gzip.compress(body[:-10]))
    with pytest.raises(InputError, match="SH degree"):
        decode_spz(gzip.compress(body[:12] + bytes([7]) + body[13:]))
    bomb = LEGACY_HEADER.pack(MAGIC, 3, 2_000_000_000, 0, 12, 0, 0)
    with pytest.raises(InputError, match="points"):
        decode_spz(gzip.compress(bomb))


def test_spz_v4_damage(rng):
    pytest.importorskip("zstandard")
    v4 = encode_spz(random_gaussians(200, rng, 1), 4)
    with pytest.raises(InputError, match="truncated"):
        decode_spz(v4[:-40])
    with pytest.raises(InputError, match="truncated"):
        decode_spz(v4[:20])
    broken = bytearray(v4)
    toc_end = 32 + 16 * broken[15]
    broken[toc_end + 4:toc_end + 12] = b"\xff" * 8
    with pytest.raises(InputError, match="corrupt"):
        decode_spz(bytes(broken))
    claims = bytearray(v4)
    struct.pack_into("<I", claims, 8, 1_500_000_000)
    with pytest.raises(InputError, match="points"):
        decode_spz(bytes(claims))
    streams = bytearray(v4)
    streams[15] = 2
    with pytest.raises(InputError, match="streams"):
        decode_spz(bytes(streams))


def test_garbage_ply_through_the_dispatcher(tmp_path):
    (tmp_path / "a.ply").write_bytes(b"not a ply at all")
    with pytest.raises(InputError, match="PLY"):
        read_gaussians(tmp_path / "a.ply")
    (tmp_path / "b.ply").write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 10\nproperty float x\nend_header\n")
    with pytest.raises(InputError):
        read_gaussians(tmp_path / "b.ply")


@pytest.mark.parametrize("name", ["a.ply", "a.compressed.ply", "a.splat", "a.spz"])
def test_random_damage_only_ever_raises_input_error(tmp_path, name):
    """Truncate and flip bytes of valid files: each read either succeeds or raises InputError."""
    rng = np.random.default_rng(7)
    g = random_gaussians(300, rng, 1)
    path = write_gaussians(tmp_path / name, g)
    good = path.read_bytes()
    for trial in range(40):
        data = bytearray(good)
        if trial % 2:
            data = data[: int(rng.integers(0, len(data)))]
        else:
            for pos in rng.integers(0, len(data), size=8):
                data[pos] = int(rng.integers(0, 256))
        try:
            decode_gaussians(bytes(data), name)
        except InputError as err:
            assert str(err)


@pytest.mark.parametrize("name", ["clip.npz", "seq.zip", "splats.sog", "project.avsproj"])
def test_a_zip_member_without_a_name_is_refused_cleanly(tmp_path, name):
    """Fuzzing (amass_npz): a member whose name is empty made ZipInfo.is_dir() raise IndexError in load_npz,
    and in core.open's, the sequence zip's and SOG's member listings."""
    import io
    import zipfile
    from avatar_studio.core.errors import StudioError
    from avatar_studio.core.io.safe import load_npz
    from avatar_studio.core.open import open_path
    npy = io.BytesIO()
    np.save(npy, np.zeros((2, 3), np.float32))
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("poses.npy", npy.getvalue())
        zf.writestr(zipfile.ZipInfo(""), b"nameless")
    if name.endswith(".npz"):
        with pytest.raises(StudioError):
            load_npz(path)
    with pytest.raises(StudioError):
        open_path(path)
