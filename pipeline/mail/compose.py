"""One email to one person (a confirmation, a test send): checked, then built as a template.

The result is final: CRLF line endings, no line over 998 octets, quoted-printable bodies,
every header value passed through `safe_header`. Backends only have to carry it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from email.headerregistry import Address
from email.policy import SMTP, EmailPolicy
from types import MappingProxyType

from pipeline.mail.headers import format_address, safe_header
from pipeline.mail.template import OutgoingMessage, Recipient, build_template, inert

NO_HEADERS: Mapping[str, str] = MappingProxyType({})

# Headers compose() writes itself; callers may not add a second copy (or a Bcc that leaks).
_COMPOSED = frozenset(
    {
        "bcc",
        "content-transfer-encoding",
        "content-type",
        "date",
        "from",
        "message-id",
        "mime-version",
        "subject",
        "to",
    }
)
_HEADER_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 ftext: printable ASCII except ":"
_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")


class _Policy(EmailPolicy):
    """The SMTP policy, except that ASCII header values are folded within the hard 998-octet
    limit rather than turned into encoded-words: the stdlib encodes any word longer than 78
    characters, which would break a long URL in List-Unsubscribe."""

    def fold_binary(self, name: str, value: str) -> bytes:
        policy = self.clone(max_line_length=998) if str(value).isascii() else self
        return EmailPolicy.fold_binary(policy, name, value)


POLICY = _Policy() + SMTP


def compose(
    *,
    sender: str,
    to: str,
    subject: str,
    text: str,
    html: str,
    headers: Mapping[str, str] = NO_HEADERS,
    message_id_domain: str | None = None,
) -> OutgoingMessage:
    """A multipart/alternative message (plain text first, so clients prefer the HTML); one
    recipient's whole mail, so nothing in its text is a slot.

    `sender` and `to` are address headers (`format_address` builds them safely);
    `message_id_domain` defaults to the sender's domain. Raises ValueError for an address
    without a domain, a bad header name, or a header that compose() writes itself.
    """
    from_value, senders = _address_header("From", sender)
    _, recipients = _address_header("To", to)
    if len(senders) != 1 or len(recipients) != 1:
        raise ValueError(f"expected one From and one To address: {sender!r}, {to!r}")
    domain = message_id_domain or senders[0].domain
    if not _DOMAIN.fullmatch(domain):
        raise ValueError(f"not a domain for Message-ID: {domain!r}")
    for name in headers:
        if not _HEADER_NAME.fullmatch(name) or name.lower() in _COMPOSED:
            raise ValueError(f"header {name!r} cannot be added")
    template = build_template(
        sender=from_value,
        subject=inert(subject),
        text=inert(text),
        html_body=inert(html),
        headers=headers,
        message_id_domain=domain,
    )
    [address] = recipients
    return template.render(Recipient(address.addr_spec, address.addr_spec, address.display_name))


def _address_header(name: str, value: str) -> tuple[str, tuple[Address, ...]]:
    """The header value rebuilt address by address, and the addresses.

    Each display name is quoted, or encoded as encoded-words, by `format_address`: the
    email package's own refolding can leave a comma of an encoded name outside any quotes,
    which turns one recipient into two.
    """
    addresses = POLICY.header_factory(name, safe_header(value)).addresses
    for address in addresses:
        if not (address.username and address.domain and address.addr_spec.isascii()):
            raise ValueError(f"{name}: not an ASCII email address: {address.addr_spec!r}")
    if not addresses:
        raise ValueError(f"{name}: no email address in {value!r}")
    rebuilt = ", ".join(
        format_address(address.display_name, address.addr_spec) for address in addresses
    )
    return rebuilt, addresses
