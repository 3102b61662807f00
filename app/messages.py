"""Messages to the person at the window: non-blocking error boxes (several problems in one box) and
modal questions. A mixin for `MainWindow` (a QMainWindow with `last_error` and `error_shown`)."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

APP_NAME = "Avatar Studio"


class MessagesMixin:
    """Adds `show_error` and `_ask` to a QMainWindow that has an `error_shown(str)` signal."""

    last_error = ""
    _error_box: QMessageBox | None = None
    _error_messages: list[str] = []  # what the open error box lists (replaced per box, never shared)

    def show_error(self, message: str, details: str = "", title: str = APP_NAME) -> None:
        """Show a readable, non-blocking message box; the window stays usable."""
        self.last_error = message
        self.statusBar().showMessage(message, 10000)
        box = self._error_box
        if box is not None:  # still open (several bad files dropped at once): list every problem in it
            self._error_messages.append(message)
            box.setWindowTitle(APP_NAME)
            box.setText(f"{len(self._error_messages)} problems:\n\n"
                        + "\n\n".join(f"• {m}" for m in self._error_messages))
            if details:
                box.setDetailedText("\n\n".join(d for d in (box.detailedText(), details) if d))
            self.error_shown.emit(message)
            return
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self)
        if details:
            box.setDetailedText(details)
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _=0: setattr(self, "_error_box", None))
        self._error_box = box
        self._error_messages = [message]
        box.open()
        self.error_shown.emit(message)

    def _ask(self, title: str, text: str, buttons=QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
             default=QMessageBox.StandardButton.Yes) -> QMessageBox.StandardButton:
        """A modal question (tests replace this method)."""
        return QMessageBox.question(self, title, text, buttons, default)
