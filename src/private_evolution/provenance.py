"""Which code a job runs, as a digest that Snakemake sees as a param.

Snakemake never sees edits to modules a rule's stage script imports. Each rule therefore
carries a ``code`` param (``code(stage, implementations)`` in ``workflow/rules/common.smk``)
made of two parts:

- :func:`code_digest` of its stage script: the script and every module of this package it
  imports, directly or through other package modules (the stage module, the library modules it
  needs, the base classes and registries of the extension points it uses);
- :func:`implementation_digest` of each API, embedder or metric the job runs, chosen by the
  config or a wildcard: for a built-in, its own module and that module's imports followed the
  same way; for one from another package (an entry point), every module of that package.

The cut rule, applied when following imports: an ``import`` statement (or ``from ... import``)
that names a module of this package is followed, wherever it stands (at module level or inside
a function: a lazy import runs too), and so are the packages that import runs first (the
``__init__`` of ``private_evolution`` and of ``stages`` for ``private_evolution.stages.vote``);
nothing else is.
Registries name their built-in implementations as ``"module:Class"`` strings (``registry.py``),
which are not imports: importing a registry brings in the registry, its base class and the
shared helpers they import, never the implementations it lists. So an implementation's digest
holds its base class and the helpers it imports, and never a sibling implementation unless it
imports one (``apis/consistency.py`` builds on ``apis/diffusion_unet.py``, so it is in). No
stage imports the config check (``config.py``, run by the Snakefile): its messages are in no
digest; what the config gives a job (schema defaults included) reaches it as params.

A digest is over each module's meaning (:func:`code_meaning`): editing a comment, a docstring
or the layout reruns nothing; changing a statement reruns exactly the jobs that run that
module, and Snakemake reruns what depends on their files.
"""

from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path

PACKAGE = "private_evolution"
PACKAGE_DIR = Path(__file__).resolve().parent


def _module_path(dotted: str) -> Path | None:
    parts = dotted.split(".")
    if parts[0] != PACKAGE:
        return None
    base = PACKAGE_DIR.joinpath(*parts[1:])
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _imported_modules(path: Path) -> frozenset[Path]:
    """Package modules that ``path`` imports anywhere in its body (lazy imports included)."""
    return _imports_of_text(path, path.read_text())


# Keyed by the file's text, not its name: a file edited within one process is read anew. A
# Snakefile parse asks for each module once per rule whose script imports it (hundreds of
# times), and parsing dominates a parse's time (a dry run: 6 s, 4.5 of them here, before).
@lru_cache(maxsize=None)
def _imports_of_text(path: Path, text: str) -> frozenset[Path]:
    tree = ast.parse(text, filename=str(path))
    if path.is_relative_to(PACKAGE_DIR):
        relative = path.relative_to(PACKAGE_DIR).with_suffix("")
        package_parts = [PACKAGE, *relative.parts[:-1]]
    else:
        package_parts = []
    found: set[Path] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package_parts[: len(package_parts) - node.level + 1] if package_parts else []
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for name in names:
            module = _module_path(name)
            if module is not None:
                found.add(module)
                found.update(_packages_run_first(name))
    return frozenset(found)


def _packages_run_first(dotted: str) -> set[Path]:
    """The packages that importing ``dotted`` runs first: ``private_evolution.stages.vote`` runs
    ``private_evolution/__init__.py`` and ``private_evolution/stages/__init__.py``."""
    parts = dotted.split(".")[1:]
    return {PACKAGE_DIR.joinpath(*parts[:depth], "__init__.py") for depth in range(len(parts))}


@lru_cache(maxsize=None)
def code_files(script: str) -> tuple[Path, ...]:
    """The script (or module) and, transitively, every package module it imports (the cut rule
    of the module docstring), in a stable order."""
    pending, seen = [Path(script).resolve()], set()
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        pending.extend(_imported_modules(path) - seen)
    return tuple(sorted(seen))


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def code_meaning(path: Path) -> str:
    """What a module does, without what it says: its syntax tree without docstrings, comments,
    line numbers or layout. Editing a comment, a docstring or the formatting changes nothing;
    changing a statement, a name or a literal does."""
    return _meaning_of_text(path.read_text(), str(path))


@lru_cache(maxsize=None)  # keyed by the text, as _imports_of_text
def _meaning_of_text(text: str, filename: str) -> str:
    tree = _strip_docstrings(ast.parse(text, filename=filename))
    return ast.dump(tree, annotate_fields=False, include_attributes=False)


def _files_digest(files, root: Path | None) -> str:
    """sha256 (first 16 hex digits) over each file's name (relative to ``root`` when under it)
    and :func:`code_meaning`."""
    digest = hashlib.sha256()
    for path in files:
        name = path.relative_to(root) if root is not None and path.is_relative_to(root) else path.name
        digest.update(str(name).encode() + b"\0" + code_meaning(path).encode() + b"\0")
    return digest.hexdigest()[:16]


def code_digest(script: str) -> str:
    """sha256 (first 16 hex digits) over the code a stage script runs (see :func:`code_meaning`)."""
    return _files_digest(code_files(script), PACKAGE_DIR.parent)


@lru_cache(maxsize=None)  # asked once per job when the DAG is built; the files are read once
def implementation_digest(cls: type) -> str:
    """What an API, embedder or metric runs, which its stage's :func:`code_digest` does not
    cover (registries do not import their implementations): ``module.Class:`` and sha256 (first
    16 hex digits) over the code meaning of a built-in's module and, transitively, the package
    modules it imports (:func:`code_files`); for a class of another package (an entry point),
    over every module of its top-level package (of its module alone when that is not a package).
    """
    import inspect
    import sys

    source = Path(inspect.getsourcefile(cls)).resolve()
    if source.is_relative_to(PACKAGE_DIR):
        files, root = code_files(str(source)), PACKAGE_DIR.parent
    else:
        top = sys.modules.get(cls.__module__.split(".")[0])
        root = Path(top.__file__).resolve().parent if top is not None and hasattr(top, "__path__") else None
        files = sorted(root.rglob("*.py")) if root else [source]
    return f"{cls.__module__}.{cls.__qualname__}:{_files_digest(files, root)}"
