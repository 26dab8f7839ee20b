"""Request body of the layout proposals (issue 20)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.core.params import Integer


class ProposalsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    community: str = Field(pattern=r"^([0-9]{9}|[0-9]{12})$",
                           description="12-digit community code, or a 9-digit street code: all its communities")
    households_min: Integer = Field(default=300, ge=1, le=100_000)
    households_max: Integer = Field(default=500, ge=1, le=100_000)
    alternatives: Integer = Field(default=3, ge=1, le=6)

    @model_validator(mode="after")
    def _band(self) -> ProposalsIn:
        if self.households_min > self.households_max:
            raise ValueError("households_min must not exceed households_max")
        return self
