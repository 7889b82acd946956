"""The loopback fakes take a burst of connections at once, as Slack's servers do.

With socketserver's default backlog (5), the connections past it lost their SYN and the kernel
retried after 1 s: the burst benchmarks (bench/bursts.py, issue 21) measured that as one-second
Slack calls, i.e. a first visible text 1.04 s after the first token, never the bot's budget."""

from __future__ import annotations

import select
import socket

from tests.fakes.server import Handler, Server

BURST = 60  # more than one wave's answers calling at the same moment (bench/bursts.py: 50)


def test_a_burst_of_connections_is_queued_not_dropped():
    # The server is not serving: every connection must wait in the listen queue, none be dropped.
    httpd = Server(("127.0.0.1", 0), type("H", (Handler,), {"fake": None}))
    clients = []
    try:
        for _ in range(BURST):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(httpd.server_address)
            clients.append(c)
        pending = list(clients)
        for _ in range(20):  # a dropped SYN is retried after 1 s: 0.5 s in all is enough to tell
            _, writable, _ = select.select([], pending, [], 0.025)
            pending = [c for c in pending if c not in writable]
            if not pending:
                break
        assert not pending, f"{len(pending)} of {BURST} connections not accepted into the listen queue"
        assert all(c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0 for c in clients)
    finally:
        for c in clients:
            c.close()
        httpd.server_close()
