"""The admin in a real browser: Debian's chromium driven by playwright signs in, previews a
digest (its HTML in the sandboxed frame), sends it now and watches the run finish, with no
Content-Security-Policy violation on the way. Skipped where chromium or playwright is
missing (CI installs chromium with `apt-get install -y chromium`)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from test_admin import PASSWORD, USER, admin_app, admin_settings
from test_admin_pages import READERS, write_post
from test_web import running

from pipeline.ingest import ingest
from pipeline.settings import Settings
from pipeline.storage import Database

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT_COPY = Path("/tmp/admin-screenshot.png")

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """One database is enough to see what a browser sees."""
    return f"sqlite:///{tmp_path / 'db' / 'newsletter.db'}"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return admin_settings(tmp_path, database_url)


@pytest.fixture
def site(settings: Settings, db: Database, posts_dir: Path) -> Iterator[str]:
    write_post(posts_dir, "budgets", "Budgets & pilots", timedelta(days=2))
    write_post(posts_dir, "libraries", "Running libraries", timedelta(days=1))
    ingest(db, settings)
    app: FastAPI = admin_app(settings, db)
    for address in READERS:
        app.state.subscribers.add(address, confirmed=True)
    with running(app) as base_url:
        yield base_url


def test_sign_in_preview_and_send_in_a_browser(
    site: str, settings: Settings, tmp_path: Path
) -> None:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(10_000)
            problems: list[str] = []
            page.on("console", lambda message: problems.append(message.text))

            page.goto(f"{site}/admin/")
            page.get_by_label("Username").fill(USER)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_role("heading", name="Dashboard").wait_for()

            page.goto(f"{site}/admin/digest?frequency=weekly")
            frame = page.frame_locator("iframe.mail-frame")
            frame.get_by_role("link", name="Running libraries").wait_for()
            page.screenshot(path=tmp_path / "preview.png", full_page=True)

            page.get_by_role("link", name="Send now…").click()
            page.get_by_role("button", name="Send to 3 subscribers").click()
            page.wait_for_url("**/admin/runs/*")
            deadline = time.monotonic() + 20
            while page.locator("#run-status").inner_text() != "done":
                assert time.monotonic() < deadline, "the run did not finish"
                time.sleep(0.2)
                page.reload()
            assert page.get_by_role("cell", name="3", exact=True).count() == 1  # 3 sent

            page.goto(f"{site}/admin/")
            page.screenshot(path=tmp_path / "admin.png", full_page=True)
        finally:
            browser.close()
    assert not [text for text in problems if "Content Security Policy" in text], problems
    assert len(list((settings.data_dir / "outbox").glob("*.eml"))) == len(READERS)
    shutil.copyfile(tmp_path / "admin.png", SCREENSHOT_COPY)
    shutil.copyfile(tmp_path / "preview.png", SCREENSHOT_COPY.with_name("admin-preview.png"))
