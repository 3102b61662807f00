"""End to end: `avatar-studio demo` on the embedded defaults writes a valid avatar PLY and an MP4
of at least 3 s in which the figure visibly moves."""
import imageio.v2 as iio
import numpy as np

from avatar_studio.cli.main import main
from avatar_studio.core.io.avatar_file import read_avatar


def test_demo_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--size", "256", "--renderer", "gl"]) == 0
    avatar = read_avatar(out / "avatar.ply")
    assert len(avatar.gaussians) > 10_000
    reader = iio.get_reader(str(out / "demo.mp4"))
    fps = reader.get_meta_data()["fps"]
    frames = np.stack([f for f in reader])
    reader.close()
    assert frames.shape[0] / fps >= 3.0
    # A figure is there: a good share of pixels differ from the white background.
    figure = (frames.astype(int).sum(-1) < 700)
    assert 0.02 < figure.mean() < 0.6
    # It moves: silhouettes differ between frames far apart in time.
    changed = (figure[0] ^ figure[frames.shape[0] // 2]).mean()
    assert changed > 0.005
    assert (out / "demo_frame.png").is_file()
