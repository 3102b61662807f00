"""`python -m avatar_studio.cli ARGS`: the same as the `avatar-studio` console script."""
from .main import entry

if __name__ == "__main__":
    entry()
