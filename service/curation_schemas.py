"""Request bodies of the trend curation routes (``POST /v1/trends/{id}/merge|split|rename``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    into: str = Field(min_length=1, max_length=64, description="The surviving trend's id.")


class SplitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    member_ids: list[str] = Field(min_length=1, max_length=10_000, description="Members that move out.")
    title: str | None = Field(default=None, max_length=200, description="Title of the new trend.")


class RenameRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200, description="The title analysts see.")
