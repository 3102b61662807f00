"""Entry point for the frozen (PyInstaller) bundle: the same CLI/GUI front door as `avatar-studio`."""
import sys

from avatar_studio.core.cli import main

if __name__ == "__main__":
    sys.exit(main())
