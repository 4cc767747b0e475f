"""The public web app: feeds, the home page, a page per post, and a health check."""

from pipeline.web.app import create_app

__all__ = ["create_app"]
