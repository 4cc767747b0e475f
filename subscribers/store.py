"""The subscriber list in a database: sign-up with double opt-in, preferences, unsubscribe,
suppression, erasure. Every method is one transaction; what it returns stays readable after.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple, TypeVar

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from subscribers import bulk, transitions
from subscribers.addresses import email_hash, email_key, normalise_email
from subscribers.errors import KeptOut, SubscriberError, shown
from subscribers.models import REASONS, STATUSES, Consent, Subscriber
from subscribers.profile import (
    DEFAULT_FREQUENCY,
    FREQUENCIES,
    Profile,
    check_timezone,
    clean_topics,
)
from subscribers.serialise import personal_data_json
from subscribers.timestamps import utcnow
from subscribers.transitions import ACTIVE, LEFT, Origin

# At most one confirmation mail per address this often: a form cannot be used to flood one.
CONFIRMATION_INTERVAL = timedelta(hours=1)

Outcome = Literal["created", "merged"]
AddResult = tuple[Subscriber, Outcome] | SubscriberError
T = TypeVar("T")
ID_CHUNK = 1000  # ids per IN (...): well under SQLite's and PostgreSQL's parameter limits


class Confirmed(NamedTuple):
    """A confirmed subscriber, and whether this confirmation was the first."""

    subscriber: Subscriber
    first: bool


@dataclass(frozen=True)
class Signup:
    """One address to add, as a person, a file or an admin gave it; the store checks it.

    An import may say more: `left` (unsubscribed, bounced or complained) records someone
    who had left the other tool; `joined`, `left_at` and `ip` are when and where the other
    tool says consent was given or withdrawn; `labels` are tags kept only for the admin.
    """

    email: str
    name: str | None = None
    frequency: str | None = None
    timezone: str | None = None
    topics: str | Sequence[str] | None = None
    confirmed: bool = False
    labels: Sequence[str] | None = None
    left: str | None = None
    joined: datetime | None = None
    left_at: datetime | None = None
    ip: str | None = None


@dataclass(frozen=True)
class _Candidate:
    email: str
    profile: Profile
    signup: Signup
    labels: list[str]

    @classmethod
    def of(cls, signup: Signup) -> _Candidate:
        profile = Profile.clean(
            name=signup.name,
            frequency=signup.frequency,
            timezone=signup.timezone,
            topics=signup.topics,
        )
        if signup.left is not None and signup.left not in LEFT:
            raise SubscriberError(f"unknown status {shown(signup.left)}")
        labels = clean_topics(signup.labels or ())
        return cls(normalise_email(signup.email), profile, signup, labels)

    @property
    def confirmed(self) -> bool:
        return self.signup.confirmed

    def origin(self, origin: Origin) -> Origin:
        """Where consent was given: the other tool's record of the IP, if it kept one."""
        if self.signup.ip is None:
            return origin
        return Origin.of(origin.method, self.signup.ip, origin.user_agent)


class SubscriberStore:
    """The list, on the session factory of whoever owns the database."""

    def __init__(self, sessions: sessionmaker[Session], *, default_timezone: str) -> None:
        self._sessions = sessions
        self.default_timezone = check_timezone(default_timezone)

    def add(
        self,
        email: str,
        *,
        name: str | None = None,
        frequency: str | None = None,
        timezone: str | None = None,
        topics: str | Sequence[str] | None = None,
        confirmed: bool = False,
        method: str = "admin",
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> tuple[Subscriber, Outcome]:
        """Add or merge one address (admin, API, CLI): given fields replace stored ones.
        KeptOut if the person left the list: only their own sign-up brings them back."""
        signup = Signup(email, name, frequency, timezone, topics, confirmed)
        [result] = self.add_many([signup], method=method, ip=ip, user_agent=user_agent)
        if isinstance(result, SubscriberError):
            raise result
        return result

    def add_many(
        self,
        signups: Sequence[Signup],
        *,
        method: str = "import",
        ip: str | None = None,
        user_agent: str | None = None,
        dry_run: bool = False,
    ) -> list[AddResult]:
        """`add` for a batch in one transaction (an import): each signup's outcome or error
        in its place; a bad one spoils nothing else, a repeated one merges.

        Someone who left the list, or whose address is suppressed, is KeptOut: only their
        own sign-up brings them back. `dry_run` works out every outcome and writes nothing.
        """
        origin = Origin.of(method, ip, user_agent)
        checked = [_check(signup) for signup in signups]
        candidates = [item for item in checked if isinstance(item, _Candidate)]

        def work(session: Session) -> list[AddResult]:
            now = utcnow()
            keys = {email_key(candidate.email) for candidate in candidates}
            query = bulk.where_in(session, select(Subscriber), Subscriber.email_key, keys)
            known = {subscriber.email_key: subscriber for subscriber in session.scalars(query)}
            suppressed = transitions.suppression_reasons(session, (c.email for c in candidates))
            results: list[AddResult] = []
            for item in checked:
                if isinstance(item, SubscriberError):
                    results.append(item)
                elif (reason := suppressed.get(email_hash(item.email))) is not None:
                    results.append(KeptOut(transitions.WHY_SUPPRESSED[reason]))
                elif (subscriber := known.get(email_key(item.email))) is None:
                    subscriber = self._create(session, item, origin, now)
                    known[subscriber.email_key] = subscriber
                    results.append((subscriber, "created"))
                elif subscriber.status in LEFT and item.signup.left is None:
                    results.append(KeptOut(subscriber.status))
                else:
                    _update(session, subscriber, item, origin, now)
                    results.append((subscriber, "merged"))
            bulk.write_new(session)
            return results

        if dry_run:
            return self._rehearse(work)
        return self._transaction(work)

    def request_subscription(
        self,
        email: str,
        *,
        name: str | None = None,
        frequency: str | None = None,
        timezone: str | None = None,
        topics: str | Sequence[str] | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
        now: datetime | None = None,
    ) -> tuple[Subscriber, bool]:
        """A sign-up form was sent: (subscriber, whether to mail a confirmation link).

        The boolean is all a caller may reveal: a confirmed subscriber is left untouched,
        so a stranger cannot change someone's choices by typing their address. Someone who
        left (unsubscribed, bounced, complained, or erased: then only the suppressed hash
        is left) is asked again like anyone new; only their click on the emailed link
        brings them back (see `confirm`).
        """
        candidate = _Candidate.of(Signup(email, name, frequency, timezone, topics))
        origin = Origin.of("form", ip, user_agent)

        def work(session: Session) -> tuple[Subscriber, bool]:
            moment = now or utcnow()
            subscriber = transitions.find(session, candidate.email)
            if subscriber is None:
                subscriber = self._create(session, candidate, origin, moment)
            elif subscriber.status == "confirmed":
                return subscriber, False
            else:
                _merge(session, subscriber, candidate, origin, moment)
            return subscriber, _claim_confirmation(subscriber, moment)

        return self._transaction(work)

    def confirm(
        self,
        subscriber_id: int,
        nonce: str,
        *,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> Confirmed | None:
        """Double opt-in, second step; idempotent. None for a wrong nonce or someone who has
        left the list since the link was sent; `first` is true only for the click that
        confirmed (so one welcome mail follows, however often the link is opened).

        The person's own confirmed sign-up is the one thing that lifts a suppression: only
        a sign-up made after it can be pending with it (it takes pending people off the
        list, and admins, the API and imports are kept out while it stands).
        """
        origin = Origin.of("link", ip, user_agent)

        def work(session: Session) -> Confirmed | None:
            subscriber = _holding(session, subscriber_id, nonce)
            if subscriber is None or subscriber.status not in ACTIVE:
                return None
            first = subscriber.status == "pending"
            if first:
                transitions.readmit(session, subscriber.email)
                transitions.confirm(session, subscriber, origin, utcnow())
            return Confirmed(subscriber, first)

        return self._transaction(work)

    def claim_confirmations(
        self, subscriber_ids: Sequence[int], *, now: datetime | None = None
    ) -> list[Subscriber]:
        """Those of `subscriber_ids` that are pending and were not asked within
        CONFIRMATION_INTERVAL, marked as asked now: the ones to mail a confirmation link."""

        def work(session: Session) -> list[Subscriber]:
            claimed = claim_confirmations(session, subscriber_ids, now or utcnow())
            query = select(Subscriber).where(Subscriber.id.in_(claimed)).order_by(Subscriber.id)
            return list(session.scalars(query))

        return self._transaction(work)

    def unsubscribe(
        self,
        subscriber_id: int,
        nonce: str,
        *,
        method: str = "link",
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> Subscriber | None:
        """Leave the list; idempotent. None for a wrong nonce (e.g. a link from before a
        re-subscription)."""
        origin = Origin.of(method, ip, user_agent)

        def work(session: Session) -> Subscriber | None:
            subscriber = _holding(session, subscriber_id, nonce)
            if subscriber is not None and subscriber.status in ACTIVE:
                transitions.unsubscribe(session, subscriber, origin, utcnow())
            return subscriber

        return self._transaction(work)

    def update_preferences(
        self,
        subscriber_id: int,
        nonce: str,
        *,
        name: str | None = None,
        frequency: str | None = None,
        timezone: str | None = None,
        topics: str | Sequence[str] | None = None,
        method: str = "link",
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> Subscriber | None:
        """Change what is given, from a preferences link (or by an admin, `method`
        "admin"); None for a wrong nonce."""
        profile = Profile.clean(name=name, frequency=frequency, timezone=timezone, topics=topics)
        origin = Origin.of(method, ip, user_agent)

        def work(session: Session) -> Subscriber | None:
            subscriber = _holding(session, subscriber_id, nonce)
            if subscriber is not None and transitions.apply_profile(subscriber, profile):
                transitions.record(session, subscriber, "preferences", origin, utcnow())
            return subscriber

        return self._transaction(work)

    def get(self, subscriber_id: int) -> Subscriber | None:
        """By id (as a signed link carries it); None if unknown."""
        return self._transaction(lambda session: session.get(Subscriber, subscriber_id))

    def holding(self, subscriber_id: int, nonce: str) -> Subscriber | None:
        """The subscriber a signed link is for, if its nonce is still current (a
        re-subscription renews the nonce, and with it every link)."""
        return self._transaction(lambda session: _holding(session, subscriber_id, nonce))

    def find(self, email: str) -> Subscriber | None:
        """By address, in any case; None if unknown, SubscriberError if not an address."""
        address = normalise_email(email)
        return self._transaction(lambda session: transitions.find(session, address))

    def iter_all(self, *, status: str | None = None, batch: int = 1000) -> Iterator[Subscriber]:
        """Every subscriber (of `status`), oldest first, read `batch` at a time by id so
        memory stays flat however long the list."""
        if batch < 1:
            raise ValueError("batch must be at least 1")
        query = select(Subscriber).order_by(Subscriber.id).limit(batch)
        if status is not None:
            query = query.where(Subscriber.status == _check_status(status))
        after = 0
        while True:
            page = self._all(query.where(Subscriber.id > after))
            yield from page
            if len(page) < batch:
                return
            after = page[-1].id

    def counts(self) -> dict[str, dict[str, int]]:
        """Subscribers by status, and confirmed ones (who get digests) by frequency."""

        def work(session: Session) -> dict[str, dict[str, int]]:
            by_status = dict(
                session.execute(
                    select(Subscriber.status, func.count()).group_by(Subscriber.status)
                ).all()
            )
            by_frequency = dict(
                session.execute(
                    select(Subscriber.frequency, func.count())
                    .where(Subscriber.status == "confirmed")
                    .group_by(Subscriber.frequency)
                ).all()
            )
            return {
                "status": {status: by_status.get(status, 0) for status in STATUSES},
                "frequency": {freq: by_frequency.get(freq, 0) for freq in FREQUENCIES},
            }

        return self._transaction(work)

    def remove(self, email: str, *, erase: bool = False) -> bool:
        """Delete the subscriber and its consent records; whether there was one. `erase`
        also suppresses the address by hash: the person is gone, and never mailed again."""
        address = normalise_email(email)

        def work(session: Session) -> bool:
            removed = transitions.delete_subscriber(session, address)
            if erase:
                transitions.suppress(session, address, "erased", utcnow())
            return removed

        return self._transaction(work)

    def suppress(self, email: str, reason: str) -> None:
        """Never add or mail this address again (reason: bounce, complaint, erased, manual).

        A subscriber with it leaves the list; "erased" deletes it, as `remove(erase=True)`.
        """
        if reason not in REASONS:
            raise SubscriberError(f"unknown suppression reason {shown(reason)}")
        address = normalise_email(email)
        self._transaction(lambda session: transitions.suppress(session, address, reason, utcnow()))

    def is_suppressed(self, email: str) -> bool:
        """Whether the address is on the suppression list (checked by its hash)."""
        address = normalise_email(email)
        return self._transaction(lambda session: transitions.is_suppressed(session, address))

    def record_bounce(self, email: str, *, hard: bool, threshold: int) -> Subscriber | None:
        """Count a bounce; a hard one, or the `threshold`-th soft one, suppresses the address."""
        address = normalise_email(email)

        def work(session: Session) -> Subscriber | None:
            subscriber = transitions.find(session, address)
            if subscriber is not None:
                subscriber.bounce_count += 1
            if hard or (subscriber is not None and subscriber.bounce_count >= threshold):
                transitions.suppress(session, address, "bounce", utcnow())
            return subscriber

        return self._transaction(work)

    def record_complaint(self, email: str) -> Subscriber | None:
        """A spam complaint: the address is suppressed at once."""
        address = normalise_email(email)

        def work(session: Session) -> Subscriber | None:
            transitions.suppress(session, address, "complaint", utcnow())
            return transitions.find(session, address)

        return self._transaction(work)

    def personal_data(self, email: str) -> dict[str, Any] | None:
        """All that is stored about this address, JSON-ready (GDPR access); None if nothing."""
        address = normalise_email(email)

        def work(session: Session) -> dict[str, Any] | None:
            subscriber = transitions.find(session, address)
            if subscriber is None:
                return None
            consents = session.scalars(
                select(Consent).where(Consent.subscriber_id == subscriber.id).order_by(Consent.id)
            )
            return personal_data_json(subscriber, consents)

        return self._transaction(work)

    def search(self, q: str, *, status: str = "", limit: int, offset: int = 0) -> list[Subscriber]:
        """Subscribers of `status` (any, if blank) whose address or name contains `q`
        (`%` and `_` taken literally), newest first."""
        query = _matching(q, status).order_by(Subscriber.id.desc()).offset(offset).limit(limit)
        return self._all(query)

    def count_matching(self, q: str, *, status: str = "") -> int:
        """How many subscribers `search` finds in all."""
        query = select(func.count()).select_from(_matching(q, status).subquery())
        return self._transaction(lambda session: session.scalar(query) or 0)

    def emails(self, ids: Iterable[int]) -> dict[int, str]:
        """The addresses of subscribers `ids`, by id, read ID_CHUNK ids a query."""
        wanted = sorted(set(ids))

        def work(session: Session) -> dict[int, str]:
            found: dict[int, str] = {}
            for start in range(0, len(wanted), ID_CHUNK):
                chunk = wanted[start : start + ID_CHUNK]
                query = select(Subscriber.id, Subscriber.email).where(Subscriber.id.in_(chunk))
                found.update(session.execute(query).tuples().all())
            return found

        return self._transaction(work)

    def memberships(self) -> list[tuple[datetime | None, datetime | None]]:
        """Each subscriber's confirmation time and, if they left the digests, when:
        what the growth charts count."""
        query = select(Subscriber.confirmed_at, Subscriber.unsubscribed_at, Subscriber.status)

        def work(session: Session) -> list[tuple[datetime | None, datetime | None]]:
            return [
                (confirmed, left if status in LEFT else None)
                for confirmed, left, status in session.execute(query)
            ]

        return self._transaction(work)

    def consents(self, subscriber_id: int) -> list[Consent]:
        """Their consent records, oldest first: when, what, how and from where."""
        query = select(Consent).where(Consent.subscriber_id == subscriber_id).order_by(Consent.id)
        return self._transaction(lambda session: list(session.scalars(query)))

    def _create(
        self, session: Session, candidate: _Candidate, origin: Origin, at: datetime
    ) -> Subscriber:
        profile, signup = candidate.profile, candidate.signup
        subscriber = Subscriber(
            email=candidate.email,
            email_key=email_key(candidate.email),
            name=profile.name or "",
            status="pending",
            frequency=profile.frequency or DEFAULT_FREQUENCY,
            timezone=profile.timezone or self.default_timezone,
            topics=profile.topics or [],
            labels=candidate.labels,
            created=signup.joined or at,
            # Every column given, so the object reads the same however it was written.
            confirmed_at=None,
            unsubscribed_at=None,
            confirmation_sent_at=None,
            bounce_count=0,
            token_nonce=transitions.new_nonce(),
        )
        session.add(subscriber)
        source = candidate.origin(origin)
        if signup.left is not None:
            transitions.unsubscribe(session, subscriber, source, signup.left_at or at, signup.left)
        elif candidate.confirmed:  # one record says both: added, and consent vouched for
            transitions.confirm(session, subscriber, source, signup.joined or at)
        else:
            transitions.record(session, subscriber, "subscribe", source, signup.joined or at)
        return subscriber

    def _all(self, query: Select[Subscriber]) -> list[Subscriber]:
        return self._transaction(lambda session: list(session.scalars(query)))

    def _transaction(self, work: Callable[[Session], T]) -> T:
        """Run `work` in one transaction. A unique-key clash means a concurrent request
        added the same address first; run again, `work` finds and merges it."""
        try:
            return self._attempt(work)
        except IntegrityError:
            return self._attempt(work)

    def _rehearse(self, work: Callable[[Session], T]) -> T:
        """Run `work` and roll it back: what it would do, with nothing written."""
        with self._sessions() as session:
            try:
                result = work(session)
                session.flush()
                session.expunge_all()
            finally:
                session.rollback()
        return result

    def _attempt(self, work: Callable[[Session], T]) -> T:
        with self._sessions.begin() as session:
            result = work(session)
            session.flush()
            # Detached before the commit, so not expired by it: callers can read them.
            session.expunge_all()
        return result


def claim_confirmations(
    session: Session, subscriber_ids: Sequence[int], moment: datetime
) -> list[int]:
    """`SubscriberStore.claim_confirmations` within the caller's transaction (so what is
    claimed can be queued for sending in the same commit), set-based: the ids claimed."""
    due = or_(
        Subscriber.confirmation_sent_at.is_(None),
        Subscriber.confirmation_sent_at <= moment - CONFIRMATION_INTERVAL,
    )
    claim = (
        update(Subscriber)
        .where(Subscriber.id.in_(set(subscriber_ids)), Subscriber.status == "pending", due)
        .values(confirmation_sent_at=moment)
        .returning(Subscriber.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(session.scalars(claim))


def _claim_confirmation(subscriber: Subscriber, moment: datetime) -> bool:
    """Whether to mail this person a confirmation link now (at most once an hour), and if
    so note that it is sent."""
    sent = subscriber.confirmation_sent_at
    if sent is not None and moment - sent < CONFIRMATION_INTERVAL:
        return False
    subscriber.confirmation_sent_at = moment
    return True


def _check(signup: Signup) -> _Candidate | SubscriberError:
    try:
        return _Candidate.of(signup)
    except SubscriberError as exc:
        return exc


def _check_status(status: str) -> str:
    if status not in STATUSES:
        raise SubscriberError(f"unknown status {shown(status)}")
    return status


def _holding(session: Session, subscriber_id: int, nonce: str) -> Subscriber | None:
    """The subscriber, if `nonce` (from a signed link) is still its current one."""
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None or not hmac.compare_digest(
        subscriber.token_nonce.encode(), nonce.encode()
    ):
        return None
    return subscriber


def _update(
    session: Session, subscriber: Subscriber, candidate: _Candidate, origin: Origin, at: datetime
) -> None:
    """An address already known, from an admin, the API or an import: take the given fields
    and labels; record a departure the source knows of; confirm if consent is vouched for.
    Never brings back someone who left (the caller keeps them out)."""
    changed = transitions.apply_profile(subscriber, candidate.profile)
    labels = clean_topics([*subscriber.labels, *candidate.labels])
    if labels != subscriber.labels:
        subscriber.labels = labels
    signup = candidate.signup
    if signup.left is not None:
        if subscriber.status in ACTIVE:
            transitions.unsubscribe(session, subscriber, origin, signup.left_at or at, signup.left)
        return
    if changed:
        transitions.record(session, subscriber, "preferences", origin, at)
    if candidate.confirmed and subscriber.status == "pending":
        transitions.confirm(session, subscriber, candidate.origin(origin), at)


def _merge(
    session: Session, subscriber: Subscriber, candidate: _Candidate, origin: Origin, at: datetime
) -> None:
    """An address already known, from the person's own sign-up: take the given fields;
    bring it back (pending) if it had left."""
    changed = transitions.apply_profile(subscriber, candidate.profile)
    if subscriber.status not in ACTIVE:
        transitions.resubscribe(session, subscriber, origin, at)
    elif changed:
        transitions.record(session, subscriber, "preferences", origin, at)
    if candidate.confirmed and subscriber.status == "pending":
        transitions.confirm(session, subscriber, origin, at)


def _matching(q: str, status: str) -> Select[Subscriber]:
    query = select(Subscriber)
    if status:
        query = query.where(Subscriber.status == status)
    if not q:
        return query
    needle = q.lower()
    return query.where(
        or_(
            func.lower(Subscriber.email).contains(needle, autoescape=True),
            func.lower(Subscriber.name).contains(needle, autoescape=True),
        )
    )
