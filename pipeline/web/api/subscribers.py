"""The list: browse it by status, add to it, see (GDPR access) and remove one person."""

from __future__ import annotations

from itertools import islice
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from pipeline.web.api.context import StoreDep
from pipeline.web.api.errors import ApiError
from pipeline.web.api.models import (
    NewSubscriber,
    PersonalData,
    Removal,
    Stats,
    Status,
    SubscriberOut,
    SubscriberPage,
    failures,
)
from pipeline.web.api.routing import ApiRoute
from pipeline.web.invitations import invite_soon
from pipeline.web.state import web_state
from subscribers import subscriber_json

router = APIRouter(route_class=ApiRoute, tags=["subscribers"])
Email = Annotated[
    str,
    Path(
        max_length=320,
        description="the address, in any case",
        json_schema_extra={"format": "email"},
    ),
]
MAX_PAGE = 1_000


@router.get("/subscribers", response_model=SubscriberPage, summary="Subscribers, oldest first")
def list_subscribers(
    store: StoreDep,
    status: Status | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict[str, Any]:
    """A page of the list, filtered by status; `total` counts every page."""
    by_status = store.counts()["status"]
    total = by_status[status] if status else sum(by_status.values())
    matching = store.iter_all(status=status, batch=min(offset + limit, MAX_PAGE))
    page = [subscriber_json(item) for item in islice(matching, offset, offset + limit)]
    return {"items": page, "total": total, "offset": offset, "limit": limit}


@router.post(
    "/subscribers",
    response_model=SubscriberOut,
    status_code=201,
    summary="Add a subscriber",
    responses={
        200: {"model": SubscriberOut, "description": "known address, updated"},
        **failures({409: "the person left the list: only their own sign-up brings them back"}),
    },
)
def add_subscriber(
    new: NewSubscriber, store: StoreDep, request: Request, response: Response
) -> dict[str, Any]:
    """Add an address (pending, or confirmed with `confirmed`); a known one takes the
    fields given. A pending one is mailed the link to confirm (at most once an hour).
    Someone who unsubscribed, complained, bounced or was erased is refused (409): only
    their own sign-up brings them back."""
    subscriber, outcome = store.add(
        new.email,
        name=new.name,
        frequency=new.frequency,
        timezone=new.timezone,
        topics=new.topics,
        confirmed=new.confirmed,
        method="api",
    )
    if outcome == "merged":
        response.status_code = 200
    if subscriber.status == "pending":
        invite_soon(web_state(request), [subscriber.id])  # queued, sent in the background
    return subscriber_json(subscriber)


@router.get(
    "/subscribers/{email}",
    response_model=PersonalData,
    summary="All that is stored about one subscriber",
    responses=failures({404: "no subscriber with this address"}),
)
def personal_data(email: Email, store: StoreDep) -> dict[str, Any]:
    """Profile, dates, bounces and every consent record (a GDPR access request)."""
    data = store.personal_data(email)
    if data is None:
        raise ApiError(404, "no subscriber with this address")
    return data


@router.delete(
    "/subscribers/{email}",
    response_model=Removal,
    summary="Remove a subscriber",
    responses=failures({404: "no subscriber with this address (and no `erase`)"}),
)
def remove_subscriber(
    email: Email,
    store: StoreDep,
    erase: Annotated[
        bool, Query(description="also suppress the address: it is never added or mailed again")
    ] = False,
) -> dict[str, Any]:
    """Delete the subscriber and their consent records. With `erase` (GDPR erasure) only a
    hash of the address stays, on the suppression list, even if it was not subscribed."""
    removed = store.remove(email, erase=erase)
    if not (removed or erase):
        raise ApiError(404, "no subscriber with this address")
    return {"email": email, "removed": removed, "erased": erase}


@router.get("/stats", response_model=Stats, summary="Subscribers by status and frequency")
def stats(store: StoreDep) -> dict[str, dict[str, int]]:
    return store.counts()
