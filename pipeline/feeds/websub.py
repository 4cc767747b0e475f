"""WebSub: tell the hub which feeds changed, so subscribers hear of posts in seconds.

A publish ping is idempotent, so unlike the sources' GET-only session this one retries
POSTs on 429/5xx. A hub that is down must not fail a build: failures come back as one
line for the caller to print.
"""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from pipeline.http import RETRY_STATUSES, USER_AGENT, one_line, status_reason
from pipeline.settings import Settings


def hub_session(settings: Settings, *, backoff: float = 0.5) -> requests.Session:
    """A session retrying POSTs HTTP_RETRIES times with backoff on 429/5xx answers."""
    retry = Retry(
        total=settings.http_retries,
        backoff_factor=backoff,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"POST"}),
        raise_on_status=False,
    )
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def announce_to_hub(settings: Settings, urls: list[str], session: requests.Session) -> str | None:
    """POST `hub.mode=publish&hub.url=URL` to WEBSUB_HUB for each URL.

    Returns None when every ping was accepted (or no hub is set), else one line saying
    how many failed and why the first did. Never raises.
    """
    if not settings.websub_hub or not urls:
        return None
    hub = str(settings.websub_hub)
    failures = [
        reason
        for url in urls
        if (reason := _publish(session, hub, url, settings.http_timeout)) is not None
    ]
    if not failures:
        return None
    return f"WebSub hub {hub}: {len(failures)} of {len(urls)} pings failed ({failures[0]})"


def _publish(session: requests.Session, hub: str, url: str, timeout: float) -> str | None:
    """Why the hub did not accept the ping for `url`, or None if it did."""
    try:
        response = session.post(
            hub, data={"hub.mode": "publish", "hub.url": url}, timeout=(timeout, timeout)
        )
    except requests.Timeout:
        return f"timed out after {timeout:g}s"
    except requests.ConnectionError:
        return "could not connect"
    except requests.RequestException as exc:
        return one_line(exc)
    return None if response.ok else status_reason(response)
