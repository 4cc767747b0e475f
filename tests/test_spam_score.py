"""SpamAssassin (the installed one, with its shipped rules, local tests only) hits no rule
with a positive score on the digest, the confirmation or the welcome mail, as they arrive
at a real SMTP server. Skipped where `spamassassin` is not installed."""

from __future__ import annotations

import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from smtp_server import SMTPServer

from pipeline.delivery.single import send_one
from pipeline.digest.runs import start_run
from pipeline.ingest import ingest
from pipeline.mail.confirmation import confirmation_message
from pipeline.mail.welcome import welcome_message
from pipeline.outbox import send_run
from pipeline.settings import Settings
from pipeline.storage import Database
from subscribers import SubscriberStore

pytest_plugins = ["smtp_server"]
SPAMASSASSIN = shutil.which("spamassassin")
# A rule line of the report: "-0.0 NO_RECEIVED   Informational: ..." or " 0.7 HTML_...".
RULE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+([A-Z0-9_]+)\s", re.MULTILINE)
POST = """---
title: {title}
date: {date}
author: Ann Lee
tags: [Housing]
---
<img src="https://blog.example.org/images/{slug}.jpg" alt="A street of terraced houses">

Councils are rethinking how they fund housing repairs. This post looks at three
boroughs that changed their approach and what the residents said about it.
"""


def rules_hit(raw: bytes) -> dict[str, float]:
    """Each rule SpamAssassin's report names for `raw`, with its score."""
    assert SPAMASSASSIN is not None
    report = subprocess.run(
        [SPAMASSASSIN, "-L", "-t"], input=raw, capture_output=True, timeout=300, check=True
    ).stdout.decode("utf-8", "replace")
    details = report.split("Content analysis details:", 1)[1]
    return {name: float(points) for points, name in RULE.findall(details)}


@pytest.mark.skipif(SPAMASSASSIN is None, reason="spamassassin is not installed")
def test_no_rule_with_a_positive_score_on_any_mail(
    settings: Settings,
    smtp_settings: Settings,
    db: Database,
    posts_dir: Path,
    smtp_server: SMTPServer,
) -> None:
    now = datetime.now(UTC)
    for number, title in enumerate(["Repairs that last", "Who pays for damp", "Street by street"]):
        date = (now - timedelta(days=number + 1)).isoformat()
        slug = f"post-{number}"
        (posts_dir / f"{slug}.md").write_text(
            POST.format(title=title, date=date, slug=slug), encoding="utf-8"
        )
    ingest(db, settings)
    store = SubscriberStore(db.sessions, default_timezone=smtp_settings.timezone)
    person, _ = store.add("ann@example.org", name="Ann Lee", confirmed=True)
    run = start_run(db, smtp_settings, "weekly", now).run
    assert send_run(db, smtp_settings, run.id).sent == 1
    base = smtp_settings.base_url
    assert send_one(
        smtp_settings,
        confirmation_message(smtp_settings, to_email="bo@example.org", confirm_url=f"{base}/c/x"),
    ).ok
    assert send_one(
        smtp_settings,
        welcome_message(
            smtp_settings,
            person,
            preferences_url=f"{base}/preferences/x",
            unsubscribe_url=f"{base}/unsubscribe/x",
        ),
    ).ok
    raws = [envelope.raw for envelope in smtp_server.received]
    assert len(raws) == 3
    assert b"terraced houses" in raws[0]  # the digest, with its lead images
    with ThreadPoolExecutor(3) as pool:
        reports = list(pool.map(rules_hit, raws))
    for raw, hits in zip(raws, reports, strict=True):
        assert "HTML_MESSAGE" in hits  # the report was read
        positive = {name: score for name, score in hits.items() if score > 0}
        assert positive == {}, raw.split(b"\r\n\r\n")[0].decode()
