"""`newsletter digest …` and `newsletter deliveries` as a user runs them (file backend)."""

from __future__ import annotations

import email
import json
import stat
from email import policy
from pathlib import Path
from typing import Any

from cli_runner import CONTENT, delivered, prepared, run


def digest_runs(folder: Path) -> list[dict[str, Any]]:
    """`deliveries --json` but the rounds of invitations (the pending subscriber's)."""
    listed = json.loads(run("deliveries", "--json", cwd=folder).stdout)
    return [delivery for delivery in listed if delivery["frequency"] != "invitation"]


def test_dry_run_lists_recipients_and_sends_nothing(tmp_path: Path) -> None:
    outbox = prepared(tmp_path)
    result = run("digest", "send", "--dry-run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("ann@example.org: 2 posts (Running a library on volunteers; ")
    assert lines[-1] == "1 subscribers would get the weekly digest"
    assert delivered(outbox) == []
    assert digest_runs(tmp_path) == []


def test_dry_run_names_exactly_whom_the_send_would_mail(tmp_path: Path) -> None:
    outbox = prepared(tmp_path)
    dry = run("digest", "send", "--dry-run", cwd=tmp_path).stdout.splitlines()
    assert run("digest", "send", "--yes", cwd=tmp_path).returncode == 0
    [eml] = delivered(outbox)
    message = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    body = message.get_body(("plain",)).get_content()
    [line] = [line for line in dry if "@" in line]
    address, listed = line.split(": ", 1)
    assert message["To"] == f"Ann <{address}>"
    for title in listed.split("(", 1)[1].rstrip(")").split("; "):
        assert title in body
    # This period's run is done: a subscriber added now gets nothing until the next one,
    # and the dry run says so instead of planning a run that will not happen.
    run("subscribers", "add", "cy@example.org", "--confirmed", cwd=tmp_path)
    again = run("digest", "send", "--dry-run", cwd=tmp_path).stdout.splitlines()
    assert again[-1] == "0 subscribers would get the weekly digest"
    assert "is done" in again[0] and "cy@example.org" not in "".join(again)
    real = run("digest", "send", "--yes", cwd=tmp_path)
    assert "nothing to send" in real.stdout and len(delivered(outbox)) == 1


def test_ingest_keeps_the_back_catalogue_out_of_the_first_digest(tmp_path: Path) -> None:
    (tmp_path / "content").symlink_to(CONTENT)
    assert run("ingest", cwd=tmp_path).returncode == 0
    run("subscribers", "add", "ann@example.org", "--confirmed", cwd=tmp_path)
    dry = run("digest", "send", "--dry-run", cwd=tmp_path)
    assert dry.stdout.splitlines() == ["0 subscribers would get the weekly digest"]
    listed = json.loads(run("posts", "list", "--json", cwd=tmp_path).stdout)
    undated = {post["title"] for post in listed if post["dated"] is False}
    assert undated == {"Running a library on volunteers", "Why we stopped writing five-year plans"}


def test_send_asks_unless_yes_then_sends_once(tmp_path: Path) -> None:
    outbox = prepared(tmp_path)
    refused = run("digest", "send", cwd=tmp_path)
    assert refused.returncode == 2
    assert "to 1 subscribers? Add --yes to send without asking." in refused.stderr
    sent = run("digest", "send", "--yes", cwd=tmp_path)
    assert sent.returncode == 0, sent.stderr
    [delivery] = digest_runs(tmp_path)
    assert sent.stdout.strip() == f"run {delivery['id']}: 1 sent, 0 failed, 0 skipped (done)"
    [eml] = delivered(outbox)
    message = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert message["To"] == "Ann <ann@example.org>"
    again = run("digest", "send", "--yes", cwd=tmp_path)
    assert f"is done (run {delivery['id']}): nothing to send" in again.stdout
    assert len(delivered(outbox)) == 1
    [delivery] = digest_runs(tmp_path)
    assert delivery["frequency"] == "weekly" and delivery["status"] == "done"
    assert delivery["counts"] == {"queued": 0, "sending": 0, "sent": 1, "failed": 0, "skipped": 0}


def test_test_send_touches_no_state(tmp_path: Path) -> None:
    outbox = prepared(tmp_path)
    result = run("digest", "send", "--test-to", "editor@example.org", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "test digest (2 posts) sent to editor@example.org"
    [eml] = delivered(outbox)
    assert b"editor@example.org" in eml.read_bytes()
    assert digest_runs(tmp_path) == []
    assert "1 subscribers would get" in run("digest", "send", "--dry-run", cwd=tmp_path).stdout


def test_preview_for_a_sample_reader_and_unknown_email(tmp_path: Path) -> None:
    prepared(tmp_path)
    result = run("digest", "preview", "--frequency", "daily", cwd=tmp_path)
    assert result.stdout.split() == [
        "var/preview/digest-daily.html",
        "var/preview/digest-daily.txt",
    ]
    html = (tmp_path / "var/preview/digest-daily.html").read_text()
    assert '<html lang="en"' in html and "Running a library on volunteers" in html
    unknown = run("digest", "preview", "--email", "nobody@example.org", cwd=tmp_path)
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == "error: nobody@example.org: not on the list"


def test_bad_addresses_are_one_line_errors(tmp_path: Path) -> None:
    prepared(tmp_path)
    for args, message in [
        (("send", "--test-to", "not-an-address"), "error: not-an-address: bad email"),
        (("preview", "--email", "bad@"), "error: bad@: bad email 'bad@'"),
    ]:
        result = run("digest", *args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.startswith(message)
        assert len(result.stderr.strip().splitlines()) == 1


def test_an_unworkable_backend_is_one_line_and_starts_no_run(tmp_path: Path) -> None:
    prepared(tmp_path)
    for args in (("send", "--yes"), ("send", "--test-to", "editor@example.org")):
        result = run("digest", *args, cwd=tmp_path, EMAIL_BACKEND="postmark")
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip() == (
            "error: NEWSLETTER_API_KEY: needed for NEWSLETTER_EMAIL_BACKEND=postmark"
        )
    assert digest_runs(tmp_path) == []


def test_a_preview_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    """A preview for a subscriber carries their live manage link."""
    prepared(tmp_path)
    result = run("digest", "preview", "--email", "ann@example.org", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    paths = [tmp_path / line for line in result.stdout.split()]
    assert [path.suffix for path in paths] == [".html", ".txt"]
    for path in paths:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert "/preferences/" in path.read_text()


def test_preview_into_an_unwritable_folder_is_one_line(tmp_path: Path) -> None:
    prepared(tmp_path)
    (tmp_path / "a-file").write_text("not a folder")
    result = run("digest", "preview", "--out", "a-file/sub", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: cannot write the preview to a-file/sub: Not a directory"


def test_a_bad_email_from_stops_config_check_and_send_before_anything_is_queued(
    tmp_path: Path,
) -> None:
    prepared(tmp_path)
    for command in (("config", "check"), ("digest", "send", "--yes")):
        result = run(*command, cwd=tmp_path, EMAIL_FROM="not an email")
        assert result.returncode == 2, command
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("error: NEWSLETTER_EMAIL_FROM: ")
    assert digest_runs(tmp_path) == []


def test_a_full_disk_pauses_the_run_and_deliveries_resume_finishes_it(tmp_path: Path) -> None:
    outbox = prepared(tmp_path)
    kept = outbox.rename(outbox.with_name("kept"))
    outbox.symlink_to("/dev/full")  # no file can be written there, as on a full disk
    stuck = run("digest", "send", "--yes", cwd=tmp_path)
    assert stuck.returncode == 1, stuck.stderr
    assert "(paused)" in stuck.stdout and "tried again at" in stuck.stdout
    assert "deliveries resume" in stuck.stderr and "Traceback" not in stuck.stderr
    [paused] = digest_runs(tmp_path)
    assert (paused["status"], paused["counts"]["queued"]) == ("paused", 1)
    outbox.unlink()
    kept.rename(outbox)
    resumed = run("deliveries", "resume", str(paused["id"]), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "1 sent" in resumed.stdout and "(done)" in resumed.stdout
    assert len(delivered(outbox)) == 1


def test_deliveries_pause_and_cancel_from_the_shell(tmp_path: Path) -> None:
    prepared(tmp_path)
    run("digest", "send", "--yes", "--frequency", "daily", cwd=tmp_path)
    [done] = digest_runs(tmp_path)
    refused = run("deliveries", "pause", str(done["id"]), cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.strip() == f"error: run {done['id']} is done: it cannot be paused"
    assert run("deliveries", "cancel", "999", cwd=tmp_path).stderr.strip() == (
        "error: no digest run 999"
    )
