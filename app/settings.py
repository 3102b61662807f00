"""Persistent user settings (QSettings) and the checks that tell a person what is wrong with a path.

The path checks are plain functions (no Qt) so the settings dialog, the main window and tests share them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QSettings

RECONSTRUCTORS = ("template", "lhm")
RENDERERS = ("auto", "gl", "gsplat", "cpu")
MAX_RECENT = 10


# ---------------------------------------------------------------------- path checks (Qt-free)
@dataclass
class Check:
    """Outcome of a path check: `ok`, and a sentence for the user."""

    ok: bool
    message: str


def check_smplx_dir(path: str) -> Check:
    """A folder holding `smplx/SMPLX_NEUTRAL.npz` (or the `smplx/` folder itself, or one .npz file):
    found by the body model's own resolver, then opened to see that it is an SMPL-X file."""
    if not path:
        return Check(True, "Not set: the embedded stand-in body is used (fine for previews; "
                           "download SMPL-X from https://smpl-x.is.tue.mpg.de/ for real avatars).")
    p = Path(path).expanduser()
    if not p.exists():
        return Check(False, f"{p} does not exist.")
    from ..core.body.model import resolve_model_file
    from ..core.errors import StudioError
    try:
        found = resolve_model_file(p)
    except StudioError as err:
        return Check(False, str(err))
    try:
        import zipfile
        with zipfile.ZipFile(found) as zf:
            names = {n.removesuffix(".npy") for n in zf.namelist()}
    except (OSError, zipfile.BadZipFile) as err:
        return Check(False, f"{found.name} is not a readable .npz file ({err}).")
    missing = {"v_template", "f", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table"} - names
    if missing:
        return Check(False, f"{found.name} is not an SMPL-X model: it lacks {', '.join(sorted(missing))}.")
    return Check(True, f"SMPL-X model found: {found}.")


def check_lhm_model_dir(path: str) -> Check:
    """An official LHM checkpoint folder (config.json + model.safetensors, or a step_* folder of them)."""
    if not path:
        return Check(False, "Not set. The LHM back-end needs the folder with config.json and model.safetensors.")
    from ..core.errors import StudioError
    from ..core.lhm.checkpoint import find_checkpoint
    try:
        cfg, _ = find_checkpoint(path)
    except StudioError as err:
        return Check(False, str(err))
    return Check(True, f"LHM checkpoint found: {cfg.parent}.")


def check_lhm_prior_dir(path: str, model_dir: str = "") -> Check:
    """LHM's prior folder, checked file by file against the checkpoint's config when `model_dir` is valid."""
    if not path:
        return Check(False, "Not set. The LHM back-end needs LHM's 'pretrained_models' prior folder.")
    from ..core.errors import StudioError
    from ..core.lhm.config import LHMConfig
    from ..core.lhm.prior import check_prior_dir
    config = LHMConfig()  # LHM-500M/1B defaults when the model folder is not known yet
    if model_dir and check_lhm_model_dir(model_dir).ok:
        from ..core.lhm.checkpoint import find_checkpoint
        try:
            config = LHMConfig.from_json(find_checkpoint(model_dir)[0])
        except StudioError:
            pass
    try:
        root = check_prior_dir(path, config.num_points, config.sapiens_relpath)
    except StudioError as err:
        return Check(False, str(err))
    return Check(True, f"Prior folder complete for {config.num_points:,} query points: {root}.")


# ---------------------------------------------------------------------- QSettings wrapper
class StudioSettings:
    """Typed access to the studio's QSettings.

    Pass a QSettings (for example an INI file in a temp folder in tests); by default the platform's
    native store for organisation "AvatarStudio" is used, or the INI file named by the environment
    variable AVATAR_STUDIO_SETTINGS.
    """

    def __init__(self, qsettings: QSettings | None = None) -> None:
        if qsettings is None:
            env = os.environ.get("AVATAR_STUDIO_SETTINGS")
            qsettings = (QSettings(env, QSettings.Format.IniFormat) if env
                         else QSettings("AvatarStudio", "Avatar Studio"))
        self.q = qsettings

    # generic helpers ---------------------------------------------------
    def _str(self, key: str, default: str = "") -> str:
        v = self.q.value(key, default)
        return default if v is None else str(v)

    def _bool(self, key: str, default: bool) -> bool:
        v = self.q.value(key, default)
        if isinstance(v, str):
            return v.lower() in ("1", "true", "yes")
        return bool(v)

    def _float(self, key: str, default: float) -> float:
        try:
            return float(self.q.value(key, default))
        except (TypeError, ValueError):
            return default

    def sync(self) -> None:
        self.q.sync()

    # paths -------------------------------------------------------------
    @property
    def smplx_dir(self) -> str:
        return self._str("paths/smplx_dir")

    @smplx_dir.setter
    def smplx_dir(self, v: str) -> None:
        self.q.setValue("paths/smplx_dir", v)

    @property
    def lhm_model_dir(self) -> str:
        return self._str("paths/lhm_model_dir")

    @lhm_model_dir.setter
    def lhm_model_dir(self, v: str) -> None:
        self.q.setValue("paths/lhm_model_dir", v)

    @property
    def lhm_prior_dir(self) -> str:
        return self._str("paths/lhm_prior_dir")

    @lhm_prior_dir.setter
    def lhm_prior_dir(self, v: str) -> None:
        self.q.setValue("paths/lhm_prior_dir", v)

    # back-ends ---------------------------------------------------------
    @property
    def reconstructor(self) -> str:
        v = self._str("backend/reconstructor", "template")
        return v if v in RECONSTRUCTORS else "template"

    @reconstructor.setter
    def reconstructor(self, v: str) -> None:
        self.q.setValue("backend/reconstructor", v)

    @property
    def renderer(self) -> str:
        v = self._str("backend/renderer", "auto")
        return v if v in RENDERERS else "auto"

    @renderer.setter
    def renderer(self, v: str) -> None:
        self.q.setValue("backend/renderer", v)

    # view --------------------------------------------------------------
    @property
    def background(self) -> tuple[float, float, float]:
        v = self._str("view/background", "#3a3d42")
        try:
            v = v.lstrip("#")
            return tuple(int(v[i:i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]
        except ValueError:
            return (0.227, 0.239, 0.259)

    @background.setter
    def background(self, rgb: tuple[float, float, float]) -> None:
        self.q.setValue("view/background", "#" + "".join(f"{int(round(c * 255)):02x}" for c in rgb))

    @property
    def show_grid(self) -> bool:
        return self._bool("view/grid", True)

    @show_grid.setter
    def show_grid(self, v: bool) -> None:
        self.q.setValue("view/grid", bool(v))

    @property
    def show_skeleton(self) -> bool:
        return self._bool("view/skeleton", False)

    @show_skeleton.setter
    def show_skeleton(self, v: bool) -> None:
        self.q.setValue("view/skeleton", bool(v))

    # files -------------------------------------------------------------
    @property
    def recent_files(self) -> list[str]:
        v = self.q.value("files/recent", [])
        if isinstance(v, str):
            v = [v] if v else []
        return [str(x) for x in (v or [])][:MAX_RECENT]

    def add_recent(self, path: str | Path) -> list[str]:
        p = str(Path(path).resolve())
        files = [f for f in self.recent_files if f != p]
        files.insert(0, p)
        self.q.setValue("files/recent", files[:MAX_RECENT])
        return files[:MAX_RECENT]

    def clear_recent(self) -> None:
        self.q.setValue("files/recent", [])

    @property
    def last_dir(self) -> str:
        return self._str("files/last_dir", str(Path.home()))

    @last_dir.setter
    def last_dir(self, v: str) -> None:
        self.q.setValue("files/last_dir", v)

    @property
    def export_dir(self) -> str:
        """Where the last export went ("" before the first): exports do not follow `last_dir`, which may
        be a folder of inputs (the app's own sample motions)."""
        return self._str("files/export_dir", "")

    @export_dir.setter
    def export_dir(self, v: str) -> None:
        self.q.setValue("files/export_dir", v)

    @property
    def autosave_interval_s(self) -> float:
        return max(0.0, self._float("files/autosave_interval_s", 60.0))

    @autosave_interval_s.setter
    def autosave_interval_s(self, v: float) -> None:
        self.q.setValue("files/autosave_interval_s", float(v))

    # window ------------------------------------------------------------
    def window_state(self) -> tuple[object, object]:
        return self.q.value("window/geometry"), self.q.value("window/state")

    def save_window_state(self, geometry, state) -> None:
        self.q.setValue("window/geometry", geometry)
        self.q.setValue("window/state", state)
