"""Video export through real ffmpeg: MP4, WebM with alpha, GIF, PNG sequences; cancel leaves nothing."""
import imageio.v3 as iio
import numpy as np
import pytest

from avatar_studio.core.errors import CancelledError, InputError
from avatar_studio.core.export.video import VideoOptions, write_video
from avatar_studio.core.reconstruct.base import CancelToken


def moving_square(i, w=96, h=64, alpha=False):
    img = np.full((h, w, 4 if alpha else 3), 255, np.uint8)
    x = 4 + 6 * i
    img[20:40, x:x + 16, :3] = (200, 30, 30)
    if alpha:
        img[..., 3] = 0
        img[20:40, x:x + 16, 3] = 255
    return img


def test_mp4_h264(tmp_path):
    out = write_video(tmp_path / "a.mp4", moving_square, 10, VideoOptions(fps=20))
    import imageio.v2 as iio2
    reader = iio2.get_reader(str(out))
    meta = reader.get_meta_data()
    frames = [f for f in reader]
    reader.close()
    assert len(frames) == 10 and meta["fps"] == pytest.approx(20)
    assert "h264" in meta.get("codec", "h264")
    # The red square moved to the right.
    def cx(f):
        red = (f[..., 0] > 150) & (f[..., 1] < 100)
        return np.nonzero(red)[1].mean()
    assert cx(frames[-1]) - cx(frames[0]) > 40


def test_odd_size_mp4_is_padded(tmp_path):
    out = write_video(tmp_path / "odd.mp4", lambda i: moving_square(i, 95, 63), 3)
    assert out.stat().st_size > 0


def test_webm_keeps_alpha(tmp_path):
    import imageio.v2 as iio2
    out = write_video(tmp_path / "a.webm", lambda i: moving_square(i, alpha=True), 5)
    assert out.stat().st_size > 0
    r = iio2.get_reader(str(out))
    assert r.get_meta_data()["codec"].startswith("vp9")
    r.close()


def test_gif_and_png_sequence(tmp_path):
    gif = write_video(tmp_path / "a.gif", moving_square, 6, VideoOptions(fps=10))
    assert iio.imread(gif, index=None).shape[0] == 6
    folder = write_video(tmp_path / "frames", lambda i: moving_square(i, alpha=True), 4)
    files = sorted(folder.iterdir())
    assert [f.name for f in files] == [f"frame{i:04d}.png" for i in range(1, 5)]
    assert iio.imread(files[0]).shape == (64, 96, 4)


@pytest.mark.parametrize("name", ["c.mp4", "c.gif", "frames_dir"])
def test_cancel_leaves_no_partial_file(tmp_path, name):
    token = CancelToken()

    def source(i):
        if i == 3:
            token.cancel()
        return moving_square(i)

    with pytest.raises(CancelledError):
        write_video(tmp_path / name, source, 10, cancel=token)
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments(tmp_path):
    with pytest.raises(InputError):
        write_video(tmp_path / "a.avi", moving_square, 3)
    with pytest.raises(InputError):
        write_video(tmp_path / "a.mp4", moving_square, 0)
