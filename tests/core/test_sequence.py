"""GaussianSequence: loaders, lazy LRU frame cache, scrubbing, placement, export and baking."""
from __future__ import annotations

import json
import time
import zipfile

import numpy as np
import pytest

from avatar_studio.core.errors import InputError
from avatar_studio.core.gaussians import GaussianSet
from avatar_studio.core.io.formats import write_gaussians
from avatar_studio.core.io.ply import write_ply
from avatar_studio.core.sequence import (ArraySource, GaussianSequence, MemorySource, RawFrames, bake_avatar,
                                         export_sequence,
                                         gaussian_nbytes, gaussians_from_l4gm, gaussians_to_l4gm, load_sequence,
                                         natural_key, normalise_object_space, object_space_transform)
from support import random_gaussians


def frames(rng, t=6, degree=0, base=80):
    return [random_gaussians(base + 7 * i, rng, degree) for i in range(t)]  # counts differ per frame


def assert_close(a: GaussianSet, b: GaussianSet, tol=1e-5):
    assert len(a) == len(b)
    for f in ("means", "scales", "opacities", "sh"):
        np.testing.assert_allclose(getattr(a, f), getattr(b, f), atol=tol, err_msg=f)
    np.testing.assert_allclose(np.abs(np.sum(a.quats * b.quats, 1)), 1, atol=tol)


def l4gm_array(rng, t=5, n=64):
    a = np.zeros((t, n, 14), np.float32)
    a[..., 0:3] = rng.uniform(-1, 1, (t, n, 3))
    a[..., 3] = rng.uniform(0.1, 1, (t, n))
    a[..., 4:7] = rng.uniform(0.001, 0.03, (t, n, 3))
    q = rng.normal(size=(t, n, 4))
    a[..., 7:11] = q / np.linalg.norm(q, axis=-1, keepdims=True)
    a[..., 11:14] = rng.uniform(0, 1, (t, n, 3))
    return a


# ---------------------------------------------------------------------- timeline
def test_timeline_and_frame_at():
    seq = GaussianSequence(MemorySource([GaussianSet.empty()] * 10), fps=24)
    assert seq.num_frames == len(seq) == 10 and seq.duration == pytest.approx(10 / 24)
    assert seq.frame_at(0) == 0
    assert seq.frame_at(0.99 / 24) == 0  # previous: the frame being shown
    assert seq.frame_at(0.99 / 24, "nearest") == 1
    assert seq.frame_at(3 / 24) == 3  # exact frame times are not lost to rounding
    assert seq.frame_at(-5) == 0 and seq.frame_at(100) == 9 and seq.frame_at(float("nan")) == 0
    assert seq.time_of(12) == 0.5
    with pytest.raises(IndexError):
        seq[10]
    assert seq[-1] is seq[9]
    with pytest.raises(InputError, match="frame rate"):
        GaussianSequence(MemorySource([GaussianSet.empty()]), fps=0)
    with pytest.raises(InputError, match="no frames"):
        GaussianSequence(MemorySource([]), fps=30)


def test_natural_sort():
    names = ["f10.ply", "f2.ply", "F1.ply", "f100.ply"]
    assert sorted(names, key=natural_key) == ["F1.ply", "f2.ply", "f10.ply", "f100.ply"]


# ---------------------------------------------------------------------- cache
class CountingSource(MemorySource):
    def __init__(self, frames, delay=0.0):
        super().__init__(frames)
        self.loads, self.delay = [], delay

    def load(self, index):
        self.loads.append(index)
        time.sleep(self.delay)
        return super().load(index)


def test_lru_cache_is_bounded_by_bytes(rng):
    fr = [random_gaussians(100, rng) for _ in range(20)]
    one = gaussian_nbytes(fr[0])
    src = CountingSource(fr)
    seq = GaussianSequence(src, 30, cache_bytes=3 * one, readahead=0)
    for i in range(20):
        seq[i]
    info = seq.cache_info()
    assert info["frames"] == 3 and info["bytes"] <= 3 * one and info["misses"] == 20
    seq[19]
    seq[18]
    assert src.loads.count(19) == 1 and seq.cache_info()["hits"] == 2
    seq[0]  # evicted long ago: loaded again
    assert src.loads.count(0) == 2
    tiny = GaussianSequence(CountingSource(fr), 30, cache_bytes=1, readahead=0)
    tiny[0]
    assert tiny.cache_info()["frames"] == 1  # always keeps the frame just loaded


def test_readahead_loads_the_next_frames_in_the_background(rng):
    src = CountingSource([random_gaussians(50, rng) for _ in range(10)], delay=0.01)
    seq = GaussianSequence(src, 30, readahead=2)
    seq[0]
    seq[1]  # sequential access: frames 2 and 3 are fetched ahead
    deadline = time.time() + 5
    while (2 not in src.loads or 3 not in src.loads) and time.time() < deadline:
        time.sleep(0.01)
    assert {2, 3} <= set(src.loads)
    seq[2]
    seq[3]
    assert src.loads.count(2) == 1 and src.loads.count(3) == 1
    seq.close()


def test_transform_and_slice_views(rng):
    fr = frames(rng)
    seq = GaussianSequence(MemorySource(fr), 30)
    r = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]], np.float32)
    moved = seq.transformed(r, [1, 2, 3], 2.0).transformed(np.eye(3), [0, 0, 1], 0.5)
    np.testing.assert_allclose(moved[2].means, fr[2].means @ r.T + [0.5, 1, 2.5], atol=1e-5)
    np.testing.assert_allclose(moved[2].scales, fr[2].scales, rtol=1e-6)
    part = seq.slice(1, 6, 2)
    assert part.num_frames == 3 and part.fps == 15
    assert part[1] is fr[3]
    with pytest.raises(InputError, match="no frames"):
        seq.slice(4, 2)


# ---------------------------------------------------------------------- loaders
def test_ply_folder_natural_sort_manifest_and_mixed_formats(tmp_path, rng):
    fr = frames(rng, t=12)
    folder = tmp_path / "seq"
    folder.mkdir()
    for i, g in enumerate(fr):
        name = f"f{i}.ply" if i != 5 else "f5.compressed.ply"
        write_gaussians(folder / name, g)
    (folder / ".f3.ply.tmp").write_text("junk")  # hidden partial files are ignored
    (folder / "notes.txt").write_text("ignored")
    seq = load_sequence(folder)
    assert seq.num_frames == 12 and seq.fps == 30
    assert [seq.source.frame_name(i) for i in (1, 2, 10)] == ["f1.ply", "f2.ply", "f10.ply"]
    assert_close(seq[10], fr[10])
    assert len(seq[5]) == len(fr[5])  # the compressed frame
    (folder / "manifest.json").write_text(json.dumps({"fps": 12}))
    assert load_sequence(folder).fps == 12
    (folder / "manifest.json").write_text(json.dumps({"fps": 12, "frames": ["f2.ply", "f1.ply"]}))
    listed = load_sequence(folder)
    assert listed.num_frames == 2 and len(listed[0]) == len(fr[2])
    assert load_sequence(folder, fps=50).fps == 50


def test_l4gm_npz_is_read_lazily_in_place(tmp_path, rng):
    a = l4gm_array(rng)
    np.savez(tmp_path / "l4gm.npz", gaussians=a, fps=np.array(15))
    seq = load_sequence(tmp_path / "l4gm.npz")
    assert isinstance(seq.source, ArraySource) and isinstance(seq.source.array, RawFrames)
    assert seq.fps == 15 and seq.num_frames == 5 and len(seq[0]) == 64
    g = seq[3]
    np.testing.assert_allclose(g.means, a[3, :, 0:3])
    np.testing.assert_allclose(g.opacities, a[3, :, 3])
    np.testing.assert_allclose(g.scales, a[3, :, 4:7])
    np.testing.assert_allclose(g.colors, a[3, :, 11:14], atol=1e-6)
    back = gaussians_to_l4gm(g)
    np.testing.assert_allclose(np.delete(back, np.s_[7:11], 1), np.delete(a[3], np.s_[7:11], 1), atol=1e-6)
    np.testing.assert_allclose(np.abs(np.sum(back[:, 7:11] * a[3, :, 7:11], 1)), 1, atol=1e-6)  # q ~ -q
    seq.close()


def test_compressed_npz_and_npy_with_sidecar(tmp_path, rng):
    a = l4gm_array(rng, t=3)
    np.savez_compressed(tmp_path / "c.npz", a)  # arr_0, deflated: inflated to a temporary .npy once
    seq = load_sequence(tmp_path / "c.npz")
    assert seq.fps == 30 and isinstance(seq.source.array, RawFrames)
    np.testing.assert_allclose(seq[2].means, a[2, :, :3])
    seq.close()
    np.save(tmp_path / "s.npy", a)
    (tmp_path / "s.json").write_text('{"fps": 8}')
    npy = load_sequence(tmp_path / "s.npy")
    assert npy.fps == 8 and npy.num_frames == 3


def test_brush_zip_read_member_by_member(tmp_path, rng):
    fr = frames(rng, t=11)
    with zipfile.ZipFile(tmp_path / "brush.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for i, g in enumerate(fr):
            write_ply(tmp_path / "tmp.ply", g)
            zf.write(tmp_path / "tmp.ply", f"export/frame_{i}.ply")
        zf.writestr("__MACOSX/export/._frame_1.ply", b"junk")
    seq = load_sequence(tmp_path / "brush.zip", fps=10)
    assert seq.num_frames == 11 and seq.source.frame_name(10).endswith("frame_10.ply")
    assert_close(seq[10], fr[10])
    seq.close()


def test_bad_sequences_raise_input_error(tmp_path, rng):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no frame files"):
        load_sequence(tmp_path / "empty")
    np.savez(tmp_path / "motion.npz", poses=np.zeros((4, 165)))
    with pytest.raises(InputError, match=r"\(T, N, 14\)"):
        load_sequence(tmp_path / "motion.npz")
    a = l4gm_array(rng)
    a[2, 5, 0] = np.nan
    np.savez(tmp_path / "nan.npz", gaussians=a)
    seq = load_sequence(tmp_path / "nan.npz")
    seq[1]
    with pytest.raises(InputError, match="Frame 3.*NaN"):
        seq[2]
    (tmp_path / "bad.zip").write_bytes(b"PK not really")
    with pytest.raises(InputError, match="zip"):
        load_sequence(tmp_path / "bad.zip")
    np.savez(tmp_path / "wrongcounts.npz", gaussians=l4gm_array(rng), counts=np.array([1, 2]))
    with pytest.raises(InputError, match="counts"):
        load_sequence(tmp_path / "wrongcounts.npz")
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "frame1.ply").write_bytes(b"ply\ngarbage")
    with pytest.raises(InputError, match="Frame 1"):
        load_sequence(folder)[0]
    (folder / "manifest.json").write_text('{"fps": "fast"}')
    with pytest.raises(InputError, match="fps"):
        load_sequence(folder)
    truncated = tmp_path / "t.npz"
    np.savez(truncated, gaussians=l4gm_array(rng, t=20, n=500))
    truncated.write_bytes(truncated.read_bytes()[:100_000])
    with pytest.raises(InputError):
        s = load_sequence(truncated)
        s[19]
    with pytest.raises(InputError, match="shape"):
        gaussians_from_l4gm(np.zeros((3, 13)))


# ---------------------------------------------------------------------- placement
def test_normalise_object_space_puts_l4gm_objects_on_the_ground(rng):
    a = l4gm_array(rng, t=4, n=2000)
    a[..., 1] = a[..., 1] * 0.8 + 0.1  # an object spanning y in [-0.7, 0.9]
    seq = GaussianSequence(ArraySource(a), 30)
    placed = normalise_object_space(seq, height=1.7)
    lo, hi = [], []
    for i in range(4):
        m = placed[i].means[placed[i].opacities >= 0.05]
        lo.append(np.percentile(m, 0.5, axis=0))
        hi.append(np.percentile(m, 99.5, axis=0))
    lo, hi = np.min(lo, 0), np.max(hi, 0)
    assert abs(lo[1]) < 0.05 and abs(hi[1] - 1.7) < 0.05  # on the ground, human height
    assert abs(lo[0] + hi[0]) < 0.1 and abs(lo[2] + hi[2]) < 0.1  # centred
    single = normalise_object_space(seq[0], up_axis="z")
    assert single.means[:, 1].min() > -0.05  # z-up input stood up
    r, t, s = object_space_transform([seq[0]], ground=False, center=False)
    assert s == 1 and np.allclose(t, 0) and np.allclose(r, np.eye(3))
    with pytest.raises(InputError, match="up axis"):
        object_space_transform([seq[0]], up_axis="x")


# ---------------------------------------------------------------------- export
@pytest.mark.parametrize("degree", [0, 2])
def test_export_round_trips(tmp_path, rng, degree):
    fr = frames(rng, t=5, degree=degree)
    seq = GaussianSequence(MemorySource(fr), 25)
    folder = export_sequence(seq, tmp_path / "out", "ply_folder")
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["frame0001.ply", "frame0002.ply", "frame0003.ply", "frame0004.ply", "frame0005.ply",
                     "manifest.json"]
    assert json.loads((folder / "manifest.json").read_text())["fps"] == 25
    back = load_sequence(folder)
    assert back.fps == 25
    for i in range(5):
        assert_close(back[i], fr[i])
    npz = export_sequence(back, tmp_path / "out.npz", "npz")
    with zipfile.ZipFile(npz) as zf:
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())
    raw = np.load(npz)
    assert raw["gaussians"].shape == (5, max(len(f) for f in fr), 14) and raw["fps"] == 25
    assert ("sh_rest" in raw.files) == (degree > 0)
    again = load_sequence(npz)
    assert isinstance(again.source.array, RawFrames) and again.source.array.offset % 64 == 0
    for i in range(5):
        assert_close(again[i], fr[i])
    z = load_sequence(export_sequence(again, tmp_path / "out.zip", "zip"))
    assert_close(z[4], fr[4])
    again.close()
    z.close()


def test_export_frame_formats_and_atomicity(tmp_path, rng):
    seq = GaussianSequence(MemorySource(frames(rng, t=3)), 30)
    out = export_sequence(seq, tmp_path / "c", frame_format="compressed_ply")
    assert (out / "frame0001.compressed.ply").is_file()
    assert load_sequence(out).num_frames == 3

    def boom(done, total):
        if done == 2:
            raise RuntimeError("disk full")
    with pytest.raises(RuntimeError):
        export_sequence(seq, tmp_path / "never", progress=boom)
    with pytest.raises(RuntimeError):
        export_sequence(seq, tmp_path / "never.npz", "npz", progress=boom)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]
    with pytest.raises(InputError, match="Unknown sequence format"):
        export_sequence(seq, tmp_path / "x", "gif")
    export_sequence(seq, tmp_path / "c")  # re-exporting over our own frames is fine
    (tmp_path / "c" / "thesis.docx").write_text("precious")
    with pytest.raises(InputError, match="already holds other files"):
        export_sequence(seq, tmp_path / "c")
    assert (tmp_path / "c" / "thesis.docx").read_text() == "precious"


# ---------------------------------------------------------------------- baking
@pytest.fixture(scope="module")
def small_rig(random_smplx_dir):
    from avatar_studio.core.avatar import Avatar, Rig
    from avatar_studio.core.body.model import BodyModel
    from avatar_studio.core.motion.motion import Motion
    body = BodyModel(random_smplx_dir)
    rng = np.random.default_rng(5)
    g = random_gaussians(150, rng, 1)
    avatar = Avatar(g, Rig(rng.integers(0, 55, (150, 4)), np.full((150, 4), 0.25, np.float32)), "tester")
    motion = Motion.from_full_pose(rng.normal(size=(9, 55, 3)) * 0.3, rng.normal(size=(9, 3)) * 0.2, fps=30)
    return avatar, body, motion


def test_bake_in_memory_matches_posing(small_rig):
    avatar, body, motion = small_rig
    seq = bake_avatar(avatar, body, motion, slice(0, 9, 2), batch=2)
    assert seq.num_frames == 5 and seq.fps == 15
    expected = avatar.posed_batch(body, motion.full_pose()[[0, 2, 4, 6, 8]], motion.transl[[0, 2, 4, 6, 8]])
    for i in range(5):
        assert_close(seq[i], expected[i])
    listed = bake_avatar(avatar, body, motion, [8, 0])
    assert_close(listed[0], expected[4])
    with pytest.raises(InputError, match="in memory"):
        bake_avatar(avatar, body, motion, max_memory_bytes=1000)


@pytest.mark.parametrize("fmt,name", [("ply_folder", "baked"), ("npz", "baked.npz"), ("zip", "baked.zip")])
def test_bake_streams_to_disk(tmp_path, small_rig, fmt, name):
    avatar, body, motion = small_rig
    calls = []
    seq = bake_avatar(avatar, body, motion, out=tmp_path / name, format=fmt, batch=4,
                      progress=lambda d, t: calls.append((d, t)))
    assert seq.num_frames == 9 and seq.fps == 30 and calls[-1] == (9, 9)
    expected = avatar.posed(body, motion.full_pose()[7], motion.transl[7])
    assert_close(seq[7], expected)
    seq.close()
