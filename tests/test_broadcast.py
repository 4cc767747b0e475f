"""`newsletter broadcast FILE.md`: a one-off mail through the outbox, to everyone confirmed
or to one topic, through a real SMTP server and the file backend; a test copy queues
nothing; the same file sent again is the same run."""

from __future__ import annotations

import email
import json
from email import policy
from email.message import EmailMessage
from pathlib import Path

from cli_runner import delivered, prepared, run
from smtp_server import SMTPServer

from pipeline.settings import load_settings
from pipeline.storage import open_database
from pipeline.storage.models import DigestRun, OutboxItem
from subscribers import SubscriberStore

BROADCAST = """---
subject: "Our summer event\\r\\nBcc: evil@example.org"
---
Dear readers,

Join us on **12 June** at the [institute](https://blog.example.org/visit).
<script>alert(1)</script><img src=x onerror="alert(2)">
"""


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


def smtp(server: SMTPServer) -> dict[str, str]:
    return {
        "EMAIL_BACKEND": "smtp",
        "SMTP_HOST": server.host,
        "SMTP_PORT": str(server.port),
        "SMTP_SECURITY": "none",
    }


def runs(tmp_path: Path) -> list[dict[str, object]]:
    """The broadcast runs (`prepared` leaves an invitation run for its pending person)."""
    listed = run("deliveries", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    return [item for item in json.loads(listed.stdout) if item["kind"] == "broadcast"]


def outbox_rows(tmp_path: Path) -> int:
    """Outbox rows of any run but an invitation round."""
    db = open_database(load_settings(data_dir=tmp_path / "var").effective_database_url)
    try:
        with db.session() as session:
            return (
                session.query(OutboxItem)
                .join(DigestRun, DigestRun.id == OutboxItem.run_id)
                .filter(DigestRun.kind != "invitation")
                .count()
            )
    finally:
        db.close()


def test_a_broadcast_reaches_every_confirmed_subscriber_over_smtp(
    tmp_path: Path, smtp_server: SMTPServer
) -> None:
    prepared(tmp_path)  # ann (weekly) and bo (daily) confirmed, one pending
    run("subscribers", "add", "gone@example.org", "--confirmed", cwd=tmp_path)
    run("subscribers", "remove", "gone@example.org", cwd=tmp_path)
    (tmp_path / "event.md").write_text(BROADCAST, encoding="utf-8")
    sent = run("broadcast", "event.md", "--yes", cwd=tmp_path, **smtp(smtp_server))
    assert sent.returncode == 0, sent.stderr
    assert "2 sent, 0 failed" in sent.stdout
    received = {e.rcpt_tos[0]: parse(e.raw) for e in smtp_server.received if e.rcpt_tos}
    received.pop("pending@example.org", None)  # the request to confirm, sent at `add`
    assert sorted(received) == ["ann@example.org", "bo@example.org"]
    for message in received.values():
        assert message["Subject"] == "Our summer event Bcc: evil@example.org"
        assert message["Bcc"] is None
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        html = message.get_body(("html",)).get_content()
        text = message.get_body(("plain",)).get_content()
        assert "<strong>12 June</strong>" in html and "<script" not in html
        assert "onerror" not in html
        assert "Dear readers," in text and "institute (https://blog.example.org/visit)" in text
        assert "/unsubscribe/" in text
    [listed] = runs(tmp_path)
    assert listed["kind"] == "broadcast" and listed["status"] == "done"
    assert listed["counts"]["sent"] == 2 and listed["topic"] is None

    again = run("broadcast", "event.md", "--yes", cwd=tmp_path, **smtp(smtp_server))
    assert again.returncode == 0, again.stderr
    assert f"this broadcast is done (run {listed['id']}): nothing to send" in again.stdout
    assert len(runs(tmp_path)) == 1


def test_a_broadcast_to_one_topic_reaches_only_that_topic(tmp_path: Path) -> None:
    outbox = prepared(tmp_path)
    config = load_settings(data_dir=tmp_path / "var")
    db = open_database(config.effective_database_url)
    try:
        store = SubscriberStore(db.sessions, default_timezone=config.timezone)
        store.add("tina@example.org", topics=["Transport", "Budgets"], confirmed=True)
        store.add("otto@example.org", topics=["Housing"], confirmed=True)
    finally:
        db.close()
    (tmp_path / "note.md").write_text("# Transport update\n\nBuses run again.\n", encoding="utf-8")
    sent = run("broadcast", "note.md", "--topic", "transport", "--yes", cwd=tmp_path)
    assert sent.returncode == 0, sent.stderr
    [eml] = delivered(outbox)
    message = parse(eml.read_bytes())
    assert message["To"] == "tina@example.org"
    assert message["Subject"] == "Transport update"
    assert (
        "Transport update"
        not in message.get_body(("plain",)).get_content().split("Buses run again.")[1]
    )
    [listed] = runs(tmp_path)
    assert listed["topic"] == "transport" and listed["counts"]["sent"] == 1


def test_test_to_sends_one_mail_and_queues_nothing(tmp_path: Path) -> None:
    outbox = prepared(tmp_path)
    (tmp_path / "event.md").write_text(BROADCAST, encoding="utf-8")
    tested = run("broadcast", "event.md", "--test-to", "editor@example.org", cwd=tmp_path)
    assert tested.returncode == 0, tested.stderr
    assert tested.stdout.strip() == "test broadcast sent to editor@example.org"
    [eml] = delivered(outbox)
    message = parse(eml.read_bytes())
    assert message["To"] == "editor@example.org"
    assert "/unsubscribe/" not in eml.read_bytes().decode("utf-8", "replace")
    assert runs(tmp_path) == [] and outbox_rows(tmp_path) == 0


def test_the_prompt_shows_subject_body_and_recipients(tmp_path: Path) -> None:
    outbox = prepared(tmp_path)
    (tmp_path / "event.md").write_text(BROADCAST, encoding="utf-8")
    asked = run("broadcast", "event.md", cwd=tmp_path)
    assert asked.returncode == 2 and "Add --yes" in asked.stderr
    lines = asked.stdout.splitlines()
    assert lines[0] == "Subject: Our summer event Bcc: evil@example.org"
    assert "Topic: all confirmed subscribers" in lines and "  Dear readers," in lines
    zones = lines[lines.index("Recipients by frequency and time zone:") + 1 :]
    assert [line.split() for line in zones] == [
        ["daily", "Europe/London", "1"],
        ["weekly", "Europe/London", "1"],
    ]
    assert delivered(outbox) == [] and runs(tmp_path) == []


def test_bad_broadcast_files_are_one_line_errors(tmp_path: Path) -> None:
    prepared(tmp_path)
    (tmp_path / "nosubject.md").write_text("Just text.\n", encoding="utf-8")
    (tmp_path / "empty.md").write_text("---\nsubject: Hi\n---\n\n", encoding="utf-8")
    (tmp_path / "yaml.md").write_text("---\nsubject: [unclosed\n---\nText\n", encoding="utf-8")
    (tmp_path / "binary.md").write_bytes(b"\xff\xfe\xfa")
    (tmp_path / "huge.md").write_text("# Big\n\n" + "word " * 10_000, encoding="utf-8")
    expected = {
        "nosubject.md": "nosubject.md: subject: a broadcast needs one",
        "empty.md": "empty.md: body: a broadcast needs some text",
        "yaml.md": "yaml.md: front matter",
        "binary.md": "binary.md: not UTF-8",
        "huge.md": "huge.md: longer than 20000 characters",
        "missing.md": "missing.md: cannot read it",
    }
    for name, message in expected.items():
        result = run("broadcast", name, "--yes", cwd=tmp_path)
        assert result.returncode == 2, (name, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert runs(tmp_path) == []
