"""Mail to people one by one outside any run: a confirmation, a welcome, an editor's test.

Each goes through EMAIL_BACKEND like a digest copy and, when DKIM is set up, is signed
like one: mailbox providers judge a domain by all of its mail, and a confirmation that
fails DKIM is the first mail a new subscriber never sees.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.delivery import DeliveryConfigError, SendResult, open_backend
from pipeline.mail.dkim import dkim_signer
from pipeline.mail.template import OutgoingMessage
from pipeline.settings import Settings, SettingsProblem


def send_one(settings: Settings, message: OutgoingMessage) -> SendResult:
    """Send one single-recipient message, DKIM-signed when DKIM is set up
    (DeliveryConfigError, one line, if EMAIL_BACKEND or the DKIM key cannot work)."""
    [result] = send_each(settings, [message])
    return result


def send_each(settings: Settings, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
    """Send `messages` over one opened backend, in the batches it takes, each DKIM-signed
    when DKIM is set up; a result per recipient (DeliveryConfigError, one line, if
    EMAIL_BACKEND or the DKIM key cannot work)."""
    if not messages:
        return []
    try:
        sign = dkim_signer(settings)
        backend = open_backend(settings)
    except SettingsProblem as exc:
        raise DeliveryConfigError(str(exc)) from None
    results: list[SendResult] = []
    with backend:
        size = max(1, backend.max_batch)
        for start in range(0, len(messages), size):
            chunk = messages[start : start + size]
            results += backend.send([sign(message) for message in chunk] if sign else chunk)
    return results
