"""The digest pages: preview any frequency for anyone, send a test copy, send now.

"Send now" asks first, showing how many people the digest goes to, and its form carries a
one-time nonce: pressing the button twice, or the browser re-posting, starts nothing new.
Below that, the run is one per frequency and period (`start_run`), so even two admins on
two servers send each person one copy. Sending happens in a background thread; the page
answers at once with the run, which shows its progress.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from pipeline.delivery import DeliveryConfigError
from pipeline.digest.each import start_post_runs
from pipeline.digest.preview import (
    editor_copy,
    preview_message,
    preview_posts,
    run_subject,
    send_outlook,
)
from pipeline.digest.runs import start_run
from pipeline.editorial import (
    MAX_INTRO,
    MAX_SUBJECT,
    Editorial,
    EditorialError,
    editorial,
    render_intro,
)
from pipeline.frequencies import EACH, period_of
from pipeline.mail.template import OutgoingMessage
from pipeline.outbox import find_run
from pipeline.web.admin.copies import NotSent, send_test_copy
from pipeline.web.admin.csrf import NONCE_FIELD
from pipeline.web.admin.forms import AdminForm
from pipeline.web.admin.mailview import read_mail
from pipeline.web.admin.render import framed, message_page, page, see_other
from pipeline.web.admin.routing import AdminRoute, posted, session_of
from pipeline.web.sending import check_backend
from pipeline.web.state import web_state
from subscribers import FREQUENCIES, Frequency, SubscriberError

router = APIRouter(route_class=AdminRoute)
NO_POSTS = "There are no published posts yet: run `newsletter ingest` first."


class PreviewProblem(Exception):
    """Why there is no preview to show; `status` is the answer's."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@router.get("/digest")
def digest(
    request: Request, frequency: Frequency = "weekly", email: str = "", tested: str = ""
) -> HTMLResponse:
    """The digest `email` (blank: a new subscriber) would get now: HTML framed, text below."""
    notice = f"A test copy went to {tested}." if tested else None
    return _digest_page(request, frequency, email.strip(), notice=notice)


@router.get("/digest/preview.html")
def preview_html(request: Request, frequency: Frequency = "weekly", email: str = "") -> Response:
    """The preview's HTML body, for the frame on the digest page."""
    try:
        message = _preview(request, frequency, email.strip())
    except PreviewProblem as exc:
        return message_page(request, exc.status, "No preview", str(exc))
    return framed(read_mail(message.raw).html or "")


@router.post("/digest/test")
def send_test(request: Request) -> Response:
    """One copy of a new subscriber's digest to the address given; no state changes."""
    form = posted(request)
    frequency = form.text("frequency")
    if frequency not in FREQUENCIES:
        return _unknown_frequency(request)
    state = web_state(request)

    def copy(address: str) -> OutgoingMessage:
        posts = preview_posts(state.db, None, frequency, state.clock())
        if not posts:
            raise PreviewProblem(409, NO_POSTS)
        return editor_copy(state.settings, posts, address)

    try:
        address = send_test_copy(state.settings, form.text("to"), copy)
    except NotSent as exc:
        return _digest_page(request, frequency, "", exc.status, error=str(exc))
    except PreviewProblem as exc:
        return _digest_page(request, frequency, "", exc.status, error=f"Not sent: {exc}")
    return see_other(f"/admin/digest?{urlencode({'frequency': frequency, 'tested': address})}")


@router.get("/digest/send")
def confirm_send(request: Request, frequency: Frequency = "weekly") -> HTMLResponse:
    """What sending now would do, the subject and intro to set for it, and the button."""
    return _send_page(request, frequency, None)


@router.post("/digest/send/review")
def review_send(request: Request) -> Response:
    """The confirmation again, with the subject and intro the editor just wrote."""
    form = posted(request)
    frequency = form.text("frequency")
    if frequency not in FREQUENCIES:
        return _unknown_frequency(request)
    try:
        note = editorial(form.text("subject"), form.text("intro"))
    except EditorialError as exc:
        return _send_page(request, frequency, None, 422, error=str(exc), form=form)
    return _send_page(request, frequency, note)


@router.post("/digest/send")
def send_now(request: Request) -> Response:
    """Start (or resume) this period's run and send it in the background; a form sent
    again only leads to the run its first sending started. A new run takes the subject
    and intro of the form; an existing one keeps its own."""
    form = posted(request)
    frequency = form.text("frequency")
    if frequency not in FREQUENCIES:
        return _unknown_frequency(request)
    db, settings = web_state(request).db, web_state(request).settings
    try:
        note = editorial(form.text("subject"), form.text("intro"))
    except EditorialError as exc:
        return _send_page(request, frequency, None, 422, error=str(exc), form=form)
    try:
        check_backend(settings)
    except DeliveryConfigError as exc:
        return message_page(request, 503, "Cannot send", str(exc))
    state = web_state(request)
    now = state.clock()
    if frequency == EACH:  # a run per new post
        if state.admin.nonces.use(form.text(NONCE_FIELD)):
            for started in start_post_runs(db, settings, now):
                state.senders.start(db, settings, started.run)
        return see_other("/admin/runs")
    if not state.admin.nonces.use(form.text(NONCE_FIELD)):
        run = find_run(db, frequency, period_of(frequency, now, settings.zone))
        return see_other(f"/admin/runs/{run.id}" if run else "/admin/runs")
    run = start_run(db, settings, frequency, now, note=note).run
    state.senders.start(db, settings, run)
    return see_other(f"/admin/runs/{run.id}")


def _send_page(
    request: Request,
    frequency: Frequency,
    note: Editorial | None,
    status: int = 200,
    *,
    error: str | None = None,
    form: AdminForm | None = None,
) -> HTMLResponse:
    """The confirmation: subject, intro, posts and recipients by frequency and zone."""
    state = web_state(request)
    outlook = send_outlook(state.db, state.settings, frequency, state.clock())
    sendable = not outlook.finished and (outlook.run is not None or outlook.recipients > 0)
    nonce = state.admin.nonces.issue() if sendable and not error else None
    intro = outlook.run.intro if outlook.run is not None else note.intro if note else None
    return page(
        request,
        "send.html",
        status,
        outlook=outlook,
        nonce=nonce,
        subject=run_subject(state.db, state.settings, outlook, note),
        intro_html=render_intro(intro).html if intro else "",
        subject_input=form.text("subject") if form else note.subject if note else "",
        intro_input=form.text("intro") if form else note.intro if note else "",
        max_subject=MAX_SUBJECT,
        max_intro=MAX_INTRO,
        error=error,
    )


def _unknown_frequency(request: Request) -> HTMLResponse:
    choices = ", ".join(FREQUENCIES)
    return message_page(request, 422, "Unknown frequency", f"Choose one of {choices}.")


def _preview(request: Request, frequency: Frequency, email: str) -> OutgoingMessage:
    """The message `email` (blank: a sample reader) would get now; PreviewProblem if none."""
    state = web_state(request)
    subscriber = None
    if email:
        try:
            subscriber = state.subscribers.find(email)
        except SubscriberError as exc:
            raise PreviewProblem(422, f"{email}: {exc}") from None
        if subscriber is None:
            raise PreviewProblem(404, f"{email} is not on the list.")
    posts = preview_posts(state.db, subscriber, frequency, state.clock())
    if not posts:
        raise PreviewProblem(409, NO_POSTS)
    return preview_message(state.settings, posts, subscriber)


def _digest_page(
    request: Request, frequency: Frequency, email: str, status: int = 200, **context: Any
) -> HTMLResponse:
    try:
        mail = read_mail(_preview(request, frequency, email).raw)
    except PreviewProblem as exc:  # a failed test send's error, if any, comes first
        mail, status = None, status if status != 200 else exc.status
        context.setdefault("error", str(exc))
    user = session_of(request).user
    return page(
        request,
        "digest.html",
        status,
        frequency=frequency,
        email=email,
        mail=mail,
        frame=f"/admin/digest/preview.html?{urlencode({'frequency': frequency, 'email': email})}",
        test_to=user if "@" in user else "",
        **context,
    )
