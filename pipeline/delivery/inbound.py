"""Unsubscribe requests by email: the `mailto:` of List-Unsubscribe, honoured only where
something reads it.

A mail client that offers "unsubscribe" without the one-click POST sends a mail to the
`mailto:` address instead. That address (UNSUBSCRIBE_MAILBOX) must be routed by the email
provider to `POST /webhooks/<provider>/inbound`, where the call is checked with the
provider's signature; only when EMAIL_BACKEND's provider can sign such calls and its key
and the mailbox are set does List-Unsubscribe carry the `mailto:`. Elsewhere it carries
only the https one-click URL (RFC 8058), rather than an address nobody reads.

The providers that sign them say so with the `inbound` of their EMAIL_APIS entry: Mailgun
(its routes' `forward()` posts the parsed mail as a form, signed like its event webhooks:
HMAC-SHA256 of `timestamp + token`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pipeline.delivery.feedback import Inbound
from pipeline.delivery.providers import EMAIL_APIS
from pipeline.settings import Settings

# What the mailto carries: `?subject=unsubscribe%20TOKEN`; clients may prefix "Re: " or
# move it into the body.
_REQUEST = re.compile(r"\bunsubscribe\s+([A-Za-z0-9_.\-]{16,400})", re.IGNORECASE)


def inbound_route(settings: Settings) -> tuple[str, Inbound] | None:
    """(provider, route) when EMAIL_BACKEND's provider can post signed unsubscribe mails
    here and UNSUBSCRIBE_MAILBOX is set; else None."""
    api = EMAIL_APIS.get(settings.email_backend)
    if settings.unsubscribe_mailbox is None or api is None or api.inbound is None:
        return None
    route = api.inbound(settings)
    return (settings.email_backend, route) if route is not None else None


def mailto_unsubscribe(settings: Settings) -> str | None:
    """The address for List-Unsubscribe's `mailto:`, only when its mail is processed."""
    return settings.unsubscribe_mailbox if inbound_route(settings) is not None else None


def requested_token(fields: Mapping[str, str]) -> str | None:
    """The manage token an unsubscribe mail names, in its subject or else its text."""
    for name in ("subject", "Subject", "stripped-text", "body-plain"):
        found = _REQUEST.search(fields.get(name, ""))
        if found:
            return found.group(1)
    return None
