"""Export dialog: video (MP4/WebM/GIF/PNG sequence) or PLY (canonical avatar, current posed frame, or
every frame of a range). It only collects an `ExportRequest` (core/export/requests.py); the window runs it as a job."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox,
                               QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
                               QPushButton, QRadioButton, QSlider, QSpinBox, QTabWidget, QVBoxLayout, QWidget)

from ...core.export.requests import ExportRequest  # noqa: F401  (the request this dialog fills)

VIDEO_FORMATS = (("MP4 (H.264)", "mp4", ".mp4"), ("WebM (VP9, transparency)", "webm", ".webm"),
                 ("GIF", "gif", ".gif"), ("PNG sequence (folder)", "png", ""))
SIZE_PRESETS = (("512 × 512", 512, 512), ("1024 × 1024", 1024, 1024), ("720 × 1280 (portrait)", 720, 1280),
                ("1280 × 720 (720p)", 1280, 720), ("1920 × 1080 (1080p)", 1920, 1080), ("Custom", 0, 0))
PLY_MODES = (("canonical", "Canonical avatar (rest pose, with rig)"),
             ("frame", "Current posed frame (standard 3DGS PLY)"),
             ("range", "Every frame of the range (folder of PLYs)"))


def labelled_row(*parts: str | QWidget) -> QHBoxLayout:
    """A form row of widgets, strings becoming labels, packed to the left."""
    row = QHBoxLayout()
    for part in parts:
        row.addWidget(QLabel(part) if isinstance(part, str) else part)
    row.addStretch(1)
    return row


class ExportDialog(QDialog):
    """Args: num_frames/fps of the timeline, the trim range, default folder and name, camera angles;
    `previous`, the last request this session: its choices (format, size, camera, quality, PLY mode, and
    its range while the timeline has no trim of its own) come back."""

    def __init__(self, parent: QWidget | None = None, *, num_frames: int = 1, fps: float = 30.0,
                 trim: tuple[int, int] = (0, 0), folder: str = "", name: str = "avatar",
                 azimuth: float = 20.0, elevation: float = 8.0, initial: str = "video",
                 has_avatar: bool = True, previous: ExportRequest | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.setMinimumWidth(520)
        self._folder, self._name = folder or str(Path.home()), name
        self.path_edit = QLineEdit()
        self.tabs = QTabWidget(self)

        # video --------------------------------------------------------------
        video = QWidget()
        form = QFormLayout(video)
        self.format_box = QComboBox()
        for label, key, _ in VIDEO_FORMATS:
            self.format_box.addItem(label, key)
        self.format_box.setToolTip("Container and codec. WebM and PNG keep a transparent background.")
        form.addRow("Format", self.format_box)
        self.size_box = QComboBox()
        for label, w, h in SIZE_PRESETS:
            self.size_box.addItem(label, (w, h))
        self.width_box, self.height_box = QSpinBox(), QSpinBox()
        for sb in (self.width_box, self.height_box):
            sb.setRange(16, 8192)
            sb.setSingleStep(16)
            sb.setSuffix(" px")
        self.width_box.setValue(512)
        self.height_box.setValue(512)
        size_row = QHBoxLayout()
        size_row.addWidget(self.size_box, 1)
        size_row.addWidget(self.width_box)
        size_row.addWidget(QLabel("×"))
        size_row.addWidget(self.height_box)
        self.size_box.currentIndexChanged.connect(self._on_size_preset)
        form.addRow("Size", size_row)
        self.fps_box = QDoubleSpinBox()
        self.fps_box.setRange(1, 240)
        self.fps_box.setValue(fps)
        self.fps_box.setSuffix(" fps")
        form.addRow("Frame rate", self.fps_box)
        last = max(0, num_frames - 1)
        self.start_box, self.end_box = QSpinBox(), QSpinBox()
        for sb in (self.start_box, self.end_box):
            sb.setRange(0, last)
        self.start_box.setValue(min(trim[0], last))
        self.end_box.setValue(min(trim[1], last) if trim[1] > trim[0] else last)
        self._fps_timeline = fps
        # the range is shared by the video and the every-frame PLY export: it sits above both tabs
        range_form = QFormLayout()
        range_form.addRow("Range", labelled_row("from frame", self.start_box, "to", self.end_box))
        self.camera_box = QComboBox()
        for key, label in (("fixed", "Fixed (frames the whole motion)"), ("turntable", "Turntable (one turn)"),
                           ("follow", "Follow the avatar")):
            self.camera_box.addItem(label, key)
        form.addRow("Camera", self.camera_box)
        self.azimuth_box, self.elevation_box = QDoubleSpinBox(), QDoubleSpinBox()
        self.azimuth_box.setRange(-360, 360)
        self.azimuth_box.setValue(azimuth)
        self.elevation_box.setRange(-89, 89)
        self.elevation_box.setValue(elevation)
        for sb in (self.azimuth_box, self.elevation_box):
            sb.setSuffix(" °")
        form.addRow("View", labelled_row("azimuth", self.azimuth_box, "elevation", self.elevation_box))
        self.quality_slider = QSlider(Qt.Orientation.Horizontal)
        self.quality_slider.setRange(0, 10)
        self.quality_slider.setValue(8)
        self.quality_slider.setToolTip("0 = smallest file, 10 = best quality")
        form.addRow("Quality", self.quality_slider)
        self.transparent_box = QCheckBox("Transparent background (WebM, PNG)")
        form.addRow("", self.transparent_box)
        self.format_box.currentIndexChanged.connect(self._on_format)
        self.tabs.addTab(video, "Video")

        # ply -----------------------------------------------------------------
        ply = QWidget()
        lay = QVBoxLayout(ply)
        self.ply_group = QButtonGroup(self)
        self.ply_buttons: dict[str, QRadioButton] = {}
        for key, label in PLY_MODES:
            rb = QRadioButton(label)
            self.ply_group.addButton(rb)
            self.ply_buttons[key] = rb
            lay.addWidget(rb)
            rb.toggled.connect(self._update_path)
        self.ply_buttons["canonical"].setChecked(True)
        self.ply_buttons["canonical"].setEnabled(has_avatar)
        if not has_avatar:
            self.ply_buttons["frame"].setChecked(True)
        self.scene_box = QCheckBox("Whole scene (all visible items), not just the selected item")
        lay.addWidget(self.scene_box)
        lay.addWidget(QLabel("'Every frame' writes the range above."))
        lay.addStretch(1)
        self.tabs.addTab(ply, "PLY")

        # output ------------------------------------------------------------------
        out_box = QGroupBox("Output")
        out_row = QHBoxLayout(out_box)
        self.path_edit.setToolTip("File (or folder, for PNG and PLY sequences) to write")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        out_row.addWidget(self.path_edit, 1)
        out_row.addWidget(browse)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        main = QVBoxLayout(self)
        main.addLayout(range_form)
        main.addWidget(self.tabs)
        main.addWidget(out_box)
        main.addWidget(self.buttons)
        self.tabs.currentChanged.connect(self._update_path)
        self.tabs.setCurrentIndex(0 if initial == "video" else 1)
        if previous is not None:
            self._restore(previous, trimmed=(trim[0], trim[1]) != (0, last) and trim[1] > trim[0], last=last)
        self._on_format()
        self._update_path()

    def _restore(self, req: ExportRequest, trimmed: bool, last: int) -> None:
        """Bring back the last export's choices (the path is suggested afresh)."""
        for box, value in ((self.format_box, req.fmt), (self.camera_box, req.camera_mode)):
            i = box.findData(value)
            if i >= 0:
                box.setCurrentIndex(i)
        sizes = [tuple(self.size_box.itemData(i)) for i in range(self.size_box.count())]
        size = (req.width, req.height)
        self.size_box.setCurrentIndex(sizes.index(size) if size in sizes else sizes.index((0, 0)))
        self.width_box.setValue(req.width)
        self.height_box.setValue(req.height)
        self.azimuth_box.setValue(req.azimuth)
        self.elevation_box.setValue(req.elevation)
        self.quality_slider.setValue(int(round(req.quality)))
        self.transparent_box.setChecked(req.transparent)
        if req.ply_mode in self.ply_buttons and self.ply_buttons[req.ply_mode].isEnabled():
            self.ply_buttons[req.ply_mode].setChecked(True)
        self.scene_box.setChecked(req.whole_scene)
        if not trimmed and req.end_frame <= last:
            self.start_box.setValue(req.start_frame)
            self.end_box.setValue(req.end_frame)

    # ------------------------------------------------------------------ helpers
    def _on_size_preset(self) -> None:
        w, h = self.size_box.currentData()
        custom = w == 0
        self.width_box.setEnabled(custom)
        self.height_box.setEnabled(custom)
        if not custom:
            self.width_box.setValue(w)
            self.height_box.setValue(h)

    def _on_format(self) -> None:
        fmt = self.format_box.currentData()
        self.transparent_box.setEnabled(fmt in ("webm", "png"))
        self._update_path()

    def _suggested(self) -> Path:
        folder = Path(self._folder)
        if self.tabs.currentIndex() == 0:
            ext = next(e for _, k, e in VIDEO_FORMATS if k == self.format_box.currentData())
            return folder / (f"{self._name}{ext}" if ext else f"{self._name}_frames")
        mode = self.ply_mode()
        return folder / {"canonical": f"{self._name}.ply", "frame": f"{self._name}_posed.ply",
                         "range": f"{self._name}_plys"}[mode]

    def _update_path(self) -> None:
        current = self.path_edit.text().strip()
        if not current or Path(current).parent == Path(self._folder):
            self.path_edit.setText(str(self._suggested()))

    def _browse(self) -> None:
        folder_mode = (self.tabs.currentIndex() == 0 and self.format_box.currentData() == "png") or (
            self.tabs.currentIndex() == 1 and self.ply_mode() == "range")
        if folder_mode:
            path = QFileDialog.getExistingDirectory(self, "Export into folder", self._folder)
            if path:
                path = str(Path(path) / self._suggested().name)
        elif self.tabs.currentIndex() == 1 and self.ply_mode() == "frame":  # every writable splat format
            from ...core.io.formats import file_dialog_filter
            path, _ = QFileDialog.getSaveFileName(self, "Export as", str(self._suggested()), file_dialog_filter("write"))
        else:
            path, _ = QFileDialog.getSaveFileName(self, "Export as", str(self._suggested()))
        if path:
            self.path_edit.setText(path)

    def ply_mode(self) -> str:
        return next(k for k, rb in self.ply_buttons.items() if rb.isChecked())

    def request(self) -> ExportRequest:
        kind = "video" if self.tabs.currentIndex() == 0 else "ply"
        start, end = sorted((self.start_box.value(), self.end_box.value()))
        return ExportRequest(
            kind=kind, path=Path(self.path_edit.text().strip()).expanduser(), fmt=self.format_box.currentData(),
            width=self.width_box.value(), height=self.height_box.value(), fps=self.fps_box.value(),
            start_frame=start, end_frame=end, camera_mode=self.camera_box.currentData(),
            azimuth=self.azimuth_box.value(), elevation=self.elevation_box.value(),
            quality=float(self.quality_slider.value()),
            transparent=self.transparent_box.isChecked() and self.transparent_box.isEnabled(),
            ply_mode=self.ply_mode(), whole_scene=self.scene_box.isChecked())
