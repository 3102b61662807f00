"""core/export/requests.py: an export request runs on a scene without Qt (the window, scripts and the CLI
share it); impossible requests are refused in words before any work; a cancel leaves no file behind."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avatar_studio.core.errors import CancelledError, InputError
from avatar_studio.core.export.requests import ExportRequest, check_export, export_scene_glb, run_export
from support import random_gaussians


@pytest.fixture
def scene(body, rng):
    from avatar_studio.core.avatar import Avatar, Rig
    from avatar_studio.core.scene import AvatarItem, Scene, SplatsItem
    from support.motion import smooth_motion
    n = 300
    idx = rng.integers(0, 22, (n, 4)).astype(np.int32)
    w = rng.uniform(0.1, 1.0, (n, 4)).astype(np.float32)
    g = random_gaussians(n, rng)
    g = g.replace(means=(g.means * 0.3 + np.array([0.0, 1.0, 0.0])).astype(np.float32))
    s = Scene(body)
    s.add(AvatarItem(name="dancer", avatar=Avatar(g, Rig(idx, w / w.sum(1, keepdims=True)), "dancer"),
                    motion=smooth_motion(12)))
    s.add(SplatsItem(name="dots", gaussians=random_gaussians(40, rng)), select=False)
    return s


def test_ply_requests(scene, tmp_path):
    from avatar_studio.core.io.avatar_file import read_avatar
    from avatar_studio.core.open import classify
    out = run_export(ExportRequest("ply", tmp_path / "avatar", ply_mode="canonical"), scene)
    assert out == tmp_path / "avatar.ply" and len(read_avatar(out).gaussians) == 300
    stages = []
    out = run_export(ExportRequest("ply", tmp_path / "posed.spz", ply_mode="frame", whole_scene=True), scene,
                     progress=lambda stage, f: stages.append(stage))
    assert classify(out).format == "spz" and stages == ["posing"]
    out = run_export(ExportRequest("ply", tmp_path / "frames.ply", ply_mode="range", start_frame=2, end_frame=4), scene)
    assert out == tmp_path / "frames" and sorted(p.name for p in out.iterdir()) == [
        "frame0001.ply", "frame0002.ply", "frame0003.ply", "manifest.json"]  # the shared frame-folder writer
    assert classify(out).kind == "sequence"


def test_video_request_writes_png_frames(scene, tmp_path):
    from avatar_studio.core.io.images import read_picture
    req = ExportRequest("video", tmp_path / "clip", fmt="png", width=48, height=48, fps=10, start_frame=0,
                        end_frame=5, background=(1.0, 1.0, 1.0), renderer="gl")
    out = run_export(req, scene)
    frames = sorted(Path(out).glob("*.png"))
    assert len(frames) >= 2
    pixels = read_picture(frames[0])
    assert pixels.shape[:2] == (48, 48) and (pixels[..., :3] < 250).any()  # something drawn on white


def test_refusals_and_cancel(scene, body, tmp_path):
    from avatar_studio.core.scene import Scene
    with pytest.raises(InputError, match="Nothing to export"):
        check_export(ExportRequest("ply", tmp_path / "x.ply"), Scene(body))
    with pytest.raises(InputError, match="choose one of mp4"):
        check_export(ExportRequest("video", tmp_path / "x.avi", fmt="avi"), scene)
    splats_only = Scene(body)
    splats_only.add(scene.items[1])
    with pytest.raises(InputError, match="no avatar to export"):
        run_export(ExportRequest("ply", tmp_path / "x.ply", ply_mode="canonical"), splats_only)

    from avatar_studio.core.jobs import CancelToken
    token = CancelToken()
    token.cancel()
    with pytest.raises(CancelledError):
        run_export(ExportRequest("ply", tmp_path / "cut", ply_mode="range", start_frame=0, end_frame=3), scene,
                   cancel=token)
    assert not (tmp_path / "cut").exists() and list(tmp_path.iterdir()) == []


def test_glb(scene, tmp_path):
    out = export_scene_glb(tmp_path / "dancer", scene, renderer="gl")
    assert out == tmp_path / "dancer.glb" and out.read_bytes()[:4] == b"glTF"
