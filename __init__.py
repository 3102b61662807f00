"""Avatar Studio: one photo in, an animatable 3D Gaussian-splat avatar out."""
import os
import sys
from pathlib import Path


def _quiet_interrupt(exc_type, exc, tb, _default=sys.excepthook):
    """Ctrl-C that no code caught (e.g. while `avatar-studio` is still importing): one line, exit 130."""
    if issubclass(exc_type, KeyboardInterrupt) and not os.environ.get("AVATAR_STUDIO_DEBUG"):
        try:
            sys.stderr.write("cancelled\n")
            sys.stderr.flush()
        finally:
            os._exit(130)
    _default(exc_type, exc, tb)


if sys.excepthook is sys.__excepthook__:
    sys.excepthook = _quiet_interrupt

__version__ = "0.1.0"

PACKAGE_DIR = Path(__file__).resolve().parent
RESOURCES_DIR = PACKAGE_DIR / "resources"
SHADERS_DIR = PACKAGE_DIR / "shaders"
# The embedded samples (the demo, the window's "try a sample", tests and benchmarks): their one home.
SAMPLE_PHOTOS_DIR = RESOURCES_DIR / "photos"
SAMPLE_PHOTO = SAMPLE_PHOTOS_DIR / "sample_person_1.png"
SAMPLE_MOTION = RESOURCES_DIR / "motions" / "dance.npz"
