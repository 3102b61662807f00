"""Project files: a whole scene (avatars, motions as edited, splats, placements, time, camera and view
state) in one `.avsproj` file, so the GUI (and the CLI) can save and reopen a session.

The file is a zip archive:
    project.json                 format id, version, items, selection, time, camera, free `extra` state
    items/<n>/avatar.ply         rigged avatar (the avatar file format: a standard 3DGS PLY + rig)
    items/<n>/motion.npz         the motion as edited (AMASS-style npz written by `Motion.save_npz`)
    items/<n>/splats.ply         static Gaussians
Sequences are referenced by their source path (they can be gigabytes), not embedded.

Writes are atomic (temp file, then rename): a crash never leaves half a project behind.
Qt-free; the GUI keeps GUI-only state (trim ranges, view toggles) in `extra`.
"""
from __future__ import annotations

import json
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import InputError

if TYPE_CHECKING:
    from .scene import Scene

FORMAT_ID = "avatar-studio-project"
FORMAT_VERSION = 1
PROJECT_SUFFIX = ".avsproj"


@dataclass
class ProjectData:
    """What a project file holds besides the scene itself."""

    camera: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    item_extra: list[dict[str, Any]] = field(default_factory=list)  # per item, in scene order
    warnings: list[str] = field(default_factory=list)  # filled on load (e.g. a missing sequence)


def _placement_dict(p) -> dict[str, Any]:
    return {"translation": [float(v) for v in np.asarray(p.translation).reshape(3)], "yaw_deg": float(p.yaw_deg),
            "scale": float(p.scale)}


def _sequence_source(seq: Any) -> str | None:
    """The file or folder a GaussianSequence was loaded from, if it can be told."""
    source = getattr(seq, "source", None)
    for obj in (seq, source):
        for attr in ("origin", "path", "source_path"):
            v = getattr(obj, attr, None)
            if isinstance(v, (str, Path)) and str(v):
                return str(Path(v).resolve())
    paths = getattr(source, "paths", None)
    if paths:
        return str(Path(paths[0]).resolve().parent)
    return None


def save_project(path: str | Path, scene: "Scene", data: ProjectData | None = None) -> Path:
    """Write `scene` (and `data`) to `path` (.avsproj), atomically."""
    from .io.atomic import atomic_path
    from .io.avatar_file import write_avatar
    from .io.ply import write_ply

    data = data or ProjectData()
    path = Path(path)
    items_json = []
    with tempfile.TemporaryDirectory(prefix="avsproj-") as tmp_name:
        tmp = Path(tmp_name)
        members: list[tuple[Path, str]] = []
        for n, item in enumerate(scene.items):
            entry: dict[str, Any] = {"name": item.name, "kind": item.kind, "visible": bool(item.visible),
                                     "placement": _placement_dict(item.placement)}
            folder = tmp / f"items/{n}"
            folder.mkdir(parents=True)
            if item.avatar is not None:
                write_avatar(folder / "avatar.ply", item.avatar)
                entry["avatar"] = f"items/{n}/avatar.ply"
                members.append((folder / "avatar.ply", entry["avatar"]))
            if item.motion is not None:
                item.motion.save_npz(folder / "motion.npz")
                entry["motion"] = f"items/{n}/motion.npz"
                members.append((folder / "motion.npz", entry["motion"]))
                if item.motion.meta.get("retarget"):  # a BVH's source and the user's mapping
                    entry["retarget"] = item.motion.meta["retarget"]
            if item.gaussians is not None and item.avatar is None:
                write_ply(folder / "splats.ply", item.gaussians)
                entry["splats"] = f"items/{n}/splats.ply"
                members.append((folder / "splats.ply", entry["splats"]))
            if item.sequence is not None:
                entry["sequence_source"] = _sequence_source(item.sequence)
                entry["sequence_fps"] = float(item.sequence.fps)
            if n < len(data.item_extra):
                entry["extra"] = data.item_extra[n]
            items_json.append(entry)
        selected = next((n for n, i in enumerate(scene.items) if i is scene.selected), None)
        doc = {"format": FORMAT_ID, "version": FORMAT_VERSION, "items": items_json, "selected": selected,
               "time": float(scene.time), "camera": data.camera, "extra": data.extra}
        with atomic_path(path, suffix=PROJECT_SUFFIX) as out:
            try:
                with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as zf:
                    zf.writestr("project.json", json.dumps(doc, indent=1))
                    for src, arc in members:
                        zf.write(src, arc)
            except OSError as err:
                raise InputError(f"Cannot write the project {path.name}: {err.strerror or err}.") from err
    return path


def load_project(path: str | Path, scene: "Scene | None" = None) -> tuple["Scene", ProjectData]:
    """Read a project; returns (scene, data). Items are added to `scene` if given (else a new Scene)."""
    from .io.avatar_file import read_avatar_or_gaussians
    from .motion.amass import load_amass
    from .scene import Placement, Scene, SceneItem
    from .avatar import Avatar

    path = Path(path)
    if not path.is_file():
        raise InputError(f"Project not found: {path}")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise InputError(f"{path.name} is not an Avatar Studio project (not a readable archive: {err}).") from err
    data = ProjectData()
    new_items = []
    with zf, tempfile.TemporaryDirectory(prefix="avsproj-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            doc = json.loads(zf.read("project.json").decode("utf-8"))
        except KeyError:
            raise InputError(f"{path.name} is not an Avatar Studio project (it has no project.json).") from None
        except (ValueError, UnicodeDecodeError) as err:
            raise InputError(f"{path.name}: project.json is corrupt ({err}).") from err
        if not isinstance(doc, dict) or doc.get("format") != FORMAT_ID:
            raise InputError(f"{path.name} is not an Avatar Studio project.")
        if int(doc.get("version", 0)) > FORMAT_VERSION:
            raise InputError(f"{path.name} was written by a newer Avatar Studio (project version "
                             f"{doc.get('version')}); please update.")

        def member(name: str) -> Path:
            if name not in zf.namelist():
                raise InputError(f"{path.name} is damaged: {name} is missing.")
            target = tmp / name
            if tmp.resolve() not in target.resolve().parents:
                raise InputError(f"{path.name} is damaged: bad member name {name}.")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(name))
            return target

        try:
            for entry in doc.get("items", []):
                p = entry.get("placement", {})
                placement = Placement(np.asarray(p.get("translation", [0, 0, 0]), np.float32).reshape(3),
                                      float(p.get("yaw_deg", 0.0)), float(p.get("scale", 1.0)))
                item = SceneItem(name=str(entry.get("name", "item")), placement=placement,
                                 visible=bool(entry.get("visible", True)))
                if "avatar" in entry:
                    avatar = read_avatar_or_gaussians(member(entry["avatar"]))
                    if not isinstance(avatar, Avatar):
                        raise InputError(f"{path.name} is damaged: {entry['avatar']} has no rig.")
                    avatar.name = item.name
                    item.avatar = avatar
                if "motion" in entry:
                    item.motion = load_amass(member(entry["motion"]))
                    if isinstance(entry.get("retarget"), dict):
                        item.motion.meta["retarget"] = entry["retarget"]
                if "splats" in entry:
                    splats = member(entry["splats"])
                    # projects saved before PLYs named their frame held the splats y-up, as the scene does
                    with open(splats, "rb") as fh:
                        named = b"comment avatar_studio frame " in fh.read(65536)
                    g = read_avatar_or_gaussians(splats, None if named else "y")
                    item.gaussians = g.gaussians if isinstance(g, Avatar) else g
                if "sequence_source" in entry:
                    src = entry.get("sequence_source")
                    try:
                        from .sequence import load_sequence
                        if not src:
                            raise InputError("its source was not recorded")
                        item.sequence = load_sequence(src, fps=entry.get("sequence_fps"))
                    except Exception as err:  # keep the rest of the project
                        data.warnings.append(f"The sequence '{item.name}' could not be reopened from {src} ({err}).")
                        continue
                if item.avatar is None and item.gaussians is None and item.sequence is None:
                    data.warnings.append(f"Item '{item.name}' had no content and was skipped.")
                    continue
                new_items.append(item)
                data.item_extra.append(dict(entry.get("extra", {})))
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(f"{path.name}: project.json is damaged ({err}).") from err
    scene = scene if scene is not None else Scene()
    for item in new_items:
        scene.add(item, select=False)
    sel = doc.get("selected")
    if isinstance(sel, int) and 0 <= sel < len(new_items):
        scene.select(new_items[sel])
    elif new_items:
        scene.select(new_items[0])
    scene.set_time(float(doc.get("time", 0.0)))
    data.camera = doc.get("camera")
    data.extra = dict(doc.get("extra") or {})
    return scene, data
