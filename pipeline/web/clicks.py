"""The click redirect: `/r/RUN/POST/SIGNATURE` counts one click and goes to the post.

A link whose signature does not match (forged, edited, cut short, or signed with another
SECRET_KEY) goes nowhere: 404, no redirect. The target is never read from the link, only
from the post, and only an http(s) address is followed, so this is no open redirect.
Counting is one upsert on an aggregate row (`pipeline.clicks.counts`); no one's click is
recorded, and with CLICK_COUNTING=false old links still lead to their posts uncounted.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse

from pipeline.clicks import count_click, verified
from pipeline.links import is_web_url, post_url
from pipeline.storage.posts import get_post
from pipeline.web.state import web_state

router = APIRouter()
_MAX_ID_DIGITS = 18  # within a 64-bit integer: longer is no id of ours


@router.get("/r/{run}/{post}/{signature}", include_in_schema=False)
def follow(request: Request, run: str, post: str, signature: str) -> RedirectResponse:
    """Redirect to the post a signed link names, counting the click."""
    run_id, post_id = _id(run), _id(post)
    state = web_state(request)
    if (
        run_id is None
        or post_id is None
        or not verified(state.click_keys, run_id, post_id, signature)
    ):
        raise HTTPException(404)
    found = get_post(state.db, post_id)
    target = post_url(found.url, found.slug, state.settings.base_url) if found else None
    published = found is not None and found.status == "published"
    if target is None or not published or not is_web_url(target):
        raise HTTPException(404)
    if state.settings.click_counting:
        count_click(state.db, run_id, post_id)
    return RedirectResponse(
        target,
        status_code=302,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def _id(text: str) -> int | None:
    """The id `text` spells in canonical form (no sign, no leading zero), else None."""
    if not text.isascii() or not text.isdigit() or len(text) > _MAX_ID_DIGITS:
        return None
    return int(text) if text == str(int(text)) else None
