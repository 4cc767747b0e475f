"""HTTP for remote sources: one configured session, and failures as one readable line.

requests has no default timeout and lets urllib3 wrap socket errors two or three deep;
a poller needs a hung server to give up, transient 429/5xx answers to be retried, and
every failure to reach ingest as a `SourceError` that names the cause in a few words.
What a server sends is bounded too: a fetch reads at most FEED_MAX_BYTES of decoded body
(a small gzip bomb stops there) and ends by FETCH_DEADLINE_SECONDS, retries included.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from requests.exceptions import InvalidSchema, InvalidURL, MissingSchema
from urllib3.util.retry import Retry

from pipeline.http import RETRY_STATUSES, USER_AGENT, one_line, status_reason
from pipeline.sources.base import SourceError
from pipeline.sources.cutoff import Cutoff, current_cutoff, track_connections

RETRY_AFTER_MAX = 120.0
CHUNK = 65_536


@dataclass(frozen=True)
class Fetched:
    """An answer read whole, within the size and time limits."""

    status_code: int
    headers: Mapping[str, str]
    url: str
    content: bytes


class _Retry(Retry):
    """urllib3's Retry honouring Retry-After for at most two minutes (urllib3 allows hours);
    a wait that would reach the fetch's deadline ends the fetch instead."""

    def parse_retry_after(self, retry_after: str) -> float:
        return min(super().parse_retry_after(retry_after), RETRY_AFTER_MAX)

    def sleep(self, response: Any = None) -> None:
        cutoff = current_cutoff()
        if cutoff is None:
            super().sleep(response)
            return
        asked = self.get_retry_after(response) if response is not None else None
        wait = self.get_backoff_time() if asked is None else asked
        if wait >= cutoff.remaining():
            cutoff.expire()
            raise TimeoutError("the next retry is due after the deadline")
        time.sleep(wait)


class _LimitedAdapter(HTTPAdapter):
    """An adapter that applies its timeout to every request that does not set one, and
    carries the session's limits on what one fetch may cost."""

    def __init__(
        self, *, timeout: float, max_retries: Retry, max_bytes: int, deadline: float
    ) -> None:
        super().__init__(max_retries=max_retries)
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.deadline = deadline

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        track_connections(self.poolmanager)

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        timeout = timeout or (self.timeout, self.timeout)
        return super().send(request, stream, timeout, verify, cert, proxies)


def http_session(
    *,
    timeout: float,
    retries: int,
    max_bytes: int,
    deadline: float,
    backoff: float = 0.5,
) -> requests.Session:
    """A Session applying (connect, read) timeouts by default and urllib3 Retry with backoff
    on 429/5xx for GET (honouring Retry-After), with a User-Agent 'newsletter-pipeline/0.1';
    `fetch` reads at most `max_bytes` of body and gives up after `deadline` seconds.

    Final 429/5xx answers are returned rather than raised, so `fetch` can say how many
    retries were spent. Each fetch opens its own connection (`Connection: close`), so the
    deadline covers every socket it uses; a poller gains little from keeping one open.
    """
    retry = _Retry(
        total=retries,
        backoff_factor=backoff,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET"}),
        raise_on_status=False,
    )
    adapter = _LimitedAdapter(
        timeout=timeout, max_retries=retry, max_bytes=max_bytes, deadline=deadline
    )
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    session.headers["Connection"] = "close"
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def fetch(
    session: requests.Session,
    url: str,
    *,
    where: str,
    params: Mapping[str, str | int] | None = None,
    headers: Mapping[str, str] | None = None,
    ok: Collection[int] = (200,),
) -> Fetched:
    """GET `url` and read its body, raising `SourceError("<where>: <reason>")` on a
    transport failure, a status outside `ok`, a body over the size limit or a fetch past
    the deadline, so that no requests exception reaches ingest."""
    limits = _limits(session)
    with Cutoff(limits.deadline) as cutoff:
        try:
            with session.get(url, params=params, headers=headers, stream=True) as response:
                if response.status_code not in ok:
                    raise SourceError(f"{where}: {status_reason(response)}")
                content = _read_body(response, limits.max_bytes, where=where)
        except requests.RequestException as exc:
            if not cutoff.passed:
                raise SourceError(f"{where}: {_transport_reason(exc, session, url)}") from exc
    if cutoff.passed:  # also when the cut looked like the end of a body without a length
        raise SourceError(
            f"{where}: no complete answer within {limits.deadline:g}s"
            " (NEWSLETTER_FETCH_DEADLINE_SECONDS)"
        )
    return Fetched(response.status_code, response.headers, response.url, content)


def _limits(session: requests.Session) -> _LimitedAdapter:
    """The limits `http_session` set (on the adapter serving both schemes)."""
    adapter = session.adapters.get("https://")
    if not isinstance(adapter, _LimitedAdapter):
        raise TypeError("fetch needs a session made by http_session")
    return adapter


def _read_body(response: requests.Response, max_bytes: int, *, where: str) -> bytes:
    """The decoded body, read in chunks so that reading stops once it passes `max_bytes`."""
    body = bytearray()
    for chunk in response.iter_content(CHUNK):
        body += chunk
        if len(body) > max_bytes:
            raise SourceError(
                f"{where}: answer larger than {max_bytes:,} bytes (NEWSLETTER_FEED_MAX_BYTES)"
            )
    return bytes(body)


def looks_like_html(response: Fetched) -> bool:
    """Whether a body is a web page: what a moved feed or a non-WordPress site serves."""
    if "html" in response.headers.get("Content-Type", "").lower():
        return True
    start = response.content[:256].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return start.startswith((b"<!doctype html", b"<html"))


def _transport_reason(exc: requests.RequestException, session: requests.Session, url: str) -> str:
    """A few words naming the root cause of a failed request."""
    causes = list(_causes(exc))

    def caused_by(*kinds: type[BaseException]) -> bool:
        return any(isinstance(cause, kinds) for cause in causes)

    if caused_by(urllib3.exceptions.NameResolutionError, socket.gaierror):
        return f"DNS lookup failed for {urlsplit(url).hostname}"
    if caused_by(ConnectionRefusedError):
        return "connection refused"
    # urllib3's NewConnectionError (any failure to connect) subclasses its TimeoutError.
    if any(_is_timeout(cause) for cause in causes):
        timeout = getattr(session.get_adapter(url), "timeout", None)
        return f"timed out after {timeout:g}s" if timeout else "timed out"
    if caused_by(ssl.SSLError, requests.exceptions.SSLError):
        return f"TLS error ({one_line(causes[-1])})"
    if caused_by(requests.TooManyRedirects):
        return "too many redirects"
    if caused_by(InvalidURL, MissingSchema, InvalidSchema):
        return "invalid URL"
    return one_line(causes[-1]) or type(exc).__name__


def _is_timeout(exc: BaseException) -> bool:
    timeouts = (TimeoutError, urllib3.exceptions.TimeoutError, requests.Timeout)
    return isinstance(exc, timeouts) and not isinstance(exc, urllib3.exceptions.NewConnectionError)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and everything it wraps (causes, contexts, urllib3's `reason`), outermost first."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        wrapped = (current.__cause__, current.__context__, getattr(current, "reason", None))
        pending.extend(e for e in (*wrapped, *current.args) if isinstance(e, BaseException))
