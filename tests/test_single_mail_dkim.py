"""Mail outside digest runs is DKIM-signed too: the confirmation and the welcome (through
a real SMTP server) and an editor's test copy (the real CLI, file backend)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_runner import run
from helpers import DOMAIN, Keys
from smtp_server import SMTPServer

from pipeline.invitations import send_welcome
from pipeline.settings import load_settings
from pipeline.web.subscribe import send_confirmation
from subscribers import Subscriber, TokenSigner

pytest_plugins = ["smtp_server"]
CONTENT = Path(__file__).resolve().parents[1] / "content"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return Keys(tmp_path_factory.mktemp("dkim"))


def dkim_env(keys: Keys) -> dict[str, str]:
    return {"DKIM_KEY_FILE": str(keys.rsa_file), "DKIM_SELECTOR": "mail", "DKIM_DOMAIN": DOMAIN}


def test_the_confirmation_mail_is_signed(keys: Keys, smtp_server: SMTPServer) -> None:
    settings = load_settings(
        **smtp_server.settings,
        email_from=f"Policy Notes <news@{DOMAIN}>",
        secret_key="a-secret-key-for-tests-0123456789",
        dkim_key_file=keys.rsa_file,
        dkim_selector="mail",
        dkim_domain=DOMAIN,
    )
    ada = Subscriber(id=7, email="ada@example.org", name="Ada", token_nonce="n1")
    send_confirmation(settings, TokenSigner(["a-secret-key-for-tests-0123456789"]), ada)

    [received] = smtp_server.received
    assert received.raw.startswith(b"DKIM-Signature: ")
    assert keys.verify(received.raw)
    assert b"/confirm/" in received.raw


def test_the_welcome_mail_is_signed(keys: Keys, smtp_server: SMTPServer) -> None:
    settings = load_settings(
        **smtp_server.settings,
        email_from=f"Policy Notes <news@{DOMAIN}>",
        secret_key="a-secret-key-for-tests-0123456789",
        dkim_key_file=keys.rsa_file,
        dkim_selector="mail",
        dkim_domain=DOMAIN,
    )
    ada = Subscriber(id=7, email="ada@example.org", name="Ada", token_nonce="n1", topics=[])
    send_welcome(settings, TokenSigner(["a-secret-key-for-tests-0123456789"]), ada)

    [received] = smtp_server.received
    assert received.raw.startswith(b"DKIM-Signature: ")
    assert keys.verify(received.raw)
    assert b"/unsubscribe/" in received.raw


def test_an_editors_test_copy_is_signed(keys: Keys, tmp_path: Path) -> None:
    (tmp_path / "content").symlink_to(CONTENT)
    assert run("ingest", cwd=tmp_path).returncode == 0
    result = run(
        "digest", "send", "--test-to", "editor@example.org", cwd=tmp_path, **dkim_env(keys)
    )
    assert result.returncode == 0, result.stderr
    [eml] = (tmp_path / "var" / "outbox").glob("*.eml")
    assert keys.verify(eml.read_bytes())


def test_an_unusable_key_stops_a_test_send_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "content").symlink_to(CONTENT)
    assert run("ingest", cwd=tmp_path).returncode == 0
    (tmp_path / "junk.key").write_text("not a key\n")
    settings = {"DKIM_KEY_FILE": "junk.key", "DKIM_SELECTOR": "mail", "DKIM_DOMAIN": DOMAIN}
    result = run("digest", "send", "--test-to", "editor@example.org", cwd=tmp_path, **settings)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: NEWSLETTER_DKIM_KEY_FILE: junk.key is not an unencrypted PEM private key"
    ]
    assert not (tmp_path / "var" / "outbox").exists()
