"""Settings dialog: model paths (SMPL-X, LHM checkpoint, LHM prior), back-ends, view and autosave.
Each path is checked as it is typed, with a sentence that says what is wrong."""
from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QColorDialog, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog,
                               QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout,
                               QWidget)

from ..settings import (Check, StudioSettings, check_lhm_model_dir, check_lhm_prior_dir, check_smplx_dir)


class PathRow(QWidget):
    """A line edit + Browse button + a live validation message."""

    def __init__(self, value: str, check: Callable[[str], Check], title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.check_fn = check
        self.edit = QLineEdit(value)
        self.edit.setPlaceholderText("not set")
        browse = QPushButton("Browse…")
        browse.clicked.connect(lambda: self._browse(title))
        self.needed = True  # False: an empty path is fine (e.g. LHM folders while Template is chosen)
        self.message = QLabel()
        self.message.setWordWrap(True)
        # two lines reserved, so a longer message does not make the dialog jump (or clip the text)
        self.message.setMinimumHeight(2 * self.message.fontMetrics().lineSpacing() + 2)
        self.message.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, 1)
        row.addWidget(browse)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(row)
        lay.addWidget(self.message)
        self.edit.textChanged.connect(self.validate)
        self.validate()

    def _browse(self, title: str) -> None:
        path = QFileDialog.getExistingDirectory(self, title, self.edit.text())
        if path:
            self.edit.setText(path)

    def set_needed(self, needed: bool) -> None:
        self.needed = needed
        self.validate()

    def validate(self) -> Check:
        result = self.check_fn(self.edit.text().strip())
        if not result.ok and not self.needed and not self.edit.text().strip():
            self.message.setText('<span style="color:#9aa0a8">– not needed with the current choices</span>')
            return result
        colour = "#6fcf70" if result.ok else "#ff8a70"
        self.message.setText(f'<span style="color:{colour}">{"✓" if result.ok else "✗"}</span> {result.message}')
        return result

    @property
    def value(self) -> str:
        return self.edit.text().strip()


class SettingsDialog(QDialog):
    def __init__(self, settings: StudioSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(620)
        self.settings = settings

        paths = QGroupBox("Model files")
        form = QFormLayout(paths)
        self.smplx_row = PathRow(settings.smplx_dir, check_smplx_dir, "SMPL-X folder")
        self.smplx_row.setToolTip("Folder that holds smplx/SMPLX_NEUTRAL.npz. Leave empty for the stand-in body.")
        form.addRow("SMPL-X folder", self.smplx_row)
        self.lhm_model_row = PathRow(settings.lhm_model_dir, check_lhm_model_dir, "LHM checkpoint folder")
        self.lhm_model_row.setToolTip("Folder with LHM's config.json and model.safetensors (e.g. LHM-500M)")
        form.addRow("LHM model", self.lhm_model_row)
        self.lhm_prior_row = PathRow(settings.lhm_prior_dir,
                                     lambda path: check_lhm_prior_dir(path, self.lhm_model_row.value),
                                     "LHM prior folder")
        self.lhm_prior_row.setToolTip("LHM's pretrained_models folder (human_model_files, voxel_grid, ...)")
        form.addRow("LHM prior", self.lhm_prior_row)

        backends = QGroupBox("Back-ends")
        bform = QFormLayout(backends)
        self.reconstructor_box = QComboBox()
        self.reconstructor_box.addItem("Template (fast, no weights needed)", "template")
        self.reconstructor_box.addItem("LHM (needs model and prior folders)", "lhm")
        self.reconstructor_box.setCurrentIndex(max(0, self.reconstructor_box.findData(settings.reconstructor)))
        bform.addRow("Reconstruction", self.reconstructor_box)
        self.renderer_box = QComboBox()
        self.renderer_box.addItem("Automatic (gsplat on CUDA, else OpenGL, or CPU where OpenGL is software)", "auto")
        self.renderer_box.addItem("OpenGL", "gl")
        self.renderer_box.addItem("gsplat (CUDA)", "gsplat")
        self.renderer_box.addItem("CPU (tile rasterizer, for machines without a GPU)", "cpu")
        self.renderer_box.setCurrentIndex(max(0, self.renderer_box.findData(settings.renderer)))
        bform.addRow("Renderer", self.renderer_box)
        self.backend_message = QLabel()
        self.backend_message.setWordWrap(True)
        self.backend_message.setMinimumHeight(3 * self.backend_message.fontMetrics().lineSpacing() + 2)
        bform.addRow("", self.backend_message)
        self.reconstructor_box.currentIndexChanged.connect(self._check_backend)
        self.lhm_model_row.edit.textChanged.connect(self._check_backend)
        self.lhm_prior_row.edit.textChanged.connect(self._check_backend)

        view = QGroupBox("View and files")
        vform = QFormLayout(view)
        self._background = settings.background
        self.background_button = QPushButton()
        self.background_button.clicked.connect(self._pick_background)
        self._show_background()
        vform.addRow("Viewport background", self.background_button)
        self.autosave_box = QDoubleSpinBox()
        self.autosave_box.setRange(0, 3600)
        self.autosave_box.setSuffix(" s")
        self.autosave_box.setSpecialValueText("off")
        self.autosave_box.setValue(settings.autosave_interval_s)
        self.autosave_box.setToolTip("How often unsaved work is saved for crash recovery (0 = off)")
        vform.addRow("Autosave every", self.autosave_box)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        for w in (paths, backends, view):
            lay.addWidget(w)
        lay.addWidget(self.buttons)
        self._check_backend()

    def _show_background(self) -> None:
        c = QColor.fromRgbF(*self._background)
        self.background_button.setText(c.name())
        ink = "#000" if c.lightness() > 128 else "#fff"
        self.background_button.setStyleSheet(f"background: {c.name()}; color: {ink};")

    def _pick_background(self) -> None:
        c = QColorDialog.getColor(QColor.fromRgbF(*self._background), self, "Viewport background")
        if c.isValid():
            self._background = (c.redF(), c.greenF(), c.blueF())
            self._show_background()

    def _check_backend(self) -> bool:
        ok = True
        lhm = self.reconstructor_box.currentData() == "lhm"
        for row in (self.lhm_model_row, self.lhm_prior_row):
            row.set_needed(lhm)
        if lhm:
            checks = [self.lhm_model_row.validate(), self.lhm_prior_row.validate()]
            ok = all(c.ok for c in checks)
            self.backend_message.setText("" if ok else
                                         "LHM's folders above are not valid yet: photos would fail to "
                                         "reconstruct. Fix them or choose Template.")
        else:
            self.backend_message.setText("")
        return ok

    def accept(self) -> None:
        """Store everything in QSettings (invalid paths are stored too, but the user was told)."""
        s = self.settings
        s.smplx_dir = self.smplx_row.value
        s.lhm_model_dir = self.lhm_model_row.value
        s.lhm_prior_dir = self.lhm_prior_row.value
        s.reconstructor = self.reconstructor_box.currentData()
        s.renderer = self.renderer_box.currentData()
        s.background = self._background
        s.autosave_interval_s = self.autosave_box.value()
        s.sync()
        super().accept()
