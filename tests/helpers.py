"""Helpers shared by several test modules: a real server for an app, signed-in admin
sessions, posts written to a folder or a database, subscribers, messages and DKIM keys."""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence, Set
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar

import dkim
import html5lib
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from fastapi import FastAPI
from pydantic import SecretStr
from smtp_server import SMTPServer

from pipeline.mail import OutgoingMessage, compose
from pipeline.mail import dkim as dkim_module
from pipeline.mail.dkim import dkim_signer
from pipeline.mail.keyprocess import KeyProcess, PrivateKey
from pipeline.outbox import FINISHED, get_run
from pipeline.settings import Settings, load_settings
from pipeline.storage import Database, open_database
from pipeline.storage.models import DigestRun, Post
from pipeline.web import create_app
from pipeline.web.server import listen, server
from pipeline.web.state import web_state
from subscribers import Signup, SubscriberStore

USER = "editor@example.org"
PASSWORD = "correct horse battery staple"
LOCAL_SITE = "http://127.0.0.1:8000"  # cookies without Secure, so requests sends them back
_TOKEN = re.compile(r'name="(csrf|nonce)" value="([^"]+)"')
READERS = ("ann@example.org", "bo@example.org", "cy@example.org")
TOKEN = "api-token-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # a Monday
DOMAIN = "blog.example.org"
SIGNED_AT = 1_700_000_000  # the DKIM signer's clock
DER = serialization.Encoding.DER


# Serving an app over real HTTP


def post(title: str, body: str, extra: str = "") -> str:
    return f"---\ntitle: {title}\ndate: 2026-10-01T09:00:00Z\nauthor: Ann Lee\n{extra}---\n{body}\n"


@contextmanager
def running(app: FastAPI, **options: Any) -> Iterator[str]:
    """`app` under uvicorn in a thread on a free loopback port, as `newsletter serve` runs
    it (`options` change that); yields its base URL."""
    sock = listen("127.0.0.1", 0)
    uvicorn_server = server(app, log_config=None, access_log=False, **options)
    thread = threading.Thread(target=uvicorn_server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uvicorn_server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        uvicorn_server.should_exit = True
        thread.join(timeout=10)
        sock.close()


class Tags(HTMLParser):
    """Every start tag of a page, with its attributes."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))

    def all(self, tag: str, **wanted: str) -> list[dict[str, str | None]]:
        return [
            attrs
            for name, attrs in self.found
            if name == tag and all(attrs.get(key) == value for key, value in wanted.items())
        ]


# The admin: settings, a signed-in session, its forms


def admin_settings(tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "var",
        "database_url": database_url,
        "site_url": LOCAL_SITE,
        "site_title": "Policy Notes",
        "email_backend": "file",
        "admin_username": USER,
        "admin_password": PASSWORD,
        "forwarded_allow_ips": "127.0.0.1",  # tests speak as clients through a local proxy
        "sources": [{"name": "posts", "kind": "directory", "path": str(tmp_path / "posts")}],
    }
    return load_settings(**values | overrides)


def admin_app(settings: Settings, db: Database) -> FastAPI:
    """The web app, admin included, as `newsletter serve` builds it."""
    return create_app(settings, db)


def tokens(page: str) -> dict[str, str]:
    """The hidden csrf and nonce fields of a page's (first) forms."""
    found: dict[str, str] = {}
    for name, value in _TOKEN.findall(page):
        found.setdefault(name, value)
    return found


def sign_in(
    base_url: str,
    session: requests.Session | None = None,
    *,
    username: str = USER,
    password: str = PASSWORD,
    ip: str | None = None,
    next_page: str | None = None,
) -> requests.Response:
    """Open the sign-in form and post it, as a browser does; the answer is not followed."""
    session = session or requests.Session()
    headers = {"X-Forwarded-For": ip} if ip else {}
    form = session.get(f"{base_url}/admin/signin", headers=headers, timeout=10)
    fields = {"csrf": tokens(form.text)["csrf"], "username": username, "password": password}
    if next_page is not None:
        fields["next"] = next_page
    return session.post(
        f"{base_url}/admin/signin",
        data=fields,
        headers=headers,
        allow_redirects=False,
        timeout=10,
    )


def signed_in(base_url: str) -> requests.Session:
    session = requests.Session()
    answer = sign_in(base_url, session)
    assert answer.status_code == 303, answer.text
    return session


def form_post(
    session: requests.Session, base_url: str, page: str, action: str, **fields: Any
) -> requests.Response:
    """Open `page`, then post its form to `action` with its tokens and `fields`."""
    opened = session.get(f"{base_url}{page}", timeout=10)
    assert opened.status_code == 200, opened.text
    return session.post(
        f"{base_url}{action}",
        data=tokens(opened.text) | fields,
        allow_redirects=False,
        timeout=10,
    )


# Admin pages: readers, posts in the folder, a run to its end


def write_post(folder: Path, slug: str, title: str, age: timedelta, extra: str = "") -> None:
    published = (datetime.now(UTC) - age).isoformat()
    folder.joinpath(f"{slug}.md").write_text(
        f"---\ntitle: {title}\ndate: {published}\nauthor: Ann Lee\n{extra}---\nText of {title}.\n"
    )


def wait_until_finished(db: Database, run_id: int) -> DigestRun:
    deadline = time.monotonic() + 20
    while True:
        run = get_run(db, run_id)
        assert run is not None
        if run.status in FINISHED:
            return run
        assert time.monotonic() < deadline, f"run {run_id} is still {run.status}"
        time.sleep(0.05)


# The admin API


def api_app(settings: Settings, db: Database, token: str | None = TOKEN) -> FastAPI:
    """The public app with the API installed, as `newsletter serve` builds it."""
    configured = settings.model_copy(update={"api_token": SecretStr(token) if token else None})
    return create_app(configured, db)


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """`app` under uvicorn; on the way out, waits for its background sends to end."""
    try:
        with running(app) as base:
            yield base
    finally:
        web_state(app).senders.join(timeout=60)


def recent_post(title: str, hours_ago: int, extra: str = "") -> str:
    """A post published `hours_ago`: inside every digest's window."""
    published = (datetime.now(UTC) - timedelta(hours=hours_ago)).isoformat()
    return f"---\ntitle: {title}\ndate: {published}\nauthor: Ann Lee\n{extra}---\nText.\n"


# Digest runs: posts and subscribers in the database, mail received


def add_post(
    db: Database,
    title: str,
    published: datetime,
    *,
    tags: tuple[str, ...] = (),
    status: str = "published",
) -> int:
    slug = title.lower().replace(" ", "-")
    with db.session() as session:
        post = Post(
            guid=f"urn:test:{slug}",
            source="test",
            slug=slug,
            status=status,
            title=title,
            url=f"https://blog.example.org/posts/{slug}",
            authors=["Ann Lee"],
            tags=list(tags),
            summary=f"About {title}.",
            content_html=f"<p>About {title}.</p>",
            content_hash=slug,
            published=published,
            updated=published,
            first_seen=published,
        )
        session.add(post)
        session.flush()
        return post.id


def add_subscriber(db: Database, address: str, frequency: str = "weekly", topics=()) -> int:
    store = SubscriberStore(db.sessions, default_timezone="Europe/London")
    subscriber, _ = store.add(address, frequency=frequency, topics=list(topics), confirmed=True)
    return subscriber.id


def ticking_from(start: datetime) -> Callable[[], datetime]:
    """A clock that reads `start` now and advances with real time, for sends that wait."""
    origin = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - origin)


def received_by(smtp_server: SMTPServer) -> dict[str, int]:
    tally: dict[str, int] = {}
    for envelope in smtp_server.received:
        for address in envelope.rcpt_tos:
            tally[address] = tally.get(address, 0) + 1
    return tally


# Mail


def message(to: str = "ada@example.org", subject: str = "Hello") -> OutgoingMessage:
    return compose(
        sender="Policy Blog <news@blog.example.org>",
        to=to,
        subject=subject,
        text="New posts this week.\n",
        html="<p>New posts this week.</p>",
    )


# Settings


def configured(settings: Settings, **changes: object) -> Settings:
    """The test's settings (database, data dir, sources) with `changes`."""
    kept = settings.model_dump(include={"database_url", "data_dir", "site_url", "sources"})
    return load_settings(**kept, **changes)


# DKIM: keys in files and the DNS records that publish them


def pem(key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey, form: str = "PKCS8") -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        getattr(serialization.PrivateFormat, form),
        serialization.NoEncryption(),
    )


class Keys:
    """An RSA and an Ed25519 key in files, and the DNS records that publish them."""

    def __init__(self, folder: Path) -> None:
        self.rsa_file, self.ed_file = folder / "rsa.key", folder / "ed25519.key"
        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ed_key = ed25519.Ed25519PrivateKey.generate()
        self.rsa_file.write_bytes(pem(rsa_key, "TraditionalOpenSSL"))  # BEGIN RSA PRIVATE KEY
        self.ed_file.write_bytes(pem(ed_key))
        spki = rsa_key.public_key().public_bytes(
            DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        raw = ed_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.records = {
            f"mail._domainkey.{DOMAIN}.".encode(): b"v=DKIM1; k=rsa; p=" + base64.b64encode(spki),
            f"ed._domainkey.{DOMAIN}.".encode(): b"v=DKIM1; k=ed25519; p=" + base64.b64encode(raw),
        }
        self.looked_up: list[bytes] = []

    def dns(self, name: bytes, timeout: int = 5) -> bytes:
        self.looked_up.append(name)
        return self.records.get(name, b"")

    def settings(self, *, ed25519: bool = False) -> Settings:
        extra = (
            {"dkim_ed25519_key_file": self.ed_file, "dkim_ed25519_selector": "ed"}
            if ed25519
            else {}
        )
        return load_settings(
            dkim_key_file=self.rsa_file, dkim_selector="mail", dkim_domain=DOMAIN, **extra
        )

    def signer(self, **options: bool) -> Callable[[OutgoingMessage], OutgoingMessage]:
        sign = dkim_signer(self.settings(**options), clock=lambda: SIGNED_AT)
        assert sign is not None
        return sign

    def verify(self, raw: bytes, index: int = 0) -> bool:
        """Whether dkimpy finds the `index`th DKIM-Signature valid."""
        try:
            return bool(dkim.DKIM(raw).verify(idx=index, dnsfunc=self.dns))
        except dkim.DKIMException:
            return False


# A valid HTML datetime as pages write it: seconds, no fraction, an offset or Z.
DATETIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:Z|[+-]\d\d:\d\d)")


def valid_page(response: requests.Response) -> str:
    """The page's text, once it answered 200, parsed as strict HTML5 and its <time>s checked."""
    assert response.status_code == 200, response.url
    html5lib.HTMLParser(strict=True).parse(response.text)  # raises on any parse error
    for tag in Tags(response.text).all("time"):
        assert DATETIME.fullmatch(tag["datetime"] or ""), tag
    return response.text


def prepare_readers(database_url: str, subscribers: int) -> None:
    """A database with one fresh post and `subscribers` confirmed readers, for a send."""
    db = open_database(database_url)
    add_post(db, "Resilience", datetime.now(UTC) - timedelta(hours=1))
    store = SubscriberStore(db.sessions, default_timezone="Europe/London")
    signups = [
        Signup(f"reader{number}@example.org", None, None, None, None, True)
        for number in range(subscribers)
    ]
    store.add_many(signups, method="import")
    db.close()


class _Watched(KeyProcess):
    """A real key process, kept where a test can reach it."""

    started: ClassVar[list[KeyProcess]] = []

    def __init__(
        self, keys: Sequence[PrivateKey], cpus: Set[int] | None = None, lowest: bool = False
    ) -> None:
        super().__init__(keys, cpus, lowest)
        _Watched.started.append(self)


def watch_key_processes(monkeypatch: pytest.MonkeyPatch) -> list[KeyProcess]:
    """The DKIM key processes started from now on, in order."""
    _Watched.started = []
    monkeypatch.setattr(dkim_module, "KeyProcess", _Watched)
    return _Watched.started
