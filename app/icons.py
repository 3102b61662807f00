"""Icons from `resources/icons/*.svg` (drawn for a dark theme; rendered crisp at any device pixel ratio)."""
from __future__ import annotations

from functools import lru_cache

from PySide6.QtGui import QIcon

from .. import RESOURCES_DIR

ICON_DIR = RESOURCES_DIR / "icons"


@lru_cache(maxsize=None)
def icon(name: str) -> QIcon:
    """QIcon for `name` (the file stem); an empty icon if the file is missing."""
    path = ICON_DIR / f"{name}.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()
