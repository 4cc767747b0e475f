"""DKIM signatures (RFC 6376), so receivers can tell that mail from the domain is genuine.

RFC 8058: mailbox providers honour one-click unsubscribe only when a valid DKIM signature
covers List-Unsubscribe and List-Unsubscribe-Post, so both are among the signed headers.
Each copy is signed on its own: its To, Message-ID and links differ.

dkimpy does the canonicalisation, header selection and folding (the parts receivers
must agree with byte for byte); the private-key operation runs in OpenSSL through
`cryptography` instead of dkimpy's pure-Python RSA. A copy rendered from a template is
hashed from what every copy shares, worked out once: the body's canonical pieces
(relaxed body canonicalisation works line by line, and every body slot starts a line
and is followed by a soft line break, so the pieces canonicalise alone as they do
together), the signed fields in the order the signature takes them, and per key and t=
the DKIM-Signature header itself (`_Layout`). With DKIM_ED25519_KEY_FILE each copy also
gets an Ed25519 signature (RFC 8463) under its own selector.

An RSA-2048 signature takes a quarter of a millisecond of OpenSSL, about as long as the
rest of a copy's way to the wire. A lone message is signed when its bytes are first
read (`pipeline.mail.template.Later`); a sender's batch (`DkimSigner.many`) is hashed as
it is rendered and its private-key operations queued in key processes
(`pipeline.mail.keyprocess`), so the sending threads never wait for OpenSSL nor hand
the GIL back and forth for it. A copy for an email API is never signed: the provider
signs what it builds.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import NamedTuple

import dkim
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from dkim.canonicalization import (
    CanonicalizationPolicy,
    compress_whitespace,
    strip_trailing_lines,
    strip_trailing_whitespace,
)

from pipeline.cpus import Elsewhere, others
from pipeline.mail.keyprocess import Chunk, KeyProcess, PrivateKey, sign
from pipeline.mail.template import Later, MessageTemplate, OutgoingMessage
from pipeline.settings import ENV_PREFIX, Settings, SettingsProblem

SIGNED_HEADERS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "MIME-Version",
    "Content-Type",
)
# relaxed/relaxed survives the whitespace changes relays are allowed to make.
CANONICALIZE = b"relaxed/relaxed"
POLICY = CanonicalizationPolicy.from_c_value(CANONICALIZE)
HEADER = b"DKIM-Signature"
MIN_RSA_BITS = 1024  # receivers ignore shorter keys (RFC 8301)
ED25519_BYTES = 64  # of a signature
_PLAN = "dkim-relaxed"
_MARK = b"\0%d\0"  # stands for a slot while the template's headers are parsed
INCLUDE = tuple(name.lower().encode("ascii") for name in SIGNED_HEADERS)  # the h= tag
SIGNED = frozenset(INCLUDE)

# One per core, up to four. On two cores, two key processes fill the time the sender
# and the relay leave idle better than one (10% more signed mail a second, measured
# alternately with bench/send.py); past four they would idle: one signs 1,000-4,000 a
# second, a sender sends at most about 3,000.
KEY_PROCESSES = min(4, os.cpu_count() or 1)
CHUNK = 16  # copies whose signatures a key process makes and sends back together
# Fewer copies than this are signed here: a key process takes about as long to start as
# a few hundred signatures.
KEY_PROCESS_MIN = 64


@dataclass(frozen=True)
class _Key:
    algorithm: bytes  # the a= tag
    selector: bytes
    private: PrivateKey
    length: int  # of a signature, in bytes


@dataclass(frozen=True)
class _Hashed:
    """One key's signature of one copy, all but the private-key operation."""

    layout: _Layout
    body_hash: bytes  # the bh= tag
    digest: bytes  # of what the signature covers


class Signed(NamedTuple):
    """A batch's signed copies, in order, and those that could not be signed, each with
    the reason."""

    messages: list[OutgoingMessage]
    unsignable: list[tuple[OutgoingMessage, str]]


class DkimSigner:
    """Signs messages with DKIM_KEY_FILE (and DKIM_ED25519_KEY_FILE when set): a call
    signs one, the signature made when its bytes are first needed; `many` a batch, with
    the private-key operations in key processes (`pipeline.mail.keyprocess`), which
    `close` stops."""

    def __init__(self, keys: Sequence[_Key], domain: bytes, clock: Callable[[], float]) -> None:
        self._keys, self._domain, self._clock = tuple(keys), domain, clock
        self._processes: list[KeyProcess] = []
        self._where: Elsewhere | None = None  # where they run (see `pipeline.cpus`)
        self._turn = 0
        self._at: tuple[bytes, tuple[_Layout, ...]] = (b"", ())  # t= and each key's layout

    def __call__(self, message: OutgoingMessage) -> OutgoingMessage:
        """`message` with its DKIM-Signature headers first, made when first needed."""
        return message.with_head(Later(partial(self._signatures, message)))

    def many(self, messages: Sequence[OutgoingMessage]) -> Signed:
        """`messages` signed: what each signature covers hashed now, the private-key
        operations queued in key processes, each copy's headers made when first needed
        (waiting for its signatures if they are not back yet). A few are signed here, as
        they are read. A copy that cannot be hashed (headers dkimpy cannot parse) is left
        out, with the reason, for its sender to fail alone."""
        signed = Signed([], [])
        if len(messages) < KEY_PROCESS_MIN and not self._processes:
            signed.messages.extend(
                message.with_head(Later(partial(self._lines, each)))
                for message, each in self._each_hashed(messages, signed.unsignable)
            )
            return signed
        where = others()
        cpus, lowest = (None, True) if where is None else where
        if not self._processes:
            keys = [key.private for key in self._keys]
            self._processes = [KeyProcess(keys, cpus, lowest) for _ in range(KEY_PROCESSES)]
        elif where != self._where:  # another send keeps to the CPUs, or this is another send
            for process in self._processes:
                process.place(cpus, lowest)
        self._where = where
        for start in range(0, len(messages), CHUNK):  # a chunk goes as soon as it is hashed
            part = list(self._each_hashed(messages[start : start + CHUNK], signed.unsignable))
            if not part:
                continue
            process = self._processes[self._turn % len(self._processes)]
            self._turn += 1
            chunk = process.sign(
                [(number, one.digest) for _, each in part for number, one in enumerate(each)]
            )
            first = 0
            for message, each in part:
                signed.messages.append(
                    message.with_head(Later(partial(self._lines, each, chunk, first)))
                )
                first += len(each)
        return signed

    @property
    def degraded(self) -> bool:
        """Whether a key process it started has stopped: it signs those copies itself."""
        return any(process.broken for process in self._processes)

    def close(self) -> None:
        processes, self._processes = self._processes, []
        for process in processes:
            process.close()

    def _signatures(self, message: OutgoingMessage) -> bytes:
        """The DKIM-Signature header lines of `message`, signed here."""
        return self._lines(self._hashed(message))

    def _each_hashed(
        self, messages: Sequence[OutgoingMessage], unsignable: list[tuple[OutgoingMessage, str]]
    ) -> Iterator[tuple[OutgoingMessage, list[_Hashed]]]:
        """Each copy with what its signatures cover; one that cannot be hashed goes to
        `unsignable` with the reason instead."""
        for message in messages:
            try:
                hashed = self._hashed(message)
            except Exception as exc:  # this copy's fault (e.g. headers dkimpy cannot parse)
                unsignable.append((message, f"cannot be DKIM-signed: {exc}"))
                continue
            yield message, hashed

    def _hashed(self, message: OutgoingMessage) -> list[_Hashed]:
        template = message.intact_template
        plan = template.derived(_PLAN, _plan) if template is not None else None
        if plan is None:
            headers, digest = _whole(message.raw)
            selected = _selected(headers)
        else:
            selected, digest = plan.selected(message), plan.body_hash(message)
        body_hash, now = base64.b64encode(digest), str(int(self._clock())).encode("ascii")
        if self._at[0] != now:
            self._at = (now, tuple(_layout(self._domain, key, now) for key in self._keys))
        hashed = []
        for layout in self._at[1]:
            hasher = hashlib.sha256(selected)
            hasher.update(layout.before + body_hash + layout.after)
            hashed.append(_Hashed(layout, body_hash, hasher.digest()))
        return hashed

    def _lines(self, hashed: list[_Hashed], chunk: Chunk | None = None, first: int = 0) -> bytes:
        """The header lines, with the signatures from `chunk` (from its `first` on) or,
        without one or if its process failed, made here."""
        lines = []
        for number, (key, one) in enumerate(zip(self._keys, hashed, strict=True)):
            signature = chunk.get(first + number) if chunk is not None else None
            if signature is None:
                signature = sign(key.private, one.digest)
            lines.append(one.layout.header(one.body_hash, base64.b64encode(signature)))
        return b"".join(lines)


def dkim_signer(settings: Settings, clock: Callable[[], float] = time.time) -> DkimSigner | None:
    """A signer for DKIM_KEY_FILE (and DKIM_ED25519_KEY_FILE when set), or None when DKIM
    is not set up. `clock` gives the t= tag (Unix seconds).

    The keys are read and checked here, once: a missing or unusable key stops the command
    with a SettingsProblem before any mail goes out.
    """
    if not (settings.dkim_key_file and settings.dkim_selector and settings.dkim_domain):
        return None
    keys = [_Key(b"rsa-sha256", settings.dkim_selector.encode("ascii"), *_rsa(settings))]
    if settings.dkim_ed25519_key_file and settings.dkim_ed25519_selector:
        selector = settings.dkim_ed25519_selector.encode("ascii")
        ed_key = _ed25519(settings.dkim_ed25519_key_file)
        keys.append(_Key(b"ed25519-sha256", selector, ed_key, ED25519_BYTES))
    return DkimSigner(keys, settings.dkim_domain.encode("ascii"), clock)


@dataclass(frozen=True)
class _Layout:
    """A key's DKIM-Signature header for one t=, worked out through dkimpy with stand-ins
    of the right lengths for bh= and b=: folding depends only on where the blanks are,
    and neither value has any, so every copy's header is this one with its values put in.
    `before` and `after` surround bh= in the header's own contribution to the hash."""

    before: bytes
    after: bytes
    pieces: tuple[bytes | tuple[int, int, int], ...]  # literal bytes, or (value, start, end)
    lengths: tuple[int, int]  # of bh= and b=

    def header(self, body_hash: bytes, signature: bytes) -> bytes:
        if (len(body_hash), len(signature)) != self.lengths:
            raise ValueError("a DKIM value is not the length its header was laid out for")
        values = (body_hash, signature)
        return b"".join(
            piece if isinstance(piece, bytes) else values[piece[0]][piece[1] : piece[2]]
            for piece in self.pieces
        )


_HOLES = b"\x00\x01"  # stand-ins for bh= and b= (nothing else in the header has them)


@lru_cache(maxsize=8)
def _layout(domain: bytes, key: _Key, now: bytes) -> _Layout:
    """The `_Layout` for `key` at t=`now`; kept, since every copy signed within that
    second shares it."""
    hash_length = len(base64.b64encode(bytes(hashlib.sha256().digest_size)))
    fields = [
        (b"v", b"1"),
        (b"a", key.algorithm),
        (b"c", CANONICALIZE),
        (b"d", domain),
        (b"i", b"@" + domain),
        (b"q", b"dns/txt"),
        (b"s", key.selector),
        (b"t", now),
        (b"h", b" : ".join(INCLUDE)),
        (b"bh", _HOLES[:1] * hash_length),
        (b"b", b"0" * 60),  # a stand-in that makes b= fold onto a line of its own
    ]
    value = dkim.fold(b"; ".join(b"=".join(field) for field in fields), namelen=len(HEADER))
    unsigned = (HEADER, b" " + dkim.RE_BTAG.sub(rb"\1", value))
    [(name, canonical)] = POLICY.canonicalize_headers([unsigned])
    before, after = (name + b":" + canonical.rstrip()).split(_HOLES[:1] * hash_length)
    fields[-1] = (b"b", _HOLES[1:] * len(base64.b64encode(bytes(key.length))))
    value = b"; ".join(b"=".join(field) for field in fields) + b"\r\n"
    line = HEADER + b": " + dkim.fold(value, namelen=len(HEADER), linesep=b"\r\n")
    pieces: list[bytes | tuple[int, int, int]] = []
    taken = [0, 0]
    for run in re.split(b"([\x00]+|[\x01]+)", line):
        if run[:1] in _HOLES:
            which = _HOLES.index(run[:1])
            pieces.append((which, taken[which], taken[which] + len(run)))
            taken[which] += len(run)
        elif run:
            pieces.append(run)
    return _Layout(before, after, tuple(pieces), (taken[0], taken[1]))


def _selected(headers: list[tuple[bytes, bytes]]) -> bytes:
    """Canonical `headers` as the signature hashes them: those it names, in its order."""
    return b"".join(name + b":" + value for name, value in dkim.select_headers(headers, INCLUDE))


def _whole(raw: bytes) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Canonical headers and body hash of any message, as dkimpy works them out."""
    separator = raw.find(b"\r\n\r\n")
    end = len(raw) if separator < 0 else separator + 4
    headers, _ = dkim.rfc822_parse(raw[:end])
    body = POLICY.canonicalize_body(raw[end:])
    return POLICY.canonicalize_headers(headers), hashlib.sha256(body).digest()


Piece = bytes | int  # literal bytes, or the index of the slot whose value stands there
Field = tuple[bytes, bytes | tuple[Piece, ...]]  # name and canonical value, or raw pieces


@dataclass(frozen=True)
class _Plan:
    """What every copy of a template shares, canonicalised once: the signed header
    fields (a field with a slot in it as pieces), those `_selected` picks in its order
    (literal runs joined), and the body (pieces too)."""

    fields: tuple[Field, ...]
    chosen: tuple[bytes | _SlotField, ...]
    body: tuple[Piece, ...]

    def selected(self, message: OutgoingMessage) -> bytes:
        """The copy's signed header fields as the signature hashes them (`_selected`)."""
        slots = message.slots
        if message.head:  # lines put in front since may be among those selected
            extra, _ = dkim.rfc822_parse(message.head + b"\r\n")
            canonical = [_canonical(field, slots) for field in self.fields]
            return _selected(POLICY.canonicalize_headers(extra) + canonical)
        return b"".join(
            chosen if isinstance(chosen, bytes) else chosen.hashed(slots) for chosen in self.chosen
        )

    def body_hash(self, message: OutgoingMessage) -> bytes:
        slots = message.slots
        body = b"".join(
            piece if isinstance(piece, bytes) else _line_canonical(slots[piece])
            for piece in self.body
        )
        return hashlib.sha256(body).digest()  # one call: hashlib lets go of the GIL for it


def _canonical(field: Field, slots: Sequence[bytes]) -> tuple[bytes, bytes]:
    name, value = field
    if isinstance(value, bytes):
        return name, value
    return POLICY.canonicalize_headers([(name, _filled(value, slots))])[0]


def _chosen(fields: tuple[Field, ...]) -> tuple[bytes | _SlotField, ...]:
    """`fields` as `_selected` picks them, with runs of canonical ones joined as hashed."""
    picked = dkim.select_headers(
        [(name, number) for number, (name, _) in enumerate(fields)], INCLUDE
    )
    chosen: list[bytes | _SlotField] = []
    for _, number in picked:
        name, value = fields[number]
        if not isinstance(value, bytes):
            chosen.append(_SlotField.of(name, value))
        elif chosen and isinstance(chosen[-1], bytes):
            chosen[-1] += name + b":" + value
        else:
            chosen.append(name + b":" + value)
    return tuple(chosen)


@dataclass(frozen=True)
class _SlotField:
    """A signed field with slots in it: its raw pieces, and its canonical form (as hashed)
    in pieces, worked out by dkimpy with a stand-in for each slot. Relaxed header
    canonicalisation only touches blanks and line breaks, and leaves a non-blank run
    where it is: a value with neither, or only single spaces between other bytes (most
    are: addresses, names, links, ids), stands in the canonical form as it is. Any other
    value has the field canonicalised whole."""

    name: bytes
    pieces: tuple[Piece, ...]
    canonical: tuple[Piece, ...]
    numbers: tuple[int, ...]  # the slots in `canonical`

    @classmethod
    def of(cls, name: bytes, pieces: tuple[Piece, ...]) -> _SlotField:
        marked = b"".join(piece if isinstance(piece, bytes) else _MARK % piece for piece in pieces)
        [(lower, value)] = POLICY.canonicalize_headers([(name, marked)])
        parts = (lower + b":" + value).split(b"\0")  # text, slot number, text, ...
        canonical = tuple(int(part) if odd % 2 else part for odd, part in enumerate(parts))
        return cls(name, pieces, canonical, tuple(map(int, parts[1::2])))

    def hashed(self, slots: Sequence[bytes]) -> bytes:
        if all(_kept(slots[number]) for number in self.numbers):
            return _filled(self.canonical, slots)
        return b":".join(_canonical((self.name, self.pieces), slots))


def _kept(value: bytes) -> bool:
    """Whether relaxed header canonicalisation leaves `value` as it is between other
    bytes: not empty, no line break, tab or run of spaces, nothing `strip` (as dkimpy's)
    would take away at either end."""
    if not value or value.strip() != value or b"  " in value:
        return False
    return b"\t" not in value and b"\r" not in value and b"\n" not in value


def _filled(pieces: tuple[Piece, ...], slots: Sequence[bytes]) -> bytes:
    return b"".join(piece if isinstance(piece, bytes) else slots[piece] for piece in pieces)


def _plan(template: MessageTemplate) -> _Plan | None:
    """The template's `_Plan`, or None if its slots are not where the plan needs them
    (then each copy is canonicalised whole)."""
    body = _body_pieces(template)
    fields = _header_fields(template)
    return None if body is None or fields is None else _Plan(fields, _chosen(fields), body)


def _header_fields(template: MessageTemplate) -> tuple[Field, ...] | None:
    """The signed header fields in order: canonical bytes when the same in every copy,
    else the raw value in pieces around its slots (canonicalised per copy)."""
    marked = b"".join(
        chunk if isinstance(chunk, bytes) else _MARK % chunk
        for chunk in _numbered(template.chunks[: template.body_start])
    )
    parsed, _ = dkim.rfc822_parse(marked)
    fields: list[Field] = []
    for name, value in parsed:
        if b"\0" in name:
            return None
        if name.lower() not in SIGNED:
            continue
        if b"\0" not in value:
            fields.append(POLICY.canonicalize_headers([(name, value)])[0])
            continue
        pieces = value.split(b"\0")  # text, slot number, text, ...
        fields.append(
            (name, tuple(int(piece) if odd % 2 else piece for odd, piece in enumerate(pieces)))
        )
    return tuple(fields)


def _body_pieces(template: MessageTemplate) -> tuple[Piece, ...] | None:
    """The body: literal pieces canonical, slots by number; None unless every slot
    starts a line and is followed by a non-blank byte (then pieces canonicalise alone as
    they do together), or if the body does not end with a literal line."""
    chunks = _numbered(template.chunks)
    pieces: list[Piece] = []
    for index in range(template.body_start, len(chunks)):
        chunk = chunks[index]
        if isinstance(chunk, bytes):
            pieces.append(_line_canonical(chunk))
            continue
        before, after = chunks[index - 1], chunks[index + 1 : index + 2]
        if not (isinstance(before, bytes) and before.endswith(b"\n")):
            return None
        if not (after and isinstance(after[0], bytes) and after[0][:1] not in b" \t\r\n"):
            return None
        pieces.append(chunk)
    last = pieces[-1] if pieces else None
    if not isinstance(last, bytes) or not last.strip(b"\r\n"):
        return None
    pieces[-1] = strip_trailing_lines(last)  # the end-of-body rule, on the last piece
    return tuple(pieces)


def _numbered(chunks: Sequence[bytes | tuple[str, str]]) -> list[Piece]:
    """`chunks` with each slot replaced by its number among the template's slots."""
    numbered: list[Piece] = []
    count = 0
    for chunk in chunks:
        numbered.append(chunk if isinstance(chunk, bytes) else count)
        count += not isinstance(chunk, bytes)
    return numbered


def _line_canonical(data: bytes) -> bytes:
    """dkimpy's relaxed body canonicalisation of whole lines (all but its end-of-body
    rules): no blanks before a line end, runs of blanks as one space. Both rules only
    touch spaces and tabs, so bytes without either (most slot values) stay as they are."""
    if b" " not in data and b"\t" not in data:
        return data
    return compress_whitespace(strip_trailing_whitespace(data))


def _rsa(settings: Settings) -> tuple[rsa.RSAPrivateKey, int]:
    """The RSA key of DKIM_KEY_FILE (PEM, PKCS#1 or PKCS#8), and the length of its
    signatures."""
    path = settings.dkim_key_file
    assert path is not None
    key = _pem_key(path, "DKIM_KEY_FILE")
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < MIN_RSA_BITS:
        raise _key_problem("DKIM_KEY_FILE", f"{path} is not a PEM RSA private key of 1024+ bits")
    return key, (key.key_size + 7) // 8


def _ed25519(path: Path) -> ed25519.Ed25519PrivateKey:
    """The Ed25519 key of DKIM_ED25519_KEY_FILE: PEM (`openssl genpkey -algorithm
    ed25519`) or the base64 seed that dkimpy's `dknewkey --ktype ed25519` writes."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise _key_problem("DKIM_ED25519_KEY_FILE", f"cannot read {path}: {exc.strerror}") from None
    key: object = None
    if b"-----BEGIN" in text:
        key = _pem_key(path, "DKIM_ED25519_KEY_FILE")
    else:
        try:
            seed = base64.b64decode(text.strip(), validate=True)
            key = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
        except (binascii.Error, ValueError):
            key = None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise _key_problem("DKIM_ED25519_KEY_FILE", f"{path} is not an Ed25519 private key")
    return key


def _pem_key(path: Path, variable: str) -> object:
    try:
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise _key_problem(variable, f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise _key_problem(variable, f"{path} is not an unencrypted PEM private key") from None


def _key_problem(variable: str, problem: str) -> SettingsProblem:
    return SettingsProblem(f"{ENV_PREFIX}{variable}: {problem}")
