"""Specific promises behind the fuzzing suite: pictures read right (EXIF, 16-bit, float) or refused from the
header, GIF videos read, only regular files opened, nothing named outside a folder or archive, stale temp
files swept, and Ctrl-C during start-up ends with one line."""
from __future__ import annotations

import io
import json
import os
import signal
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from avatar_studio.core.errors import InputError
from avatar_studio.core.reconstruct.base import load_image

REPO = Path(__file__).resolve().parents[1]


def _png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height (its pixel data would be huge once inflated)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = zlib.compress(b"\x00" + bytes(width * 3), 9) if width < 10_000 else b""
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", rows) + chunk(b"IEND", b""))


def test_pictures_exif_16_bit_float_and_refusals(tmp_path):
    rgb = np.zeros((80, 120, 3), np.uint8)
    rgb[:, :10] = 255  # a bright stripe on the left edge
    im = Image.fromarray(rgb)
    exif = im.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    im.save(tmp_path / "phone.jpg", exif=exif, quality=95)
    upright = load_image(tmp_path / "phone.jpg")
    assert upright.shape == (120, 80, 3)
    assert upright[:10, :, 0].mean() > 200 and upright[-10:, :, 0].mean() < 50  # the stripe is now on top

    ramp16 = np.linspace(0, 65535, 80 * 100).reshape(80, 100).astype(np.uint16)
    Image.fromarray(ramp16).save(tmp_path / "gray16.png")
    g = load_image(tmp_path / "gray16.png")
    assert g[0, 0, 0] == 0 and g[-1, -1, 0] == 255 and abs(g.mean() - 127.5) < 2  # not all white

    ramp = np.linspace(0, 1, 80 * 100).reshape(80, 100).astype(np.float32)
    Image.fromarray(ramp, "F").save(tmp_path / "float.tif")
    f = load_image(tmp_path / "float.tif")
    assert f[0, 0, 0] == 0 and f[-1, -1, 0] == 255  # not black

    Image.fromarray(rgb).save(tmp_path / "anim.gif")
    (tmp_path / "gif_named.png").write_bytes((tmp_path / "anim.gif").read_bytes())
    for name in ("anim.gif", "gif_named.png"):
        with pytest.raises(InputError, match="accepted format"):
            load_image(tmp_path / name)

    (tmp_path / "thin.png").write_bytes(_png_header_only(1, 64_000_000))
    (tmp_path / "huge.png").write_bytes(_png_header_only(60_000, 60_000))
    for name, message in (("thin.png", "at least 64"), ("huge.png", "megapixels|too large")):
        t0 = time.perf_counter()
        with pytest.raises(InputError, match=message):
            load_image(tmp_path / name)
        assert time.perf_counter() - t0 < 1.0  # refused from the header, nothing decoded


def test_motion_capture_reads_the_gif_our_exporter_writes(tmp_path):
    from avatar_studio.core.export.video import VideoOptions, write_video
    from avatar_studio.core.mocap.video import frame_selection, iter_frames, probe
    frames = np.random.default_rng(0).integers(0, 255, (5, 64, 80, 3), dtype=np.uint8)
    write_video(tmp_path / "clip.gif", lambda i: frames[i], 5, VideoOptions(10.0))
    info = probe(tmp_path / "clip.gif")
    got = [f for _, f in iter_frames(info, frame_selection(info))]
    assert (info.width, info.height, len(got)) == (80, 64, 5)


def test_pipes_are_refused_not_opened(tmp_path):
    from avatar_studio.core.motion.amass import load_amass
    from avatar_studio.core.project import load_project
    from avatar_studio.core.sequence import load_sequence
    loaders = {"m.npz": load_amass, "p.avsproj": load_project, "s.npz": load_sequence, "s.npy": load_sequence,
               "s.zip": load_sequence, "photo.png": load_image}
    for name, load in loaders.items():
        fifo = tmp_path / name
        os.mkfifo(fifo)
        with pytest.raises(InputError, match="not a regular file|not found|not an AMASS"):
            load(fifo)  # a blocked open would hang this test


def test_cli_info_refuses_pipes_of_every_kind(tmp_path):
    exts = (".ply", ".splat", ".spz", ".bvh", ".npz", ".json", ".pt", ".zip", ".npy", ".avsproj")
    names = [f"pipe{ext}" for ext in exts]
    for name in names:
        os.mkfifo(tmp_path / name)
    script = ("import sys\nfrom avatar_studio.cli.main import main\n"
              "print([main(['info', p]) for p in sys.argv[1:]])")
    done = subprocess.run([sys.executable, "-c", script] + [str(tmp_path / n) for n in names], cwd=REPO,
                          capture_output=True, text=True, timeout=300)  # a blocked open would time out here
    assert done.stdout.strip() == str([2] * len(names)), done.stderr[-800:]
    assert done.stderr.count("error: ") == len(names) and "internal error" not in done.stderr


def test_manifests_and_projects_cannot_name_files_outside(tmp_path, rng):
    from support import random_gaussians
    from avatar_studio.core.io.ply import write_ply
    from avatar_studio.core.project import FORMAT_ID, load_project
    from avatar_studio.core.sequence import load_sequence
    outside = write_ply(tmp_path / "secret.ply", random_gaussians(10, rng))
    folder = tmp_path / "frames"
    folder.mkdir()
    write_ply(folder / "f1.ply", random_gaussians(10, rng))
    for bad in ("../secret.ply", str(outside), "sub/../../secret.ply"):
        (folder / "manifest.json").write_text(json.dumps({"fps": 10, "frames": ["f1.ply", bad]}))
        with pytest.raises(InputError, match="outside its folder"):
            load_sequence(folder)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("manifest.json", json.dumps({"frames": ["../../secret.ply"]}))
        zf.write(outside, "f1.ply")
    (tmp_path / "seq.zip").write_bytes(buf.getvalue())
    with pytest.raises(InputError, match="outside its folder"):
        load_sequence(tmp_path / "seq.zip")
    for member in ("../secret.ply", "/etc/hostname", "items/0/../../../secret.ply"):
        with zipfile.ZipFile(tmp_path / "p.avsproj", "w") as zf:
            zf.writestr("project.json", json.dumps({"format": FORMAT_ID, "version": 1,
                                                    "items": [{"name": "x", "splats": member}]}))
            zf.write(outside, member)
        with pytest.raises(InputError, match="outside the project"):
            load_project(tmp_path / "p.avsproj")


def test_zip_bombs_are_refused_before_inflating(tmp_path):
    from avatar_studio.core.motion.amass import load_amass
    from avatar_studio.core.io.safe import MAX_MEMBER_BYTES
    with zipfile.ZipFile(tmp_path / "bomb.npz", "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("poses.npy", "w", force_zip64=True) as member:
            member.write(b"\x93NUMPY\x01\x00v\x00" + b" " * 118)
            zero = bytes(1 << 24)
            for _ in range(MAX_MEMBER_BYTES // len(zero) + 1):
                member.write(zero)
    assert (tmp_path / "bomb.npz").stat().st_size < 4 << 20
    with pytest.raises(InputError, match="limit"):
        load_amass(tmp_path / "bomb.npz")


def test_temp_files_of_dead_writers_are_swept(tmp_path):
    from avatar_studio.core.io.atomic import TEMP_TAG, atomic_path
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".out.{TEMP_TAG}-{dead.pid}-abc.ply"
    stale.write_bytes(b"half a file")
    stale_dir = tmp_path / f".frames.{TEMP_TAG}-{dead.pid}-xyz"
    stale_dir.mkdir()
    mine = tmp_path / f".other.{TEMP_TAG}-{os.getpid()}-keep.ply"  # a live writer's temp file stays
    mine.write_bytes(b"in progress")
    with atomic_path(tmp_path / "next.ply") as tmp:
        tmp.write_bytes(b"new")
    assert not stale.exists() and not stale_dir.exists() and mine.exists()
    assert (tmp_path / "next.ply").read_bytes() == b"new"


@pytest.mark.parametrize("delay", [0.15, 0.4, 0.8, 1.5])
def test_ctrl_c_during_start_up_prints_one_line(delay):
    proc = subprocess.Popen([sys.executable, "-m", "avatar_studio.cli", "info", "missing.ply"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err and len(lines) == 1, err[-800:]
    assert proc.returncode in (130, 2), (proc.returncode, err)  # 2: it finished first ("error: ... not found")


@pytest.mark.parametrize("name", ["seq.npz", "seq.dat", "n" * 150 + ".npz"])
def test_front_door_refuses_an_unknown_zip_in_a_short_message(tmp_path, name):
    """Fuzzing core.open: a zip of unknown members (a damaged L4GM npz, a zip of frames named .npz) was
    refused in 400-500 characters: the member names plus the whole list of what opens."""
    from avatar_studio.core.open import classify, open_path
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(9):
            zf.writestr(f"frame{i:04d}_with_a_long_descriptive_member_name.spz.npy", b"not an array")
    for call in (classify, open_path):
        with pytest.raises(InputError, match="a zip archive holding frame0000") as err:
            call(path)
        message = str(err.value)
        assert len(message) < 400 and "\n" not in message, message
        assert message.count("frame0") == 4 and ", …" in message  # four members quoted, the rest elided


def test_front_door_refuses_unknown_content_in_a_short_message(tmp_path):
    """The same for a file of unknown content under a long name: the listing of what opens stays short."""
    from avatar_studio.core.open import classify
    path = tmp_path / ("x" * 200 + ".json")
    path.write_text('{"neither": "a motion", "nor": "splats"}')
    with pytest.raises(InputError, match="is not a file Avatar Studio can read") as err:
        classify(path)
    assert len(str(err.value)) < 400, str(err.value)
    assert ".avsproj" in str(err.value)  # it still says what opens


def test_front_door_names_a_damaged_npy_header_not_shape_none(tmp_path):
    """Fuzzing core.open: an .npy whose header is damaged was 'an array of shape None'."""
    from avatar_studio.core.open import classify
    path = tmp_path / "motion.dat"
    path.write_bytes(b"\x93NUMPY\x01\x00\x10\x00{'descr': <f4'   " + bytes(64))
    with pytest.raises(InputError, match=r"motion\.dat .*a \.npy array whose header is damaged") as err:
        classify(path)
    assert "None" not in str(err.value)


def _names_once(message: str, name: str) -> None:
    assert message.count(name) == 1 and ".)." not in message, message


def test_a_damaged_amass_or_human3r_npz_is_named_once(tmp_path):
    """Fuzzing core.open: a frame that is no zip read 'smpl/0.npz is not a readable npz file (0.npz is not a
    readable archive (File is not a zip file).).' - the reader's message wrapped in one naming the file again."""
    from avatar_studio.core.motion.amass import load_amass
    from avatar_studio.core.motion.human3r import load_human3r
    bad = tmp_path / "clip.npz"
    bad.write_bytes(b"PK\x03\x04 this is no zip archive at all")
    with pytest.raises(InputError, match=r"clip\.npz is not a readable archive") as err:
        load_amass(bad)
    _names_once(str(err.value), "clip.npz")
    (tmp_path / "run" / "smpl").mkdir(parents=True)
    (tmp_path / "run" / "smpl" / "000001.npz").write_bytes(bad.read_bytes())
    with pytest.raises(InputError, match=r"smpl/000001\.npz is not a readable archive") as err:
        load_human3r(tmp_path / "run")
    _names_once(str(err.value), "000001.npz")


@pytest.mark.parametrize("rate", [1e-45, 0.01, 2e4])
def test_an_amass_frame_rate_out_of_range_is_refused_at_load(tmp_path, rate):
    """Fuzzing amass_npz: mocap_frame_rate 1e-45 was read as a motion, and writing it back resampled to
    30 fps asked numpy for ~1e46 frames (ValueError: Maximum allowed size exceeded)."""
    from avatar_studio.core.motion.amass import load_amass
    from support.motion import smooth_motion, write_amass_npz
    path = write_amass_npz(tmp_path / "clip.npz", smooth_motion(4))
    data = dict(np.load(path))
    data["mocap_frame_rate"] = np.array(rate)
    np.savez(path, **data)
    with pytest.raises(InputError, match=r"clip\.npz: frame rate must be between 0\.1 and 10000"):
        load_amass(path)
    data["mocap_frame_rate"] = np.array(0.5)  # slow but real: still read
    np.savez(path, **data)
    assert load_amass(path).fps == 0.5
