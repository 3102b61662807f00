"""glTF 2.0 with `KHR_gaussian_splatting`: read (.glb, .gltf) and write (.glb), via pygltflib.

A splat set is a POINTS primitive (mode 0) whose `extensions` name KHR_gaussian_splatting, with
float attributes (SPECS §4.3): POSITION (VEC3), `KHR_gaussian_splatting:ROTATION` (VEC4, x y z w),
`:SCALE` (VEC3, linear), `:OPACITY` (SCALAR, 0..1 after the sigmoid), `:SH_DEGREE_{l}_COEF_{n}`
(VEC3 RGB, n = 0..2l, in the 3DGS order), and a COLOR_0 (RGBA8) fallback for point viewers.
glTF is y-up, our frame, so nothing turns. One draft of the spec text stores SCALE as a log; the
ratified text, PlayCanvas's writer and ours store it linear, and a file with negative scales is
read as log-space (a linear scale is never negative) with a note.
"""
from __future__ import annotations

import base64
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..gaussians import SH_C0, GaussianSet
from .atomic import write_bytes_atomically
from .notes import finite_gaussians, note

EXT = "KHR_gaussian_splatting"
_FLOAT, _UBYTE, _USHORT = 5126, 5121, 5123
_NCOMP = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}
_DTYPE = {5120: np.int8, 5121: np.uint8, 5122: np.int16, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}
_NORM = {5120: 127.0, 5121: 255.0, 5122: 32767.0, 5123: 65535.0}


# ---------------------------------------------------------------------- read
def _buffer_bytes(gltf, index: int, base: Path | None, source: str) -> bytes:
    buf = gltf.buffers[index]
    uri = buf.uri
    if uri is None:
        blob = gltf.binary_blob()
        if blob is None:
            raise InputError(f"{source}: buffer {index} has no data.")
        return bytes(blob)
    if uri.startswith("data:"):
        return base64.b64decode(uri.split(",", 1)[1])
    if base is None or "/" in uri or "\\" in uri or ".." in uri:
        raise InputError(f"{source}: buffer '{uri[:60]}' must be a file next to it.")
    path = base / uri
    if not path.is_file():
        raise InputError(f"{source}: its buffer file '{uri[:60]}' is missing.")
    return path.read_bytes()


def _accessor(gltf, index: int, buffers: dict, base: Path | None, source: str) -> np.ndarray:
    """Accessor `index` as a float64 array [count, components] (normalised integers scaled to 0..1)."""
    acc = gltf.accessors[index]
    comps = _NCOMP[acc.type]
    dtype = np.dtype(_DTYPE[acc.componentType]).newbyteorder("<")
    if acc.bufferView is None or acc.sparse is not None:
        raise InputError(f"{source}: sparse or empty accessors are not supported.")
    view = gltf.bufferViews[acc.bufferView]
    if view.buffer not in buffers:
        buffers[view.buffer] = _buffer_bytes(gltf, view.buffer, base, source)
    data = buffers[view.buffer]
    start = (view.byteOffset or 0) + (acc.byteOffset or 0)
    elem = dtype.itemsize * comps
    stride = view.byteStride or elem
    end = start + stride * (acc.count - 1) + elem if acc.count else start
    if end > len(data):
        raise InputError(f"{source}: accessor {index} runs past the end of its buffer (truncated file).")
    raw = np.frombuffer(data, np.uint8, count=end - start, offset=start) if acc.count else np.zeros(0, np.uint8)
    if stride == elem:
        arr = raw.view(dtype).reshape(acc.count, comps)
    else:
        padded = np.zeros(stride * acc.count, np.uint8)
        padded[:len(raw)] = raw
        arr = padded.reshape(acc.count, stride)[:, :elem].copy().view(dtype).reshape(acc.count, comps)
    out = arr.astype(np.float64)
    if acc.normalized and acc.componentType in _NORM:
        out = np.maximum(out / _NORM[acc.componentType], -1.0)
    return out


def _node_matrix(node) -> np.ndarray:
    """A node's local 4x4 transform."""
    if node.matrix:
        return np.asarray(node.matrix, np.float64).reshape(4, 4).T  # glTF stores column-major
    m = np.eye(4)
    if node.rotation:
        x, y, z, w = node.rotation
        from ..rotations import quat_to_rotmat
        m[:3, :3] = quat_to_rotmat(np.array([w, x, y, z], np.float64))
    if node.scale:
        m[:3, :3] = m[:3, :3] * np.asarray(node.scale, np.float64)[None, :]
    if node.translation:
        m[:3, 3] = node.translation
    return m


def _mesh_transforms(gltf) -> dict[int, np.ndarray]:
    """Mesh index -> world 4x4 of the first node that shows it (identity when no node does)."""
    out: dict[int, np.ndarray] = {}
    roots = gltf.scenes[gltf.scene or 0].nodes if gltf.scenes else range(len(gltf.nodes))

    def walk(i: int, parent: np.ndarray, depth: int) -> None:
        if depth > 64:
            raise InputError("The glTF node tree is deeper than 64 levels (a cycle?).")
        node = gltf.nodes[i]
        world = parent @ _node_matrix(node)
        if node.mesh is not None and node.mesh not in out:
            out[node.mesh] = world
        for c in node.children or []:
            walk(c, world, depth + 1)

    for r in roots or []:
        walk(r, np.eye(4), 0)
    return out


def _splat_primitive(gltf, prim, buffers: dict, base: Path | None, source: str) -> GaussianSet:
    attrs = prim.attributes.__dict__ if hasattr(prim.attributes, "__dict__") else dict(prim.attributes)
    attrs = {k: v for k, v in attrs.items() if v is not None}
    extra = getattr(prim.attributes, "_extra", None) or {}  # pygltflib keeps unknown names here
    attrs.update({k: v for k, v in extra.items() if v is not None})

    def get(name: str) -> np.ndarray | None:
        return _accessor(gltf, attrs[name], buffers, base, source) if name in attrs else None

    means = get("POSITION")
    if means is None:
        raise InputError(f"{source}: a {EXT} primitive has no POSITION.")
    n = len(means)
    rot = get(f"{EXT}:ROTATION")
    quats = rot[:, [3, 0, 1, 2]] if rot is not None else np.tile([1.0, 0, 0, 0], (n, 1))
    scales = get(f"{EXT}:SCALE")
    if scales is None:
        raise InputError(f"{source}: a {EXT} primitive has no {EXT}:SCALE.")
    if np.any(scales < 0):
        note(f"{source}: SCALE holds negative values, so it was read as log-space (an early draft of {EXT})")
        scales = np.exp(np.clip(scales, -30, 30))
    opac = get(f"{EXT}:OPACITY")
    dc = get(f"{EXT}:SH_DEGREE_0_COEF_0")
    color = get("COLOR_0")
    if dc is None:
        if color is None:
            raise InputError(f"{source}: a {EXT} primitive has neither SH_DEGREE_0_COEF_0 nor COLOR_0.")
        dc = (color[:, :3] - 0.5) / SH_C0
    if opac is None:
        opac = color[:, 3] if color is not None and color.shape[1] == 4 else np.ones(n)
    opac = opac.reshape(-1)
    coeffs = [dc]
    for degree in (1, 2, 3):
        names = [f"{EXT}:SH_DEGREE_{degree}_COEF_{c}" for c in range(2 * degree + 1)]
        if not all(nm in attrs for nm in names):
            break
        coeffs += [get(nm) for nm in names]
    sh = np.stack(coeffs, axis=1)
    return finite_gaussians(source, means, quats, scales, opac, sh)


def _transformed(g: GaussianSet, world: np.ndarray, source: str) -> GaussianSet:
    """`g` moved by a node's 4x4 similarity transform."""
    if np.allclose(world, np.eye(4)):
        return g
    lin = world[:3, :3]
    s = np.cbrt(np.linalg.det(lin))
    rot = lin / s if s > 0 else lin
    if s <= 0 or not np.allclose(rot @ rot.T, np.eye(3), atol=1e-4):
        raise InputError(f"{source}: the node holding the splats has a shear or mirror transform; "
                         "only moves, turns and uniform scales are supported.")
    from .orientation import rotate_gaussians
    turned = rotate_gaussians(g, rot)
    return GaussianSet(turned.means * s + world[:3, 3], turned.quats, turned.scales * s, turned.opacities, turned.sh)


def _decode(gltf, base: Path | None, source: str) -> GaussianSet:
    try:
        return _decode_unchecked(gltf, base, source)
    except (KeyError, IndexError, ValueError, TypeError, AttributeError) as err:  # a damaged file
        raise InputError(f"{source}: the glTF file is damaged or malformed ({type(err).__name__}: "
                         f"{str(err)[:60]}).") from err


def _decode_unchecked(gltf, base: Path | None, source: str) -> GaussianSet:
    buffers: dict[int, bytes] = {}
    parts = []
    where = _mesh_transforms(gltf)
    for mi, mesh in enumerate(gltf.meshes or []):
        for prim in mesh.primitives:
            if EXT in (prim.extensions or {}):
                g = _splat_primitive(gltf, prim, buffers, base, source)
                parts.append(_transformed(g, where.get(mi, np.eye(4)), source))
    if not parts:
        raise InputError(f"{source} is a glTF file without {EXT} splats (a mesh or a plain point cloud).")
    degree = min(p.sh_degree for p in parts)
    k = (degree + 1) ** 2
    return GaussianSet.concat([GaussianSet(p.means, p.quats, p.scales, p.opacities, p.sh[:, :k]) for p in parts])


def decode_gltf(data: bytes, source: str = "glTF data") -> GaussianSet:
    """Gaussians from .glb (or self-contained .gltf JSON) bytes."""
    from pygltflib import GLTF2
    try:
        if data[:4] == b"glTF":
            gltf = GLTF2.load_from_bytes(data)
        else:
            gltf = GLTF2.from_json(data.decode("utf-8"))
    except InputError:
        raise
    except Exception as err:  # pygltflib raises many types on bad input
        raise InputError(f"{source} is not a readable glTF file ({type(err).__name__}: {str(err)[:80]}).") from err
    return _decode(gltf, None, source)


def read_gltf(path: str | Path) -> GaussianSet:
    """Read a .gltf (JSON, with data: URIs or .bin files beside it) or .glb file."""
    path = Path(path)
    data = path.read_bytes()
    if data[:4] == b"glTF":
        return decode_gltf(data, path.name)
    from pygltflib import GLTF2
    try:
        gltf = GLTF2.from_json(data.decode("utf-8"))
    except Exception as err:  # pygltflib raises many types on bad input
        raise InputError(f"{path.name} is not a readable glTF file ({type(err).__name__}).") from err
    return _decode(gltf, path.parent, path.name)


# ---------------------------------------------------------------------- write
def encode_glb(g: GaussianSet) -> bytes:
    """The .glb bytes of `g` (already in glTF's y-up frame)."""
    from pygltflib import (GLTF2, Accessor, Asset, Attributes, Buffer, BufferView, Mesh, Node, Primitive,
                           Scene)
    g.validate()
    n = len(g)
    rgba = np.concatenate([np.clip(g.sh[:, 0] * SH_C0 + 0.5, 0, 1), np.clip(g.opacities, 0, 1)[:, None]], 1)
    columns: list[tuple[str, np.ndarray, int, str, bool]] = [
        ("POSITION", g.means, _FLOAT, "VEC3", False),
        ("COLOR_0", np.round(rgba * 255).astype(np.uint8), _UBYTE, "VEC4", True),
        (f"{EXT}:ROTATION", g.quats[:, [1, 2, 3, 0]], _FLOAT, "VEC4", False),
        (f"{EXT}:SCALE", g.scales, _FLOAT, "VEC3", False),
        (f"{EXT}:OPACITY", np.clip(g.opacities, 0, 1)[:, None], _FLOAT, "SCALAR", False),
    ]
    k = 0
    for degree in range(g.sh_degree + 1):
        for c in range(2 * degree + 1):
            columns.append((f"{EXT}:SH_DEGREE_{degree}_COEF_{c}", g.sh[:, k], _FLOAT, "VEC3", False))
            k += 1
    blob = bytearray()
    views, accessors, attributes = [], [], {}
    for i, (name, arr, ctype, atype, normalized) in enumerate(columns):
        data = np.ascontiguousarray(arr, np.uint8 if ctype == _UBYTE else "<f4").tobytes()
        views.append(BufferView(buffer=0, byteOffset=len(blob), byteLength=len(data), target=34962))
        acc = Accessor(bufferView=i, byteOffset=0, componentType=ctype, count=n, type=atype, normalized=normalized)
        if name == "POSITION":
            acc.min, acc.max = g.means.min(0).tolist(), g.means.max(0).tolist()
        accessors.append(acc)
        attributes[name] = i
        blob += data + b"\0" * (-len(data) % 4)
    attrs = Attributes(POSITION=0, COLOR_0=1)
    for name, idx in attributes.items():
        if name not in ("POSITION", "COLOR_0"):
            setattr(attrs, name, idx)
    prim = Primitive(attributes=attrs, mode=0, extensions={EXT: {
        "kernel": "ellipse", "colorSpace": "srgb_rec709_display", "sortingMethod": "cameraDistance",
        "projection": "perspective"}})
    gltf = GLTF2(asset=Asset(version="2.0", generator="avatar-studio"), extensionsUsed=[EXT], scene=0,
                 scenes=[Scene(nodes=[0])], nodes=[Node(mesh=0)], meshes=[Mesh(primitives=[prim])],
                 buffers=[Buffer(byteLength=len(blob))], bufferViews=views, accessors=accessors)
    gltf.set_binary_blob(bytes(blob))
    return b"".join(gltf.save_to_bytes())


def write_glb(path: str | Path, g: GaussianSet) -> Path:
    """Write `g` as a .glb with KHR_gaussian_splatting, atomically."""
    data = encode_glb(g)
    return write_bytes_atomically(path, data)
