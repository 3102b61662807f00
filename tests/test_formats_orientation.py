"""One orientation convention (y-up), the frame turns and their SH rotation, and the read-side
quirks of issue 19: non-finite splats, the f_rest order, clamps, content sniffing, SOG and glTF."""
from __future__ import annotations

import os

import numpy as np
import pytest
from plyfile import PlyData, PlyElement

from avatar_studio.core.errors import InputError, StudioError
from avatar_studio.core.gaussians import SH_C0, GaussianSet
from avatar_studio.core.rotations import quat_to_rotmat
from avatar_studio.core.io import formats
from avatar_studio.core.io.formats import lost_in_conversion, read_gaussians, sniff_path, write_gaussians
from avatar_studio.core.io.orientation import (FRAME_TO_STUDIO, X_TURN_SH_SIGNS, flip_upside_down, from_studio,
                                               sh_basis, sh_rotation, to_studio)
from avatar_studio.core.io.ply import gaussian_vertex_array, read_ply, write_ply
from support import random_gaussians


def covariances(g: GaussianSet) -> np.ndarray:
    m = quat_to_rotmat(g.quats).astype(np.float64) * g.scales[:, None, :]
    return m @ m.transpose(0, 2, 1)


def colour_seen(g: GaussianSet, dirs: np.ndarray) -> np.ndarray:
    """[N,3] SH colour of each Gaussian seen along its own unit direction dirs[i]."""
    basis = sh_basis(dirs, g.sh_degree)  # [N,K]
    return np.einsum("nk,nkc->nc", basis, g.sh.astype(np.float64))


# ---------------------------------------------------------------------- the turns
def test_x_turn_signs_match_the_general_sh_rotation():
    general = sh_rotation(FRAME_TO_STUDIO["rdf"], 3)
    np.testing.assert_allclose(general, np.diag(X_TURN_SH_SIGNS), atol=1e-9)


@pytest.mark.parametrize("frame", ["rdf", "z_up", "-z"])
def test_turned_gaussians_look_the_same_from_turned_directions(rng, frame):
    g = random_gaussians(200, rng, 3)
    rot = FRAME_TO_STUDIO[frame]
    t = to_studio(g, frame)
    np.testing.assert_allclose(t.means, g.means @ rot.T, atol=1e-6)
    np.testing.assert_allclose(covariances(t), rot @ covariances(g) @ rot.T, atol=1e-7)
    dirs = rng.normal(size=(200, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    np.testing.assert_allclose(colour_seen(t, dirs @ rot.T), colour_seen(g, dirs), atol=1e-5)
    # and a wrong (unrotated) SH would not pass that check
    wrong = GaussianSet(t.means, t.quats, t.scales, t.opacities, g.sh)
    assert np.abs(colour_seen(wrong, dirs @ rot.T) - colour_seen(g, dirs)).max() > 0.1
    back = from_studio(t, frame)
    np.testing.assert_allclose(back.sh, g.sh, atol=1e-5)
    np.testing.assert_allclose(back.means, g.means, atol=1e-6)


def test_flip_upside_down_is_its_own_inverse(rng):
    g = random_gaussians(50, rng, 2)
    f = flip_upside_down(g)
    np.testing.assert_allclose(f.means, g.means * [1, -1, -1], atol=1e-7)
    twice = flip_upside_down(f)
    for name in ("means", "scales", "opacities", "sh"):
        np.testing.assert_allclose(getattr(twice, name), getattr(g, name), atol=1e-6)
    assert np.abs(np.abs(np.sum(twice.quats * g.quats, 1)) - 1).max() < 1e-5


# ---------------------------------------------------------------------- PLY frames
def _plain_ply(path, g: GaussianSet, comments=()) -> None:
    """A PLY written by another tool: the values as given, no comments of ours."""
    PlyData([PlyElement.describe(gaussian_vertex_array(g), "vertex")], comments=list(comments)).write(str(path))


def test_plain_ply_scene_is_y_down_and_our_writer_says_so(tmp_path, rng):
    g = random_gaussians(30, rng, 1)
    _plain_ply(tmp_path / "scene.ply", g)
    studio = read_ply(tmp_path / "scene.ply")
    np.testing.assert_allclose(studio.means, g.means * [1, -1, -1], atol=1e-6)  # SuperSplat's reading
    np.testing.assert_allclose(read_ply(tmp_path / "scene.ply", up="y").means, g.means, atol=1e-6)
    write_ply(tmp_path / "ours.ply", studio)
    assert "avatar_studio frame rdf" in PlyData.read(str(tmp_path / "ours.ply")).comments
    np.testing.assert_allclose(PlyData.read(str(tmp_path / "ours.ply"))["vertex"]["y"], g.means[:, 1], atol=1e-6)
    np.testing.assert_allclose(read_ply(tmp_path / "ours.ply").means, studio.means, atol=1e-6)


def test_avatar_files_stay_y_up_and_round_trip(tmp_path, rng):
    from avatar_studio.core.avatar import Avatar, Rig
    from avatar_studio.core.io.avatar_file import read_avatar, write_avatar
    g = random_gaussians(40, rng, 1)
    rig = Rig(rng.integers(0, 20, (40, 2)).astype(np.int32), np.full((40, 2), 0.5, np.float32),
              np.zeros(10, np.float32), "neutral", "standin", None)
    write_avatar(tmp_path / "a.ply", Avatar(g, rig, "x"))
    ply = PlyData.read(str(tmp_path / "a.ply"))
    assert "avatar_studio frame y_up" in ply.comments
    np.testing.assert_allclose(ply["vertex"]["y"], g.means[:, 1], atol=1e-6)  # stored as the studio holds it
    back = read_avatar(tmp_path / "a.ply")
    np.testing.assert_allclose(back.gaussians.means, g.means, atol=1e-6)
    np.testing.assert_allclose(back.gaussians.sh, g.sh, atol=1e-6)
    # an avatar written before the frame comment existed is y-up too
    _plain_ply(tmp_path / "old.ply", g, ["avatar_studio format 1"])
    np.testing.assert_allclose(read_gaussians(tmp_path / "old.ply").means, g.means, atol=1e-6)


@pytest.mark.parametrize("fmt,ext", [("compressed_ply", ".compressed.ply"), ("splat", ".splat"), ("spz", ".spz"),
                                     ("sog", ".sog"), ("gltf", ".glb")])
def test_each_format_stores_its_own_frame(tmp_path, rng, fmt, ext):
    g = random_gaussians(64, rng, 0)
    path = write_gaussians(tmp_path / f"g{ext}", g)
    raw, frame = formats._decode_raw(fmt, path.read_bytes(), path.name)
    assert frame == formats.FILE_FRAME[fmt]
    expect = g.means * ([1, -1, -1] if frame == "rdf" else [1, 1, 1])
    order = np.argsort(raw.means[:, 0])
    assert np.abs(np.sort(expect[:, 0]) - raw.means[order, 0]).max() < 2e-3
    np.testing.assert_allclose(np.sort(expect[:, 1]), np.sort(raw.means[:, 1]), atol=2e-3)


# ---------------------------------------------------------------------- quirks
def test_non_finite_splats_dropped_with_a_note_or_refused(tmp_path, rng):
    g = random_gaussians(20, rng, 0)
    arr = gaussian_vertex_array(g)
    arr["x"][3] = np.nan
    arr["scale_1"][7] = np.inf
    PlyData([PlyElement.describe(arr, "vertex")]).write(str(tmp_path / "nan.ply"))
    notes: list[str] = []
    r = read_gaussians(tmp_path / "nan.ply", notes=notes)
    assert len(r) == 18
    assert notes == ["nan.ply: dropped 2 of 20 splats holding NaN or infinite values"]
    with pytest.raises(InputError, match=r"nan.ply: 2 of 20 splats hold NaN"):
        read_gaussians(tmp_path / "nan.ply", strict=True)


def test_cli_prints_the_note_and_strict_refuses(tmp_path, rng, capsys):
    from avatar_studio.cli.main import main
    arr = gaussian_vertex_array(random_gaussians(10, rng, 0))
    arr["opacity"][0] = np.nan
    PlyData([PlyElement.describe(arr, "vertex")]).write(str(tmp_path / "n.ply"))
    assert main(["convert", "-q", str(tmp_path / "n.ply"), str(tmp_path / "o.spz")]) == 0
    assert "note: n.ply: dropped 1 of 10 splats" in capsys.readouterr().err
    assert main(["convert", "--strict", str(tmp_path / "n.ply"), str(tmp_path / "o2.spz")]) == 2
    assert "1 of 10 splats hold NaN" in capsys.readouterr().err
    assert main(["info", str(tmp_path / "n.ply")]) == 0
    assert "note: n.ply: dropped 1" in capsys.readouterr().out


def test_f_rest_order_warned_and_chosen(tmp_path, rng):
    n, k = 300, 4
    base = rng.normal(size=(n, k - 1))  # view dependence mostly shared by R, G and B
    sh = np.zeros((n, k, 3), np.float32)
    sh[:, 1:] = base[:, :, None] + 0.05 * rng.normal(size=(n, k - 1, 3))
    g = GaussianSet(rng.normal(size=(n, 3)), np.tile([1.0, 0, 0, 0], (n, 1)), np.full((n, 3), 0.01),
                    np.full(n, 0.5), sh)
    arr = gaussian_vertex_array(g)
    coeff_major = sh[:, 1:].reshape(n, -1)  # R,G,B of coefficient 1, then of coefficient 2, ...
    for i in range(coeff_major.shape[1]):
        arr[f"f_rest_{i}"] = coeff_major[:, i]
    PlyData([PlyElement.describe(arr, "vertex")]).write(str(tmp_path / "lhm.ply"))
    notes: list[str] = []
    read_gaussians(tmp_path / "lhm.ply", notes=notes, up="y")
    assert len(notes) == 1 and "f_rest order cannot be known" in notes[0] and "--sh-order coeff" in notes[0]
    chosen = read_gaussians(tmp_path / "lhm.ply", sh_order="coeff", up="y")
    np.testing.assert_allclose(chosen.sh, g.sh, atol=1e-6)
    write_ply(tmp_path / "inria.ply", g)  # the INRIA order reads without a warning
    notes.clear()
    np.testing.assert_allclose(read_gaussians(tmp_path / "inria.ply", notes=notes).sh, g.sh, atol=1e-6)
    assert notes == []


def test_spz_tiny_scale_clamp_is_noted(rng):
    g = random_gaussians(10, rng, 0)
    g.scales[:3, 0] = 1e-6
    assert any("3 scale values below e^-10" in n for n in lost_in_conversion(g, "spz"))
    assert not any("scale values" in n for n in lost_in_conversion(random_gaussians(10, rng, 0), "spz"))


def test_sniffing_by_content(tmp_path, rng):
    g = random_gaussians(16, rng, 1)
    write_gaussians(tmp_path / "a.spz", g)
    (tmp_path / "a.spz").rename(tmp_path / "noext")
    write_gaussians(tmp_path / "c.compressed.ply", g)
    (tmp_path / "c.compressed.ply").rename(tmp_path / "c.ply")
    write_gaussians(tmp_path / "s.sog", g)
    write_gaussians(tmp_path / "folder" / "meta.json", g)
    write_gaussians(tmp_path / "m.glb", g)
    (tmp_path / "m.glb").rename(tmp_path / "m.bin")
    assert sniff_path(tmp_path / "noext") == "spz"
    assert sniff_path(tmp_path / "c.ply") == "compressed_ply"
    assert sniff_path(tmp_path / "s.sog") == "sog"
    assert sniff_path(tmp_path / "folder") == "sog" and sniff_path(tmp_path / "folder" / "meta.json") == "sog"
    assert sniff_path(tmp_path / "m.bin") == "gltf"
    from avatar_studio.core.info import describe
    assert "SuperSplat compressed PLY" in describe(tmp_path / "c.ply")
    assert "stored y down" in describe(tmp_path / "c.ply") and "stored y up" in describe(tmp_path / "noext")
    assert "Niantic .spz" in describe(tmp_path / "noext")
    assert "PlayCanvas SOG" in describe(tmp_path / "folder" / "meta.json")
    with pytest.raises(InputError, match="folder"):
        sniff_path(tmp_path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_is_refused_without_blocking(tmp_path):
    from avatar_studio.core.info import describe
    os.mkfifo(tmp_path / "pipe.ply")
    with pytest.raises(InputError, match="not a regular file"):
        sniff_path(tmp_path / "pipe.ply")
    with pytest.raises(InputError, match="not a regular file"):
        describe(tmp_path / "pipe.ply")
    with pytest.raises(InputError, match="not a regular file"):
        read_gaussians(tmp_path / "pipe.ply")


def test_animate_on_an_spz_says_it_has_no_rig(tmp_path, rng, capsys):
    from avatar_studio.cli.main import main
    write_gaussians(tmp_path / "s.spz", random_gaussians(8, rng, 0))
    assert main(["animate", str(tmp_path / "s.spz"), "--motion", str(tmp_path / "none.bvh"),
                 "-o", str(tmp_path / "o.mp4")]) == 2
    err = capsys.readouterr().err
    assert "Niantic .spz file: it holds Gaussians but no rig" in err and "decode" not in err


# ---------------------------------------------------------------------- SOG and glTF
@pytest.mark.parametrize("target", ["g.sog", "folder/meta.json"])
def test_sog_round_trip(tmp_path, rng, target):
    g = random_gaussians(500, rng, 2)
    write_gaussians(tmp_path / target, g)
    r = read_gaussians(tmp_path / target)
    assert len(r) == 500 and r.sh_degree == 2
    extent = np.log1p(np.abs(g.means)).max(0) * 2
    assert np.all(np.abs(r.means - g.means) <= extent / 65535 * (np.abs(g.means) + 1) * 1.01 + 1e-6)
    assert np.abs(r.opacities - g.opacities).max() <= 0.5 / 255 + 1e-6
    assert np.percentile(np.abs(np.log(r.scales / g.scales)), 99) < 0.05  # 256-entry codebook
    rgb_err = np.abs(r.sh[:, 0] - g.sh[:, 0]) * SH_C0
    assert np.percentile(rgb_err, 99) < 0.01
    rest_err = np.abs(r.sh[:, 1:] - g.sh[:, 1:])  # 500 splats: every SH vector is its own palette entry,
    assert np.median(rest_err) < 0.01 and np.percentile(rest_err, 99) < 0.05  # its values in a 256 codebook
    assert np.abs(np.abs(np.sum(r.quats * g.quats, 1)) - 1).max() < 2e-3


def test_gltf_round_trip_is_exact_and_node_transforms_apply(tmp_path, rng):
    g = random_gaussians(100, rng, 3)
    write_gaussians(tmp_path / "g.glb", g)
    r = read_gaussians(tmp_path / "g.glb")
    for name in ("means", "scales", "opacities", "sh"):
        np.testing.assert_allclose(getattr(r, name), getattr(g, name), atol=1e-6)
    from pygltflib import GLTF2
    gltf = GLTF2.load(str(tmp_path / "g.glb"))
    gltf.nodes[0].translation = [1.0, 2.0, 3.0]
    gltf.nodes[0].rotation = [0.0, 0.0, np.sin(np.pi / 4), np.cos(np.pi / 4)]  # 90° about z (x y z w)
    gltf.save(str(tmp_path / "moved.glb"))
    moved = read_gaussians(tmp_path / "moved.glb")
    rot = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1.0]])
    np.testing.assert_allclose(moved.means, g.means @ rot.T + [1, 2, 3], atol=1e-5)
    np.testing.assert_allclose(covariances(moved), rot @ covariances(g) @ rot.T, atol=1e-6)


def test_gltf_without_splats_is_refused(tmp_path):
    from pygltflib import GLTF2, Mesh, Node, Scene
    GLTF2(scenes=[Scene(nodes=[0])], nodes=[Node(mesh=0)], meshes=[Mesh(primitives=[])]).save(str(tmp_path / "m.glb"))
    with pytest.raises(StudioError, match="without KHR_gaussian_splatting"):
        read_gaussians(tmp_path / "m.glb")


def test_projects_keep_their_splats_the_right_way_up_old_and_new(tmp_path, rng, body):
    """Static splats in a project are written as a y-down scene PLY that names its frame; a project saved
    before PLYs named their frame held them y-up, and still opens that way."""
    import zipfile
    from avatar_studio.core.project import ProjectData, load_project, save_project
    from avatar_studio.core.scene import Scene, SplatsItem
    g = random_gaussians(30, rng, 1)
    scene = Scene(body)
    scene.add(SplatsItem("props", gaussians=g))
    save_project(tmp_path / "new.avsproj", scene, ProjectData())
    loaded, _ = load_project(tmp_path / "new.avsproj", Scene(body))
    np.testing.assert_allclose(loaded.items[0].gaussians.means, g.means, atol=1e-6)
    with zipfile.ZipFile(tmp_path / "new.avsproj") as zin, \
            zipfile.ZipFile(tmp_path / "old.avsproj", "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename.endswith("splats.ply"):
                _plain_ply(tmp_path / "old_splats.ply", g)  # the old writer: values as held, no frame comment
                data = (tmp_path / "old_splats.ply").read_bytes()
            zout.writestr(info, data)
    loaded, _ = load_project(tmp_path / "old.avsproj", Scene(body))
    np.testing.assert_allclose(loaded.items[0].gaussians.means, g.means, atol=1e-6)
    np.testing.assert_allclose(loaded.items[0].gaussians.sh, g.sh, atol=1e-6)


@pytest.mark.parametrize("ext", [".sog", ".glb"])
def test_damaged_sog_and_glb_raise_studio_errors_only(tmp_path, rng, ext):
    """Truncated or byte-flipped files give a StudioError, never another exception type."""
    write_gaussians(tmp_path / f"g{ext}", random_gaussians(200, rng, 2))
    data = (tmp_path / f"g{ext}").read_bytes()
    for t in range(150):
        d = bytearray(data)
        if t % 3 == 0:
            d = d[:int(rng.integers(0, len(d)))]
        else:
            for _ in range(int(rng.integers(1, 20))):
                d[int(rng.integers(0, len(d)))] = int(rng.integers(0, 256))
        try:
            formats.decode_gaussians(bytes(d), f"g{ext}")
        except StudioError:
            pass
