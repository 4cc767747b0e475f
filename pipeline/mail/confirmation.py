"""The double opt-in email: one button that confirms a pending subscription.

It goes to an address no one has proven yet, from the site's own address, so it says
nothing a stranger typed into the form: no name in To, subject or bodies (a 200-character
"name" would otherwise turn it into a phishing message the site sends for anyone)."""

from __future__ import annotations

from pipeline.mail.compose import OutgoingMessage, compose
from pipeline.mail.headers import format_address
from pipeline.mail.render import render_email, site_context
from pipeline.settings import Settings

# RFC 3834: an automatic message; vacation responders must not answer it.
_AUTOMATIC = {"Auto-Submitted": "auto-generated"}


def confirmation_message(settings: Settings, *, to_email: str, confirm_url: str) -> OutgoingMessage:
    """The confirmation email for one pending subscriber."""
    subject = f"Confirm your subscription to {settings.site_title}"
    body = render_email("confirm", **site_context(settings, title=subject), confirm_url=confirm_url)
    return compose(
        sender=settings.email_from,
        to=format_address("", to_email),
        subject=subject,
        text=body.text,
        html=body.html,
        headers=_AUTOMATIC,
    )
