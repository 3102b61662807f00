"""Edit how a BVH's joints map onto SMPL-X joints; the result is saved with the project."""
from __future__ import annotations

from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QHeaderView, QLabel, QTableWidget,
                               QVBoxLayout)

UNMAPPED = "(unmapped)"


class MappingDialog(QDialog):
    """One row per BVH joint with the SMPL-X joint it drives (or none)."""

    def __init__(self, source: str, settings: dict, parent=None) -> None:
        super().__init__(parent)
        from ...core.motion.bvh import read_bvh
        from ...core.motion.retarget import RetargetSettings, resolve_mapping
        from ...core.motion.skeleton import SMPLX_JOINT_NAMES
        self.settings = RetargetSettings.from_dict(settings)
        self.skeleton = read_bvh(source).skeleton
        mapping = resolve_mapping(self.skeleton, self.settings)
        self.setWindowTitle("BVH joint mapping")
        self.resize(460, 560)
        self.table = QTableWidget(len(self.skeleton.names), 2)
        self.table.setHorizontalHeaderLabels(["BVH joint", "drives SMPL-X joint"])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.boxes: dict[str, QComboBox] = {}
        for row, name in enumerate(self.skeleton.names):
            self.table.setCellWidget(row, 0, QLabel(name))
            box = QComboBox()
            box.addItems([UNMAPPED, *SMPLX_JOINT_NAMES])
            box.setCurrentText(mapping.get(name, UNMAPPED))
            self.table.setCellWidget(row, 1, box)
            self.boxes[name] = box
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Preset: {self.settings.preset}. Unmapped SMPL-X joints stay at rest."))
        layout.addWidget(self.table)
        layout.addWidget(buttons)

    def set_target(self, bvh_joint: str, smplx_joint: str | None) -> None:
        self.boxes[bvh_joint].setCurrentText(smplx_joint or UNMAPPED)

    def result_settings(self) -> dict:
        """The settings with every row as an explicit override."""
        overrides = {name: (None if box.currentText() == UNMAPPED else box.currentText())
                     for name, box in self.boxes.items()}
        return {**self.settings.to_dict(), "overrides": overrides}
