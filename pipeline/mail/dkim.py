"""DKIM signatures (RFC 6376), so receivers can tell that mail from the domain is genuine.

RFC 8058: mailbox providers honour one-click unsubscribe only when a valid DKIM signature
covers List-Unsubscribe and List-Unsubscribe-Post, so both are among the signed headers.
Each copy is signed on its own: its To, Message-ID and links differ.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import dkim
from dkim.crypto import UnparsableKeyError, parse_pem_private_key

from pipeline.mail.template import OutgoingMessage
from pipeline.settings import Settings, SettingsProblem

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
CANONICALIZE = (b"relaxed", b"relaxed")

Signer = Callable[[OutgoingMessage], OutgoingMessage]


def dkim_signer(settings: Settings) -> Signer | None:
    """A function that signs a message with DKIM_KEY_FILE, or None when DKIM is not set up.

    The key is read and checked here, once: a missing or unusable key stops the command
    with a SettingsProblem before any mail goes out.
    """
    if not (settings.dkim_key_file and settings.dkim_selector and settings.dkim_domain):
        return None
    key = _private_key(settings.dkim_key_file)
    selector = settings.dkim_selector.encode("ascii")
    domain = settings.dkim_domain.encode("ascii")
    include = [name.encode("ascii") for name in SIGNED_HEADERS]

    def sign(message: OutgoingMessage) -> OutgoingMessage:
        """`message` with its DKIM-Signature header first."""
        signature = dkim.sign(
            message.raw,
            selector,
            domain,
            key,
            canonicalize=CANONICALIZE,
            include_headers=include,
            linesep=b"\r\n",
        )
        return dataclasses.replace(message, raw=signature + message.raw)

    return sign


def _private_key(path: Path) -> bytes:
    """The PEM key (PKCS#1 or PKCS#8 RSA), with LF line ends as dkimpy expects."""
    try:
        key = path.read_bytes().replace(b"\r\n", b"\n")
        parse_pem_private_key(key)
    except OSError as exc:
        problem = f"cannot read {path}: {exc.strerror}"
        raise SettingsProblem(f"NEWSLETTER_DKIM_KEY_FILE: {problem}") from None
    except (UnparsableKeyError, ValueError):
        problem = f"{path} is not a PEM RSA private key"
        raise SettingsProblem(f"NEWSLETTER_DKIM_KEY_FILE: {problem}") from None
    return key
