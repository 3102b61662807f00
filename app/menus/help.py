"""Help menu: a short tour and About."""
from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QMenu, QMessageBox

from ... import __version__
from . import make_action

if TYPE_CHECKING:
    from ..main_window import MainWindow

FIRST_FIVE_MINUTES = """\
1. Drop a full-body photo on the window (or File ▸ Open Photo). The progress bar names each stage; \
Cancel stops it within a second. The avatar appears in the viewport when it is ready.
2. Orbit with the left mouse button, pan with the right (or Shift+left), zoom with the wheel; F frames \
everything, 1/2/3 show front/side/back, G toggles the grid and K the skeleton.
3. Drop a motion (AMASS .npz, LHM folder, BVH, …) on the window to put it on the avatar. Space plays, \
←/→ step, Home/End jump; drag the playhead to scrub and the blue handles to choose a range.
4. The Motion panel trims, mirrors, locks the root, smooths and keys joints; Ctrl+Z undoes any edit.
5. File ▸ Export Video writes MP4/WebM/GIF/PNG; Export PLY writes the avatar or posed frames. \
Ctrl+S saves everything as one project file.
"""


class HelpMenu(QObject):
    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.w = window
        self.act_help = make_action(window, "&First Five Minutes", self.show_help,
                                    QKeySequence.StandardKey.HelpContents, "A short tour")
        self.act_about = make_action(window, "&About Avatar Studio", self.show_about)

    def fill(self, menu: QMenu) -> None:
        menu.addAction(self.act_help)
        menu.addAction(self.act_about)

    def show_help(self) -> None:
        QMessageBox.information(self.w, "First five minutes", FIRST_FIVE_MINUTES)

    def show_about(self) -> None:
        QMessageBox.about(self.w, "About Avatar Studio",
                          f"<b>Avatar Studio {__version__}</b><br>One photo in, an animatable 3D Gaussian-splat "
                          "avatar out.<br>Renderer: " + (self.w.viewport.renderer_label or "none"))
