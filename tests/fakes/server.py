"""A tiny threaded HTTP server on 127.0.0.1 for the loopback fakes."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Activity:
    """How many requests the fakes have handled, and a condition to wait for the next one.

    `tests.harness.wait_for` wakes on it (a fake's state changes when it handles a request) and
    counts it as progress: a wait fails when nothing happens for its timeout, not when a loaded
    machine is merely slow."""

    def __init__(self):
        self.condition = threading.Condition()
        self.count = 0

    def handled(self) -> None:
        with self.condition:
            self.count += 1
            self.condition.notify_all()

    def wait_past(self, seen: int, timeout: float) -> int:
        """Wait up to `timeout` seconds for a request after the `seen`-th; return the count."""
        with self.condition:
            self.condition.wait_for(lambda: self.count != seen, timeout)
            return self.count


ACTIVITY = Activity()


class Handler(BaseHTTPRequestHandler):
    fake = None  # set per server class
    protocol_version = "HTTP/1.1"  # keep-alive, as the real APIs allow (responses carry Content-Length)

    def setup(self):
        super().setup()
        self.fake.connections = getattr(self.fake, "connections", 0) + 1  # keep-alive tests count them
        # Headers and body go out in separate writes: without this, Nagle + delayed ACK add ~40 ms.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):  # keep test output clean
        pass

    def body(self) -> bytes:
        return self._body

    def _read_body(self) -> None:
        # Always consume the request body, whatever the fake answers: with keep-alive, an unread
        # body would be parsed as the next request on the connection.
        length = int(self.headers.get("Content-Length") or 0)
        self._body = self.rfile.read(length) if length else b""

    def send_json(self, status: int, payload, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def dispatch(self, method: str) -> None:
        self._read_body()
        try:
            self.fake.handle(self, method)
        finally:
            ACTIVITY.handled()

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_DELETE(self):  # e.g. DELETE /v1/vector_stores/{id} (openai_files_api.py)
        self.dispatch("DELETE")


class Server(ThreadingHTTPServer):
    """socketserver listens with a backlog of 5: when 50 answers call at once, the connections past
    the backlog lose their SYN and the kernel retries it after 1 s (then 3 s), which the benchmarks
    measured as one-second Slack calls (issue 21: first visible text p99 1.04 s, final writes 2.4 s).
    Slack's servers do not drop connections at six, so neither does the fake."""

    request_queue_size = 1024
    daemon_threads = True


class LoopbackServer:
    """Subclasses implement handle(request_handler, method); `handler` is the request handler
    class they extend (a verb the shared one lacks)."""

    handler = Handler

    def start(self) -> "LoopbackServer":
        handler = type("BoundHandler", (self.handler,), {"fake": self})
        self.httpd = Server(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        # shutdown() waits for the loop's next poll: 0.05 s, not the default 0.5 s, per fake per test
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
