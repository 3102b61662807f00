"""Packaging facts: every subpackage ships, shaders/resources are package data, the bundle files exist."""
import pathlib
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_every_python_package_is_listed():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"avatar_studio"}
    for top in ("core", "app"):
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT)
            found.add("avatar_studio." + ".".join(rel.parts))
    missing = found - listed
    assert not missing, f"add these to [tool.setuptools] packages in pyproject.toml: {sorted(missing)}"


def test_packaging_files_exist():
    for name in ("build.sh", "setup.sh", "avatar_studio.spec", "avatar-studio.desktop", "launcher.py"):
        assert (ROOT / "packaging" / name).is_file(), name
    assert (ROOT / "resources" / "icons" / "avatar-studio.svg").is_file()
    desktop = (ROOT / "packaging" / "avatar-studio.desktop").read_text()
    assert "Exec=avatar-studio" in desktop and "Icon=avatar-studio" in desktop
