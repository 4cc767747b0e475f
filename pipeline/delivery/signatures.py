"""Whether a webhook call really comes from the provider, each by its own scheme.

A forged bounce or complaint would take a subscriber off the list, so nothing reaches the
store unless the call proves it knows WEBHOOK_SECRET (or, for SendGrid, signs with the key
whose public half it is). Every comparison is constant-time. A secret that cannot be one
of the provider's (not base64, no `user:password`) raises `WebhookSecretError`: that is a
setup mistake to report, not a forgery.

- Postmark: HTTP basic auth, with the `user:password` put in the webhook URL.
- SendGrid: ECDSA P-256 / SHA-256 over `timestamp + body`; the secret is the base64 public
  key SendGrid shows for its signed event webhook.
- Mailgun: HMAC-SHA256 of `timestamp + token` with the webhook signing key, inside the JSON.
- Resend (Svix): HMAC-SHA256 of `id.timestamp.body` with the base64 secret after `whsec_`,
  refused more than five minutes from now so that a captured call cannot be replayed later.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from pipeline.settings import ENV_PREFIX

SVIX_TOLERANCE_SECONDS = 300
SECRET = f"{ENV_PREFIX}WEBHOOK_SECRET"


class WebhookSecretError(ValueError):
    """WEBHOOK_SECRET cannot be a secret of this provider; the message names the variable."""


def verify_postmark(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    if ":" not in secret:
        raise WebhookSecretError(f"{SECRET}: Postmark needs user:password (basic auth)")
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    given = _b64decode(credentials)
    return given is not None and hmac.compare_digest(given, secret.encode())


def verify_sendgrid(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    der = _b64decode(secret)
    try:
        key = load_der_public_key(der or b"")
    except (ValueError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise WebhookSecretError(f"{SECRET}: SendGrid needs its base64 ECDSA public key")
    signature = _b64decode(headers.get("x-twilio-email-event-webhook-signature", ""))
    timestamp = headers.get("x-twilio-email-event-webhook-timestamp", "")
    if not signature or not timestamp:
        return False
    try:
        key.verify(signature, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def verify_mailgun(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    try:
        signed = json.loads(body)["signature"]
        timestamp, token, signature = (signed[k] for k in ("timestamp", "token", "signature"))
    except (ValueError, KeyError, TypeError):
        return False
    if not all(isinstance(part, str) for part in (timestamp, token, signature)):
        return False
    expected = hmac.new(secret.encode(), (timestamp + token).encode(), hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest().encode(), signature.encode())


def verify_resend(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    key = _b64decode(secret.removeprefix("whsec_"))
    if not key:
        raise WebhookSecretError(f"{SECRET}: Resend needs its whsec_… signing secret")
    message_id, timestamp = headers.get("svix-id", ""), headers.get("svix-timestamp", "")
    try:
        fresh = abs(time.time() - int(timestamp)) <= SVIX_TOLERANCE_SECONDS
    except ValueError:
        return False
    if not message_id or not fresh:
        return False
    signed = f"{message_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    return any(
        version == "v1" and hmac.compare_digest(signature.encode(), expected)
        for version, _, signature in (
            entry.partition(",") for entry in headers.get("svix-signature", "").split()
        )
    )


def _b64decode(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
