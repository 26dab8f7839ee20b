"""Layout proposals (issue 20): balanced alternative layouts of a community in a draft, and applying one."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Body, Path, Response

from api.auth.deps import Planner
from api.core.deps import SessionDep, SettingsDep
from api.proposals import service
from api.proposals.schemas import ProposalsIn

router = APIRouter(tags=["planner"])
LayoutId = Annotated[int, Path(ge=1, description="draft layout id")]
ProposalId = Annotated[str, Path(max_length=64, description="a proposal id from the proposals answer")]
JSON = "application/json"


@router.post("/layouts/{draft_id}/proposals", responses={200: {"content": {JSON: {}}}})
def propose(draft_id: LayoutId, session: SessionDep, _: Planner, body: Annotated[ProposalsIn, Body()]) -> Response:
    """Alternative layouts of one community, balanced to the households norm, with scores and the baseline's."""
    return Response(orjson.dumps(service.proposals(session, layout_id=draft_id, body=body)), media_type=JSON)


@router.post("/layouts/{draft_id}/proposals/{proposal_id}/apply", responses={200: {"content": {JSON: {}}}})
def apply_proposal(draft_id: LayoutId, proposal_id: ProposalId, session: SessionDep, settings: SettingsDep,
                   principal: Planner) -> Response:
    """Write one proposal into the draft as a single edit (undo reverts it); a draft edited since: 409."""
    out = service.apply(session, layout_id=draft_id, proposal_id=proposal_id, actor=principal.actor,
                        settings=settings)
    return Response(orjson.dumps(out), media_type=JSON)
