"""One leader among processes sharing a database: two `Leader`s with their own holder ids
on one real database, under a clock the test moves."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from pipeline.scheduling.leader import LEASE_NAME, Leader
from pipeline.scheduling.lease import acquire, holder_of
from pipeline.storage import Database

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
LEASE = 3.0


class Cluster:
    """Leaders on one database and one clock, recording who starts and stops scheduling."""

    def __init__(self, db: Database) -> None:
        self.db, self.now, self.events = db, START, []

    def leader(self, name: str) -> Leader:
        return Leader(
            self.db,
            holder=name,
            on_elected=lambda: self.events.append(f"{name} starts"),
            on_deposed=lambda: self.events.append(f"{name} stops"),
            lease_seconds=LEASE,
            clock=lambda: self.now,
        )

    def wait(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def test_one_leads_and_the_other_takes_over_when_its_lease_runs_out(db: Database) -> None:
    cluster = Cluster(db)
    first, second = cluster.leader("first"), cluster.leader("second")
    assert (first.step(), second.step()) == (True, False)
    cluster.wait(1)  # the leader renews; the follower still cannot take over
    assert (first.step(), second.step()) == (True, False)
    cluster.wait(LEASE - 0.5)  # 0.5 s before the renewed lease runs out
    assert second.step() is False
    cluster.wait(0.5)  # the first stopped renewing (it died or hangs): its lease is over
    assert second.step() is True
    assert first.step() is False  # back, it finds itself deposed
    assert holder_of(db, LEASE_NAME, cluster.now) == "second"
    assert cluster.events == ["first starts", "second starts", "first stops"]


def test_a_leader_stopping_hands_over_at_once(db: Database) -> None:
    cluster = Cluster(db)
    first, second = cluster.leader("first"), cluster.leader("second")
    assert first.start() is True
    assert second.step() is False
    first.stop()
    assert holder_of(db, LEASE_NAME, cluster.now) is None
    assert second.step() is True  # no waiting for the lease to run out
    assert cluster.events == ["first starts", "first stops", "second starts"]


def test_of_many_racing_for_a_new_lease_exactly_one_wins(db: Database) -> None:
    barrier = threading.Barrier(6)
    won: list[str] = []

    def contend(holder: str) -> None:
        barrier.wait()
        if acquire(db, LEASE_NAME, holder, START, timedelta(seconds=LEASE)):
            won.append(holder)

    threads = [threading.Thread(target=contend, args=(f"p{number}",)) for number in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1
    assert holder_of(db, LEASE_NAME, START) == won[0]
