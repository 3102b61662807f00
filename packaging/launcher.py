"""Entry point for the frozen (PyInstaller) bundle: the same CLI/GUI front door as `avatar-studio`."""
from avatar_studio.cli.main import entry

if __name__ == "__main__":
    entry()
