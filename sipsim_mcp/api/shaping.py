"""Answers sized for a model: no nulls, and a hard cap on the size of any result."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_serializer

#: No tool result's text exceeds this many characters (about 20 KB); lists are cut and say so.
RESULT_CAP = 20_000


class DropNone(BaseModel):
    """Fields that are None are left out when the model is serialized."""

    @model_serializer(mode="wrap")
    def _drop_none(self, handler: Any) -> Any:
        data = handler(self)
        return {key: value for key, value in data.items() if value is not None} if isinstance(data, dict) else data


class Compact(BaseModel):
    """Base of tool outputs: no unknown fields; serialized without nulls (`to_json`, or `exclude_none=True`),
    with no Python serializer on the way (answers are serialized on every call)."""

    model_config = ConfigDict(extra="forbid")


def to_json(model: BaseModel) -> str:
    """The compact JSON of a model, nulls left out (what its structured content weighs)."""
    return model.model_dump_json(by_alias=True, exclude_none=True)


def fit(model: BaseModel, rows_field: str, cap: int = RESULT_CAP) -> int:
    """Drop rows from the end of `model.<rows_field>` until the result fits in `cap`; return how many were dropped."""
    rows: list[BaseModel] = getattr(model, rows_field)
    size = len(to_json(model))
    if size <= cap:
        return 0
    row_sizes = [len(to_json(row)) + 1 for row in rows]
    keep = len(rows)
    # Room for the fields a caller adds after cutting (omitted count, page token, note).
    budget = size - cap + 600
    while keep and budget > 0:
        keep -= 1
        budget -= row_sizes[keep]
    dropped = len(rows) - keep
    del rows[keep:]
    return dropped
