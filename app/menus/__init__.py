"""The window's menus, one module per menu (as napari keeps one module per menu): each builds its actions
and holds their slots, and asks `core` for every decision; `MainWindow` only lays them out and wires them.

    file.py      New, Open, Open Photo, Load Motion, Recent, Demo, Save, Settings, Quit (opening, projects)
    edit.py      Undo, Redo, Remove
    view.py      framing, views, grid, skeleton, FPS, background, flip, docks
    playback.py  play, step, jump, loop
    motion.py    the Motion panel's actions, motion from video, BVH mapping (motion edits as undo steps)
    export.py    video, PLY and GLB export (requests run by core/export/requests.py as jobs)
    help.py      First Five Minutes, About
"""
from __future__ import annotations

from typing import Any, Callable

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

from ..icons import icon


def make_action(owner: QWidget, text: str, slot: Callable, shortcut: Any = None, tip: str = "", icon_name: str = "",
                checkable: bool = False, checked: bool = False) -> QAction:
    """A QAction on `owner` (so its shortcut works while the menus are closed). A checkable action's
    slot gets the new state; a plain one is called with no arguments."""
    act = QAction(text, owner)
    if icon_name:
        act.setIcon(icon(icon_name))
        # a checkable action's menu entry shows its tick, not the icon (the icon stays on the toolbar)
        act.setIconVisibleInMenu(not checkable)
    if shortcut is not None:
        if isinstance(shortcut, (list, tuple)):
            act.setShortcuts([QKeySequence(s) for s in shortcut])
        else:
            act.setShortcut(QKeySequence(shortcut))
    if tip:
        act.setToolTip(tip)
        act.setStatusTip(tip)
    act.setCheckable(checkable)
    if checkable:
        act.setChecked(checked)
        act.toggled.connect(slot)
    else:
        act.triggered.connect(lambda _=False: slot())
    owner.addAction(act)
    return act
