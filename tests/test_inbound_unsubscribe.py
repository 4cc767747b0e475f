"""List-Unsubscribe's `mailto:` end to end: a digest rendered for Mailgun with a signed
inbound route carries it; the mail a client sends to it, posted by Mailgun's route to the
running site (as a form, urlencoded or multipart, signed), unsubscribes exactly the person
whose token it names, once; forged, stale, replayed and unsigned calls change nothing."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import pytest
import requests
from helpers import running

from pipeline.digest import digest_recipient, digest_template, render_digest
from pipeline.settings import Settings, load_settings
from pipeline.storage import Database
from pipeline.storage.models import Post
from pipeline.web import create_app
from subscribers import SubscriberStore, TokenSigner

KEY = "mailgun-signing-key-0123456789"
MAILBOX = "unsubscribe@mg.blog.example.org"
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def mailgun_settings(settings: Settings, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": settings.database_url,
        "site_url": "https://blog.example.org",
        "secret_key": "inbound-test-secret-0123456789",
        "email_backend": "mailgun",
        "api_key": "key-0123456789",
        "mailgun_domain": "mg.blog.example.org",
        "mailgun_webhook_signing_key": KEY,
        "unsubscribe_mailbox": MAILBOX,
    }
    return load_settings(**(values | overrides))


def signed(timestamp: datetime, token: str, key: str = KEY) -> dict[str, str]:
    stamp = str(int(timestamp.timestamp()))
    signature = hmac.new(key.encode(), f"{stamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {"timestamp": stamp, "token": token, "signature": signature}


def mailto_subject(config: Settings, store: SubscriberStore, address: str) -> str:
    """The subject a mail client puts in the unsubscribe mail, from the digest's header."""
    person = store.find(address)
    assert person is not None
    post = Post(
        title="Budgets", url="https://blog.example.org/posts/b", slug="b", authors=[], tags=[],
        summary="", published=NOW,
    )  # fmt: skip
    template = digest_template(config, render_digest(config, [post]))
    signer = TokenSigner([config.secret_key.get_secret_value()] if config.secret_key else [])
    message = template.render(digest_recipient(config, signer, person, "1"))
    header = message.raw.split(b"List-Unsubscribe: ")[1].split(b"\r\nList-")[0].decode()
    [mailto] = re.findall(r"<mailto:([^>]+)>", " ".join(header.split()))
    address_part, _, query = mailto.partition("?subject=")
    assert address_part == MAILBOX
    return unquote(query)


def test_a_signed_unsubscribe_mail_unsubscribes_its_token_holder_once(
    settings: Settings, db: Database
) -> None:
    config = mailgun_settings(settings)
    store = SubscriberStore(db.sessions, default_timezone=config.timezone)
    store.add("ann@example.org", confirmed=True)
    store.add("bo@example.org", confirmed=True)
    subject = mailto_subject(config, store, "ann@example.org")
    assert subject.startswith("unsubscribe ")
    app = create_app(config, db, clock=lambda: NOW)
    with running(app) as base:
        url = f"{base}/webhooks/mailgun/inbound"
        mail = {"recipient": MAILBOX, "sender": "ann@example.org", "subject": f"Re: {subject}"}

        forged = requests.post(url, data=mail | signed(NOW, "t" * 20, key="x" * 30), timeout=10)
        assert forged.status_code == 401
        stale = requests.post(
            url, data=mail | signed(NOW - timedelta(hours=1), "u" * 20), timeout=10
        )
        assert stale.status_code == 401
        assert requests.post(url, data=mail, timeout=10).status_code == 401
        assert store.find("ann@example.org").status == "confirmed"  # type: ignore[union-attr]

        call = mail | signed(NOW, "v" * 20)
        answer = requests.post(url, files={k: (None, v) for k, v in call.items()}, timeout=10)
        assert answer.status_code == 200 and answer.json() == {"unsubscribed": 1}
        assert store.find("ann@example.org").status == "unsubscribed"  # type: ignore[union-attr]
        assert store.find("bo@example.org").status == "confirmed"  # type: ignore[union-attr]

        bo_subject = mailto_subject(config, store, "bo@example.org")
        replay = call | {"subject": bo_subject}  # same signed token, other content
        assert requests.post(url, data=replay, timeout=10).json() == {"unsubscribed": 0}
        guessed = mail | signed(NOW, "w" * 20) | {"subject": "unsubscribe " + "A" * 40}
        assert requests.post(url, data=guessed, timeout=10).json() == {"unsubscribed": 0}
        assert store.find("bo@example.org").status == "confirmed"  # type: ignore[union-attr]

        in_body = mail | signed(NOW, "y" * 20) | {"subject": "", "body-plain": bo_subject}
        assert requests.post(url, data=in_body, timeout=10).json() == {"unsubscribed": 1}
        assert (
            requests.post(f"{base}/webhooks/postmark/inbound", data=call, timeout=10).status_code
            == 404
        )


@pytest.mark.parametrize(
    "overrides",
    [
        {"email_backend": "smtp"},
        {"unsubscribe_mailbox": None},
        {"mailgun_webhook_signing_key": None},
    ],
)
def test_no_inbound_route_without_a_signed_provider_and_a_mailbox(
    settings: Settings, db: Database, overrides: dict[str, object]
) -> None:
    config = mailgun_settings(settings, **overrides)
    with running(create_app(config, db, clock=lambda: NOW)) as base:
        answer = requests.post(
            f"{base}/webhooks/mailgun/inbound", data=signed(NOW, "z" * 20), timeout=10
        )
    assert answer.status_code == 404
