"""The email API backends against pytest-httpserver playing each provider: its documented
request shapes checked field by field, its answers (per-message results, 429, 5xx, 4xx)
turned into per-recipient results."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from pipeline.delivery import (
    APIBackend,
    ConsoleBackend,
    DeliveryConfigError,
    FileBackend,
    Finished,
    RetryPolicy,
    SendResult,
    SMTPPool,
    open_backend,
)
from pipeline.delivery.parts import filled
from pipeline.delivery.providers.postmark import _message as postmark_message
from pipeline.delivery.providers.resend import _email as resend_email
from pipeline.mail import OutgoingMessage
from pipeline.mail.template import MessageTemplate, Recipient, build_template
from pipeline.settings import SettingsProblem, load_settings

API_KEY = "key-0123456789"
NAMES = {"postmark": "Postmark", "sendgrid": "SendGrid", "mailgun": "Mailgun", "resend": "Resend"}
PROVIDERS = list(NAMES)
PATHS = {
    "postmark": "/email/batch",
    "sendgrid": "/v3/mail/send",
    "mailgun": "/v3/mg.example.org/messages",
    "resend": "/emails/batch",
}
FAST = RetryPolicy(backoff=0.01)


def template(subject: str = "Policy Blog: 3 new posts") -> MessageTemplate:
    return build_template(
        sender="Policy Blog <news@blog.example.org>",
        subject=subject,
        text="Hello %%name%%,\nUnsubscribe: %%unsubscribe_url%%\n",
        html_body='<p>Hello %%name%%</p><a href="%%unsubscribe_url%%">Unsubscribe</a>',
        headers={
            "List-Unsubscribe": "<%%unsubscribe_url%%>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        variables=["unsubscribe_url"],
    )


def digests(count: int, shared: MessageTemplate | None = None) -> list[OutgoingMessage]:
    """`count` recipients of one digest; the names need escaping in HTML."""
    digest = shared or template()
    return [
        digest.render(
            Recipient(
                key=f"row-{n}",
                email=f"reader{n}@example.org",
                name=f"Reader {n} & <Co>",
                variables={"unsubscribe_url": f"https://blog.example.org/u/{n}?t=a&b"},
            )
        )
        for n in range(count)
    ]


@dataclass(frozen=True)
class Seen:
    """One request as the provider received it."""

    headers: dict[str, str]
    json: Any
    form: dict[str, list[str]]


Answer = Callable[[Request], Response]


def serve(httpserver: HTTPServer, provider: str, *answers: Answer) -> list[Seen]:
    """The provider's endpoint, answering with `answers` in turn (the last one repeats);
    returns the list the requests are recorded in."""
    seen: list[Seen] = []
    script = list(answers)

    def handle(request: Request) -> Response:
        form = {} if request.is_json else request.form.to_dict(flat=False)
        seen.append(Seen(dict(request.headers), request.get_json(silent=True), form))
        answer = script.pop(0) if len(script) > 1 else script[0]
        return answer(request)

    httpserver.expect_request(PATHS[provider], method="POST").respond_with_handler(handle)
    return seen


def accepted(provider: str) -> Answer:
    """The provider's answer when it takes every message."""

    def answer(request: Request) -> Response:
        body = request.get_json(silent=True)
        match provider:
            case "postmark":
                return json_response(
                    [{"ErrorCode": 0, "Message": "OK", "MessageID": f"pm-{m['To']}"} for m in body]
                )
            case "sendgrid":
                return Response(status=202, headers={"X-Message-Id": "sg-batch-1"})
            case "mailgun":
                return json_response({"id": "<mg-1@mg.example.org>", "message": "Queued."})
            case _:
                return json_response({"data": [{"id": f"re-{email['to'][0]}"} for email in body]})

    return answer


def json_response(body: Any, status: int = 200, **headers: str) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")


def status(code: int, body: Any = None, **headers: str) -> Answer:
    return lambda request: json_response(body or {"message": "busy"}, code, **headers)


REFUSALS = {  # each provider's documented shape of a 4xx answer
    "postmark": (422, {"ErrorCode": 300, "Message": "Invalid 'From' address: unverified."}),
    "sendgrid": (
        400,
        {"errors": [{"message": "The from address is not verified.", "field": "from"}]},
    ),
    "mailgun": (400, {"message": "'from' parameter is not a valid address"}),
    "resend": (
        422,
        {"statusCode": 422, "message": "Invalid `from` field.", "name": "validation_error"},
    ),
}


def backend(httpserver: HTTPServer, provider: str, **overrides: Any) -> APIBackend:
    settings = load_settings(
        email_backend=provider,
        api_key=API_KEY,
        api_base_url=httpserver.url_for("/"),
        mailgun_domain="mg.example.org",
        **overrides,
    )
    opened = open_backend(settings)
    assert isinstance(opened, APIBackend)
    opened.retry = FAST
    return opened


def states(results: list[SendResult]) -> list[tuple[str, bool, bool]]:
    return [(r.recipient, r.ok, r.permanent) for r in results]


# choosing a backend


def test_every_email_backend_value_opens_a_backend(httpserver: HTTPServer) -> None:
    kinds = {
        "file": FileBackend,
        "console": ConsoleBackend,
        "smtp": SMTPPool,
        **dict.fromkeys(PROVIDERS, APIBackend),
    }
    for name, kind in kinds.items():
        settings = load_settings(email_backend=name, api_key=API_KEY, mailgun_domain="mg.org")
        assert isinstance(open_backend(settings), kind), name


@pytest.mark.parametrize("provider", PROVIDERS)
def test_api_backends_need_an_api_key(provider: str) -> None:
    with pytest.raises(DeliveryConfigError) as error:
        open_backend(load_settings(email_backend=provider, mailgun_domain="mg.example.org"))
    assert str(error.value) == (
        f"NEWSLETTER_API_KEY: needed for NEWSLETTER_EMAIL_BACKEND={provider}"
    )
    assert isinstance(error.value, SettingsProblem)  # so commands exit 2 with one line


def test_mailgun_needs_its_domain() -> None:
    with pytest.raises(DeliveryConfigError, match=r"^NEWSLETTER_MAILGUN_DOMAIN: needed"):
        open_backend(load_settings(email_backend="mailgun", api_key=API_KEY))


# Postmark


def test_postmark_sends_batches_of_500_whole_messages(httpserver: HTTPServer) -> None:
    seen = serve(httpserver, "postmark", accepted("postmark"))
    messages = digests(1201)
    results = backend(httpserver, "postmark").send(messages)

    assert [len(request.json) for request in seen] == [500, 500, 201]
    assert all(request.headers["X-Postmark-Server-Token"] == API_KEY for request in seen)
    assert [(r.message_id, r.ok, r.provider_id) for r in results] == [
        (m.message_id, True, f"pm-{quoted_to(m)}") for m in messages
    ]
    first = seen[0].json[0]
    assert first == {
        "From": "Policy Blog <news@blog.example.org>",
        "To": '"Reader 0 & <Co>" <reader0@example.org>',
        "Subject": "Policy Blog: 3 new posts",
        "HtmlBody": (
            "<p>Hello Reader 0 &amp; &lt;Co&gt;</p>"
            '<a href="https://blog.example.org/u/0?t=a&amp;b">Unsubscribe</a>'
        ),
        "TextBody": "Hello Reader 0 & <Co>,\nUnsubscribe: https://blog.example.org/u/0?t=a&b\n",
        "Headers": [
            {"Name": "Message-ID", "Value": messages[0].message_id},
            {"Name": "List-Unsubscribe", "Value": "<https://blog.example.org/u/0?t=a&b>"},
            {"Name": "List-Unsubscribe-Post", "Value": "List-Unsubscribe=One-Click"},
        ],
        "MessageStream": "broadcast",
    }
    tos = [m["To"] for request in seen for m in request.json]
    assert tos == [quoted_to(m) for m in messages]  # each message to its one recipient


class Logged:
    """A `done` ticket that notes in `events` when it is waited for."""

    def __init__(self, events: list[str], name: str) -> None:
        self.events, self.name = events, name

    def wait(self) -> None:
        self.events.append(f"waited {self.name}")


def test_a_request_goes_once_the_one_before_is_recorded_waiting_as_late_as_that(
    httpserver: HTTPServer,
) -> None:
    """At most one request's batch is sent but unrecorded; the wait for the last one's
    outcomes is left to the next request, the next `send`'s included, so the caller
    prepares what comes next meanwhile."""
    events: list[str] = []
    answer = accepted("postmark")

    def handle(request: Request) -> Response:
        events.append(f"request of {len(request.get_json())}")
        return answer(request)

    httpserver.expect_request("/email/batch", method="POST").respond_with_handler(handle)

    def done(finished: Finished) -> Logged:
        name = f"#{sum(event.startswith('done') for event in events) + 1}"
        events.append(f"done {name}: {len(finished)}")
        return Logged(events, name)

    api = backend(httpserver, "postmark")
    api.send(digests(501), done)
    events.append("send returned")
    api.send(digests(3), done)

    assert events == [
        "request of 500",
        "done #1: 500",
        "waited #1",
        "request of 1",
        "done #2: 1",
        "send returned",
        "waited #2",
        "request of 3",
        "done #3: 3",
    ]


class Failed:
    """A ticket whose outcomes could not be recorded."""

    def wait(self) -> None:
        raise RuntimeError("the outcomes could not be recorded")


def test_a_request_waits_only_for_what_its_own_caller_handed_over(httpserver: HTTPServer) -> None:
    """A backend that sends for one run after another waits for the last request of the
    same run only: another run's recording, failed or not, is that run's business."""
    seen = serve(httpserver, "postmark", accepted("postmark"))
    api = backend(httpserver, "postmark")

    def failing(finished: Finished) -> Failed:
        return Failed()

    api.send(digests(1), failing)
    api.send(digests(2), lambda finished: Logged([], "another run"))  # goes all the same
    api.send(digests(3), failing)
    with pytest.raises(RuntimeError):  # the same run's request before was not recorded
        api.send(digests(4), failing)
    assert [len(request.json) for request in seen] == [1, 2, 3]


def test_requests_encoded_ahead_are_sent_as_encoded_for_the_two_latest_lists(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = serve(httpserver, "postmark", accepted("postmark"))
    api = backend(httpserver, "postmark")
    encoded: list[int] = []
    encode = api.provider.call
    monkeypatch.setattr(
        api.provider, "call", lambda batch: encoded.append(len(batch)) or encode(batch)
    )
    dropped, second, third = digests(501), digests(2), digests(3)
    for messages in (dropped, second, third):
        api.ready(messages)
    assert encoded == [500, 1, 2, 3]

    results = [api.send(messages) for messages in (second, dropped, third, list(third))]
    assert encoded == [500, 1, 2, 3, 500, 1, 3]  # the list dropped, and another list, again
    assert [len(request.json) for request in seen] == [2, 500, 1, 3, 3]
    sent = [message for messages in (second, dropped, third, third) for message in messages]
    assert [m["To"] for request in seen for m in request.json] == [quoted_to(m) for m in sent]
    assert all(result.ok for each in results for result in each)


def quoted_to(message: OutgoingMessage) -> str:
    assert message.recipient is not None
    return f'"{message.recipient.name}" <{message.recipient.email}>'


def test_postmark_reads_each_message_result_of_a_200(httpserver: HTTPServer) -> None:
    inactive = "You tried to send to recipient(s) that have been marked as inactive."
    serve(
        httpserver,
        "postmark",
        lambda request: json_response(
            [
                {"ErrorCode": 0, "Message": "OK", "MessageID": "pm-ok"},
                {"ErrorCode": 406, "Message": inactive},
                {"ErrorCode": 429, "Message": "Rate limit exceeded."},
            ]
        ),
    )
    results = backend(httpserver, "postmark").send(digests(3))
    assert [(r.ok, r.permanent, r.error, r.provider_id) for r in results] == [
        (True, False, None, "pm-ok"),
        (False, True, f"Postmark: 406 {inactive}", None),
        (False, False, "Postmark: 429 Rate limit exceeded.", None),
    ]


# SendGrid


def test_sendgrid_sends_one_body_per_template_and_a_personalization_each(
    httpserver: HTTPServer,
) -> None:
    seen = serve(httpserver, "sendgrid", accepted("sendgrid"))
    weekly = digests(1201)
    other = digests(2, template("Another digest"))
    results = backend(httpserver, "sendgrid").send([*weekly[:600], *other, *weekly[600:]])

    assert [len(request.json["personalizations"]) for request in seen] == [1000, 201, 2]
    assert all(request.headers["Authorization"] == f"Bearer {API_KEY}" for request in seen)
    assert all(r.ok and r.provider_id == "sg-batch-1" for r in results)
    assert [r.recipient for r in results] == [
        m.recipients[0] for m in [*weekly[:600], *other, *weekly[600:]]
    ]

    body = seen[0].json
    assert body["from"] == {"email": "news@blog.example.org", "name": "Policy Blog"}
    assert body["subject"] == "Policy Blog: 3 new posts"
    assert body["content"] == [
        {"type": "text/plain", "value": "Hello %%name%%,\nUnsubscribe: %%unsubscribe_url%%\n"},
        {
            "type": "text/html",
            "value": '<p>Hello %%html:name%%</p><a href="%%html:unsubscribe_url%%">Unsubscribe</a>',
        },
    ]
    personalization = body["personalizations"][1]
    assert personalization == {
        "to": [{"email": "reader1@example.org", "name": "Reader 1 & <Co>"}],
        "headers": {
            "Message-ID": weekly[1].message_id,
            "List-Unsubscribe": "<https://blog.example.org/u/1?t=a&b>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        "substitutions": {
            "%%name%%": "Reader 1 & <Co>",
            "%%unsubscribe_url%%": "https://blog.example.org/u/1?t=a&b",
            "%%html:name%%": "Reader 1 &amp; &lt;Co&gt;",
            "%%html:unsubscribe_url%%": "https://blog.example.org/u/1?t=a&amp;b",
        },
    }
    # What SendGrid makes of it is what the MIME bytes would say, for every recipient.
    for sent, person in zip(weekly, body["personalizations"], strict=False):
        assert len(person["to"]) == 1
        text, html_part = (substitute(c["value"], person["substitutions"]) for c in body["content"])
        assert (text, html_part) == filled_parts(sent)


def substitute(part: str, values: dict[str, str]) -> str:
    return re.sub("|".join(map(re.escape, values)), lambda m: values[m.group(0)], part)


def filled_parts(message: OutgoingMessage) -> tuple[str, str]:
    parts = filled(message)
    return parts.text, parts.html


# Mailgun


def test_mailgun_batches_recipients_of_one_template_with_recipient_variables(
    httpserver: HTTPServer,
) -> None:
    seen = serve(httpserver, "mailgun", accepted("mailgun"))
    messages = digests(1201)
    results = backend(httpserver, "mailgun").send(messages)

    assert [len(request.form["to"]) for request in seen] == [1000, 201]
    token = base64.b64encode(f"api:{API_KEY}".encode()).decode()
    assert all(request.headers["Authorization"] == f"Basic {token}" for request in seen)
    assert all(r.ok and r.provider_id == "<mg-1@mg.example.org>" for r in results)

    form = seen[0].form
    assert form["from"] == ["Policy Blog <news@blog.example.org>"]
    assert form["subject"] == ["Policy Blog: 3 new posts"]
    assert form["text"] == [
        "Hello %recipient.text_name%,\nUnsubscribe: %recipient.text_unsubscribe_url%\n"
    ]
    assert form["html"] == [
        "<p>Hello %recipient.html_name%</p>"
        '<a href="%recipient.html_unsubscribe_url%">Unsubscribe</a>'
    ]
    assert form["h:Message-Id"] == ["%recipient.message_id%"]
    assert form["h:List-Unsubscribe"] == ["<%recipient.header_unsubscribe_url%>"]
    assert form["h:List-Unsubscribe-Post"] == ["List-Unsubscribe=One-Click"]
    assert form["to"][:2] == [quoted_to(messages[0]), quoted_to(messages[1])]
    variables = json.loads(form["recipient-variables"][0])
    assert len(variables) == 1000  # so Mailgun sends each recipient a message of their own
    assert variables["reader1@example.org"] == {
        "message_id": messages[1].message_id,
        "text_name": "Reader 1 & <Co>",
        "text_unsubscribe_url": "https://blog.example.org/u/1?t=a&b",
        "html_name": "Reader 1 &amp; &lt;Co&gt;",
        "html_unsubscribe_url": "https://blog.example.org/u/1?t=a&amp;b",
        "header_unsubscribe_url": "https://blog.example.org/u/1?t=a&b",
    }
    for sent in messages[:1000]:
        values = {f"%recipient.{k}%": v for k, v in variables[sent.recipients[0]].items()}
        text, html_part = (substitute(form[part][0], values) for part in ("text", "html"))
        assert (text, html_part) == filled_parts(sent)


def test_mailgun_puts_a_repeated_address_in_another_request(httpserver: HTTPServer) -> None:
    seen = serve(httpserver, "mailgun", accepted("mailgun"))
    digest = template()
    twice = [digests(1, digest)[0], digests(1, digest)[0]]
    results = backend(httpserver, "mailgun").send(twice)
    assert [r.ok for r in results] == [True, True]
    assert [request.form["to"] for request in seen] == [[quoted_to(twice[0])]] * 2


# Resend


def test_resend_sends_batches_of_100_with_an_idempotency_key(httpserver: HTTPServer) -> None:
    seen = serve(httpserver, "resend", accepted("resend"))
    messages = digests(1201)
    results = backend(httpserver, "resend").send(messages)

    assert [len(request.json) for request in seen] == [100] * 12 + [1]
    assert all(request.headers["Authorization"] == f"Bearer {API_KEY}" for request in seen)
    assert [r.provider_id for r in results] == [f"re-{quoted_to(m)}" for m in messages]
    keys = [request.headers["Idempotency-Key"] for request in seen]
    assert len(set(keys)) == 13 and all(len(key) <= 256 for key in keys)
    assert seen[0].headers["X-Batch-Validation"] == "permissive"
    assert seen[0].json[2] == {
        "from": "Policy Blog <news@blog.example.org>",
        "to": ['"Reader 2 & <Co>" <reader2@example.org>'],
        "subject": "Policy Blog: 3 new posts",
        "html": (
            "<p>Hello Reader 2 &amp; &lt;Co&gt;</p>"
            '<a href="https://blog.example.org/u/2?t=a&amp;b">Unsubscribe</a>'
        ),
        "text": "Hello Reader 2 & <Co>,\nUnsubscribe: https://blog.example.org/u/2?t=a&b\n",
        "headers": {
            "Message-ID": messages[2].message_id,
            "List-Unsubscribe": "<https://blog.example.org/u/2?t=a&b>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    }


@pytest.mark.parametrize("provider", ["postmark", "resend"])
def test_whole_messages_carry_what_filling_each_one_gives(
    httpserver: HTTPServer, provider: str
) -> None:
    """Each template's JSON is made once with holes; every recipient's copy must still
    be what filling its parts and encoding them gives, whatever the text and values."""
    seen = serve(httpserver, provider, accepted(provider))
    odd = build_template(
        sender='Zoë\'s \\ "Blog" <news@blog.example.org>',
        subject='Café — </script> \u2028 "quoted"',
        text='Grüße %%name%% \\ "%%email%%"\n%%unsubscribe_url%% \u2028 %%notaslot%%\n',
        html_body='<p title="%%name%%">\u00e9 %%name%%</p><script>"\\"</script>%%to%%',
        headers={"List-Unsubscribe": "<%%unsubscribe_url%%>", "X-Note": "ü %%message_id%%"},
        variables=["unsubscribe_url"],
    )
    names = ['Zoë "Q" \\ O\'Brien', "李雷", "Ann\u2028\nLee", "<b>&amp;</b>", ""]
    messages = [
        (odd if n % 2 else template()).render(
            Recipient(
                key=f"row-{n}",
                email=f"reader{n}@example.org",
                name=names[n % len(names)],
                variables={"unsubscribe_url": f'https://blog.example.org/u/{n}?t="a"&b\\'},
            )
        )
        for n in range(10)
    ]
    results = backend(httpserver, provider).send(messages)

    assert all(result.ok for result in results)
    shape = postmark_message if provider == "postmark" else resend_email
    assert [message for request in seen for message in request.json] == [
        shape(filled(message)) for message in messages
    ]
    assert seen[0].headers["Content-Type"] == "application/json"


def test_resend_idempotency_key_is_the_same_when_a_batch_is_sent_again(
    httpserver: HTTPServer,
) -> None:
    seen = serve(httpserver, "resend", status(500), accepted("resend"))
    messages = digests(3)
    first = backend(httpserver, "resend").send(messages)
    after_a_crash = backend(httpserver, "resend").send(messages)  # a new process, same rows

    assert [r.ok for r in first + after_a_crash] == [True] * 6
    keys = [request.headers["Idempotency-Key"] for request in seen]
    assert len(keys) == 3 and len(set(keys)) == 1


def test_resend_reads_refused_emails_of_a_permissive_batch(httpserver: HTTPServer) -> None:
    serve(
        httpserver,
        "resend",
        lambda request: json_response(
            {
                "data": [{"id": "re-a"}, {"id": "re-c"}],
                "errors": [{"index": 1, "message": "The `to` field is invalid."}],
            }
        ),
    )
    results = backend(httpserver, "resend").send(digests(3))
    assert [(r.ok, r.permanent, r.error, r.provider_id) for r in results] == [
        (True, False, None, "re-a"),
        (False, True, "Resend: The `to` field is invalid.", None),
        (True, False, None, "re-c"),
    ]


# what every provider shares


@pytest.mark.parametrize("provider", PROVIDERS)
def test_429_waits_as_asked_then_sends(httpserver: HTTPServer, provider: str) -> None:
    seen = serve(httpserver, provider, status(429, **{"Retry-After": "1"}), accepted(provider))
    started = time.monotonic()
    results = backend(httpserver, provider).send(digests(2))
    assert time.monotonic() - started >= 1.0
    assert [r.ok for r in results] == [True, True]
    assert len(seen) == 2


def test_429_honours_ratelimit_reset(httpserver: HTTPServer) -> None:
    seen = serve(httpserver, "resend", status(429, **{"ratelimit-reset": "1"}), accepted("resend"))
    started = time.monotonic()
    results = backend(httpserver, "resend").send(digests(1))
    assert time.monotonic() - started >= 1.0
    assert [r.ok for r in results] == [True] and len(seen) == 2


def test_429_asking_too_long_a_wait_is_transient_at_once(httpserver: HTTPServer) -> None:
    seen = serve(
        httpserver, "postmark", status(429, {"Message": "slow down"}, **{"Retry-After": "3600"})
    )
    results = backend(httpserver, "postmark").send(digests(2))
    assert [(r.ok, r.permanent, r.error) for r in results] == [
        (False, False, "Postmark: HTTP 429: slow down")
    ] * 2
    assert len(seen) == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_5xx_is_retried_with_backoff(httpserver: HTTPServer, provider: str) -> None:
    seen = serve(httpserver, provider, status(500), status(503), accepted(provider))
    results = backend(httpserver, provider).send(digests(2))
    assert [r.ok for r in results] == [True, True]
    assert len(seen) == 3


@pytest.mark.parametrize("provider", PROVIDERS)
def test_5xx_every_time_is_transient(httpserver: HTTPServer, provider: str) -> None:
    seen = serve(httpserver, provider, status(502, said(provider, "bad gateway")))
    results = backend(httpserver, provider).send(digests(2))
    assert states(results) == [
        ("reader0@example.org", False, False),
        ("reader1@example.org", False, False),
    ]
    assert results[0].error == f"{NAMES[provider]}: HTTP 502: bad gateway (4 attempts)"
    assert len(seen) == 4  # the first try and three retries


@pytest.mark.parametrize("provider", PROVIDERS)
def test_4xx_is_permanent_with_the_providers_message(httpserver: HTTPServer, provider: str) -> None:
    code, body = REFUSALS[provider]
    seen = serve(httpserver, provider, status(code, body))
    results = backend(httpserver, provider).send(digests(2))
    message = body.get("Message") or body.get("message") or body["errors"][0]["message"]
    assert [(r.ok, r.permanent, r.error) for r in results] == [
        (False, True, f"{NAMES[provider]}: HTTP {code}: {message}")
    ] * 2
    assert len(seen) == 1  # never retried


def said(provider: str, message: str) -> dict[str, Any]:
    """`message` in the shape of `provider`'s error answers."""
    if provider == "sendgrid":
        return {"errors": [{"message": message, "field": None}]}
    return {"Message" if provider == "postmark" else "message": message}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_error_in_another_shape_is_quoted_as_it_came(
    httpserver: HTTPServer, provider: str
) -> None:
    """A body the provider would not send (a proxy's, say) is quoted as it came."""
    other = "mailgun" if provider == "postmark" else "postmark"
    serve(httpserver, provider, status(403, said(other, "blocked by proxy")))
    [result, _] = backend(httpserver, provider).send(digests(2))
    assert result.error is not None and "blocked by proxy" in result.error
    assert result.error.startswith(f"{NAMES[provider]}: HTTP 403: {{")


def test_a_rejected_api_key_is_transient(httpserver: HTTPServer) -> None:
    serve(httpserver, "sendgrid", status(401, {"errors": [{"message": "Permission denied"}]}))
    results = backend(httpserver, "sendgrid").send(digests(1))
    assert [(r.ok, r.permanent, r.error) for r in results] == [
        (False, False, "SendGrid: HTTP 401: Permission denied")
    ]


def test_an_unreachable_api_is_transient() -> None:
    with HTTPServer() as gone:
        base_url = gone.url_for("/")  # nothing listens there once it stops
    opened = open_backend(
        load_settings(email_backend="resend", api_key=API_KEY, api_base_url=base_url)
    )
    assert isinstance(opened, APIBackend)
    opened.retry = FAST
    results = opened.send(digests(2))
    assert [(r.ok, r.permanent) for r in results] == [(False, False)] * 2
    assert "Connection refused" in (results[0].error or "")


def test_a_message_without_a_template_is_refused_without_a_request(
    httpserver: HTTPServer,
) -> None:
    seen = serve(httpserver, "postmark", accepted("postmark"))
    bare = OutgoingMessage("news@blog.example.org", ("ada@example.org",), "<1@blog>", b"raw")
    results = backend(httpserver, "postmark").send([bare, *digests(1)])
    assert states(results) == [
        ("ada@example.org", False, True),
        ("reader0@example.org", True, False),
    ]
    assert len(seen) == 1 and len(seen[0].json) == 1


def test_send_rate_paces_recipients_of_api_batches(httpserver: HTTPServer) -> None:
    serve(httpserver, "resend", accepted("resend"))
    sender = backend(httpserver, "resend", send_rate=10)
    started = time.monotonic()
    results = sender.send(digests(20))
    assert time.monotonic() - started >= 1.8  # 20 recipients at 10/s
    assert all(r.ok for r in results)
