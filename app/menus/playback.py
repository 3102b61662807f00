"""Playback menu: play/pause, step, jump to the ends, loop (the timeline does the work)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMenu

from . import make_action

if TYPE_CHECKING:
    from ..main_window import MainWindow


class PlaybackMenu(QObject):
    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        w, t = window, window.timeline
        self.act_play = make_action(w, "&Play / Pause", t.toggle_play, "Space", "Play or pause (Space)", "play")
        self.act_next = make_action(w, "&Next Frame", lambda: t.step(1), "Right", "Next frame (→)")
        self.act_prev = make_action(w, "P&revious Frame", lambda: t.step(-1), "Left", "Previous frame (←)")
        self.act_start = make_action(w, "Go to &Start", t.go_start, "Home", "First frame (Home)")
        self.act_end = make_action(w, "Go to &End", t.go_end, "End", "Last frame (End)")
        self.act_loop = make_action(w, "&Loop", lambda on: setattr(t, "loop", on), "L", "Loop playback (L)", "loop",
                                    True, True)
        t.loop_button.toggled.connect(self.act_loop.setChecked)

    def fill(self, menu: QMenu) -> None:
        for act in (self.act_play, self.act_prev, self.act_next, self.act_start, self.act_end, self.act_loop):
            menu.addAction(act)
