"""The email API backends: one loop over batches, each provider saying only how a batch
looks on its wire and how to read the answer.

Batching, pacing, retries and turning answers into per-recipient results are the same for
Postmark, SendGrid, Mailgun and Resend, so they live here once. An answer that cannot be
read although the provider said 2xx counts as accepted: the provider took the request, and
sending it again would mail everyone twice.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii
from typing import Any, Protocol

import requests

from pipeline.delivery.base import Closing, Done, SendResult, Ticket, delivered, failed
from pipeline.delivery.http import RetryPolicy, api_session, describe, post
from pipeline.delivery.parts import ESCAPES, Parts, slotted, structured, values
from pipeline.delivery.ratelimit import TokenBucket
from pipeline.mail.template import Context, MessageTemplate, OutgoingMessage

log = logging.getLogger(__name__)
# Refusals that say nothing about the messages: the request timed out, one with the same
# Idempotency-Key is still under way (Resend), too many requests, or the provider failed.
TRANSIENT_STATUSES = frozenset({408, 409, 429})
# Our credentials or the account are refused: no message can go until an admin fixes it,
# then the same messages can.
CHANNEL_STATUSES = frozenset({401, 403})
JSON_TYPE = {"Content-Type": "application/json"}
READY_KEPT = 2  # lists of messages whose requests are encoded ahead


@dataclass(frozen=True)
class Call:
    """One HTTP request to a provider: a path under its base URL and what to POST (`body`:
    JSON text already encoded)."""

    path: str
    json: Any = None
    body: bytes | None = None
    data: Sequence[tuple[str, str]] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Accepted:
    provider_id: str | None = None


@dataclass(frozen=True)
class Refused:
    error: str
    permanent: bool
    channel: bool = False


Outcome = Accepted | Refused


class Provider(Protocol):
    """What differs between the email APIs."""

    name: str  # in errors: "Postmark: HTTP 422: …"
    url: str  # the default base URL (API_BASE_URL replaces it)
    batch_size: int  # messages per request
    per_template: bool  # whether a request carries one template, each address at most once

    @property
    def headers(self) -> Mapping[str, str]:
        """Sent with every request: authentication (read only, so a dict satisfies it)."""

    def call(self, batch: Sequence[OutgoingMessage]) -> Call: ...

    def outcomes(
        self, batch: Sequence[OutgoingMessage], response: requests.Response
    ) -> list[Outcome]:
        """One per message of `batch`, from a 2xx answer; may raise ValueError, KeyError,
        TypeError or IndexError for an answer of the wrong shape."""

    def error(self, body: dict[str, Any]) -> str:
        """Its own message in the JSON object of an error answer ("" if none is there)."""


class APIBackend(Closing):
    """Sends through `provider` over one Session, paced per recipient by `limiter`."""

    sends_bytes = False

    def __init__(
        self,
        provider: Provider,
        *,
        base_url: str | None,
        timeout: float,
        limiter: TokenBucket,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.provider = provider
        self.base_url = (base_url or provider.url).rstrip("/")
        self.timeout, self.limiter = timeout, limiter
        self.retry = retry or RetryPolicy()
        self.session = api_session(provider.headers)
        self._unrecorded: tuple[Done, Ticket] | None = None  # the last request's, handed over
        self._ready: dict[int, tuple[Sequence[OutgoingMessage], list[Call]]] = {}  # by id
        self._ready_lock = threading.Lock()  # `ready` and `send` run on different threads

    @property
    def max_batch(self) -> int:
        """How many messages one `send` should get: a full request's worth."""
        return self.provider.batch_size

    def ready(self, messages: Sequence[OutgoingMessage]) -> None:
        """Encode the requests for `messages` now, for the `send` of these same messages:
        a Postmark request is megabytes of JSON, and the thread that sends can wait on
        the one before meanwhile. Kept for the two latest lists only (a send can stop
        before it sends what it prepared); the list is kept with them, so its id is not
        another's."""
        size, per_template = self.provider.batch_size, self.provider.per_template
        calls = [
            self.provider.call([messages[index] for index in indices])
            for indices in batches(messages, size, per_template)
        ]
        with self._ready_lock:
            self._ready[id(messages)] = (messages, calls)
            while len(self._ready) > READY_KEPT:
                del self._ready[next(iter(self._ready))]

    def send(
        self, messages: Sequence[OutgoingMessage], done: Done | None = None
    ) -> list[SendResult]:
        """Each request's outcomes are recorded (with `done`) before the next request goes,
        so a crash leaves at most one request's batch sent but unrecorded. The wait is as
        late as that, even into the next `send`: meanwhile the caller prepares what goes
        next while the last request's outcomes are written."""
        results: list[list[SendResult]] = [[] for _ in messages]
        for index, message in enumerate(messages):
            if not structured(message):
                error = f"{self.provider.name}: the message has no template to send parts of"
                results[index] = failed(message, error, permanent=True)
                if done is not None:
                    done([(message, results[index])])
        if self._unrecorded is not None and self._unrecorded[0] != done:
            self._unrecorded = None  # another caller's, whose recording is its own
        with self._ready_lock:
            kept, calls = self._ready.pop(id(messages), (None, []))
        made = iter(calls if kept is messages else [])
        for indices in batches(messages, self.provider.batch_size, self.provider.per_template):
            batch = [messages[index] for index in indices]
            call = next(made, None) or self.provider.call(batch)
            for index, outcome in zip(indices, self._send_batch(batch, call), strict=True):
                results[index] = outcome
            if done is not None:
                finished = [(messages[index], results[index]) for index in indices]
                self._unrecorded = (done, done(finished))
        return [result for per_message in results for result in per_message]

    def close(self) -> None:
        self._unrecorded = None
        with self._ready_lock:
            self._ready.clear()
        self.session.close()

    def _send_batch(self, batch: Sequence[OutgoingMessage], call: Call) -> list[list[SendResult]]:
        name = self.provider.name
        self.limiter.acquire(len(batch))
        if self._unrecorded is not None:
            self._unrecorded[1].wait()
            self._unrecorded = None
        answer = post(
            self.session,
            self.base_url + call.path,
            timeout=self.timeout,
            policy=self.retry,
            error=self.provider.error,
            json=call.json,
            data=call.data if call.body is None else call.body,
            headers=call.headers if call.body is None else {**JSON_TYPE, **call.headers},
        )
        if isinstance(answer, str):  # no answer at all, after the retries
            outcomes: list[Outcome] = [Refused(answer, permanent=False, channel=True)] * len(batch)
        elif not answer.ok:
            status = answer.status_code
            channel = status in CHANNEL_STATUSES
            permanent = not channel and status not in TRANSIENT_STATUSES and status < 500
            error = describe(answer, self.provider.error)
            outcomes = [Refused(error, permanent, channel)] * len(batch)
        else:
            outcomes = self._read(batch, answer)
        return [
            delivered(message, outcome.provider_id)
            if isinstance(outcome, Accepted)
            else failed(
                message,
                f"{name}: {outcome.error}",
                permanent=outcome.permanent,
                channel=outcome.channel,
            )
            for message, outcome in zip(batch, outcomes, strict=True)
        ]

    def _read(self, batch: Sequence[OutgoingMessage], response: requests.Response) -> list[Outcome]:
        try:
            outcomes = self.provider.outcomes(batch, response)
            if len(outcomes) == len(batch):
                return outcomes
        except (ValueError, KeyError, TypeError, IndexError):
            pass
        log.warning(
            "%s answered HTTP %s with a body that does not match the batch of %d; "
            "counting it as accepted",
            self.provider.name,
            response.status_code,
            len(batch),
        )
        return [Accepted()] * len(batch)


def batches(
    messages: Sequence[OutgoingMessage], size: int, per_template: bool
) -> Iterator[list[int]]:
    """Indices of the structured `messages`, in requests of at most `size`. With
    `per_template`, a request holds one template's messages and each address once (the
    provider keys its per-recipient values by address)."""
    open_batches: dict[int, tuple[list[int], set[str]]] = {}
    for index, message in enumerate(messages):
        if not structured(message):
            continue
        key = id(message.template) if per_template else 0
        batch, seen = open_batches.setdefault(key, ([], set()))
        address = message.recipients[0].lower()
        if len(batch) == size or (per_template and address in seen):
            yield batch
            batch, seen = open_batches[key] = ([], set())
        batch.append(index)
        seen.add(address)
    for batch, _ in open_batches.values():
        if batch:
            yield batch


Shape = Callable[[Parts], object]


def json_messages(batch: Sequence[OutgoingMessage], shape: Shape) -> bytes:
    """`[shape(filled(message)) for message in batch]` as JSON text, made without filling
    or encoding each message's parts: each template's object is encoded once with holes
    where recipients differ (see `JsonCopy`), and a message is its values put in those."""
    name = f"api-json:{shape.__module__}.{shape.__qualname__}"
    copies: dict[int, JsonCopy] = {}  # by id(template): the batch's few templates at hand
    text: list[bytes] = []
    for message in batch:
        text.append(b",")
        template, known = values(message)
        copy = copies.get(id(template))
        if copy is None:
            copy = copies[id(template)] = template.derived(
                name, lambda made: JsonCopy.of(made, shape)
            )
        copy.put(known, text)
    text[:1] = [b"["]  # in place of the first comma, if any
    text.append(b"]")
    return b"".join(text)


@dataclass(frozen=True)
class JsonCopy:
    """A template's message as JSON text (ASCII), split at its slots: the literal JSON
    before the first slot, then for each slot how its value is escaped, its name, and the
    literal JSON after it. Kept as bytes, so a request is one join, not a join and a copy."""

    first: bytes
    rest: tuple[tuple[Callable[[str], str], str, bytes], ...]

    @classmethod
    def of(cls, template: MessageTemplate, shape: Shape) -> JsonCopy:
        """The JSON of `shape` applied to `template`'s parts, each slot a marked hole."""
        mark = uuid.uuid4().hex  # a fresh random word that no post or setting contains
        holes: list[tuple[Context, str]] = []

        def hole(context: Context) -> Callable[[str], str]:
            def marked(slot: str) -> str:
                holes.append((context, slot))
                return f"{mark}{len(holes) - 1}{mark}"

            return marked

        parts = Parts(
            sender=template.from_header,
            to=hole("text")("to"),
            subject=template.subject,
            text=slotted(template, template.text, hole("text")),
            html=slotted(template, template.html, hole("html")),
            headers={
                "Message-ID": hole("text")("message_id"),
                **{
                    name: slotted(template, value, hole("header"))
                    for name, value in template.headers.items()
                },
            },
        )
        split = re.split(f"{mark}([0-9]+){mark}", json.dumps(shape(parts)))
        literals = [piece.encode("ascii") for piece in split[::2]]
        slots = [holes[int(number)] for number in split[1::2]]
        return cls(
            literals[0],
            tuple(
                (ESCAPES[context], slot, after)
                for (context, slot), after in zip(slots, literals[1:], strict=True)
            ),
        )

    def put(self, known: Mapping[str, str], text: list[bytes]) -> None:
        """Append one recipient's message to `text`, from every slot's raw value."""
        append = text.append
        append(self.first)
        for escape, slot, after in self.rest:
            append(encode_basestring_ascii(escape(known[slot]))[1:-1].encode("ascii"))
            append(after)
