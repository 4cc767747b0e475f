"""Feeds: RSS 2.0, Atom 1.0 and JSON Feed 1.1 for the site, each tag and each author."""

from pipeline.feeds.build import FeedBuildReport, build_feeds, write_error
from pipeline.feeds.websub import announce_to_hub, hub_session

__all__ = ["FeedBuildReport", "announce_to_hub", "build_feeds", "hub_session", "write_error"]
