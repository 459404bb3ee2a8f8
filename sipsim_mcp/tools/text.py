"""What the text of an answer may leave unsaid because the domain makes it plain; the renderer
(`mcp/render.py`) knows tables, not calls."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OwnValue:
    """In a table, a value every row of one `group` holds in one of `columns`: said once above the table
    (under `label`), and its cells left empty."""

    group: str
    columns: tuple[str, ...]
    label: str


#: A call's from/to is, on every call of a line, that line's own number.
LINE_NUMBERS = OwnValue(group="line", columns=("from", "to"), label="line numbers")

TEXT_RULES = (LINE_NUMBERS,)
