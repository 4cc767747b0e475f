"""DKIM signatures checked by dkimpy's own verifier against a DNS stub: digest copies
signed from their template's canonical pieces, any other message whole, RSA through
OpenSSL and an optional Ed25519 signature beside it."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from dkim.util import parse_tag_value
from helpers import DOMAIN, SIGNED_AT, Keys, watch_key_processes
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.cpus import one_cpu
from pipeline.mail import OutgoingMessage
from pipeline.mail import dkim as dkim_module
from pipeline.mail.dkim import INCLUDE, KEY_PROCESS_MIN, dkim_signer
from pipeline.mail.keyprocess import NICENESS, KeyProcess
from pipeline.mail.template import Recipient, build_template
from pipeline.mail.wire import data_payload
from pipeline.settings import SettingsProblem, load_settings


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return Keys(tmp_path_factory.mktemp("dkim"))


def digest_like(text: str = "Hello %%name%%\n", html: str = "<p>%%unsubscribe_url%%</p>"):
    """A template shaped like the digest's: list headers and links as slots."""
    return build_template(
        sender=f"Policy Blog <news@{DOMAIN}>",
        subject="Three new posts",
        text=text + "\nUnsubscribe: %%unsubscribe_url%%\n",
        html_body=html,
        headers={
            "List-Unsubscribe": "<%%unsubscribe_url%%>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "List-Id": f"Policy Blog <policy.{DOMAIN}>",
        },
        variables=("unsubscribe_url",),
    )


def reader(name: str = "Ada Lovelace", link: str = "https://blog.example.org/u/tok-1") -> Recipient:
    return Recipient("1", "ada@example.org", name, {"unsubscribe_url": link})


def signatures(raw: bytes) -> list[dict[bytes, bytes]]:
    headers, _ = dkim.rfc822_parse(raw)
    return [parse_tag_value(value) for name, value in headers if name == b"DKIM-Signature"]


def test_copies_of_a_template_verify_and_cover_their_own_headers(keys: Keys) -> None:
    sign, template = keys.signer(), digest_like()
    ada = sign(template.render(reader()))
    grace = sign(template.render(reader("Grace", "https://blog.example.org/u/tok-2")))

    assert keys.verify(ada.raw) and keys.verify(grace.raw)
    assert keys.looked_up[-1] == f"mail._domainkey.{DOMAIN}.".encode()
    [tags] = signatures(ada.raw)
    assert tags[b"a"] == b"rsa-sha256" and tags[b"c"] == b"relaxed/relaxed"
    assert (tags[b"d"], tags[b"s"], tags[b"t"]) == (
        DOMAIN.encode(),
        b"mail",
        str(SIGNED_AT).encode(),
    )
    signed = {name.strip() for name in tags[b"h"].split(b":")}
    assert {b"from", b"to", b"message-id", b"list-unsubscribe", b"list-unsubscribe-post"} <= signed
    assert ada.raw.endswith(template.render(reader()).raw[-200:])  # the message follows
    assert signatures(grace.raw)[0][b"bh"] != tags[b"bh"]  # each body hashed for itself
    for tampered in (
        ada.raw.replace(b"tok-1", b"tok-9"),  # a link in the body and List-Unsubscribe
        ada.raw.replace(b"Ada Lovelace", b"Ada Lovelacf"),  # To
        ada.raw.replace(b"\r\n--=_", b"\r\nextra line\r\n--=_", 1),  # the body only
    ):
        assert not keys.verify(tampered)


LONG = "w" * 80  # longer than a quoted-printable line: soft line breaks inside a value
BLANKS = st.lists(
    st.sampled_from(
        ["a", " ", "  ", "\t", ".", "\n", "\r\n", "\r", "=", "=\r\n", "é", " \n", "\t\n", LONG]
    ),
    max_size=30,
).map("".join)


ASCII_BLANKS = st.lists(st.sampled_from(["a", " ", "  ", "\t", ".", "=", LONG]), max_size=20).map(
    "".join
)


@settings(max_examples=60, deadline=None)
@given(text=BLANKS, html=BLANKS, name=BLANKS, link=ASCII_BLANKS)
def test_any_text_and_values_verify(keys: Keys, text: str, html: str, name: str, link: str) -> None:
    """Blanks, tabs and empty lines anywhere, also in slot values and at the body's end:
    dkimpy, canonicalising the whole message, agrees with the piecewise body hash."""
    message = digest_like(text + "%%name%%\n", html + "\n%%unsubscribe_url%%").render(
        reader(name, link)
    )
    assert keys.verify(keys.signer()(message).raw)


@pytest.mark.parametrize("selector", ["m", "mail-2026", "s" * 40, "selector-" * 9])
@pytest.mark.parametrize("name", ["Ada", "Ada  Lovelace\t of\tLondon " * 3])
def test_signatures_are_the_bytes_dkimpy_signs(keys: Keys, selector: str, name: str) -> None:
    """Laid out once per t= and filled in per copy, the header is byte for byte the one
    dkimpy's own `dkim.sign` makes (RSA PKCS#1 v1.5 is deterministic), wherever folding
    breaks the line for any selector's length."""
    message = digest_like("Hi %%name%%  \n\n").render(reader(name))
    expected = dkim.sign(
        message.raw,
        selector.encode(),
        DOMAIN.encode(),
        keys.rsa_file.read_bytes(),
        canonicalize=(b"relaxed", b"relaxed"),
        include_headers=list(INCLUDE),
    )
    signed_at = int(parse_tag_value(expected.split(b": ", 1)[1])[b"t"])
    settings = keys.settings().model_copy(update={"dkim_selector": selector})
    sign = dkim_signer(settings, clock=lambda: signed_at)
    assert sign is not None
    assert sign(message).raw == expected + message.raw


def test_a_copy_is_signed_once_whichever_threads_want_its_bytes(keys: Keys) -> None:
    """Signing does not hold up the caller: signatures are made by the first reader of a
    copy's bytes, never twice, and every reader on any thread gets the same bytes (one t=
    reading per copy)."""
    readings: list[float] = []

    def clock() -> float:
        readings.append(SIGNED_AT)
        return SIGNED_AT

    sign = dkim_signer(keys.settings(ed25519=True), clock=clock)
    assert sign is not None
    template = digest_like()
    copies = [
        sign(template.render(reader(f"Reader {n}", f"https://b.example/u/{n}"))) for n in range(40)
    ]
    assert readings == []  # nothing signed yet
    with ThreadPoolExecutor(8) as readers:
        seen = list(readers.map(lambda message: (message.raw, message.wire()), copies * 4))
    assert len(readings) == len(copies)
    for number, message in enumerate(copies):
        assert {raw for raw, _ in seen[number :: len(copies)]} == {message.raw}
        assert {wire for _, wire in seen[number :: len(copies)]} == {data_payload(message.raw)}
        assert keys.verify(message.raw, 0) and keys.verify(message.raw, 1)


def test_a_message_not_made_from_a_template_is_signed_whole(keys: Keys) -> None:
    raw = (
        f"From: news@{DOMAIN}\r\nTo: ada@example.org\r\nSubject:  spaced   out \r\n\r\n"
        "body  with\t blanks \r\n.dot\r\n\r\n\r\n"
    ).encode()
    bare = OutgoingMessage(f"news@{DOMAIN}", ("ada@example.org",), "<1@blog>", raw)
    replaced = replace(digest_like().render(reader()), content=raw)  # its template no longer fits
    sign = keys.signer()
    assert keys.verify(sign(bare).raw)
    assert keys.verify(sign(replaced).raw)


def test_an_ed25519_signature_goes_beside_the_rsa_one(keys: Keys) -> None:
    signed = keys.signer(ed25519=True)(digest_like().render(reader()))
    rsa_tags, ed_tags = signatures(signed.raw)
    assert (rsa_tags[b"a"], rsa_tags[b"s"]) == (b"rsa-sha256", b"mail")
    assert (ed_tags[b"a"], ed_tags[b"s"]) == (b"ed25519-sha256", b"ed")
    assert keys.verify(signed.raw, 0) and keys.verify(signed.raw, 1)
    assert not keys.verify(signed.raw.replace(b"tok-1", b"tok-2"), 1)


def test_dknewkey_ed25519_files_are_read_too(
    keys: Keys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    public = seed.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    (tmp_path / "ed.key").write_bytes(base64.b64encode(bytes(range(32))) + b"\n")
    settings = keys.settings(ed25519=True).model_copy(
        update={"dkim_ed25519_key_file": tmp_path / "ed.key"}
    )
    sign = dkim_signer(settings)
    assert sign is not None
    record = b"k=ed25519; p=" + base64.b64encode(public)
    monkeypatch.setitem(keys.records, f"ed._domainkey.{DOMAIN}.".encode(), record)
    assert keys.verify(sign(digest_like().render(reader())).raw, 1)


def test_unusable_keys_name_their_variable(keys: Keys, tmp_path: Path) -> None:
    junk = tmp_path / "junk.key"
    junk.write_text("not a key\n")
    ed_as_rsa = keys.settings().model_copy(update={"dkim_key_file": keys.ed_file})
    for unusable, variable, problem in (
        (ed_as_rsa, "KEY_FILE", "not a PEM RSA private key"),
        (keys.settings().model_copy(update={"dkim_key_file": junk}), "KEY_FILE", "not an"),
        (
            keys.settings(ed25519=True).model_copy(update={"dkim_ed25519_key_file": junk}),
            "ED25519_KEY_FILE",
            "not an Ed25519 private key",
        ),
        (
            keys.settings(ed25519=True).model_copy(
                update={"dkim_ed25519_key_file": tmp_path / "missing.key"}
            ),
            "ED25519_KEY_FILE",
            "cannot read",
        ),
    ):
        with pytest.raises(SettingsProblem) as raised:
            dkim_signer(unusable)
        assert str(raised.value).startswith(f"NEWSLETTER_DKIM_{variable}: ")
        assert problem in str(raised.value) and "\n" not in str(raised.value)


def test_an_ed25519_key_needs_its_selector_and_the_rsa_key(keys: Keys) -> None:
    with pytest.raises(SettingsProblem, match="NEWSLETTER_DKIM_ED25519_SELECTOR"):
        load_settings(dkim_ed25519_key_file=keys.ed_file, dkim_ed25519_selector="ed")
    with pytest.raises(SettingsProblem, match="NEWSLETTER_DKIM_ED25519_SELECTOR"):
        load_settings(
            dkim_key_file=keys.rsa_file,
            dkim_selector="mail",
            dkim_domain=DOMAIN,
            dkim_ed25519_key_file=keys.ed_file,
        )


@pytest.fixture
def watched(monkeypatch: pytest.MonkeyPatch) -> list[KeyProcess]:
    return watch_key_processes(monkeypatch)


def copies(count: int) -> list[OutgoingMessage]:
    template = digest_like()
    return [
        template.render(reader(f"Reader {n}", f"https://b.example/u/{n}"), message_key=str(n))
        for n in range(count)
    ]


@pytest.mark.parametrize("processes", [1, 3])
def test_a_batch_is_signed_in_key_processes_byte_for_byte_as_one_by_one(
    keys: Keys, watched: list[KeyProcess], monkeypatch: pytest.MonkeyPatch, processes: int
) -> None:
    """`many` hands the private-key operations to child processes, chunk by chunk in
    turn; the copies come back in order with the very bytes a one-by-one signer makes,
    both signatures verify. Each child runs at the lowest priority, below the sender."""
    monkeypatch.setattr(dkim_module, "KEY_PROCESSES", processes)
    sign = keys.signer(ed25519=True)
    batch = copies(100)
    try:
        signed, unsignable = sign.many(batch)
        assert unsignable == []
        assert len(watched) == processes
        for process in watched:
            assert process.pid is not None and process.pid != os.getpid()
            assert process.sign([(0, bytes(32)), (1, bytes(32))]).get(1) is not None  # answers
            assert os.getpriority(os.PRIO_PROCESS, process.pid) == NICENESS
        assert [message.raw for message in signed] == [sign(message).raw for message in batch]
    finally:
        sign.close()
    assert all(keys.verify(message.raw, 0) and keys.verify(message.raw, 1) for message in signed)
    assert [message.message_id for message in signed] == [message.message_id for message in batch]


def test_the_key_processes_of_a_send_kept_to_one_cpu_sign_on_the_others(
    keys: Keys, watched: list[KeyProcess], tmp_path: Path
) -> None:
    """Where the send keeps to a CPU of its own, its key processes run on the other CPUs,
    at the sender's own priority (they no longer take the sender's CPU)."""
    allowed = os.sched_getaffinity(0)
    if len(allowed) < 2:
        pytest.skip("needs two CPUs")
    sign = keys.signer()
    try:
        with one_cpu(tmp_path) as cpu:
            assert cpu is not None
            signed, _ = sign.many(copies(KEY_PROCESS_MIN))
            assert watched
            for process in watched:
                assert process.pid is not None
                assert os.sched_getaffinity(process.pid) == allowed - {cpu}
                priority = os.getpriority(os.PRIO_PROCESS, process.pid)
                assert priority == os.getpriority(os.PRIO_PROCESS, 0)
        assert all(keys.verify(message.raw, 0) for message in signed)
    finally:
        sign.close()


def test_key_processes_on_cpus_another_send_holds_run_at_the_lowest_priority(
    keys: Keys, watched: list[KeyProcess], tmp_path: Path
) -> None:
    allowed = os.sched_getaffinity(0)
    if len(allowed) != 2:
        pytest.skip("needs exactly two CPUs: one for each send")
    holding, done = threading.Event(), threading.Event()

    def another_send() -> None:
        with one_cpu(tmp_path):
            holding.set()
            done.wait()

    other = threading.Thread(target=another_send, daemon=True)
    other.start()
    sign = keys.signer()
    try:
        holding.wait()
        with one_cpu(tmp_path) as cpu:
            assert cpu is not None
            sign.many(copies(KEY_PROCESS_MIN))
            for process in watched:
                assert process.pid is not None
                assert os.sched_getaffinity(process.pid) == allowed - {cpu}
                assert os.getpriority(os.PRIO_PROCESS, process.pid) == NICENESS
    finally:
        done.set()
        sign.close()


def test_a_few_copies_are_signed_without_starting_a_process(
    keys: Keys, watched: list[KeyProcess]
) -> None:
    sign = keys.signer()
    signed, unsignable = sign.many(copies(KEY_PROCESS_MIN - 1))
    assert (watched, unsignable) == ([], [])
    assert all(keys.verify(message.raw) for message in signed)


def test_copies_are_signed_here_when_the_key_process_is_killed(
    keys: Keys, watched: list[KeyProcess], caplog: pytest.LogCaptureFixture
) -> None:
    """A key process killed with chunks still owed: those copies, and every later batch,
    are signed in this process; nothing is lost and every signature verifies."""
    sign = keys.signer()
    batch = copies(400)
    try:
        first = sign.many(batch[:200]).messages
        pids = [process.pid for process in watched]
        for pid in pids:
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
        later = sign.many(batch[200:]).messages
        signed = first + later
        assert [message.raw for message in signed] == [sign(message).raw for message in batch]
    finally:
        sign.close()
    assert all(keys.verify(message.raw) for message in signed)
    warnings = sorted(record.getMessage() for record in caplog.records)
    assert warnings == sorted(
        f"DKIM key process {pid} stopped (exit status -9): signing in the sender" for pid in pids
    )


def test_copies_are_signed_here_when_no_key_process_can_start(
    keys: Keys,
    watched: list[KeyProcess],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-python-here"))
    sign = keys.signer()
    try:
        signed = sign.many(copies(KEY_PROCESS_MIN)).messages
        assert [process.pid for process in watched] == [None] * dkim_module.KEY_PROCESSES
    finally:
        sign.close()
    assert all(keys.verify(message.raw) for message in signed)
    assert "DKIM key process could not start" in caplog.text


def test_a_closed_key_process_answers_nothing_and_closes_once(
    keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    key = serialization.load_pem_private_key(keys.rsa_file.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    process = KeyProcess([key])
    assert process.sign([(0, bytes(32))]).get(0) is not None
    owed = process.sign([(0, bytes(range(32)))] * 3)
    process.close()
    assert caplog.records == []  # a child told to stop is no news
    assert [owed.get(index) for index in range(3)] == [owed.get(0)] * 3 != [None] * 3
    assert process.sign([(0, bytes(32))]).get(0) is None
    process.close()


def test_a_key_process_stops_when_its_sender_is_killed(keys: Keys) -> None:
    """`kill -9` of the sending process leaves no key process behind: its pipe closes,
    and the child stops."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "from cryptography.hazmat.primitives import serialization\n"
            "from pipeline.mail.keyprocess import KeyProcess\n"
            "key = serialization.load_pem_private_key(open(sys.argv[1], 'rb').read(), None)\n"
            "process = KeyProcess([key])\n"
            "assert process.sign([(0, bytes(32))]).get(0)\n"
            "print(process.pid, flush=True)\n"
            "sys.stdin.read()\n",
            str(keys.rsa_file),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    child = int(holder.stdout.readline())
    assert Path(f"/proc/{child}").exists()
    holder.kill()
    holder.wait()
    deadline = time.monotonic() + 10
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(child)


def _running(pid: int) -> bool:
    """Whether `pid` is a live process (not gone, nor a zombie waiting to be reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.parametrize("size", [KEY_PROCESS_MIN - 2, 100])
def test_a_copy_that_cannot_be_hashed_is_left_out_with_its_reason(
    keys: Keys, watched: list[KeyProcess], size: int
) -> None:
    """A message dkimpy cannot parse, amid a batch signed here or in key processes: it
    comes back apart with the reason, for its sender to fail alone; the rest in their
    order, with the very bytes a one-by-one signer makes."""
    bad = OutgoingMessage(
        f"news@{DOMAIN}", ("ada@example.org",), "<bad@blog>", b"no colon\r\n\r\nx"
    )
    batch = copies(size)
    sign = keys.signer()
    try:
        signed, unsignable = sign.many([*batch[:3], bad, *batch[3:]])
        assert [message.raw for message in signed] == [sign(message).raw for message in batch]
    finally:
        sign.close()
    [(message, reason)] = unsignable
    assert message is bad and reason.startswith("cannot be DKIM-signed: ")
    assert len(watched) == (dkim_module.KEY_PROCESSES if size >= KEY_PROCESS_MIN else 0)
    assert all(keys.verify(message.raw) for message in signed)


HEADER_TEXT = st.lists(
    st.sampled_from(["a", "<", "@", " ", "  ", "\t", "\r\n ", "\x0b", "\x0c", ".", "é"]),
    max_size=12,
).map(lambda parts: "".join(parts).encode())


@settings(max_examples=300, deadline=None)
@given(before=HEADER_TEXT, value=HEADER_TEXT, after=HEADER_TEXT)
def test_a_signed_field_with_a_slot_is_hashed_as_dkimpy_canonicalises_it(
    before: bytes, value: bytes, after: bytes
) -> None:
    """Whether a slot's value is put into the field's canonical pieces as it is (single
    spaces inside it and none at its ends) or the field is canonicalised whole, the
    hashed bytes are dkimpy's, whatever blanks stand around the slot."""
    field = dkim_module._SlotField.of(b"To", (before, 0, after))
    [(name, canonical)] = dkim_module.POLICY.canonicalize_headers([(b"To", before + value + after)])
    assert field.hashed([value]) == name + b":" + canonical
