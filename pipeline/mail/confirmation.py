"""The double opt-in email: one button that confirms a pending subscription."""

from __future__ import annotations

from pipeline.mail.compose import OutgoingMessage, compose
from pipeline.mail.headers import format_address
from pipeline.mail.render import render_email, site_context
from pipeline.settings import Settings

# RFC 3834: an automatic message; vacation responders must not answer it.
_AUTOMATIC = {"Auto-Submitted": "auto-generated"}


def confirmation_message(
    settings: Settings, *, to_email: str, to_name: str, confirm_url: str
) -> OutgoingMessage:
    """The confirmation email for one pending subscriber."""
    subject = f"Confirm your subscription to {settings.site_title}"
    body = render_email(
        "confirm",
        **site_context(settings, title=subject),
        name=to_name,
        confirm_url=confirm_url,
    )
    return compose(
        sender=settings.email_from,
        to=format_address(to_name, to_email),
        subject=subject,
        text=body.text,
        html=body.html,
        headers=_AUTOMATIC,
    )
