"""Clicks on post links in mails, counted per post per run and nothing more.

A mail's post links lead to `/r/RUN/POST/SIGNATURE` on the site, which adds one to that
run's count for that post and redirects to the post. There is no per-person record and
no open pixel; CLICK_COUNTING=false makes links go straight to the posts.
"""

from pipeline.clicks.counts import ClickTotals, click_totals, count_click
from pipeline.clicks.links import click_path, post_links, verified

__all__ = [
    "ClickTotals",
    "click_path",
    "click_totals",
    "count_click",
    "post_links",
    "verified",
]
