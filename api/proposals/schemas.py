"""Request body of the layout proposals (issue 20)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ProposalsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    community: str = Field(pattern=r"^[0-9]{12}$", description="12-digit community code")
    households_min: int = Field(default=300, ge=1, le=100_000)
    households_max: int = Field(default=500, ge=1, le=100_000)
    alternatives: int = Field(default=3, ge=1, le=6)

    @model_validator(mode="after")
    def _band(self) -> ProposalsIn:
        if self.households_min > self.households_max:
            raise ValueError("households_min must not exceed households_max")
        return self
