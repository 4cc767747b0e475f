"""One-off broadcasts: a mail written in Markdown, sent once to every confirmed subscriber
or to those of one topic, through the outbox like a digest (claims, retries, pauses,
resume), as a run of kind `broadcast`.

A broadcast's run is keyed by its content (subject, body and topic): sending the same
file again, after a crash or a double click, finds the run it started instead of mailing
everyone twice. Its subject and body are stored with the run, so a resumed run sends
exactly what it began with.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.digest.message import digest_template
from pipeline.digest.render import DigestContent
from pipeline.editorial.files import read_markdown
from pipeline.editorial.note import MAX_INTRO, EditorialError, editorial, render_intro, subject_line
from pipeline.mail.render import render_email, site_context
from pipeline.mail.template import OutgoingMessage, Recipient, inert
from pipeline.sanitize import shorten
from pipeline.settings import Settings
from pipeline.sources.base import ParseError
from pipeline.sources.markdown import split_front_matter

KIND = "broadcast"
MAX_TOPIC = 200
PREVIEW_LENGTH = 150
if TYPE_CHECKING:
    from pipeline.storage.models import DigestRun

_HEADING = re.compile(r"\A\s*#[ \t]+(.+?)[ \t#]*(?:\r?\n|\Z)")


@dataclass(frozen=True)
class Broadcast:
    """A broadcast as written: its subject, its Markdown body, and the topic it goes to
    (None: every confirmed subscriber)."""

    subject: str
    body: str
    topic: str | None = None

    @property
    def key(self) -> str:
        """The run's period: the same content to the same topic is the same run."""
        seed = "\0".join((self.subject, self.body, self.topic or "")).encode()
        return hashlib.sha256(seed).hexdigest()[:24]


def broadcast(subject: str, body: str, topic: str | None = None) -> Broadcast:
    """A broadcast checked as an editor's note; EditorialError (one line) if unusable."""
    note = editorial(subject, body)
    if note.subject is None:
        raise EditorialError("subject: a broadcast needs one")
    if note.intro is None:
        raise EditorialError("body: a broadcast needs some text")
    topic = (topic or "").strip() or None
    if topic is not None and len(topic) > MAX_TOPIC:
        raise EditorialError(f"topic: longer than {MAX_TOPIC} characters")
    return Broadcast(note.subject, note.intro, topic)


def read_broadcast(path: Path, topic: str | None = None) -> Broadcast:
    """A Markdown file as a broadcast: the subject from its `subject:` (or `title:`) front
    matter, else from a first `# heading` line, which then leaves the body."""
    text = read_markdown(path, limit=MAX_INTRO)
    try:
        meta, body = split_front_matter(text)
    except ParseError as exc:
        raise EditorialError(f"{path}: {exc}") from None
    subject = str(meta.get("subject") or meta.get("title") or "").strip()
    if not subject and (heading := _HEADING.match(body)):
        subject, body = heading.group(1), body[heading.end() :]
    try:
        return broadcast(subject, body, topic)
    except EditorialError as exc:
        raise EditorialError(f"{path}: {exc}") from None


def render_broadcast(settings: Settings, mail: Broadcast, archive_url: str = "") -> DigestContent:
    """The broadcast's subject and bodies, with the same footer slots as a digest
    (`archive_url`: its public copy, linked as "View in browser")."""
    subject = subject_line(mail.subject)
    body = render_intro(mail.body)
    site = inert(settings.site_title)
    rendered = render_email(
        "broadcast",
        **site_context(settings, title=site) | {"site_title": site},
        subject=subject,
        preview=inert(shorten(" ".join(body.text.split()), PREVIEW_LENGTH)),
        body_html=body.html,
        body_text=body.text,
        postal_address=inert(settings.postal_address or ""),
        archive_url=archive_url,
    )
    return DigestContent(
        subject=subject, html=rendered.html, text=rendered.text, dates="", posts=0, shown=0
    )


def stored_broadcast(run: DigestRun) -> Broadcast:
    """The broadcast a run was started for."""
    return Broadcast(run.subject or "", run.intro or "", run.topic)


def test_copy(settings: Settings, mail: Broadcast, email: str) -> OutgoingMessage:
    """A copy for `email` (already normalised) whose links lead to the site, not to anyone's
    subscription: a test changes no subscriber's state and queues nothing."""
    site = f"{settings.base_url}/"
    values = {"unsubscribe_url": site, "preferences_url": site, "unsubscribe_token": "test"}
    recipient = Recipient("test", email, "", values)
    return digest_template(settings, render_broadcast(settings, mail)).render(recipient)
