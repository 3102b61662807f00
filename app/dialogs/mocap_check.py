"""A check view for motion captured from video: the source frames with the fitted skeleton drawn
over them, scrubbed with a slider, so the user can judge the capture before animating with it."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QSlider, QVBoxLayout


class MocapCheckDialog(QDialog):
    """Shows `overlay_skeleton(frame, result, i)` for motion frame i (frames read on demand)."""

    def __init__(self, video_path: str | Path, result: Any, parent=None) -> None:
        super().__init__(parent)
        self.video_path, self.result = Path(video_path), result
        self.setWindowTitle(f"Motion from {self.video_path.name}")
        self.image = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.image.setMinimumSize(320, 240)
        notes = QLabel("\n".join(result.diagnostics.notes) or "Fitted skeleton over the source video.")
        notes.setWordWrap(True)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, max(result.motion.num_frames - 1, 0))
        self.slider.setToolTip("Scrub the captured frames")
        self.slider.valueChanged.connect(self.show_frame)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        for w in (self.image, self.slider, notes, buttons):
            layout.addWidget(w)
        self.frame_rgb: np.ndarray | None = None
        self.show_frame(0)

    def show_frame(self, i: int) -> None:
        from ...core.mocap.pipeline import overlay_skeleton
        from ...core.mocap.video import read_frames
        source = int(self.result.source_indices[i])
        frame = read_frames(self.video_path, [source], max_side=640)[0]
        self.frame_rgb = np.ascontiguousarray(overlay_skeleton(frame, self.result, i)[..., :3])
        h, w = self.frame_rgb.shape[:2]
        img = QImage(self.frame_rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        self.image.setPixmap(QPixmap.fromImage(img))
