"""The layers: `core` (the engine) imports neither Qt nor the front doors (`app`, `cli`) nor the workshop
(`testing`), by any form of import; `app` and `cli` never import the workshop; no module takes part in
an import cycle. Checked statically (every import statement, relative ones and `importlib`/`__import__`
strings included) and by importing every core module in a fresh process."""
from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = "avatar_studio"
QT = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "pyqtgraph", "qtpy")
FRONT_DOORS = (f"{PACKAGE}.app", f"{PACKAGE}.cli")
WORKSHOP = (f"{PACKAGE}.testing",)
# Calls that import the module named by their first argument.
IMPORT_CALLS = ("__import__", "import_module", "find_spec", "resolve_name")


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGE, *parts])


def package_modules(top: str) -> dict[str, pathlib.Path]:
    """{dotted module name: file} for every module under ROOT/top."""
    return {module_name(p): p for p in sorted((ROOT / top).rglob("*.py")) if "__pycache__" not in p.parts}


def _resolve(name: str, level: int, module: str, is_package: bool) -> str:
    """The absolute name of `from <level dots><name> import ...` written in `module`."""
    if level == 0:
        return name
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of nodes inside `if TYPE_CHECKING:` blocks (imports for annotations only; never run)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skip.update(id(n) for n in ast.walk(child))
    return skip


def imported_names(path: pathlib.Path, modules: set[str] | None = None) -> list[tuple[int, str]]:
    """(line, absolute dotted name) for every import in the file at `path`: `import a.b`, `from a import b`
    (yields a and a.b; given the set of `modules`, only a.b where that is a module), relative imports,
    `importlib.import_module("...")`/`__import__("...")` calls, and
    "package.module:function" strings (targets that a worker imports by name)."""
    module = module_name(path)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(), str(path))
    skip = _type_checking_nodes(tree)
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node.module or "", node.level, module, is_package)
            names = [f"{base}.{a.name}" for a in node.names if a.name != "*"]
            if modules is None or not names or any(n not in modules for n in names):
                out.append((node.lineno, base))
            out += [(node.lineno, n) for n in names]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            target = node.args[0].value
            if called in IMPORT_CALLS and isinstance(target, str):
                level = len(target) - len(target.lstrip("."))
                out.append((node.lineno, _resolve(target[level:], level, module, is_package) if level else target))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith(PACKAGE + "."):
            out.append((node.lineno, node.value.split(":")[0].split()[0]))
    return sorted(set(out))


def _within(name: str, roots: tuple[str, ...]) -> bool:
    return any(name == r or name.startswith(r + ".") for r in roots)


def forbidden_imports(top: str, roots: tuple[str, ...]) -> list[str]:
    """'file:line -> name' for each import under ROOT/top of a module within `roots`."""
    return [f"{path.relative_to(ROOT)}:{line} -> {name}"
            for path in package_modules(top).values() for line, name in imported_names(path)
            if _within(name, roots)]


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (at module level or inside functions)."""
    modules: dict[str, pathlib.Path] = {}
    for top in ("core", "app", "cli", "testing"):
        modules.update(package_modules(top))
    modules[PACKAGE] = ROOT / "__init__.py"
    names = set(modules)
    return {m: {name for _, name in imported_names(p, names) if name in names and name != m}
            for m, p in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:  # recursion depth is bounded by the package's import depth
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_core_imports_no_qt_no_front_door_and_no_workshop():
    offenders = forbidden_imports("core", QT + FRONT_DOORS + WORKSHOP)
    assert not offenders, "core must not import Qt, app, cli or testing:\n" + "\n".join(offenders)


def test_the_product_never_imports_the_workshop():
    offenders = forbidden_imports("app", WORKSHOP) + forbidden_imports("cli", WORKSHOP)
    assert not offenders, "app and cli must not import the testing package:\n" + "\n".join(offenders)


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_tests_share_helpers_through_support_only():
    """Helpers live in tests/support: no test file imports conftest or another test module."""
    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        if "node_modules" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else [])
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno} -> {n}" for n in names
                          if n.split(".")[0] == "conftest" or n.split(".")[0].startswith("test_")]
    assert not offenders, "import helpers from tests/support instead:\n" + "\n".join(offenders)


def test_the_guard_sees_every_form_of_import(tmp_path, monkeypatch):
    """A core module that imports the app relatively, by importlib or __import__, or names a job target
    string, is caught; so is a plain Qt import, and a cycle."""
    core = tmp_path / "core"
    (core / "sub").mkdir(parents=True)
    (tmp_path / "__init__.py").write_text("")
    (core / "__init__.py").write_text("")
    (core / "sub" / "__init__.py").write_text("")
    (core / "a.py").write_text("from ..app import main_window\nfrom . import b\n")
    (core / "b.py").write_text("def f():\n    from .a import x\n    import importlib\n"
                               "    importlib.import_module('avatar_studio.cli.main')\n")
    (core / "sub" / "c.py").write_text("__import__('PySide6.QtCore')\nT = 'avatar_studio.app.process_worker:job'\n"
                                       "from ...testing import standin\n")
    (core / "sub" / "d.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                       "    from ...app.viewport import Viewport\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    found = sorted(forbidden_imports("core", QT + FRONT_DOORS + WORKSHOP))
    assert found == ["core/a.py:1 -> avatar_studio.app", "core/a.py:1 -> avatar_studio.app.main_window",
                     "core/b.py:4 -> avatar_studio.cli.main", "core/sub/c.py:1 -> PySide6.QtCore",
                     "core/sub/c.py:2 -> avatar_studio.app.process_worker",
                     "core/sub/c.py:3 -> avatar_studio.testing", "core/sub/c.py:3 -> avatar_studio.testing.standin"]
    assert cycles(import_graph()) == [["avatar_studio.core.a", "avatar_studio.core.b"]]


def test_importing_all_of_core_loads_no_qt_and_no_front_door():
    code = (
        "import importlib, pkgutil, sys\n"
        "import avatar_studio.core as core\n"
        "for m in pkgutil.walk_packages(core.__path__, 'avatar_studio.core.'):\n"
        "    if m.name.endswith('__main__'): continue\n"
        "    importlib.import_module(m.name)\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {QT!r}\n"
        f"       or m.startswith({FRONT_DOORS + WORKSHOP!r})]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
