"""Tags: list_tags, create_tag, update_tag, delete_tag."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from ..api import endpoints as ep
from ..api.client import ApiResponse
from ..api.models import Deleted, Tag
from ..api.shaping import Compact, fit
from ..language.directory import quoted, tag_label
from .base import ToolContext, WritePlan, tool
from .fields import HexColor, NoInput, TagName, TagRef, ToolInput

DEFAULT_COLOR = "#6B7280"


class TagList(Compact):
    tags: list[Tag]
    omitted: int | None = None


@tool(
    name="list_tags",
    title="List tags",
    endpoint=ep.LIST_TAGS,
    input=NoInput,
    output=TagList,
)
async def list_tags(ctx: ToolContext, args: NoInput) -> TagList:
    """List the account's tags (id, name, colour, description)."""
    tags = await ctx.directory.tags(fresh=True)
    result = TagList(tags=list(tags))
    result.omitted = fit(result, "tags") or None
    return result


def _tag_result(ctx: ToolContext):
    def finish(response: ApiResponse) -> Tag:
        ctx.directory.forget_tags()
        return Tag.model_validate(response.data or {})

    return finish


class CreateTagInput(ToolInput):
    name: TagName = Field(description="Tag name; must not exist yet")
    color: HexColor | None = Field(None, description=f"Colour as #RRGGBB (default {DEFAULT_COLOR})")
    description: str | None = Field(None, max_length=500)


@tool(
    name="create_tag",
    title="Create tag",
    endpoint=ep.CREATE_TAG,
    input=CreateTagInput,
    output=Tag,
    write=True,
    destructive=False,
    idempotent=False,
    hints={409: "A tag with that name already exists: use it (list_tags shows its id) instead of creating it."},
)
async def create_tag(ctx: ToolContext, args: CreateTagInput) -> WritePlan:
    """Create a tag. If a tag with that name exists, use it instead (list_tags)."""
    body: dict[str, Any] = {"name": args.name.strip()}
    if args.color:
        body["color"] = args.color.upper()
    if args.description is not None:
        body["description"] = args.description
    return WritePlan(
        summary=f"Create the tag {quoted(body['name'])} (colour {body.get('color', DEFAULT_COLOR)})",
        body=body,
        finish=_tag_result(ctx),
    )


class UpdateTagInput(ToolInput):
    tag: TagRef
    name: TagName | None = Field(None, description="New name")
    color: HexColor | None = None
    description: str | None = Field(None, max_length=500, description="New description")

    @model_validator(mode="after")
    def _something(self) -> UpdateTagInput:
        if self.name is None and self.color is None and self.description is None:
            raise ValueError("Nothing to change: give name, color or description")
        return self


@tool(
    name="update_tag",
    title="Update tag",
    endpoint=ep.UPDATE_TAG,
    input=UpdateTagInput,
    output=Tag,
    write=True,
    destructive=False,
    idempotent=True,
    also_needs=("tags.read",),
    hints={409: "Another tag already has that name: pick another name, or use the existing tag."},
)
async def update_tag(ctx: ToolContext, args: UpdateTagInput) -> WritePlan:
    """Rename a tag or change its colour or description."""
    tag = await ctx.directory.tag(args.tag)
    body: dict[str, Any] = {}
    changes = []
    if args.name is not None:
        body["name"] = args.name.strip()
        changes.append(f"rename it to {quoted(body['name'])}")
    if args.color is not None:
        body["color"] = args.color.upper()
        changes.append(f"colour {tag.color} -> {body['color']}")
    if args.description is not None:
        body["description"] = args.description
        changes.append("new description")
    return WritePlan(
        summary=f"Change the tag {tag_label(tag)}: " + ", ".join(changes),
        path_params={"tag_id": tag.id},
        body=body,
        finish=_tag_result(ctx),
    )


class DeleteTagInput(ToolInput):
    tag: TagRef


class DeletedTag(Compact):
    tag: Tag
    deleted: bool = True


@tool(
    name="delete_tag",
    title="Delete tag",
    endpoint=ep.DELETE_TAG,
    input=DeleteTagInput,
    output=DeletedTag,
    write=True,
    destructive=True,
    idempotent=True,
    also_needs=("tags.read",),
)
async def delete_tag(ctx: ToolContext, args: DeleteTagInput) -> WritePlan:
    """Delete a tag. It is removed from every call that carries it; this cannot be undone."""
    tag = await ctx.directory.tag(args.tag)

    def finish(response: ApiResponse) -> DeletedTag:
        ctx.directory.forget_tags()
        Deleted.model_validate(response.data or {})
        return DeletedTag(tag=tag)

    return WritePlan(
        summary=f"Delete the tag {tag_label(tag)}",
        detail="It is removed from every call that carries it; this cannot be undone.",
        path_params={"tag_id": tag.id},
        finish=finish,
    )
