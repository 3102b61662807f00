"""View menu: framing and the three views, grid, skeleton, FPS readout, background, Flip Upside Down and
the docks."""
from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QColorDialog, QMenu

from . import make_action

if TYPE_CHECKING:
    from ..main_window import MainWindow


class ViewMenu(QObject):
    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.w = w = window
        vp, s = w.viewport, w.settings
        self.act_frame = make_action(w, "&Frame All", w.frame_all, "F", "Fit everything in view (F)", "frame-all")
        self.act_front = make_action(w, "F&ront View", lambda: vp.set_view("front"), "1", "Look at the front (1)")
        self.act_side = make_action(w, "&Side View", lambda: vp.set_view("side"), "2", "Look from the side (2)")
        self.act_back = make_action(w, "&Back View", lambda: vp.set_view("back"), "3", "Look at the back (3)")
        self.act_grid = make_action(w, "Ground &Grid", self.set_grid, "G", "Show the ground grid (G)", "grid", True,
                                    s.show_grid)
        self.act_skeleton = make_action(w, "S&keleton", self.set_skeleton, "K", "Show the skeleton overlay (K)",
                                        "skeleton", True, s.show_skeleton)
        self.act_fps = make_action(w, "FPS &Readout", self.set_fps, None, "Show frame rate and render time",
                                   checkable=True, checked=True)
        self.act_background = make_action(w, "Background &Colour…", self.pick_background, None,
                                          "Viewport background colour")
        self.act_flip = make_action(w, "&Flip Upside Down", self.flip_selected, None,
                                    "Turn the selected splat scene 180° about X, for a file stored the other way up")

    def fill(self, menu: QMenu, docks: list) -> None:
        for act in (self.act_frame, self.act_front, self.act_side, self.act_back):
            menu.addAction(act)
        menu.addSeparator()
        for act in (self.act_grid, self.act_skeleton, self.act_fps, self.act_background, self.act_flip):
            menu.addAction(act)
        menu.addSeparator()
        for dock in docks:
            menu.addAction(dock.toggleViewAction())

    def set_grid(self, on: bool) -> None:
        self.w.viewport.set_show_grid(on)
        self.w.settings.show_grid = on

    def set_skeleton(self, on: bool) -> None:
        self.w.viewport.set_show_skeleton(on)
        self.w.settings.show_skeleton = on

    def set_fps(self, on: bool) -> None:
        self.w.viewport.show_fps = on
        self.w.fps_readout.setVisible(on)
        self.w.viewport.update()

    def pick_background(self) -> None:
        from PySide6.QtGui import QColor
        c = QColorDialog.getColor(QColor.fromRgbF(*self.w.viewport.background), self.w, "Viewport background")
        if c.isValid():
            rgb = (c.redF(), c.greenF(), c.blueF())
            self.w.viewport.set_background(rgb)
            self.w.settings.background = rgb

    def flip_selected(self) -> None:
        """Flip Upside Down on the selected splat item (undoable)."""
        from ..undo import FlipUpsideDown
        w = self.w
        sel = w.scene.selected if w.is_core_ready else None
        if sel is None or sel.gaussians is None:
            return
        w.undo_stack.push(FlipUpsideDown(w.scene, sel))
