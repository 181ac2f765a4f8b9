"""The layering of DESIGN.md and ARCHITECTURE.md, checked on the source and in fresh interpreters.

The arrows point one way: workstation -> widgets, feeds, plugins -> engine. Inside each package
the folders (``engine/signals``, ``workstation/trading``...) form no circle either. Every import
counts, also one inside a function or under ``TYPE_CHECKING``: a lazy import is still an arrow.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "feeds", "plugins", "widgets", "workstation")
ALLOWED: dict[str, set[str]] = {
    "engine": set(),
    "feeds": {"engine"},
    "plugins": {"engine"},
    "widgets": {"engine"},
    "workstation": {"engine", "feeds", "plugins", "widgets"},
}
UI_LIBRARIES = ("textual", "rich")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield _module_name(path), path


def _imports(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """Every module this file imports (absolute names), with the line of the import."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield target, node.lineno
            for alias in node.names:  # `from engine import qpe` imports the module engine.qpe
                yield f"{target}.{alias.name}", node.lineno


@cache
def _known() -> frozenset[str]:
    return frozenset(name for name, _ in _modules())


def _folder(module: str) -> str:
    """The package a module lives in: ``engine.signals`` for ``engine.signals.qpe``, and
    ``engine`` for ``engine.model`` (a package's own ``__init__`` belongs to it)."""
    path = ROOT / Path(*module.split("."))
    return module if path.is_dir() else module.rpartition(".")[0]


def _edges() -> dict[tuple[str, str], list[str]]:
    """folder -> folder arrows between the project's own packages, with where each comes from."""
    edges: dict[tuple[str, str], list[str]] = {}
    known = _known()
    for module, path in _modules():
        for target, line in _imports(module, path):
            if target not in known:
                continue
            a, b = _folder(module), _folder(target)
            if a != b:
                edges.setdefault((a, b), []).append(f"{module}:{line} imports {target}")
    return edges


def test_each_package_imports_only_the_layers_below_it() -> None:
    wrong = [
        where
        for (a, b), places in sorted(_edges().items())
        if b.split(".")[0] != a.split(".")[0] and b.split(".")[0] not in ALLOWED[a.split(".")[0]]
        for where in places
    ]
    assert wrong == []


def test_no_folder_imports_a_folder_that_imports_it_back() -> None:
    graph: dict[str, set[str]] = {}
    for a, b in _edges():
        graph.setdefault(a, set()).add(b)

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            node = todo.pop()
            if node == goal:
                return True
            if node not in seen:
                seen.add(node)
                todo.extend(graph.get(node, ()))
        return False

    edges = _edges()
    circles = sorted(f"{a} -> {b} ({edges[a, b][0]}) and back" for a, b in edges if reaches(b, a))
    assert circles == []


def test_engine_feeds_plugins_import_no_ui_library() -> None:
    """Checked statically (every import in every file) and so cheaply for all packages."""
    wrong = [
        f"{module}:{line} imports {target}"
        for module, path in _modules()
        if module.split(".")[0] in ("engine", "feeds", "plugins")
        for target, line in _imports(module, path)
        if target.split(".")[0] in UI_LIBRARIES
    ]
    assert wrong == []


def test_the_graph_sees_imports_inside_functions() -> None:
    """The checks above are only as good as the import finder: it must see a lazy import."""
    found = dict(_imports("workstation.cli.run", ROOT / "workstation" / "cli" / "run.py"))
    assert any(name.startswith("workstation.ui") for name in found)


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_engine_feeds_plugins_do_not_import_textual_or_workstation() -> None:
    code = (
        "import sys, pkgutil, importlib\n"
        "import engine, feeds, plugins\n"
        "for pkg in (engine, feeds, plugins):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        "upper = ('textual', 'workstation', 'widgets')\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in upper)\n"
        "print(bad)\n"
    )
    assert _run(code) == "[]"


def test_widgets_do_not_import_workstation() -> None:
    code = (
        "import sys, pkgutil, importlib, widgets\n"
        "for m in pkgutil.walk_packages(widgets.__path__, 'widgets.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'workstation'))\n"
    )
    assert _run(code) == "[]"


def test_import_engine_does_not_import_qiskit_or_numba() -> None:
    code = (
        "import sys, engine, engine.model, engine.timeframes, engine.protocols\n"
        "print(sorted(m for m in ('qiskit', 'numba') if m in sys.modules))"
    )
    assert _run(code) == "[]"


def test_the_app_reaches_its_first_frame_without_qiskit_or_numba() -> None:
    """Looked at the first frame itself (Textual's ``Ready``), not after it: the engine loads
    them on purpose a moment later, and on a busy machine a pilot's pause returns later still."""
    code = (
        "import asyncio, sys\n"
        "from textual import events\n"
        "from feeds.demo import DemoFeed\n"
        "from workstation.ui.app import QwsApp\n"
        "from workstation.runtime.config import Settings\n"
        "from workstation.store import Store\n"
        "heavy = []\n"
        "def at_first_frame(message):\n"
        "    if isinstance(message, events.Ready):\n"
        "        heavy.append(sorted(m for m in ('qiskit', 'numba') if m in sys.modules))\n"
        "async def main():\n"
        "    app = QwsApp(DemoFeed(), Store(':memory:'), Settings.load(environ={}))\n"
        "    async with app.run_test(message_hook=at_first_frame):\n"
        "        while not heavy:\n"
        "            await asyncio.sleep(0.05)\n"
        "    print(heavy)\n"
        "asyncio.run(main())\n"
    )
    assert _run(code) == "[[]]"
