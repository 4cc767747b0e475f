"""Local sinks for bench/send.py, each run as its own process.

    python -P bench/sinks.py aiosmtpd|asyncio|api

The sink binds a free loopback port, prints `{"port": N}` on a line, and accepts mail until
its stdin closes; then it prints `{"messages": …, "recipients": …, "cpu_seconds": …}` and
exits. `aiosmtpd` is an aiosmtpd Controller whose handler only counts and says 250;
`asyncio` is a minimal SMTP responder on a bare asyncio.Protocol that scans DATA in bulk
instead of line by line (a stand-in for Postfix's smtp-sink: far less CPU per message);
`api` is a threaded HTTP server answering POST /email/batch in Postmark's shape (one entry
per message) and POST /v3/mail/send in SendGrid's (202, one personalization per message).
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOST = "127.0.0.1"


class Tally:
    """Messages and recipients accepted so far (thread-safe)."""

    def __init__(self) -> None:
        self.messages = 0
        self.recipients = 0
        self._lock = threading.Lock()

    def add(self, recipients: int) -> None:
        with self._lock:
            self.messages += 1
            self.recipients += recipients

    def json(self) -> str:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return json.dumps(
            {
                "messages": self.messages,
                "recipients": self.recipients,
                "cpu_seconds": usage.ru_utime + usage.ru_stime,
            }
        )


def serve_aiosmtpd(tally: Tally) -> tuple[int, Callable[[], None]]:
    """An aiosmtpd sink on a free port: its port and how to stop it."""
    from aiosmtpd.controller import Controller

    class CountingHandler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            tally.add(len(envelope.rcpt_tos))
            return "250 OK"

    class FreePortController(Controller):
        """Binds port 0 and learns the port the system chose before triggering."""

        def _trigger_server(self) -> None:
            assert self.server is not None
            self.port = self.server.sockets[0].getsockname()[1]
            super()._trigger_server()

    controller = FreePortController(CountingHandler(), hostname=HOST, port=0)
    controller.start()
    return controller.port, controller.stop


class _SMTPSink(asyncio.Protocol):
    """Just enough SMTP for smtplib: every command 250, DATA read up to CRLF.CRLF."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.buffer = bytearray()
        self.in_data = False
        self.scanned = 0  # DATA bytes already searched for the end marker
        self.recipients = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(b"220 sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buffer += data
        while self.buffer:
            if self.in_data:
                end = self.buffer.find(b"\r\n.\r\n", max(self.scanned - 4, 0))
                if end < 0:
                    self.scanned = len(self.buffer)
                    return
                del self.buffer[: end + 5]
                self.tally.add(self.recipients)
                self.in_data, self.scanned, self.recipients = False, 0, 0
                self.transport.write(b"250 OK\r\n")
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                return
            verb = bytes(self.buffer[:4]).upper()
            del self.buffer[: end + 2]
            if verb == b"EHLO":
                self.transport.write(b"250-sink\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
            elif verb == b"RCPT":
                self.recipients += 1
                self.transport.write(b"250 OK\r\n")
            elif verb == b"DATA":
                self.in_data = True
                self.buffer[:0] = b"\r\n"  # so a message that is only "." still ends
                self.transport.write(b"354 go ahead\r\n")
            elif verb == b"QUIT":
                self.transport.write(b"221 bye\r\n")
                self.transport.close()
                return
            else:
                self.transport.write(b"250 OK\r\n")


def serve_asyncio(tally: Tally) -> tuple[int, Callable[[], None]]:
    """The minimal SMTP sink on a free port, its loop in a thread: its port and how to stop it."""
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(loop.create_server(lambda: _SMTPSink(tally), HOST, 0))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def stop() -> None:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)

    return server.sockets[0].getsockname()[1], stop


def serve_api(tally: Tally) -> tuple[int, Callable[[], None]]:
    """A Postmark- and SendGrid-shaped HTTP sink on a free port: its port and how to stop it."""

    class BatchHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as requests.Session expects
        disable_nagle_algorithm = True  # else the body waits for the headers' delayed ACK

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            batch = json.loads(self.rfile.read(length))
            if self.path == "/v3/mail/send":
                for personalization in batch["personalizations"]:
                    tally.add(len(personalization["to"]))
                self.send_response(202)
                self.send_header("X-Message-Id", str(uuid.uuid4()))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            submitted = datetime.now(UTC).isoformat()
            answers = []
            for message in batch:
                tally.add(len(str(message.get("To", "")).split(",")))
                answers.append(
                    {
                        "ErrorCode": 0,
                        "Message": "OK",
                        "MessageID": str(uuid.uuid4()),
                        "SubmittedAt": submitted,
                        "To": message.get("To"),
                    }
                )
            body = json.dumps(answers).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer((HOST, 0), BatchHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return server.server_address[1], stop


SINKS = {"aiosmtpd": serve_aiosmtpd, "asyncio": serve_asyncio, "api": serve_api}


def main() -> None:
    tally = Tally()
    port, stop = SINKS[sys.argv[1]](tally)
    print(json.dumps({"port": port}), flush=True)
    sys.stdin.read()  # until the benchmark closes our stdin
    stop()
    print(tally.json(), flush=True)


if __name__ == "__main__":
    main()
