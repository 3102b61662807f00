"""Batch jobs: read JOBS (a folder of photos, a CSV/JSON manifest or a glob) and plan the tasks.

A job is one row: a photo or an avatar, an optional motion, the outputs wanted. Jobs turn into
tasks, the units a worker runs:
- an *avatar* task per distinct photo (and reconstruction settings): OUT/<subject>/avatar.ply;
- a *motion* task per job with a motion: OUT/<subject>/<motion>.<kind> for each kind asked for
  (mp4/webm/gif video, glb = rigged GLB with the animation; ply = the avatar posed at `time` for an
  avatar row, while a photo row's "ply" is its avatar.ply).
A photo reconstructed for many motions is reconstructed once; its motion tasks wait for it.
"""
from __future__ import annotations

import csv
import glob as globlib
import hashlib
import json
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import InputError

PHOTO_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
AVATAR_EXTS = (".ply",)
VIDEO_KINDS = ("mp4", "webm", "gif")
OUTPUT_KINDS = ("ply", "glb") + VIDEO_KINDS
CAMERAS = ("fixed", "turntable", "follow")
COLUMNS = ("photo", "avatar", "motion", "outputs", "size", "camera", "frames", "fps", "time", "backend",
           "gaussians", "renderer", "model", "prior", "body")
GPU_BACKENDS = ("lhm",)
GPU_RENDERERS = ("gsplat",)


@dataclass(kw_only=True)
class JobSettings:
    """The per-job values a manifest row may set, one column each; the command line gives the defaults."""

    size: tuple[int, int] = (512, 512)
    camera: str = "fixed"
    frames: int | None = None
    fps: float | None = None
    time: float = 0.0
    backend: str = "template"
    gaussians: int | None = None
    renderer: str = "auto"
    model: str | None = None
    prior: str | None = None
    body: str | None = None


def settings_of(s: JobSettings) -> dict[str, Any]:
    """The JobSettings fields of `s` (defaults, a job or a task) as keyword arguments."""
    return {f.name: getattr(s, f.name) for f in fields(JobSettings)}


@dataclass(kw_only=True)
class JobDefaults(JobSettings):
    """Values for the columns a row leaves empty (from the command line)."""

    motions: list[str] = field(default_factory=list)   # folder/glob sources: every photo x every motion
    outputs: list[str] | None = None                    # None: ply without a motion, mp4 with one


@dataclass(kw_only=True)
class Job(JobSettings):
    """One row, resolved: absolute paths, parsed values. `error` marks a row that cannot run."""

    row: int
    photo: str | None
    avatar: str | None
    motion: str | None
    outputs: list[str]
    error: str | None = None


@dataclass(kw_only=True)
class Task(JobSettings):
    """One unit of work for a worker; plain data, so it pickles to a process or a Ray node.

    kind "avatar": reconstruct `photo` into outputs["ply"].
    kind "motion": drive `avatar` (a file, perhaps another task's output) with `motion`.
    kind "invalid": a row that cannot run; it fails at once with `error`.
    """

    id: str
    kind: str
    outputs: dict[str, str]
    photo: str | None = None
    avatar: str | None = None
    motion: str | None = None
    depends_on: str | None = None
    error: str | None = None
    rows: list[int] = field(default_factory=list)

    @property
    def needs_gpu(self) -> bool:
        """LHM reconstruction and gsplat rendering run on a CUDA GPU; the rest on CPUs."""
        if self.kind == "avatar":
            return self.backend in GPU_BACKENDS
        if self.kind == "motion":
            return self.renderer in GPU_RENDERERS and any(k in VIDEO_KINDS for k in self.outputs)
        return False

    def key(self) -> str:
        """A digest of everything that decides the outputs: a finished task with the same key is not redone."""
        d = asdict(self)
        d.pop("rows")
        return hashlib.sha1(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Task":
        d = dict(d)
        d["size"] = tuple(d.get("size", (512, 512)))
        return cls(**d)


# ------------------------------------------------------------------------------------ reading JOBS
def _short(value: Any, limit: int = 40) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def parse_size(value: Any) -> tuple[int, int]:
    """512 or "1280x720" -> (w, h)."""
    text = str(value).strip().lower()
    try:
        if "x" in text:
            w, h = text.split("x")
            size = int(w), int(h)
        else:
            size = int(float(text)), int(float(text))
    except ValueError:
        raise InputError(f"size must look like 512 or 1280x720, not '{_short(value)}'") from None
    if not all(16 <= s <= 8192 for s in size):
        raise InputError(f"size {size[0]}x{size[1]} is out of range (16..8192 pixels per side)")
    return size


def parse_outputs(value: Any) -> list[str]:
    """"ply mp4", "ply;mp4", "ply,mp4" or a JSON list -> ["ply", "mp4"], each a known kind."""
    items = value if isinstance(value, (list, tuple)) else re.split(r"[\s,;|+]+", str(value).strip())
    kinds = [str(k).strip().lower().lstrip(".") for k in items if str(k).strip()]
    bad = [k for k in kinds if k not in OUTPUT_KINDS]
    if bad:
        raise InputError(f"unknown output kind '{_short(bad[0])}'; use {', '.join(OUTPUT_KINDS)}")
    return list(dict.fromkeys(kinds))


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _resolve(path: Any, base: Path) -> str:
    p = Path(str(path).strip()).expanduser()
    return str((p if p.is_absolute() else base / p).resolve())


def _job(row: int, rec: dict[str, Any], base: Path, d: JobDefaults) -> Job:
    """One manifest row -> Job; a bad value makes a Job with `error` set (the row fails, the batch goes on)."""
    def get(name: str, default: Any) -> Any:
        v = rec.get(name)
        return default if _blank(v) else v

    photo, avatar, motion = get("photo", None), get("avatar", None), get("motion", None)
    job = Job(row=row, photo=_resolve(photo, base) if photo else None,
              avatar=_resolve(avatar, base) if avatar else None, motion=_resolve(motion, base) if motion else None,
              outputs=[], **settings_of(d))
    try:
        if (photo is None) == (avatar is None):
            raise InputError("give exactly one of photo or avatar")
        outputs = get("outputs", None)
        job.outputs = parse_outputs(outputs) if outputs is not None else (
            list(d.outputs) if d.outputs else (["mp4"] if motion else ["ply"]))
        job.size = parse_size(get("size", None)) if get("size", None) is not None else d.size
        job.camera = str(get("camera", d.camera)).strip().lower()
        if job.camera not in CAMERAS:
            raise InputError(f"unknown camera '{_short(job.camera)}'; use {', '.join(CAMERAS)}")
        for name, conv in (("frames", int), ("fps", float), ("time", float), ("gaussians", int)):
            v = get(name, None)
            if v is not None:
                try:
                    setattr(job, name, conv(float(v)) if conv is int else conv(v))
                except ValueError:
                    raise InputError(f"{name} must be a number, not '{_short(v)}'") from None
        if job.frames is not None and job.frames < 1:
            raise InputError("frames must be at least 1")
        job.backend = str(get("backend", d.backend)).strip()
        job.renderer = str(get("renderer", d.renderer)).strip()
        for name in ("model", "prior", "body"):
            v = get(name, None)
            if v is not None:
                setattr(job, name, _resolve(v, base))
        if motion is None and any(k in VIDEO_KINDS for k in job.outputs):
            raise InputError(f"{'/'.join(k for k in job.outputs if k in VIDEO_KINDS)} output needs a motion")
        if avatar is not None and motion is None:
            raise InputError("an avatar row needs a motion (there is nothing to make from the avatar alone)")
    except InputError as err:
        job.error = str(err)
    return job


def _manifest_records(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"Cannot read the manifest {path.name}: {err}") from err
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise InputError(f"{path.name} is not valid JSON (line {err.lineno}: {err.msg}).") from None
        records = data.get("jobs") if isinstance(data, dict) else data
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise InputError(f"{path.name}: expected a list of job objects (or {{\"jobs\": [...]}}).")
    else:
        reader = csv.DictReader(text.splitlines())
        if not reader.fieldnames:
            raise InputError(f"{path.name} is empty; the first line names the columns (photo, motion, outputs...).")
        records = [{(k or "").strip().lower(): v for k, v in r.items()} for r in reader]
    unknown = sorted({k for r in records for k in r if k not in COLUMNS})
    if unknown:
        raise InputError(f"{path.name}: unknown column '{_short(unknown[0])}'; columns are {', '.join(COLUMNS)}.")
    return records


def _file_records(files: list[Path], defaults: JobDefaults) -> list[dict[str, Any]]:
    """Photos (and avatar PLYs) found in a folder or by a glob, each with every default motion."""
    records = []
    for f in files:
        col = "avatar" if f.suffix.lower() in AVATAR_EXTS else "photo"
        for m in defaults.motions or [None]:
            records.append({col: str(f), "motion": m})
    return records


def read_jobs(source: str | Path, defaults: JobDefaults | None = None) -> list[Job]:
    """JOBS -> jobs. A folder: its photos (and .ply avatars); .csv/.json: a manifest; else a glob."""
    d = defaults or JobDefaults()
    text = str(source)
    path = Path(text).expanduser()
    cwd = Path.cwd()
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_EXTS + AVATAR_EXTS)
        if not files:
            raise InputError(f"No photos in {path} (looked for {', '.join(PHOTO_EXTS + AVATAR_EXTS)}).")
        records, base = _file_records(files, d), cwd
    elif path.suffix.lower() in (".csv", ".json") and path.is_file():
        records, base = _manifest_records(path), path.resolve().parent
    elif any(c in text for c in "*?["):
        files = sorted(Path(p) for p in globlib.glob(str(path), recursive=True)
                       if Path(p).is_file() and Path(p).suffix.lower() in PHOTO_EXTS + AVATAR_EXTS)
        if not files:
            raise InputError(f"No photos match '{_short(text, 80)}'.")
        records, base = _file_records(files, d), cwd
    elif path.is_file() and path.suffix.lower() in PHOTO_EXTS + AVATAR_EXTS:
        records, base = _file_records([path], d), cwd
    else:
        raise InputError(f"JOBS must be a folder of photos, a .csv/.json manifest or a glob; '{_short(text, 80)}' "
                         "is none of these.")
    if not records:
        raise InputError(f"{path.name} lists no jobs.")
    return [_job(i + 1, r, base, d) for i, r in enumerate(records)]


# ------------------------------------------------------------------------------------ planning
def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "job"


def _unique(name: str, taken: set[str]) -> str:
    out, n = name, 2
    while out in taken:
        out, n = f"{name}-{n}", n + 1
    taken.add(out)
    return out


def plan_tasks(jobs: list[Job], out_dir: str | Path) -> list[Task]:
    """Jobs -> tasks, avatar tasks before the motion tasks that read their avatar. Task ids are
    stable for the same JOBS, so a resumed run finds its earlier results."""
    out = Path(out_dir).resolve()
    tasks: list[Task] = []
    avatar_tasks: dict[tuple, Task] = {}
    subject_of: dict[str, str] = {}   # input file -> its folder name under OUT
    subjects: set[str] = set()
    motion_names: dict[str, set[str]] = {}

    def subject(src: str) -> str:
        if src not in subject_of:
            subject_of[src] = _unique(_slug(Path(src).stem), subjects)
        return subject_of[src]

    for job in jobs:
        src = job.photo or job.avatar or f"row{job.row}"
        if job.error:
            name = f"row{job.row}"
            tasks.append(Task(id=f"{name}/invalid", kind="invalid", outputs={}, photo=job.photo, avatar=job.avatar,
                              motion=job.motion, error=f"row {job.row}: {job.error}", rows=[job.row]))
            continue
        subj = subject(src)
        folder = out / subj
        common = dict(backend=job.backend, gaussians=job.gaussians, model=job.model, prior=job.prior)
        dep = None
        avatar_file = job.avatar
        if job.photo:
            akey = (job.photo, tuple(sorted(common.items(), key=lambda kv: kv[0])))
            if akey not in avatar_tasks:
                # A second reconstruction setting of the same photo goes to its own folder.
                if any(t.photo == job.photo for t in avatar_tasks.values()):
                    subj = _unique(subj, subjects)
                    folder = out / subj
                at = Task(id=f"{subj}/avatar", kind="avatar", outputs={"ply": str(folder / "avatar.ply")},
                          photo=job.photo, **common)
                avatar_tasks[akey] = at
                tasks.append(at)
            at = avatar_tasks[akey]
            at.rows.append(job.row)
            folder = Path(at.outputs["ply"]).parent
            subj = folder.name
            dep, avatar_file = at.id, at.outputs["ply"]
            if job.motion is None and "glb" in job.outputs and not any(t.id == f"{subj}/glb" for t in tasks):
                tasks.append(Task(id=f"{subj}/glb", kind="motion", outputs={"glb": str(folder / "avatar.glb")},
                                  avatar=avatar_file, depends_on=dep, body=job.body, rows=[job.row]))
        if job.motion is None:
            continue
        # "ply" of a photo row is the avatar itself; of an avatar row, the avatar posed at `time`.
        kinds = [k for k in job.outputs if k != "ply" or job.photo is None]
        if not kinds:
            continue
        name = _unique(_slug(Path(job.motion).stem), motion_names.setdefault(subj, {"avatar", "glb"}))
        outputs = {k: str(folder / f"{name}.{k}") for k in kinds}
        tasks.append(Task(id=f"{subj}/{name}", kind="motion", outputs=outputs, avatar=avatar_file,
                          motion=job.motion, depends_on=dep, size=job.size, camera=job.camera, frames=job.frames,
                          fps=job.fps, time=job.time, renderer=job.renderer, body=job.body, rows=[job.row]))
    return tasks
