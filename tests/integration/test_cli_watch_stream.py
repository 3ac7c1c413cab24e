"""``meetbot bots watch`` follows the bot's real-time stream, and polls when a server (here a
proxy in front of it) refuses the WebSocket: the real CLI against a real ``meetbot serve``."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from client_server import MEET, api_key, served

from meetbot.client import Meetbot
from meetbot.lab.serve import MEETBOT, Server

__all__ = ["api_key", "served"]  # fixtures


def _proxy_refusing_websockets(target: str) -> ThreadingHTTPServer:
    """Forwards plain GETs to ``target``; a WebSocket handshake gets 403 (an older server)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            if self.headers.get("Upgrade", "").lower() == "websocket":
                body = b'{"code": "forbidden", "detail": "No WebSockets here."}'
                status, headers = 403, {"Content-Type": "application/json"}
            else:
                forwarded = {"Authorization": self.headers.get("Authorization", "")}
                answer = httpx.get(target + self.path, headers=forwarded)
                body, status = answer.content, answer.status_code
                headers = {"Content-Type": answer.headers.get("Content-Type", "text/plain")}
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


@pytest.fixture
def refusing_proxy(served: Server) -> Iterator[str]:
    proxy = _proxy_refusing_websockets(served.url)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{proxy.server_address[1]}"
    proxy.shutdown()
    proxy.server_close()


def _watch(server_url: str, api_key: str, served: Server, *flags: str) -> subprocess.Popen[str]:
    env = {**served.env, "MEETBOT_SERVER": server_url, "MEETBOT_API_KEY": api_key}
    with Meetbot(served.url, api_key) as client:
        bot = client.bots.create(MEET)
    watching = subprocess.Popen(
        [*MEETBOT, "bots", "watch", bot.id, *flags],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    with Meetbot(served.url, api_key) as client:
        # once the watch has connected (its first line), the bot is told to leave
        assert watching.stdout is not None
        first = watching.stdout.readline()
        assert first.rstrip().endswith("booting")
        client.bots.leave(bot.id)
    return watching


def test_watch_follows_the_stream_without_polling(served: Server, api_key: str) -> None:
    # An interval longer than the test's limit: only the stream can end this watch in time.
    watching = _watch(served.url, api_key, served, "--interval", "3600")
    stdout, stderr = watching.communicate(timeout=60)
    assert watching.returncode == 0, stderr
    assert "polling instead" not in stderr
    assert any("not_admitted (manually_stopped)" in line for line in stdout.splitlines())


def test_watch_polls_when_the_stream_is_refused(
    served: Server, api_key: str, refusing_proxy: str
) -> None:
    watching = _watch(refusing_proxy, api_key, served, "--interval", "0.2")
    stdout, stderr = watching.communicate(timeout=60)
    assert watching.returncode == 0, stderr
    assert "403 forbidden" in stderr
    assert "polling instead" in stderr
    assert any("not_admitted (manually_stopped)" in line for line in stdout.splitlines())
