"""README.md's commands are the ones CI runs."""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    m = re.search(r"<!-- test-command -->\n```bash\n(.+)\n```", readme)
    assert m, "README.md must hold the test command after a <!-- test-command --> marker"
    assert "pytest" in m.group(1)
    assert "test-command" in ci and "demo-command" in ci


def test_readme_shows_the_demo_command():
    readme = (ROOT / "README.md").read_text()
    m = re.search(r"<!-- demo-command -->\n```bash\n(.+)\n```", readme)
    assert m and "packaging/setup.sh" in m.group(1) and "avatar-studio demo" in m.group(1)
