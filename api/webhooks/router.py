"""/api/v1/webhooks: subscriptions, their delivery log and the replay of dead letters (admin only, issue 19)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.auth.deps import Admin
from api.core.deps import SessionDep
from api.core.params import IdPath, Offset
from api.webhooks import service
from api.webhooks.schemas import (
    DeliveryList,
    DeliveryStatus,
    EventTypeList,
    Replayed,
    SubscriptionCreated,
    SubscriptionIn,
    SubscriptionList,
    SubscriptionOut,
    SubscriptionPatch,
)

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


@router.get("/event-types", response_model=EventTypeList)
def event_types(principal: Admin) -> EventTypeList:
    """The event types a subscription may ask for."""
    return EventTypeList(items=service.event_types())


@router.get("/subscriptions", response_model=SubscriptionList)
def list_subscriptions(session: SessionDep, principal: Admin) -> SubscriptionList:
    return SubscriptionList(items=service.list_subscriptions(session))


@router.post("/subscriptions", response_model=SubscriptionCreated, status_code=201)
def create_subscription(body: SubscriptionIn, session: SessionDep, principal: Admin) -> SubscriptionCreated:
    """Subscribe a URL (http or https) to event types; the answer carries the signing secret, this once."""
    return service.create(session, body=body, actor=principal.actor)


@router.get("/subscriptions/{sub_id}", response_model=SubscriptionOut)
def get_subscription(sub_id: IdPath, session: SessionDep, principal: Admin) -> SubscriptionOut:
    return service.get(session, sub_id=sub_id)


@router.patch("/subscriptions/{sub_id}", response_model=SubscriptionOut)
def update_subscription(sub_id: IdPath, body: SubscriptionPatch, session: SessionDep,
                        principal: Admin) -> SubscriptionOut:
    """Change the URL, types, filters, format or active flag (the secret stays)."""
    return service.update(session, sub_id=sub_id, body=body)


@router.delete("/subscriptions/{sub_id}", status_code=204)
def delete_subscription(sub_id: IdPath, session: SessionDep, principal: Admin) -> Response:
    service.delete(session, sub_id=sub_id)
    return Response(status_code=204)


@router.get("/subscriptions/{sub_id}/deliveries", response_model=DeliveryList)
def deliveries(sub_id: IdPath, session: SessionDep, principal: Admin, status: DeliveryStatus | None = None,
               limit: Annotated[int, Query(ge=1, le=500)] = 50, offset: Offset = 0) -> DeliveryList:
    """The delivery log, newest first: each event's status, attempts, the receiver's last answer."""
    items, total = service.deliveries(session, sub_id=sub_id, status=status, limit=limit, offset=offset)
    return DeliveryList(items=items, total=total)


@router.post("/subscriptions/{sub_id}/replay", response_model=Replayed)
def replay_all(sub_id: IdPath, session: SessionDep, principal: Admin) -> Replayed:
    """Every dead letter of the subscription back in the queue, sent again at once."""
    return Replayed(replayed=service.replay(session, sub_id=sub_id))


@router.post("/subscriptions/{sub_id}/deliveries/{delivery_id}/replay", response_model=Replayed)
def replay_one(sub_id: IdPath, delivery_id: IdPath, session: SessionDep, principal: Admin) -> Replayed:
    """One dead letter back in the queue (a delivery that is not dead is left as it is: ``replayed`` 0)."""
    return Replayed(replayed=service.replay(session, sub_id=sub_id, delivery_id=delivery_id))
