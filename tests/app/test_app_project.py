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
from avatar_studio.core.scene import AvatarItem, Placement, Scene, SplatsItem
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
    a = s.add(AvatarItem("alice", avatar=avatar, motion=motion, placement=placement))
    s.add(SplatsItem("props", gaussians=random_gaussians(50, rng), visible=False))
    s.select(a)
    s.set_time(0.25)
    return s


def test_round_trip(scene, body, tmp_path):
    path = tmp_path / "p.avsproj"
    cam = {"target": [0, 1, 0], "distance": 3.0, "azimuth": 10.0, "elevation": 5.0, "fov_y": 35.0}
    scene.items[0].keys = {18: [3]}
    save_project(path, scene, ProjectData(camera=cam, extra={"trim": [2, 9]}, item_extra=[{"note": 1}, {}]))
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
    assert data.item_extra[0] == {"note": 1} and a.keys == {18: [3]}


def test_key_markers_of_older_projects_are_read_from_the_item_extra(scene, body, tmp_path):
    """Projects written before key markers lived on the item kept them in the window's per-item extra."""
    path = save_project(tmp_path / "old.avsproj", scene, ProjectData(item_extra=[{"keys": {"18": [5, 3]}}, {}]))
    loaded, _ = load_project(path, Scene(body))
    assert loaded.items[0].keys == {18: [3, 5]}


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
    monkeypatch.setattr(amass, "write_amass", boom)
    with pytest.raises(RuntimeError):
        save_project(path, scene)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.avsproj"]


@pytest.mark.parametrize("fmt", ["npz", "ply_folder", "single_ply"])
def test_every_item_kind_round_trips_with_its_sequence_source(scene, body, rng, tmp_path, fmt):
    """Avatar, splats and a sequence opened from an L4GM .npz, a PLY folder or one PLY frame: a saved
    project reopens each as the same kind, the sequence from the very file or folder it came from."""
    from avatar_studio.core.gaussians import GaussianSet
    from avatar_studio.core.scene import SequenceItem
    from avatar_studio.core.sequence import GaussianSequence, MemorySource, export_sequence, load_sequence
    frames = [random_gaussians(30, rng) for _ in range(1 if fmt == "single_ply" else 4)]
    made = export_sequence(GaussianSequence(MemorySource(frames), fps=12), tmp_path / ("seq.npz" if fmt == "npz"
                           else "seq"), "npz" if fmt == "npz" else "ply_folder")
    source = next(made.glob("*.ply")) if fmt == "single_ply" else made
    seq = load_sequence(source)
    scene.add(SequenceItem("clip", seq, placement=Placement(np.array([0, 0, -1], np.float32), 90, 2.0)))
    path = save_project(tmp_path / "p.avsproj", scene)
    loaded, data = load_project(path, Scene(body))
    assert data.warnings == []
    assert [(i.kind, i.name) for i in loaded.items] == [("avatar", "alice"), ("splats", "props"), ("sequence", "clip")]
    clip = loaded.items[2]
    assert isinstance(clip, SequenceItem) and clip.sequence.origin == str(source.resolve())
    assert clip.sequence.num_frames == len(frames) and clip.sequence.fps == pytest.approx(12 if fmt != "single_ply"
                                                                                          else seq.fps)
    assert clip.placement.yaw_deg == 90 and clip.placement.scale == 2.0
    last = len(frames) - 1
    g: GaussianSet = clip.sequence[last]
    np.testing.assert_allclose(g.means, seq[last].means, atol=1e-6)
    assert clip.frame_at(10.0) == last and clip.duration == pytest.approx(seq.duration)
