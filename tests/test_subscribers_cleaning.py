"""Addresses and names from forms and files: injection refused or cleaned, never kept raw."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from subscribers import SubscriberError, clean_name, normalise_email
from subscribers.text import is_control


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Ada@Example.ORG", "Ada@example.org"),
        ("  ada@example.org ", "ada@example.org"),
        ("=1+2@example.org", "=1+2@example.org"),
        ("ada@exämple.org", "ada@xn--exmple-cua.org"),  # punycode: every backend carries it
    ],
)
def test_addresses_are_normalised(raw: str, expected: str) -> None:
    assert normalise_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "ada@example.org\r\nBcc: everyone@example.org",
        "ada@example.org\n",
        "\rada@example.org",
        "ada\x00@example.org",
        "ada@example.org\u2028",
        "ada@example.org\u202e",
        "x@",
        "ada@localhost",
        "Ada <ada@example.org>",
        "",
    ],
)
def test_bad_addresses_are_refused_with_a_one_line_reason(raw: str) -> None:
    with pytest.raises(SubscriberError) as refused:
        normalise_email(raw)
    reason = str(refused.value)
    assert reason.startswith("bad email ") and "\n" not in reason and "\r" not in reason


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Ada\r\nBcc: everyone@example.org", "Ada Bcc: everyone@example.org"),
        ("=?UTF-8?Q?=0A?=", ""),
        ("Ada=?UTF-8?Q?=0D=0A?=Bcc: x@example.org", "Ada Bcc: x@example.org"),
        ("=?utf-8?b?QWRhCkxvdmVsYWNl?=", "Ada Lovelace"),
        ("=?UTF-8?Q?J=C3=BCrgen?= Habermas", "Jürgen Habermas"),
        ("=?UTF-8?Q?=3D=3FUTF-8=3FQ=3F=3D0A=3F=3D?=", ""),  # an encoded word, encoded
        ("=?bogus-charset?Q?=0A?=Ada", "Ada"),
        ("  Grace \t  Hopper  ", "Grace Hopper"),
        ("Line\u2028Separator\u0085", "Line Separator"),
        ("evil\u202egnp.exe", "evil gnp.exe"),
        ("Bob =?utf-8?Q?=0D=0ABcc:_x@evil.test", "Bob = ?utf-8?Q?=0D=0ABcc:_x@evil.test"),
        ("=?utf-8?q?=3D?=?q?=0A", "= ?q?=0A"),  # decoding leaves a word's start behind
        ("👩\u200d💻 Ada", "👩\u200d💻 Ada"),
        (None, ""),
        ("x" * 300, "x" * 200),
    ],
)
def test_names_are_cleaned(raw: str | None, expected: str) -> None:
    assert clean_name(raw) == expected


@given(st.text())
def test_any_name_comes_out_one_clean_line(raw: str) -> None:
    name = clean_name(raw)
    assert len(name) <= 200
    assert not any(is_control(char) for char in name)
    assert name == name.strip() and "  " not in name
    assert "=?" not in name
    assert clean_name(name) == name


def test_non_ascii_local_parts_are_refused() -> None:
    with pytest.raises(SubscriberError, match=r"bad email 'jörg@example\.org'"):
        normalise_email("jörg@example.org")
