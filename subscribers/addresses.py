"""Email addresses: one normal form, a case-insensitive key, and the hash suppressions keep."""

from __future__ import annotations

import hashlib

from email_validator import EmailNotValidError, validate_email

from subscribers.errors import SubscriberError, shown
from subscribers.text import is_control


def normalise_email(raw: str) -> str:
    """The address as email-validator normalises it, in ASCII (an internationalised domain
    in its punycode form), so every backend can carry it.

    Control characters are refused, not stripped: an address with a newline in it is an
    attempt at header injection, never a typo worth repairing. Non-ASCII local parts are
    refused too: they need SMTPUTF8, which most mail servers and APIs do not offer.
    """
    if any(is_control(char) for char in raw):
        raise SubscriberError(f"bad email {shown(raw)}")
    try:
        checked = validate_email(raw.strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        raise SubscriberError(f"bad email {shown(raw)}") from None
    return checked.ascii_email or checked.normalized


def email_key(email: str) -> str:
    """What makes two normalised addresses one person: Foo@example.org is foo@example.org."""
    return email.lower()


def email_hash(email: str) -> str:
    """The SHA-256 of a normalised address's key: a suppression without the address itself."""
    return hashlib.sha256(email_key(email).encode()).hexdigest()
