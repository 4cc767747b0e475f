"""An editor's subject and intro for one run: on the command line, in the mail's HTML and
text twins, sanitised, kept by a resumed run, and shown before sending."""

from __future__ import annotations

import email
import json
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path

from cli_runner import delivered, prepared, run
from smtp_server import SMTPServer

from pipeline.digest.runs import start_run
from pipeline.editorial import Editorial, render_intro
from pipeline.settings import load_settings
from pipeline.storage import open_database

HOSTILE_INTRO = """Welcome to **this week**.

<script>alert("x")</script><img src="https://t.example/p.gif" onerror="alert(1)">
<iframe src="https://evil.example/"></iframe><style>body{display:none}</style>

[Our report](https://blog.example.org/report) and [a trap](javascript:alert(1)).
<a href="https://ok.example/" onclick="steal()" style="color:red">fine link</a>

Your address is %%unsubscribe_url%%, or %%email%%.
"""


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


def bodies(message: EmailMessage) -> tuple[str, str]:
    html = message.get_body(("html",))
    text = message.get_body(("plain",))
    assert html is not None and text is not None
    return html.get_content(), text.get_content().replace("\r\n", "\n")


def test_subject_and_intro_reach_both_twins(tmp_path: Path) -> None:
    outbox = prepared(tmp_path)
    (tmp_path / "intro.md").write_text(
        "A word first: *three* things.\n\n- one\n- two\n\nSee [the plan](https://blog.example.org/plan).\n",
        encoding="utf-8",
    )
    sent = run(
        "digest", "send", "--yes", "--subject", "Budget week — our picks", "--intro", "intro.md",
        cwd=tmp_path,
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    [eml] = delivered(outbox)
    message = parse(eml.read_bytes())
    assert message["Subject"] == "Budget week — our picks"
    html, text = bodies(message)
    assert "<em>three</em>" in html and '<a href="https://blog.example.org/plan"' in html
    assert "<li>one</li>" in html
    assert "A word first: three things." in text
    assert "- one\n- two" in text
    assert "the plan (https://blog.example.org/plan)" in text
    assert text.index("A word first") < text.index("Running a library on volunteers")
    assert html.index("A word first") < html.index("<h2")  # after the preheader, before posts


def test_hostile_intro_is_sanitised_in_html_and_text() -> None:
    intro = render_intro(HOSTILE_INTRO)
    lowered = intro.html.lower()
    for banned in (
        "<script",
        "onerror",
        "<iframe",
        "<style",
        'href="javascript:',
        "onclick",
        "style=",
    ):
        assert banned not in lowered, banned
    assert '<a href="https://blog.example.org/report" rel="noopener noreferrer">' in intro.html
    assert "%%" not in intro.html and "%%" not in intro.text
    for banned in ("<", 'alert("x")', "display:none", "steal()"):
        assert banned not in intro.text, banned
    assert "fine link (https://ok.example/)" in intro.text


def test_hostile_intro_through_a_real_send(tmp_path: Path) -> None:
    outbox = prepared(tmp_path)
    (tmp_path / "intro.md").write_text(HOSTILE_INTRO, encoding="utf-8")
    sent = run("digest", "send", "--yes", "--intro", "intro.md", cwd=tmp_path)
    assert sent.returncode == 0, sent.stderr
    [eml] = delivered(outbox)
    html, text = bodies(parse(eml.read_bytes()))
    assert "<script" not in html.lower() and "onerror" not in html
    assert 'href="javascript:' not in html
    assert "/unsubscribe/" not in html.split("Your address is", 1)[1].split("</p>", 1)[0]
    assert "Welcome to this week." in text and "<script" not in text


def test_a_subject_cannot_inject_headers(tmp_path: Path, smtp_server: SMTPServer) -> None:
    prepared(tmp_path)
    environment = {
        "EMAIL_BACKEND": "smtp",
        "SMTP_HOST": smtp_server.host,
        "SMTP_PORT": str(smtp_server.port),
        "SMTP_SECURITY": "none",
    }
    hostile = (
        "News\r\nBcc: evil@example.org\nX-Injected: 1 =?utf-8?q?=0D=0ABcc:_evil2@example.org?="
        " =?utf-8?b?DQpCY2M6IGV2aWwzQGV4YW1wbGUub3Jn?= =?utf-8?q?broken"
    )
    sent = run("digest", "send", "--yes", "--subject", hostile, cwd=tmp_path, **environment)
    assert sent.returncode == 0, sent.stderr
    [envelope] = [e for e in smtp_server.received if "ann@example.org" in e.rcpt_tos]
    assert list(envelope.rcpt_tos) == ["ann@example.org"]
    message = parse(envelope.raw)
    assert message["Bcc"] is None and message["X-Injected"] is None
    subject = str(message["Subject"])
    assert "\r" not in subject and "\n" not in subject
    assert subject.startswith("News Bcc: evil@example.org X-Injected: 1")
    assert "evil2" not in subject and "evil3" not in subject
    header_block = envelope.raw.split(b"\r\n\r\n", 1)[0]
    assert b"\nBcc" not in header_block and b"\nX-Injected" not in header_block


def test_a_resumed_run_keeps_the_subject_and_intro_it_began_with(tmp_path: Path) -> None:
    outbox = prepared(tmp_path)
    config = load_settings(data_dir=tmp_path / "var")
    db = open_database(config.effective_database_url)
    try:
        note = Editorial("First subject", "The *first* intro.")
        started = start_run(db, config, "weekly", datetime.now(UTC), note=note)
        assert started.created
    finally:
        db.close()
    (tmp_path / "other.md").write_text("Another intro.", encoding="utf-8")
    resumed = run(
        "digest", "send", "--yes", "--subject", "Second subject", "--intro", "other.md",
        cwd=tmp_path,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert "keeps its own subject and intro" in resumed.stderr
    [eml] = delivered(outbox)
    message = parse(eml.read_bytes())
    assert message["Subject"] == "First subject"
    html, text = bodies(message)
    assert "<em>first</em>" in html and "Another intro" not in html + text


def test_the_prompt_shows_subject_intro_posts_and_recipients(tmp_path: Path) -> None:
    outbox = prepared(tmp_path)
    run(
        "subscribers",
        "add",
        "cy@example.org",
        "--timezone",
        "Asia/Tokyo",
        "--confirmed",
        cwd=tmp_path,
    )
    (tmp_path / "intro.md").write_text("Hello **readers**.", encoding="utf-8")
    asked = run(
        "digest", "send", "--subject", "Our week", "--intro", "intro.md", cwd=tmp_path
    )  # stdin is no terminal: it shows what it would send, then asks for --yes
    assert asked.returncode == 2
    assert "Add --yes" in asked.stderr
    lines = asked.stdout.splitlines()
    assert lines[0] == "Subject: Our week"
    assert "Intro:" in lines and "  Hello readers." in lines
    assert "Posts (recipients):" in lines
    assert any(line.startswith("  Running a library on volunteers (2)") for line in lines)
    zones = lines[lines.index("Recipients by frequency and time zone:") + 1 :]
    assert [line.split() for line in zones] == [
        ["weekly", "Asia/Tokyo", "1"],
        ["weekly", "Europe/London", "1"],
    ]
    assert delivered(outbox) == []


def test_the_prompt_names_the_default_subject(tmp_path: Path) -> None:
    prepared(tmp_path)
    asked = run("digest", "send", cwd=tmp_path)
    assert asked.returncode == 2
    first = asked.stdout.splitlines()[0]
    assert first.startswith("Subject: ") and len(first) > len("Subject: ") + 5


def test_bad_subject_and_intro_are_one_line_errors(tmp_path: Path) -> None:
    prepared(tmp_path)
    long = run("digest", "send", "--yes", "--subject", "x" * 201, cwd=tmp_path)
    assert (
        long.returncode == 2 and long.stderr.strip() == "error: subject: longer than 200 characters"
    )
    blank = run("digest", "send", "--yes", "--subject", "\r\n\u202e", cwd=tmp_path)
    assert blank.returncode == 2 and "subject: nothing printable" in blank.stderr
    (tmp_path / "bad.md").write_bytes(b"\xff\xfe\x00bad")
    binary = run("digest", "send", "--yes", "--intro", "bad.md", cwd=tmp_path)
    assert binary.returncode == 2 and "bad.md: not UTF-8" in binary.stderr
    missing = run("digest", "send", "--yes", "--intro", "nope.md", cwd=tmp_path)
    assert missing.returncode == 2 and "nope.md: cannot read it" in missing.stderr
    assert "Traceback" not in long.stderr + blank.stderr + binary.stderr + missing.stderr
    assert json_runs(tmp_path) == []


def json_runs(tmp_path: Path) -> list[dict[str, object]]:
    """The digest runs (`prepared` leaves an invitation run for its pending person)."""
    listed = json.loads(run("deliveries", "--json", cwd=tmp_path).stdout)
    return [item for item in listed if item["kind"] == "digest"]
