"""Packaging facts: every subpackage ships, shaders/resources are package data, the bundle files exist."""
import pathlib
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_every_python_package_is_listed():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"avatar_studio"}
    for top in ("core", "app", "cli"):
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT)
            found.add("avatar_studio." + ".".join(rel.parts))
    missing = found - listed
    assert "avatar_studio.testing" not in listed, "the workshop (testing/) is not part of the installed product"
    assert not missing, f"add these to [tool.setuptools] packages in pyproject.toml: {sorted(missing)}"
    tracked = set()
    import subprocess
    files = subprocess.run(["git", "ls-files", "*__init__.py"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    for f in files:
        parts = pathlib.Path(f).parent.parts
        tracked.add("avatar_studio" + "".join("." + p for p in parts))
    untracked = listed - tracked
    if files:  # inside a git checkout: a listed package must be committed, or a clean clone cannot install
        assert not untracked, f"listed in pyproject.toml but not committed: {sorted(untracked)}"


def test_packaging_files_exist():
    for name in ("build.sh", "setup.sh", "avatar_studio.spec", "avatar-studio.desktop", "launcher.py"):
        assert (ROOT / "packaging" / name).is_file(), name
    assert (ROOT / "resources" / "icons" / "avatar-studio.svg").is_file()
    desktop = (ROOT / "packaging" / "avatar-studio.desktop").read_text()
    assert "Exec=avatar-studio" in desktop and "Icon=avatar-studio" in desktop
