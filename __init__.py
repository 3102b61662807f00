"""Avatar Studio: one photo in, an animatable 3D Gaussian-splat avatar out."""
from pathlib import Path

__version__ = "0.1.0"

PACKAGE_DIR = Path(__file__).resolve().parent
RESOURCES_DIR = PACKAGE_DIR / "resources"
SHADERS_DIR = PACKAGE_DIR / "shaders"
