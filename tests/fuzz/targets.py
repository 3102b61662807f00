"""Fuzz targets: for each loader the CLI or the window reaches, valid seed files our writers make and the
loader call (plus the next step a clean load leads to, e.g. writing a loaded motion back).

A target's `load(path)` returns whatever was loaded; the worker checks it for NaN/Inf values that slipped
through. Everything here is imported once per worker; seeds are written once per run.
"""
from __future__ import annotations

import io
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from avatar_studio.core.motion.amass import write_amass

TESTS_DIR = Path(__file__).resolve().parents[1]
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))


@dataclass(frozen=True)
class Target:
    name: str
    make_seeds: Callable[[Path], list[Path]]  # writes valid inputs into a folder, returns them
    load: Callable[[Path], Any]
    tree: bool = False  # seeds are folders: a case damages one or two files in a copy


def _gaussians(n: int = 300, sh_degree: int = 1, seed: int = 0):
    from support import random_gaussians
    return random_gaussians(n, np.random.default_rng(seed), sh_degree)


def _avatar(n: int = 300):
    from avatar_studio.core.avatar import Avatar, Rig
    rng = np.random.default_rng(1)
    idx = rng.integers(0, 55, (n, 4)).astype(np.int32)
    w = rng.uniform(0.1, 1, (n, 4)).astype(np.float32)
    rig = Rig(idx, w / w.sum(1, keepdims=True), rng.normal(size=10).astype(np.float32), "neutral", "standin", None)
    return Avatar(_gaussians(n), rig, "fuzz")


def _motion(frames: int = 6, hands: bool = True):
    from support.motion import smooth_motion
    return smooth_motion(frames, hands=hands)


def _body():
    from avatar_studio.core.body.model import default_body_model
    return default_body_model()


# ---------------------------------------------------------------------------------------------- seeds
def seeds_ply(d: Path) -> list[Path]:
    from avatar_studio.core.io.ply import write_ply
    return [write_ply(d / "plain.ply", _gaussians(200, 0)), write_ply(d / "sh.ply", _gaussians(120, 3, 2))]


def seeds_avatar(d: Path) -> list[Path]:
    from avatar_studio.core.io.avatar_file import write_avatar
    return [write_avatar(d / "avatar.ply", _avatar())]


def _splat_seeds(ext: str, **opts) -> Callable[[Path], list[Path]]:
    def make(d: Path) -> list[Path]:
        from avatar_studio.core.io.formats import write_gaussians
        return [write_gaussians(d / f"a{ext}", _gaussians(300, 1), **opts),
                write_gaussians(d / f"b{ext}", _gaussians(50, 0, 3), **opts)]
    return make


def seeds_sog_folder(d: Path) -> list[Path]:
    """Unbundled SOG: a folder holding meta.json and its WebP images."""
    from avatar_studio.core.io.formats import write_gaussians
    out = []
    for name, g in (("a", _gaussians(300, 1)), ("b", _gaussians(50, 0, 3))):
        (d / name).mkdir()
        write_gaussians(d / name / "meta.json", g)
        out.append(d / name)
    return out


def seeds_ksplat(d: Path) -> list[Path]:
    from support.ksplat import make_ksplat
    out = []
    for level in (0, 1, 2):
        p = d / f"l{level}.ksplat"
        p.write_bytes(make_ksplat([_gaussians(200, 1, level)], level)[0])
        out.append(p)
    return out


def seeds_amass(d: Path) -> list[Path]:
    from support.motion import write_amass_npz
    m = _motion()
    ours = d / "ours.npz"
    write_amass(m, ours)
    return [ours, write_amass_npz(d / "clip_stageii.npz", m), write_amass_npz(d / "smplh.npz", m, smplh=True)]


def seeds_lhm(d: Path) -> list[Path]:
    from avatar_studio.core.motion.lhm_json import save_lhm
    from support.motion import write_lhm_folder
    m = _motion(3).replace(frame="camera")
    return [save_lhm(m, d / "ours", _body()), write_lhm_folder(d / "nested", m)]


def seeds_human3r(d: Path) -> list[Path]:
    from support.motion import write_human3r_folder
    body = _body()
    a, b = _motion(3).replace(frame="camera"), _motion(3).replace(frame="camera")
    c2w = np.tile(np.eye(4), (3, 1, 1))
    return [write_human3r_folder(d / "one", {0: a}, c2w, body),
            write_human3r_folder(d / "two", {1: a, 4: b}, c2w, body, absent={4: {1}})]


def seeds_gvhmr(d: Path) -> list[Path]:
    from support.motion import write_gvhmr_pt
    m = _motion(4, hands=False)
    return [write_gvhmr_pt(d / "hmr4d_results.pt", m, m)]


def seeds_motionx(d: Path) -> list[Path]:
    from support.motion import write_motionx_npy
    return [write_motionx_npy(d / "clip.npy", _motion(5))]


def seeds_bvh(d: Path) -> list[Path]:
    from avatar_studio.core.motion.export import save_bvh
    return [save_bvh(_motion(4), d / "ours.bvh", _body())]


def seeds_project(d: Path) -> list[Path]:
    from avatar_studio.core.project import save_project
    from avatar_studio.core.scene import AvatarItem, Placement, Scene, SplatsItem
    scene = Scene()
    scene.add(AvatarItem(name="dancer", avatar=_avatar(150), motion=_motion(4),
                         placement=Placement(np.array([1, 0, 2], np.float32), 30.0, 1.2)))
    scene.add(SplatsItem(name="props", gaussians=_gaussians(80, 0)))
    return [save_project(d / "scene.avsproj", scene)]


def _sequence_seeds(fmt: str, name: str, frame_format: str = "ply") -> Callable[[Path], list[Path]]:
    def make(d: Path) -> list[Path]:
        from avatar_studio.core.sequence import GaussianSequence, MemorySource, export_sequence
        seq = GaussianSequence(MemorySource([_gaussians(40, 0, s) for s in range(3)]), 24.0)
        return [export_sequence(seq, d / name, fmt, frame_format=frame_format)]
    return make


def seeds_sequence_npy(d: Path) -> list[Path]:
    from avatar_studio.core.sequence import gaussians_to_l4gm
    arr = np.stack([gaussians_to_l4gm(_gaussians(40, 0, s)) for s in range(3)])
    np.save(d / "seq.npy", arr)
    return [d / "seq.npy"]


def seeds_image(d: Path) -> list[Path]:
    from PIL import Image
    rng = np.random.default_rng(5)
    rgb = Image.fromarray(rng.integers(0, 255, (96, 80, 3), dtype=np.uint8))
    rgba = Image.fromarray(rng.integers(0, 255, (80, 72, 4), dtype=np.uint8))
    rgb.save(d / "photo.png")
    rgba.save(d / "cutout.png")
    rgb.save(d / "photo.jpg", quality=80)
    return [d / "photo.png", d / "cutout.png", d / "photo.jpg"]


def seeds_video(d: Path) -> list[Path]:
    from avatar_studio.core.export.video import VideoOptions, write_video
    rng = np.random.default_rng(6)
    frames = rng.integers(0, 255, (4, 64, 96, 3), dtype=np.uint8)
    out = []
    for ext in (".mp4", ".webm", ".gif"):
        out.append(write_video(d / f"clip{ext}", lambda i: frames[i], len(frames), VideoOptions(12.0, 5.0)))
    return out


# ---------------------------------------------------------------------------------------------- loads
def load_splats(path: Path):
    from avatar_studio.core.pipeline import load_splats as load
    return load(path)


def load_avatar(path: Path):
    from avatar_studio.core.io.avatar_file import read_avatar
    return read_avatar(path)


def load_gaussians(path: Path):
    from avatar_studio.core.io.formats import read_gaussians
    return read_gaussians(path)


def load_motion_and_save(path: Path, **options):
    """A motion as the CLI reads it, then written back as npz, LHM and BVH (the steps that follow a load)."""
    from avatar_studio.core.motion.detect import load_motion, save_motion
    body = _body()
    motion = load_motion(path, body=body, **options)
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        save_motion(motion, Path(tmp) / "m.npz", body)
        save_motion(motion, Path(tmp) / "lhm", body)
    return motion


def load_project(path: Path):
    from avatar_studio.core.project import load_project as load
    scene, data = load(path)
    return [scene.items, data.camera, data.extra, scene.time]


def load_sequence_frames(path: Path):
    from avatar_studio.core.sequence import load_sequence
    with load_sequence(path, readahead=0) as seq:
        return [seq[i] for i in range(min(seq.num_frames, 8))]


def load_image(path: Path):
    from avatar_studio.core.reconstruct.base import load_image as load
    return load(path)


def load_video(path: Path):
    from avatar_studio.core.mocap.video import frame_selection, iter_frames, probe
    info = probe(path)
    return [f for _, f in iter_frames(info, frame_selection(info), max_side=64)][:3]


def seeds_cli(d: Path) -> list[Path]:
    """One file of each kind `avatar-studio info` sorts out by itself."""
    out = []
    for make in (seeds_ply, seeds_avatar, _splat_seeds(".spz"), seeds_amass, seeds_motionx, seeds_bvh,
                 _sequence_seeds("zip", "seq.zip", "ply")):
        sub = d / f".{len(out)}"
        sub.mkdir()
        first = make(sub)[0]
        out.append(first.rename(d / first.name))
        shutil.rmtree(sub)
    return out


def load_cli_info(path: Path):
    """`avatar-studio info PATH` in-process: exit 0, or exit 2 with one `error:` line; never the catch-all."""
    import contextlib
    from avatar_studio.cli.main import main
    from avatar_studio.core.errors import InputError
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = main(["info", str(path)])
    text = err.getvalue().strip()
    if code == 0 and not text:
        return None
    if code == 2 and text.startswith("error: ") and "\n" not in text:
        raise InputError(text[len("error: "):])
    raise RuntimeError(f"avatar-studio info exited {code}: {text[:300]}")


TARGETS: dict[str, Target] = {t.name: t for t in [
    Target("ply", seeds_ply, load_splats),
    Target("avatar_ply", seeds_avatar, load_avatar),
    Target("compressed_ply", _splat_seeds(".compressed.ply"), load_gaussians),
    Target("spz", _splat_seeds(".spz"), load_gaussians),
    Target("splat", _splat_seeds(".splat"), load_gaussians),
    Target("ksplat", seeds_ksplat, load_gaussians),
    Target("sog", _splat_seeds(".sog"), load_gaussians),
    Target("sog_folder", seeds_sog_folder, load_gaussians, tree=True),
    Target("gltf", _splat_seeds(".glb"), load_gaussians),
    Target("amass_npz", seeds_amass, load_motion_and_save),
    Target("lhm", seeds_lhm, load_motion_and_save, tree=True),
    Target("human3r", seeds_human3r, load_motion_and_save, tree=True),
    Target("gvhmr", seeds_gvhmr, load_motion_and_save),
    Target("motionx", seeds_motionx, load_motion_and_save),
    Target("bvh", seeds_bvh, load_motion_and_save),
    Target("avsproj", seeds_project, load_project),
    Target("sequence_folder", _sequence_seeds("ply_folder", "frames"), load_sequence_frames, tree=True),
    Target("sequence_npz", _sequence_seeds("npz", "seq.npz"), load_sequence_frames),
    Target("sequence_npy", seeds_sequence_npy, load_sequence_frames),
    Target("sequence_zip", _sequence_seeds("zip", "seq.zip", "spz"), load_sequence_frames),
    Target("image", seeds_image, load_image),
    Target("video", seeds_video, load_video),
    Target("cli_info", seeds_cli, load_cli_info),
]}


# ------------------------------------------------------------------------------- core.open: the front door
def _one_of_each(d: Path, makers: list[tuple[Callable[[Path], list[Path]], str]]) -> list[Path]:
    """The first seed of each maker, saved under the given name (a wrong extension tests content sniffing)."""
    out = []
    for i, (make, name) in enumerate(makers):
        sub = d / f".{i}"
        sub.mkdir()
        first = make(sub)[0]
        out.append(first.rename(d / name))
        shutil.rmtree(sub)
    return out


_OPEN_FILES: list[tuple[Callable[[Path], list[Path]], str]] = [
    (seeds_image, "photo.png"), (seeds_project, "scene.avsproj"), (seeds_avatar, "avatar.ply"),
    (seeds_ply, "splats.ply"), (_splat_seeds(".spz"), "splats.spz"), (_splat_seeds(".splat"), "splats.splat"),
    (seeds_ksplat, "splats.ksplat"), (_splat_seeds(".sog"), "splats.sog"), (_splat_seeds(".glb"), "splats.glb"),
    (_splat_seeds(".compressed.ply"), "splats.compressed.ply"), (seeds_amass, "motion.npz"),
    (seeds_motionx, "motion.npy"), (seeds_bvh, "motion.bvh"), (seeds_gvhmr, "hmr4d_results.pt"),
    (_sequence_seeds("npz", "seq.npz"), "seq.npz"), (seeds_sequence_npy, "seq.npy"),
    (_sequence_seeds("zip", "seq.zip", "ply"), "seq.zip"),
]
# The same contents under a name that does not say (or misstates) what they are: the classifier decides by
# content, or says how to name the file. The mutation then follows the (wrong) name, e.g. bytes, not npz.
_OPEN_MISNAMED: list[tuple[Callable[[Path], list[Path]], str]] = [
    (seeds_image, "photo.jpg"), (seeds_image, "photo.npz"), (seeds_project, "scene.zip"),
    (seeds_avatar, "avatar.dat"), (seeds_ply, "splats.bin"), (_splat_seeds(".spz"), "splats.splat"),
    (_splat_seeds(".spz"), "splats.json"), (seeds_ksplat, "splats"), (_splat_seeds(".sog"), "splats.zip"),
    (_splat_seeds(".glb"), "splats.bvh"), (seeds_amass, "motion.zip"), (seeds_motionx, "motion.dat"),
    (seeds_bvh, "motion.txt"), (_sequence_seeds("npz", "seq.npz"), "seq.dat"),
    (seeds_sequence_npy, "seq.ply"), (_sequence_seeds("zip", "seq.zip", "spz"), "seq.npz"),
]


def seeds_open_files(d: Path) -> list[Path]:
    return _one_of_each(d, _OPEN_FILES)


def seeds_open_misnamed(d: Path) -> list[Path]:
    return _one_of_each(d, _OPEN_MISNAMED)


def seeds_open_folders(d: Path) -> list[Path]:
    """Folders the front door opens: LHM, Human3R, a GVHMR output folder, a SOG folder, a sequence folder."""
    out = []
    for name, make in (("lhm", seeds_lhm), ("human3r", seeds_human3r), ("gvhmr", seeds_gvhmr),
                       ("sog", seeds_sog_folder), ("frames", _sequence_seeds("ply_folder", "frames"))):
        sub = d / f".{name}"
        sub.mkdir()
        first = make(sub)[0]
        if first.is_file():  # GVHMR: its folder holds hmr4d_results.pt
            first = first.parent
            (d / name).mkdir()
            for f in first.iterdir():
                f.rename(d / name / f.name)
        else:
            first.rename(d / name)
        shutil.rmtree(sub)
        out.append(d / name)
    return out


def load_open(path: Path):
    """`core.open` as the window's open/drop calls it: classify, then open with the reader of that kind (a
    motion made playable); a sequence's first frames are read too."""
    from avatar_studio.core.open import classify, open_path
    found = classify(path)
    opened = open_path(path, playable=True)
    same = {opened.kind, found.kind} <= {"avatar", "splats"} or opened.kind == found.kind
    if not same or opened.format != found.format:
        raise RuntimeError(f"classify said {found.kind}/{found.format}, open_path {opened.kind}/{opened.format}")
    if opened.kind == "sequence":
        with opened.value as seq:
            return [found, [seq[i] for i in range(min(seq.num_frames, 8))]]
    return [found, opened.value]


def load_open_misnamed(path: Path):
    """`load_open`, where refusing with "name it .xyz" is a right answer too (a seed may be refused so)."""
    from avatar_studio.core.errors import InputError
    try:
        return load_open(path)
    except InputError as err:
        if "name it ." in str(err):
            return str(err)
        raise


TARGETS.update({t.name: t for t in [
    Target("open_file", seeds_open_files, load_open),
    Target("open_misnamed", seeds_open_misnamed, load_open_misnamed),
    Target("open_folder", seeds_open_folders, load_open, tree=True),
]})
