"""core/open.py: every kind of path is classified from its content and opened by its reader; unknown,
damaged and misnamed files raise one clear StudioError naming the file once."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avatar_studio import RESOURCES_DIR
from avatar_studio.core.errors import InputError, StudioError
from avatar_studio.core.open import classify, open_path
from support import random_gaussians

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "real-data"
PNG = RESOURCES_DIR / "icons" / "avatar-studio-64.png"


def _kind(path: Path) -> tuple[str, str]:
    found = classify(path)
    return found.kind, found.format


def _motion(num_frames: int = 12):
    from support.motion import smooth_motion
    return smooth_motion(num_frames)


def _rigged(rng, n: int = 120):
    from avatar_studio.core.avatar import Avatar, Rig
    idx = rng.integers(0, 22, (n, 4)).astype(np.int32)
    w = rng.uniform(0.1, 1.0, (n, 4)).astype(np.float32)
    return Avatar(random_gaussians(n, rng), Rig(idx, w / w.sum(1, keepdims=True)), "tester")


# ------------------------------------------------------------------ photos
def test_photos_by_content_and_name(tmp_path):
    from PIL import Image
    jpg = tmp_path / "person.JPG"
    Image.new("RGB", (8, 12), (200, 10, 10)).save(jpg, format="JPEG")
    assert _kind(jpg) == ("photo", "jpeg")
    assert _kind(PNG) == ("photo", "png")
    opened = open_path(jpg)
    assert opened.kind == "photo" and opened.value.shape == (12, 8, 3)


def test_a_picture_named_npz_is_refused_once_with_the_name_to_use(tmp_path):
    fake = tmp_path / "dance.npz"
    fake.write_bytes(PNG.read_bytes())
    with pytest.raises(InputError) as err:
        classify(fake)
    msg = str(err.value)
    assert msg.count("dance.npz") == 1 and msg.count("can read") == 1 and "name it .png" in msg, msg


def test_a_text_file_named_png_is_unknown(tmp_path):
    fake = tmp_path / "photo.png"
    fake.write_text("hello, this is not a picture\n")
    with pytest.raises(InputError, match=r"photo\.png is not a file Avatar Studio can read"):
        classify(fake)


# ------------------------------------------------------------------ avatars and splats
def test_avatar_and_plain_ply(tmp_path, rng):
    from avatar_studio.core.avatar import Avatar
    from avatar_studio.core.io.avatar_file import write_avatar
    from avatar_studio.core.io.ply import write_ply
    avatar = write_avatar(tmp_path / "a.ply", _rigged(rng))
    plain = write_ply(tmp_path / "p.ply", random_gaussians(50, rng))
    assert _kind(avatar) == ("avatar", "ply") and _kind(plain) == ("splats", "ply")
    opened = open_path(avatar)
    assert opened.kind == "avatar" and isinstance(opened.value, Avatar) and len(opened.value.gaussians) == 120
    opened = open_path(plain)
    assert opened.kind == "splats" and len(opened.value) == 50


@pytest.mark.parametrize("name,fmt", [("s.compressed.ply", "compressed_ply"), ("s.splat", "splat"),
                                      ("s.spz", "spz"), ("s.sog", "sog"), ("s.glb", "gltf")])
def test_every_writable_splat_format(tmp_path, rng, name, fmt):
    from avatar_studio.core.io.formats import write_gaussians
    path = write_gaussians(tmp_path / name, random_gaussians(300, rng))
    assert _kind(path) == ("splats", fmt)
    opened = open_path(path)
    assert opened.kind == "splats" and len(opened.value) == 300


def test_a_splat_file_without_its_extension_is_splats(tmp_path, rng):
    from avatar_studio.core.io.formats import write_gaussians
    spz = write_gaussians(tmp_path / "scene.spz", random_gaussians(40, rng))
    nameless = tmp_path / "download"
    nameless.write_bytes(spz.read_bytes())
    assert _kind(nameless) == ("splats", "spz")
    assert len(open_path(nameless).value) == 40


def test_sog_folder_is_splats(tmp_path, rng):
    from avatar_studio.core.io.formats import write_gaussians
    folder = tmp_path / "sog"
    folder.mkdir()
    write_gaussians(folder / "meta.json", random_gaussians(64, rng))
    assert _kind(folder) == ("splats", "sog")
    assert _kind(folder / "meta.json") == ("splats", "sog")
    assert len(open_path(folder).value) == 64


# ------------------------------------------------------------------ motions
def test_amass_npz_bvh_and_a_renamed_bvh(tmp_path, body):
    from avatar_studio.core.motion.export import save_bvh
    from support.motion import write_amass_npz
    m = _motion()
    amass = write_amass_npz(tmp_path / "walk_stageii.npz", m)
    assert _kind(amass) == ("motion", "amass")
    opened = open_path(amass, body=body, playable=True)
    assert opened.kind == "motion" and opened.value.num_frames == m.num_frames
    bvh = save_bvh(m, tmp_path / "walk.bvh", body)
    assert _kind(bvh) == ("motion", "bvh")
    renamed = tmp_path / "walk.txt"  # a BVH is known by its HIERARCHY, whatever its name
    renamed.write_bytes(bvh.read_bytes())
    assert _kind(renamed) == ("motion", "bvh")
    assert open_path(renamed, body=body).value.num_frames == m.num_frames


def test_lhm_folder_and_frame_motionx_and_gvhmr(tmp_path, body):
    from support.motion import write_gvhmr_pt, write_lhm_folder, write_motionx_npy
    m = _motion(8)
    lhm = write_lhm_folder(tmp_path / "lhm", m) / "smplx_params"
    assert classify(lhm).kind == "motion" and classify(lhm).format == "lhm"
    frame = classify(lhm / "00003.json")  # a frame file opens its whole folder
    assert (frame.kind, frame.format, frame.target) == ("motion", "lhm", lhm)
    assert open_path(lhm / "00003.json", body=body).value.num_frames == 8
    mx = write_motionx_npy(tmp_path / "clip.npy", m)
    assert _kind(mx) == ("motion", "motionx")
    assert open_path(mx, body=body).value.num_frames == 8
    pt = write_gvhmr_pt(tmp_path / "hmr4d_results.pt", m, m)
    assert _kind(pt) == ("motion", "gvhmr")
    assert _kind(tmp_path) == ("motion", "gvhmr")  # the folder holding hmr4d_results.pt
    assert open_path(pt).value.num_frames == 8


def test_human3r_folder(tmp_path, body):
    from support.motion import look_at_c2w, write_human3r_folder
    m = _motion(6)
    c2w = np.repeat(look_at_c2w([0.0, 1.0, 3.0], [0.0, 1.0, 0.0])[None], 6, axis=0)
    folder = write_human3r_folder(tmp_path / "h3r", {0: m}, c2w, body)
    assert _kind(folder) == ("motion", "human3r")
    first = sorted((folder / "smpl").glob("*.npz"))[0]
    assert classify(first).target == folder  # one frame file opens the whole result
    assert open_path(folder, body=body).value.num_frames == 6


# ------------------------------------------------------------------ sequences
def _frames(rng, n: int = 3):
    return [random_gaussians(30, rng) for _ in range(n)]


@pytest.mark.parametrize("fmt,name,kind_format", [("ply_folder", "seq", "folder"), ("npz", "seq.npz", "l4gm_npz"),
                                                  ("zip", "seq.zip", "zip")])
def test_sequences(tmp_path, rng, fmt, name, kind_format):
    from avatar_studio.core.sequence import GaussianSequence, MemorySource, export_sequence
    out = export_sequence(GaussianSequence(MemorySource(_frames(rng)), 24.0), tmp_path / name, fmt)
    assert _kind(Path(out)) == ("sequence", kind_format)
    opened = open_path(out)
    assert opened.kind == "sequence" and opened.value.num_frames == 3 and opened.value.fps == 24.0
    opened.value.close()


def test_l4gm_npy_and_a_renamed_l4gm_npz(tmp_path, rng):
    from avatar_studio.core.sequence import GaussianSequence, MemorySource, export_sequence
    arr = np.zeros((4, 10, 14), np.float32)
    arr[..., 3:6] = 0.02  # scales
    arr[..., 6] = 1.0     # w of the rotation
    arr[..., 2] = 0.5
    np.save(tmp_path / "l4gm.npy", arr)
    assert _kind(tmp_path / "l4gm.npy") == ("sequence", "l4gm_npy")
    seq = open_path(tmp_path / "l4gm.npy").value
    assert seq.num_frames == 4
    seq.close()
    npz = export_sequence(GaussianSequence(MemorySource(_frames(rng)), 30.0), tmp_path / "s.npz", "npz")
    renamed = tmp_path / "s.dat"
    renamed.write_bytes(Path(npz).read_bytes())
    with pytest.raises(InputError, match=r"s\.dat holds an L4GM Gaussian sequence; name it \.npz"):
        classify(renamed)


# ------------------------------------------------------------------ projects
def test_project(tmp_path, rng, body):
    from avatar_studio.core.project import save_project
    from avatar_studio.core.scene import Scene, SplatsItem
    scene = Scene(body)
    scene.add(SplatsItem(name="dots", gaussians=random_gaussians(20, rng)))
    path = save_project(tmp_path / "p.avsproj", scene)
    assert _kind(path) == ("project", "avsproj")
    loaded, data = open_path(path, scene=Scene(body)).value
    assert [i.name for i in loaded.items] == ["dots"]
    broken = tmp_path / "broken.avsproj"
    broken.write_bytes(b"{ not a zip }")
    with pytest.raises(InputError, match=r"broken\.avsproj is not an Avatar Studio project"):
        classify(broken)


# ------------------------------------------------------------------ unknown and damaged
def test_unknown_empty_missing_and_damaged(tmp_path):
    cases = {"notes.txt": b"just some words\n", "empty.ply": b"", "bad.npz": b"PK\x03\x04 truncated",
             "junk.npz": b"not a splat file"}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(StudioError) as err:
            classify(tmp_path / name)
        assert str(err.value).count(name) == 1, str(err.value)
    with pytest.raises(InputError, match="File not found"):
        classify(tmp_path / "missing.ply")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds nothing Avatar Studio can read"):
        classify(tmp_path / "empty")
    (tmp_path / "plain.npz").write_bytes(_npz_bytes(tmp_path, values=np.arange(5)))
    with pytest.raises(InputError, match=r"plain\.npz is not a file .* no project, motion or Gaussian sequence"):
        classify(tmp_path / "plain.npz")


def _npz_bytes(tmp_path: Path, **arrays) -> bytes:
    np.savez(tmp_path / "tmp.npz", **arrays)
    return (tmp_path / "tmp.npz").read_bytes()


def test_a_corrupt_ply_is_classified_then_refused_by_its_reader(tmp_path):
    bad = tmp_path / "cut.ply"
    bad.write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 1000\nproperty float x\nend_header\n\0\0")
    assert _kind(bad) == ("splats", "ply")
    with pytest.raises(StudioError, match=r"cut\.ply"):
        open_path(bad)


# ------------------------------------------------------------------ real third-party files
def _real(sub: str) -> Path:
    folder = REAL / sub
    if not folder.is_dir():
        pytest.skip(f"../shared/real-data/{sub} is absent (the shared data folder is not beside the checkout)")
    return folder


NOT_GAUSSIANS = {"adobe__colors.ply", "gshairlod__donut_color.ply", "gs3d_pr477__bunny_2k.ply", "brush__init.ply"}


def test_real_splat_files_open_as_splats():
    folder = _real("splats")
    paths = [p for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix != ".md"
             and p.parent.name != "sog_playbot_4_0"] + [folder / "sog_playbot_4_0"]
    assert len(paths) > 15
    for p in paths:
        kind, fmt = _kind(p)
        assert kind == "splats", (p.name, kind, fmt)
        if p.name in NOT_GAUSSIANS:  # meshes and plain point clouds: refused by the reader, by name
            with pytest.raises(StudioError, match=p.name.replace(".", r"\.")):
                open_path(p)
        else:
            assert len(open_path(p).value) > 0, p.name


def test_real_bvh_files_are_motions(body):
    folder = _real("motion")
    paths = sorted(folder.glob("*.bvh"))
    assert len(paths) >= 10
    for p in paths:
        assert _kind(p) == ("motion", "bvh"), p.name
    opened = open_path(folder / "fairmotion_cmu_01_01.bvh", body=body, playable=True)
    assert opened.kind == "motion" and opened.value.num_frames > 10


def test_classifying_loads_no_torch(tmp_path):
    """classify runs on the window's GUI thread and in `info`: it must not pay torch's import (seconds)."""
    import subprocess
    import sys
    (tmp_path / "empty").mkdir()
    (tmp_path / "walk.bvh").write_text("HIERARCHY\nROOT Hips\n")
    code = ("import sys\nfrom avatar_studio.core.open import classify\n"
            f"for p in ('{tmp_path / 'walk.bvh'}', '{PNG}'):\n    classify(p)\n"
            f"try:\n    classify('{tmp_path / 'empty'}')\nexcept Exception:\n    pass\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
