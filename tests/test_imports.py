"""The package's modules import one another without circles.

A circle makes what a module holds depend on which module a job imports first, and forces
imports into functions only to dodge it. The graph below is read from the source with ``ast``:
every import the package makes of itself, at module level or inside a function (a lazy import
runs too, only later), relative or absolute. Importing ``a.b.c`` runs ``a/__init__`` and
``a/b/__init__`` before ``c``; those packages count as imported unless the importing module
sits inside them (then they already run before it).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "private_evolution"
PACKAGE_DIR = Path(__file__).resolve().parents[1] / "src" / PACKAGE


def package_modules(root: Path) -> dict[str, Path]:
    """Dotted name -> file of every module under ``root`` (a package ``p`` is ``p/__init__``)."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = [root.name, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def ancestors(name: str) -> list[str]:
    """The packages a module's import runs first: ``a.b.c`` -> ``a``, ``a.b``."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def imported_names(module: str, path: Path) -> set[str]:
    """Every dotted name ``module`` imports anywhere in its body, relative imports resolved;
    ``from p import x`` yields ``p`` and ``p.x`` (``x`` may be a module or a name in ``p``)."""
    package = module if is_package(path) else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph(root: Path) -> dict[str, set[str]]:
    """module -> the package modules importing it runs (see the module's docstring)."""
    modules = package_modules(root)
    graph = {}
    for module, path in modules.items():
        edges = set()
        for name in imported_names(module, path):
            if name not in modules:
                continue  # a name inside a module, or another package
            edges.add(name)
            edges.update(a for a in ancestors(name) if a not in ancestors(module) and a != module)
        edges.discard(module)
        graph[module] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle through each group of modules that reach one another (Tarjan's strongly
    connected components, each with a shortest circle from its first module by name)."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def connect(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                connect(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return sorted((_shortest_circle(graph, group) for group in groups), key=lambda c: c[0])


def _shortest_circle(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    start = min(group)
    paths, frontier = {start: [start]}, [start]
    while frontier:
        following = []
        for node in frontier:
            for successor in sorted(graph[node] & group):
                if successor == start:
                    return paths[node] + [start]
                if successor not in paths:
                    paths[successor] = paths[node] + [successor]
                    following.append(successor)
        frontier = following
    raise AssertionError(f"{sorted(group)} holds no circle")


def test_the_package_imports_itself_without_circles():
    found = cycles(import_graph(PACKAGE_DIR))
    # one circle per group of modules that reach one another; break it and rerun for the next
    assert not found, "import circles:\n" + "\n".join(" -> ".join(circle) for circle in found)


def write_package(root: Path, files: dict[str, str]) -> Path:
    package = root / PACKAGE
    for name, source in {"__init__.py": "", **files}.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return package


@pytest.mark.parametrize(
    "files, circle",
    [
        # a lazy, relative import closes the circle
        ({"a.py": "from .b import f\n", "b.py": "def f():\n    from . import a\n"}, ["a", "b", "a"]),
        # absolute, through a subpackage's module
        ({"a.py": "import private_evolution.sub.c\n", "sub/__init__.py": "", "sub/c.py": "from ..a import X\n"}, ["a", "sub.c", "a"]),
        # importing sub.c runs sub/__init__, which lazily imports a
        (
            {"a.py": "from .sub.c import X\n", "sub/__init__.py": "def f():\n    from .. import a\n", "sub/c.py": "X = 1\n"},
            ["a", "sub", "a"],
        ),
        # the package's __init__ importing a module that imports a name from it
        ({"__init__.py": "from .a import f\n", "a.py": "from . import PEError\n"}, ["", "a", ""]),
    ],
)
def test_the_check_finds_a_circle(tmp_path, files, circle):
    package = write_package(tmp_path, files)
    names = [f"{PACKAGE}.{m}" if m else PACKAGE for m in circle]
    assert cycles(import_graph(package)) == [names]


def test_a_module_importing_its_own_package_siblings_is_no_circle(tmp_path):
    """A registry whose ``__init__`` lazily imports its implementations, each importing its base
    class from the package: the package runs before them anyway (no circle)."""
    package = write_package(
        tmp_path,
        {
            "reg/__init__.py": "from .base import Base\ndef load():\n    from .impl import Impl\n",
            "reg/base.py": "from .. import PEError\n",
            "reg/impl.py": "from .base import Base\n",
            "user.py": "from .reg import load\n",
        },
    )
    graph = import_graph(package)
    assert graph[f"{PACKAGE}.reg.impl"] == {f"{PACKAGE}.reg.base"}
    assert graph[f"{PACKAGE}.reg.base"] == {PACKAGE}
    assert cycles(graph) == []
