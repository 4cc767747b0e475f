"""Bounce and complaint webhooks over real HTTP: the app under uvicorn, each provider's
events signed in the test with the provider's real algorithm, and a real database."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from test_web import running

from pipeline.settings import load_settings
from pipeline.storage import Database
from pipeline.web import create_app
from subscribers import SubscriberStore

ADA = "ada@example.org"
Payload = Any
Call = tuple[bytes, dict[str, str]]  # the body and headers of one POST


# Each provider's events, as its documentation shows them.

EVENTS: dict[str, dict[str, Callable[[str], Payload]]] = {
    "postmark": {
        "hard": lambda email: {
            "RecordType": "Bounce",
            "Type": "HardBounce",
            "TypeCode": 1,
            "Email": email,
            "Description": "The server was unable to deliver your message.",
            "MessageStream": "broadcast",
        },
        "soft": lambda email: {
            "RecordType": "Bounce",
            "Type": "SoftBounce",
            "TypeCode": 4096,
            "Email": email,
        },
        "complaint": lambda email: {
            "RecordType": "SpamComplaint",
            "Type": "SpamComplaint",
            "TypeCode": 512,
            "Email": email,
        },
        "other": lambda email: {"RecordType": "Delivery", "Recipient": email},
    },
    "sendgrid": {
        "hard": lambda email: [
            {
                "email": email,
                "event": "bounce",
                "type": "bounce",
                "reason": "550 5.1.1 The email account that you tried to reach does not exist.",
                "timestamp": 1_760_000_000,
                "sg_event_id": "ZGVsaXZlcmVk",
            }
        ],
        "soft": lambda email: [{"email": email, "event": "bounce", "type": "blocked"}],
        "complaint": lambda email: [{"email": email, "event": "spamreport"}],
        "other": lambda email: [
            {"email": email, "event": "delivered"},
            {"email": email, "event": "deferred"},
        ],
    },
    "mailgun": {
        "hard": lambda email: {
            "event-data": {
                "event": "failed",
                "severity": "permanent",
                "reason": "bounce",
                "recipient": email,
                "delivery-status": {"code": 550, "message": "No such user"},
            }
        },
        "soft": lambda email: {
            "event-data": {
                "event": "failed",
                "severity": "permanent",
                "reason": "old",
                "recipient": email,
            }
        },
        "complaint": lambda email: {"event-data": {"event": "complained", "recipient": email}},
        "other": lambda email: {
            "event-data": {"event": "failed", "severity": "temporary", "recipient": email}
        },
    },
    "resend": {
        "hard": lambda email: {
            "type": "email.bounced",
            "created_at": "2026-10-05T08:00:00.000Z",
            "data": {
                "email_id": "56761188-7520-42d8-8898-ff6fc54ce618",
                "to": [email],
                "bounce": {"type": "Permanent", "subType": "General", "message": "No such user"},
            },
        },
        "soft": lambda email: {
            "type": "email.bounced",
            "data": {"to": [email], "bounce": {"type": "Transient", "subType": "MailboxFull"}},
        },
        "complaint": lambda email: {"type": "email.complained", "data": {"to": [email]}},
        "other": lambda email: {"type": "email.delivered", "data": {"to": [email]}},
    },
}


# Each provider's way of signing a call, with its real algorithm.

EC_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_EC_KEY = ec.generate_private_key(ec.SECP256R1())
SENDGRID_PUBLIC = base64.b64encode(
    EC_KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()
RESEND_SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def postmark_headers(body: bytes, credentials: str = "hooks:pa55-w0rd") -> dict[str, str]:
    return {"Authorization": f"Basic {base64.b64encode(credentials.encode()).decode()}"}


def sendgrid_headers(body: bytes, key: ec.EllipticCurvePrivateKey = EC_KEY) -> dict[str, str]:
    timestamp = str(int(time.time()))
    signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
    }


def resend_headers(body: bytes, secret: str = RESEND_SECRET, age: float = 0) -> dict[str, str]:
    message_id, timestamp = "msg_2mGfmXxHUuGMxBMS", str(int(time.time() - age))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return {
        "svix-id": message_id,
        "svix-timestamp": timestamp,
        "svix-signature": f"v1,{base64.b64encode(digest.digest()).decode()}",
    }


def mailgun_call(payload: Payload, key: str = "mailgun-signing-key") -> Call:
    """Mailgun signs inside the body: a timestamp and a random token, HMAC'd."""
    timestamp, token = str(int(time.time())), secrets.token_hex(25)
    digest = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    signature = {"timestamp": timestamp, "token": token, "signature": digest}
    return json.dumps({"signature": signature, **payload}).encode(), {}


def headed(sign: Callable[[bytes], dict[str, str]]) -> Callable[[Payload], Call]:
    """A call whose headers sign its JSON body."""

    def call(payload: Payload) -> Call:
        body = json.dumps(payload).encode()
        return body, sign(body)

    return call


@dataclass(frozen=True)
class Provider:
    secret: str  # WEBHOOK_SECRET
    genuine: Callable[[Payload], Call]
    forged: Callable[[Payload], Call]  # signed, but without the secret


OTHER_RESEND_SECRET = "whsec_" + base64.b64encode(b"x" * 24).decode()
PROVIDERS = {
    "postmark": Provider(
        "hooks:pa55-w0rd",
        headed(postmark_headers),
        headed(lambda body: postmark_headers(body, "hooks:guess")),
    ),
    "sendgrid": Provider(
        SENDGRID_PUBLIC,
        headed(sendgrid_headers),
        headed(lambda body: sendgrid_headers(body, OTHER_EC_KEY)),
    ),
    "mailgun": Provider(
        "mailgun-signing-key", mailgun_call, lambda payload: mailgun_call(payload, "not-the-key")
    ),
    "resend": Provider(
        RESEND_SECRET,
        headed(resend_headers),
        headed(lambda body: resend_headers(body, OTHER_RESEND_SECRET)),
    ),
}
HEADER_SIGNED = {
    "postmark": postmark_headers,
    "sendgrid": sendgrid_headers,
    "resend": resend_headers,
}


@dataclass(frozen=True)
class Site:
    url: str
    store: SubscriberStore

    def post(self, provider: str, call: Call) -> requests.Response:
        body, headers = call
        return requests.post(
            f"{self.url}/webhooks/{provider}",
            data=body,
            headers={"Content-Type": "application/json", **headers},
            timeout=10,
        )

    def state(self, email: str = ADA) -> tuple[str, int, bool]:
        subscriber = self.store.find(email)
        assert subscriber is not None
        return subscriber.status, subscriber.bounce_count, self.store.is_suppressed(email)


UNTOUCHED = ("confirmed", 0, False)


@pytest.fixture
def site_for(tmp_path: Path, database_url: str, db: Database) -> Iterator[Callable[..., Site]]:
    """Start the app with a WEBHOOK_SECRET (or none) and a confirmed subscriber, Ada."""
    with ExitStack() as stack:

        def start(secret: str | None) -> Site:
            settings = load_settings(
                data_dir=tmp_path / "var", database_url=database_url, webhook_secret=secret
            )
            app = create_app(settings, db)
            app.state.subscribers.add(ADA, confirmed=True)
            return Site(stack.enter_context(running(app)), app.state.subscribers)

        yield start


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    ("kind", "after"),
    [("hard", ("bounced", 1, True)), ("complaint", ("complained", 0, True))],
)
def test_a_genuine_event_suppresses_the_subscriber(
    site_for: Callable[..., Site], provider: str, kind: str, after: tuple[str, int, bool]
) -> None:
    site = site_for(PROVIDERS[provider].secret)
    response = site.post(provider, PROVIDERS[provider].genuine(EVENTS[provider][kind](ADA)))
    assert (response.status_code, response.json()) == (200, {"recorded": 1})
    assert site.state() == after


@pytest.mark.parametrize("provider", PROVIDERS)
def test_soft_bounces_count_up_to_the_limit(site_for: Callable[..., Site], provider: str) -> None:
    site = site_for(PROVIDERS[provider].secret)  # HARD_BOUNCE_LIMIT is 2 by default
    soft = EVENTS[provider]["soft"](ADA)
    assert site.post(provider, PROVIDERS[provider].genuine(soft)).status_code == 200
    assert site.state() == ("confirmed", 1, False)
    assert site.post(provider, PROVIDERS[provider].genuine(soft)).status_code == 200
    assert site.state() == ("bounced", 2, True)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_other_events_are_accepted_and_ignored(
    site_for: Callable[..., Site], provider: str
) -> None:
    site = site_for(PROVIDERS[provider].secret)
    response = site.post(provider, PROVIDERS[provider].genuine(EVENTS[provider]["other"](ADA)))
    assert (response.status_code, response.json()) == (200, {"recorded": 0})
    assert site.state() == UNTOUCHED


@pytest.mark.parametrize("provider", PROVIDERS)
def test_forged_and_unsigned_calls_are_refused(
    site_for: Callable[..., Site], provider: str
) -> None:
    site = site_for(PROVIDERS[provider].secret)
    event = EVENTS[provider]["hard"](ADA)
    forged = site.post(provider, PROVIDERS[provider].forged(event))
    unsigned = site.post(provider, (json.dumps(event).encode(), {}))
    assert [forged.status_code, unsigned.status_code] == [401, 401]
    assert forged.json() == {"error": "not signed, or the signature does not match"}
    assert site.state() == UNTOUCHED


@pytest.mark.parametrize("provider", HEADER_SIGNED)
def test_a_tampered_body_is_refused(site_for: Callable[..., Site], provider: str) -> None:
    site = site_for(PROVIDERS[provider].secret)
    body, headers = PROVIDERS[provider].genuine(EVENTS[provider]["other"](ADA))
    tampered = body.replace(b"delivered", b"bounced").replace(b"Delivery", b"Bounce")
    response = site.post(provider, (tampered, headers))
    expected = 200 if provider == "postmark" else 401  # basic auth does not sign the body
    assert response.status_code == expected
    assert site.state() == UNTOUCHED


def test_a_stale_resend_call_is_refused(site_for: Callable[..., Site]) -> None:
    site = site_for(RESEND_SECRET)
    body = json.dumps(EVENTS["resend"]["hard"](ADA)).encode()
    assert site.post("resend", (body, resend_headers(body, age=6 * 60))).status_code == 401
    assert site.state() == UNTOUCHED


@pytest.mark.parametrize("provider", HEADER_SIGNED)
def test_a_signed_body_that_is_not_json_is_a_bad_request(
    site_for: Callable[..., Site], provider: str
) -> None:
    site = site_for(PROVIDERS[provider].secret)
    body = b"{not json"
    response = site.post(provider, (body, HEADER_SIGNED[provider](body)))
    assert response.status_code == 400
    assert response.json()["error"].startswith(f"not a {provider} event: ")
    assert site.state() == UNTOUCHED


def test_an_unsigned_mailgun_body_that_is_not_json_is_refused(
    site_for: Callable[..., Site],
) -> None:
    site = site_for(PROVIDERS["mailgun"].secret)
    assert site.post("mailgun", (b"{not json", {})).status_code == 401


def test_unknown_provider_is_not_found(site_for: Callable[..., Site]) -> None:
    site = site_for("hooks:pa55-w0rd")
    response = site.post(
        "sparkpost", PROVIDERS["postmark"].genuine(EVENTS["postmark"]["hard"](ADA))
    )
    assert response.status_code == 404
    assert "postmark, sendgrid, mailgun, resend" in response.json()["error"]


def test_without_a_webhook_secret_webhooks_are_off(site_for: Callable[..., Site]) -> None:
    site = site_for(None)
    response = site.post("postmark", PROVIDERS["postmark"].genuine(EVENTS["postmark"]["hard"](ADA)))
    assert (response.status_code, response.json()) == (
        503,
        {"error": "NEWSLETTER_WEBHOOK_SECRET is not set, so webhooks are off"},
    )
    assert site.state() == UNTOUCHED


@pytest.mark.parametrize(
    ("provider", "needs"),
    [
        ("postmark", "Postmark needs user:password"),
        ("sendgrid", "SendGrid needs its base64 ECDSA public key"),
        ("resend", "Resend needs its whsec_"),
    ],
)
def test_a_secret_of_the_wrong_form_is_a_setup_problem(
    site_for: Callable[..., Site], provider: str, needs: str
) -> None:
    site = site_for("not~base64~and~no~colon")
    response = site.post(provider, PROVIDERS[provider].genuine(EVENTS[provider]["hard"](ADA)))
    assert response.status_code == 503
    assert response.json()["error"].startswith(f"NEWSLETTER_WEBHOOK_SECRET: {needs}")
    assert site.state() == UNTOUCHED
