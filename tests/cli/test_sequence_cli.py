"""`avatar-studio convert` and `avatar-studio sequence ...`, run in-process through the CLI's main()."""
from __future__ import annotations

import numpy as np
import pytest

from avatar_studio.cli.main import main
from avatar_studio.core.io.formats import read_gaussians, write_gaussians
from avatar_studio.core.sequence import GaussianSequence, MemorySource, export_sequence, load_sequence
from support import random_gaussians
from avatar_studio.core.motion.amass import write_amass


@pytest.fixture
def seq_folder(tmp_path, rng):
    frames = [random_gaussians(60 + i, rng, 1) for i in range(8)]
    return export_sequence(GaussianSequence(MemorySource(frames), 8), tmp_path / "seq"), frames


@pytest.mark.parametrize("out", ["a.splat", "a.spz", "a.compressed.ply", "b.ply"])
def test_convert_between_formats(tmp_path, rng, capsys, out):
    g = random_gaussians(300, rng, 3)
    g.sh[:, 1:] = np.clip(g.sh[:, 1:], -0.9, 0.9)
    write_gaussians(tmp_path / "a.ply", g)
    assert main(["convert", str(tmp_path / "a.ply"), str(tmp_path / out)]) == 0
    r = read_gaussians(tmp_path / out)
    assert len(r) == 300
    text = capsys.readouterr()
    assert "wrote" in text.out
    if out.endswith(".splat"):
        assert "dropped" in text.err and r.sh_degree == 0
    # and back again to INRIA PLY
    assert main(["convert", str(tmp_path / out), str(tmp_path / "back.ply"), "-q"]) == 0
    assert len(read_gaussians(tmp_path / "back.ply")) == 300


def test_convert_errors_are_one_line(tmp_path, rng, capsys):
    write_gaussians(tmp_path / "a.ply", random_gaussians(10, rng))
    assert main(["convert", str(tmp_path / "a.ply"), str(tmp_path / "a.ksplat")]) == 2
    assert "read but not written" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "missing.ply"), str(tmp_path / "x.ply")]) == 2
    assert main(["convert", str(tmp_path / "a.ply"), str(tmp_path / "a.ply")]) == 2
    assert main(["convert", str(tmp_path / "a.ply"), str(tmp_path / "x.ply"), "--spz-version", "2"]) == 2
    assert main(["convert", str(tmp_path / "a.ply"), str(tmp_path / "v2.spz"), "--spz-version", "2"]) == 0


def test_convert_sequences(tmp_path, seq_folder):
    folder, frames = seq_folder
    assert main(["convert", str(folder), str(tmp_path / "s.npz"), "-q"]) == 0
    assert main(["convert", str(tmp_path / "s.npz"), str(tmp_path / "s.zip"), "-q"]) == 0
    assert main(["convert", str(tmp_path / "s.zip"), str(tmp_path / "spz_frames"), "--frame-format", "spz", "-q"]) == 0
    assert main(["convert", str(folder), str(tmp_path / "one.ply")]) == 2  # a sequence is not one file
    seq = load_sequence(tmp_path / "spz_frames")
    assert seq.num_frames == 8 and seq.fps == 8 and (tmp_path / "spz_frames" / "frame0008.spz").is_file()
    assert len(seq[7]) == len(frames[7])


def test_sequence_info_and_scrub_to_a_frame(tmp_path, seq_folder, capsys):
    folder, frames = seq_folder
    assert main(["sequence", "info", str(folder), "--frames"]) == 0
    out = capsys.readouterr().out
    assert "8 frames at 8 fps (1.00 s)" in out and "frame0008.ply" in out
    assert main(["sequence", "frame", str(folder), "--time", "0.3", "-o", str(tmp_path / "f.ply")]) == 0
    assert "frame 3/8" in capsys.readouterr().out  # 0.3 s at 8 fps shows frame index 2
    assert len(read_gaussians(tmp_path / "f.ply")) == len(frames[2])
    assert main(["sequence", "frame", str(folder), "--time", "0.3", "--nearest", "-o", str(tmp_path / "n.spz")]) == 0
    assert len(read_gaussians(tmp_path / "n.spz")) == len(frames[2])
    assert main(["sequence", "frame", str(folder), "--index", "8", "-o", str(tmp_path / "l.ply")]) == 0
    assert len(read_gaussians(tmp_path / "l.ply")) == len(frames[7])
    assert main(["sequence", "frame", str(folder), "--index", "9", "-o", str(tmp_path / "x.ply")]) == 2
    assert main(["sequence", "info", str(tmp_path / "nothing")]) == 2


def test_sequence_export_range_and_normalise(tmp_path, seq_folder):
    folder, _ = seq_folder
    assert main(["sequence", "export", str(folder), "-o", str(tmp_path / "part.npz"), "--start", "0.25",
                 "--end", "0.75", "--normalise", "--height", "1.7", "-q"]) == 0
    part = load_sequence(tmp_path / "part.npz")
    assert part.num_frames == 5 and part.fps == 8
    assert part[0].means[:, 1].min() > -0.2  # stood on the ground
    assert main(["sequence", "export", str(folder), "-o", str(tmp_path / "half"), "--step", "2", "-q"]) == 0
    half = load_sequence(tmp_path / "half")
    assert half.num_frames == 4 and half.fps == 4


def test_sequence_bake(tmp_path, rng):
    from avatar_studio.core.avatar import Avatar, Rig
    from avatar_studio.core.io.avatar_file import write_avatar
    from avatar_studio.core.motion.motion import Motion
    g = random_gaussians(120, rng, 0)
    write_avatar(tmp_path / "av.ply", Avatar(g, Rig(rng.integers(0, 55, (120, 4)),
                                                      np.full((120, 4), 0.25, np.float32)), "cli"))
    write_amass(Motion.from_full_pose(rng.normal(size=(6, 55, 3)) * 0.2, fps=30, up_axis="y"), tmp_path / "m.npz")
    assert main(["sequence", "bake", str(tmp_path / "av.ply"), "--motion", str(tmp_path / "m.npz"),
                 "-o", str(tmp_path / "baked"), "--step", "2", "-q"]) == 0
    seq = load_sequence(tmp_path / "baked")
    assert seq.num_frames == 3 and seq.fps == 15 and len(seq[0]) == 120
    assert main(["sequence", "bake", str(tmp_path / "av.ply"), "--motion", str(tmp_path / "m.npz"),
                 "-o", str(tmp_path / "baked.npz"), "-q"]) == 0
    assert load_sequence(tmp_path / "baked.npz").num_frames == 6
