"""core/project.py (Qt-free): a scene round-trips through one .avsproj file; damaged files give a
readable InputError; writes are atomic."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from avatar_studio.core.avatar import Avatar, Rig
from avatar_studio.core.errors import InputError
from avatar_studio.core.motion.motion import Motion
from avatar_studio.core.project import FORMAT_ID, ProjectData, load_project, save_project
from avatar_studio.core.scene import Placement, Scene, SceneItem
from avatar_studio.core.skinning import dense_to_sparse_weights
from support import random_gaussians


@pytest.fixture
def scene(body, rng):
    v, _ = body.shaped()
    sel = rng.choice(body.num_vertices, 200, replace=False)
    idx, w = dense_to_sparse_weights(body.weights[sel], 4)
    avatar = Avatar(random_gaussians(200, rng).replace(means=v[sel]), Rig(idx, w, np.arange(10) * 0.1), "alice")
    fp = np.zeros((12, 55, 3), np.float32)
    fp[:, 18, 1] = np.linspace(0, 1, 12)
    motion = Motion.from_full_pose(fp, np.linspace([0, 0, 0], [1, 0, 0], 12), fps=24, name="reach")
    s = Scene(body)
    placement = Placement(np.array([1, 0, 2], np.float32), 30, 1.0)
    a = s.add(SceneItem("alice", avatar=avatar, motion=motion, placement=placement))
    s.add(SceneItem("props", gaussians=random_gaussians(50, rng), visible=False))
    s.select(a)
    s.set_time(0.25)
    return s


def test_round_trip(scene, body, tmp_path):
    path = tmp_path / "p.avsproj"
    cam = {"target": [0, 1, 0], "distance": 3.0, "azimuth": 10.0, "elevation": 5.0, "fov_y": 35.0}
    save_project(path, scene, ProjectData(camera=cam, extra={"trim": [2, 9]}, item_extra=[{"keys": {"18": [3]}}, {}]))
    loaded, data = load_project(path, Scene(body))
    assert [i.name for i in loaded.items] == ["alice", "props"]
    a, b = loaded.items
    assert loaded.selected is a and loaded.time == pytest.approx(0.25)
    src = scene.items[0]
    assert np.allclose(a.avatar.gaussians.means, src.avatar.gaussians.means, atol=1e-6)
    assert np.array_equal(a.avatar.rig.skin_indices, src.avatar.rig.skin_indices)
    assert np.allclose(a.avatar.rig.betas, src.avatar.rig.betas)
    assert np.allclose(a.motion.full_pose(), src.motion.full_pose(), atol=1e-6)
    assert a.motion.fps == 24 and a.motion.name == "reach"
    assert np.allclose(a.placement.translation, [1, 0, 2]) and a.placement.yaw_deg == 30
    assert b.kind == "splats" and not b.visible and len(b.gaussians) == 50
    assert data.camera == cam and data.extra == {"trim": [2, 9]}
    assert data.item_extra[0] == {"keys": {"18": [3]}}


def test_damaged_projects_raise_readable_errors(scene, tmp_path):
    bad = tmp_path / "bad.avsproj"
    bad.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not an Avatar Studio project"):
        load_project(bad)
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("project.json", "{broken")
    with pytest.raises(InputError, match="not valid JSON"):
        load_project(bad)
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("project.json", json.dumps({"format": FORMAT_ID, "version": 1,
                                                "items": [{"name": "x", "avatar": "items/0/avatar.ply"}]}))
    with pytest.raises(InputError, match="missing"):
        load_project(bad)
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("project.json", json.dumps({"format": FORMAT_ID, "version": 99}))
    with pytest.raises(InputError, match="newer"):
        load_project(bad)
    with pytest.raises(InputError, match="not found"):
        load_project(tmp_path / "missing.avsproj")


def test_save_is_atomic(scene, tmp_path, monkeypatch):
    path = tmp_path / "p.avsproj"
    save_project(path, scene)
    before = path.read_bytes()

    def boom(*a, **k):
        raise RuntimeError("disk full")
    from avatar_studio.core.motion import amass
    monkeypatch.setattr(amass, "write_amass", boom)  # the project writes each motion with it
    with pytest.raises(RuntimeError):
        save_project(path, scene)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.avsproj"]
