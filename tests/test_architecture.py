"""The house's floor plan, enforced: imports point one way, no circles, no module too big.

The imports are read from the source (every `import`, at module level, inside functions and
under TYPE_CHECKING alike), not by importing anything, so the test is quick and a circle
dodged by a function-level import is still a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("index", "assistant")
MAX_LINES = 600


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The project modules `path` imports, each as the most specific module that exists."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x, from .y import z
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from index import scan` imports the module index.scan; `from index.scan import
            # decode` imports index.scan.
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
                break
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(path, name, known) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), as sorted lists."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def _without_package_inits(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """A package's __init__ re-exports its own rooms; a room importing a sibling through the
    package name (`from index.catalog import path_text`) is not a circle of rooms, so edges
    from a package to the modules inside it are left out."""
    return {
        name: {t for t in targets if not t.startswith(f"{name}.")}
        for name, targets in graph.items()
    }


def test_no_import_circle_in_index_or_assistant():
    cycles = _cycles(_without_package_inits(_graph()))
    assert cycles == [], f"import circles: {cycles}"


def test_the_cycle_finder_finds_a_circle_through_a_function_level_import(tmp_path):
    # The rule above must be able to fail: a circle hidden in a function is found.
    graph = {"index.a": {"index.b"}, "index.b": {"index.a"}, "index.c": {"index.a"}}
    assert _cycles(graph) == [["index.a", "index.b"]]
    source = tmp_path / "b.py"
    source.write_text("def f():\n    from index.a import thing\n")
    assert _imports(source, "index.b", {"index.a", "index.b"}) == {"index.a"}


def test_index_never_imports_assistant():
    graph = _graph()
    upward = {
        name: sorted(t for t in targets if t.split(".")[0] == "assistant")
        for name, targets in graph.items()
        if name.split(".")[0] == "index"
    }
    assert {name: t for name, t in upward.items() if t} == {}


def test_face_models_know_nothing_of_people():
    imported = _graph()["index.faces"]
    assert "index.people" not in imported
    assert not any(t.startswith("index.people") for t in imported)


@pytest.mark.parametrize("package", ["index", "assistant", "app.py"])
def test_no_module_is_over_600_lines(package):
    target = ROOT / package
    files = [target] if target.is_file() else sorted(target.rglob("*.py"))
    long = {
        str(path.relative_to(ROOT)): n
        for path in files
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_the_pir_console_script_is_the_command_line(capsys):
    import importlib
    import json
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    module, _, function = project["project"]["scripts"]["pir"].partition(":")
    main = getattr(importlib.import_module(module), function)
    assert main(["parse", "photos of the beach in 2019", "--json"]) == 0
    parsed = json.loads(capsys.readouterr().out)
    assert parsed["raw"] == "photos of the beach in 2019" and parsed["dates"]


def test_no_two_modules_share_a_name():
    names: dict[str, list[str]] = {}
    for folder in (*PACKAGES, "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name not in ("__init__.py", "conftest.py"):
                names.setdefault(path.name, []).append(str(path.relative_to(ROOT)))
    assert {name: paths for name, paths in names.items() if len(paths) > 1} == {}
