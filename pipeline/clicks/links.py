"""Signed click links: only a link this site made, for one run and one post, leads anywhere.

The signature is an HMAC of the run and the post under each SECRET_KEY (the first signs,
all verify, as for subscriber tokens). The link carries no target: the redirect goes to the
post's own http(s) address as stored, so a forged or edited link cannot point elsewhere.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Sequence

from pipeline.keys import signing_keys
from pipeline.links import post_url
from pipeline.settings import Settings
from pipeline.storage.models import Post

SIGNATURE_BYTES = 16  # 128 bits: forging one is out of reach, and the link stays short
_SALT = b"newsletter.click:"

PostLink = Callable[[Post], str]


def click_path(key: str, run_id: int, post_id: int) -> str:
    """The site path of the counting redirect for `post_id` in `run_id`'s mails."""
    return f"/r/{run_id}/{post_id}/{_signature(key, run_id, post_id)}"


def verified(keys: Sequence[str], run_id: int, post_id: int, signature: str) -> bool:
    """Whether `signature` was made by one of `keys` for exactly this run and post."""
    matches = [hmac.compare_digest(_signature(key, run_id, post_id), signature) for key in keys]
    return any(matches)


def post_links(settings: Settings, run_id: int | None) -> PostLink:
    """How a mail links to its posts: through the counting redirect for a run's mails while
    CLICK_COUNTING is on, else (a preview, or counting off) straight to the post."""

    def direct(post: Post) -> str:
        return post_url(post.url, post.slug, settings.base_url)

    if run_id is None or not settings.click_counting:
        return direct
    key = signing_keys(settings)[0]
    return lambda post: settings.base_url + click_path(key, run_id, post.id)


def _signature(key: str, run_id: int, post_id: int) -> str:
    message = _SALT + f"{run_id}:{post_id}".encode()
    digest = hmac.new(key.encode(), message, hashlib.sha256).digest()[:SIGNATURE_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
