"""The broadcast page: write a one-off mail in Markdown, preview it, send a test copy, then
send it to every confirmed subscriber or to those of one topic.

Sending asks first (the preview shows the subject, the mail and who gets it) and its form
carries a one-time nonce; the run is keyed by the mail's content besides, so a second
press or another admin sending the same mail finds the same run.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from pipeline.delivery import DeliveryConfigError
from pipeline.editorial import MAX_INTRO, MAX_SUBJECT, EditorialError, render_intro, subject_line
from pipeline.editorial.broadcast import MAX_TOPIC, Broadcast, broadcast, test_copy
from pipeline.editorial.broadcast_runs import audience, start_broadcast
from pipeline.storage.posts import site_tags
from pipeline.web.admin.copies import BAD_ADDRESS, NotSent, send_test_copy
from pipeline.web.admin.csrf import NONCE_FIELD
from pipeline.web.admin.forms import AdminForm
from pipeline.web.admin.render import message_page, page, see_other
from pipeline.web.admin.routing import AdminRoute, posted, session_of
from pipeline.web.sending import check_backend
from pipeline.web.state import web_state

router = APIRouter(route_class=AdminRoute)


@router.get("/broadcast")
def write(request: Request) -> HTMLResponse:
    """An empty broadcast form."""
    return _page(request, None, None)


@router.post("/broadcast/preview")
def preview(request: Request) -> HTMLResponse:
    """The mail as it would go, who would get it, and the button that sends it."""
    form = posted(request)
    try:
        mail = _mail(form)
    except EditorialError as exc:
        return _page(request, form, None, 422, error=str(exc))
    return _page(request, form, mail)


@router.post("/broadcast/test")
def send_test(request: Request) -> HTMLResponse:
    """One copy to the address given; nothing is queued, no subscriber's state changes."""
    form = posted(request)
    try:
        mail = _mail(form)
    except EditorialError as exc:
        return _page(request, form, None, 422, error=f"Not sent: {exc}")
    settings = web_state(request).settings
    try:
        address = send_test_copy(
            settings, form.text("to"), lambda to: test_copy(settings, mail, to)
        )
    except NotSent as exc:  # no preview beside a bad address
        shown = None if exc.status == BAD_ADDRESS else mail
        return _page(request, form, shown, exc.status, error=str(exc))
    return _page(request, form, mail, notice=f"A test copy went to {address}.")


@router.post("/broadcast/send")
def send_now(request: Request) -> Response:
    """Start the broadcast's run and send it in the background."""
    form = posted(request)
    try:
        mail = _mail(form)
    except EditorialError as exc:
        return _page(request, form, None, 422, error=str(exc))
    state = web_state(request)
    db, settings = state.db, state.settings
    try:
        check_backend(settings)
    except DeliveryConfigError as exc:
        return message_page(request, 503, "Cannot send", str(exc))
    if not state.admin.nonces.use(form.text(NONCE_FIELD)):
        return see_other("/admin/runs")
    run = start_broadcast(db, mail, state.clock()).run
    state.senders.start(db, settings, run)
    return see_other(f"/admin/runs/{run.id}")


def _mail(form: AdminForm) -> Broadcast:
    return broadcast(form.text("subject"), form.text("body"), form.text("topic"))


def _page(
    request: Request,
    form: AdminForm | None,
    mail: Broadcast | None,
    status: int = 200,
    *,
    error: str | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    """The form (kept as typed), and with a checked `mail` its preview and send button."""
    db = web_state(request).db
    reach = audience(db, mail.topic) if mail else {}
    total = sum(reach.values())
    body = render_intro(mail.body) if mail else None
    user = session_of(request).user
    return page(
        request,
        "broadcast.html",
        status,
        fields={name: form.text(name) if form else "" for name in ("subject", "body", "topic")},
        topics=site_tags(db),
        subject=subject_line(mail.subject) if mail else "",
        body_html=body.html if body else "",
        body_text=body.text if body else "",
        reach=reach,
        total=total,
        nonce=web_state(request).admin.nonces.issue() if mail and total else None,
        test_to=form.text("to") if form and form.text("to") else user if "@" in user else "",
        max_subject=MAX_SUBJECT,
        max_body=MAX_INTRO,
        max_topic=MAX_TOPIC,
        error=error,
        notice=notice,
    )
