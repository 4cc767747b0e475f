"""The subscriber store on real databases: uniqueness, merging, double opt-in, unsubscribe,
suppression, erasure, bounces, and the one-confirmation-per-hour rule."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import sessionmaker

from pipeline.storage import Database
from subscribers import (
    Consent,
    KeptOut,
    Signup,
    SubscriberError,
    SubscriberStore,
    TokenSigner,
    subscriber_json,
)
from subscribers.transitions import WHY_SUPPRESSED

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(db: Database) -> SubscriberStore:
    return SubscriberStore(db.sessions, default_timezone="Europe/London")


def status(store: SubscriberStore, email: str) -> str:
    subscriber = store.find(email)
    assert subscriber is not None
    return subscriber.status


def consent_actions(store: SubscriberStore, email: str) -> list[str]:
    data = store.personal_data(email)
    assert data is not None
    return [consent["action"] for consent in data["consents"]]


def test_new_subscribers_get_the_defaults(store: SubscriberStore) -> None:
    subscriber, outcome = store.add("ada@example.org")
    assert outcome == "created"
    assert (subscriber.status, subscriber.frequency, subscriber.timezone, subscriber.topics) == (
        "pending",
        "weekly",
        "Europe/London",
        [],
    )
    assert subscriber.created.tzinfo is not None


def test_one_address_whatever_its_case(store: SubscriberStore) -> None:
    first, _ = store.add("Ada.Lovelace@EXAMPLE.org", name="Ada")
    again, outcome = store.add("ada.lovelace@example.ORG", frequency="daily")
    assert outcome == "merged"
    assert again.id == first.id
    found = store.find("ADA.LOVELACE@Example.Org")
    assert found is not None
    assert found.email == "Ada.Lovelace@example.org"  # as first given, domain normalised
    assert (found.name, found.frequency) == ("Ada", "daily")
    assert store.counts()["status"]["pending"] == 1


def test_merge_takes_only_the_given_fields(store: SubscriberStore) -> None:
    store.add("ada@example.org", name="Ada", timezone="Asia/Tokyo", topics=["housing"])
    merged, _ = store.add("ada@example.org", topics="transport; data | data")
    assert (merged.name, merged.timezone) == ("Ada", "Asia/Tokyo")
    assert merged.topics == ["transport", "data"]
    assert consent_actions(store, "ada@example.org") == ["subscribe", "preferences"]


def test_bad_fields_are_refused_with_a_reason(store: SubscriberStore) -> None:
    with pytest.raises(SubscriberError, match=r"^bad email 'x@'$"):
        store.add("x@")
    with pytest.raises(SubscriberError, match=r"^unknown frequency 'hourly'$"):
        store.add("ada@example.org", frequency="hourly")
    with pytest.raises(SubscriberError, match=r"^bad time zone 'Mars/Base'$"):
        store.add("ada@example.org", timezone="Mars/Base")
    assert store.find("ada@example.org") is None
    subscriber, _ = store.add("ada@example.org", frequency=" Monthly ", timezone="europe/paris")
    assert (subscriber.frequency, subscriber.timezone) == ("monthly", "Europe/Paris")


def test_header_injection_is_never_stored(db: Database, store: SubscriberStore) -> None:
    for email in ("ada@example.org\r\nBcc: all@example.org", "ada@example.org\n", "a\rda@x.org"):
        with pytest.raises(SubscriberError, match=r"^bad email"):
            store.add(email)
    store.request_subscription(
        "grace@example.org",
        name="Grace=?UTF-8?Q?=0D=0A?=Bcc: all@example.org\r\nX: y",
        ip="192.0.2.1",
        user_agent="Mozilla\r\nX-Injected: 1",
    )
    data = store.personal_data("grace@example.org")
    assert data is not None
    assert data["name"] == "Grace Bcc: all@example.org X: y"
    assert data["consents"][0]["user_agent"] == "Mozilla X-Injected: 1"
    with db.engine.connect() as connection:
        stored = repr(connection.execute(text("SELECT * FROM subscribers")).all())
        stored += repr(connection.execute(text("SELECT * FROM consents")).all())
    assert "\\r" not in stored and "\\n" not in stored and "=?" not in stored


def test_confirm_is_idempotent_and_needs_the_nonce(store: SubscriberStore) -> None:
    subscriber, send = store.request_subscription("ada@example.org", ip="203.0.113.9")
    assert subscriber is not None and send
    assert store.confirm(subscriber.id, "not-the-nonce") is None
    first = store.confirm(subscriber.id, subscriber.token_nonce, ip="203.0.113.9")
    second = store.confirm(subscriber.id, subscriber.token_nonce)
    assert first is not None and second is not None
    assert (first.first, second.first) == (True, False)  # one welcome, however many clicks
    assert first.subscriber.status == second.subscriber.status == "confirmed"
    assert first.subscriber.confirmed_at == second.subscriber.confirmed_at
    assert consent_actions(store, "ada@example.org") == ["subscribe", "confirm"]
    assert store.confirm(999_999, subscriber.token_nonce) is None


def test_unsubscribe_is_idempotent_and_a_late_confirm_cannot_undo_it(
    store: SubscriberStore,
) -> None:
    subscriber, _ = store.add("ada@example.org", confirmed=True)
    first = store.unsubscribe(subscriber.id, subscriber.token_nonce, method="one-click")
    second = store.unsubscribe(subscriber.id, subscriber.token_nonce)
    assert first is not None and second is not None
    assert second.status == "unsubscribed"
    assert first.unsubscribed_at == second.unsubscribed_at
    assert store.confirm(subscriber.id, subscriber.token_nonce) is None
    assert consent_actions(store, "ada@example.org") == ["confirm", "unsubscribe"]
    assert store.unsubscribe(subscriber.id, "wrong") is None


def test_resubscribing_renews_the_nonce_so_old_links_are_dead(store: SubscriberStore) -> None:
    signer = TokenSigner(["a-secret-key-for-tests"])
    subscriber, _ = store.add("ada@example.org", confirmed=True)
    old_link = signer.manage_token(subscriber)
    assert store.unsubscribe(*signer.read_manage_token(old_link)) is not None
    pending, send = store.request_subscription("ada@example.org")
    assert pending is not None and send
    confirmed = store.confirm(pending.id, pending.token_nonce)
    assert confirmed is not None
    back = confirmed.subscriber
    assert (back.status, back.unsubscribed_at) == ("confirmed", None)
    assert back.token_nonce != subscriber.token_nonce
    assert store.unsubscribe(*signer.read_manage_token(old_link)) is None
    assert store.update_preferences(*signer.read_manage_token(old_link), frequency="daily") is None
    current = store.get(subscriber.id)
    assert current is not None and (current.status, current.frequency) == ("confirmed", "weekly")
    assert store.unsubscribe(*signer.read_manage_token(signer.manage_token(back))) is not None


@pytest.mark.parametrize("leave", ["unsubscribe", "complaint", "bounce", "erase"])
def test_no_admin_api_or_import_brings_back_someone_who_left(
    store: SubscriberStore, leave: str
) -> None:
    subscriber, _ = store.add("ada@example.org", name="Ada", confirmed=True)
    if leave == "unsubscribe":
        store.unsubscribe(subscriber.id, subscriber.token_nonce)
    elif leave == "complaint":
        store.record_complaint("ada@example.org")
    elif leave == "bounce":
        store.record_bounce("ada@example.org", hard=True, threshold=3)
    else:
        store.remove("ada@example.org", erase=True)
    before = store.personal_data("ada@example.org")
    for method in ("admin", "api", "cli", "import"):
        for confirmed in (True, False):
            with pytest.raises(KeptOut):
                store.add("ADA@example.org", name="Back", confirmed=confirmed, method=method)
    [result] = store.add_many([Signup("ada@example.org", confirmed=True)])
    assert isinstance(result, KeptOut)
    assert store.personal_data("ada@example.org") == before


def test_only_the_persons_own_sign_up_brings_them_back(store: SubscriberStore) -> None:
    subscriber, _ = store.add("ada@example.org", confirmed=True)
    store.unsubscribe(subscriber.id, subscriber.token_nonce)
    pending, send = store.request_subscription("ada@example.org")
    assert pending is not None and send and pending.status == "pending"
    # Pending again, by their own hand: an admin may now vouch for them.
    assert store.add("ada@example.org", confirmed=True)[0].status == "confirmed"


def test_confirmations_are_claimed_once_an_hour_for_pending_people(
    store: SubscriberStore,
) -> None:
    pending, _ = store.add("ada@example.org")
    confirmed, _ = store.add("bo@example.org", confirmed=True)
    ids = [pending.id, confirmed.id]
    assert [s.email for s in store.claim_confirmations(ids, now=NOW)] == ["ada@example.org"]
    assert store.claim_confirmations(ids, now=NOW + timedelta(minutes=59)) == []
    _, send = store.request_subscription("ada@example.org", now=NOW + timedelta(minutes=30))
    assert not send
    again = store.claim_confirmations(ids, now=NOW + timedelta(minutes=61))
    assert [s.confirmation_sent_at for s in again] == [NOW + timedelta(minutes=61)]


def test_a_form_sends_one_confirmation_an_hour(store: SubscriberStore) -> None:
    first, send = store.request_subscription("ada@example.org", now=NOW)
    assert first is not None and send and first.confirmation_sent_at == NOW
    again, send = store.request_subscription("ADA@example.org", now=NOW + timedelta(minutes=59))
    assert again is not None and not send
    assert again.token_nonce == first.token_nonce  # the link already sent keeps working
    later, send = store.request_subscription("ada@example.org", now=NOW + timedelta(minutes=61))
    assert later is not None and send
    assert store.confirm(first.id, first.token_nonce) is not None
    confirmed, send = store.request_subscription("ada@example.org", now=NOW + timedelta(hours=5))
    assert confirmed is not None and confirmed.status == "confirmed" and not send


def test_a_form_cannot_change_a_confirmed_subscribers_choices(store: SubscriberStore) -> None:
    store.add("ada@example.org", name="Ada", confirmed=True)
    subscriber, send = store.request_subscription("ada@example.org", name="Evil", frequency="daily")
    assert subscriber is not None and not send
    assert (subscriber.name, subscriber.frequency) == ("Ada", "weekly")


def test_a_form_brings_back_an_unsubscribed_address_pending(store: SubscriberStore) -> None:
    subscriber, _ = store.add("ada@example.org", confirmed=True)
    store.unsubscribe(subscriber.id, subscriber.token_nonce)
    back, send = store.request_subscription("ada@example.org", frequency="monthly")
    assert back is not None and send
    assert (back.status, back.frequency) == ("pending", "monthly")
    assert back.token_nonce != subscriber.token_nonce


@pytest.mark.parametrize("reason", ["manual", "bounce", "complaint", "erased"])
def test_only_the_persons_confirmed_sign_up_lifts_a_suppression(
    store: SubscriberStore, reason: str
) -> None:
    store.add("spam.trap@example.org", confirmed=True)
    store.suppress("Spam.Trap@example.org", reason)
    assert store.is_suppressed("spam.trap@EXAMPLE.org")
    kept_out = rf"^kept out \({WHY_SUPPRESSED[reason]}\)"
    with pytest.raises(KeptOut, match=kept_out):
        store.add("spam.trap@example.org", confirmed=True)
    # Their own sign-up asks them again, and nothing but their click confirms it.
    pending, send = store.request_subscription("SPAM.TRAP@example.org")
    assert (pending.status, send) == ("pending", True)
    with pytest.raises(KeptOut, match=kept_out):
        store.add("spam.trap@example.org", confirmed=True)
    [result] = store.add_many([Signup("spam.trap@example.org", confirmed=True)])
    assert isinstance(result, KeptOut)
    assert store.confirm(pending.id, "a link from before") is None
    assert status(store, "spam.trap@example.org") == "pending"
    assert store.is_suppressed("spam.trap@example.org")
    confirmed = store.confirm(pending.id, pending.token_nonce)
    assert confirmed is not None and confirmed.first
    assert status(store, "spam.trap@example.org") == "confirmed"
    assert not store.is_suppressed("spam.trap@example.org")
    with pytest.raises(SubscriberError, match=r"^unknown suppression reason"):
        store.suppress("ada@example.org", "because")


def test_suppressing_a_subscriber_takes_it_off_the_list(store: SubscriberStore) -> None:
    store.add("ada@example.org", confirmed=True)
    store.suppress("ada@example.org", "manual")
    subscriber = store.find("ada@example.org")
    assert subscriber is not None and subscriber.status == "unsubscribed"
    assert [s.email for s in store.iter_all(status="confirmed")] == []


def test_erase_leaves_only_a_hash(db: Database, store: SubscriberStore) -> None:
    store.add(
        "Ada.Lovelace@example.org",
        name="Ada Lovelace",
        confirmed=True,
        method="api",
        ip="198.51.100.7",
        user_agent="AdaBrowser/1.0",
    )
    store.add("grace@example.org", name="Grace")
    assert store.remove("ada.lovelace@example.org", erase=True) is True
    assert store.find("ada.lovelace@example.org") is None
    assert store.personal_data("ada.lovelace@example.org") is None
    dump = ""
    with db.engine.connect() as connection:
        for table in ("subscribers", "consents", "suppressions"):
            dump += repr(connection.execute(text(f"SELECT * FROM {table}")).all()).lower()
        hashes = connection.execute(text("SELECT email_hash, reason FROM suppressions")).all()
    # Whole values, not "ada" alone: a random token nonce may well contain three letters.
    for personal in ("ada lovelace", "ada.lovelace@", "lovelace", "198.51.100.7", "adabrowser"):
        assert personal not in dump
    digest = hashlib.sha256(b"ada.lovelace@example.org").hexdigest()
    assert [tuple(row) for row in hashes] == [(digest, "erased")]
    assert "grace" in dump
    with pytest.raises(KeptOut, match=r"^kept out \(erased\)"):
        store.add("ADA.LOVELACE@example.org")


def test_remove_deletes_consents_but_does_not_suppress(
    db: Database, store: SubscriberStore
) -> None:
    store.add("ada@example.org", confirmed=True)
    assert store.remove("ada@example.org") is True
    assert store.remove("ada@example.org") is False
    with db.session() as session:
        assert session.scalars(select(Consent)).all() == []
    assert not store.is_suppressed("ada@example.org")
    assert store.add("ada@example.org")[1] == "created"


def test_soft_bounces_suppress_at_the_threshold_hard_ones_at_once(store: SubscriberStore) -> None:
    store.add("soft@example.org", confirmed=True)
    store.add("hard@example.org", confirmed=True)
    for expected in ("confirmed", "confirmed", "bounced"):
        subscriber = store.record_bounce("soft@example.org", hard=False, threshold=3)
        assert subscriber is not None and subscriber.status == expected
    assert store.is_suppressed("soft@example.org")
    subscriber = store.record_bounce("hard@example.org", hard=True, threshold=3)
    assert subscriber is not None and (subscriber.status, subscriber.bounce_count) == ("bounced", 1)
    assert store.record_bounce("stranger@example.org", hard=True, threshold=3) is None
    assert store.is_suppressed("stranger@example.org")
    assert store.counts()["status"]["bounced"] == 2


def test_a_complaint_suppresses(store: SubscriberStore) -> None:
    store.add("ada@example.org", confirmed=True)
    subscriber = store.record_complaint("ada@example.org")
    assert subscriber is not None and subscriber.status == "complained"
    with pytest.raises(KeptOut, match=r"^kept out \(complained\)"):
        store.add("ada@example.org", confirmed=True)


def test_preferences_by_link(store: SubscriberStore) -> None:
    subscriber, _ = store.add("ada@example.org", confirmed=True)
    assert store.update_preferences(subscriber.id, "wrong", frequency="daily") is None
    with pytest.raises(SubscriberError, match=r"^bad time zone"):
        store.update_preferences(subscriber.id, subscriber.token_nonce, timezone="Nowhere/Land")
    updated = store.update_preferences(
        subscriber.id, subscriber.token_nonce, frequency="daily", topics=["Housing", "housing"]
    )
    assert updated is not None and (updated.frequency, updated.topics) == ("daily", ["Housing"])
    assert consent_actions(store, "ada@example.org")[-1] == "preferences"


def test_iter_all_pages_through_everyone_in_order(store: SubscriberStore) -> None:
    for number in range(25):
        store.add(f"reader{number:02d}@example.org", confirmed=number % 2 == 0)
    everyone = list(store.iter_all(batch=10))
    assert [s.email for s in everyone] == [f"reader{n:02d}@example.org" for n in range(25)]
    assert len(list(store.iter_all(status="confirmed", batch=4))) == 13
    with pytest.raises(SubscriberError):
        list(store.iter_all(status="gone"))


def test_counts_by_status_and_frequency(store: SubscriberStore) -> None:
    store.add("a@example.org", confirmed=True, frequency="daily")
    store.add("b@example.org", confirmed=True)
    store.add("c@example.org", frequency="monthly")
    assert store.counts() == {
        "status": {"pending": 1, "confirmed": 2, "unsubscribed": 0, "bounced": 0, "complained": 0},
        "frequency": {"each": 0, "daily": 1, "weekly": 1, "monthly": 0},
    }


def test_personal_data_is_json_ready(store: SubscriberStore) -> None:
    store.request_subscription("ada@example.org", name="Ada", ip="2001:db8::1", user_agent="UA")
    data = store.personal_data("ada@example.org")
    assert data is not None
    assert json.loads(json.dumps(data)) == data
    assert {"email", "name", "status", "frequency", "timezone", "topics", "created"} <= set(data)
    assert data["consents"] == [
        {
            "at": data["created"],
            "action": "subscribe",
            "method": "form",
            "ip": "2001:db8::1",
            "user_agent": "UA",
        }
    ]
    assert store.personal_data("nobody@example.org") is None


def test_results_stay_readable_with_a_session_factory_that_expires_on_commit(
    db: Database,
) -> None:
    store = SubscriberStore(sessionmaker(db.engine), default_timezone="UTC")
    subscriber, _ = store.add("ada@example.org", name="Ada")
    assert (subscriber.name, subscriber.timezone) == ("Ada", "UTC")
    assert [s.email for s in store.iter_all()] == ["ada@example.org"]


def test_the_database_itself_keeps_one_row_per_address(
    db: Database, store: SubscriberStore
) -> None:
    store.add("ada@example.org")
    unique = [
        constraint["column_names"]
        for constraint in inspect(db.engine).get_unique_constraints("subscribers")
    ] + [
        index["column_names"]
        for index in inspect(db.engine).get_indexes("subscribers")
        if index["unique"]
    ]
    assert ["email_key"] in unique


def test_a_bad_default_time_zone_is_refused(db: Database) -> None:
    with pytest.raises(SubscriberError, match=r"^bad time zone 'Nowhere'$"):
        SubscriberStore(db.sessions, default_timezone="Nowhere")


def test_concurrent_sign_ups_of_one_address_make_one_subscriber(store: SubscriberStore) -> None:
    addresses = [f"reader{n}@example.org" for n in range(10)]

    def sign_up_all(order: int) -> None:
        for email in addresses[order:] + addresses[:order]:
            store.request_subscription(email.upper() if order % 2 else email)

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(sign_up_all, range(6)))
    assert sorted(s.email_key for s in store.iter_all()) == sorted(addresses)


def test_holding_checks_the_links_nonce(db) -> None:
    store = SubscriberStore(db.sessions, default_timezone="Europe/London")
    subscriber, _ = store.add("nonce@example.org", confirmed=True)
    assert store.holding(subscriber.id, subscriber.token_nonce).email == "nonce@example.org"
    assert store.holding(subscriber.id, "not-the-nonce") is None
    assert store.holding(subscriber.id + 1000, subscriber.token_nonce) is None


def test_what_add_returns_is_readable_in_full(store: SubscriberStore) -> None:
    pending, _ = store.add("new@example.org", name="New")
    assert subscriber_json(pending)["confirmed_at"] is None  # every field, after the commit
    assert pending.confirmation_sent_at is None and pending.id > 0
