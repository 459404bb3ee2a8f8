"""Lean JSON schemas for tools/list: every byte of it is paid on every conversation.

pydantic's schemas carry boilerplate that tells a model nothing: auto titles, `anyOf [X, null]` for
fields the server never sends as null (answers leave nulls out), `"default": null`, the same parameter
text in every tool. These functions strip it once, at registration, whatever the models say.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

Schema = dict[str, Any]

NULL = {"type": "null"}
STRING = {"type": "string"}

#: Output schemas type the answer's fields and the fields of its objects and rows; deeper objects are
#: typed as objects (their keys are in the answer itself).
OUTPUT_DEPTH = 2

_MAPS = ("properties", "$defs", "patternProperties")
_ONE = ("items", "additionalProperties", "not", "contains")
_MANY = ("anyOf", "oneOf", "allOf", "prefixItems")


def _map(schema: Schema, fn: Callable[[Schema], Schema]) -> Schema:
    """`schema` with `fn` applied to each of its direct subschemas."""
    out: Schema = {}
    for key, value in schema.items():
        if key in _MAPS and isinstance(value, dict):
            out[key] = {name: fn(sub) for name, sub in value.items()}
        elif key in _ONE and isinstance(value, dict):
            out[key] = fn(value)
        elif key in _MANY and isinstance(value, list):
            out[key] = [fn(sub) for sub in value]
        else:
            out[key] = value
    return out


def _compact(node: Any) -> str:
    return json.dumps(node, separators=(",", ":"), sort_keys=True)


def _strip(schema: Schema, output: bool) -> Schema:
    """Drop titles, null defaults, string patterns and length bounds and list lengths (the server still
    enforces them, with a message naming the argument); in outputs also every default, description, format,
    closed-object flag and untyped (`{}`) field. Collapse nullable unions, and unions of plain types into one
    list of types."""
    drop = {"title", "minLength", "maxLength", "pattern", "minItems", "maxItems"}
    drop |= {"default", "description", "format"} if output else set()
    lean = {
        key: value
        for key, value in _map(schema, lambda sub: _strip(sub, output)).items()
        if key not in drop
        and not (key == "default" and value is None)
        and not (output and key == "additionalProperties" and isinstance(value, bool))
    }
    if output and isinstance(lean.get("properties"), dict):
        lean["properties"] = {name: sub for name, sub in lean["properties"].items() if sub}
    options = lean.pop("anyOf", None)
    if options is None:
        return lean
    options = [option for option in options if option != NULL]
    if output and STRING in options and all(option.get("type") == "string" for option in options):
        options = [STRING]  # one of some known strings, or any string: a string
    if len(options) == 1:
        return {**options[0], **lean}
    if all(len(option) == 1 and isinstance(option.get("type"), str) for option in options):
        return {**lean, "type": [option["type"] for option in options]}
    return {**lean, "anyOf": options}


def _inline(schema: Schema, defs: dict[str, Schema]) -> Schema:
    if "$ref" in schema:
        target = defs[schema["$ref"].rsplit("/", 1)[-1]]
        return _inline({**target, **{k: v for k, v in schema.items() if k != "$ref"}}, defs)
    return _map({k: v for k, v in schema.items() if k != "$defs"}, lambda sub: _inline(sub, defs))


def _nullable(schema: Schema) -> bool:
    return schema.get("type") == "null" or NULL in schema.get("anyOf", ())


def _unrequire_nullable(schema: Schema) -> Schema:
    """Answers leave nulls out, so a field that may be null may also be missing."""
    lean = _map(schema, _unrequire_nullable)
    properties = lean.get("properties", {})
    if isinstance(lean.get("required"), list):
        required = [name for name in lean["required"] if not _nullable(properties.get(name, {}))]
        if required:
            lean["required"] = required
        else:
            del lean["required"]
    return lean


def _cut(schema: Schema, level: int) -> Schema:
    """Objects below OUTPUT_DEPTH keep only their type; nested objects with properties leave it implied,
    and only the answer itself lists required fields."""
    if schema.get("type") == "object" or "properties" in schema:
        if level > OUTPUT_DEPTH:
            return {"type": "object"}
        if level > 1:  # "properties" already says object; only the answer lists required fields
            drop = {"required", "type"} if "properties" in schema else {"required"}
            schema = {key: value for key, value in schema.items() if key not in drop}
        level += 1
    return _map(schema, lambda sub: _cut(sub, level))


def _uses(schema: Schema, defs: dict[str, Schema]) -> dict[str, int]:
    """How often each subschema (as compact JSON) occurs in `schema` and `defs`."""
    counts: dict[str, int] = {}

    def count(sub: Schema) -> Schema:
        text = _compact(sub)
        counts[text] = counts.get(text, 0) + 1
        return _map(sub, count)

    for part in (schema, *defs.values()):
        _map(part, count)
    return counts


def _share(schema: Schema) -> Schema:
    """Move repeated subschemas into $defs, the most bytes saved first, while that saves bytes."""
    defs: dict[str, Schema] = {}
    while True:
        name = f"s{len(defs)}"
        ref = {"$ref": f"#/$defs/{name}"}
        cost = len(_compact(ref))
        saving = {
            text: uses * (len(text) - cost) - len(text) - len(name) - 4
            for text, uses in _uses(schema, defs).items()
            if uses > 1
        }
        best = max(saving, key=saving.__getitem__, default=None)
        if best is None or saving[best] <= 0:
            return {**schema, "$defs": defs} if defs else schema

        def replace(sub: Schema, text: str = best, ref: Schema = ref) -> Schema:
            return ref if _compact(sub) == text else _map(sub, replace)

        schema = _map(schema, replace)
        defs = {key: _map(value, replace) for key, value in defs.items()}
        defs[name] = json.loads(best)


def lean_output(schema: Schema) -> Schema:
    """An output schema reduced to types and structure: what a client validates, nothing it ignores."""
    inlined = _inline(schema, schema.get("$defs", {}))
    return _share(_cut(_strip(_unrequire_nullable(inlined), output=True), 1))


def lean_input(schema: Schema, said: dict[str, set[str]]) -> Schema:
    """An input schema without pydantic's boilerplate, each parameter's text said once per server.

    `said` maps a parameter name to the descriptions earlier tools gave it; a later tool with the same
    parameter and text leaves the text out (its own description points to the first tool).
    """
    lean = _strip(schema, output=False)
    properties = lean.get("properties", {})
    for name, sub in properties.items():
        properties[name] = _once(sub, said.setdefault(name, set()))
    return lean


def _once(schema: Schema, said: set[str]) -> Schema:
    lean = _map(schema, lambda sub: _once(sub, said))
    text = lean.get("description")
    if isinstance(text, str):
        if text in said:
            del lean["description"]
        said.add(text)
    return lean
