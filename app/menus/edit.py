"""Edit menu: Undo, Redo (the window's undo stack) and Remove Item."""
from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QMenu

from ..icons import icon
from . import make_action

if TYPE_CHECKING:
    from ..main_window import MainWindow


class EditMenu(QObject):
    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        S = QKeySequence.StandardKey
        self.act_undo = window.undo_stack.createUndoAction(window, "&Undo")
        self.act_undo.setShortcut(S.Undo)
        self.act_undo.setIcon(icon("undo"))
        self.act_redo = window.undo_stack.createRedoAction(window, "&Redo")
        self.act_redo.setShortcuts([QKeySequence(S.Redo), QKeySequence("Ctrl+Y")])
        self.act_redo.setIcon(icon("redo"))
        window.addAction(self.act_undo)
        window.addAction(self.act_redo)
        self.act_remove = make_action(window, "&Remove Item", window.scene_panel._remove, S.Delete,
                                      "Remove the selected item")

    def fill(self, menu: QMenu) -> None:
        menu.addAction(self.act_undo)
        menu.addAction(self.act_redo)
        menu.addSeparator()
        menu.addAction(self.act_remove)
