"""One subscriber: everything stored about them, and what an admin may do: edit their
choices, unsubscribe them, erase them (GDPR), or mail the confirmation link again."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from pipeline.outbox import deliveries_to
from pipeline.storage.posts import site_tags
from pipeline.web.admin.render import message_page, page, see_other
from pipeline.web.admin.routing import AdminRoute, posted
from pipeline.web.invitations import invite_soon
from pipeline.web.state import web_state
from subscribers import Subscriber, SubscriberError, SubscriberStore
from subscribers.profile import timezone_names

router = APIRouter(route_class=AdminRoute)
DIGESTS_SHOWN = 50
NO_ONE = "There is no subscriber with this number: they may have been erased."
DONE = {
    "saved": "Saved.",
    "unsubscribed": "Unsubscribed.",
    "asked": "The confirmation link is on its way.",
    "held": "Not sent: they were asked less than an hour ago.",
}


@router.get("/subscribers/{subscriber_id}")
def person(request: Request, subscriber_id: int, done: str = "") -> HTMLResponse:
    """Profile, status, consent history, digests received, bounces; and the actions."""
    subscriber = _store(request).get(subscriber_id)
    if subscriber is None:
        return message_page(request, 404, "No such subscriber", NO_ONE)
    return _page(request, subscriber, notice=DONE.get(done))


@router.post("/subscribers/{subscriber_id}/edit")
def edit(request: Request, subscriber_id: int) -> Response:
    form = posted(request)
    store = _store(request)
    subscriber = store.get(subscriber_id)
    if subscriber is None:
        return message_page(request, 404, "No such subscriber", NO_ONE)
    try:
        store.update_preferences(
            subscriber.id,
            subscriber.token_nonce,
            name=form.text("name"),
            frequency=form.text("frequency"),
            timezone=form.text("timezone"),
            topics=form.fields.getlist("topics"),
            **_origin(request),
        )
    except SubscriberError as exc:
        return _page(request, subscriber, 422, error=f"Not saved: {exc}")
    return see_other(f"/admin/subscribers/{subscriber.id}?done=saved")


@router.post("/subscribers/{subscriber_id}/unsubscribe")
def unsubscribe(request: Request, subscriber_id: int) -> Response:
    store = _store(request)
    subscriber = store.get(subscriber_id)
    if subscriber is None:
        return message_page(request, 404, "No such subscriber", NO_ONE)
    store.unsubscribe(subscriber.id, subscriber.token_nonce, **_origin(request))
    return see_other(f"/admin/subscribers/{subscriber.id}?done=unsubscribed")


@router.post("/subscribers/{subscriber_id}/erase")
def erase(request: Request, subscriber_id: int) -> Response:
    """Delete them and their consent records; a hash keeps the address from coming back."""
    store = _store(request)
    subscriber = store.get(subscriber_id)
    if subscriber is None:
        return message_page(request, 404, "No such subscriber", NO_ONE)
    if posted(request).text("sure") != "yes":
        return _page(request, subscriber, 422, error="Tick the box to confirm the erasure.")
    store.remove(subscriber.email, erase=True)
    return message_page(
        request,
        200,
        "Erased",
        "Their data is gone; only a hash of the address stays, so it is never mailed again.",
    )


@router.post("/subscribers/{subscriber_id}/resend")
def resend(request: Request, subscriber_id: int) -> Response:
    """The confirmation link again, to a pending subscriber not asked within the hour."""
    posted(request)
    subscriber = _store(request).get(subscriber_id)
    if subscriber is None:
        return message_page(request, 404, "No such subscriber", NO_ONE)
    invited = invite_soon(web_state(request), [subscriber.id])
    done = "asked" if invited.queued else "held"
    return see_other(f"/admin/subscribers/{subscriber.id}?done={done}")


def _page(
    request: Request, subscriber: Subscriber, status: int = 200, **context: Any
) -> HTMLResponse:
    chosen = {topic.casefold() for topic in subscriber.topics}
    options = {tag.casefold(): tag for tag in site_tags(web_state(request).db)}
    options.update((topic.casefold(), topic) for topic in subscriber.topics)
    return page(
        request,
        "subscriber.html",
        status,
        subscriber=subscriber,
        consents=_store(request).consents(subscriber.id),
        digests=deliveries_to(web_state(request).db, subscriber.id, DIGESTS_SHOWN),
        topics=[(topic, key in chosen) for key, topic in sorted(options.items())],
        zones=timezone_names(),
        **context,
    )


def _store(request: Request) -> SubscriberStore:
    return web_state(request).subscribers


def _origin(request: Request) -> dict[str, Any]:
    """The admin's request, for the consent record."""
    return {
        "method": "admin",
        "ip": request.client.host if request.client else None,
        "user_agent": request.headers.get("user-agent"),
    }
