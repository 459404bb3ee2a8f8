"""The text of a tool result: the structured answer said once, compactly, for a model to read.

`structuredContent` keeps the typed JSON; the text carries the same information in fewer bytes: the
answer's scalars and objects as `key: value` lines, each list of objects as a table (a header, then one
`|`-separated line per row), times at minute precision in one zone stated once, and cells the tools
declare plain (`OwnValue`: a value each group of rows shares) left empty, the value said once above the table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from ..tools.text import OwnValue

Json = dict[str, Any]

_INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)")
SEPARATOR = "|"
#: Scalar lines up to this long share one line.
SHORT = 24
_ABSENT = object()


def render(data: Json, rules: Sequence[OwnValue] = ()) -> str:
    """The text of a result whose structured content is `data` (JSON-ready, nulls already left out); `rules`
    name the values a table may say once."""
    zone = _zone(data)
    header, scalars, blocks = [], [], []
    for key, value in data.items():
        if key == "window" and isinstance(value, dict) and "description" in value:
            header.append(f"window: {value['description']}")  # names the zone: the times need not
            zone.stated = zone.name in value["description"]
        elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            blocks.append(_table(key, value, zone, rules))
        elif isinstance(value, dict):
            if value:
                blocks.append(f"{key}: {_fields(value, zone)}")
        elif isinstance(value, list):
            scalars.append(f"{key}: {', '.join(_cell(item, zone) for item in value) or '(none)'}")
        else:
            scalars.append(f"{key}: {_scalar(value, zone)}")
    if zone.used and (zone.shared or not zone.stated):
        form = "DD HH:MM" if len(zone.shared) > 4 else "MM-DD HH:MM"
        parts = [form if zone.stated else f"{form} in {zone.shared}"] if zone.shared else []  # the window says when
        header.append(f"times: {', '.join(parts + ([] if zone.stated else [zone.name]))}")
    short = "; ".join(line for line in scalars if len(line) <= SHORT)  # counts and flags share a line
    return "\n".join([*header, *([short] if short else []), *(line for line in scalars if len(line) > SHORT), *blocks])


class _Zone:
    """The one zone every time of an answer is shown in (stated once); the year, or year and month, too
    when the window lies within one (its rows then do too)."""

    def __init__(self, name: str | None, shared: str = "") -> None:
        self.name = name or "UTC"
        self.tz: tzinfo | None = _load(name)
        self.shared = shared  # "2026" or "2026-11": said once, left out of each time
        self.used = self.stated = False

    def clock(self, text: str) -> str:
        """An ISO 8601 instant at minute precision in this zone."""
        moment = _parse(text)
        if self.tz is None:  # no zone named: the first time's own offset stands for all
            offset = moment.utcoffset() or timedelta(0)
            self.tz = timezone(offset)
            self.name = "UTC" if not offset else f"UTC{_offset(offset)}"
        self.used = True
        local = moment.astimezone(self.tz)
        full = f"{local.year}-{local.month:02d}-{local.day:02d} {local.hour:02d}:{local.minute:02d}"
        return full[len(self.shared) + 1 :] if self.shared and full.startswith(self.shared) else full


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _offset(delta: timedelta) -> str:
    minutes = int(delta.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _load(name: str | None) -> tzinfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return None


def _zone(data: Json) -> _Zone:
    window = data.get("window")
    if not isinstance(window, dict):
        name = data.get("timezone")
        return _Zone(name if isinstance(name, str) else None)
    since, until = window.get("since_local"), window.get("until_local")
    if not (isinstance(since, str) and isinstance(until, str)):
        return _Zone(window.get("timezone"))
    shared = since[:7] if since[:7] == until[:7] else since[:4] if since[:4] == until[:4] else ""
    return _Zone(window.get("timezone"), shared)


def _scalar(value: Any, zone: _Zone) -> str:
    if isinstance(value, str):
        return zone.clock(value) if len(value) >= 16 and value[10] == "T" and _INSTANT.fullmatch(value) else value
    if isinstance(value, bool) or value is None:
        return "true" if value else "false" if value is False else "null"
    return str(value)


def _cell(value: Any, zone: _Zone) -> str:
    if type(value) is str:  # most cells: said as they are unless a time or holding a separator
        if len(value) >= 16 and value[10] == "T" and _INSTANT.fullmatch(value):
            return zone.clock(value)
        if SEPARATOR in value or "\n" in value:
            return value.replace(SEPARATOR, "\\" + SEPARATOR).replace("\n", " ")
        return value
    if type(value) is int or type(value) is float:
        return str(value)
    if isinstance(value, list):
        return ",".join(_cell(item, zone) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = _scalar(value, zone)
    if SEPARATOR in text or "\n" in text:
        text = text.replace(SEPARATOR, "\\" + SEPARATOR).replace("\n", " ")
    return text


def _fields(value: Json, zone: _Zone) -> str:
    return ", ".join(f"{key}={_cell(item, zone)}" for key, item in value.items())


def _flat(row: Json) -> Json:
    """A row with its nested objects' fields lifted into columns (a summary group's keys)."""
    if not any(type(value) is dict for value in row.values()):
        return row
    flat: Json = {}
    for key, value in row.items():
        if isinstance(value, dict) and value and all(not isinstance(v, (dict, list)) for v in value.values()):
            flat.update({name: item for name, item in value.items() if name not in row})
        else:
            flat[key] = value
    return flat


def own_values(rows: list[Json], rule: OwnValue) -> dict[str, str]:
    """Each group's own value, where the rows show it unambiguously: the one value that is in one of the
    rule's columns of every row of that group (at least two rows)."""
    common: dict[str, set[str]] = {}
    counts: dict[str, int] = {}
    for row in rows:
        group = row.get(rule.group)
        if not isinstance(group, str):
            continue
        values = {row[key] for key in rule.columns if isinstance(row.get(key), str)}
        if not values:
            continue
        common[group] = common[group] & values if group in common else values
        counts[group] = counts.get(group, 0) + 1
    return {group: next(iter(values)) for group, values in common.items() if len(values) == 1 and counts[group] > 1}


def _table(name: str, rows: list[Json], zone: _Zone, rules: Sequence[OwnValue]) -> str:
    flat = [_flat(row) for row in rows]
    columns: list[str] = []
    orders: set[tuple[str, ...]] = set()
    for row in flat:  # every key once, each after the key it follows in the rows
        order = tuple(row)
        if order in orders:
            continue
        orders.add(order)
        previous = -1
        for key in row:
            if key not in columns:
                columns.insert(previous + 1, key)
            previous = columns.index(key)
    lines = [f"{name} ({len(rows)}):"]
    blank: list[tuple[str, dict[str, str]] | None] = [None] * len(columns)  # per column: its rule's group, values
    for rule in rules:
        if rule.group not in columns or not any(key in columns for key in rule.columns):
            continue
        own = own_values(flat, rule)
        if own:
            said = "; ".join(f"{group} {value}" for group, value in own.items())
            lines.append(f"{rule.label} (empty {'/'.join(rule.columns)}): {said}")
            for index, key in enumerate(columns):
                if key in rule.columns:
                    blank[index] = (rule.group, own)
    lines.append(SEPARATOR.join(columns))
    for row in flat:
        cells = [
            ""
            if (value := row.get(key, _ABSENT)) is _ABSENT
            or (elide is not None and value == elide[1].get(row.get(elide[0])))  # type: ignore[arg-type]
            else _cell(value, zone)
            for key, elide in zip(columns, blank, strict=True)
        ]
        lines.append(SEPARATOR.join(cells).rstrip(SEPARATOR))  # empty last cells go unsaid
    return "\n".join(lines)
