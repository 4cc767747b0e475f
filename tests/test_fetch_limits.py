"""Remote sources that attack the poller, through the real CLI and a real HTTP server: a
gzip bomb, a server dripping bytes, and a slow source beside a fast one."""

from __future__ import annotations

import json
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_runner import run
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>{name}</title><link>https://{name}.example/</link>
<description>d</description>
<item><title>{name} post</title><link>https://{name}.example/a</link>
<pubDate>Mon, 02 Nov 2026 09:00:00 +0000</pubDate><description>A</description></item>
</channel></rss>"""
BOMB_BYTES = 200_000_000  # what the bomb inflates to; it travels as about 200 kB


@pytest.fixture
def server() -> Iterator[HTTPServer]:
    """A server answering requests side by side, as a real site does."""
    served = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    served.start()
    yield served
    served.clear()
    served.stop()


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """A gzip body of BOMB_BYTES, packed a megabyte of zeros (about 1 kB) at a time."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # a gzip container
    zeros = bytes(1_000_000)
    parts = [packer.compress(b"<rss>")]
    parts += [packer.compress(zeros) for _ in range(BOMB_BYTES // len(zeros))]
    return b"".join([*parts, packer.flush()])


def feeds(server: HTTPServer, *names: str) -> str:
    return json.dumps(
        [{"name": name, "kind": "feed", "url": server.url_for(f"/{name}.xml")} for name in names]
    )


def ingest(tmp_path: Path, sources: str, **settings: str) -> tuple[int, list[str], str]:
    result = run("ingest", cwd=tmp_path, SOURCES=sources, HTTP_RETRIES="0", **settings)
    return result.returncode, result.stderr.splitlines(), result.stdout


@pytest.mark.parametrize(
    ("kind", "path", "bombed"),
    [("feed", "/bomb.xml", ""), ("wordpress", "/wp", "/wp-json/wp/v2/posts")],
)
def test_a_gzip_bomb_stops_at_the_size_cap(
    tmp_path: Path, server: HTTPServer, bomb: bytes, kind: str, path: str, bombed: str
) -> None:
    server.expect_request(path + bombed).respond_with_data(
        bomb, content_type="application/json", headers={"Content-Encoding": "gzip"}
    )
    server.expect_request("/fine.xml").respond_with_data(
        RSS.format(name="fine"), content_type="application/rss+xml"
    )
    sources = [
        {"name": "bomb", "kind": kind, "url": server.url_for(path)},
        {"name": "fine", "kind": "feed", "url": server.url_for("/fine.xml")},
    ]
    code, errors, counts = ingest(tmp_path, json.dumps(sources), FEED_MAX_BYTES="1000000")
    assert code == 1
    assert errors == [
        f"error: {server.url_for(path)}: answer larger than 1,000,000 bytes"
        " (NEWSLETTER_FEED_MAX_BYTES)"
    ]
    assert "fine: 1 new" in counts


def test_a_dripping_server_is_cut_off_at_the_deadline(tmp_path: Path, server: HTTPServer) -> None:
    sent = []

    def drip(request: Request) -> Response:
        def body() -> Iterator[bytes]:
            for byte in RSS.format(name="drip").encode():
                sent.append(byte)
                yield bytes([byte])
                time.sleep(0.05)  # each byte well within HTTP_TIMEOUT

        return Response(body(), content_type="application/rss+xml")

    server.expect_request("/drip.xml").respond_with_handler(drip)
    url = server.url_for("/drip.xml").replace("http://", "http://reader:s3cret@")
    sources = json.dumps([{"name": "drip", "kind": "feed", "url": url}])
    code, errors, _ = ingest(tmp_path, sources, FETCH_DEADLINE_SECONDS="1", HTTP_TIMEOUT="5")
    assert code == 1
    shown = url.replace("s3cret", "********")  # the line names the source, not its password
    assert errors == [
        f"error: {shown}: no complete answer within 1s (NEWSLETTER_FETCH_DEADLINE_SECONDS)"
    ]
    assert 0 < len(sent) < len(RSS.format(name="drip").encode())


def test_a_slow_source_does_not_hold_up_a_fast_one(tmp_path: Path, server: HTTPServer) -> None:
    """The slow feed answers only once the fast one has been asked for: read one after
    the other, the slow one (listed first) would time out before the fast one was asked."""
    fast_asked = threading.Event()

    def slow(request: Request) -> Response:
        if not fast_asked.wait(timeout=10):
            return Response("never asked for the fast feed", status=504)
        return Response(RSS.format(name="slow"), content_type="application/rss+xml")

    def fast(request: Request) -> Response:
        fast_asked.set()
        return Response(RSS.format(name="fast"), content_type="application/rss+xml")

    server.expect_request("/slow.xml").respond_with_handler(slow)
    server.expect_request("/fast.xml").respond_with_handler(fast)
    code, errors, counts = ingest(tmp_path, feeds(server, "slow", "fast"), HTTP_TIMEOUT="20")
    assert (code, errors) == (0, [])
    assert "slow: 1 new" in counts and "fast: 1 new" in counts


def test_a_retry_after_beyond_the_deadline_is_not_waited_for(
    tmp_path: Path, server: HTTPServer
) -> None:
    """A 503 asking for two minutes' patience: the fetch gives up at its deadline instead
    (otherwise the command outlives `run`'s own two-minute limit)."""
    server.expect_request("/busy.xml").respond_with_data(
        "busy", status=503, headers={"Retry-After": "120"}
    )
    result = run(
        "ingest",
        cwd=tmp_path,
        SOURCES=feeds(server, "busy"),
        HTTP_RETRIES="1",
        FETCH_DEADLINE_SECONDS="1",
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: {server.url_for('/busy.xml')}: no complete answer within 1s"
        " (NEWSLETTER_FETCH_DEADLINE_SECONDS)"
    ]
