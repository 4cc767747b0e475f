"""One mail to one person outside any run: a confirmation, a welcome, an editor's test.

Each goes through EMAIL_BACKEND like a digest copy and, when DKIM is set up, is signed
like one: mailbox providers judge a domain by all of its mail, and a confirmation that
fails DKIM is the first mail a new subscriber never sees.
"""

from __future__ import annotations

from pipeline.delivery import DeliveryConfigError, SendResult, open_backend
from pipeline.mail.dkim import dkim_signer
from pipeline.mail.template import OutgoingMessage
from pipeline.settings import Settings, SettingsProblem


def send_one(settings: Settings, message: OutgoingMessage) -> SendResult:
    """Send one single-recipient message, DKIM-signed when DKIM is set up
    (DeliveryConfigError, one line, if EMAIL_BACKEND or the DKIM key cannot work)."""
    try:
        sign = dkim_signer(settings)
    except SettingsProblem as exc:
        raise DeliveryConfigError(str(exc)) from None
    backend = open_backend(settings)
    try:
        [result] = backend.send([sign(message) if sign else message])
    finally:
        backend.close()
    return result
