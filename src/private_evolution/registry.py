"""One registry per extension point (APIs, embedders, metrics): built-in and third-party implementations.

Built-ins are named as ``"module:Class"`` strings (the form of an entry point's value), imported
on first use: importing a registry stays cheap (no torch, no diffusers), and no import statement
leads from a registry to its implementations, so the code digest of a stage (``provenance.py``)
covers the one implementation its job runs (added by name), never its siblings.

Another package adds an implementation with a Python entry point in its own metadata, e.g.
in its ``pyproject.toml``::

    [project.entry-points."pe_workflow.apis"]
    my_renderer = "my_package.renderer:MyRenderer"

after which ``api.name: my_renderer`` selects it. The groups are ``pe_workflow.apis``,
``pe_workflow.embedders`` and ``pe_workflow.metrics``; the entry point's name is the name in
the config (and in file names: letters, digits and underscores). Its options block
(``api.my_renderer``) is checked against the class's ``options_schema``.
"""

from __future__ import annotations

import functools
import importlib
import re
from importlib import metadata

from . import PEError

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


class Registry:
    """Names to implementation classes for one extension point."""

    def __init__(self, kind: str, group: str, base: type, builtins: dict[str, str]):
        self.kind = kind  # "API", "embedder", "metric": for messages
        self.group = group  # the entry-point group third-party packages register under
        self.base = base
        self.builtins = dict(builtins)  # name -> "package.module:Class"

    @functools.cached_property
    def _plugins(self) -> dict[str, metadata.EntryPoint]:
        found = {}
        for entry in metadata.entry_points(group=self.group):
            if entry.name in self.builtins:
                raise PEError(
                    f"the package providing entry point '{entry.value}' registers a {self.kind} named "
                    f"'{entry.name}' in {self.group}, which is a built-in name: rename the entry point"
                )
            if not NAME_PATTERN.match(entry.name):
                raise PEError(
                    f"entry point '{entry.name}' in {self.group} is not a valid {self.kind} name "
                    "(lowercase letters, digits and underscores, starting with a letter): it names result files"
                )
            found[entry.name] = entry
        return found

    def names(self) -> list[str]:
        return sorted({*self.builtins, *self._plugins})

    def __contains__(self, name: str) -> bool:
        return name in self.builtins or name in self._plugins

    @functools.cache
    def get(self, name: str) -> type:
        """The class registered as ``name`` (imported on first use)."""
        if name in self.builtins:
            module, _, attribute = self.builtins[name].partition(":")
            cls = getattr(importlib.import_module(module), attribute)
        elif name in self._plugins:
            entry = self._plugins[name]
            try:
                cls = entry.load()
            except Exception as err:  # a broken plugin must say which one
                raise PEError(f"cannot load {self.kind} '{name}' from entry point '{entry.value}': {err}") from err
        else:
            raise PEError(
                f"unknown {self.kind} '{name}'; known: {self.names()} (another package adds one with an "
                f"entry point in group '{self.group}', see docs/ARCHITECTURE.md)"
            )
        if not (isinstance(cls, type) and issubclass(cls, self.base)):
            raise PEError(f"{self.kind} '{name}' is {cls!r}, which is not a subclass of {self.base.__module__}.{self.base.__name__}")
        if cls.name != name:
            raise PEError(f"{self.kind} '{name}' is registered under another name than its class's name '{cls.name}'")
        return cls


def options_problems(schema: dict, options: dict, where: str) -> list[str]:
    """An implementation's options against its own JSON schema, one line per problem."""
    import jsonschema

    problems = []
    for error in jsonschema.Draft202012Validator(schema).iter_errors(options):
        path = ".".join(str(part) for part in error.absolute_path)
        problems.append(f"{where}{'.' + path if path else ''}: {error.message}")
    return problems


def with_defaults(schema: dict, options: dict) -> dict:
    """The options with the schema's top-level defaults filled in."""
    filled = dict(options)
    for key, spec in schema.get("properties", {}).items():
        if "default" in spec and key not in filled:
            filled[key] = spec["default"]
    return filled
