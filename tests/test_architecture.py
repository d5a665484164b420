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


# --- the front door (index/library.py) ---

# Rooms that stay behind the front door: the assistant and the command line never reach them
# (test below), so a Library method answering from one of them is the door's own work.
BEHIND_THE_DOOR = frozenset({"catalog", "clip", "searcher", "images"})


def _forwards(source: str) -> list[str]:
    """Library methods whose whole body hands their own arguments, unchanged and in order, to
    one method of a room (`return self.people.rename(old, new)`): a caller can reach the room
    itself (`library.people.rename`). Forwards to rooms behind the door are left out."""
    found = []
    for cls in ast.walk(ast.parse(source)):
        if not (isinstance(cls, ast.ClassDef) and cls.name == "Library"):
            continue
        for fn in cls.body:
            if not isinstance(fn, ast.FunctionDef):
                continue
            body = fn.body
            if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]  # the docstring
            if len(body) != 1 or not isinstance(body[0], ast.Return | ast.Expr):
                continue
            call = body[0].value
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
                continue
            room = call.func.value
            if not (
                isinstance(room, ast.Attribute)
                and isinstance(room.value, ast.Name)
                and room.value.id == "self"
                and room.attr not in BEHIND_THE_DOOR
            ):
                continue
            params = [a.arg for a in [*fn.args.posonlyargs, *fn.args.args[1:], *fn.args.kwonlyargs]]
            passed = [a.id for a in call.args if isinstance(a, ast.Name)]
            passed += [k.arg for k in call.keywords if isinstance(k.value, ast.Name)]
            passed_as_is = len(passed) == len(call.args) + len(call.keywords) and all(
                k.arg == k.value.id for k in call.keywords if isinstance(k.value, ast.Name)
            )
            if passed_as_is and passed == params:
                found.append(f"{fn.name} -> self.{room.attr}.{call.func.attr}")
    return found


def test_the_library_has_no_one_line_forwards_to_its_rooms():
    source = (ROOT / "index" / "library.py").read_text(encoding="utf-8")
    assert _forwards(source) == []


def test_the_forward_finder_finds_a_forward_and_only_a_forward():
    # The rule above must be able to fail, and must not flag the door's own work.
    source = '''
class Library:
    def rename(self, old, new):
        """Rename a person."""
        return self.people.rename(old, new)

    def forget(self, name, *, keep=False):
        self.people.forget(name, keep=keep)

    def years(self):
        return self.catalog.years()

    def find(self, name):
        return self.people.find(name.strip())

    def both(self, a, b):
        return self.people.gap(b, a)
'''
    assert _forwards(source) == ["rename -> self.people.rename", "forget -> self.people.forget"]


def _reaches_behind_the_door(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Attribute) and node.attr in BEHIND_THE_DOOR):
            continue
        owner = node.value
        name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
        if name in ("lib", "library", "_library"):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}.{node.attr}")
    return found


def test_the_assistant_and_the_command_line_never_reach_behind_the_front_door():
    files = [ROOT / "app.py", *sorted((ROOT / "assistant").rglob("*.py"))]
    assert [hit for path in files for hit in _reaches_behind_the_door(path)] == []


class _CountingLock:
    """A lock that says how deep it is held (the assistant's lock is an RLock)."""

    def __init__(self):
        self.depth = 0

    def __enter__(self):
        self.depth += 1

    def __exit__(self, *exc):
        self.depth -= 1


def test_a_handler_reaches_the_library_s_rooms_under_the_shared_lock(tmp_path, tiny_clip_spec):
    # Handlers call `ctx.library.people.rename(...)`: the room's calls share the one catalog
    # connection, so they run under the assistant's lock just as the library's own calls do.
    from assistant.context import locked
    from index.library import Library

    lock = _CountingLock()
    held: list[int] = []
    with Library(tmp_path / "data", clip=tiny_clip_spec, faces=False) as library:
        read_aliases = library.catalog.aliases
        library.catalog.aliases = lambda: held.append(lock.depth) or read_aliases()
        front = locked(library, lock)
        assert front.people.names() == {}
        assert front.has_photos() is False and lock.depth == 0
        assert front.data_dir == library.data_dir and front.settings is library.settings
    assert held and set(held) == {1}  # every read of the catalog, under the lock


def test_the_readme_names_every_module():
    # Someone new finds each room in README's tables ("How it is built").
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    unnamed = [
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if path.name != "__init__.py" and f"{path.name}`" not in readme  # `x.py` or `a/x.py`
    ]
    assert unnamed == [], "add a line for each to the module tables in README.md"


def test_no_two_classes_share_a_name():
    # One name, one idea: a reader who meets `Phrases` knows which one it is.
    where: dict[str, list[str]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ClassDef):
                    where.setdefault(node.name, []).append(str(path.relative_to(ROOT)))
    assert {name: paths for name, paths in where.items() if len(paths) > 1} == {}
