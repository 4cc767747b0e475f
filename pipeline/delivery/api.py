"""The email API backends: one loop over batches, each provider saying only how a batch
looks on its wire and how to read the answer.

Batching, pacing, retries and turning answers into per-recipient results are the same for
Postmark, SendGrid, Mailgun and Resend, so they live here once. An answer that cannot be
read although the provider said 2xx counts as accepted: the provider took the request, and
sending it again would mail everyone twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests

from pipeline.delivery.base import Closing, Done, SendResult, delivered, failed
from pipeline.delivery.http import RetryPolicy, api_session, describe, post
from pipeline.delivery.parts import structured
from pipeline.delivery.ratelimit import TokenBucket
from pipeline.mail.template import OutgoingMessage

log = logging.getLogger(__name__)
# Refusals that say nothing about the messages: the request timed out, one with the same
# Idempotency-Key is still under way (Resend), too many requests, or the provider failed.
TRANSIENT_STATUSES = frozenset({408, 409, 429})
# Our credentials or the account are refused: no message can go until an admin fixes it,
# then the same messages can.
CHANNEL_STATUSES = frozenset({401, 403})


@dataclass(frozen=True)
class Call:
    """One HTTP request to a provider: a path under its base URL and what to POST."""

    path: str
    json: Any = None
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


class APIBackend(Closing):
    """Sends through `provider` over one Session, paced per recipient by `limiter`."""

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

    @property
    def max_batch(self) -> int:
        """How many messages one `send` should get: a full request's worth."""
        return self.provider.batch_size

    def send(
        self, messages: Sequence[OutgoingMessage], done: Done | None = None
    ) -> list[SendResult]:
        """Each request's outcomes are recorded (with `done`) before the next request goes,
        so a crash leaves at most one request's batch sent but unrecorded."""
        results: list[list[SendResult]] = [[] for _ in messages]
        for index, message in enumerate(messages):
            if not structured(message):
                error = f"{self.provider.name}: the message has no template to send parts of"
                results[index] = failed(message, error, permanent=True)
                _hand_over(done, [(message, results[index])])
        for indices in batches(messages, self.provider.batch_size, self.provider.per_template):
            batch = [messages[index] for index in indices]
            for index, outcome in zip(indices, self._send_batch(batch), strict=True):
                results[index] = outcome
            _hand_over(done, [(messages[index], results[index]) for index in indices])
        return [result for per_message in results for result in per_message]

    def close(self) -> None:
        self.session.close()

    def _send_batch(self, batch: Sequence[OutgoingMessage]) -> list[list[SendResult]]:
        name = self.provider.name
        self.limiter.acquire(len(batch))
        call = self.provider.call(batch)
        answer = post(
            self.session,
            self.base_url + call.path,
            timeout=self.timeout,
            policy=self.retry,
            json=call.json,
            data=call.data,
            headers=call.headers,
        )
        if isinstance(answer, str):  # no answer at all, after the retries
            outcomes: list[Outcome] = [Refused(answer, permanent=False, channel=True)] * len(batch)
        elif not answer.ok:
            status = answer.status_code
            channel = status in CHANNEL_STATUSES
            permanent = not channel and status not in TRANSIENT_STATUSES and status < 500
            outcomes = [Refused(describe(answer), permanent, channel)] * len(batch)
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


def _hand_over(done: Done | None, finished: list[tuple[OutgoingMessage, list[SendResult]]]) -> None:
    """Give `done` each message's results and wait until all of them are recorded."""
    if done is None:
        return
    for ticket in [done(message, results) for message, results in finished]:
        ticket.wait()
