"""Rigged GLB export: the avatar as one binary glTF 2.0 file that Blender, Unity (glTFast) and
three.js open with its skeleton and motion.

The file holds, on one skin over the 55-joint SMPL-X hierarchy:
  - a textured triangle mesh: the body template's rest surface (at the avatar's betas) pushed out
    along its normals to where the Gaussians sit (clothing, hair), with a texture atlas baked from
    Gaussian renders (front, back, sides, top, bottom: every face takes the view that sees it best);
  - the Gaussians as a `KHR_gaussian_splatting` POINTS primitive (SPECS §4.3 attribute names);
  - the motion as an animation: one rotation channel per joint and the root's translation, one key
    per output frame (LINEAR; glTF slerps rotations).
glTF skinning is x' = sum_k w_k (jointWorld_k @ inverseBind_k) x: with rest rotations identity and
inverse binds [I, -J_rest], jointWorld @ inverseBind is exactly `forward_kinematics`'s transform.
pygltflib holds the container; what is written here is only ours (baking, skin data, channels).
"""
from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..avatar import Avatar
from ..body.joints import SMPLX_JOINT_NAMES, SMPLX_PARENTS
from ..body.model import BodyModel
from ..errors import InputError
from ..gaussians import GaussianSet, sh0_to_rgb
from ..jobs import Progress
from ..motion.motion import Motion
from ..render.base import Camera, Renderer
from ..skinning import dense_to_sparse_weights


KHR_SPLAT = "KHR_gaussian_splatting"
KHR_UNLIT = "KHR_materials_unlit"
SPLAT_ROTATION = f"{KHR_SPLAT}:ROTATION"
SPLAT_SCALE = f"{KHR_SPLAT}:SCALE"
SPLAT_OPACITY = f"{KHR_SPLAT}:OPACITY"

# Offsets the mesh may take from the body surface along its normal (metres): a little inward for a
# body template wider than the person, far out for hair and loose clothes.
MIN_OFFSET, MAX_OFFSET = -0.04, 0.30
# Gaussians fainter than this do not push the surface out (stray, transparent fringe).
SURFACE_OPACITY = 0.35
# Views the atlas is baked from and where each lands in it: (azimuth, elevation) in degrees
# (0 = the avatar's front, +Z) and (left, top, width, height) in atlas fractions. Front and back
# get a quarter each; the narrow sides portrait tiles; top and bottom (shoulders, the tops of
# T-posed arms, the crown, soles) landscape ones.
BAKE_VIEWS = (
    ((0.0, 0.0), (0.0, 0.0, 0.5, 0.5)), ((180.0, 0.0), (0.5, 0.0, 0.5, 0.5)),
    ((90.0, 0.0), (0.0, 0.5, 0.25, 0.5)), ((-90.0, 0.0), (0.25, 0.5, 0.25, 0.5)),
    ((0.0, 89.0), (0.5, 0.5, 0.5, 0.25)), ((0.0, -89.0), (0.5, 0.75, 0.5, 0.25)),
)
# A face this far (metres) behind the Gaussians' expected depth is hidden by them in that view.
OCCLUDER_DEPTH = 0.04
BAKE_FOV_DEG = 12.0  # a narrow lens: nearly orthographic, so texels stay even across the body


def smplx_joint_names() -> tuple[str, ...]:
    """The 55 SMPL-X joint names (SPECS §1.1), for node names an artist recognises."""
    return SMPLX_JOINT_NAMES


@dataclass
class GlbOptions:
    """What goes into the file.

    Attributes:
        start, end: seconds of the motion to write (end None = to its end).
        fps: keys per second (None = the motion's frame rate).
        splats, mesh: include the Gaussians / the textured mesh.
        texture_size: atlas side in pixels (a power of two, 256..8192).
    """

    start: float = 0.0
    end: float | None = None
    fps: float | None = None
    splats: bool = True
    mesh: bool = True
    texture_size: int = 2048

    def validate(self) -> None:
        if not (self.splats or self.mesh):
            raise InputError("Nothing to export: --no-splats and --no-mesh leave the file empty.")
        size = int(self.texture_size)
        if size < 256 or size > 8192 or size & (size - 1):
            raise InputError(f"Texture size must be a power of two from 256 to 8192, not {self.texture_size}.")
        if self.fps is not None and not (0 < self.fps <= 240):
            raise InputError(f"Frame rate {self.fps} is out of range (0..240).")


@dataclass
class GlbReport:
    """What was written: path, byte size, counts and seconds."""

    path: Path
    size_bytes: int
    num_vertices: int
    num_faces: int
    num_gaussians: int
    num_keys: int
    seconds: float


# ====================================================================== mesh
def _vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    from ..reconstruct.template.surface import vertex_normals
    return vertex_normals(verts, faces)


def _vertex_neighbours(faces: np.ndarray, num_vertices: int):
    """Sparse [V,V] row-normalised adjacency (each vertex averages its ring)."""
    from scipy.sparse import coo_matrix, diags
    i = np.concatenate([faces[:, 0], faces[:, 1], faces[:, 2], faces[:, 1], faces[:, 2], faces[:, 0]])
    j = np.concatenate([faces[:, 1], faces[:, 2], faces[:, 0], faces[:, 0], faces[:, 1], faces[:, 2]])
    adj = coo_matrix((np.ones(len(i), np.float32), (i, j)), shape=(num_vertices, num_vertices)).tocsr()
    adj.data[:] = 1.0
    deg = np.asarray(adj.sum(1)).reshape(-1)
    return diags(1.0 / np.maximum(deg, 1)) @ adj


def displaced_surface(gaussians: GaussianSet, verts: np.ndarray, faces: np.ndarray, smooth_steps: int = 4
                      ) -> np.ndarray:
    """The body surface pushed along its normals to the outermost opaque Gaussians near each vertex.

    Each opaque Gaussian votes for its nearest vertex with its height above the surface (along the
    vertex normal); a vertex takes the highest vote (the visible shell of hair or cloth is the
    outermost), clamped to MIN_OFFSET..MAX_OFFSET, and vertices with no votes take their ring's.
    A few ring averages remove single-vertex spikes.

    Args:
        gaussians: canonical (rest-pose) Gaussians; verts: [V,3] rest surface; faces: [F,3].
    Returns:
        [V,3] float32 displaced vertices.
    """
    from scipy.spatial import cKDTree
    verts = np.asarray(verts, np.float32)
    normals = _vertex_normals(verts, faces)
    keep = gaussians.opacities >= SURFACE_OPACITY
    pts = gaussians.means[keep]
    if len(pts) == 0:
        return verts.copy()
    _, nearest = cKDTree(verts).query(pts, k=1)
    height = np.einsum("nc,nc->n", pts - verts[nearest], normals[nearest])
    offset = np.full(len(verts), -np.inf, np.float32)
    np.maximum.at(offset, nearest, height.astype(np.float32))
    voted = np.isfinite(offset)
    offset = np.where(voted, np.clip(offset, MIN_OFFSET, MAX_OFFSET), 0.0).astype(np.float32)
    ring = _vertex_neighbours(faces, len(verts))
    weight = voted.astype(np.float32)
    for _ in range(3):  # spread votes into unvoted vertices (holes between sparse Gaussians)
        spread = (ring @ (offset * weight)) / np.maximum(ring @ weight, 1e-6)
        offset = np.where(voted, offset, np.where(ring @ weight > 0, spread, offset)).astype(np.float32)
        weight = np.maximum(weight, (ring @ weight > 0).astype(np.float32))
    for _ in range(smooth_steps):
        offset = (0.5 * offset + 0.5 * (ring @ offset)).astype(np.float32)
    return (verts + normals * offset[:, None]).astype(np.float32)


def rasterize_mesh(uvz: np.ndarray, faces: np.ndarray, width: int, height: int, chunk_pixels: int = 1_000_000
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Nearest triangle per pixel (z-buffer), vectorised over every face's bounding box.

    Faces go in chunks of about `chunk_pixels` candidate pixels (~170 bytes each while a chunk is
    worked on), so memory stays bounded however large the triangles are on screen.

    Args:
        uvz: [V,3] pixel coordinates (u right, v down, pixel i spans [i, i+1)) and camera depth.
        faces: [F,3].
    Returns:
        face_id: [H,W] int64, -1 where empty; bary: [H,W,3] float32 barycentric weights.
    """
    tri = uvz[faces].astype(np.float64)  # [F,3,3]
    front = (tri[:, :, 2] > 1e-6).all(1)
    lo = np.maximum(np.floor(tri[:, :, :2].min(1) - 0.5).astype(np.int64) + 1, 0)
    hi = np.minimum(np.floor(tri[:, :, :2].max(1) - 0.5).astype(np.int64), [width - 1, height - 1])
    size = np.maximum(hi - lo + 1, 0)
    count = np.where(front, size[:, 0] * size[:, 1], 0)
    face_id = np.full(width * height, -1, np.int64)
    bary = np.zeros((width * height, 3), np.float32)
    depth = np.full(width * height, np.inf)
    csum = np.cumsum(count)
    start = 0
    while start < len(faces):
        end = max(int(np.searchsorted(csum, csum[start] - count[start] + chunk_pixels, side="right")), start + 1)
        _raster_chunk(tri, np.arange(start, end), lo, size, count, width, face_id, bary, depth)
        start = end
    return face_id.reshape(height, width), bary.reshape(height, width, 3)


def _raster_chunk(tri: np.ndarray, sel: np.ndarray, lo: np.ndarray, size: np.ndarray, count: np.ndarray, width: int,
                  face_id: np.ndarray, bary: np.ndarray, depth: np.ndarray) -> None:
    """Rasterize faces `sel` into the flat buffers, keeping the nearer hit per pixel (in place)."""
    cnt = count[sel]
    fid = np.repeat(sel, cnt)
    local = np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    bw = size[fid, 0]
    px = lo[fid, 0] + local % np.maximum(bw, 1)
    py = lo[fid, 1] + local // np.maximum(bw, 1)
    x, y = px + 0.5, py + 0.5
    a, b, c = tri[fid, 0], tri[fid, 1], tri[fid, 2]
    area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    ok = np.abs(area) > 1e-12
    area = np.where(ok, area, 1.0)
    w0 = ((b[:, 0] - x) * (c[:, 1] - y) - (b[:, 1] - y) * (c[:, 0] - x)) / area
    w1 = ((c[:, 0] - x) * (a[:, 1] - y) - (c[:, 1] - y) * (a[:, 0] - x)) / area
    w2 = 1.0 - w0 - w1
    inside = ok & (w0 >= -1e-9) & (w1 >= -1e-9) & (w2 >= -1e-9)
    fid, px, py, w0, w1, w2 = fid[inside], px[inside], py[inside], w0[inside], w1[inside], w2[inside]
    z = w0 * a[inside, 2] + w1 * b[inside, 2] + w2 * c[inside, 2]
    pix = py * width + px
    order = np.lexsort((z, pix))
    pix_sorted = pix[order]
    first = order[np.r_[True, pix_sorted[1:] != pix_sorted[:-1]]] if len(order) else order
    nearer = first[z[first] < depth[pix[first]]]
    p = pix[nearer]
    depth[p] = z[nearer]
    face_id[p] = fid[nearer]
    bary[p] = np.stack([w0[nearer], w1[nearer], w2[nearer]], 1)


def _fill_empty(rgb: np.ndarray, filled: np.ndarray) -> np.ndarray:
    """[H,W,3] colours with every unfilled pixel given its nearest filled pixel's colour."""
    from scipy.ndimage import distance_transform_edt
    if filled.all() or not filled.any():
        return rgb
    _, (iy, ix) = distance_transform_edt(~filled, return_indices=True)
    return rgb[iy, ix]


@dataclass
class TexturedMesh:
    """A mesh ready for glTF: vertices split where faces take texels from different views.

    Attributes:
        positions [V',3], normals [V',3], uvs [V',2] (glTF: origin top-left), faces [F,3] uint32,
        source_vertex [V'] index into the body template's vertices (for skin weights),
        atlas [S,S,3] uint8, face_view [F] which bake view each face uses.
    """

    positions: np.ndarray
    normals: np.ndarray
    uvs: np.ndarray
    faces: np.ndarray
    source_vertex: np.ndarray
    atlas: np.ndarray
    face_view: np.ndarray


def bake_tiles(texture_size: int) -> list[tuple[int, int, int, int]]:
    """(left, top, width, height) in atlas pixels for each BAKE_VIEWS entry."""
    return [tuple(int(round(f * texture_size)) for f in rect) for _, rect in BAKE_VIEWS]


def bake_cameras(verts: np.ndarray, texture_size: int) -> list[Camera]:
    """One nearly orthographic camera per BAKE_VIEWS entry, framing the rest surface [V,3] in its tile."""
    lo, hi = verts.min(0) - 0.02, verts.max(0) + 0.02
    return [Camera.framing(lo, hi, az, el, BAKE_FOV_DEG, w, h, margin=1.04)
            for ((az, el), _), (_, _, w, h) in zip(BAKE_VIEWS, bake_tiles(texture_size))]


def bake_textured_mesh(avatar: Avatar, verts: np.ndarray, faces: np.ndarray, renderer: Renderer,
                       texture_size: int = 2048, progress: Progress | None = None) -> TexturedMesh:
    """Render the canonical Gaussians from each bake view and give every face the view that sees
    it most squarely among those where neither the mesh nor Gaussians off the mesh hide it
    (layout: BAKE_VIEWS). The renderer must fill `depth` in mode "depth" (every back-end does).

    Args:
        verts: [V,3] displaced rest surface; faces: [F,3].
    """
    tiles = bake_tiles(texture_size)
    cams = bake_cameras(verts, texture_size)
    from ..reconstruct.template.surface import face_areas_normals
    _, fnormal = face_areas_normals(verts.astype(np.float64), faces)
    centroid = verts[faces].mean(1)
    atlas = np.zeros((texture_size, texture_size, 3), np.uint8)
    score = np.full((len(cams), len(faces)), -2.0)
    projected = []
    for v, cam in enumerate(cams):
        if progress:
            progress(f"baking view {v + 1}/{len(cams)}", 0.1 + 0.5 * v / len(cams))
        out = renderer.render(avatar.gaussians, cam, background=None, mode="depth")  # colour, alpha and depth
        color = np.clip(np.asarray(out.color, np.float32), 0, 1)
        filled = np.asarray(out.alpha) > 0.5
        tile_rgb = (_fill_empty(color, filled) * 255 + 0.5).astype(np.uint8)
        left, top, w, h = tiles[v]
        atlas[top:top + h, left:left + w] = tile_rgb
        uvz = cam.project(verts)
        projected.append(uvz)
        face_id, _ = rasterize_mesh(uvz, faces, cam.width, cam.height)
        seen = np.bincount(face_id[face_id >= 0], minlength=len(faces)) > 0
        seen &= ~_behind_gaussians(cam.project(centroid), out)
        to_cam = cam.position[None] - centroid
        facing = np.einsum("fc,fc->f", fnormal, to_cam / np.linalg.norm(to_cam, axis=1, keepdims=True))
        score[v] = np.where(seen, facing, facing - 2.0)  # a hidden face takes a view only if none sees it
    face_view = score.argmax(0)
    # Split vertices: one copy per (vertex, view) pair that some face needs.
    key = faces.astype(np.int64) * len(cams) + face_view[:, None]
    uniq, inverse = np.unique(key.reshape(-1), return_inverse=True)
    src, view = uniq // len(cams), uniq % len(cams)
    uv = np.stack([projected[k][s, :2] for s, k in zip(src, view)]) if len(src) else np.zeros((0, 2))
    corner = np.array([tiles[k][:2] for k in range(len(cams))], np.float64)[view]
    uvs = ((corner + uv) / texture_size).astype(np.float32)
    normals = _vertex_normals(verts, faces)[src]
    return TexturedMesh(verts[src].astype(np.float32), normals, uvs, inverse.reshape(-1, 3).astype(np.uint32),
                        src.astype(np.int64), atlas, face_view)


def _behind_gaussians(points_uvz: np.ndarray, rendered) -> np.ndarray:
    """[F] True where a face centre [F,3] (pixels, depth) lies well behind opaque Gaussians the mesh
    does not follow (a skirt over the thighs seen from below, hair over the neck)."""
    if rendered.depth is None:
        return np.zeros(len(points_uvz), bool)
    h, w = rendered.alpha.shape
    x = np.clip(points_uvz[:, 0].astype(np.int64), 0, w - 1)
    y = np.clip(points_uvz[:, 1].astype(np.int64), 0, h - 1)
    opaque = np.asarray(rendered.alpha)[y, x] > 0.5
    return opaque & (points_uvz[:, 2] - np.asarray(rendered.depth)[y, x] > OCCLUDER_DEPTH)


def sample_texture(atlas: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear lookup: atlas [S,S,3] uint8, uv [...,2] glTF coordinates -> [...,3] float32 0..1."""
    s_h, s_w = atlas.shape[:2]
    x = np.clip(uv[..., 0] * s_w - 0.5, 0, s_w - 1)
    y = np.clip(uv[..., 1] * s_h - 0.5, 0, s_h - 1)
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, s_w - 1), np.minimum(y0 + 1, s_h - 1)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    a = atlas.astype(np.float32) / 255.0
    top = a[y0, x0] * (1 - fx) + a[y0, x1] * fx
    bottom = a[y1, x0] * (1 - fx) + a[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def render_textured_mesh(mesh: TexturedMesh, positions: np.ndarray, camera: Camera,
                         background: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """Our check render of the mesh (unlit, as the file's material): ([H,W,3] float colour, [H,W] mask).

    Args:
        positions: [V',3] the mesh's vertices in the pose to draw (rest or skinned).
    """
    face_id, bary = rasterize_mesh(camera.project(positions), mesh.faces.astype(np.int64), camera.width,
                                   camera.height)
    hit = face_id >= 0
    img = np.empty((camera.height, camera.width, 3), np.float32)
    img[:] = background
    tri_uv = mesh.uvs[mesh.faces[face_id[hit]]]  # [n,3,2]
    uv = np.einsum("nk,nkc->nc", bary[hit], tri_uv)
    img[hit] = sample_texture(mesh.atlas, uv)
    return img, hit


# ====================================================================== skin and motion
def four_influences(indices: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[N,K] joints and weights -> the 4 strongest ([N,4] uint8, [N,4] float32 summing to 1).

    glTF's JOINTS_0/WEIGHTS_0 hold exactly four; rows with fewer are padded with weight 0.
    Weights are sorted strongest first, so the sum fix-up lands on a non-zero weight.
    """
    indices = np.asarray(indices, np.int64)
    weights = np.asarray(weights, np.float64)
    n, k = weights.shape
    if k < 4:
        indices = np.concatenate([indices, np.zeros((n, 4 - k), np.int64)], 1)
        weights = np.concatenate([weights, np.zeros((n, 4 - k))], 1)
    order = np.argsort(-weights, axis=1)[:, :4]
    idx = np.take_along_axis(indices, order, 1)
    w = np.maximum(np.take_along_axis(weights, order, 1), 0.0)
    w /= np.maximum(w.sum(1, keepdims=True), 1e-12)
    idx = np.where(w > 0, idx, 0)  # glTF: an unused influence names joint 0
    w32 = w.astype(np.float32)
    w32[:, 0] += (1.0 - w32.sum(1, dtype=np.float64)).astype(np.float32)  # exact sums for validators
    return idx.astype(np.uint8), w32


def motion_keys(motion: Motion, body: BodyModel, rest_joints: np.ndarray, options: GlbOptions
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keys of the glTF animation.

    Returns:
        times [T] seconds from 0, rotations [T,55,4] xyzw local joint quaternions (sign-continuous),
        root_translation [T,3] (rest pelvis + SMPL-X transl).
    """
    from ..rotations import aa_to_quat
    fps = options.fps or motion.fps
    end = motion.duration if options.end is None else min(options.end, motion.duration)
    start = max(0.0, options.start)
    if end <= start:
        raise InputError(f"The time range {start:.2f}..{end:.2f} s is empty.")
    count = max(1, int(round((end - start) * fps)))
    times = start + np.arange(count) / fps
    poses, transl = zip(*(motion.pose_at(float(t)) for t in times))
    full_pose = np.asarray(poses, np.float64)
    if not body.flat_hand_mean:
        full_pose[:, 25:55] += body.hand_mean.reshape(30, 3)
    q = aa_to_quat(full_pose)  # [T,55,4] wxyz
    for i in range(1, count):  # neighbour keys on the same hemisphere: interpolation takes the short way
        flip = np.einsum("jc,jc->j", q[i], q[i - 1]) < 0
        q[i, flip] *= -1
    rotations = np.concatenate([q[..., 1:], q[..., :1]], -1).astype(np.float32)
    root = (rest_joints[0][None] + np.asarray(transl, np.float64)).astype(np.float32)
    return (times - start).astype(np.float32), rotations, root


def inverse_bind_matrices(rest_joints: np.ndarray) -> np.ndarray:
    """[55,4,4] inverse bind matrices: the rest skeleton has no rotation, so each is a translation by -J."""
    ibm = np.tile(np.eye(4, dtype=np.float32), (len(rest_joints), 1, 1))
    ibm[:, :3, 3] = -rest_joints
    return ibm


# ====================================================================== container
class _Builder:
    """Accumulates buffer views and accessors in one binary blob for pygltflib."""

    def __init__(self) -> None:
        import pygltflib as g
        self.g = g
        self.blob = bytearray()
        self.views: list = []
        self.accessors: list = []

    def view(self, data: bytes, target: int | None = None) -> int:
        self.blob.extend(b"\0" * (-len(self.blob) % 4))
        self.views.append(self.g.BufferView(buffer=0, byteOffset=len(self.blob), byteLength=len(data), target=target))
        self.blob.extend(data)
        return len(self.views) - 1

    def accessor(self, array: np.ndarray, kind: str, *, target: int | None = None, bounds: bool = False,
                 normalized: bool | None = None) -> int:
        g = self.g
        array = np.ascontiguousarray(array)
        component = {np.dtype(np.float32): g.FLOAT, np.dtype(np.uint32): g.UNSIGNED_INT,
                     np.dtype(np.uint8): g.UNSIGNED_BYTE, np.dtype(np.uint16): g.UNSIGNED_SHORT}[array.dtype]
        width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}[kind]
        flat = array.reshape(-1, width)
        acc = g.Accessor(bufferView=self.view(flat.tobytes(), target), componentType=component, count=len(flat),
                         type=kind, normalized=normalized)
        if bounds:
            acc.min = flat.min(0).astype(float).tolist()
            acc.max = flat.max(0).astype(float).tolist()
        self.accessors.append(acc)
        return len(self.accessors) - 1


def _srgb_to_linear(c: np.ndarray) -> np.ndarray:
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _splat_attributes(b: _Builder, gaussians: GaussianSet, rig_indices: np.ndarray, rig_weights: np.ndarray) -> dict:
    """The KHR_gaussian_splatting attributes (SPECS §4.3) plus the skin and a COLOR_0 fallback."""
    g = b.g
    attrs = {"POSITION": b.accessor(gaussians.means, "VEC3", target=g.ARRAY_BUFFER, bounds=True)}
    q = gaussians.quats
    attrs[SPLAT_ROTATION] = b.accessor(np.concatenate([q[:, 1:], q[:, :1]], 1).astype(np.float32), "VEC4",
                                       target=g.ARRAY_BUFFER)
    attrs[SPLAT_SCALE] = b.accessor(gaussians.scales, "VEC3", target=g.ARRAY_BUFFER)
    attrs[SPLAT_OPACITY] = b.accessor(gaussians.opacities, "SCALAR", target=g.ARRAY_BUFFER)
    for degree in range(gaussians.sh_degree + 1):
        for n in range(2 * degree + 1):
            attrs[f"{KHR_SPLAT}:SH_DEGREE_{degree}_COEF_{n}"] = b.accessor(
                np.ascontiguousarray(gaussians.sh[:, degree * degree + n]), "VEC3", target=g.ARRAY_BUFFER)
    # Viewers without the extension draw points: give them the base colour (glTF colours are linear).
    rgb = _srgb_to_linear(np.clip(sh0_to_rgb(gaussians.sh[:, 0]), 0, 1)).astype(np.float32)
    attrs["COLOR_0"] = b.accessor(rgb, "VEC3", target=g.ARRAY_BUFFER)
    joints, weights = four_influences(rig_indices, rig_weights)
    attrs["JOINTS_0"] = b.accessor(joints, "VEC4", target=g.ARRAY_BUFFER)
    attrs["WEIGHTS_0"] = b.accessor(weights, "VEC4", target=g.ARRAY_BUFFER)
    return attrs


def _png_bytes(rgb: np.ndarray) -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def build_glb(avatar: Avatar, body: BodyModel, motion: Motion | None, renderer: Renderer | None,
              options: GlbOptions | None = None, progress: Progress | None = None
              ) -> tuple[bytes, dict]:
    """The GLB file's bytes and a summary {vertices, faces, gaussians, keys, mesh}.

    `renderer` bakes the texture (needed only with options.mesh).
    """
    import pygltflib as g
    options = options or GlbOptions()
    options.validate()
    say = progress or (lambda stage, fraction: None)
    rest_verts, rest_joints = body.shaped(avatar.rig.betas)
    rest_joints = rest_joints.astype(np.float32)
    names = smplx_joint_names()
    b = _Builder()

    # Skeleton: node i is joint i; rest translation relative to the parent, no rest rotation.
    nodes = []
    for j in range(len(SMPLX_PARENTS)):
        p = int(SMPLX_PARENTS[j])
        t = rest_joints[j] - (rest_joints[p] if p >= 0 else 0.0)
        nodes.append(g.Node(name=names[j], translation=[float(x) for x in t]))
    for j in range(1, len(SMPLX_PARENTS)):
        nodes[int(SMPLX_PARENTS[j])].children.append(j)
    skin = g.Skin(name="smplx", joints=list(range(len(nodes))), skeleton=0,
                  inverseBindMatrices=b.accessor(
                      np.ascontiguousarray(inverse_bind_matrices(rest_joints).transpose(0, 2, 1)), "MAT4"))
    scene_nodes = [0]
    meshes, materials, textures, images, samplers = [], [], [], [], []
    extensions_used: list[str] = []
    mesh = None
    summary = {"vertices": 0, "faces": 0, "gaussians": 0, "keys": 0, "mesh": None}

    if options.mesh:
        if renderer is None:
            raise InputError("Baking the mesh texture needs a renderer.")
        say("shaping the surface", 0.05)
        faces = np.asarray(body.faces, np.int64)
        verts = displaced_surface(avatar.gaussians, rest_verts, faces)
        mesh = bake_textured_mesh(avatar, verts, faces, renderer, options.texture_size, say)
        say("encoding the texture", 0.65)
        image_view = b.view(_png_bytes(mesh.atlas))
        images.append(g.Image(bufferView=image_view, mimeType="image/png", name="atlas"))
        samplers.append(g.Sampler(magFilter=g.LINEAR, minFilter=g.LINEAR_MIPMAP_LINEAR,
                                  wrapS=g.CLAMP_TO_EDGE, wrapT=g.CLAMP_TO_EDGE))
        textures.append(g.Texture(sampler=0, source=0))
        materials.append(g.Material(name="baked", doubleSided=True, extensions={KHR_UNLIT: {}},
                                    pbrMetallicRoughness=g.PbrMetallicRoughness(
                                        baseColorTexture=g.TextureInfo(index=0), metallicFactor=0.0,
                                        roughnessFactor=1.0)))
        extensions_used.append(KHR_UNLIT)
        joints, weights = four_influences(*dense_to_sparse_weights(body.weights[mesh.source_vertex], 4))
        attrs = g.Attributes(
            POSITION=b.accessor(mesh.positions, "VEC3", target=g.ARRAY_BUFFER, bounds=True),
            NORMAL=b.accessor(mesh.normals, "VEC3", target=g.ARRAY_BUFFER),
            TEXCOORD_0=b.accessor(mesh.uvs, "VEC2", target=g.ARRAY_BUFFER),
            JOINTS_0=b.accessor(joints, "VEC4", target=g.ARRAY_BUFFER),
            WEIGHTS_0=b.accessor(weights, "VEC4", target=g.ARRAY_BUFFER))
        prim = g.Primitive(attributes=attrs, indices=b.accessor(mesh.faces.reshape(-1), "SCALAR",
                                                                target=g.ELEMENT_ARRAY_BUFFER),
                           material=0, mode=g.TRIANGLES)
        meshes.append(g.Mesh(name="body", primitives=[prim]))
        nodes.append(g.Node(name="body", mesh=len(meshes) - 1, skin=0))
        scene_nodes.append(len(nodes) - 1)
        summary.update(vertices=len(mesh.positions), faces=len(mesh.faces), mesh=mesh)

    if options.splats:
        say("writing the Gaussians", 0.75)
        attrs = g.Attributes(**_splat_attributes(b, avatar.gaussians, avatar.rig.skin_indices,
                                                 avatar.rig.skin_weights))
        prim = g.Primitive(attributes=attrs, mode=g.POINTS, extensions={KHR_SPLAT: {
            "kernel": "ellipse", "colorSpace": "srgb_rec709_display", "sortingMethod": "cameraDistance",
            "projection": "perspective"}})
        meshes.append(g.Mesh(name="gaussians", primitives=[prim]))
        nodes.append(g.Node(name="gaussians", mesh=len(meshes) - 1, skin=0))
        scene_nodes.append(len(nodes) - 1)
        extensions_used.append(KHR_SPLAT)
        summary["gaussians"] = len(avatar.gaussians)

    animations = []
    if motion is not None:
        say("writing the motion", 0.85)
        times, rotations, root = motion_keys(motion, body, rest_joints, options)
        time_acc = b.accessor(times, "SCALAR", bounds=True)
        samplers_anim, channels = [], []
        for j in range(len(SMPLX_PARENTS)):
            samplers_anim.append(g.AnimationSampler(input=time_acc, output=b.accessor(
                np.ascontiguousarray(rotations[:, j]), "VEC4"), interpolation="LINEAR"))
            channels.append(g.AnimationChannel(sampler=j, target=g.AnimationChannelTarget(node=j, path="rotation")))
        samplers_anim.append(g.AnimationSampler(input=time_acc, output=b.accessor(root, "VEC3"),
                                                interpolation="LINEAR"))
        channels.append(g.AnimationChannel(sampler=len(samplers_anim) - 1,
                                           target=g.AnimationChannelTarget(node=0, path="translation")))
        animations.append(g.Animation(name=motion.name or "motion", samplers=samplers_anim, channels=channels))
        summary["keys"] = len(times)

    say("writing the file", 0.95)
    doc = g.GLTF2(asset=g.Asset(generator="Avatar Studio", version="2.0"), scene=0,
                  scenes=[g.Scene(name=avatar.name, nodes=scene_nodes)], nodes=nodes, skins=[skin],
                  meshes=meshes, materials=materials, textures=textures, images=images, samplers=samplers,
                  animations=animations, accessors=b.accessors, bufferViews=b.views,
                  buffers=[g.Buffer(byteLength=len(b.blob))], extensionsUsed=extensions_used)
    doc.set_binary_blob(bytes(b.blob))
    return b"".join(doc.save_to_bytes()), summary


def export_glb(path: str | Path, avatar: Avatar, body: BodyModel, motion: Motion | None = None,
               options: GlbOptions | None = None, renderer: Renderer | None = None,
               progress: Progress | None = None) -> GlbReport:
    """Write the rigged GLB atomically. Creates (and closes) a renderer when the mesh needs one."""
    from ..io.atomic import write_bytes_atomically
    t0 = time.perf_counter()
    options = options or GlbOptions()
    options.validate()
    own = renderer is None and options.mesh
    if own:
        from ..render.rendering import create_renderer
        renderer = create_renderer("auto")
    try:
        data, summary = build_glb(avatar, body, motion, renderer, options, progress)
    finally:
        if own and renderer is not None:
            renderer.close()
    path = write_bytes_atomically(path, data)
    if progress:
        progress("done", 1.0)
    return GlbReport(path, len(data), summary["vertices"], summary["faces"], summary["gaussians"], summary["keys"],
                     time.perf_counter() - t0)
