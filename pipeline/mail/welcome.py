"""The welcome email: sent once, when a subscription is confirmed."""

from __future__ import annotations

from pipeline.mail.compose import OutgoingMessage, compose
from pipeline.mail.headers import format_address
from pipeline.mail.render import render_email, site_context
from pipeline.settings import Settings
from subscribers import Subscriber

# RFC 3834: an automatic message; vacation responders must not answer it.
_AUTOMATIC = {"Auto-Submitted": "auto-generated"}


def welcome_message(
    settings: Settings, subscriber: Subscriber, *, preferences_url: str, unsubscribe_url: str
) -> OutgoingMessage:
    """The welcome email for one newly confirmed subscriber (templates/email/welcome.*)."""
    subject = f"Welcome to {settings.site_title}"
    body = render_email(
        "welcome",
        **site_context(settings, title=subject),
        name=subscriber.name,
        frequency=subscriber.frequency,
        topics=list(subscriber.topics),
        preferences_url=preferences_url,
        unsubscribe_url=unsubscribe_url,
    )
    return compose(
        sender=settings.email_from,
        to=format_address(subscriber.name, subscriber.email),
        subject=subject,
        text=body.text,
        html=body.html,
        headers={**_AUTOMATIC, "List-Unsubscribe": f"<{unsubscribe_url}>"},
    )
