"""Rigged GLB export: the file read back with pygltflib and posed by a small glTF skinning of our
own (node TRS hierarchy, inverse bind matrices) must match our skinning; the Khronos validator
and Blender's importer (where installed) must accept it; the baked texture must look like the
Gaussians from the front and the back."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from avatar_studio import SAMPLE_MOTION
from avatar_studio.core.avatar import Avatar, Rig
from avatar_studio.core.export.glb import (KHR_SPLAT, SPLAT_OPACITY, SPLAT_ROTATION, SPLAT_SCALE, GlbOptions,
                                           build_glb, export_glb, render_textured_mesh)
from avatar_studio.core.render.base import Camera

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "tests" / "tools"
DANCE = SAMPLE_MOTION


# ---------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def avatar(body) -> Avatar:
    """Surfels on the stand-in body: warm stripes on the front, cool on the back, and a 'hair' cap
    4 cm off the head (so the mesh must move out to meet it)."""
    from avatar_studio.core.reconstruct.template.surface import (interpolate, mean_spacing, sample_surface,
                                                                 sparse_weights_at, surfels, vertex_normals)
    rng = np.random.default_rng(7)
    betas = np.array([1.2, -0.8, 0.5, 0.0, 0.3, 0, 0, 0, 0, 0], np.float32)  # not the mean shape
    verts, joints = body.shaped(betas)
    faces = body.faces
    n = 24000
    face_idx, bary = sample_surface(verts, faces, n, rng)
    pts = interpolate(verts, faces, face_idx, bary)
    nrm = interpolate(vertex_normals(verts, faces), faces, face_idx, bary)
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
    stripe = (np.floor(pts[:, 1] / 0.08) % 2)[:, None]
    front = np.where(stripe > 0, [0.85, 0.25, 0.2], [0.95, 0.8, 0.3])
    back = np.where(stripe > 0, [0.2, 0.3, 0.85], [0.3, 0.8, 0.9])
    rgb = np.where((nrm[:, 2] >= 0)[:, None], front, back)
    hair = pts[:, 1] > joints[15, 1] + 0.02  # above the head joint
    pts[hair] += 0.04 * nrm[hair]
    rgb[hair] = [0.25, 0.15, 0.08]
    total_area = 0.5 * np.linalg.norm(np.cross(verts[faces[:, 1]] - verts[faces[:, 0]],
                                               verts[faces[:, 2]] - verts[faces[:, 0]]), axis=1).sum()
    g = surfels(pts, nrm, rgb, 0.9 * mean_spacing(total_area, n))
    idx, w = sparse_weights_at(body.weights, faces, face_idx, bary)
    return Avatar(g, Rig(idx, w, betas=betas, body_model="standin"), name="stripes")


@pytest.fixture(scope="module")
def renderer():
    from avatar_studio.core.render.rendering import create_renderer
    r = create_renderer("cpu")
    yield r
    r.close()


@pytest.fixture(scope="module")
def motion(body):
    from avatar_studio.core.pipeline import load_motion_for_playback
    return load_motion_for_playback(DANCE, body)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, avatar, body, motion, renderer) -> Path:
    path = tmp_path_factory.mktemp("glb") / "stripes.glb"
    export_glb(path, avatar, body, motion, GlbOptions(start=0.5, end=2.0, fps=20, texture_size=512),
               renderer=renderer)
    return path


# ---------------------------------------------------------------------- a small glTF reader and skinning
def accessor_array(doc, blob: bytes, index: int) -> np.ndarray:
    """One accessor as a numpy array [count, width] (tightly packed views, as glTF writers do)."""
    acc = doc.accessors[index]
    view = doc.bufferViews[acc.bufferView]
    dtype = {5126: np.float32, 5125: np.uint32, 5123: np.uint16, 5121: np.uint8}[acc.componentType]
    width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}[acc.type]
    start = (view.byteOffset or 0) + (acc.byteOffset or 0)
    assert view.byteStride in (None, 0, width * np.dtype(dtype).itemsize)
    return np.frombuffer(blob, dtype, acc.count * width, start).reshape(acc.count, width)


def quat_xyzw_to_matrix(q: np.ndarray) -> np.ndarray:
    x, y, z, w = q / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def gltf_world_matrices(doc, blob: bytes, key: int) -> np.ndarray:
    """[nodes,4,4] world matrices with the first animation's channels applied at key `key`."""
    trs = {i: {"translation": np.array(n.translation or [0, 0, 0], float),
               "rotation": np.array(n.rotation or [0, 0, 0, 1], float),
               "scale": np.array(n.scale or [1, 1, 1], float)} for i, n in enumerate(doc.nodes)}
    anim = doc.animations[0]
    for ch in anim.channels:
        out = accessor_array(doc, blob, anim.samplers[ch.sampler].output)
        trs[ch.target.node][ch.target.path] = out[key].astype(float)
    parent = {c: i for i, n in enumerate(doc.nodes) for c in (n.children or [])}
    world: dict[int, np.ndarray] = {}

    def solve(i: int) -> np.ndarray:
        if i not in world:
            local = np.eye(4)
            local[:3, :3] = quat_xyzw_to_matrix(trs[i]["rotation"]) * trs[i]["scale"][None]
            local[:3, 3] = trs[i]["translation"]
            world[i] = solve(parent[i]) @ local if i in parent else local
        return world[i]

    return np.stack([solve(i) for i in range(len(doc.nodes))])


def gltf_skin_points(doc, blob: bytes, node: int, key: int) -> np.ndarray:
    """POSITION of `node`'s mesh skinned the glTF way: sum_k w_k jointWorld_k @ inverseBind_k @ x."""
    world = gltf_world_matrices(doc, blob, key)
    skin = doc.skins[doc.nodes[node].skin]
    ibm = accessor_array(doc, blob, skin.inverseBindMatrices).reshape(-1, 4, 4).transpose(0, 2, 1)
    joint_mats = world[skin.joints] @ ibm
    attrs = doc.meshes[doc.nodes[node].mesh].primitives[0].attributes
    pos = accessor_array(doc, blob, attrs.POSITION).astype(float)
    joints = accessor_array(doc, blob, attrs.JOINTS_0).astype(int)
    weights = accessor_array(doc, blob, attrs.WEIGHTS_0).astype(float)
    blended = np.einsum("nk,nkab->nab", weights, joint_mats[joints])
    return np.einsum("nab,nb->na", blended[:, :3, :3], pos) + blended[:, :3, 3]


def load(path: Path):
    import pygltflib
    doc = pygltflib.GLTF2().load_binary(str(path))
    return doc, doc.binary_blob()


# ---------------------------------------------------------------------- tests
def test_skin_and_motion_pose_like_our_skinning(exported, avatar, body, motion):
    doc, blob = load(exported)
    names = [n.name for n in doc.nodes]
    splat_node = names.index("gaussians")
    times = accessor_array(doc, blob, doc.animations[0].samplers[0].input)[:, 0]
    assert len(times) == 30 and times[0] == 0 and abs(times[1] - 0.05) < 1e-6  # 0.5..2.0 s at 20 fps
    assert len(doc.animations[0].channels) == 56  # 55 rotations + root translation
    skin = doc.skins[0]
    for key in (0, 13, len(times) - 1):
        full_pose, transl = motion.pose_at(0.5 + key / 20)
        ours_joints = body.joint_transforms(full_pose[None], avatar.rig.betas)[0][0].numpy() + transl
        world = gltf_world_matrices(doc, blob, key)
        theirs_joints = world[skin.joints][:, :3, 3]
        assert np.abs(theirs_joints - ours_joints).max() <= 1e-3, f"key {key}: joints differ"
        ours_points = avatar.posed(body, full_pose, transl).means
        theirs_points = gltf_skin_points(doc, blob, splat_node, key)
        err = np.linalg.norm(theirs_points - ours_points, axis=1)
        assert err.max() <= 1e-3, f"key {key}: splat centres differ by up to {err.max() * 1000:.2f} mm"
    # A posed frame really moves (the test is not comparing rest poses).
    assert np.abs(gltf_skin_points(doc, blob, splat_node, 13) - avatar.gaussians.means).max() > 0.05


def test_splat_attributes_hold_the_gaussians(exported, avatar):
    doc, blob = load(exported)
    prim = doc.meshes[doc.nodes[[n.name for n in doc.nodes].index("gaussians")].mesh].primitives[0]
    assert prim.mode == 0 and KHR_SPLAT in prim.extensions and KHR_SPLAT in doc.extensionsUsed
    attrs = prim.attributes.__dict__
    g = avatar.gaussians
    np.testing.assert_array_equal(accessor_array(doc, blob, attrs["POSITION"]), g.means)
    xyzw = accessor_array(doc, blob, attrs[SPLAT_ROTATION])
    np.testing.assert_array_equal(xyzw, np.concatenate([g.quats[:, 1:], g.quats[:, :1]], 1))
    np.testing.assert_array_equal(accessor_array(doc, blob, attrs[SPLAT_SCALE]), g.scales)
    np.testing.assert_array_equal(accessor_array(doc, blob, attrs[SPLAT_OPACITY])[:, 0], g.opacities)
    np.testing.assert_array_equal(accessor_array(doc, blob, attrs[f"{KHR_SPLAT}:SH_DEGREE_0_COEF_0"]), g.sh[:, 0])
    weights = accessor_array(doc, blob, attrs["WEIGHTS_0"]).astype(np.float64)
    assert np.abs(weights.sum(1) - 1).max() < 1e-6


def _validate(path: Path) -> dict:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the Khronos glTF validator (npm gltf-validator) cannot run")
    if not (TOOLS / "node_modules" / "gltf-validator").is_dir():
        pytest.skip("gltf-validator is not installed: run `npm install` in tests/tools")
    run = subprocess.run([node, str(TOOLS / "validate_gltf.cjs"), str(path)], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_khronos_validator_accepts_the_file(exported, avatar, body, renderer, tmp_path):
    report = _validate(exported)
    issues = report["issues"]
    errors = [m for m in issues["messages"] if m["severity"] == 0]
    # The validator (gltf-validator 2.0.0-dev.3.10, the newest on npm) predates KHR_gaussian_splatting
    # and calls the extension's own attribute names invalid; nothing else may be an error.
    khr_names = [m for m in errors if m["code"] == "MESH_PRIMITIVE_INVALID_ATTRIBUTE"
                 and m["pointer"].split("/")[-1].startswith(f"{KHR_SPLAT}:")]
    assert errors == khr_names, errors[:5]
    assert issues["numWarnings"] == 0, [m for m in issues["messages"] if m["severity"] == 1][:5]
    info = report["info"]
    assert info["hasSkins"] and info["hasTextures"] and info["animationCount"] == 1 and info["maxInfluences"] == 4
    # Without the splats the file is plain glTF 2.0: no errors at all.
    mesh_only = tmp_path / "mesh_only.glb"
    export_glb(mesh_only, avatar, body, None, GlbOptions(splats=False, texture_size=256), renderer=renderer)
    clean = _validate(mesh_only)["issues"]
    assert clean["numErrors"] == 0 and clean["numWarnings"] == 0, clean["messages"][:5]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / max(np.mean((a - b) ** 2), 1e-12)))


def test_baked_texture_matches_the_gaussians_front_and_back(avatar, body, renderer):
    _, summary = build_glb(avatar, body, None, renderer, GlbOptions(splats=False, texture_size=1024))
    mesh = summary["mesh"]
    assert set(np.unique(mesh.face_view)) == set(range(6))  # front, back, sides, top and bottom are used
    lo, hi = avatar.gaussians.bounds()
    for az in (20.0, 200.0):  # not the bake views: the check sees the texture interpolated at an angle
        cam = Camera.framing(lo, hi, az, 8.0, 35.0, 256, 256)
        splats = renderer.render(avatar.gaussians, cam, background=(1.0, 1.0, 1.0))
        img, hit = render_textured_mesh(mesh, mesh.positions, cam)
        covered = np.asarray(splats.alpha) > 0.5
        both = hit & covered
        # Splat footprints reach ~1 cm past the surface at the silhouette; the mesh stays inside them.
        assert both.sum() / (hit | covered).sum() > 0.8, "mesh silhouette far from the splats'"
        assert (hit & ~covered).sum() < 0.02 * hit.sum()
        value = psnr(img[both], np.asarray(splats.color)[both])
        assert value > 20.0, f"azimuth {az}: baked texture PSNR {value:.1f} dB"
        # The view shows its own side's colours: warm in front, cool behind.
        mean = img[both].mean(0)
        assert (mean[0] > mean[2]) == (az < 90), f"azimuth {az}: the wrong side's texels ({mean})"


def test_hair_pushes_the_surface_out(avatar, body, renderer):
    _, summary = build_glb(avatar, body, None, renderer, GlbOptions(splats=False, texture_size=256))
    mesh = summary["mesh"]
    rest, joints = body.shaped(avatar.rig.betas)
    moved = np.linalg.norm(mesh.positions - rest[mesh.source_vertex], axis=1)
    head = rest[mesh.source_vertex][:, 1] > joints[15, 1] + 0.06
    torso = np.abs(rest[mesh.source_vertex][:, 1] - joints[3, 1]) < 0.05
    assert np.median(moved[head]) > 0.025 and np.median(moved[torso]) < 0.01


def test_cli_writes_a_glb_and_refuses_bad_requests(tmp_path, avatar, capsys):
    from avatar_studio.cli.main import main
    from avatar_studio.core.io.avatar_file import write_avatar
    src = write_avatar(tmp_path / "a.ply", avatar)
    out = tmp_path / "a.glb"
    assert main(["glb", str(src), "-o", str(out), "--motion", str(DANCE), "--end", "0.5", "--no-mesh", "-q"]) == 0
    doc, _ = load(out)
    assert [m.name for m in doc.meshes] == ["gaussians"] and len(doc.animations) == 1
    assert main(["glb", str(src), "-o", str(tmp_path / "a.ply")]) == 2
    assert main(["glb", str(src), "-o", str(out), "--no-mesh", "--no-splats"]) == 2
    assert main(["glb", str(src), "-o", str(out), "--end", "1"]) == 2
    assert main(["glb", str(src), "-o", str(out), "--texture-size", "1000"]) == 2
    err = capsys.readouterr().err
    assert err.count("error: ") == 4 and "power of two" in err


def test_rasterizer_keeps_the_nearest_face_in_any_chunking():
    from avatar_studio.core.export.glb import rasterize_mesh
    # Two squares (two triangles each) overlapping in x 4..8: the nearer (z = 1) must win there.
    uvz = np.array([[0, 0, 2], [8, 0, 2], [8, 8, 2], [0, 8, 2], [4, 0, 1], [12, 0, 1], [12, 8, 1], [4, 8, 1]], float)
    faces = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7]])
    face_id, bary = rasterize_mesh(uvz, faces, 16, 10)
    assert (face_id[:8, :4] < 2).all() and (face_id[:8, 4:12] >= 2).all() and (face_id[8:] == -1).all()
    assert (face_id[:, 12:] == -1).all()
    np.testing.assert_allclose(bary[face_id >= 0].sum(1), 1.0, atol=1e-6)
    rng = np.random.default_rng(0)
    uvz = np.concatenate([rng.uniform(0, 300, (500, 2)), rng.uniform(1, 5, (500, 1))], 1)
    faces = rng.integers(0, 500, (800, 3))
    whole = rasterize_mesh(uvz, faces, 256, 200, chunk_pixels=10 ** 9)
    for chunk in (1, 5000):
        part = rasterize_mesh(uvz, faces, 256, 200, chunk_pixels=chunk)
        np.testing.assert_array_equal(part[0], whole[0])
        np.testing.assert_array_equal(part[1], whole[1])


def test_higher_sh_bands_and_a_real_smplx_layout_with_hand_means(random_smplx_dir, motion):
    """SH bands 1..2 land in SH_DEGREE_l_COEF_n; a body whose hands are not flat (hand means added)
    still poses in glTF exactly as in our skinning."""
    from avatar_studio.core.body.model import BodyModel
    from avatar_studio.core.gaussians import GaussianSet
    body = BodyModel(random_smplx_dir, flat_hand_mean=False)
    rng = np.random.default_rng(5)
    v, _ = body.shaped()
    pick = rng.integers(0, len(v), 500)
    g = GaussianSet(v[pick], np.tile([1.0, 0, 0, 0], (500, 1)), np.full((500, 3), 0.01), np.full(500, 0.8),
                    rng.normal(size=(500, 9, 3)).astype(np.float32) * 0.3)
    from avatar_studio.core.skinning import dense_to_sparse_weights
    idx, w = dense_to_sparse_weights(body.weights[pick], 4)
    av = Avatar(g, Rig(idx, w, betas=rng.normal(size=10) * 0.5, body_model="smplx"))
    data, _ = build_glb(av, body, motion.frames(slice(0, 8)), None, GlbOptions(mesh=False))
    import pygltflib
    doc = pygltflib.GLTF2.load_from_bytes(data)
    blob = doc.binary_blob()
    attrs = doc.meshes[0].primitives[0].attributes.__dict__
    for degree, n in ((1, 0), (1, 2), (2, 4)):
        np.testing.assert_array_equal(accessor_array(doc, blob, attrs[f"{KHR_SPLAT}:SH_DEGREE_{degree}_COEF_{n}"]),
                                      g.sh[:, degree * degree + n])
    assert f"{KHR_SPLAT}:SH_DEGREE_3_COEF_0" not in attrs
    node = [n.name for n in doc.nodes].index("gaussians")
    for key in (0, 7):
        full_pose, transl = motion.pose_at(key / motion.fps)
        err = np.abs(gltf_skin_points(doc, blob, node, key) - av.posed(body, full_pose, transl).means).max()
        assert err <= 1e-3, f"key {key}: {err * 1000:.2f} mm"


def test_blender_imports_the_rig_and_motion(exported, avatar, body, motion):
    """Blender's own glTF importer (where Blender is installed) builds the 55-bone armature, skins
    both meshes and plays the motion with bone heads on our joints."""
    from avatar_studio.core.export.glb import smplx_joint_names
    blender = shutil.which("blender")
    if blender is None:
        pytest.skip("Blender is not installed (apt-get install blender): its glTF importer cannot run")
    frames = [0, 13, 29]  # the export holds 0.5..2.0 s at 20 keys a second
    run = subprocess.run([blender, "-b", "--factory-startup", "--python", str(TOOLS / "blender_pose_glb.py"), "--",
                          str(exported), "20", *map(str, frames)], capture_output=True, text=True, timeout=600)
    line = next((ln for ln in run.stdout.splitlines() if ln.startswith("BLENDER_JSON ")), None)
    assert line is not None, (run.stderr or run.stdout)[-800:]
    got = json.loads(line.split(" ", 1)[1])
    assert sorted(got["bones"]) == sorted(smplx_joint_names())
    assert sorted(got["skinned"]) == ["body", "gaussians"] and got["materials"] == ["baked"]
    assert got["frame_range"] == [0.0, 29.0]
    for frame in frames:
        full_pose, transl = motion.pose_at(0.5 + frame / 20)
        ours = body.joint_transforms(full_pose[None], avatar.rig.betas)[0][0].numpy() + transl
        theirs = np.array([got["poses"][str(frame)][n] for n in smplx_joint_names()])
        assert np.abs(theirs - ours).max() <= 1e-3, f"frame {frame}"
