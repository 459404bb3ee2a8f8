"""The text of a tool result: the structured answer said once, compactly, for a model to read.

`structuredContent` keeps the typed JSON; the text carries the same information in fewer bytes: the
answer's scalars and objects as `key: value` lines, each list of objects as a table (a header, then one
`|`-separated line per row), times at minute precision in one zone stated once, and a call's
`from`/`to` left empty when it is its line's own number (listed once above the table).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

Json = dict[str, Any]

_INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)")
SEPARATOR = "|"
#: Scalar lines up to this long share one line.
SHORT = 24
_ABSENT = object()
#: The columns a call row may leave empty when they hold its line's own number.
LINE_ENDS = ("from", "to")


def render(data: Json) -> str:
    """The text of a result whose structured content is `data` (JSON-ready, nulls already left out)."""
    zone = _zone(data)
    header, scalars, blocks = [], [], []
    for key, value in data.items():
        if key == "window" and isinstance(value, dict) and "description" in value:
            header.append(f"window: {value['description']}")  # names the zone: the times need not
            zone.stated = zone.name in value["description"]
        elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            blocks.append(_table(key, value, zone))
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


def line_numbers(rows: list[Json]) -> dict[str, str]:
    """Each line's own number, where the rows show it unambiguously: the one number that is the
    `from` or `to` of every row on that line (at least two rows)."""
    common: dict[str, set[str]] = {}
    counts: dict[str, int] = {}
    for row in rows:
        line = row.get("line")
        if not isinstance(line, str):
            continue
        ends = {row[key] for key in LINE_ENDS if isinstance(row.get(key), str)}
        if not ends:
            continue
        common[line] = common[line] & ends if line in common else ends
        counts[line] = counts.get(line, 0) + 1
    return {line: next(iter(ends)) for line, ends in common.items() if len(ends) == 1 and counts[line] > 1}


def _table(name: str, rows: list[Json], zone: _Zone) -> str:
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
    own = line_numbers(flat) if any(key in columns for key in LINE_ENDS) else {}
    lines = [f"{name} ({len(rows)}):"]
    if own:
        numbers = "; ".join(f"{line} {number}" for line, number in own.items())
        lines.append(f"line numbers (empty from/to): {numbers}")
    lines.append(SEPARATOR.join(columns))
    ends = [key in LINE_ENDS for key in columns]
    for row in flat:
        number = own.get(row.get("line")) if own else None  # type: ignore[arg-type]
        cells = [
            "" if (value := row.get(key, _ABSENT)) is _ABSENT or (end and value == number) else _cell(value, zone)
            for key, end in zip(columns, ends, strict=True)
        ]
        lines.append(SEPARATOR.join(cells).rstrip(SEPARATOR))  # empty last cells go unsaid
    return "\n".join(lines)
