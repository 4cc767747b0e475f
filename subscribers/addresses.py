"""Email addresses: one normal form, a case-insensitive key, and the hash suppressions keep."""

from __future__ import annotations

import hashlib

from email_validator import EmailNotValidError, validate_email

from subscribers.errors import SubscriberError, shown
from subscribers.text import is_control


def normalise_email(raw: str) -> str:
    """The address as email-validator normalises it (domain lowercased, Unicode NFC).

    Control characters are refused, not stripped: an address with a newline in it is an
    attempt at header injection, never a typo worth repairing.
    """
    if any(is_control(char) for char in raw):
        raise SubscriberError(f"bad email {shown(raw)}")
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        raise SubscriberError(f"bad email {shown(raw)}") from None


def email_key(email: str) -> str:
    """What makes two normalised addresses one person: Foo@example.org is foo@example.org."""
    return email.lower()


def email_hash(email: str) -> str:
    """The SHA-256 of a normalised address's key: a suppression without the address itself."""
    return hashlib.sha256(email_key(email).encode()).hexdigest()
