"""Overload shedding of `meetbot serve` (issue 12 §2), as a client meets it: a real server
process with a limit of one request at a time and no queue, real sockets. No timings: a request
is held in flight by sending half its body, and what the others get is checked."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from meetbot.lab.serve import Server, free_port

MEET = "https://meet.google.com/abc-defg-hij"
DETAIL = "Our servers have dropped the request due to high load -- please retry."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {
        "MEETBOT_LAUNCHER": "fake",
        "MEETBOT_DELIVERY": "inline",
        "MEETBOT_MAX_REQUESTS_IN_FLIGHT": "1",
        "MEETBOT_MAX_QUEUE_WAIT_MS": "0",
    }
    srv = Server(tmp_path_factory.mktemp("overload") / "data", free_port(), env)
    srv.start()
    yield srv
    srv.stop()


def _read_answer(sock: socket.socket) -> tuple[int, bytes]:
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split(b" ", 2)[1]), body


def test_the_excess_is_shed_at_once_with_503_and_retry_after(server: Server) -> None:
    key = server.first_key()
    auth = {"Authorization": f"Token {key}"}
    body = json.dumps({"meeting_url": MEET}).encode()
    head = (
        f"POST /api/v1/bot/ HTTP/1.1\r\nHost: x\r\nAuthorization: Token {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as held:
        held.sendall(head + body[:10])  # in flight until the rest of its body comes
        shed = None
        for _ in range(200):  # until the held request has reached the application
            answer = httpx.get(f"{server.url}/api/v1/bot/", headers=auth)
            if answer.status_code == 503:
                shed = answer
                break
            assert answer.status_code == 200, answer.text
            time.sleep(0.05)
        assert shed is not None, "the second request was never shed"
        assert shed.json() == {"code": "service_unavailable", "detail": DETAIL}
        assert shed.headers["retry-after"] == "1"
        # Without a key too, and on every public route: refused before any work.
        assert httpx.post(f"{server.url}/api/v1/bot/", json={}).status_code == 503
        # Health checks and the runner channel are never shed.
        assert httpx.get(f"{server.url}/health").status_code == 200
        internal = httpx.post(f"{server.url}/internal/bots/nope/events", json={"events": []})
        assert internal.status_code == 401
        held.sendall(body[10:])
        status, created = _read_answer(held)
    assert status == 201, created
    assert json.loads(created)["meeting_url"] == MEET
    # The slot is free again.
    assert httpx.get(f"{server.url}/api/v1/bot/", headers=auth).status_code == 200
