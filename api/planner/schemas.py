"""Request bodies of the planner workspace (see README.md in this folder for the contract)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.core.params import Integer, Number

Code = Annotated[str, Field(pattern=r"^[0-9]{15}$", description="15-digit grid code")]
GeoJSONGeometry = dict[str, Any]
SnapM = Annotated[Number, Field(ge=0, le=50, description="snap vertices within this many metres (0 = off)")]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LayoutCreate(Strict):
    name: Name
    copy_of: Integer | None = Field(default=None, ge=1, description="layout to copy; null = the one in force now")
    note: str | None = Field(default=None, max_length=2000)


class _Edit(Strict):
    base_revision: Integer = Field(ge=0)


class GridGeometry(Strict):
    code: Code
    geometry: GeoJSONGeometry


class UpdateGeometry(_Edit):
    op: Literal["update_geometry"]
    code: Code | None = None
    geometry: GeoJSONGeometry | None = None
    grids: list[GridGeometry] | None = Field(default=None, min_length=1, max_length=50)
    snap_m: SnapM = 2.0

    @model_validator(mode="after")
    def _one_form(self) -> UpdateGeometry:
        single = self.code is not None and self.geometry is not None
        if single == (self.grids is not None):
            raise ValueError("give either code and geometry, or grids: [{code, geometry}, ...]")
        return self

    def items(self) -> list[tuple[str, GeoJSONGeometry]]:
        if self.grids is not None:
            return [(g.code, g.geometry) for g in self.grids]
        assert self.code is not None and self.geometry is not None
        return [(self.code, self.geometry)]


class Split(_Edit):
    op: Literal["split"]
    code: Code
    line: GeoJSONGeometry
    snap_m: SnapM = 2.0
    cut_buildings: bool = Field(default=False, description=(
        "false (default): a building crossed by the line goes whole to the side holding most of its footprint; "
        "true: the line cuts through buildings (each then a building_split finding)"))


class Merge(_Edit):
    op: Literal["merge"]
    codes: list[Code] = Field(min_length=2, max_length=20)
    keep: Code


class Create(_Edit):
    op: Literal["create"]
    geometry: GeoJSONGeometry
    name: Name | None = None
    name_en: Name | None = None
    code: Code | None = None
    snap_m: SnapM = 2.0


class Delete(_Edit):
    op: Literal["delete"]
    code: Code


class UpdateAttrs(_Edit):
    op: Literal["update_attrs"]
    code: Code
    name: Name | None = None
    name_en: str | None = Field(default=None, max_length=200)
    new_code: str | None = None
    households: Integer | None = Field(default=None, ge=0, le=1_000_000)
    population: Integer | None = Field(default=None, ge=0, le=10_000_000)
    staff: list[Integer] | None = Field(default=None, max_length=200)


class AssignBuilding(_Edit):
    op: Literal["assign_building"]
    building_id: Integer | None = Field(default=None, ge=1)
    building_code: str | None = Field(default=None, min_length=1, max_length=32)
    code: Code

    @model_validator(mode="after")
    def _one_building(self) -> AssignBuilding:
        if (self.building_id is None) == (self.building_code is None):
            raise ValueError("give building_id or building_code (the building's code, as in /buildings)")
        return self


EditIn = Annotated[UpdateGeometry | Split | Merge | Create | Delete | UpdateAttrs | AssignBuilding,
                   Field(discriminator="op")]


class UndoIn(Strict):
    base_revision: Integer = Field(ge=0)


class PublishIn(Strict):
    base_revision: Integer = Field(ge=0)
    effective_from: datetime | None = None
    reroute_open_cases: bool = False
    override_reason: str | None = Field(default=None, max_length=2000)
    accept_unstaffed: list[Code] = Field(default_factory=list, max_length=1000, description=(
        "grids the publisher accepts with nobody on duty (each must be listed, with unstaffed_reason)"))
    unstaffed_reason: str | None = Field(default=None, max_length=2000)


class CancelPublishIn(Strict):
    reason: str | None = Field(default=None, max_length=2000)
