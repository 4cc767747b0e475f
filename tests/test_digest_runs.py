"""Digest runs on real databases: periods, selection, one run per period, and draining the
outbox through a real SMTP server (aiosmtpd) exactly once per subscriber."""

from __future__ import annotations

import email
import os
import signal
import socket
import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path
from zoneinfo import ZoneInfo

import dkim
import pytest
from helpers import (
    DOMAIN,
    NOW,
    Keys,
    add_post,
    add_subscriber,
    received_by,
    ticking_from,
    watch_key_processes,
)
from smtp_server import SMTPServer
from sqlalchemy import select

from pipeline.digest.runs import start_run
from pipeline.digest.select import plan, planned
from pipeline.frequencies import period_of
from pipeline.mail import OutgoingMessage
from pipeline.mail import dkim as dkim_module
from pipeline.mail.dkim import DkimSigner, dkim_signer
from pipeline.outbox import SendReport, cancel_run, counts, pause_run, resume_run, send_run
from pipeline.settings import Settings, SettingsProblem
from pipeline.storage import Database
from pipeline.storage.models import DigestRun, OutboxItem, Post
from subscribers import SubscriberStore

pytest_plugins = ["smtp_server"]

LONDON, NEW_YORK = ZoneInfo("Europe/London"), ZoneInfo("America/New_York")


def send(db: Database, settings: Settings, run_id: int, clock=lambda: NOW, **options) -> SendReport:
    """Send a run at `clock`'s time, with retries 50 ms apart instead of 30 s."""
    return send_run(db, settings, run_id, clock=clock, retry_base=0.05, **options)


@pytest.mark.parametrize(
    ("frequency", "moment", "zone", "key"),
    [
        ("daily", datetime(2026, 11, 23, 4, 30, tzinfo=UTC), NEW_YORK, "2026-11-22"),
        ("daily", datetime(2026, 11, 23, 4, 30, tzinfo=UTC), LONDON, "2026-11-23"),
        ("weekly", datetime(2026, 11, 23, 0, 30, tzinfo=UTC), LONDON, "2026-W48"),
        ("weekly", datetime(2026, 11, 23, 0, 30, tzinfo=UTC), NEW_YORK, "2026-W47"),
        ("weekly", datetime(2027, 1, 1, 12, tzinfo=UTC), LONDON, "2026-W53"),
        ("monthly", datetime(2026, 12, 1, 2, tzinfo=UTC), NEW_YORK, "2026-11"),
    ],
)
def test_periods_are_read_in_the_time_zone(frequency, moment, zone, key) -> None:
    assert period_of(frequency, moment, zone) == key


def test_selection_by_frequency_topics_and_history(db: Database) -> None:
    old = add_post(db, "Too old", NOW - timedelta(days=9))
    week = add_post(db, "This week", NOW - timedelta(days=3), tags=("Housing",))
    today = add_post(db, "Today", NOW - timedelta(hours=2), tags=("data",))
    add_post(db, "Draft", NOW - timedelta(hours=1), status="draft")
    add_post(db, "Removed", NOW - timedelta(hours=1), status="removed")
    add_post(db, "Future", NOW + timedelta(hours=1))
    weekly = add_subscriber(db, "weekly@example.org")
    housing = add_subscriber(db, "housing@example.org", topics=["housing"])
    daily = add_subscriber(db, "daily@example.org", "daily")
    add_subscriber(db, "sports@example.org", topics=["sports"])
    with db.session() as session:
        weekly_plan = plan(session, "weekly", NOW).groups
        daily_plan = plan(session, "daily", NOW).groups
    assert weekly_plan == {(today, week): [weekly], (week,): [housing]}
    assert daily_plan == {(today,): [daily]}
    assert old not in {post for posts in weekly_plan for post in posts}


def test_a_plan_read_in_chunks_is_the_whole_plan(
    db: Database, smtp_settings: Settings, smtp_server: SMTPServer, monkeypatch
) -> None:
    """Subscribers' histories, topics and zones carry across chunk boundaries; a run
    queues each planned subscriber once, with their selection and local time."""
    add_post(db, "First", NOW - timedelta(days=8))
    early = [add_subscriber(db, f"early{number}@example.org") for number in range(3)]
    week_before = NOW - timedelta(days=7)
    run = start_run(db, smtp_settings, "weekly", week_before).run
    assert send(db, smtp_settings, run.id, clock=lambda: week_before).sent == 3
    housing = add_post(db, "Housing", NOW - timedelta(days=2), tags=("housing",))
    today = add_post(db, "Today", NOW - timedelta(hours=2))
    readers = [
        add_subscriber(db, "new@example.org"),
        add_subscriber(db, "topic@example.org", topics=["housing"]),
        add_subscriber(db, "sports@example.org", topics=["sports"]),
        add_subscriber(db, "daily@example.org", "daily"),
    ]
    store = SubscriberStore(db.sessions, default_timezone="Europe/London")
    new_york, _ = store.add("ny@example.org", timezone="America/New_York", confirmed=True)
    readers.append(new_york.id)
    with db.session() as session:
        whole = plan(session, "weekly", NOW).groups
        chunks = [
            [item.subscriber_id for item in chunk]
            for chunk in planned(session, "weekly", NOW, chunk=2)
        ]
    assert whole == {
        (today, housing): [*early, readers[0], readers[4]],
        (housing,): [readers[1]],
    }
    assert [len(chunk) for chunk in chunks] == [2, 2, 1, 1]  # sports: nothing new
    monkeypatch.setattr("pipeline.digest.select.PLAN_CHUNK", 2)
    scheduled = smtp_settings.model_copy(update={"digest_schedule": "0 9 * * *"})
    morning = datetime(2026, 11, 26, 12, tzinfo=UTC)  # 12:00 in London, 07:00 in New York
    new_run = start_run(db, scheduled, "weekly", morning, local_hours=True).run
    with db.session() as session:
        queued = session.execute(
            select(OutboxItem.subscriber_id, OutboxItem.next_attempt_at)
            .where(OutboxItem.run_id == new_run.id)
            .order_by(OutboxItem.subscriber_id)
        ).all()
    assert [subscriber for subscriber, _ in queued] == sorted([*early, *readers[:2], readers[4]])
    due = {subscriber: at for subscriber, at in queued}
    assert due[readers[0]] is None
    assert due[readers[4]] is not None


def test_one_run_per_period_even_when_raced(db: Database, settings: Settings) -> None:
    add_post(db, "News", NOW - timedelta(hours=1))
    add_subscriber(db, "a@example.org")
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(start_run(db, settings, "weekly", NOW)))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({result.run.id for result in results}) == 1
    assert sum(result.created for result in results) == 1
    with db.session() as session:
        assert session.scalar(select(OutboxItem.id).where(OutboxItem.status == "queued"))


def test_send_reaches_everyone_once_and_the_next_run_only_has_new_posts(
    db: Database, smtp_settings: Settings, smtp_server: SMTPServer
) -> None:
    add_post(db, "First", NOW - timedelta(days=2))
    for number in range(25):
        add_subscriber(db, f"reader{number}@example.org")
    run = start_run(db, smtp_settings, "weekly", NOW).run
    report = send(db, smtp_settings, run.id)
    assert (report.sent, report.failed, report.status) == (25, 0, "done")
    assert set(received_by(smtp_server).values()) == {1} and len(received_by(smtp_server)) == 25
    message = email.message_from_bytes(smtp_server.received[0].raw, policy=policy.default)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # Running again for the same period sends nothing more.
    again = start_run(db, smtp_settings, "weekly", NOW + timedelta(hours=1))
    assert (again.created, again.run.id) == (False, run.id)
    assert send(db, smtp_settings, run.id).sent == 0
    # Next week: only the post published since.
    next_week = NOW + timedelta(days=7)
    new = add_post(db, "Second", NOW + timedelta(days=1))
    with db.session() as session:
        assert plan(session, "weekly", next_week).groups.keys() == {(new,)}


def test_unsubscribed_after_planning_is_skipped(
    db: Database, smtp_settings: Settings, smtp_server: SMTPServer
) -> None:
    add_post(db, "Post", NOW - timedelta(hours=3))
    add_subscriber(db, "stays@example.org")
    add_subscriber(db, "leaves@example.org")
    run = start_run(db, smtp_settings, "weekly", NOW).run
    store = SubscriberStore(db.sessions, default_timezone="Europe/London")
    leaver = store.find("leaves@example.org")
    assert store.unsubscribe(leaver.id, leaver.token_nonce) is not None
    report = send(db, smtp_settings, run.id)
    assert (report.sent, report.skipped) == (1, 1)
    assert list(received_by(smtp_server)) == ["stays@example.org"]


def test_transient_failures_are_retried_and_hard_bounces_recorded(
    db: Database, smtp_settings: Settings, smtp_server: SMTPServer
) -> None:
    add_post(db, "Post", NOW - timedelta(hours=3))
    add_subscriber(db, "busy@example.org")
    add_subscriber(db, "gone@example.org")
    smtp_server.rcpt_replies["gone@example.org"] = "550 5.1.1 No such user"
    smtp_server.data_replies.append("451 4.3.0 Try again later")
    run = start_run(db, smtp_settings, "weekly", NOW).run
    report = send(db, smtp_settings, run.id, clock=ticking_from(NOW))
    assert (report.sent, report.failed) == (1, 1)
    assert report.errors == ["gone@example.org: 550 5.1.1 No such user"]
    assert received_by(smtp_server) == {"busy@example.org": 1}
    with db.session() as session:
        attempts = dict(session.execute(select(OutboxItem.status, OutboxItem.attempts)).all())
    assert attempts == {"sent": 2, "failed": 1}


def test_a_run_past_its_window_expires_instead_of_sending_late(
    db: Database, smtp_settings: Settings, smtp_server: SMTPServer
) -> None:
    add_post(db, "Post", NOW - timedelta(hours=3))
    add_subscriber(db, "late@example.org")
    run = start_run(db, smtp_settings, "weekly", NOW).run
    four_days_later = NOW + timedelta(days=4)
    report = send(db, smtp_settings, run.id, clock=lambda: four_days_later)
    assert report.status == "expired" and report.sent == 0
    assert "1 messages not sent late" in (report.note or "")
    assert smtp_server.received == []
    assert counts(db, [run.id])[run.id]["skipped"] == 1


@pytest.mark.parametrize("change", ["pause", "cancel", "window ends"])
def test_a_run_changed_between_two_batches_sends_no_further_batch(
    db: Database, smtp_settings: Settings, smtp_server: SMTPServer, change: str
) -> None:
    """Between batches the sender looks at its run: paused or cancelled by an admin, or
    past its window, it stops. The rows it had claimed ahead are given back, and those of
    a run that ended are skipped, not left queued in it."""
    add_post(db, "Post", NOW - timedelta(hours=3))
    for number in range(8):
        add_subscriber(db, f"reader{number}@example.org")
    run = start_run(db, smtp_settings, "weekly", NOW).run
    now = [NOW]

    def after_the_first_batch(report: SendReport) -> None:
        if report.sent == 2:
            if change == "pause":
                pause_run(db, run.id, NOW)
            elif change == "cancel":
                cancel_run(db, run.id, NOW)
            else:
                now[0] = NOW + timedelta(days=4)

    report = send(
        db,
        smtp_settings,
        run.id,
        clock=lambda: now[0],
        batch_size=2,
        progress=after_the_first_batch,
    )
    status = {"pause": "paused", "cancel": "cancelled", "window ends": "expired"}[change]
    assert (report.status, report.sent) == (status, 2)
    assert len(received_by(smtp_server)) == 2
    left = {key: value for key, value in counts(db, [run.id])[run.id].items() if value}
    assert left == ({"sent": 2, "queued": 6} if change == "pause" else {"sent": 2, "skipped": 6})
    if change == "pause":
        resume_run(db, run.id, NOW)
        assert send(db, smtp_settings, run.id).status == "done"
        assert set(received_by(smtp_server).values()) == {1} and len(received_by(smtp_server)) == 8


def test_deferred_recipients_are_retried_without_pausing_the_run(
    db: Database, smtp_settings: Settings, smtp_server: SMTPServer
) -> None:
    add_post(db, "Post", NOW - timedelta(hours=3))
    for number in range(60):
        add_subscriber(db, f"reader{number}@example.org")
    for number in range(0, 60, 10):
        smtp_server.rcpt_replies[f"reader{number}@example.org"] = "451 4.7.1 Greylisted"
    run = start_run(db, smtp_settings, "weekly", NOW).run
    first = send(db, smtp_settings, run.id, wait=0)
    assert (first.sent, first.failed, first.status, first.retrying) == (54, 0, "sending", 6)
    smtp_server.rcpt_replies.clear()
    retried = send(db, smtp_settings, run.id, clock=lambda: NOW + timedelta(hours=2))
    assert (retried.sent, retried.status) == (6, "done")
    assert set(received_by(smtp_server).values()) == {1} and len(received_by(smtp_server)) == 60


def test_transient_failures_are_retried_for_the_whole_window_then_failed(
    db: Database, smtp_settings: Settings, smtp_server: SMTPServer
) -> None:
    add_post(db, "Post", NOW - timedelta(hours=3))
    add_subscriber(db, "full@example.org")
    smtp_server.rcpt_replies["full@example.org"] = "452 4.2.2 Mailbox full"
    run = start_run(db, smtp_settings, "weekly", NOW).run
    for hours in range(0, 72, 6):  # far more tries than a fixed five, none of them final
        report = send(
            db, smtp_settings, run.id, wait=0, clock=lambda h=hours: NOW + timedelta(hours=h)
        )
        assert (report.status, report.failed) == ("sending", 0)
    with db.session() as session:
        assert session.scalar(select(OutboxItem.attempts)) >= 10
    ended = send(db, smtp_settings, run.id, clock=lambda: NOW + timedelta(hours=73))
    assert ended.status == "expired" and "1 had kept failing" in (ended.note or "")
    assert counts(db, [run.id])[run.id]["failed"] == 1


def test_a_relay_that_is_down_pauses_the_run_and_the_run_resumes_by_itself(
    db: Database, smtp_settings: Settings, smtp_server: SMTPServer
) -> None:
    add_post(db, "Post", NOW - timedelta(hours=3))
    for number in range(20):
        add_subscriber(db, f"reader{number}@example.org")
    run = start_run(db, smtp_settings, "weekly", NOW).run
    down = smtp_settings.model_copy(update={"smtp_port": _closed_port()})
    report = send(db, down, run.id)
    assert (report.status, report.sent, report.failed) == ("paused", 0, 0)
    assert report.next_attempt is not None and report.next_attempt > NOW
    # Probed again before its time: nothing; after it, still down: a longer pause.
    assert send(db, down, run.id, clock=lambda: NOW + timedelta(seconds=5)).status == "paused"
    probe = report.next_attempt + timedelta(seconds=1)
    again = send(db, down, run.id, clock=lambda: probe)
    assert again.status == "paused" and again.next_attempt - probe > report.next_attempt - NOW
    # The relay is back (ten minutes on, beyond the old retry schedule): everyone gets it.
    back = again.next_attempt + timedelta(minutes=10)
    resumed = send(db, smtp_settings, run.id, clock=lambda: back)
    assert (resumed.status, resumed.sent, resumed.failed) == ("done", 20, 0)
    assert set(received_by(smtp_server).values()) == {1} and len(received_by(smtp_server)) == 20


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_scheduled_runs_wait_for_each_zones_local_hour(db: Database, settings: Settings) -> None:
    add_post(db, "Post", NOW - timedelta(hours=3))
    london = add_subscriber(db, "london@example.org")
    store = SubscriberStore(db.sessions, default_timezone="Europe/London")
    new_york, _ = store.add("ny@example.org", timezone="America/New_York", confirmed=True)
    tokyo, _ = store.add("tokyo@example.org", timezone="Asia/Tokyo", confirmed=True)
    run = start_run(db, settings, "weekly", NOW, local_hours=True).run  # 08:00 in London
    with db.session() as session:
        due = dict(
            session.execute(
                select(OutboxItem.subscriber_id, OutboxItem.next_attempt_at).where(
                    OutboxItem.run_id == run.id
                )
            ).all()
        )
    assert due[london] is None and due[tokyo.id] is None  # 08:00 there is now or past
    assert due[new_york.id] == datetime(2026, 11, 23, 13, 0, tzinfo=UTC)  # 08:00 in New York


def test_admins_can_pause_resume_and_cancel(db: Database, settings: Settings) -> None:
    add_post(db, "Post", NOW - timedelta(hours=3))
    add_subscriber(db, "a@example.org")
    run = start_run(db, settings, "weekly", NOW).run
    assert pause_run(db, run.id, NOW).status == "paused"
    assert resume_run(db, run.id, NOW).status == "sending"
    assert cancel_run(db, run.id, NOW).status == "cancelled"
    assert counts(db, [run.id])[run.id]["skipped"] == 1
    assert resume_run(db, run.id, NOW).status == "cancelled"


def test_a_post_updated_after_it_was_sent_is_not_sent_again(
    db: Database, smtp_settings: Settings, smtp_server: SMTPServer
) -> None:
    post_id = add_post(db, "Once", NOW - timedelta(hours=3))
    add_subscriber(db, "reader@example.org")
    run = start_run(db, smtp_settings, "weekly", NOW).run
    assert send(db, smtp_settings, run.id).sent == 1
    with db.session() as session:
        post = session.get(Post, post_id)
        post.content_html, post.updated = "<p>Corrected.</p>", NOW + timedelta(days=2)
    with db.session() as session:
        assert plan(session, "weekly", NOW + timedelta(days=7)).groups == {}


def signed_run(
    db: Database, smtp_settings: Settings, keys: Keys, readers: int
) -> tuple[Settings, DigestRun]:
    """A weekly run of one post to `readers` subscribers, with DKIM on."""
    add_post(db, "Signed", NOW - timedelta(hours=1))
    for number in range(readers):
        add_subscriber(db, f"reader{number}@example.org")
    dkim = {"dkim_key_file": keys.rsa_file, "dkim_selector": "mail", "dkim_domain": DOMAIN}
    settings = smtp_settings.model_copy(update=dkim)
    return settings, start_run(db, settings, "weekly", NOW).run


def assert_signed_once(smtp_server: SMTPServer, keys: Keys, readers: Iterable[int]) -> None:
    """Each of these readers got one message, and every signature received verifies."""
    assert received_by(smtp_server) == {f"reader{number}@example.org": 1 for number in readers}
    assert all(keys.verify(message.raw) for message in smtp_server.received)


def test_a_dkim_key_lost_mid_run(
    db: Database, smtp_settings: Settings, smtp_server: SMTPServer, tmp_path: Path
) -> None:
    """The key is read once as the sender starts: a run that began signing signs to the
    end; a sender started after the key is gone stops at once, one line naming the
    setting, with nothing claimed or sent."""
    keys = Keys(tmp_path)
    settings, run = signed_run(db, smtp_settings, keys, 30)
    report = send(
        db, settings, run.id, batch_size=10, progress=lambda _: keys.rsa_file.unlink(True)
    )
    assert (report.sent, report.status, keys.rsa_file.exists()) == (30, "done", False)
    assert all(keys.verify(message.raw) for message in smtp_server.received)

    add_post(db, "Not sent", NOW + timedelta(days=6))
    next_week = NOW + timedelta(days=7)
    next_run = start_run(db, settings, "weekly", next_week).run
    with pytest.raises(SettingsProblem, match=r"NEWSLETTER_DKIM_KEY_FILE"):
        send(db, settings, next_run.id, clock=lambda: next_week)
    assert counts(db, [next_run.id])[next_run.id]["queued"] == 30
    assert len(smtp_server.received) == 30


def test_dkim_signing_goes_on_when_its_key_process_is_killed_mid_run(
    db: Database,
    smtp_settings: Settings,
    smtp_server: SMTPServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run's signatures are made in key processes; killed after the first batch, the
    sender signs what it still owed, and the rest of the run, itself: every reader gets
    one message, and every signature verifies."""
    keys, started = Keys(tmp_path), watch_key_processes(monkeypatch)

    killed: list[int] = []  # how many were sent when it was killed

    def kill(report: SendReport) -> None:
        if not killed:
            for process in started:
                assert process.pid is not None
                os.kill(process.pid, signal.SIGKILL)
            killed.append(report.sent)

    settings, run = signed_run(db, smtp_settings, keys, 300)
    report = send(db, settings, run.id, batch_size=100, progress=kill)

    assert (report.sent, report.status, killed) == (300, "done", [100])
    assert len(started) == dkim_module.KEY_PROCESSES
    assert_signed_once(smtp_server, keys, range(300))


def test_a_signer_given_to_two_sends_serves_both_with_its_key_processes(
    db: Database,
    smtp_settings: Settings,
    smtp_server: SMTPServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker's signer is given to each chunk's send: its key processes start once, are
    still there after a send, and sign the next one too."""
    keys, started = Keys(tmp_path), watch_key_processes(monkeypatch)
    monkeypatch.setattr(dkim_module, "KEY_PROCESS_MIN", 1)
    settings, run = signed_run(db, smtp_settings, keys, 6)
    signer = dkim_signer(settings)
    assert signer is not None
    try:
        first = send(db, settings, run.id, limit=3, batch_size=3, signer=signer)
        assert (first.sent, first.stopped_at_limit) == (3, True)
        assert len(started) == dkim_module.KEY_PROCESSES and not signer.degraded
        second = send(db, settings, run.id, signer=signer)
    finally:
        signer.close()
    assert (second.sent, second.status) == (3, "done")
    assert len(started) == dkim_module.KEY_PROCESSES  # none started for the second send
    assert_signed_once(smtp_server, keys, range(6))


def test_a_copy_that_cannot_be_signed_fails_alone(
    db: Database,
    smtp_settings: Settings,
    smtp_server: SMTPServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One copy that dkimpy refuses (as it refuses headers it cannot parse), in a batch
    signed in key processes: its row fails with the reason, the others go out signed,
    the run ends."""
    keys = Keys(tmp_path)
    settings, run = signed_run(db, smtp_settings, keys, 100)
    hashed = DkimSigner._hashed

    def refusing(self: DkimSigner, message: OutgoingMessage) -> object:
        if message.recipients == ("reader7@example.org",):
            raise dkim.MessageFormatError("unexpected characters in RFC822 header")
        return hashed(self, message)

    monkeypatch.setattr(DkimSigner, "_hashed", refusing)
    report = send(db, settings, run.id)

    assert (report.sent, report.failed, report.status) == (99, 1, "done")
    expected = "cannot be DKIM-signed: unexpected characters in RFC822 header"
    assert report.errors == [f"reader7@example.org: {expected}"]
    with db.session() as session:
        failed = session.scalars(select(OutboxItem.last_error).where(OutboxItem.status == "failed"))
        assert list(failed) == [expected]
    assert_signed_once(smtp_server, keys, (number for number in range(100) if number != 7))
