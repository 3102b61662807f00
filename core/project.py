"""Project files: a whole scene (avatars, motions as edited, splats, placements, time, camera and view
state) in one `.avsproj` file, so the GUI (and the CLI) can save and reopen a session.

The file is a zip archive:
    project.json                 format id, version, items, selection, time, camera, free `extra` state
    items/<n>/avatar.ply         rigged avatar (the avatar file format: a standard 3DGS PLY + rig)
    items/<n>/motion.npz         the motion as edited (AMASS-style npz written by `motion.amass.write_amass`)
    items/<n>/splats.ply         static Gaussians
An avatar's key markers (joint -> frames keyed by hand) are in its project.json entry.
Sequences are referenced by their source path (they can be gigabytes), not embedded.

Writes are atomic (temp file, then rename): a crash never leaves half a project behind.
Qt-free; the GUI keeps GUI-only state (trim ranges, view toggles) in `extra`.
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import InputError, StudioError
from .io.safe import excerpt

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
    """The file or folder a GaussianSequence was opened from (`load_sequence` records it), or None for
    one made in memory."""
    origin = getattr(seq, "origin", None)
    return str(origin) if origin else None


def save_project(path: str | Path, scene: "Scene", data: ProjectData | None = None) -> Path:
    """Write `scene` (and `data`) to `path` (.avsproj), atomically."""
    from .io.atomic import atomic_path, scratch_dir
    from .io.avatar_file import write_avatar
    from .io.ply import write_ply

    data = data or ProjectData()
    path = Path(path)
    items_json = []
    with scratch_dir("project-save") as tmp:
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
            if item.kind == "avatar" and item.keys:
                entry["keys"] = {str(j): list(f) for j, f in item.keys.items()}
            if item.motion is not None:
                from .motion.amass import write_amass
                write_amass(item.motion, folder / "motion.npz")
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


def _number(value: Any, what: str, default: float) -> float:
    """A finite number from project.json (bools and text refused)."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise InputError(f"{what} must be a finite number, not {excerpt(value)}.")
    return float(value)


def _placement(p: Any, where: str):
    from .scene import Placement
    if not isinstance(p, dict):
        raise InputError(f"{where}: placement must be an object, not {excerpt(p)}.")
    t = p.get("translation", [0, 0, 0])
    if not isinstance(t, list) or len(t) != 3:
        raise InputError(f"{where}: placement translation must be three numbers, not {excerpt(t)}.")
    translation = np.array([_number(v, f"{where}: translation", 0.0) for v in t], np.float32)
    scale = _number(p.get("scale"), f"{where}: scale", 1.0)
    if not 1e-6 <= scale <= 1e6:
        raise InputError(f"{where}: scale must be between 1e-6 and 1e6, not {excerpt(scale)}.")
    return Placement(translation, _number(p.get("yaw_deg"), f"{where}: yaw", 0.0), scale)


def _keys(value: Any, where: str) -> dict[int, list[int]]:
    """Key markers {"joint": [frames]} from project.json ({} when absent)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"{where}: keys must be an object, not {excerpt(value)}.")
    try:
        return {int(j): sorted(int(f) for f in frames) for j, frames in value.items() if frames}
    except (TypeError, ValueError):
        raise InputError(f"{where}: keys must map joint numbers to lists of frames, not {excerpt(value)}.") from None


def _member_name(name: Any, label: str) -> str:
    """A member name from project.json that stays inside the archive (no absolute or '..' parts)."""
    if not isinstance(name, str) or not name:
        raise InputError(f"{label} is damaged: a member name is {excerpt(name)}.")
    parts = name.split("/")
    if name.startswith("/") or "\\" in name or any(p in ("", ".", "..") for p in parts) or ":" in parts[0]:
        raise InputError(f"{label} is damaged: the member name {excerpt(name)} points outside the project.")
    return name


def load_project(path: str | Path, scene: "Scene | None" = None) -> tuple["Scene", ProjectData]:
    """Read a project; returns (scene, data). Items are added to `scene` if given (else a new Scene).

    Members are read size-limited into a private scratch folder under flat names, so a name in
    project.json cannot reach a file outside the archive.
    """
    from .io.atomic import scratch_dir
    from .io.avatar_file import read_avatar_or_gaussians
    from .io.safe import MAX_JSON_BYTES, loads_json, open_zip, read_member, require_regular_file
    from .motion.amass import load_amass
    from .avatar import Avatar
    from .scene import AvatarItem, Scene, SceneItem, SequenceItem, SplatsItem

    path = require_regular_file(path, "Project")
    label = excerpt(path.name)
    data = ProjectData()
    new_items = []
    with open_zip(path, f"{label} (not an Avatar Studio project)") as zf, scratch_dir("project") as tmp:
        names = set(zf.namelist())
        if "project.json" not in names:
            raise InputError(f"{label} is not an Avatar Studio project (it has no project.json).")
        doc = loads_json(read_member(zf, "project.json", label, MAX_JSON_BYTES), f"{label}: project.json")
        if not isinstance(doc, dict) or doc.get("format") != FORMAT_ID:
            raise InputError(f"{label} is not an Avatar Studio project.")
        version = _number(doc.get("version"), f"{label}: version", 0.0)
        if version > FORMAT_VERSION:
            raise InputError(f"{label} was written by a newer Avatar Studio (project version "
                             f"{excerpt(doc.get('version'))}); please update.")
        written: list[Path] = []

        def member(name: Any) -> Path:
            name = _member_name(name, label)
            if name not in names:
                raise InputError(f"{label} is damaged: {excerpt(name)} is missing.")
            target = tmp / f"m{len(written)}{Path(name).suffix.lower()}"
            target.write_bytes(read_member(zf, name, label))
            written.append(target)
            return target

        items = doc.get("items", [])
        if not isinstance(items, list):
            raise InputError(f"{label}: project.json is damaged (items is {excerpt(items)}).")
        for n, entry in enumerate(items):
            where = f"{label}: item {n + 1}"
            if not isinstance(entry, dict):
                raise InputError(f"{where} is {excerpt(entry)}, not an object.")
            name = excerpt(entry.get("name", "item"), 200)
            common = dict(placement=_placement(entry.get("placement", {}), where),
                          visible=bool(entry.get("visible", True)))
            item: SceneItem
            if "avatar" in entry:
                avatar = read_avatar_or_gaussians(member(entry["avatar"]))
                if not isinstance(avatar, Avatar):
                    raise InputError(f"{label} is damaged: {excerpt(entry['avatar'])} has no rig.")
                avatar.name = name
                item = AvatarItem(name, avatar, **common)
                if "motion" in entry:
                    item.motion = load_amass(member(entry["motion"]))
                    if isinstance(entry.get("retarget"), dict):
                        item.motion.meta["retarget"] = entry["retarget"]
                # key markers: their own entry; projects before it kept them in the window's item extra
                old_extra = entry.get("extra") if isinstance(entry.get("extra"), dict) else {}
                item.keys = _keys(entry.get("keys", old_extra.get("keys")), where)
            elif "splats" in entry:
                splats = member(entry["splats"])
                # projects saved before PLYs named their frame held the splats y-up, as the scene does
                with open(splats, "rb") as fh:
                    named = b"comment avatar_studio frame " in fh.read(65536)
                g = read_avatar_or_gaussians(splats, None if named else "y")
                item = SplatsItem(name, g.gaussians if isinstance(g, Avatar) else g, **common)
            elif "sequence_source" in entry:
                src = entry.get("sequence_source")
                try:
                    from .sequence import load_sequence
                    if not src or not isinstance(src, str):
                        raise InputError("its source was not recorded")
                    fps = _number(entry.get("sequence_fps"), f"{where}: sequence fps", 0.0) or None
                    item = SequenceItem(name, load_sequence(src, fps=fps), **common)
                except StudioError as err:  # keep the rest of the project
                    data.warnings.append(f"The sequence '{name}' could not be reopened from "
                                         f"{excerpt(src, 200)} ({excerpt(str(err), 300)}).")
                    continue
            else:
                data.warnings.append(f"Item '{name}' had no content and was skipped.")
                continue
            extra = entry.get("extra", {})
            new_items.append(item)
            data.item_extra.append(dict(extra) if isinstance(extra, dict) else {})
    scene = scene if scene is not None else Scene()
    for item in new_items:
        scene.add(item, select=False)
    sel = doc.get("selected")
    if isinstance(sel, int) and not isinstance(sel, bool) and 0 <= sel < len(new_items):
        scene.select(new_items[sel])
    elif new_items:
        scene.select(new_items[0])
    scene.set_time(_number(doc.get("time"), f"{label}: time", 0.0))
    camera, extra = doc.get("camera"), doc.get("extra")
    data.camera = camera if isinstance(camera, dict) else None
    data.extra = dict(extra) if isinstance(extra, dict) else {}
    return scene, data
