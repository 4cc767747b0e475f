"""A message built once and personalised per recipient by cheap substitution.

A digest goes to thousands of people with the same posts: building an `EmailMessage`
per recipient costs milliseconds each. Instead the MIME bytes are assembled once, with
`%%slot%%` placeholders where a recipient's values go (To, Message-ID, name, links),
split into chunks, and each recipient's copy is one `bytes.join`.

Slots are safe by construction: each literal segment of a body is quoted-printable
encoded on its own, with a soft line break on either side of every slot, so a value can
never be split or change the encoding of what surrounds it; values are escaped for their
context (HTML-escaped in the HTML part, QP-encoded in bodies, ASCII-only in headers).

Every line ends in CRLF, whatever line ends the text and values came with. The template
also keeps its bytes as the SMTP DATA command carries them (dot-stuffed, terminated; see
`pipeline.mail.wire`), prepared once, so a copy's wire bytes are another `bytes.join`.

A copy's slots and bytes are made when first read: an email API backend sends its parts
from the slot values and never reads them. What making them could raise (a non-ASCII
value in a header slot, a missing value) is raised by `render` all the same.
"""

from __future__ import annotations

import binascii
import html
import re
import threading
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.header import Header, decode_header, make_header
from email.utils import format_datetime, parseaddr
from functools import cached_property, partial
from types import MappingProxyType
from typing import Generic, Literal, TypeVar, cast, overload

from pipeline.mail.headers import LINE_LENGTH, fold, format_address, safe_header
from pipeline.mail.wire import TERMINATOR, data_payload, stuffed

Context = Literal["header", "text", "html"]
# The slots every message has; templates may declare more (see Recipient.variables).
# Only declared names are slots: any other `%%word%%` in a post stays text.
BUILTIN_SLOTS = frozenset({"to", "message_id", "email", "name"})
SLOT_START = re.compile(r"%(?=%)")  # a slot is `%%name%%`: no `%%`, no slot
_SOFT_BREAK = b"=\r\n"
_LINE_END = re.compile(r"\r\n|\r")
# Printable ASCII words but "=", single spaces: what escaping, quoted-printable and folding
# leave as it is (when short enough), as most names, links and ids are.
_VERBATIM = re.compile(r"(?:[!-<>-~]+(?: [!-<>-~]+)*)?")
_HTML_SPECIAL = re.compile(r"[&<>\"']")
_QP_LINE = 76  # the longest line quoted-printable leaves unbroken
_MAX_HEADER_VALUE = 900
NO_VARIABLES: Mapping[str, str] = MappingProxyType({})
T = TypeVar("T")


def inert(text: str) -> str:
    """`text` with no `%%` left in it, looking the same: text from a post, a setting or an
    editor can never become a slot that a recipient's address or link fills."""
    return SLOT_START.sub("%\u2060", text)


@dataclass(frozen=True)
class Recipient:
    """One person a template goes to; `key` is the caller's id for it (an outbox row)."""

    key: str
    email: str
    name: str = ""
    variables: Mapping[str, str] = field(default_factory=dict)


class Later(Generic[T]):
    """A value worked out when first needed, once, by whichever thread needs it first.

    A copy's bytes and its DKIM signature are made only if something reads them: never
    for a backend that sends parts instead of bytes. A signature made in a key process
    is picked up here, waiting for it if it is not back yet.
    """

    def __init__(self, make: Callable[[], T]) -> None:
        self._make: Callable[[], T] | None = make
        self._lock = threading.Lock()

    def __call__(self) -> T:
        with self._lock:
            if self._make is not None:
                self._made, self._make = self._make(), None
        return self._made


class Filled:
    """A rendered copy's slots (each slot's bytes as they stand in `content`) and its
    bytes, joined when first read: SMTP sends a copy from its template's wire bytes and
    its slots, and an email API from its values, so most copies never need them."""

    __slots__ = ("_chunks", "_content", "slots")

    def __init__(self, slots: tuple[bytes, ...], chunks: Sequence[bytes | tuple[str, str]]):
        self.slots, self._chunks = slots, chunks
        self._content: bytes | None = None

    @property
    def content(self) -> bytes:
        if self._content is None:  # two threads may both join: the same bytes
            filled = iter(self.slots)
            self._content = b"".join(
                chunk if isinstance(chunk, bytes) else next(filled) for chunk in self._chunks
            )
        return self._content


class _Made(Generic[T]):
    """A field of `OutgoingMessage` given as its value or as a `Later` that makes the
    copy's `Filled`, read from that when first read. Without a `default` the field must be
    given; with one, the dataclass passes this descriptor for a field not given."""

    def __init__(self, name: str, default: T | None = None) -> None:
        self._name, self._key, self._default = name, f"_{name}", default

    @overload
    def __get__(self, message: None, owner: type) -> T: ...

    @overload
    def __get__(self, message: object, owner: type | None = None) -> T: ...

    def __get__(self, message: object, owner: type | None = None) -> T:
        if message is None:  # the dataclass asking for a default
            if self._default is None:
                raise AttributeError(self._name)
            return self._default
        value = getattr(message, self._key)
        return cast(T, getattr(value(), self._name)) if isinstance(value, Later) else value

    def given(self, message: object) -> T | Later[Filled]:
        """What `message` was given for this field: its value, or the `Later` making it."""
        return cast("T | Later[Filled]", getattr(message, self._key))

    def __set__(self, message: object, value: T | Later[Filled]) -> None:
        given: object = value
        object.__setattr__(message, self._key, self._default if given is self else value)


_CONTENT: _Made[bytes] = _Made("content")
_SLOTS: _Made[tuple[bytes, ...]] = _Made("slots", ())


@dataclass(frozen=True)
class OutgoingMessage:
    """One email as it goes on the wire, with the envelope that carries it.

    `template`, `recipient` and `values` (every slot's value, unescaped) say how it was
    made, so an email API backend can send the structured parts (or batch recipients of
    one template) instead of the raw bytes. A rendered copy also keeps its `slots` (each
    slot's bytes as they stand in `content`); both are made when first read.
    `raw` is `head` (header lines put in front since, such as a DKIM-Signature, perhaps
    still to be worked out) and `content`, the bytes as made: for a rendered copy the
    template's bytes with the slots filled in.
    """

    sender: str  # envelope sender (MAIL FROM), the From address
    recipients: tuple[str, ...]  # envelope recipients (RCPT TO)
    message_id: str  # the Message-ID header, `<…@domain>`
    content: _Made[bytes] = _CONTENT
    template: MessageTemplate | None = field(default=None, compare=False, repr=False)
    recipient: Recipient | None = field(default=None, compare=False, repr=False)
    slots: _Made[tuple[bytes, ...]] = field(default=_SLOTS, compare=False, repr=False)
    lines: bytes | Later[bytes] = field(default=b"", compare=False, repr=False)
    values: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def head(self) -> bytes:
        """The header lines put in front of `content`, worked out now if they were not."""
        return _lines(self.lines)

    @property
    def raw(self) -> bytes:
        return self.head + self.content

    def with_head(self, lines: bytes | Later[bytes]) -> OutgoingMessage:
        """This message with header `lines` (CRLF line ends) in front of its own; its
        bytes are not made for that."""
        ahead = self.lines
        if isinstance(lines, Later) or isinstance(ahead, Later):
            first = lines
            lines = Later(lambda: _lines(first) + _lines(ahead))
        else:
            lines += ahead
        # Not `replace`, which would read (and so make) every field; not `copy`, which
        # costs a copy a few microseconds more through the pickle protocol.
        headed = object.__new__(OutgoingMessage)
        headed.__dict__.update(self.__dict__, lines=lines)
        return headed

    @property
    def intact_template(self) -> MessageTemplate | None:
        """The template this copy was rendered from, unless `content` was replaced since."""
        template = self.template
        made = _CONTENT.given(self)
        if template is None or (isinstance(made, Later) and made is _SLOTS.given(self)):
            return template  # still what `render` gave it: no need to make the bytes
        return template if template.length(self.slots) == len(self.content) else None

    def wire(self) -> bytes:
        """The bytes the SMTP DATA command carries: from the template's prepared bytes
        for a rendered copy, else from `raw`."""
        template = self.intact_template
        if template is None:
            return data_payload(self.raw)
        return template.wire(self.slots, stuffed(self.head))


def _lines(lines: bytes | Later[bytes]) -> bytes:
    return lines() if isinstance(lines, Later) else lines


@dataclass(frozen=True)
class MessageTemplate:
    """The shared part of a message; `render` makes one recipient's copy.

    `subject`, `text`, `html` and `headers` keep their `%%slot%%` placeholders for
    backends that send structured parts and fill them per recipient.
    """

    sender: str
    from_header: str
    subject: str
    text: str
    html: str
    headers: Mapping[str, str]
    message_id_domain: str
    chunks: tuple[bytes | tuple[Context, str], ...]
    slot: re.Pattern[str]
    body_start: int  # chunks[body_start:] are the body, from the line after the headers
    # `chunks` as DATA carries them: literal bytes dot-stuffed and the terminator added;
    # in place of each slot, whether its value begins a line (and so may need a dot).
    wire_chunks: tuple[bytes | bool, ...] = field(repr=False, compare=False)
    _derived: dict[str, object] = field(default_factory=dict, init=False, repr=False, compare=False)

    def render(self, recipient: Recipient, *, message_key: str | None = None) -> OutgoingMessage:
        """This recipient's message: the template's bytes with their values in the slots,
        made when first read. Raises here what making them would raise.

        With `message_key` the Message-ID is derived from it, so a copy re-sent after a
        crash carries the same Message-ID (mail clients and APIs can spot the repeat);
        without, it is random.
        """
        unique = message_key or uuid.uuid4().hex
        message_id = f"<{unique}@{self.message_id_domain}>"
        values = slot_values(recipient, message_id)
        for name, contexts in self._slot_contexts:
            value = values[name]
            if not value.isascii():  # an ASCII value is safe in any context
                for context in contexts:
                    _encode(value, context, 0)
        made = Later(partial(self._fill, values))
        return OutgoingMessage(
            sender=self.sender,
            recipients=(recipient.email,),
            message_id=message_id,
            content=made,
            template=self,
            recipient=recipient,
            slots=made,
            values=values,
        )

    def _fill(self, values: Mapping[str, str]) -> Filled:
        slots = tuple(
            _encode(values[name], context, column) for name, context, column in self._slot_places
        )
        return Filled(slots, self.chunks)

    def length(self, slots: Sequence[bytes]) -> int:
        """The size of a copy whose slots hold `slots`."""
        return self._literal_length + sum(map(len, slots))

    def wire(self, slots: Sequence[bytes], head: bytes = b"") -> bytes:
        """A copy's bytes as DATA carries them, from its `slots` as `render` made them,
        after `head` (header lines put in front, already dot-stuffed)."""
        filled = iter(slots)
        pieces = [head]
        pieces.extend(
            chunk if isinstance(chunk, bytes) else stuffed(next(filled), line_start=chunk)
            for chunk in self.wire_chunks
        )
        return b"".join(pieces)

    def derived(self, name: str, make: Callable[[MessageTemplate], T]) -> T:
        """`make(self)`, worked out once per template and kept under `name`: what a
        signer or the like prepares from the bytes every copy shares."""
        if name not in self._derived:
            self._derived[name] = make(self)
        return cast(T, self._derived[name])

    @cached_property
    def _literal_length(self) -> int:
        return sum(len(chunk) for chunk in self.chunks if isinstance(chunk, bytes))

    @cached_property
    def _slot_places(self) -> tuple[tuple[str, Context, int], ...]:
        """Each slot's name, context and column (see `_column`), in order."""
        return tuple(
            (chunk[1], chunk[0], _column(self.chunks, index))
            for index, chunk in enumerate(self.chunks)
            if isinstance(chunk, tuple)
        )

    @cached_property
    def _slot_contexts(self) -> tuple[tuple[str, tuple[Context, ...]], ...]:
        """Each slot name the template uses, with the contexts it stands in."""
        contexts: dict[str, dict[Context, None]] = {}
        for name, context, _ in self._slot_places:
            contexts.setdefault(name, {})[context] = None
        return tuple((name, tuple(used)) for name, used in contexts.items())


def slot_values(recipient: Recipient, message_id: str) -> dict[str, str]:
    """Every slot's value for one recipient."""
    name = safe_header(recipient.name)
    return {
        **recipient.variables,
        "to": format_address(recipient.name, recipient.email),
        "message_id": message_id,
        "email": recipient.email,
        "name": name,
    }


def build_template(
    *,
    sender: str,
    subject: str,
    text: str,
    html_body: str,
    headers: Mapping[str, str] = NO_VARIABLES,
    message_id_domain: str | None = None,
    variables: Collection[str] = (),
) -> MessageTemplate:
    """Assemble the MIME once; `sender` is a From header value (`Name <addr@domain>`).

    `variables` names the slots beyond the built-in ones. The subject has no slots (it
    is the same for everyone); header values may use slots whose values are ASCII (links,
    ids). Raises ValueError for a bad sender or a personalised subject.
    """
    names = sorted(BUILTIN_SLOTS | set(variables))
    slot = re.compile("%%(" + "|".join(re.escape(name) for name in names) + ")%%")
    from_name, from_address = parseaddr(safe_header(sender))
    from_name = str(make_header(decode_header(from_name)))  # as format_address may have encoded
    domain = message_id_domain or from_address.rpartition("@")[2]
    if "@" not in from_address or not from_address.isascii() or not domain:
        raise ValueError(f"From: not an ASCII email address: {sender!r}")
    if slot.search(subject):
        raise ValueError("the subject cannot be personalised")
    from_header = format_address(from_name, from_address)
    boundary = f"=_{uuid.uuid4().hex}"
    head = [
        _header("From", from_header),
        "To: %%to%%\r\n",
        _header("Subject", safe_header(subject)),
        _header("Date", format_datetime(datetime.now(UTC))),
        "Message-ID: %%message_id%%\r\n",
        *(_header(name, safe_header(value)) for name, value in headers.items()),
        "MIME-Version: 1.0\r\n",
        f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n',
    ]
    header_chunks = _merged(_slotted("".join(head), slot, "header"))
    chunks: list[bytes | tuple[Context, str]] = []
    bodies: tuple[tuple[str, str, Context], ...] = (
        ("plain", text, "text"),
        ("html", html_body, "html"),
    )
    for subtype, body, context in bodies:
        chunks.append(
            f'--{boundary}\r\nContent-Type: text/{subtype}; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n".encode("ascii")
        )
        chunks += _qp_body(body, slot, context)
        chunks.append(b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode("ascii"))
    merged = (*header_chunks, *_merged(chunks))
    return MessageTemplate(
        sender=from_address,
        from_header=from_header,
        subject=safe_header(subject),
        text=text,
        html=html_body,
        headers=dict(headers),
        message_id_domain=domain,
        chunks=merged,
        slot=slot,
        body_start=len(header_chunks),
        wire_chunks=_wire_chunks(merged),
    )


def _wire_chunks(chunks: tuple[bytes | tuple[Context, str], ...]) -> tuple[bytes | bool, ...]:
    """`chunks` prepared for DATA once, for every copy (see `MessageTemplate.wire_chunks`).

    A literal chunk after a slot continues that slot's line: a header value's last line
    (each folded line begins with a space) and a body slot are followed by what continues
    the line or a line break, never by a dot.
    """
    prepared: list[bytes | bool] = []
    line_start = True
    for chunk in chunks:
        if isinstance(chunk, bytes):
            prepared.append(stuffed(chunk, line_start=line_start))
            line_start = chunk.endswith(b"\n")
        else:
            prepared.append(line_start)
            line_start = False
    if isinstance(prepared[-1], bytes):  # always: the closing boundary line
        prepared[-1] += TERMINATOR
    else:
        prepared.append(TERMINATOR)
    return tuple(prepared)


def _header(name: str, value: str) -> str:
    """`Name: value` folded, non-ASCII values as RFC 2047 encoded-words."""
    if value.isascii() and len(value) <= _MAX_HEADER_VALUE:
        return f"{name}: {fold(value, len(name) + 2)}\r\n"
    encoded = Header(value, "utf-8", header_name=name).encode(linesep="\r\n")
    return f"{name}: {encoded}\r\n"


def _slotted(
    text: str, slot: re.Pattern[str], context: Context
) -> list[bytes | tuple[Context, str]]:
    """ASCII `text` split at its slots; the slot names become (context, name) chunks."""
    return [
        piece.encode("ascii") if index % 2 == 0 else (context, piece)
        for index, piece in enumerate(slot.split(text))
    ]


def _qp_body(
    body: str, slot: re.Pattern[str], context: Context
) -> list[bytes | tuple[Context, str]]:
    """The body quoted-printable encoded, segment by segment around its slots."""
    chunks: list[bytes | tuple[Context, str]] = []
    text = _LINE_END.sub("\n", body)
    for index, piece in enumerate(slot.split(text if text.endswith("\n") else text + "\n")):
        if index % 2:
            chunks += [_SOFT_BREAK, (context, piece), _SOFT_BREAK]
        elif piece:
            chunks.append(_qp(piece.encode("utf-8")))
    return chunks


def _qp(data: bytes) -> bytes:
    """Quoted-printable (lines under 77 octets) with CRLF line ends."""
    return binascii.b2a_qp(data, istext=True).replace(b"\n", b"\r\n")


def _column(chunks: Sequence[bytes | tuple[Context, str]], index: int) -> int:
    """Where the slot `chunks[index]` starts on its line (0 if after another slot)."""
    before = chunks[index - 1] if index else b""
    return len(before) - before.rfind(b"\n") - 1 if isinstance(before, bytes) else 0


def _encode(value: str, context: Context, column: int) -> bytes:
    """One slot value, made safe for where it stands (a header's folded from `column`)."""
    if _verbatim(value, context, column):
        return value.encode("ascii")
    if context == "header":
        clean = safe_header(value)
        if not clean.isascii():
            raise ValueError(f"header slot value must be ASCII: {clean!r}")
        return fold(clean, column).encode("ascii")
    if context == "html":
        value = html.escape(value)
    return _qp(_LINE_END.sub("\n", value).encode("utf-8"))


def _verbatim(value: str, context: Context, column: int) -> bool:
    """Whether `_encode` would give `value` as it is: checked first, since it is cheaper
    than the encoding, once per slot of every copy."""
    if not _VERBATIM.fullmatch(value) or value == ".":  # quoted-printable encodes a lone dot
        return False
    if context == "header":
        return column + len(value) <= LINE_LENGTH
    return len(value) <= _QP_LINE and not (context == "html" and _HTML_SPECIAL.search(value))


def _merged(chunks: list[bytes | tuple[Context, str]]) -> list[bytes | tuple[Context, str]]:
    """Adjacent byte chunks joined, so rendering joins as few pieces as possible."""
    merged: list[bytes | tuple[Context, str]] = []
    for chunk in chunks:
        if isinstance(chunk, bytes) and merged and isinstance(merged[-1], bytes):
            merged[-1] += chunk
        elif chunk != b"":
            merged.append(chunk)
    return merged
