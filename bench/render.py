"""Digest rendering benchmark: personalised messages for 100,000 subscribers across 5
distinct selections of posts, beside a naive baseline.

Ours renders each selection once (`render_digest` + `digest_template`), then makes each
subscriber's copy by substitution (`template.render`). The baseline renders the MJML and
builds an `EmailMessage` for every recipient; it runs on fewer recipients (2,000) and is
compared per message. Both sign each subscriber's links. A third run shows what DKIM
signing (RSA-2048 through OpenSSL) adds to ours, on 500 recipients. Each approach runs in
its own process so its peak memory (ru_maxrss) is its own; the bytes made are
discarded. Figures are printed, never asserted; compare the ratios, not the seconds,
across machines.

    .venv/bin/python -P bench/render.py [--subscribers 100000] [--selections 5]
                                        [--baseline 2000] [--dkim 500]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from dkim import dknewkey

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for bench.corpus
from bench.corpus import WORDS
from bench.phases import peak_mib, run_in_child

if TYPE_CHECKING:
    from pipeline.settings import Settings
    from pipeline.storage.models import Post
    from subscribers import Subscriber, TokenSigner

SITE = "https://blog.example.org"
NEWEST = datetime(2026, 11, 3, 9, tzinfo=UTC)


def selections(count: int) -> list[list[Post]]:
    """`count` selections of 4, 7, 10, … posts (newest first), as plain Post objects."""
    from pipeline.storage.models import Post

    rng = random.Random(42)
    posts = [
        Post(
            guid=f"bench-{number}",
            slug=f"post-{number}",
            title=" ".join(rng.choices(WORDS, k=rng.randint(4, 10))).capitalize(),
            url=f"{SITE}/posts/post-{number}",
            authors=[f"Author {rng.randrange(50)}" for _ in range(rng.randint(1, 3))],
            tags=[],
            summary=(" ".join(rng.choices(WORDS, k=60)).capitalize() + ".")[:300],
            content_html="",
            published=NEWEST - timedelta(days=number),
        )
        for number in range(4 + 3 * (count - 1))
    ]
    return [posts[: 4 + 3 * index] for index in range(count)]


def readers(count: int) -> Iterator[Subscriber]:
    """Subscribers made one at a time, as a cursor over the database would hand them out."""
    from subscribers import Subscriber

    for number in range(count):
        yield Subscriber(
            id=number + 1,
            email=f"reader{number}@example.org",
            name=f"Reader {number}",
            token_nonce=f"nonce{number}",
        )


def ours(
    settings: Settings, signer: TokenSigner, chosen: list[list[Post]]
) -> Callable[[int, Subscriber], bytes]:
    """Each selection rendered once; a copy is one substitution (then signed, if DKIM is set)."""
    from pipeline.digest import digest_recipient, digest_template, render_digest
    from pipeline.mail.dkim import dkim_signer

    templates = [digest_template(settings, render_digest(settings, posts)) for posts in chosen]
    sign = dkim_signer(settings) or (lambda message: message)

    def message(number: int, reader: Subscriber) -> bytes:
        recipient = digest_recipient(settings, signer, reader, str(number))
        return sign(templates[number % len(templates)].render(recipient)).raw

    return message


def naive(
    settings: Settings, signer: TokenSigner, chosen: list[list[Post]]
) -> Callable[[int, Subscriber], bytes]:
    """MJML rendered and an EmailMessage built for every recipient."""
    import html
    from email.message import EmailMessage
    from email.policy import SMTP
    from email.utils import format_datetime, formataddr, make_msgid

    from pipeline.digest import digest_recipient, render_digest
    from pipeline.digest.message import list_headers

    def message(number: int, reader: Subscriber) -> bytes:
        content = render_digest(settings, chosen[number % len(chosen)])
        values = digest_recipient(settings, signer, reader, str(number)).variables
        text, body, headers = content.text, content.html, list_headers(settings)
        for name, value in values.items():
            slot = f"%%{name}%%"
            text, body = text.replace(slot, value), body.replace(slot, html.escape(value))
            headers = {key: header.replace(slot, value) for key, header in headers.items()}
        email = EmailMessage()
        email["From"] = settings.email_from
        email["To"] = formataddr((reader.name, reader.email))
        email["Subject"] = content.subject
        email["Date"] = format_datetime(datetime.now(UTC))
        email["Message-ID"] = make_msgid(domain="blog.example.org")
        for key, header in headers.items():
            email[key] = header
        email.set_content(text, cte="quoted-printable")
        email.add_alternative(body, subtype="html", cte="quoted-printable")
        return email.as_bytes(policy=SMTP)

    return message


APPROACHES = {"ours": ours, "ours+dkim": ours, "naive": naive}


def dkim_settings(folder: Path) -> dict[str, object]:
    """A fresh 2048-bit RSA key in `folder`, as DKIM settings."""
    key = folder / "dkim.key"
    dknewkey.GenRSAKeys(str(key), verbose=False)
    return {"dkim_key_file": key, "dkim_selector": "bench", "dkim_domain": "blog.example.org"}


def phase(approach: str, subscribers: int, count: int) -> None:
    """Make `subscribers` messages the `approach` way in this process; print figures as JSON."""
    from pipeline.settings import load_settings
    from subscribers import TokenSigner

    with tempfile.TemporaryDirectory() as scratch:
        dkim = dkim_settings(Path(scratch)) if approach == "ours+dkim" else {}
        settings = load_settings(
            site_url=SITE,
            site_title="Policy Blog",
            email_from="Policy Blog <news@blog.example.org>",
            **dkim,
        )
        signer = TokenSigner(["a-benchmark-signing-key"])
        chosen = selections(count)
        started = time.perf_counter()
        message = APPROACHES[approach](settings, signer, chosen)  # reads the key, if any
    size = sum(len(message(number, reader)) for number, reader in enumerate(readers(subscribers)))
    seconds = time.perf_counter() - started
    print(
        json.dumps({"seconds": seconds, "peak_mib": peak_mib(), "mean_bytes": size / subscribers})
    )


def run_phase(approach: str, subscribers: int, count: int) -> dict:
    return run_in_child(__file__, "--phase", approach, subscribers, count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--selections", type=int, default=5)
    parser.add_argument("--baseline", type=int, default=2_000, help="recipients for naive")
    parser.add_argument("--dkim", type=int, default=500, help="recipients for ours+dkim")
    parser.add_argument("--phase", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        approach, subscribers, count = args.phase
        phase(approach, int(subscribers), int(count))
        return
    sizes = [len(posts) for posts in selections(args.selections)]
    print(f"selections: {args.selections} ({', '.join(map(str, sizes))} posts)")
    runs = [
        ("ours", args.subscribers, "render once, substitute"),
        ("naive", args.baseline, "MJML + EmailMessage each"),
    ]
    if Path(dknewkey.OPENSSL_BINARY).exists():  # dkimpy's key helper runs openssl
        runs.append(("ours+dkim", args.dkim, "ours, each copy DKIM-signed"))
    rates = {}
    for approach, subscribers, label in runs:
        figures = run_phase(approach, subscribers, args.selections)
        rates[approach] = subscribers / figures["seconds"]
        print(
            f"{approach:>9} ({label}): {subscribers:>7} messages in"
            f" {figures['seconds']:6.2f} s  {rates[approach]:8.0f} messages/s"
            f"  peak {figures['peak_mib']:6.1f} MiB  mean {figures['mean_bytes'] / 1024:5.1f} KiB"
        )
    print(f"ours makes {rates['ours'] / rates['naive']:.0f}x more messages per second than naive")


if __name__ == "__main__":
    main()
