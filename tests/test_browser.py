"""The admin in a real browser: Debian's chromium driven by playwright signs in, previews a
digest (its HTML in the sandboxed frame), sends it now and watches the run finish, with no
Content-Security-Policy violation on the way. Skipped where chromium or playwright is
missing (CI installs chromium with `apt-get install -y chromium`)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from helpers import PASSWORD, READERS, USER, admin_app, admin_settings, running, write_post

from pipeline.digest.runs import start_run
from pipeline.ingest import ingest
from pipeline.outbox import send_run
from pipeline.settings import Settings
from pipeline.storage import Database
from pipeline.web.state import web_state

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
        web_state(app).subscribers.add(address, confirmed=True)
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
            frame.get_by_role("link", name="Running libraries", exact=True).wait_for()
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


def test_a_subscriber_page_filter_edit_and_resend_in_a_browser(
    site: str, settings: Settings, tmp_path: Path
) -> None:
    outbox = settings.data_dir / "outbox"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(10_000)
            page.goto(f"{site}/admin/")
            page.get_by_label("Username").fill(USER)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_role("heading", name="Dashboard").wait_for()

            page.goto(f"{site}/admin/subscribers")
            page.get_by_label("Email address").fill("new@example.org")
            page.get_by_role("button", name="Add", exact=True).click()
            page.get_by_text("Added new@example.org.").wait_for()
            deadline = time.monotonic() + 10  # asked to confirm, by a background sender
            while not list(outbox.glob("*.eml")):
                assert time.monotonic() < deadline, "no confirmation mail"
                time.sleep(0.05)

            page.goto(f"{site}/admin/subscribers")
            page.get_by_role("link", name="Pending 1").click()
            rows = page.locator("tbody tr")
            assert rows.count() == 1 and "new@example.org" in rows.inner_text()
            page.get_by_role("link", name="Confirmed 3").click()
            assert page.locator("tbody tr").count() == len(READERS)

            page.goto(f"{site}/admin/subscribers?status=pending")
            page.get_by_role("link", name="new@example.org").click()
            page.get_by_role("heading", name="new@example.org").wait_for()
            page.get_by_label("Name").fill("Nina New")
            page.get_by_label("How often").select_option("monthly")
            page.get_by_label("Time zone").select_option("Asia/Tokyo")
            page.get_by_role("button", name="Save").click()
            page.get_by_text("Saved.").wait_for()
            details = page.locator("table.details").inner_text()
            assert "Nina New" in details and "monthly" in details and "Asia/Tokyo" in details
            assert "preferences" in page.locator("table").nth(1).inner_text()  # history

            page.get_by_role("button", name="Resend the confirmation").click()
            page.get_by_text("they were asked less than an hour ago").wait_for()
            for width in (375, 1280):
                page.set_viewport_size({"width": width, "height": 800})
                page.screenshot(path=tmp_path / f"subscriber-{width}.png", full_page=True)
                scroll = page.evaluate("document.documentElement.scrollWidth")
                assert scroll <= width, f"{scroll}px wide at {width}px"
        finally:
            browser.close()
    assert len(list(outbox.glob("*.eml"))) == 1
    shutil.copyfile(
        tmp_path / "subscriber-375.png", SCREENSHOT_COPY.with_name("subscriber-375.png")
    )


def test_every_admin_page_fits_375_and_1280_pixels(
    site: str, settings: Settings, db: Database, tmp_path: Path
) -> None:
    run = start_run(db, settings, "weekly", datetime.now(UTC)).run
    send_run(db, settings, run.id)  # mail in the outbox, to be read there
    [mail, *_] = sorted(path.name for path in (settings.data_dir / "outbox").glob("*.eml"))
    pages = [
        "/admin/",
        "/admin/posts",
        "/admin/subscribers",
        "/admin/subscribers/1",
        "/admin/digest?frequency=weekly",
        "/admin/digest/send?frequency=weekly",
        "/admin/broadcast",
        "/admin/runs",
        f"/admin/runs/{run.id}",
        "/admin/outbox",
        f"/admin/outbox/{mail}",
        "/admin/settings",
    ]
    upload = tmp_path / "people.csv"
    upload.write_text(
        "email,name,status\n"
        "someone.with.a.rather.long.address.for.a.phone@an-organisation.example.org,"
        "Someone With A Long Name,subscribed\n"
        "ann@example.org,Ann,unsubscribed\nnot-an-address,,\n"
    )
    wide: list[str] = []

    def measure(page: sync_api.Page, name: str, width: int) -> None:
        page.set_viewport_size({"width": width, "height": 800})
        page.screenshot(path=tmp_path / f"{name}-{width}.png", full_page=True)
        scroll = page.evaluate("document.documentElement.scrollWidth")
        if scroll > width:
            wide.append(f"{name} is {scroll}px wide at {width}px")

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(10_000)
            page.goto(f"{site}/admin/signin")
            for width in (375, 1280):
                measure(page, "admin-signin", width)
            page.get_by_label("Username").fill(USER)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_role("heading", name="Dashboard").wait_for()
            for path in pages:
                for width in (375, 1280):
                    page.set_viewport_size({"width": width, "height": 800})
                    page.goto(f"{site}{path}")
                    measure(page, path.strip("/").replace("/", "-").split("?")[0], width)
            page.goto(f"{site}/admin/subscribers")
            page.locator("#import-file").set_input_files(upload)
            page.get_by_role("button", name="Preview").click()
            page.get_by_role("heading", name="Import preview: nothing written yet").wait_for()
            for width in (375, 1280):
                measure(page, "import-preview", width)
        finally:
            browser.close()
    assert wide == []
    shutil.copyfile(tmp_path / "admin-375.png", SCREENSHOT_COPY.with_name("dashboard-375.png"))
