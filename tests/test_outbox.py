"""The outbox's promises in one process, on both databases, against a real SMTP server: a
live but slow sender keeps its claims, a database that drops mid-send is reconnected, a
selection that cannot render fails alone, and a run where nothing went out says so."""

from __future__ import annotations

import gc
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from helpers import NOW, add_post, add_subscriber, received_by, ticking_from
from pytest_httpserver import HTTPServer
from smtp_server import SMTPServer
from sqlalchemy import create_engine, event, func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from werkzeug import Response

from pipeline.digest.runs import start_run
from pipeline.outbox import OutboxStatus, counts, rows, send_run, senders
from pipeline.outbox.recorder import GROUP, Recorder
from pipeline.outbox.send import BATCH_SIZE
from pipeline.settings import Settings, load_settings
from pipeline.storage import Database, open_database
from pipeline.storage.models import DigestRun, OutboxItem, Sender
from subscribers import Subscriber

pytest_plugins = ["smtp_server"]


def test_a_slow_sender_keeps_its_claims_while_another_sender_runs(
    db: Database, smtp_settings: Settings, smtp_server: SMTPServer
) -> None:
    add_post(db, "Post", NOW - timedelta(hours=3))
    for number in range(60):
        add_subscriber(db, f"reader{number}@example.org")
    run = start_run(db, smtp_settings, "weekly", NOW).run
    smtp_server.data_delay = 0.2  # a batch takes far longer than the sender timeout
    settings = smtp_settings.model_copy(update={"sender_timeout_seconds": 0.5})
    reports = []

    def sending() -> None:
        reports.append(send_run(db, settings, run.id, clock=ticking_from(NOW)))

    first = threading.Thread(target=sending)
    first.start()
    time.sleep(1.5)  # three sender timeouts later, while the first still sends
    sending()
    first.join()
    assert received_by(smtp_server) == {f"reader{n}@example.org": 1 for n in range(60)}
    assert sum(report.taken_over for report in reports) == 0
    assert sum(report.refused for report in reports) == 0
    assert sum(report.sent for report in reports) == 60


def test_a_renderer_failure_fails_only_that_selection(
    db: Database, smtp_settings: Settings, smtp_server: SMTPServer
) -> None:
    add_post(db, "Fine", NOW - timedelta(hours=3), tags=("housing",))
    add_post(db, "Broken \x1b title", NOW - timedelta(hours=2), tags=("data",))
    add_subscriber(db, "housing@example.org", topics=["housing"])
    add_subscriber(db, "data@example.org", topics=["data"])
    run = start_run(db, smtp_settings, "weekly", NOW).run
    report = send_run(db, smtp_settings, run.id, clock=lambda: NOW)
    assert (report.sent, report.failed, report.status) == (1, 1, "done")
    assert report.errors[0].startswith("data@example.org: cannot render the digest")
    assert list(received_by(smtp_server)) == ["housing@example.org"]
    assert counts(db, [run.id])[run.id]["sending"] == 0


def test_a_recipient_whose_copy_cannot_be_made_fails_alone(
    db: Database, smtp_settings: Settings, smtp_server: SMTPServer
) -> None:
    add_post(db, "Post", NOW - timedelta(hours=3))
    for address in ("first@example.org", "odd@example.org", "last@example.org"):
        add_subscriber(db, address)
    with db.session() as session:  # as an older import or a hand edit may have left it
        session.execute(
            update(Subscriber)
            .where(Subscriber.email == "odd@example.org")
            .values(email="j\u00f6rg@example.org")
        )
    run = start_run(db, smtp_settings, "weekly", NOW).run
    report = send_run(db, smtp_settings, run.id, clock=lambda: NOW)
    assert (report.sent, report.failed, report.status) == (2, 1, "done")
    assert report.errors[0].startswith("j\u00f6rg@example.org: ")
    assert sorted(received_by(smtp_server)) == ["first@example.org", "last@example.org"]
    assert counts(db, [run.id])[run.id]["sending"] == 0


def test_a_run_where_every_message_failed_ends_failed(
    db: Database, smtp_settings: Settings, smtp_server: SMTPServer
) -> None:
    add_post(db, "Post", NOW - timedelta(hours=3))
    for address in ("a@example.org", "b@example.org"):
        add_subscriber(db, address)
        smtp_server.rcpt_replies[address] = "550 5.7.1 Relaying denied"
    run = start_run(db, smtp_settings, "weekly", NOW).run
    report = send_run(db, smtp_settings, run.id, clock=lambda: NOW)
    assert (report.status, report.failed) == ("failed", 2)
    assert report.note == "all 2 messages failed (last: 550 5.7.1 Relaying denied)"


@pytest.mark.parametrize("batch_size", [BATCH_SIZE, 50], ids=["one batch", "batches after"])
def test_a_postgresql_connection_killed_mid_send_is_reconnected(
    database_url: str, smtp_settings: Settings, smtp_server: SMTPServer, batch_size: int
) -> None:
    """Every connection of the send is killed after 100 copies: the writer's, the claims'
    and, with batches after the kill, the one the sender looks at its run on."""
    if not database_url.startswith("postgresql"):
        pytest.skip("kills PostgreSQL server processes")
    name = f"outbox-test-{id(smtp_server)}"
    url = make_url(database_url).update_query_dict({"application_name": name})
    db = open_database(url.render_as_string(hide_password=False))
    add_post(db, "Post", NOW - timedelta(hours=3))
    for number in range(300):
        add_subscriber(db, f"reader{number}@example.org")
    run = start_run(db, smtp_settings, "weekly", NOW).run
    smtp_server.data_delay = 0.005
    killed = []

    def kill_connections() -> None:
        while len(smtp_server.received) < 100:
            time.sleep(0.005)
        admin = create_engine(database_url.split("?")[0], isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            killed.extend(
                connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE application_name = :name"
                    ),
                    {"name": quote(name, safe="-")},
                ).scalars()
            )
        admin.dispose()

    killer = threading.Thread(target=kill_connections)
    killer.start()
    report = send_run(db, smtp_settings, run.id, clock=lambda: NOW, batch_size=batch_size)
    killer.join()
    db.close()
    assert killed and all(killed)
    assert report.status == "done"
    tally = received_by(smtp_server)
    assert len(tally) == 300
    print(f"\n{len(killed)} connections killed; {sum(tally.values()) - 300} duplicates")


def test_outcomes_the_database_refuses_stop_the_send_within_the_bound(
    database_url: str, db: Database, smtp_settings: Settings, smtp_server: SMTPServer
) -> None:
    """Mid-run the database starts refusing every outcome (here a rule against marking
    anything sent): the connections stop before their next message ends instead of
    sending the rest of the batch unrecorded, so at most two per connection went out that
    the outbox does not know of, and the error reaches the caller."""
    run = planned_run(db, smtp_settings, readers=600)
    smtp_server.data_delay = 0.005
    refusing = threading.Event()

    def refuse_outcomes() -> None:
        while len(smtp_server.received) < 50:
            time.sleep(0.005)
        rule = (
            "ALTER TABLE outbox ADD CONSTRAINT no_more_sent CHECK (status <> 'sent') NOT VALID"
            if database_url.startswith("postgresql")
            else "CREATE TRIGGER no_more_sent BEFORE UPDATE OF status ON outbox"
            " WHEN NEW.status = 'sent' BEGIN SELECT RAISE(ABORT, 'no more sent'); END"
        )
        with db.engine.begin() as connection:
            connection.execute(text(rule))
        refusing.set()

    refuser = threading.Thread(target=refuse_outcomes)
    refuser.start()
    with pytest.raises(IntegrityError):
        send_run(db, smtp_settings, run.id, clock=lambda: NOW)
    refuser.join()
    tally = counts(db, [run.id])[run.id]
    unrecorded = len(smtp_server.received) - tally["sent"]
    print(f"\n{len(smtp_server.received)} sent, {tally['sent']} recorded, {unrecorded} unrecorded")
    bound = 2 * smtp_settings.smtp_connections
    assert refusing.is_set() and tally["sending"] == 0
    assert 0 <= unrecorded <= bound
    assert tally["sent"] >= 50 - bound  # the rule came once 50 had gone, some unrecorded
    assert 50 <= len(smtp_server.received) < 600


def no_polling(seconds: float) -> None:
    """A send's `sleep` where it should never wait for rows in flight."""
    raise AssertionError(f"the send waited {seconds} s for rows in flight")


def planned_run(db: Database, settings: Settings, *, readers: int) -> DigestRun:
    """A weekly run with one post for `readers` new confirmed subscribers."""
    add_post(db, "Post", NOW - timedelta(hours=3))
    for number in range(readers):
        add_subscriber(db, f"reader{number}@example.org")
    return start_run(db, settings, "weekly", NOW).run


def claim(db: Database, run_id: int, sender: str, limit: int = 10) -> list[rows.Claimed]:
    """Up to `limit` of the run's rows, claimed by `sender`."""
    return db.patiently(lambda session: rows.claim(session, run_id, sender, NOW, limit))


def test_a_stopped_senders_rows_are_taken_back_and_its_late_marks_refused(
    db: Database, smtp_settings: Settings
) -> None:
    run = planned_run(db, smtp_settings, readers=3)
    quiet = senders.SenderLife(db, lambda: NOW, timeout=15)
    with quiet:
        claimed = claim(db, run.id, quiet.id)
        assert len(claimed) == 3
        later = NOW + timedelta(seconds=16)  # its heartbeat (on the frozen clock) is stale
        taken = db.patiently(lambda session: senders.reap(session, run.id, later, 15))
        assert taken == 3
        late = [rows.Mark(row.id, OutboxStatus.SENT, 1, sent_at=later) for row in claimed]
        refused = db.patiently(lambda session: rows.mark(session.connection(), quiet.id, late))
    assert sorted(refused) == sorted(row.id for row in claimed)
    assert counts(db, [run.id])[run.id]["queued"] == 3


def test_a_send_takes_back_a_stopped_senders_rows_once_the_due_ones_run_short(
    db: Database, smtp_settings: Settings, smtp_server: SMTPServer
) -> None:
    """Stopped senders are looked for at the first claim, then only when the due rows do
    not fill a batch: a sender that stops while another runs loses its rows all the same."""
    run = planned_run(db, smtp_settings, readers=6)
    with senders.SenderLife(db, lambda: NOW, timeout=3600) as quiet:  # beats every 15 min
        assert len(claim(db, run.id, quiet.id, limit=2)) == 2

        def stops(_: object) -> None:  # after the first batch its heartbeat goes stale
            with db.session() as session:
                stale = NOW - timedelta(seconds=16)
                session.execute(update(Sender).where(Sender.id == quiet.id).values(heartbeat=stale))

        report = send_run(
            db,
            smtp_settings,
            run.id,
            clock=lambda: NOW,
            batch_size=2,
            progress=stops,
            sleep=no_polling,
        )
    assert (report.status, report.sent, report.taken_over) == ("done", 6, 2)
    assert received_by(smtp_server) == {f"reader{n}@example.org": 1 for n in range(6)}


@pytest.mark.parametrize("at_once", [True, False], ids=["one statement", "older sqlite"])
def test_recorded_marks_keep_the_rows_still_held_and_name_the_ones_taken_back(
    database_url: str,
    db: Database,
    smtp_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    at_once: bool,
) -> None:
    if not at_once:
        if not database_url.startswith("sqlite"):
            pytest.skip("PostgreSQL's marks are always one statement")
        monkeypatch.setattr(rows, "SQLITE_JSON", (99,))
    run = planned_run(db, smtp_settings, readers=4)
    with senders.SenderLife(db, lambda: NOW, timeout=15) as life:
        claimed = claim(db, run.id, life.id)
        lost = claimed[1].id
        db.patiently(  # taken back from under the sender, as a reaper would
            lambda session: session.execute(
                update(OutboxItem)
                .where(OutboxItem.id == lost)
                .values(status=OutboxStatus.QUEUED, claim=None)
            )
        )
        marks = [
            rows.Mark(row.id, OutboxStatus.SENT, 1, sent_at=NOW, message_id=f"<{row.id}@blog>")
            for row in claimed
        ]
        held = db.held_connection(flush=False, single_statements=True)
        try:
            refused = rows.record(held, life.id, marks)
            # Run again, as after an answer lost with its connection: the rows hold these
            # very marks, so only the row taken back is refused; another mark is refused.
            again = rows.record(held, life.id, marks)
            other = rows.record(held, life.id, [replace(marks[0], message_id="<other@blog>")])
        finally:
            held.close()
    assert (refused, again, other) == ([lost], [lost], [claimed[0].id])
    with db.session() as session:
        stored = {item.id: item.message_id for item in session.scalars(select(OutboxItem))}
    assert stored == {row.id: None if row.id == lost else f"<{row.id}@blog>" for row in claimed}
    tally = counts(db, [run.id])[run.id]
    assert (tally["sent"], tally["queued"], tally["sending"]) == (3, 1, 0)


def test_the_writer_commits_a_group_or_whatever_someone_waits_for(
    db: Database, smtp_settings: Settings
) -> None:
    run = planned_run(db, smtp_settings, readers=GROUP + 1)
    written: list[int] = []

    def stored() -> dict[int, tuple[str, object]]:
        with db.session() as session:
            return {
                item.id: (item.status, item.sent_at) for item in session.scalars(select(OutboxItem))
            }

    with senders.SenderLife(db, lambda: NOW, timeout=15) as life:
        claimed = claim(db, run.id, life.id)
        marks = [
            rows.Mark(row.id, OutboxStatus.SENT, 1, sent_at=NOW, message_id=f"<{row.id}@blog>")
            for row in claimed
        ]
        with Recorder(db, life.id, lambda done, _: written.extend(m.id for m in done)) as writer:
            first = writer.record(marks[:1])
            time.sleep(0.3)
            assert written == [] and stored()[claimed[0].id][0] == OutboxStatus.SENDING
            first.wait()  # waiting asks for the commit
            assert stored()[claimed[0].id] == (OutboxStatus.SENT, NOW)
            group = writer.record(marks[1:])  # a whole group goes without anyone waiting
            deadline = time.monotonic() + 30
            while len(written) <= 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert sorted(written) == sorted(row.id for row in claimed)
            group.wait()
    assert {status for status, _ in stored().values()} == {OutboxStatus.SENT}


def test_flushing_the_writer_commits_what_was_queued_short_of_a_group(
    db: Database, smtp_settings: Settings
) -> None:
    run = planned_run(db, smtp_settings, readers=1)
    with senders.SenderLife(db, lambda: NOW, timeout=15) as life:
        [row] = claim(db, run.id, life.id)
        mark = rows.Mark(row.id, OutboxStatus.SENT, 1, sent_at=NOW, message_id="<1@blog>")
        with Recorder(db, life.id, lambda done, _: None) as writer:
            writer.record([mark])  # fewer than GROUP: nobody asked, nothing is committed yet
            writer.flush()
            with db.session() as session:
                assert session.get(OutboxItem, row.id).status == OutboxStatus.SENT


def test_a_run_through_an_api_reads_its_backlog_after_its_last_outcomes_are_written(
    db: Database, smtp_settings: Settings, httpserver: HTTPServer
) -> None:
    """An API backend leaves the wait for a request's outcomes to the next request; once
    there is none, the send waits for them before it counts what is left, instead of
    taking its own rows for another sender's and polling for them."""
    httpserver.expect_request("/email/batch", method="POST").respond_with_handler(
        lambda request: Response(
            json.dumps([{"ErrorCode": 0, "MessageID": "pm-1"} for _ in request.get_json()]),
            mimetype="application/json",
        )
    )
    settings = load_settings(
        **{
            **smtp_settings.model_dump(exclude_none=True, exclude={"smtp_host", "smtp_port"}),
            "email_backend": "postmark",
            "api_key": "key",
            "api_base_url": httpserver.url_for("/"),
        }
    )
    run = planned_run(db, settings, readers=GROUP - 1)  # short of a group: written when asked

    report = send_run(db, settings, run.id, clock=lambda: NOW, sleep=no_polling)
    assert (report.status, report.sent) == ("done", GROUP - 1)


def test_leaving_a_sender_unregisters_it_and_its_heartbeat_ends(
    db: Database, smtp_settings: Settings
) -> None:
    before = set(threading.enumerate())
    with senders.SenderLife(db, lambda: NOW, timeout=0.2) as life:
        [beating] = [t for t in set(threading.enumerate()) - before if t.name == "sender-heartbeat"]
    with db.session() as session:
        assert session.get(Sender, life.id) is None
    for _ in range(200):  # it ends within a step of its rest
        if not beating.is_alive():
            break
        time.sleep(0.01)
    assert not beating.is_alive()


def test_a_limited_pass_stops_after_its_rows_and_the_last_pass_finishes_the_run(
    db: Database, smtp_settings: Settings, smtp_server: SMTPServer
) -> None:
    add_post(db, "Post", NOW - timedelta(hours=3))
    for number in range(7):
        add_subscriber(db, f"reader{number}@example.org")
    run = start_run(db, smtp_settings, "weekly", NOW).run
    passes = [
        send_run(db, smtp_settings, run.id, clock=lambda: NOW, limit=3, batch_size=2)
        for _ in range(3)
    ]
    assert [(p.sent, p.stopped_at_limit, p.status) for p in passes] == [
        (3, True, "sending"),
        (3, True, "sending"),
        (1, False, "done"),
    ]
    assert received_by(smtp_server) == {f"reader{n}@example.org": 1 for n in range(7)}


def test_a_send_sets_what_the_process_held_aside_from_collection_and_hands_it_back(
    db: Database, smtp_settings: Settings, smtp_server: SMTPServer
) -> None:
    """The garbage collector does not walk the objects held before the send while it
    runs, and has them back after it, whether it ends or fails."""
    add_post(db, "Post", NOW - timedelta(hours=3))
    for number in range(4):
        add_subscriber(db, f"reader{number}@example.org")
    run = start_run(db, smtp_settings, "weekly", NOW).run
    gc.collect()
    assert gc.get_freeze_count() == 0
    frozen_during: list[int] = []

    def failing_at_the_second_batch(_: object) -> None:
        frozen_during.append(gc.get_freeze_count())
        if len(frozen_during) == 2:
            raise RuntimeError("stopped")

    with pytest.raises(RuntimeError):
        send_run(
            db,
            smtp_settings,
            run.id,
            clock=lambda: NOW,
            batch_size=1,
            progress=failing_at_the_second_batch,
        )
    assert gc.get_freeze_count() == 0
    report = send_run(
        db,
        smtp_settings,
        run.id,
        clock=lambda: NOW,
        batch_size=1,
        progress=lambda _: frozen_during.append(gc.get_freeze_count()),
    )
    assert (report.status, gc.get_freeze_count()) == ("done", 0)
    assert len(frozen_during) == 4 and min(frozen_during) > 0
    assert received_by(smtp_server) == {f"reader{n}@example.org": 1 for n in range(4)}


@pytest.mark.parametrize("plans", ["force_custom_plan", "force_generic_plan"])
def test_postgresql_marks_probe_each_row_by_its_key(
    database_url: str, db: Database, smtp_settings: Settings, plans: str
) -> None:
    """Whatever the planner believes of the claim column (its statistics predate the
    claims), a group of marks finds its rows by primary key, not by scanning every row
    the sender holds once per mark."""
    if not database_url.startswith("postgresql"):
        pytest.skip("the plan of PostgreSQL's one-statement marks")
    sender, marks = sent_marks(db, smtp_settings)
    statement, values = rows.marks_at_once(db.engine.dialect, sender, marks)  # as recorded
    with db.engine.connect() as connection:
        driver = connection.connection.driver_connection
        assert driver is not None
        with driver.cursor() as cursor:
            cursor.execute(f"SET plan_cache_mode TO {plans}")
            cursor.execute(f"EXPLAIN (FORMAT JSON) {statement.sql}", values, prepare=True)
            row = cursor.fetchone()
    assert row is not None
    nodes = list(_nodes(row[0][0]["Plan"]))
    assert "ix_outbox_claim" not in {node.get("Index Name") for node in nodes}
    assert not [node for node in nodes if node.get("Join Filter")]  # no pairing of every row


def sent_marks(db: Database, settings: Settings) -> tuple[str, list[rows.Mark]]:
    """A stopped sender and its marks for 500 of 600 rows it claimed (none written yet)."""
    run = planned_run(db, settings, readers=600)
    with senders.SenderLife(db, lambda: NOW, timeout=15) as life:
        claimed = claim(db, run.id, life.id, limit=500)
    return life.id, [rows.Mark(row.id, OutboxStatus.SENT, 1, sent_at=NOW) for row in claimed]


def test_an_error_any_source_gives_is_stored_as_text_the_database_gives_back(
    db: Database, smtp_settings: Settings
) -> None:
    """A provider's JSON or an exception can carry a NUL or a lone surrogate: the mark
    keeps the rest of the error, and the row reads back."""
    run = planned_run(db, smtp_settings, readers=1)
    with senders.SenderLife(db, lambda: NOW, timeout=15) as life:
        [row] = claim(db, run.id, life.id)
        error = 'Postmark: HTTP 422: bad \ud800 "name"\x00 here'
        with db.engine.begin() as connection:
            refused = rows.mark(
                connection, life.id, [rows.Mark(row.id, OutboxStatus.FAILED, 1, error)]
            )
    assert refused == []
    with db.session() as session:
        stored = session.get(OutboxItem, row.id)
        assert stored is not None
        assert (stored.status, stored.last_error) == (
            "failed",
            'Postmark: HTTP 422: bad ? "name" here',
        )


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


def test_sqlite_marks_probe_each_row_by_its_key(
    database_url: str, db: Database, smtp_settings: Settings
) -> None:
    """With no statistics (as SQLite runs unless ANALYZE was run), the claim column's
    index looks selective; with them, it does not: either way the one-statement marks
    walk the marks and find each row by its primary key."""
    if not database_url.startswith("sqlite"):
        pytest.skip("the plan of SQLite's one-statement marks")
    sender, marks = sent_marks(db, smtp_settings)
    statement, values = rows.marks_at_once(db.engine.dialect, sender, marks)  # as recorded
    for analyze in (False, True):
        with db.engine.connect() as connection:
            if analyze:
                connection.exec_driver_sql("ANALYZE")
            plan = connection.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {statement.sql}", statement.bound(values)
            )
            steps = [step.detail for step in plan]
        assert "SEARCH outbox USING INTEGER PRIMARY KEY (rowid=?)" in steps, steps
        assert not [step for step in steps if "outbox USING INDEX" in step or "SCAN outbox" in step]


MARKED_AT = NOW + timedelta(minutes=5)


def test_sqlite_marks_in_one_statement_write_what_one_statement_per_mark_writes(
    database_url: str, db: Database, smtp_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where SQLite is older than UPDATE ... FROM with RETURNING, each mark is its own
    statement; both ways store the same values (times in the same text, so due rows
    compare alike), and both refuse a row the sender does not hold."""
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's two ways of writing marks")
    run = planned_run(db, smtp_settings, readers=8)
    with senders.SenderLife(db, lambda: NOW, timeout=15) as life:
        claimed = [row.id for row in claim(db, run.id, life.id, limit=8)]
    kinds = [
        lambda row: rows.Mark(row, OutboxStatus.SENT, 1, sent_at=MARKED_AT, message_id="<m@x>"),
        lambda row: rows.Mark(
            row, OutboxStatus.QUEUED, 2, last_error="451 'busy' \u00e9", next_attempt_at=MARKED_AT
        ),
        lambda row: rows.Mark(row, OutboxStatus.FAILED, 1, last_error='550 "no"\n'),
        lambda row: rows.Mark(row, OutboxStatus.SENT, 1, sent_at=NOW, provider_id="p-1"),
    ]
    columns = ("status", "claim", "attempts", "last_error", "sent_at", "next_attempt_at")
    written = {}
    for way, (first, rest) in {"json": (0, 4), "each": (4, 8)}.items():
        if way == "each":
            monkeypatch.setattr(rows, "SQLITE_JSON", (99,))
        ids = claimed[first:rest]
        marks = [make(row) for make, row in zip(kinds, ids, strict=True)]
        marks.append(rows.Mark(-1, OutboxStatus.SENT, 1))  # no such row: refused
        with db.engine.begin() as connection:
            assert rows.mark(connection, life.id, marks) == [-1]
            stored = connection.execute(
                text(
                    f"SELECT {', '.join(columns)}, message_id, provider_id FROM outbox"
                    " WHERE id IN (:a, :b, :c, :d) ORDER BY id"
                ),
                dict(zip("abcd", ids, strict=True)),
            ).all()
        written[way] = [tuple(row) for row in stored]
    assert written["json"] == written["each"]
    assert written["json"][0][:2] == ("sent", None)
    with db.engine.connect() as connection:  # the retry is due exactly when the other way says
        due = connection.scalar(
            select(func.count())
            .select_from(OutboxItem)
            .where(OutboxItem.next_attempt_at <= MARKED_AT)
        )
    assert due == 2


def test_sqlite_claims_read_their_rows_alike_from_a_json_array_or_a_list(
    database_url: str, db: Database, smtp_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where SQLite's JSON functions may be missing, a claim reads its rows by an IN list;
    both ways give the claimed rows with their subscribers, in id order."""
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's two ways of reading claimed rows")
    run = planned_run(db, smtp_settings, readers=6)
    with senders.SenderLife(db, lambda: NOW, timeout=15) as life:
        by_json = claim(db, run.id, life.id, limit=3)
        monkeypatch.setattr(rows, "SQLITE_JSON", (99,))
        by_list = claim(db, run.id, life.id, limit=3)
    claimed = by_json + by_list
    assert [row.id for row in claimed] == sorted(row.id for row in claimed)
    assert len({row.id for row in claimed}) == 6
    assert sorted(row.subscriber.email for row in claimed if row.subscriber) == [
        f"reader{number}@example.org" for number in range(6)
    ]


def test_a_sqlite_claim_that_another_sender_beats_to_its_rows_reads_again(
    database_url: str, db: Database, smtp_settings: Settings
) -> None:
    """A claim reads the due rows before its transaction begins: another sender taking
    them meanwhile leaves it the next due rows, not an empty batch, and no row twice."""
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's claim in three statements")
    run = planned_run(db, smtp_settings, readers=6)
    other = open_database(database_url)
    beaten: list[rows.Claimed] = []

    def first(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().startswith("UPDATE outbox SET status") and not beaten:
            beaten.extend(claim(other, run.id, "other", limit=3))

    event.listen(db.engine, "before_cursor_execute", first)
    try:
        mine = claim(db, run.id, "mine", limit=3)
    finally:
        event.remove(db.engine, "before_cursor_execute", first)
        other.close()
    assert len(beaten) == 3 and len(mine) == 3
    assert {row.id for row in mine}.isdisjoint(row.id for row in beaten)
    with db.session() as session:
        holders = dict(session.execute(select(OutboxItem.id, OutboxItem.claim)).all())
    assert sorted(holders.values()) == ["mine"] * 3 + ["other"] * 3
