"""Files dropped on the window open (`open_paths`); while they are dragged over it, a frame over the
viewport shows where they go. A mixin for `MainWindow` (a QMainWindow with `viewport` and `open_paths`)."""
from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QLabel


class FileDropMixin:
    _drop_hint: QLabel | None = None

    def dragEnterEvent(self, e: QDragEnterEvent) -> None:
        self.dragMoveEvent(e)
        if e.isAccepted():
            self._show_drop_hint(True)

    def dragMoveEvent(self, e: QDragMoveEvent) -> None:
        md = e.mimeData()
        if md.hasUrls() and any(u.isLocalFile() for u in md.urls()):
            e.acceptProposedAction()
        else:
            e.ignore()

    def dragLeaveEvent(self, e: QDragLeaveEvent) -> None:
        self._show_drop_hint(False)

    def _show_drop_hint(self, on: bool) -> None:
        if self._drop_hint is None:
            hint = QLabel("Drop to open: photo, avatar or splats, motion, project", self)
            hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
            hint.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
            hint.setStyleSheet("QLabel { border: 3px dashed rgb(80, 140, 255); background: rgba(80, 140, 255, 40);"
                               " color: white; font-size: 16pt; }")
            self._drop_hint = hint
        if on:
            self._drop_hint.setGeometry(QRect(self.viewport.mapTo(self, QPoint(0, 0)), self.viewport.size()))
            self._drop_hint.raise_()
        self._drop_hint.setVisible(on)

    def dropEvent(self, e: QDropEvent) -> None:
        self._show_drop_hint(False)
        paths = [u.toLocalFile() for u in e.mimeData().urls() if u.isLocalFile()]
        if paths:
            e.acceptProposedAction()
            self.open_paths(paths)
