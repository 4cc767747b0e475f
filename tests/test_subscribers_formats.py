"""Moving in from other tools: each one's export, with people who had left, read as that
tool means it. The fixtures follow each tool's documented export columns."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.storage import Database
from subscribers import ImportReport, SubscriberStore, import_csv
from subscribers.formats import moment, tag_list

FIXTURES = Path(__file__).parent / "fixtures" / "imports"
SITE_TAGS = ["Housing", "Transport", "Podcast"]


@pytest.fixture
def store(db: Database) -> SubscriberStore:
    return SubscriberStore(db.sessions, default_timezone="Europe/Paris")


def load(
    store: SubscriberStore, name: str, *, confirmed: bool = True, dry_run: bool = False
) -> ImportReport:
    with (FIXTURES / name).open(encoding="utf-8-sig", newline="") as stream:
        return import_csv(
            stream,
            store,
            confirmed=confirmed,
            site_tags=SITE_TAGS,
            file_name=name,
            dry_run=dry_run,
        )


def statuses(store: SubscriberStore) -> dict[str, str]:
    return {s.email: s.status for s in store.iter_all()}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_mailchimp_subscribed_unsubscribed_and_cleaned_files(store: SubscriberStore) -> None:
    report = load(store, "subscribed_members_export_7f3a9c.csv")
    assert (report.format, report.imported, report.refused) == ("Mailchimp", 3, [])
    ann = store.find("ann@example.org")
    assert ann is not None
    assert (ann.name, ann.status, ann.timezone) == ("Ann Lee", "confirmed", "Europe/London")
    assert (ann.topics, ann.labels) == (["Housing"], ["VIP readers"])
    assert ann.confirmed_at == at("2021-03-01 09:20:11")  # CONFIRM_TIME, not the import's
    assert ann.created == at("2021-03-01 09:20:11")
    data = store.personal_data("bo@example.org")
    assert data is not None and data["consents"][0]["ip"] == "203.0.113.9"  # CONFIRM_IP
    cy = store.find("cy@example.org")
    assert cy is not None and (cy.timezone, cy.topics) == ("Europe/Paris", ["Transport"])
    assert report.labels == {"VIP readers": 1}

    left = load(store, "unsubscribed_members_export_7f3a9c.csv")
    assert (left.imported, left.merged) == (1, 1)
    dee = store.find("dee@example.org")
    assert dee is not None and dee.status == "unsubscribed"
    assert dee.unsubscribed_at == at("2024-06-30 21:45:10")  # UNSUB_TIME
    cleaned = load(store, "cleaned_members_export_7f3a9c.csv")
    assert cleaned.imported == 1
    assert statuses(store) == {
        "ann@example.org": "unsubscribed",  # the later export says she left
        "bo@example.org": "confirmed",
        "cy@example.org": "confirmed",
        "dee@example.org": "unsubscribed",
        "gone@example.net": "bounced",
    }

    again = load(store, "subscribed_members_export_7f3a9c.csv")
    assert again.kept_out_count == 1 and again.kept_out[0][0] == 2
    assert "ann@example.org: kept out (unsubscribed)" in again.kept_out[0][1]
    assert statuses(store)["ann@example.org"] == "unsubscribed"


def test_a_mailchimp_file_named_unsubscribed_is_read_as_such(
    store: SubscriberStore, tmp_path: Path
) -> None:
    source = FIXTURES / "subscribed_members_export_7f3a9c.csv"
    renamed = tmp_path / "unsubscribed_email_audience_export_7f3a9c.csv"
    renamed.write_bytes(source.read_bytes())
    with renamed.open(encoding="utf-8-sig", newline="") as stream:
        report = import_csv(stream, store, confirmed=True, file_name=renamed.name)
    assert report.imported == 3
    assert set(statuses(store).values()) == {"unsubscribed"}


def test_substack_email_disabled_rows_are_unsubscribed(store: SubscriberStore) -> None:
    report = load(store, "email_list.policy-notes.csv")
    assert (report.format, report.imported) == ("Substack", 3)
    assert statuses(store) == {
        "reader.one@example.org": "confirmed",
        "paying@example.org": "confirmed",
        "quiet@example.org": "unsubscribed",
    }
    reader = store.find("reader.one@example.org")
    assert reader is not None and reader.confirmed_at == at("2023-04-05 12:30:45")


def test_buttondown_types(store: SubscriberStore) -> None:
    report = load(store, "buttondown-subscribers.csv")
    assert report.format == "Buttondown"
    assert report.refused == [(7, "not subscribed (Buttondown type 'spammy')")]
    assert statuses(store) == {
        "reg@example.org": "confirmed",
        "waiting@example.org": "pending",
        "left@example.org": "unsubscribed",
        "bad@example.org": "bounced",
        "angry@example.org": "complained",
    }
    reg = store.find("reg@example.org")
    assert reg is not None and reg.topics == ["Housing", "Podcast"]  # the site's spelling
    left = store.find("left@example.org")
    assert left is not None and left.unsubscribed_at == at("2023-12-24 18:00:00")


def test_ghost_members_not_subscribed_to_emails(store: SubscriberStore) -> None:
    report = load(store, "member-export-2026-11-30.csv")
    assert (report.format, report.imported) == ("Ghost", 2)
    assert statuses(store) == {"jamie@example.org": "confirmed", "pat@example.org": "unsubscribed"}
    jamie = store.find("jamie@example.org")
    assert jamie is not None and (jamie.topics, jamie.labels) == (["Housing"], ["Label 1"])
    assert jamie.created == at("2022-03-16 08:03:11")


def test_listmonk_statuses(store: SubscriberStore) -> None:
    report = load(store, "listmonk-subscribers.csv")
    assert (report.format, report.imported, report.refused) == ("listmonk", 3, [])
    assert statuses(store) == {
        "lm.one@example.org": "confirmed",
        "lm.two@example.org": "unsubscribed",
        "lm.three@example.org": "unsubscribed",
    }
    one = store.find("lm.one@example.org")
    assert one is not None and one.name == "LM One"
    assert one.created == datetime(2021, 6, 5, 10, 11, 12, 123456, tzinfo=UTC)


def test_without_confirmed_subscribed_rows_are_pending_and_leavers_still_leave(
    store: SubscriberStore,
) -> None:
    load(store, "buttondown-subscribers.csv", confirmed=False)
    found = statuses(store)
    assert found["reg@example.org"] == "pending"
    assert found["left@example.org"] == "unsubscribed"


def test_without_site_tags_given_every_tag_is_a_topic(store: SubscriberStore) -> None:
    with (FIXTURES / "member-export-2026-11-30.csv").open(newline="") as stream:
        import_csv(stream, store, confirmed=True)
    jamie = store.find("jamie@example.org")
    assert jamie is not None and (jamie.topics, jamie.labels) == (["Label 1", "housing"], [])


def test_dry_run_shows_each_row_and_writes_nothing(store: SubscriberStore) -> None:
    store.add("left@example.org", confirmed=True)
    left = store.find("left@example.org")
    assert left is not None
    store.unsubscribe(left.id, left.token_nonce)
    shown: list[tuple[int, str]] = []
    with (FIXTURES / "buttondown-subscribers.csv").open(newline="") as stream:
        report = import_csv(
            stream, store, confirmed=True, site_tags=SITE_TAGS, dry_run=True,
            show=lambda line, text: shown.append((line, text)),
        )  # fmt: skip
    assert report.imported == 4 and report.merged == 1
    assert shown[0] == (2, "reg@example.org: new, confirmed, weekly, topics Housing; Podcast")
    assert (3, "waiting@example.org: new, pending, weekly") in shown
    assert (7, "refused: not subscribed (Buttondown type 'spammy')") in shown
    assert statuses(store) == {"left@example.org": "unsubscribed"}


@pytest.mark.parametrize(
    ("cell", "tags"),
    [
        ('"Housing","VIP readers"', ["Housing", "VIP readers"]),
        ("Label 1, housing", ["Label 1", "housing"]),
        ('["a", "b"]', ["a", "b"]),
        ("", []),
    ],
)
def test_tag_cells(cell: str, tags: list[str]) -> None:
    assert tag_list(cell) == tags


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-03-01 09:20:11", datetime(2021, 3, 1, 9, 20, 11, tzinfo=UTC)),
        ("2022-03-16T08:03:11.000Z", datetime(2022, 3, 16, 8, 3, 11, tzinfo=UTC)),
        ("2020-01-02 03:04:05.5 +0530 IST", datetime(2020, 1, 1, 21, 34, 5, 500000, tzinfo=UTC)),
        ("yesterday", None),
        ("", None),
    ],
)
def test_times_as_the_tools_write_them(text: str, expected: datetime | None) -> None:
    assert moment(text) == expected
