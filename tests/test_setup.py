"""Set-up and start-up: the project venv, the optional landmark install, one-line errors when the window
cannot open, and commands that import only what they need."""
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

from avatar_studio.cli.parser import build_parser

ROOT = pathlib.Path(__file__).resolve().parents[1]


def readme_command(marker: str) -> str:
    m = re.search(rf"<!-- {marker} -->\n```bash\n(.+)\n```", (ROOT / "README.md").read_text())
    assert m, marker
    return m.group(1)


def test_readme_commands_use_the_project_venv():
    assert readme_command("demo-command").startswith("bash packaging/setup.sh && .venv/bin/avatar-studio demo")
    assert ".venv/bin/python -m pytest" in readme_command("test-command")


def test_setup_never_installs_into_the_system_python():
    setup = (ROOT / "packaging" / "setup.sh").read_text()
    assert "--break-system-packages" not in setup
    assert '-m venv "$VENV"' in setup and "python3-venv" in setup and "libglib2.0-0" in setup
    # Every pip call goes through the venv's interpreter.
    pip_lines = [ln for ln in setup.splitlines() if "pip install" in ln or "-m pip" in ln]
    assert pip_lines and all("$VPY" in ln or "${PIP[@]}" in ln for ln in pip_lines), pip_lines


def test_ci_runs_readme_commands_in_a_pristine_root():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "demo-command" in ci and "test-command" in ci and "pristine-root.sh" in ci
    stage = (ROOT / ".ci" / "pristine-root.sh").read_text()
    assert "debootstrap --variant=minbase --include=python3,ca-certificates,git" in stage
    assert "trap cleanup EXIT" in stage


def test_landmark_install_is_a_command_with_attrs():
    from avatar_studio.core.mediapipe_models import INSTALL_HINT, RUNTIME_REQUIREMENTS
    assert any(r.startswith("attrs") for r in RUNTIME_REQUIREMENTS)
    assert INSTALL_HINT == "avatar-studio install-landmarks"
    action = next(a for a in build_parser()._actions if a.dest == "command")
    assert "install-landmarks" in action.choices


def test_no_person_without_landmark_models_suggests_installing_them(monkeypatch):
    from avatar_studio.core.errors import InputError
    from avatar_studio.core.reconstruct.template import mask
    from avatar_studio.core.reconstruct.template import mp_backend
    monkeypatch.setattr(mp_backend, "available", lambda: False)  # as if mediapipe were not installed
    empty = np.full((200, 120, 3), 200, np.uint8)  # a plain wall
    with pytest.raises(InputError, match="install-landmarks"):
        mask.person_mask(empty)


def _run(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "avatar_studio.cli", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_window_without_a_display_is_one_error_line():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    done = _run([], env)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no display") and "xvfb-run" in lines[0], done.stderr


def test_window_with_an_unreachable_x_server_is_one_error_line():
    env = {**os.environ, "DISPLAY": ":4711"}
    env.pop("QT_QPA_PLATFORM", None)
    done = _run([], env)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr


def test_missing_libraries_are_named_by_package():
    from avatar_studio.app.preflight import missing_libraries
    assert missing_libraries({"libavatar-studio-does-not-exist.so.7": "no-such-package"}) == ["no-such-package"]
    assert missing_libraries({"libc.so.6": "libc6"}) == []


@pytest.mark.parametrize("argv", [["--help"], ["info", "{ply}"]])
def test_light_commands_do_not_import_torch(tmp_path, argv):
    from avatar_studio.core.gaussians import GaussianSet
    from avatar_studio.core.io.ply import write_ply
    ply = tmp_path / "small.ply"
    rng = np.random.default_rng(0)
    write_ply(ply, GaussianSet(rng.normal(size=(10, 3)), np.tile([1.0, 0, 0, 0], (10, 1)), np.full((10, 3), 0.01),
                               np.full(10, 0.5), np.zeros((10, 1, 3))))
    argv = [a.format(ply=ply) for a in argv]
    code = ("import sys\nfrom avatar_studio.cli.main import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "NO-TORCH", done.stdout + done.stderr
