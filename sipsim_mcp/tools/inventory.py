"""The inventory: every tool declared (`@tool`) in the area modules, gathered in their order.

Tools are registered from this and nothing else; README's tool table, the bundle manifest and the
tools/list snapshot are generated from it (`python -m sipsim_mcp.app.catalog --write`).
"""

from __future__ import annotations

from types import ModuleType

from . import account, ai, calls, insights, lines, live, tags
from .base import ToolSpec

#: The area modules, in the order their tools are listed.
AREAS: tuple[ModuleType, ...] = (account, calls, insights, lines, tags, ai, live)


def declared(module: ModuleType) -> list[ToolSpec]:
    """The tools a module declares, in the order it declares them."""
    return [
        value
        for value in vars(module).values()
        if isinstance(value, ToolSpec) and value.handler.__module__ == module.__name__
    ]


TOOLS: tuple[ToolSpec, ...] = tuple(spec for area in AREAS for spec in declared(area))
TOOLS_BY_NAME = {spec.name: spec for spec in TOOLS}
if len(TOOLS_BY_NAME) != len(TOOLS):
    raise RuntimeError("Two tools are declared with the same name")
