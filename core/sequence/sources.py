"""Opening a sequence (`load_sequence`): a folder of per-frame splat files (natural-sorted, optional
`manifest.json` `{"fps": 30, "frames": [...]}`), an L4GM `.npz`/`.npy` (l4gm.py), a `.zip` of per-frame
PLYs (Brush), or a single splat file (one frame). The sequence remembers where it came from (`origin`).
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Sequence

from ..errors import InputError
from ..gaussians import GaussianSet
from ..io.safe import (MAX_JSON_BYTES, excerpt, file_members, open_zip, read_bytes_limited, read_member,
                       require_regular_file)
from .l4gm import _load_npy, _load_npz
from .model import (DEFAULT_CACHE_BYTES, DEFAULT_FPS, FRAME_EXTENSIONS, FrameSource, GaussianSequence, _read_manifest,
                    natural_key)


class FileListSource:
    """One splat file per frame."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = [Path(p) for p in paths]
        self.num_frames = len(self.paths)

    def load(self, index: int) -> GaussianSet:
        from ..io.formats import read_gaussians
        return read_gaussians(self.paths[index])

    def frame_name(self, index: int) -> str:
        return self.paths[index].name

    def close(self) -> None:
        pass


class ZipSource:
    """One splat file per zip member (Brush's sequence format); each load reads one member."""

    def __init__(self, path: Path, members: Sequence[str]) -> None:
        self.path = Path(path)
        self.members = list(members)
        self.num_frames = len(self.members)
        self._zip = open_zip(self.path, excerpt(self.path.name))
        self._lock = threading.Lock()

    def load(self, index: int) -> GaussianSet:
        from ..io.formats import decode_gaussians
        name = self.members[index]
        with self._lock:
            data = read_member(self._zip, name, excerpt(self.path.name))
        return decode_gaussians(data, name)

    def frame_name(self, index: int) -> str:
        return f"{self.path.name}:{self.members[index]}"

    def close(self) -> None:
        with self._lock:
            self._zip.close()


def _is_frame_name(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return not base.startswith(".") and base.lower().endswith(FRAME_EXTENSIONS)


def _load_folder(path: Path) -> tuple[FrameSource, float | None]:
    manifest_path = path / "manifest.json"
    manifest = _read_manifest(read_bytes_limited(manifest_path), manifest_path.name) if manifest_path.exists() else {}
    if manifest.get("frames"):
        files = [path / f for f in manifest["frames"]]
        missing = [excerpt(f.name, 40) for f in files if not f.is_file()]
        if missing:
            raise InputError(f"{excerpt(path.name)}/manifest.json lists frames that do not exist: "
                             f"{', '.join(missing[:5])}.")
    else:
        files = sorted((f for f in path.iterdir() if f.is_file() and _is_frame_name(f.name)),
                       key=lambda f: natural_key(f.name))
    if not files:
        raise InputError(f"The folder {path} holds no frame files ({', '.join(FRAME_EXTENSIONS)}).")
    return FileListSource(files), manifest.get("fps")


def _load_zip(path: Path) -> tuple[FrameSource, float | None]:
    label = excerpt(path.name)
    with open_zip(path, label) as zf:
        names = [i.filename for i in file_members(zf)]
        manifest_name = next((n for n in names if n.rsplit("/", 1)[-1] == "manifest.json"), None)
        manifest = (_read_manifest(read_member(zf, manifest_name, label, MAX_JSON_BYTES), manifest_name)
                    if manifest_name else {})
    if manifest.get("frames"):
        prefix = manifest_name.rsplit("/", 1)[0] + "/" if "/" in manifest_name else ""
        members = [prefix + f for f in manifest["frames"]]
        missing = [excerpt(m, 40) for m in members if m not in names]
        if missing:
            raise InputError(f"{label}: manifest.json lists missing members {', '.join(missing[:5])}.")
    else:
        members = sorted((n for n in names if _is_frame_name(n) and not n.startswith("__MACOSX/")), key=natural_key)
    if not members:
        raise InputError(f"{path.name} holds no frame files ({', '.join(FRAME_EXTENSIONS)}).")
    return ZipSource(path, members), manifest.get("fps")


def load_sequence(path: str | Path, *, fps: float | None = None, cache_bytes: int = DEFAULT_CACHE_BYTES,
                  readahead: int = 2) -> GaussianSequence:
    """Open a Gaussian sequence (folder, .npz, .npy, .zip or one splat file); frames load on demand.

    `fps` overrides the stored frame rate (default when none is stored: 30).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"File not found: {excerpt(str(path), 200)}")
    lower = path.name.lower()
    if not path.is_dir():
        require_regular_file(path)
    if path.is_dir():
        source, stored = _load_folder(path)
    elif lower.endswith(".npz"):
        source, stored = _load_npz(path)
    elif lower.endswith(".npy"):
        source, stored = _load_npy(path)
    elif lower.endswith(".zip"):
        source, stored = _load_zip(path)
    elif _is_frame_name(path.name):
        source, stored = FileListSource([path]), None
    else:
        raise InputError(f"{path.name} is not a Gaussian sequence: use a folder of PLYs, an L4GM .npz/.npy or a "
                         ".zip of PLYs.")
    return GaussianSequence(source, fps or stored or DEFAULT_FPS, name=path.stem, cache_bytes=cache_bytes,
                            readahead=readahead, origin=str(path.resolve()))
