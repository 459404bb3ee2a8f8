"""The package's layers are its folders, and imports only go down: api -> state -> language -> tools -> mcp -> app.

The simulator (`sandbox/`) imports nothing of the server and only the app layer starts it. A new module
must sit in one of these folders; a new folder must be given its place here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sipsim_mcp"

#: Bottom to top. A module may import from its own layer and the ones before it.
LAYERS = ("api", "state", "language", "tools", "mcp", "app")
#: Beside the stack: what each may import.
APART = {"sandbox": ()}
#: The package's face: `__init__` (the version) and `python -m sipsim_mcp`.
TOP = {"__init__": (), "__main__": ("app",)}


def layer_of(module: str) -> str:
    """`sipsim_mcp.api.client` -> `api`; `sipsim_mcp.__main__` -> `__main__`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def may_import(importer: str, imported: str) -> bool:
    if imported == "__init__" or importer == imported:
        return True
    if importer in TOP:
        return imported in TOP[importer]
    if importer in APART:
        return imported in APART[importer]
    if imported in APART:
        return importer == "app"
    return imported in LAYERS and LAYERS.index(imported) <= LAYERS.index(importer)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """Every sipsim_mcp module `path` imports (absolute or relative, at any depth of the file)."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            found += [(node.lineno, submodule(target, alias.name)) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return [(line, name) for line, name in found if name.split(".")[0] == "sipsim_mcp"]


def submodule(package: str, name: str) -> str:
    """`from package import name`: the module imported (`name` itself when it is a module)."""
    path = PACKAGE.parent.joinpath(*package.split("."), name)
    return f"{package}.{name}" if path.is_dir() or path.with_suffix(".py").is_file() else package


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_sits_in_a_known_layer():
    strays = [
        str(path.relative_to(PACKAGE)) for path in MODULES if layer_of(module_name(path)) not in {*LAYERS, *APART, *TOP}
    ]
    assert not strays, f"modules outside the layer folders: {strays}; move them into one (see this test's LAYERS)"


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_imports_only_go_down(path: Path):
    importer = layer_of(module_name(path))
    upward = [f"line {line}: {name}" for line, name in imports_of(path) if not may_import(importer, layer_of(name))]
    assert not upward, f"{importer} must not import from a layer above it: {upward}"


def test_the_check_sees_an_upward_import():
    """The checker itself: an api module importing the MCP server would be reported."""
    assert not may_import("api", "mcp")
    assert not may_import("tools", "app")
    assert not may_import("sandbox", "api")
    assert not may_import("state", "tools") and may_import("tools", "state")
    assert may_import("mcp", "tools") and may_import("app", "sandbox") and may_import("tools", "api")
