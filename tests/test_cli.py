"""The headless CLI: help for every command, and one clear line (no traceback) on bad input."""
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

from avatar_studio.cli.main import main
from avatar_studio.cli.parser import build_parser
from avatar_studio.core.avatar import Avatar, Rig
from avatar_studio.core.io.avatar_file import write_avatar
from support import random_gaussians


def run_cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def subcommands():
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)


def test_every_subcommand_has_help(capsys):
    names = subcommands()
    assert {"demo", "reconstruct", "animate", "info", "pose"} <= set(names)
    for name in names:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0
        assert "usage" in capsys.readouterr().out


@pytest.fixture
def corrupt_files(tmp_path):
    files = {"ply": tmp_path / "bad.ply", "png": tmp_path / "bad.png", "npz": tmp_path / "bad.npz",
             "json": tmp_path / "bad.json", "bvh": tmp_path / "bad.bvh"}
    files["ply"].write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 5\nproperty float x\nend_header\n\x00")
    files["png"].write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    files["npz"].write_bytes(b"PK\x03\x04garbage")
    files["json"].write_text("{ not json")
    files["bvh"].write_text("HIERARCHY\nROOT Hips\n{\n OFFSET 0 0\n")
    return files


def assert_one_line_error(code, err):
    assert code == 2, err
    lines = [l for l in err.strip().splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err


def test_info_on_corrupt_and_missing(capsys, corrupt_files, tmp_path):
    for f in corrupt_files.values():
        assert_one_line_error(*run_cli(capsys, "info", str(f))[::2])
    assert_one_line_error(*run_cli(capsys, "info", str(tmp_path / "missing.ply"))[::2])


def test_reconstruct_bad_photo(capsys, corrupt_files, tmp_path):
    assert_one_line_error(*run_cli(capsys, "reconstruct", str(corrupt_files["png"]), "-o", str(tmp_path / "a.ply"))[::2])
    assert_one_line_error(*run_cli(capsys, "reconstruct", str(tmp_path / "none.png"), "-o", str(tmp_path / "a.ply"))[::2])
    assert not (tmp_path / "a.ply").exists()


def test_animate_bad_inputs(capsys, corrupt_files, tmp_path, rng):
    g = random_gaussians(50, rng)
    avatar = write_avatar(tmp_path / "av.ply", Avatar(g, Rig(np.zeros((50, 1)), np.ones((50, 1)))))
    for key in ("npz", "json", "bvh"):
        code, _, err = run_cli(capsys, "animate", str(avatar), "--motion", str(corrupt_files[key]), "-o", str(tmp_path / "o.mp4"))
        assert_one_line_error(code, err)
    code, _, err = run_cli(capsys, "animate", str(corrupt_files["ply"]), "--motion", "x.npz", "-o", str(tmp_path / "o.mp4"))
    assert_one_line_error(code, err)
    assert not (tmp_path / "o.mp4").exists()


def test_info_describes_avatar_and_motion(capsys, tmp_path, rng):
    from avatar_studio import RESOURCES_DIR
    g = random_gaussians(40, rng)
    av = write_avatar(tmp_path / "av.ply", Avatar(g, Rig(np.zeros((40, 4)), np.full((40, 4), 0.25), betas=np.ones(10))))
    code, out, _ = run_cli(capsys, "info", str(av))
    assert code == 0 and "40 Gaussians" in out and "rig" in out
    code, out, _ = run_cli(capsys, "info", str(RESOURCES_DIR / "motions" / "walk.npz"))
    assert code == 0 and "120 frames" in out and "30 fps" in out


def test_info_and_convert_ask_core_open_what_a_file_is(capsys, tmp_path, rng):
    """`info` describes every kind core/open.py knows (a photo and a project too); `convert` refuses a
    motion with a pointer to the command that converts it, instead of reading it as a sequence."""
    from avatar_studio import RESOURCES_DIR
    from avatar_studio.core.project import save_project
    from avatar_studio.core.scene import Scene, SplatsItem
    code, out, _ = run_cli(capsys, "info", str(RESOURCES_DIR / "photos" / "sample_person_3.png"))
    assert code == 0 and out.startswith("photo: ") and "RGBA" in out
    scene = Scene()
    scene.add(SplatsItem(name="cloud", gaussians=random_gaussians(20, rng)))
    save_project(tmp_path / "p.avsproj", scene)
    code, out, _ = run_cli(capsys, "info", str(tmp_path / "p.avsproj"))
    assert code == 0 and "project: 1 item" in out and "'cloud': splats" in out
    code, _, err = run_cli(capsys, "convert", str(RESOURCES_DIR / "motions" / "walk.npz"), str(tmp_path / "o.npz"))
    assert code == 2 and "is a motion" in err and "motion convert" in err and not (tmp_path / "o.npz").exists()


def test_console_script_is_installed_and_fails_cleanly(tmp_path):
    # The script installed beside this interpreter (the project venv need not be on PATH).
    exe = shutil.which("avatar-studio", path=str(pathlib.Path(sys.executable).parent))
    assert exe, f"the avatar-studio console script is not installed beside {sys.executable}"
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "demo" in out.stdout
    bad = tmp_path / "bad.ply"
    bad.write_text("garbage")
    out = subprocess.run([exe, "info", str(bad)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and out.stderr.startswith("error: ") and "Traceback" not in out.stderr


def test_commands_load_neither_the_window_nor_qt():
    """Only the launcher reaches into `app`: building every command's parser and running `info` load no Qt."""
    motion = pathlib.Path(__file__).resolve().parents[1] / "resources" / "motions" / "walk.npz"
    code = ("import sys\nfrom avatar_studio.cli.main import main\nfrom avatar_studio.cli.parser import build_parser\n"
            f"build_parser()\ncode = main(['info', {str(motion)!r}])\n"
            "bad = sorted(m for m in sys.modules if m.startswith(('avatar_studio.app', 'PySide6', 'pyqtgraph')))\n"
            "print('LOADED', code, bad)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "LOADED 0 []", done.stdout + done.stderr


@pytest.mark.gui
def test_no_arguments_opens_the_window():
    """The launcher: `avatar-studio` alone shows the studio window (the start-up probe closes it after the
    first frame)."""
    if not os.environ.get("DISPLAY"):
        pytest.skip("needs a display: run the tests under xvfb-run")
    env = {**os.environ, "AVATAR_STUDIO_STARTUP_PROBE": "1"}
    done = subprocess.run([sys.executable, "-m", "avatar_studio.cli"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and "window shown after" in done.stdout, done.stdout + done.stderr
