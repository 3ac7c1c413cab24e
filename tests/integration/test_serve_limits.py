"""Limits of `meetbot serve` as a client meets them: a real server process, real sockets."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from meetbot.lab.serve import Server, free_port

LIMIT = 4096


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {
        "MEETBOT_LAUNCHER": "fake",
        "MEETBOT_DELIVERY": "inline",
        "MEETBOT_MAX_BODY_BYTES": str(LIMIT),
    }
    srv = Server(tmp_path_factory.mktemp("limits") / "data", free_port(), env)
    srv.start()
    yield srv
    srv.stop()


def _raw_request(server: Server, head: str, body: bytes = b"") -> tuple[str, float]:
    """Send ``head`` (and ``body``) on a socket; return the status line and seconds taken."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head.encode() + body)
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.split(b"\r\n", 1)[0].decode(), time.monotonic() - started


def test_a_declared_oversized_body_is_refused_before_it_is_sent(server: Server) -> None:
    # 200 MB announced, not one byte sent: the answer comes anyway, so nothing was read.
    head = (
        "POST /api/v1/bot/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {200 * 1024 * 1024}\r\n\r\n"
    )
    status, took = _raw_request(server, head)
    assert status == "HTTP/1.1 413 Request Entity Too Large"
    assert took < 5


@pytest.mark.parametrize("with_key", [False, True])
def test_an_oversized_body_is_413_with_or_without_a_key(server: Server, with_key: bool) -> None:
    headers = {"Authorization": f"Token {server.first_key()}"} if with_key else {}
    body = {"meeting_url": "https://meet.google.com/abc-defg-hij", "bot_name": "x" * LIMIT}
    answer = httpx.post(f"{server.url}/api/v1/bot/", json=body, headers=headers)
    assert answer.status_code == 413
    assert answer.json()["code"] == "request_too_large"
    assert "MEETBOT_MAX_BODY_BYTES" in answer.json()["detail"]


def test_a_chunked_body_is_counted_as_it_streams(server: Server) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"meeting_url": "https://meet.google.com/abc-defg-hij", "metadata": {"a": "'
        for _ in range(LIMIT // 512 + 2):
            yield b"y" * 512
        yield b'"}}'

    headers = {
        "Authorization": f"Token {server.first_key()}",
        "Content-Type": "application/json",
    }
    answer = httpx.post(f"{server.url}/api/v1/bot/", content=chunks(), headers=headers)
    assert answer.status_code == 413, answer.text
    assert answer.json()["code"] == "request_too_large"
    # Under the cap, streamed or not, a body is read as usual.
    small = json.dumps({"meeting_url": "https://meet.google.com/abc-defg-hij"}).encode()
    streamed = httpx.post(f"{server.url}/api/v1/bot/", content=iter([small]), headers=headers)
    assert streamed.status_code == 201, streamed.text


def test_failed_authentications_from_one_address_get_429(tmp_path: Path) -> None:
    env = {
        "MEETBOT_LAUNCHER": "fake",
        "MEETBOT_DELIVERY": "inline",
        "MEETBOT_AUTH_FAILURES_PER_MINUTE": "3",
    }
    srv = Server(tmp_path / "data", free_port(), env)
    srv.start()
    try:
        wrong = {"Authorization": "Token mb_wrong"}
        codes = [httpx.get(f"{srv.url}/api/v1/bot/", headers=wrong).status_code for _ in range(5)]
        assert codes == [401, 401, 401, 429, 429]
        refused = httpx.get(f"{srv.url}/api/v1/bot/", headers=wrong)
        assert refused.json()["code"] == "rate_limited"
        assert int(refused.headers["Retry-After"]) >= 1
    finally:
        srv.stop()
