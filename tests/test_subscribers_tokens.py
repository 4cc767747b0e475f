"""Signed links: round trips, forgeries, expiry, key rotation, and the two kinds kept apart."""

from __future__ import annotations

import time

import pytest
from itsdangerous import BadSignature, URLSafeSerializer

from subscribers import Subscriber, SubscriberError, TokenError, TokenSigner

ADA = Subscriber(id=7, token_nonce="nonce-of-ada")


@pytest.fixture
def signer() -> TokenSigner:
    return TokenSigner(["current-secret-key-0123"])


def test_tokens_carry_the_id_and_the_nonce(signer: TokenSigner) -> None:
    assert signer.read_confirm_token(signer.confirm_token(ADA)) == (7, "nonce-of-ada")
    assert signer.read_manage_token(signer.manage_token(ADA)) == (7, "nonce-of-ada")


def forgeries(token: str) -> list[str]:
    body, signature = token.rsplit(".", 1)
    # The first character: the last one's low bits are base64 padding, ignored when decoded.
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return [body + "." + flipped, "WzcsIm4iXQ." + signature, "garbage", "", token + "x"]


def test_forged_tokens_are_invalid(signer: TokenSigner) -> None:
    for forged in forgeries(signer.manage_token(ADA)):
        with pytest.raises(TokenError, match=r"^invalid$"):
            signer.read_manage_token(forged)
    for forged in forgeries(signer.confirm_token(ADA)):
        with pytest.raises(TokenError, match=r"^invalid$"):
            signer.read_confirm_token(forged)
    stranger = TokenSigner(["someone-elses-secret-key"])
    with pytest.raises(TokenError, match=r"^invalid$"):
        signer.read_manage_token(stranger.manage_token(ADA))


def test_confirm_tokens_expire(signer: TokenSigner) -> None:
    token = signer.confirm_token(ADA)
    time.sleep(1.1)
    with pytest.raises(TokenError, match=r"^expired$") as expired:
        signer.read_confirm_token(token, max_age=0)
    assert isinstance(expired.value, SubscriberError)
    assert signer.read_confirm_token(token) == (7, "nonce-of-ada")


def test_confirm_and_manage_tokens_are_not_interchangeable(signer: TokenSigner) -> None:
    with pytest.raises(TokenError, match=r"^invalid$"):
        signer.read_manage_token(signer.confirm_token(ADA))
    with pytest.raises(TokenError, match=r"^invalid$"):
        signer.read_confirm_token(signer.manage_token(ADA))


def test_links_signed_before_a_key_rotation_still_work() -> None:
    before = TokenSigner(["old-secret-key-0123456"])
    manage, confirm = before.manage_token(ADA), before.confirm_token(ADA)
    after = TokenSigner(["new-secret-key-6543210", "old-secret-key-0123456"])
    assert after.read_manage_token(manage) == (7, "nonce-of-ada")
    assert after.read_confirm_token(confirm) == (7, "nonce-of-ada")
    with pytest.raises(TokenError):  # the new key signs: the old ring cannot read it
        before.read_manage_token(after.manage_token(ADA))
    with pytest.raises(TokenError):  # once the old key is dropped, its links are dead
        TokenSigner(["new-secret-key-6543210"]).read_manage_token(manage)


def test_a_key_ring_needs_a_key() -> None:
    with pytest.raises(ValueError, match="key"):
        TokenSigner([])


def test_manage_links_mailed_before_and_after_the_fast_signer_read_alike() -> None:
    """Links itsdangerous made (a repetitive nonce compresses: the "." form) still read,
    and a link made now is what itsdangerous itself reads, with any key of the ring."""
    keys = ["new-secret-key-6543210", "old-secret-key-0123456"]
    signer = TokenSigner(keys)
    repetitive = Subscriber(id=8, token_nonce="n" * 40)
    for key in keys:
        mailed = URLSafeSerializer(key, salt="subscribers.manage").dumps([8, "n" * 40])
        assert signer.read_manage_token(mailed) == (8, "n" * 40)
    assert mailed.startswith(".")
    made = signer.manage_token(repetitive)
    assert URLSafeSerializer(keys[0], salt="subscribers.manage").loads(made) == [8, "n" * 40]
    with pytest.raises(BadSignature):
        URLSafeSerializer(keys[1], salt="subscribers.manage").loads(made)
    plain = Subscriber(id=10, token_nonce="AfnELtOQ8Wlx2i2fE-4poA")
    unsaved = Subscriber()  # no id or nonce yet: what a preview's sample reader is
    for holder in (plain, unsaved):
        expected = URLSafeSerializer(keys[0], salt="subscribers.manage").dumps(
            [holder.id, holder.token_nonce]
        )
        assert signer.manage_token(holder) == expected
    odd = Subscriber(id=9, token_nonce='qu"ote\\ é')
    assert signer.read_manage_token(signer.manage_token(odd)) == (9, 'qu"ote\\ é')
