"""Bounce and complaint webhooks over real HTTP: the app under uvicorn, each provider's
events signed in the test with the provider's real algorithm, and a real database."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import socket
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from cli_runner import run
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from helpers import running

from pipeline.settings import load_settings
from pipeline.storage import Database, open_database
from pipeline.web import create_app
from pipeline.web.state import web_state
from subscribers import SubscriberStore

ADA = "ada@example.org"
Payload = Any
Call = tuple[bytes, dict[str, str]]  # the body and headers of one POST
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)  # the server's clock in these tests


def event_id() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).decode()


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
                "sg_event_id": event_id(),
            }
        ],
        "soft": lambda email: [
            {"email": email, "event": "bounce", "type": "blocked", "sg_event_id": event_id()}
        ],
        "complaint": lambda email: [
            {"email": email, "event": "spamreport", "sg_event_id": event_id()}
        ],
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


# Each provider's way of signing a call, with its real algorithm, at a given time.

EC_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_EC_KEY = ec.generate_private_key(ec.SECP256R1())
SENDGRID_PUBLIC = base64.b64encode(
    EC_KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()
RESEND_SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
OTHER_RESEND_SECRET = "whsec_" + base64.b64encode(b"x" * 24).decode()
MAILGUN_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
POSTMARK_USER, POSTMARK_PASSWORD = "hooks", "pa55-w0rd-l0ng"


def stamp(age: timedelta) -> str:
    """A Unix timestamp `age` before the server's NOW."""
    return str(int((NOW - age).timestamp()))


def postmark_headers(
    body: bytes, credentials: str = f"{POSTMARK_USER}:{POSTMARK_PASSWORD}"
) -> dict[str, str]:
    return {"Authorization": f"Basic {base64.b64encode(credentials.encode()).decode()}"}


def sendgrid_headers(
    body: bytes, key: ec.EllipticCurvePrivateKey = EC_KEY, age: timedelta = timedelta()
) -> dict[str, str]:
    timestamp = stamp(age)
    signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
    }


def resend_headers(
    body: bytes, secret: str = RESEND_SECRET, age: timedelta = timedelta()
) -> dict[str, str]:
    message_id, timestamp = f"msg_{secrets.token_hex(8)}", stamp(age)
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return {
        "svix-id": message_id,
        "svix-timestamp": timestamp,
        "svix-signature": f"v1,{base64.b64encode(digest.digest()).decode()}",
    }


def mailgun_call(payload: Payload, key: str = MAILGUN_KEY, age: timedelta = timedelta()) -> Call:
    """Mailgun signs inside the body: a timestamp and a random token, HMAC'd."""
    timestamp, token = stamp(age), secrets.token_hex(25)
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
    settings: dict[str, str]  # what switches its webhook on
    genuine: Callable[[Payload], Call]
    forged: Callable[[Payload], Call]  # signed, but without the secret
    stale: Callable[[Payload, timedelta], Call] | None = None  # signed `age` ago


PROVIDERS = {
    "postmark": Provider(
        {"postmark_webhook_user": POSTMARK_USER, "postmark_webhook_password": POSTMARK_PASSWORD},
        headed(postmark_headers),
        headed(lambda body: postmark_headers(body, f"{POSTMARK_USER}:guess-guess-guess")),
    ),
    "sendgrid": Provider(
        {"sendgrid_webhook_public_key": SENDGRID_PUBLIC},
        headed(sendgrid_headers),
        headed(lambda body: sendgrid_headers(body, OTHER_EC_KEY)),
        lambda payload, age: headed(lambda body: sendgrid_headers(body, age=age))(payload),
    ),
    "mailgun": Provider(
        {"mailgun_webhook_signing_key": MAILGUN_KEY},
        mailgun_call,
        lambda payload: mailgun_call(payload, "not-the-signing-key"),
        lambda payload, age: mailgun_call(payload, age=age),
    ),
    "resend": Provider(
        {"resend_webhook_secret": RESEND_SECRET},
        headed(resend_headers),
        headed(lambda body: resend_headers(body, OTHER_RESEND_SECRET)),
        lambda payload, age: headed(lambda body: resend_headers(body, age=age))(payload),
    ),
}
HEADER_SIGNED = {
    "postmark": postmark_headers,
    "sendgrid": sendgrid_headers,
    "resend": resend_headers,
}
TIMED = [name for name, provider in PROVIDERS.items() if provider.stale is not None]


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
    """Start the app (its clock at `now`, NOW unless told) with webhook settings; Ada is a
    confirmed subscriber. With `own_database` the app opens its own engine, as another
    process would."""
    with ExitStack() as stack:

        def start(
            webhook_settings: dict[str, str], *, own_database: bool = False, now: datetime = NOW
        ) -> Site:
            settings = load_settings(
                data_dir=tmp_path / "var", database_url=database_url, **webhook_settings
            )
            database = db
            if own_database:
                database = open_database(database_url)
                stack.callback(database.close)
            app = create_app(settings, database, clock=lambda: now)
            if web_state(app).subscribers.find(ADA) is None:
                web_state(app).subscribers.add(ADA, confirmed=True)
            return Site(stack.enter_context(running(app)), web_state(app).subscribers)

        yield start


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    ("kind", "after"),
    [("hard", ("bounced", 1, True)), ("complaint", ("complained", 0, True))],
)
def test_a_genuine_event_suppresses_the_subscriber(
    site_for: Callable[..., Site], provider: str, kind: str, after: tuple[str, int, bool]
) -> None:
    site = site_for(PROVIDERS[provider].settings)
    response = site.post(provider, PROVIDERS[provider].genuine(EVENTS[provider][kind](ADA)))
    assert (response.status_code, response.json()) == (200, {"recorded": 1})
    assert site.state() == after


@pytest.mark.parametrize("provider", PROVIDERS)
def test_soft_bounces_count_up_to_the_limit(site_for: Callable[..., Site], provider: str) -> None:
    site = site_for(PROVIDERS[provider].settings)  # HARD_BOUNCE_LIMIT is 2 by default
    assert site.post(provider, PROVIDERS[provider].genuine(EVENTS[provider]["soft"](ADA))).ok
    assert site.state() == ("confirmed", 1, False)
    assert site.post(provider, PROVIDERS[provider].genuine(EVENTS[provider]["soft"](ADA))).ok
    assert site.state() == ("bounced", 2, True)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_other_events_are_accepted_and_ignored(
    site_for: Callable[..., Site], provider: str
) -> None:
    site = site_for(PROVIDERS[provider].settings)
    response = site.post(provider, PROVIDERS[provider].genuine(EVENTS[provider]["other"](ADA)))
    assert (response.status_code, response.json()) == (200, {"recorded": 0})
    assert site.state() == UNTOUCHED


@pytest.mark.parametrize("provider", PROVIDERS)
def test_forged_and_unsigned_calls_are_refused(
    site_for: Callable[..., Site], provider: str
) -> None:
    site = site_for(PROVIDERS[provider].settings)
    event = EVENTS[provider]["hard"](ADA)
    forged = site.post(provider, PROVIDERS[provider].forged(event))
    unsigned = site.post(provider, (json.dumps(event).encode(), {}))
    assert [forged.status_code, unsigned.status_code] == [401, 401]
    assert forged.json() == {"error": "not signed, or the signature does not match"}
    assert site.state() == UNTOUCHED


@pytest.mark.parametrize("provider", HEADER_SIGNED)
def test_a_tampered_body_is_refused(site_for: Callable[..., Site], provider: str) -> None:
    site = site_for(PROVIDERS[provider].settings)
    body, headers = PROVIDERS[provider].genuine(EVENTS[provider]["other"](ADA))
    tampered = body.replace(b"delivered", b"bounced").replace(b"Delivery", b"Bounce")
    response = site.post(provider, (tampered, headers))
    expected = 200 if provider == "postmark" else 401  # basic auth does not sign the body
    assert response.status_code == expected
    assert site.state() == UNTOUCHED


@pytest.mark.parametrize("provider", PROVIDERS)
def test_only_the_configured_providers_webhook_is_on(
    site_for: Callable[..., Site], provider: str
) -> None:
    """With SendGrid configured, its public key signs nothing: a Mailgun or Resend call
    HMAC'd with it, or any other provider's call, finds no webhook."""
    site = site_for(PROVIDERS["sendgrid"].settings if provider != "sendgrid" else {})
    event = EVENTS[provider]["complaint"]("never-subscribed@example.org")
    calls = {
        "postmark": headed(lambda body: postmark_headers(body, f"x:{SENDGRID_PUBLIC}")),
        "sendgrid": PROVIDERS["sendgrid"].genuine,
        "mailgun": lambda payload: mailgun_call(payload, SENDGRID_PUBLIC),
        "resend": headed(lambda body: resend_headers(body, "whsec_" + SENDGRID_PUBLIC)),
    }
    response = site.post(provider, calls[provider](event))
    assert response.status_code == 404
    assert response.json() == {"error": f"no webhook for {provider!r} is configured"}
    assert not site.store.is_suppressed("never-subscribed@example.org")
    assert site.state() == UNTOUCHED


def test_several_providers_may_be_on_each_with_its_own_secret(
    site_for: Callable[..., Site],
) -> None:
    site = site_for(PROVIDERS["mailgun"].settings | PROVIDERS["resend"].settings)
    forged = mailgun_call(EVENTS["mailgun"]["hard"](ADA), RESEND_SECRET)
    assert site.post("mailgun", forged).status_code == 401
    assert site.post("resend", PROVIDERS["resend"].genuine(EVENTS["resend"]["soft"](ADA))).ok
    assert site.state() == ("confirmed", 1, False)


@pytest.mark.parametrize("provider", TIMED)
@pytest.mark.parametrize("age", [timedelta(minutes=6), timedelta(minutes=-6), timedelta(days=3000)])
def test_a_call_signed_too_long_ago_or_ahead_is_refused(
    site_for: Callable[..., Site], provider: str, age: timedelta
) -> None:
    site = site_for(PROVIDERS[provider].settings)
    stale = PROVIDERS[provider].stale
    assert stale is not None
    response = site.post(provider, stale(EVENTS[provider]["hard"](ADA), age))
    assert response.status_code == 401
    assert site.state() == UNTOUCHED


@pytest.mark.parametrize("provider", TIMED)
def test_a_call_signed_four_minutes_ago_is_accepted(
    site_for: Callable[..., Site], provider: str
) -> None:
    site = site_for(PROVIDERS[provider].settings)
    stale = PROVIDERS[provider].stale
    assert stale is not None
    response = site.post(provider, stale(EVENTS[provider]["hard"](ADA), timedelta(minutes=4)))
    assert (response.status_code, response.json()) == (200, {"recorded": 1})


@pytest.mark.parametrize("provider", TIMED)
def test_a_replayed_call_counts_once_in_every_process(
    site_for: Callable[..., Site], provider: str
) -> None:
    """The same signed call again, to this process or to another on the same database,
    is accepted (the provider must not retry it) but changes nothing."""
    site = site_for(PROVIDERS[provider].settings)
    other_process = site_for(PROVIDERS[provider].settings, own_database=True)
    call = PROVIDERS[provider].genuine(EVENTS[provider]["soft"](ADA))
    assert site.post(provider, call).json() == {"recorded": 1}
    assert site.post(provider, call).json() == {"recorded": 0}
    assert other_process.post(provider, call).json() == {"recorded": 0}
    assert site.state() == ("confirmed", 1, False)


def test_a_mailgun_signature_lifted_onto_new_event_data_is_refused(
    site_for: Callable[..., Site],
) -> None:
    site = site_for(PROVIDERS["mailgun"].settings)
    body, headers = mailgun_call(EVENTS["mailgun"]["other"](ADA))
    assert site.post("mailgun", (body, headers)).json() == {"recorded": 0}
    lifted = json.loads(body)["signature"]
    new_data = {"signature": lifted, **EVENTS["mailgun"]["complaint"](ADA)}
    assert site.post("mailgun", (json.dumps(new_data).encode(), {})).json() == {"recorded": 0}
    assert site.state() == UNTOUCHED


def test_a_replayed_sendgrid_event_in_a_new_batch_counts_once(
    site_for: Callable[..., Site],
) -> None:
    site = site_for(PROVIDERS["sendgrid"].settings)
    [soft] = EVENTS["sendgrid"]["soft"](ADA)
    genuine = PROVIDERS["sendgrid"].genuine
    assert site.post("sendgrid", genuine([soft])).json() == {"recorded": 1}
    repeated = site.post("sendgrid", genuine([soft, *EVENTS["sendgrid"]["soft"](ADA)]))
    assert repeated.json() == {"recorded": 1}
    unnamed = {key: value for key, value in soft.items() if key != "sg_event_id"}
    assert site.post("sendgrid", genuine([unnamed])).json() == {"recorded": 0}
    assert site.state() == ("bounced", 2, True)


def test_an_event_id_is_remembered_for_three_days(site_for: Callable[..., Site]) -> None:
    [soft] = EVENTS["sendgrid"]["soft"](ADA)
    for days, recorded in [(0, 1), (2, 0), (3.01, 1)]:
        now = NOW + timedelta(days=days)
        site = site_for(PROVIDERS["sendgrid"].settings, own_database=True, now=now)
        body = json.dumps([soft]).encode()
        call = body, sendgrid_headers(body, age=NOW - now)
        assert site.post("sendgrid", call).json() == {"recorded": recorded}
    assert site.state() == ("bounced", 2, True)


@pytest.mark.parametrize("provider", HEADER_SIGNED)
@pytest.mark.parametrize("body", [b"{not json", b"[" * 100_000 + b"]" * 100_000, b"\xff\xfe"])
def test_a_signed_body_that_is_not_json_is_a_bad_request(
    site_for: Callable[..., Site], provider: str, body: bytes
) -> None:
    site = site_for(PROVIDERS[provider].settings)
    response = site.post(provider, (body, HEADER_SIGNED[provider](body)))
    assert response.status_code == 400
    assert response.json()["error"].startswith(f"not a {provider} event: ")
    assert site.state() == UNTOUCHED


@pytest.mark.parametrize("body", [b"{not json", b"[" * 100_000 + b"]" * 100_000])
def test_an_unsigned_mailgun_body_that_is_not_json_is_refused(
    site_for: Callable[..., Site], body: bytes
) -> None:
    site = site_for(PROVIDERS["mailgun"].settings)
    assert site.post("mailgun", (body, {})).status_code == 401


def raw_post(url: str, path: str, head: dict[str, str], body: bytes = b"") -> int:
    """The status of a request whose head (and `body`) is sent while the rest of the body
    the head announces never is: the server must answer without it."""
    host, port = url.removeprefix("http://").split(":")
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", *(f"{k}: {v}" for k, v in head.items())]
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = connection.recv(65536)
            assert chunk, "connection closed without an answer"
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def test_basic_auth_is_checked_before_the_body_is_read(site_for: Callable[..., Site]) -> None:
    site = site_for(PROVIDERS["postmark"].settings)
    head = {"Content-Type": "application/json", "Content-Length": "300000000"}
    assert raw_post(site.url, "/webhooks/postmark", head) == 401
    authorised = head | postmark_headers(b"")
    assert raw_post(site.url, "/webhooks/postmark", authorised) == 413


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_body_over_a_megabyte_is_refused_unread_or_while_streaming(
    site_for: Callable[..., Site], provider: str
) -> None:
    site = site_for(PROVIDERS[provider].settings)
    big = json.dumps({"padding": "x" * 1_100_000}).encode()
    _, headers = PROVIDERS[provider].genuine({})
    head = {"Content-Type": "application/json", "Content-Length": "300000000", **headers}
    assert raw_post(site.url, f"/webhooks/{provider}", head) == 413
    chunked = {"Content-Type": "application/json", "Transfer-Encoding": "chunked", **headers}
    chunk = b"%x\r\n%s\r\n" % (len(big), big)  # the body's first chunk only, never ended
    assert raw_post(site.url, f"/webhooks/{provider}", chunked, chunk) == 413
    assert site.state() == UNTOUCHED


def test_unknown_provider_is_not_found(site_for: Callable[..., Site]) -> None:
    site = site_for(PROVIDERS["postmark"].settings)
    response = site.post(
        "sparkpost", PROVIDERS["postmark"].genuine(EVENTS["postmark"]["hard"](ADA))
    )
    assert response.status_code == 404


def test_without_webhook_settings_webhooks_are_off(site_for: Callable[..., Site]) -> None:
    site = site_for({})
    for provider, spec in PROVIDERS.items():
        assert site.post(provider, spec.genuine(EVENTS[provider]["hard"](ADA))).status_code == 404
    assert site.state() == UNTOUCHED


BAD_SETTINGS = [
    ({"POSTMARK_WEBHOOK_USER": "hooks"}, "NEWSLETTER_POSTMARK_WEBHOOK_USER and "),
    (
        {"POSTMARK_WEBHOOK_USER": "hooks", "POSTMARK_WEBHOOK_PASSWORD": "short"},
        "NEWSLETTER_POSTMARK_WEBHOOK_PASSWORD: needs at least 12 characters",
    ),
    (
        {"POSTMARK_WEBHOOK_USER": "a:b", "POSTMARK_WEBHOOK_PASSWORD": POSTMARK_PASSWORD},
        "NEWSLETTER_POSTMARK_WEBHOOK_USER: cannot contain ':'",
    ),
    (
        {"SENDGRID_WEBHOOK_PUBLIC_KEY": base64.b64encode(b"x" * 91).decode()},
        "NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY: not SendGrid's base64 ECDSA P-256 public key",
    ),
    (
        {"MAILGUN_WEBHOOK_SIGNING_KEY": "short"},
        "NEWSLETTER_MAILGUN_WEBHOOK_SIGNING_KEY: needs at least 16 characters",
    ),
    (
        {"RESEND_WEBHOOK_SECRET": "whsec_not~base64"},
        "NEWSLETTER_RESEND_WEBHOOK_SECRET: not Resend's whsec_… signing secret",
    ),
    (
        {
            "SENDGRID_WEBHOOK_PUBLIC_KEY": SENDGRID_PUBLIC,
            "MAILGUN_WEBHOOK_SIGNING_KEY": SENDGRID_PUBLIC,
        },
        "NEWSLETTER_MAILGUN_WEBHOOK_SIGNING_KEY: is SendGrid's public key, which must never sign",
    ),
    (
        {
            "EMAIL_BACKEND": "mailgun",
            "API_KEY": "key-0123456789",
            "MAILGUN_DOMAIN": "mg.example.org",
        },
        "NEWSLETTER_MAILGUN_WEBHOOK_SIGNING_KEY: not set, so mailgun's bounce webhook is off",
    ),
    (
        {"EMAIL_BACKEND": "postmark", "API_KEY": "server-token-0123456789"},
        "NEWSLETTER_POSTMARK_WEBHOOK_USER and NEWSLETTER_POSTMARK_WEBHOOK_PASSWORD: not set, "
        "so postmark's bounce webhook is off",
    ),
]


@pytest.mark.parametrize(("settings", "line"), BAD_SETTINGS)
def test_config_check_names_a_bad_or_missing_webhook_setting(
    tmp_path: Path, settings: dict[str, str], line: str
) -> None:
    result = run("config", "check", cwd=tmp_path, **settings)
    assert result.returncode == 2
    [error] = result.stderr.strip().splitlines()
    assert error.startswith(f"error: {line}")
    assert "Traceback" not in result.stdout + result.stderr


def test_config_check_accepts_each_providers_webhook_and_masks_its_secrets(
    tmp_path: Path,
) -> None:
    settings = {
        "EMAIL_BACKEND": "mailgun",
        "API_KEY": "key-0123456789",
        "MAILGUN_DOMAIN": "mg.example.org",
        "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY,
        "POSTMARK_WEBHOOK_USER": POSTMARK_USER,
        "POSTMARK_WEBHOOK_PASSWORD": POSTMARK_PASSWORD,
        "SENDGRID_WEBHOOK_PUBLIC_KEY": SENDGRID_PUBLIC,
        "RESEND_WEBHOOK_SECRET": RESEND_SECRET,
    }
    result = run("config", "check", cwd=tmp_path, **settings)
    assert result.returncode == 0, result.stderr
    assert f"NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY={SENDGRID_PUBLIC}" in result.stdout
    for secret in (MAILGUN_KEY, POSTMARK_PASSWORD, RESEND_SECRET):
        assert secret not in result.stdout
