"""Motion capture input: video files and picture folders, trimming, stride, and clear errors."""
import os

import imageio.v2 as iio
import numpy as np
import pytest
from PIL import Image

from avatar_studio.core.errors import InputError
from avatar_studio.core.mocap import video as V


def grey_level_video(path, n=45, fps=30, size=(160, 120)):
    """Frame k is a flat grey of level 40 + 4k, so decoded frames tell their own index."""
    w = iio.get_writer(str(path), fps=fps, codec="libx264", macro_block_size=1, ffmpeg_log_level="error",
                       output_params=["-crf", "10"])
    for k in range(n):
        w.append_data(np.full((size[1], size[0], 3), 40 + 4 * k, np.uint8))
    w.close()
    return path


def level(frame):
    return int(round((frame[frame.shape[0] // 2, frame.shape[1] // 2].mean() - 40) / 4))


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return grey_level_video(tmp_path_factory.mktemp("video") / "count.mp4")


def test_probe_and_read_all(clip):
    info = V.probe(clip)
    assert (info.width, info.height, info.fps, info.num_frames) == (160, 120, 30.0, 45)
    got = list(V.iter_frames(info, V.frame_selection(info)))
    assert [k for k, _ in got] == list(range(45))
    assert all(level(f) == k for k, f in got)
    assert got[0][1].shape == (120, 160, 3) and got[0][1].dtype == np.uint8


@pytest.mark.parametrize("start,end,stride", [(0.5, None, 1), (0.2, 1.0, 3), (1.4, None, 2)])
def test_trim_and_stride(clip, start, end, stride):
    info = V.probe(clip)
    sel = V.frame_selection(info, start, end, stride)
    got = list(V.iter_frames(info, sel))
    first = int(np.ceil(start * 30 - 1e-6))
    stop = 45 if end is None else int(np.ceil(end * 30 - 1e-6))
    assert [k for k, _ in got] == list(range(first, stop, stride))
    assert all(level(f) == k for k, f in got)
    assert sel.count(info.num_frames) == len(got)


def test_downscale_and_random_access(clip):
    info = V.probe(clip)
    assert V.working_size(info, 80) == (80, 60)
    frames = V.read_frames(clip, [30, 3], max_side=80)
    assert [f.shape for f in frames] == [(60, 80, 3)] * 2
    assert [level(f) for f in frames] == [30, 3]


def test_bad_ranges(clip):
    info = V.probe(clip)
    with pytest.raises(InputError, match="stride"):
        V.frame_selection(info, stride=0)
    with pytest.raises(InputError, match="after the start"):
        V.frame_selection(info, 1.0, 0.5)
    with pytest.raises(InputError, match="past the end"):
        V.frame_selection(info, 10.0)


def test_image_folder(tmp_path):
    for k in range(5):
        Image.fromarray(np.full((48, 64, 3), 40 + 4 * k, np.uint8)).save(tmp_path / f"f{k + 1}.png")
    (tmp_path / "notes.txt").write_text("not a frame")
    info = V.probe(tmp_path)
    assert info.is_folder and info.num_frames == 5 and info.fps == 30.0
    assert V.probe(tmp_path, fps=12).fps == 12
    got = list(V.iter_frames(info, V.frame_selection(info, stride=2)))
    assert [k for k, _ in got] == [0, 2, 4] and [level(f) for _, f in got] == [0, 2, 4]
    Image.fromarray(np.zeros((40, 64, 3), np.uint8)).save(tmp_path / "f6.png")
    with pytest.raises(InputError, match="one size"):
        list(V.iter_frames(V.probe(tmp_path), V.frame_selection(V.probe(tmp_path))))


def test_empty_folder(tmp_path):
    with pytest.raises(InputError, match="no pictures"):
        V.probe(tmp_path)


def test_corrupt_files_raise_input_error(tmp_path, clip):
    bad = tmp_path / "noise.mp4"
    bad.write_bytes(os.urandom(4000))
    with pytest.raises(InputError, match="not a readable video"):
        V.probe(bad)
    empty = tmp_path / "empty.mov"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        V.probe(empty)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])   # moov atom lost
    with pytest.raises(InputError, match="not a readable video"):
        V.probe(cut)
    with pytest.raises(InputError, match="not found"):
        V.probe(tmp_path / "missing.mp4")
    text = tmp_path / "clip.txt"
    text.write_text("hello")
    with pytest.raises(InputError, match="not a supported video"):
        V.probe(text)
