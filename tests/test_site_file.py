"""A content folder names its site (`site.yml`), unless the settings do."""

from __future__ import annotations

from pathlib import Path

from cli_runner import run

BUNDLED = Path(__file__).parents[1] / "content" / "site.yml"


def test_the_bundled_content_names_the_site(tmp_path: Path) -> None:
    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "site.yml").write_bytes(BUNDLED.read_bytes())
    checked = run("config", "check", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "NEWSLETTER_SITE_TITLE=Riverside Policy Notes" in checked.stdout
    assert "NEWSLETTER_SITE_TITLE=Newsletter" not in checked.stdout

    mine = run("config", "check", cwd=tmp_path, site_title="My Notes")
    assert "NEWSLETTER_SITE_TITLE=My Notes" in mine.stdout


def test_a_broken_site_file_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "site.yml").write_text("title: [unclosed\nlanguage: not a tag!\n")
    checked = run("config", "check", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "NEWSLETTER_SITE_TITLE=Newsletter" in checked.stdout
    (tmp_path / "content" / "site.yml").write_text("title: Ours\nlanguage: not a tag!\n")
    checked = run("config", "check", cwd=tmp_path)
    assert "NEWSLETTER_SITE_TITLE=Ours" in checked.stdout
    assert "NEWSLETTER_LANGUAGE=en" in checked.stdout
