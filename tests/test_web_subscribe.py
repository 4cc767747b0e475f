"""The subscriber pages over real HTTP (uvicorn on a free port) with real mail (aiosmtpd):
double opt-in from the form and JSON, unsubscribe (page, button, RFC 8058 one-click),
preferences, bad and old links, and the defences of a public sign-up form."""

from __future__ import annotations

import email
import itertools
import logging
import re
import time
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from helpers import Tags, post, running
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from pydantic import SecretStr
from smtp_server import SMTPServer
from sqlalchemy import event

from pipeline.ingest import ingest
from pipeline.keys import signing_keys
from pipeline.settings import Settings, load_settings
from pipeline.storage import Database
from pipeline.web import create_app
from pipeline.web.subscribe import CHECK_INBOX, SIGNUP_WINDOW_SECONDS, TOO_MANY
from subscribers import Subscriber, SubscriberStore, TokenSigner
from subscribers.tokens import CONFIRM_MAX_AGE

pytest_plugins = ["smtp_server"]

SITE = "https://blog.example.org"
NEW_KEY = "new-secret-key-0123456789"
OLD_KEY = "old-secret-key-9876543210"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
# A client address per request unless a test says otherwise, so only the rate-limit test
# meets the limit (the settings trust X-Forwarded-For from a proxy on loopback).
_CLIENTS = (f"198.51.100.{n}" for n in itertools.count(1))


@pytest.fixture
def settings(
    tmp_path: Path, posts_dir: Path, database_url: str, smtp_server: SMTPServer
) -> Settings:
    return load_settings(
        **smtp_server.settings,
        data_dir=tmp_path / "var",
        database_url=database_url,
        site_url=SITE,
        site_title="Policy Notes",
        secret_key=f"{NEW_KEY},{OLD_KEY}",
        forwarded_allow_ips="127.0.0.1",
        sources=[{"name": "posts", "kind": "directory", "path": str(posts_dir)}],
    )


@pytest.fixture
def site(settings: Settings, db: Database, posts_dir: Path) -> Iterator[str]:
    """The site with one published post tagged Policy and Local Data."""
    (posts_dir / "hello.md").write_text(post("Hello", "Text.", "tags: [Policy, Local Data]\n"))
    ingest(db, settings)
    with running(create_app(settings, db)) as base_url:
        yield base_url


@pytest.fixture
def store(db: Database, settings: Settings) -> SubscriberStore:
    return SubscriberStore(db.sessions, default_timezone=settings.timezone)


@pytest.fixture
def signer(settings: Settings) -> TokenSigner:
    return TokenSigner(signing_keys(settings))


def signup(
    site: str, fields: Any, *, as_json: bool = False, ip: str | None = None
) -> requests.Response:
    """POST /subscribe as the home page's form does, or as JSON."""
    headers = {"X-Forwarded-For": ip or next(_CLIENTS)}
    body = {"json": fields} if as_json else {"data": fields}
    return requests.post(f"{site}/subscribe", headers=headers, timeout=10, **body)


def wait_for_mail(server: SMTPServer, count: int) -> list[EmailMessage]:
    """The first `count` messages received, parsed, waiting for them (they are sent after
    the answer)."""
    deadline = time.monotonic() + 10
    while len(server.received) < count:
        assert time.monotonic() < deadline, f"{len(server.received)} of {count} mails arrived"
        time.sleep(0.02)
    time.sleep(0.2)  # a mail that should not come has had time to
    return [email.message_from_bytes(r.raw, policy=default_policy) for r in server.received]


def confirm_path(message: EmailMessage) -> str:
    """The path of the confirmation link, the same in the text and the HTML part."""
    links = set()
    for subtype in ("plain", "html"):
        part = message.get_body(preferencelist=(subtype,))
        assert part is not None
        links |= set(re.findall(rf"{re.escape(SITE)}/confirm/[A-Za-z0-9_.-]+", part.get_content()))
    [link] = links
    return urlsplit(link).path


def stored(store: SubscriberStore, address: str) -> Subscriber:
    subscriber = store.find(address)
    assert subscriber is not None, address
    return subscriber


def status(store: SubscriberStore, address: str) -> str:
    return stored(store, address).status


def consents(store: SubscriberStore, address: str) -> list[tuple[str, str]]:
    data = store.personal_data(address)
    assert data is not None
    return [(consent["action"], consent["method"]) for consent in data["consents"]]


def ticked(tags: Tags, element: str, flag: str) -> set[str | None]:
    """The values of the options selected, or the boxes checked."""
    return {attrs["value"] for attrs in tags.all(element) if flag in attrs}


def confirmed(store: SubscriberStore, address: str, **fields: Any) -> Subscriber:
    subscriber, _ = store.add(address, confirmed=True, **fields)
    return subscriber


def test_sign_up_form_email_link_confirms(
    site: str, smtp_server: SMTPServer, store: SubscriberStore
) -> None:
    page = requests.get(f"{site}/subscribe", timeout=10)
    assert page.status_code == 200
    tags = Tags(page.text)
    assert tags.all("form", method="post", action="/subscribe")
    [trap] = tags.all("input", name="website")
    assert trap.get("type") is None and trap["tabindex"] == "-1"  # hidden by CSS, not type
    assert tags.all("select", name="frequency") and tags.all("input", name="name")
    assert "<script" not in page.text
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    home = Tags(requests.get(f"{site}/", timeout=10).text)
    assert home.all("input", name="website") and home.all("select", name="frequency")

    answer = signup(
        site, {"email": "ada@example.org", "name": "Ada Lovelace", "frequency": "daily"}
    )
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    assert status(store, "ada@example.org") == "pending"

    [mail] = wait_for_mail(smtp_server, 1)
    assert smtp_server.received[0].rcpt_tos == ("ada@example.org",)
    assert mail["To"] == "ada@example.org"  # the name is not vouched for yet
    assert "Confirm your subscription to Policy Notes" in mail["Subject"]
    link = confirm_path(mail)

    for _ in range(2):  # idempotent
        page = requests.get(f"{site}{link}", timeout=10)
        assert page.status_code == 200 and "You are subscribed" in page.text
        assert page.headers["Cache-Control"] == "no-store"
    subscriber = stored(store, "ada@example.org")
    assert (subscriber.status, subscriber.name, subscriber.frequency) == (
        "confirmed",
        "Ada Lovelace",
        "daily",
    )
    assert consents(store, "ada@example.org") == [("subscribe", "form"), ("confirm", "link")]
    [preferences] = [a["href"] for a in Tags(page.text).all("a") if "/preferences/" in a["href"]]
    assert requests.get(f"{site}{preferences}", timeout=10).status_code == 200


def test_the_confirmation_never_echoes_the_name_typed(
    site: str, smtp_server: SMTPServer, store: SubscriberStore
) -> None:
    """Anyone can type any address and "name": the site must not mail their text for them."""
    bait = "Your account is locked, restore it at https://evil.example/login now " * 3
    answer = signup(site, {"email": "victim@example.org", "name": bait[:200]})
    assert answer.status_code == 200
    [mail] = wait_for_mail(smtp_server, 1)
    assert mail["To"] == "victim@example.org" and not mail["To"].addresses[0].display_name
    raw = smtp_server.received[0].raw.decode()
    assert "evil.example" not in raw and "locked" not in raw
    for subtype in ("plain", "html"):
        body = mail.get_body(preferencelist=(subtype,))
        assert body is not None and "evil.example" not in body.get_content()
    assert stored(store, "victim@example.org").name == bait[:200].strip()  # kept, not mailed


def test_json_sign_up(site: str, smtp_server: SMTPServer, store: SubscriberStore) -> None:
    answer = signup(
        site,
        {
            "email": "grace@example.org",
            "name": "Grace",
            "frequency": "monthly",
            "timezone": "America/New_York",
            "topics": ["Policy"],
        },
        as_json=True,
    )
    assert (answer.status_code, answer.json()) == (200, {"message": CHECK_INBOX})
    [mail] = wait_for_mail(smtp_server, 1)
    assert requests.get(f"{site}{confirm_path(mail)}", timeout=10).status_code == 200
    subscriber = stored(store, "grace@example.org")
    assert (subscriber.status, subscriber.frequency, subscriber.timezone, subscriber.topics) == (
        "confirmed",
        "monthly",
        "America/New_York",
        ["Policy"],
    )


@pytest.mark.parametrize(
    ("body", "code", "error"),
    [
        ({"email": "nope"}, 422, "bad email 'nope'"),
        ({"email": "ada@example.org", "frequency": "hourly"}, 422, "unknown frequency 'hourly'"),
        ({"email": "ada@example.org", "topics": [1]}, 422, "topics: expected a list of strings"),
        ({"email": ["ada@example.org"]}, 422, "email: expected a string"),
        (["ada@example.org"], 422, "expected a JSON object"),
    ],
)
def test_json_errors(site: str, store: SubscriberStore, body: Any, code: int, error: str) -> None:
    answer = signup(site, body, as_json=True)
    assert (answer.status_code, answer.json()) == (code, {"error": error})
    assert store.find("ada@example.org") is None


def test_unreadable_and_oversized_bodies(site: str) -> None:
    headers = {"Content-Type": "application/json"}
    for body in (b"{", b"[" * 10_000, b"\xff"):
        bad = requests.post(f"{site}/subscribe", data=body, headers=headers, timeout=10)
        assert (bad.status_code, bad.json()) == (400, {"error": "not valid JSON"})
    huge = {"email": "ada@example.org", "name": "x" * 20_000}
    assert signup(site, huge).status_code == 413
    assert signup(site, huge, as_json=True).status_code == 413


def test_a_bad_address_shows_the_form_again(site: str, store: SubscriberStore) -> None:
    answer = signup(site, {"email": "<b>nope</b>", "name": "<i>Ada</i>"})
    assert answer.status_code == 422
    assert "bad email &#39;&lt;b&gt;nope&lt;/b&gt;&#39;" in answer.text
    tags = Tags(answer.text)
    assert tags.all("input", name="email", value="<b>nope</b>")  # escaped, and refilled
    assert tags.all("input", name="name", value="<i>Ada</i>")
    assert "<b>" not in answer.text and "<i>" not in answer.text


def test_unsubscribe_page_changes_nothing_and_its_button_unsubscribes(
    site: str, store: SubscriberStore, signer: TokenSigner
) -> None:
    subscriber = confirmed(store, "ada@example.org")
    url = f"{site}/unsubscribe/{signer.manage_token(subscriber)}"

    page = requests.get(url, timeout=10)
    assert page.status_code == 200 and "ada@example.org" in page.text
    assert Tags(page.text).all("form", method="post", action=urlsplit(url).path)
    assert status(store, "ada@example.org") == "confirmed"

    for _ in range(2):  # idempotent: one record of leaving
        done = requests.post(url, data=b"", headers=FORM, timeout=10)
        assert done.status_code == 200 and "You are unsubscribed" in done.text
        assert Tags(done.text).all("a", href="/subscribe")
    assert status(store, "ada@example.org") == "unsubscribed"
    assert consents(store, "ada@example.org")[-1] == ("unsubscribe", "link")
    assert len(consents(store, "ada@example.org")) == 2
    assert "You are unsubscribed" in requests.get(url, timeout=10).text


@pytest.mark.parametrize(
    "body",
    [
        {"data": "List-Unsubscribe=One-Click", "headers": FORM},
        {"files": {"List-Unsubscribe": (None, "One-Click")}},  # multipart/form-data
    ],
    ids=["urlencoded", "multipart"],
)
def test_one_click_unsubscribe(
    site: str, store: SubscriberStore, signer: TokenSigner, body: dict[str, Any]
) -> None:
    """RFC 8058: a bare POST from the mail provider, no cookies, answered without redirect."""
    subscriber = confirmed(store, "ada@example.org")
    url = f"{site}/unsubscribe/{signer.manage_token(subscriber)}"
    answer = requests.post(url, allow_redirects=False, timeout=10, **body)
    assert answer.status_code == 200 and not answer.is_redirect
    assert "Set-Cookie" not in answer.headers
    assert status(store, "ada@example.org") == "unsubscribed"
    assert consents(store, "ada@example.org")[-1] == ("unsubscribe", "one-click")


def test_preferences(site: str, store: SubscriberStore, signer: TokenSigner) -> None:
    subscriber = confirmed(store, "ada@example.org", name="Ada", topics=["Old Topic"])
    url = f"{site}/preferences/{signer.manage_token(subscriber)}"

    page = requests.get(url, timeout=10)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    tags = Tags(page.text)
    assert ticked(tags, "option", "selected") == {"weekly"}
    assert tags.all("input", name="timezone", value="Europe/London")
    assert tags.all("option", value="Asia/Tokyo")  # the time zone suggestions
    assert [box["value"] for box in tags.all("input", name="topics")] == [
        "Local Data",
        "Old Topic",
        "Policy",
    ]
    assert ticked(tags, "input", "checked") == {"Old Topic"}

    fields = {"name": "Ada L.", "frequency": "monthly", "timezone": "asia/tokyo"}
    saved = requests.post(url, data={**fields, "topics": ["Policy", "Local Data"]}, timeout=10)
    assert saved.status_code == 200 and "saved" in saved.text
    tags = Tags(saved.text)
    assert ticked(tags, "option", "selected") == {"monthly"}
    assert tags.all("input", name="timezone", value="Asia/Tokyo")
    assert ticked(tags, "input", "checked") == {"Policy", "Local Data"}
    changed = stored(store, "ada@example.org")
    assert (changed.name, changed.frequency, changed.timezone, changed.topics) == (
        "Ada L.",
        "monthly",
        "Asia/Tokyo",
        ["Policy", "Local Data"],
    )

    bad = {"name": "<script>x</script>", "frequency": "daily", "timezone": "Mars/Olympus"}
    refused = requests.post(url, data=bad, timeout=10)
    assert refused.status_code == 422 and "bad time zone &#39;Mars/Olympus&#39;" in refused.text
    assert Tags(refused.text).all("input", name="timezone", value="Mars/Olympus")
    assert "<script>" not in refused.text
    unchanged = stored(store, "ada@example.org")
    assert (unchanged.name, unchanged.frequency, unchanged.timezone) == (
        "Ada L.",
        "monthly",
        "Asia/Tokyo",
    )

    cleared = requests.post(url, data={**fields, "timezone": "Asia/Tokyo"}, timeout=10)
    assert cleared.status_code == 200
    assert stored(store, "ada@example.org").topics == []


def forged(token: str) -> list[str]:
    body, signature = token.rsplit(".", 1)
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return [f"{body}.{flipped}", "garbage", token + "x"]


def test_forged_and_mixed_up_tokens_are_refused(
    site: str, store: SubscriberStore, signer: TokenSigner
) -> None:
    subscriber = confirmed(store, "ada@example.org")
    manage, confirm = signer.manage_token(subscriber), signer.confirm_token(subscriber)
    stranger = TokenSigner(["someone-elses-secret-key"])
    bad_manage = [*forged(manage), confirm, stranger.manage_token(subscriber)]
    bad_confirm = [*forged(confirm), manage, stranger.confirm_token(subscriber)]
    attempts = [("GET", f"/confirm/{token}") for token in bad_confirm] + [
        (method, f"/{page}/{token}")
        for token in bad_manage
        for page in ("unsubscribe", "preferences")
        for method in ("GET", "POST")
    ]
    for method, path in attempts:
        answer = requests.request(method, f"{site}{path}", data={"frequency": "daily"}, timeout=10)
        assert answer.status_code == 400, (method, path)
        assert "This link is not valid" in answer.text
        assert Tags(answer.text).all("a", href="/subscribe")
    after = stored(store, "ada@example.org")
    assert (after.status, after.frequency) == ("confirmed", "weekly")


class _Backdated(TimestampSigner):
    """Signs as if it were eight days ago: a confirmation link past its seven days."""

    def get_timestamp(self) -> int:
        return int(time.time()) - CONFIRM_MAX_AGE - 86400


def test_an_expired_confirmation_link(site: str, store: SubscriberStore) -> None:
    subscriber, _ = store.request_subscription("ada@example.org")
    assert subscriber is not None
    serializer = URLSafeTimedSerializer(NEW_KEY, salt="subscribers.confirm", signer=_Backdated)
    token = serializer.dumps([subscriber.id, subscriber.token_nonce])
    answer = requests.get(f"{site}/confirm/{token}", timeout=10)
    assert answer.status_code == 410 and "This link has expired" in answer.text
    assert Tags(answer.text).all("a", href="/subscribe")
    assert status(store, "ada@example.org") == "pending"


def test_links_from_before_a_new_sign_up_are_dead(
    site: str, smtp_server: SMTPServer, store: SubscriberStore, signer: TokenSigner
) -> None:
    signup(site, {"email": "ada@example.org"})
    [mail] = wait_for_mail(smtp_server, 1)
    old_confirm = f"{site}{confirm_path(mail)}"
    assert requests.get(old_confirm, timeout=10).status_code == 200
    old_manage = signer.manage_token(stored(store, "ada@example.org"))
    assert requests.post(f"{site}/unsubscribe/{old_manage}", timeout=10).status_code == 200

    assert signup(site, {"email": "ada@example.org"}).status_code == 200  # back, pending
    assert status(store, "ada@example.org") == "pending"
    assert requests.get(old_confirm, timeout=10).status_code == 400
    assert requests.post(f"{site}/unsubscribe/{old_manage}", timeout=10).status_code == 400
    assert requests.get(f"{site}/preferences/{old_manage}", timeout=10).status_code == 400
    assert status(store, "ada@example.org") == "pending"


def test_links_signed_before_a_key_rotation_still_work(site: str, store: SubscriberStore) -> None:
    """SECRET_KEY is "new,old": links in mail signed with the old key keep working."""
    before = TokenSigner([OLD_KEY])
    subscriber, _ = store.request_subscription("ada@example.org")
    assert subscriber is not None
    assert requests.get(f"{site}/confirm/{before.confirm_token(subscriber)}", timeout=10).ok
    assert status(store, "ada@example.org") == "confirmed"
    manage = before.manage_token(subscriber)
    assert requests.get(f"{site}/preferences/{manage}", timeout=10).status_code == 200
    assert requests.post(f"{site}/unsubscribe/{manage}", timeout=10).status_code == 200
    assert status(store, "ada@example.org") == "unsubscribed"


def test_sign_ups_are_rate_limited_per_client(site: str, store: SubscriberStore) -> None:
    for n in range(5):
        assert signup(site, {"email": f"r{n}@example.org"}, ip="203.0.113.7").status_code == 200
    sixth = signup(site, {"email": "r5@example.org"}, ip="203.0.113.7")
    assert sixth.status_code == 429 and TOO_MANY in sixth.text
    assert 0 < int(sixth.headers["Retry-After"]) <= SIGNUP_WINDOW_SECONDS
    as_json = signup(site, {"email": "r5@example.org"}, as_json=True, ip="203.0.113.7")
    assert (as_json.status_code, as_json.json()) == (429, {"error": TOO_MANY})
    assert store.find("r5@example.org") is None
    assert signup(site, {"email": "r5@example.org"}, ip="203.0.113.8").status_code == 200

    for n in range(5):  # IPv6: one limit for the whole /64
        assert signup(site, {"email": "v6@example.org"}, ip=f"2001:db8::{n + 1}").ok
    assert signup(site, {"email": "v6@example.org"}, ip="2001:db8::ff").status_code == 429
    assert signup(site, {"email": "v6@example.org"}, ip="2001:db8:0:1::1").ok


def test_a_filled_honeypot_stores_and_sends_nothing(
    site: str, smtp_server: SMTPServer, store: SubscriberStore
) -> None:
    bot = signup(site, {"email": "victim@example.org", "website": "http://spam.example"})
    human = signup(site, {"email": "ada@example.org", "website": ""})
    assert (bot.status_code, bot.content) == (human.status_code, human.content)
    bot_json = signup(site, {"email": "victim@example.org", "website": "x"}, as_json=True)
    assert (bot_json.status_code, bot_json.json()) == (200, {"message": CHECK_INBOX})
    wait_for_mail(smtp_server, 1)
    assert [r.rcpt_tos for r in smtp_server.received] == [("ada@example.org",)]
    assert store.find("victim@example.org") is None


def test_answers_never_tell_whether_an_address_is_known(
    site: str, smtp_server: SMTPServer, store: SubscriberStore
) -> None:
    store.request_subscription("pending@example.org")
    confirmed(store, "confirmed@example.org")
    confirmed(store, "left@example.org")
    store.suppress("left@example.org", "manual")
    confirmed(store, "complained@example.org")
    store.record_complaint("complained@example.org")
    addresses = ["new", "pending", "confirmed", "left", "complained"]
    for as_json in (False, True):
        answers = [
            signup(site, {"email": f"{name}@example.org"}, as_json=as_json) for name in addresses
        ]
        assert len({(a.status_code, a.headers["Content-Type"], a.content) for a in answers}) == 1
        assert answers[0].status_code == 200
    # Everyone not on the list is asked (once an hour); the pending one was asked already.
    wait_for_mail(smtp_server, 3)
    assert sorted(r.rcpt_tos for r in smtp_server.received) == [
        ("complained@example.org",),
        ("left@example.org",),
        ("new@example.org",),
    ]


def test_a_suppressed_address_gets_the_same_lookups_as_one_that_left(
    site: str, db: Database, store: SubscriberStore, signer: TokenSigner
) -> None:
    """No timing oracle: the database work of a sign-up does not depend on whether the
    address is suppressed (checked by the statements run, never by a stopwatch)."""
    for name in ("left", "suppressed"):
        confirmed(store, f"{name}@example.org")
    gone = stored(store, "left@example.org")
    assert store.unsubscribe(gone.id, gone.token_nonce) is not None  # by the link: no suppression
    store.suppress("suppressed@example.org", "manual")
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "web_state" not in statement:  # the rate limit: per client, not per address
            statements.append(" ".join(statement.split()))

    traces = {}
    event.listen(db.engine, "before_cursor_execute", record)
    try:
        for name in ("left", "suppressed"):
            statements.clear()
            assert signup(site, {"email": f"{name}@example.org"}).status_code == 200
            traces[name] = list(statements)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert traces["left"] == traces["suppressed"]
    assert any("FROM subscribers" in line for line in traces["left"])


@pytest.mark.parametrize("left", ["unsubscribed", "bounced", "complained", "erased"])
def test_only_the_persons_own_confirmed_sign_up_brings_them_back(
    settings: Settings,
    db: Database,
    site: str,
    smtp_server: SMTPServer,
    store: SubscriberStore,
    left: str,
) -> None:
    address = "back@example.org"
    confirmed(store, address, name="Ada")
    if left == "unsubscribed":
        store.suppress(address, "manual")  # an admin's unsubscribe
    elif left == "bounced":
        store.record_bounce(address, hard=True, threshold=3)
    elif left == "complained":
        store.record_complaint(address)
    else:
        assert store.remove(address, erase=True)  # only the suppressed hash is left
    assert store.is_suppressed(address)
    token = "api-token-for-tests-0123456789"
    api = create_app(settings.model_copy(update={"api_token": SecretStr(token)}), db)
    with running(api) as api_site:

        def api_confirms() -> int:
            return requests.post(
                f"{api_site}/api/subscribers",
                json={"email": address, "confirmed": True},
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            ).status_code

        assert api_confirms() == 409
        assert signup(site, {"email": address, "frequency": "daily"}).status_code == 200
        [mail] = wait_for_mail(smtp_server, 1)
        assert smtp_server.received[0].rcpt_tos == (address,)
        # Signed up but not yet confirmed: an admin, the API or an import still cannot.
        assert api_confirms() == 409
        assert status(store, address) == "pending" and store.is_suppressed(address)

        page = requests.get(f"{site}{confirm_path(mail)}", timeout=10)
        assert page.status_code == 200 and "You are subscribed" in page.text
    subscriber = stored(store, address)
    assert (subscriber.status, subscriber.frequency) == ("confirmed", "daily")
    assert not store.is_suppressed(address)
    assert consents(store, address)[-2:] == [("subscribe", "form"), ("confirm", "link")]


def test_one_confirmation_mail_per_address_per_hour(
    site: str, smtp_server: SMTPServer, store: SubscriberStore
) -> None:
    first = signup(site, {"email": "ada@example.org"})
    again = signup(site, {"email": "ADA@example.org", "frequency": "daily"})
    assert (first.status_code, first.content) == (again.status_code, again.content)
    signup(site, {"email": "grace@example.org"})
    wait_for_mail(smtp_server, 2)
    assert sorted(r.rcpt_tos for r in smtp_server.received) == [
        ("ada@example.org",),
        ("grace@example.org",),
    ]


def test_names_cannot_inject_headers(site: str, smtp_server: SMTPServer) -> None:
    names = {
        "form@example.org": ("Eve\r\nBcc: victim@example.org", False),
        "json@example.org": ("Eve\nBcc: victim@example.org\n\nbody", True),
        "word@example.org": ("=?UTF-8?Q?Eve=0D=0ABcc:_victim@example.org?=", False),
    }
    for address, (name, as_json) in names.items():
        assert signup(site, {"email": address, "name": name}, as_json=as_json).status_code == 200
    mails = wait_for_mail(smtp_server, 3)
    for received, mail in zip(smtp_server.received, mails, strict=True):
        [address] = received.rcpt_tos
        assert address in names
        head = received.raw.split(b"\r\n\r\n", 1)[0]
        assert not re.search(rb"^bcc:", head, re.IGNORECASE | re.MULTILINE)
        assert mail.get_all("Bcc") is None
        assert [a.addr_spec for a in mail["To"].addresses] == [address]
        assert set(mail.keys()) == {
            "From",
            "To",
            "Subject",
            "Date",
            "Message-ID",
            "Auto-Submitted",
            "MIME-Version",
            "Content-Type",
        }


def test_a_delivery_failure_is_logged_and_the_answer_stays_the_same(
    site: str, smtp_server: SMTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    smtp_server.rcpt_replies["nobody@example.org"] = "550 5.1.1 No such user"
    caplog.set_level(logging.WARNING, logger="pipeline.web.subscribe")
    refused = signup(site, {"email": "nobody@example.org"})
    accepted = signup(site, {"email": "ada@example.org"})
    assert (refused.status_code, refused.content) == (accepted.status_code, accepted.content)
    deadline = time.monotonic() + 10
    while not any("550 5.1.1 No such user" in r.getMessage() for r in caplog.records):
        assert time.monotonic() < deadline, "the failure was not logged"
        time.sleep(0.02)
    wait_for_mail(smtp_server, 1)
    assert [r.rcpt_tos for r in smtp_server.received] == [("ada@example.org",)]


def test_the_sign_up_form_offers_a_time_zone(
    site: str, settings: Settings, store: SubscriberStore
) -> None:
    for path in ("/subscribe", "/"):
        tags = Tags(requests.get(f"{site}{path}", timeout=10).text)
        zones = [option["value"] for option in tags.all("option") if "/" in option["value"]]
        assert "Asia/Tokyo" in zones and "America/New_York" in zones
        assert [z for z in zones if "selected" in tags.all("option", value=z)[0]] == [
            settings.timezone
        ]
    answer = signup(site, {"email": "zoe@example.org", "timezone": "Asia/Tokyo"})
    assert answer.status_code == 200
    assert stored(store, "zoe@example.org").timezone == "Asia/Tokyo"


def test_preferences_suggest_close_zones_for_a_wrong_one(
    site: str, store: SubscriberStore, signer: TokenSigner
) -> None:
    subscriber = confirmed(store, "ada@example.org", topics=["Policy"])
    url = f"{site}/preferences/{signer.manage_token(subscriber)}"
    typed = {"name": "Ada", "frequency": "daily", "timezone": "europe/pari", "topics": "Policy"}
    refused = requests.post(url, data=typed, timeout=10)
    assert refused.status_code == 422
    tags = Tags(refused.text)
    offered = [button["value"] for button in tags.all("button", name="timezone")]
    assert offered[0] == "Europe/Paris"
    kept = {tag["name"]: tag["value"] for tag in tags.all("input", type="hidden")}
    assert kept == {"name": "Ada", "frequency": "daily", "topics": "Policy"}
    chosen = requests.post(url, data={**kept, "timezone": offered[0]}, timeout=10)
    assert chosen.status_code == 200 and "saved" in chosen.text
    saved = stored(store, "ada@example.org")
    assert (saved.timezone, saved.frequency, saved.topics) == ("Europe/Paris", "daily", ["Policy"])
