"""`newsletter subscribers …` as a user runs it: real processes on a real SQLite file."""

from __future__ import annotations

import csv
import json
import stat
from pathlib import Path

from cli_runner import run


def listed(tmp_path: Path) -> dict[str, dict]:
    result = run("subscribers", "list", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return {item["email"]: item for item in json.loads(result.stdout)}


def test_add_then_update_then_list_json(tmp_path: Path) -> None:
    added = run(
        "subscribers", "add", "Ann@Example.org", "--name", "Ann Lee", "--frequency", "daily",
        "--timezone", "America/New_York", cwd=tmp_path,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert added.stdout.splitlines() == [
        "added Ann@example.org (pending, daily)",
        "1 confirmation mails queued, 0 held back (asked within the hour)",
        "confirmations: run 1: 1 sent, 0 failed, 0 skipped (done)",
    ]
    updated = run("subscribers", "add", "ann@example.org", "--confirmed", cwd=tmp_path)
    assert updated.stdout.strip() == "updated Ann@example.org (confirmed, daily)"
    [(email, ann)] = listed(tmp_path).items()
    assert email == "Ann@example.org"
    assert {k: ann[k] for k in ("name", "status", "frequency", "timezone")} == {
        "name": "Ann Lee",
        "status": "confirmed",
        "frequency": "daily",
        "timezone": "America/New_York",
    }


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    for args, message in [
        (("add", "not-an-address"), "error: not-an-address: bad email 'not-an-address'"),
        (("add", "a@example.org", "--timezone", "Mars/Base"), "bad time zone 'Mars/Base'"),
        (("remove", "nobody@example.org"), "error: nobody@example.org: not on the list"),
        (("show", "nobody@example.org"), "error: nobody@example.org: not on the list"),
        (("import", "missing.csv"), "error: missing.csv: No such file or directory"),
    ]:
        result = run("subscribers", *args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.stderr


def test_import_reports_bad_rows_and_keeps_good_ones(tmp_path: Path) -> None:
    (tmp_path / "list.csv").write_bytes(
        "\ufeffEmail,Name,Frequency,Timezone,Topics\r\n"
        'bo@example.org,"Chen, Bo",weekly,Europe/Paris,housing;data\r\n'
        "x@,X,weekly,,\r\n"
        "cy@example.org,Cy,hourly,,\r\n"
        "dee@example.org,Dee,monthly,Mars/Base,\r\n"
        "BO@example.org,Bo Chen,daily,,\r\n"
        "eve@example.org,,,,\r\n".encode()
    )
    result = run("subscribers", "import", "list.csv", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "list.csv:3: bad email 'x@'",
        "list.csv:4: unknown frequency 'hourly'",
        "list.csv:5: bad time zone 'Mars/Base'",
    ]
    assert result.stdout.splitlines() == [
        "list.csv: tags kept as labels (no post has them): housing (1), data (1)",
        "list.csv: 2 imported, 1 merged, 0 kept out, 3 refused",
        "2 confirmation mails queued, 0 held back (asked within the hour)",
        "confirmations: run 1: 2 sent, 0 failed, 0 skipped (done)",
    ]
    people = listed(tmp_path)
    assert sorted(people) == ["bo@example.org", "eve@example.org"]
    assert people["bo@example.org"]["frequency"] == "daily"
    # No post has these tags yet: as topics they would filter out every post.
    assert people["bo@example.org"]["topics"] == []
    assert people["bo@example.org"]["labels"] == ["housing", "data"]
    assert {item["status"] for item in people.values()} == {"pending"}
    confirmed = run("subscribers", "import", "list.csv", "--confirmed", cwd=tmp_path)
    assert "0 imported, 3 merged, 0 kept out, 3 refused" in confirmed.stdout
    assert {item["status"] for item in listed(tmp_path).values()} == {"confirmed"}


def test_export_is_formula_safe_rfc4180(tmp_path: Path) -> None:
    run("subscribers", "add", "eq@example.org", "--name", '=HYPERLINK("http://x")', cwd=tmp_path)
    run("subscribers", "add", "plus@example.org", "--name", "+1 Trouble, Esq.", cwd=tmp_path)
    result = run("subscribers", "export", "out.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "out.csv: 2 subscribers exported"
    raw = (tmp_path / "out.csv").read_bytes()
    assert raw.count(b"\r\n") == 3 and b"\n" not in raw.replace(b"\r\n", b"")
    rows = list(csv.DictReader(raw.decode().splitlines()))
    assert [row["name"] for row in rows] == ['\'=HYPERLINK("http://x")', "'+1 Trouble, Esq."]


def test_export_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    run("subscribers", "add", "ann@example.org", cwd=tmp_path)
    (tmp_path / "old.csv").write_text("was here")
    (tmp_path / "old.csv").chmod(0o644)
    for name in ("new.csv", "old.csv"):
        result = run("subscribers", "export", name, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
        assert "ann@example.org" in (tmp_path / name).read_text()


def test_show_then_erase(tmp_path: Path) -> None:
    run("subscribers", "add", "gdpr@example.org", "--name", "Gee", cwd=tmp_path)
    shown = run("subscribers", "show", "gdpr@example.org", cwd=tmp_path)
    [data] = json.loads(shown.stdout)
    assert data["name"] == "Gee"
    assert [consent["method"] for consent in data["consents"]] == ["cli"]
    erased = run("subscribers", "remove", "gdpr@example.org", "--erase", cwd=tmp_path)
    assert erased.stdout.strip() == "gdpr@example.org: erased"
    assert listed(tmp_path) == {}
    # Nothing left on disk either: not in the database file, nor in its write-ahead log.
    stored = b"".join(path.read_bytes() for path in (tmp_path / "var").glob("newsletter.db*"))
    assert b"gdpr@example.org" not in stored and b"Gee" not in stored
    again = run("subscribers", "add", "gdpr@example.org", cwd=tmp_path)
    assert again.returncode == 2
    assert "gdpr@example.org: kept out (erased)" in again.stderr


def test_import_of_a_file_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "latin1.csv").write_bytes("email,name\nzoe@example.org,Zoé\n".encode("latin-1"))
    result = run("subscribers", "import", "latin1.csv", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: latin1.csv: not UTF-8 text (byte 29)"
    assert listed(tmp_path) == {}


def test_no_command_brings_back_someone_who_unsubscribed(tmp_path: Path) -> None:
    run("subscribers", "add", "out@example.org", "--confirmed", cwd=tmp_path)
    (tmp_path / "left.csv").write_text("email,status\nout@example.org,unsubscribed\n")
    assert run("subscribers", "import", "left.csv", cwd=tmp_path).returncode == 0
    assert listed(tmp_path)["out@example.org"]["status"] == "unsubscribed"

    again = run("subscribers", "add", "OUT@example.org", "--confirmed", cwd=tmp_path)
    assert again.returncode == 2
    assert "OUT@example.org: kept out (unsubscribed)" in again.stderr
    (tmp_path / "back.csv").write_text("email\nout@example.org\nnew@example.org\n")
    imported = run("subscribers", "import", "back.csv", "--confirmed", cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert "back.csv:2: out@example.org: kept out (unsubscribed)" in imported.stdout
    assert "1 imported, 0 merged, 1 kept out, 0 refused" in imported.stdout
    people = listed(tmp_path)
    assert people["out@example.org"]["status"] == "unsubscribed"
    assert people["new@example.org"]["status"] == "confirmed"


def test_import_of_a_tool_export_dry_run_first(tmp_path: Path) -> None:
    fixtures = Path(__file__).parent / "fixtures" / "imports"
    for name in ("subscribed_members_export_7f3a9c.csv", "unsubscribed_members_export_7f3a9c.csv"):
        (tmp_path / name).write_bytes((fixtures / name).read_bytes())
    dry = run(
        "subscribers", "import", "unsubscribed_members_export_7f3a9c.csv", "--dry-run",
        cwd=tmp_path,
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.splitlines()
    assert (
        lines[0]
        == "unsubscribed_members_export_7f3a9c.csv:2: dee@example.org: new, unsubscribed, weekly"
    )
    assert "read as a Mailchimp export" in dry.stdout
    assert "would be: 2 imported, 0 merged, 0 kept out, 0 refused" in dry.stdout
    assert listed(tmp_path) == {}

    run("subscribers", "import", "unsubscribed_members_export_7f3a9c.csv", cwd=tmp_path)
    result = run(
        "subscribers", "import", "subscribed_members_export_7f3a9c.csv", "--confirmed",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (
        "tags kept as labels (no post has them): Housing (1), VIP readers (1), transport (1)"
        in (result.stdout)
    )
    assert "2 imported, 0 merged, 1 kept out, 0 refused" in result.stdout
    people = listed(tmp_path)
    assert people["ann@example.org"]["status"] == "unsubscribed"
    assert people["bo@example.org"]["status"] == "confirmed"
    assert people["cy@example.org"]["labels"] == ["transport"]  # no posts: no topics
