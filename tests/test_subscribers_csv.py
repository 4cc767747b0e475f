"""CSV import and export on real databases: header detection, BOM, CRLF, quoting, bad rows,
duplicates, suppression, formula protection, and a round trip."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.storage import Database
from subscribers import (
    ImportReport,
    SubscriberStore,
    export_csv,
    import_csv,
    subscriber_json,
)
from subscribers.csv_import import BATCH, REFUSED_KEPT

FIXTURES = Path(__file__).parent / "fixtures" / "csv"
KEPT_FIELDS = ("email", "name", "status", "frequency", "timezone", "topics")


@pytest.fixture
def store(db: Database) -> SubscriberStore:
    return SubscriberStore(db.sessions, default_timezone="Europe/London")


def import_fixture(store: SubscriberStore, name: str, *, confirmed: bool = True) -> ImportReport:
    with (FIXTURES / name).open(encoding="utf-8-sig", newline="") as stream:
        return import_csv(stream, store, confirmed=confirmed)


def snapshot(store: SubscriberStore) -> dict[str, dict[str, object]]:
    return {
        s.email: {field: subscriber_json(s)[field] for field in KEPT_FIELDS}
        for s in store.iter_all()
    }


def test_an_excel_file_with_bom_crlf_quotes_and_bad_rows(store: SubscriberStore) -> None:
    store.suppress("spam-trap@example.org", "complaint")
    report = import_fixture(store, "excel-bom-crlf.csv")
    assert report.header
    assert (report.rows, report.imported, report.merged) == (12, 6, 1)
    assert report.refused == [
        (7, "bad email 'x@'"),
        (9, "unknown frequency 'hourly'"),
        (12, "bad time zone 'Mars/Base'"),
        (15, "bad email 'bad\\r\\n@example.org'"),
    ]
    assert report.refused_count == 4
    assert report.kept_out == [
        (
            14,
            "spam-trap@example.org: kept out (complained): only their own sign-up brings them back",
        )
    ]
    people = snapshot(store)
    assert people["ada@example.org"] == {
        "email": "ada@example.org",
        "name": "Lovelace, Ada",
        "status": "confirmed",
        "frequency": "weekly",  # the duplicate on line 6 merged into line 2
        "timezone": "Europe/London",
        "topics": ["housing", "transport"],
    }
    assert people["Grace@example.org"]["timezone"] == "America/New_York"
    assert people["alan@example.org"]["name"] == "Turing, Alan"
    assert people["alan@example.org"]["topics"] == ["data", "digital"]
    assert people["katherine@example.org"]["name"] == 'Katherine "KJ" Johnson'
    assert "radia@example.org" in people and "hedy@example.org" not in people


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8"])
@pytest.mark.parametrize(
    "content", ["email,name\r\nada@example.org,Ada\r\n", "ada@example.org,Ada\n"]
)
def test_a_bom_is_dropped_however_the_file_was_opened(
    store: SubscriberStore, tmp_path: Path, encoding: str, content: str
) -> None:
    path = tmp_path / "with-bom.csv"
    path.write_text(content, encoding="utf-8-sig")
    with path.open(encoding=encoding, newline="") as stream:
        report = import_csv(stream, store, confirmed=False)
    assert (report.header, report.imported, report.refused) == (content[0] == "e", 1, [])
    assert [(s.email, s.name) for s in store.iter_all()] == [("ada@example.org", "Ada")]


def test_without_a_header_columns_are_positional(store: SubscriberStore) -> None:
    report = import_fixture(store, "positional.csv", confirmed=False)
    assert not report.header
    assert (report.imported, report.refused) == (2, [(3, "bad email 'x@example'")])
    ada = store.find("ada@example.org")
    assert ada is not None
    assert (ada.name, ada.frequency, ada.topics) == (
        "Ada Lovelace",
        "daily",
        ["housing", "transport"],
    )


def test_mailchimp_style_first_and_last_names(store: SubscriberStore) -> None:
    report = import_fixture(store, "mailchimp.csv")
    assert report.imported == 2
    assert [(s.email, s.name) for s in store.iter_all()] == [
        ("jo@example.org", "Jo Bloggs"),
        ("sam@example.org", "Sam"),
    ]


def test_a_status_column_is_honoured(store: SubscriberStore) -> None:
    report = import_fixture(store, "statuses.csv", confirmed=True)
    assert report.refused == []
    assert {s.email: s.status for s in store.iter_all()} == {
        "odd@example.org": "confirmed",  # "subscribed", as other tools say it
        "left@example.org": "unsubscribed",  # recorded, so no later import brings them back
        "waiting@example.org": "pending",
        "in@example.org": "confirmed",
    }


def test_export_protects_formulas_and_reimport_round_trips(store: SubscriberStore) -> None:
    report = import_fixture(store, "formulas.csv")
    assert report.imported == 5 and report.refused == []
    quote = store.find("quote@example.org")
    assert quote is not None and quote.name == "=already quoted"  # another tool's ' dropped
    left, _ = store.add("left@example.org", name="-left", confirmed=True)
    store.unsubscribe(left.id, left.token_nonce)
    before = snapshot(store)

    exported = io.StringIO(newline="")
    assert export_csv(store, exported) == 6
    text = exported.getvalue()
    assert text.startswith(
        "email,name,status,frequency,timezone,topics,labels,created,confirmed_at,unsubscribed_at\r\n"
    )
    assert text.count("\r\n") == 7
    cells = [cell for row in csv.reader(io.StringIO(text, newline="")) for cell in row]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert '\'=HYPERLINK("http://evil.example/","click")' in cells
    assert "'=eq@example.org" in cells and "'-dash@example.org" in cells
    assert "'=cmd;' /C calc'!A0" in cells

    for email in before:
        store.remove(email)
    again = import_csv(io.StringIO(text, newline=""), store, confirmed=True)
    assert (again.imported, again.refused) == (6, [])
    assert snapshot(store) == before  # the one who left is back on file as unsubscribed


def test_refusals_kept_are_capped_but_all_counted(store: SubscriberStore) -> None:
    rows = "".join(f"not-an-address-{n}\n" for n in range(REFUSED_KEPT + 500))
    report = import_csv(io.StringIO(rows), store, confirmed=False)
    assert report.refused_count == report.rows == REFUSED_KEPT + 500
    assert len(report.refused) == REFUSED_KEPT
    assert report.refused[-1] == (REFUSED_KEPT, f"bad email 'not-an-address-{REFUSED_KEPT - 1}'")


def test_batches_commit_and_duplicates_across_them_merge(store: SubscriberStore) -> None:
    count = BATCH * 2 + 17
    rows = "".join(f"reader{n % (BATCH + 3)}@example.org,Reader {n}\n" for n in range(count))
    report = import_csv(io.StringIO(rows), store, confirmed=True)
    assert (report.imported, report.merged, report.refused_count) == (
        BATCH + 3,
        count - BATCH - 3,
        0,
    )
    assert store.counts()["status"]["confirmed"] == BATCH + 3


CELLS = st.one_of(
    st.emails(),
    st.sampled_from(["", " ", "x@", "daily", "hourly", "Mars/Base", "UTC", "a;b|c", "=1+1", "'"]),
    st.text(alphabet=st.characters(exclude_characters="\x00"), max_size=30),
)
NO_FIXTURE_RESET = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@NO_FIXTURE_RESET
@given(st.lists(st.lists(CELLS, max_size=6), max_size=25))
def test_every_written_row_is_accounted_for(store: SubscriberStore, rows: list[list[str]]) -> None:
    written = io.StringIO(newline="")
    csv.writer(written, lineterminator="\r\n").writerows(rows)
    report = import_csv(io.StringIO(written.getvalue(), newline=""), store, confirmed=False)
    data_rows = sum(1 for row in rows if any(cell.strip() for cell in row)) - report.header
    assert report.rows == data_rows
    assert report.imported + report.merged + report.refused_count == data_rows


@NO_FIXTURE_RESET
@given(st.text())
def test_any_text_gives_a_report(store: SubscriberStore, text: str) -> None:
    report = import_csv(io.StringIO(text), store, confirmed=False)
    assert report.imported + report.merged + report.refused_count == report.rows
    assert report.rows <= text.count("\n") + text.count("\r") + 1
    assert all("\n" not in reason and "\r" not in reason for _, reason in report.refused)
