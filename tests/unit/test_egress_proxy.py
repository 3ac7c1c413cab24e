"""The pinning egress proxy (issue 12 §1, DNS rebinding): it connects only to the addresses the
guard judged for a host, whatever the name answers later. In-process servers on loopback; the
"public" address is routed to one of them by :class:`RoutedSockets`."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from meetbot.egress import HostAllowList
from meetbot.runner.egress import CACHE_SECONDS, EgressGuard
from meetbot.runner.egress_proxy import BadRequest, EgressProxy, parse_request
from meetbot.runner.egress_relay import close_connection
from meetbot.testing.fake_network import RoutedSockets

PUBLIC = "93.184.216.34"
SECRET = "127.0.0.9"


class Answers:
    """A name that answers a public address first, the secret one after (a rebinding DNS)."""

    def __init__(self, *answers: Sequence[str]) -> None:
        self.answers = list(answers)
        self.asked = 0

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.asked += 1
        return self.answers[min(self.asked, len(self.answers)) - 1]


class Servers:
    """A "public" HTTP server and a secret one on 127.0.0.9 that records every connection."""

    def __init__(self) -> None:
        self.secret_connections = 0
        self.public_requests: list[bytes] = []

    async def public(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        self.public_requests.append(head)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: keep-alive\r\n\r\n")
        writer.write(b"public")
        await writer.drain()
        writer.close()

    async def secret(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.secret_connections += 1
        writer.close()


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(1 << 16):
        writer.write(data)
        await writer.drain()
    writer.close()


@pytest.fixture
async def world() -> AsyncIterator[tuple[Servers, dict[str, int]]]:
    servers = Servers()
    public = await asyncio.start_server(servers.public, "127.0.0.1", 0)
    secret = await asyncio.start_server(servers.secret, SECRET, 0)
    echoes = await asyncio.start_server(echo, "127.0.0.1", 0)
    ports = {
        name: s.sockets[0].getsockname()[1]
        for name, s in (("public", public), ("secret", secret), ("echo", echoes))
    }
    yield servers, ports
    for server in (public, secret, echoes):
        server.close()


async def ask(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    try:
        async with asyncio.timeout(5):
            return await reader.read()
    finally:
        writer.close()


async def test_a_name_that_rebinds_reaches_only_the_address_judged(
    world: tuple[Servers, dict[str, int]],
) -> None:
    servers, ports = world
    now = [0.0]
    answers = Answers([PUBLIC], [SECRET])
    guard = EgressGuard(resolver=answers, clock=lambda: now[0])
    sockets = RoutedSockets({(PUBLIC, ports["secret"]): ports["public"]})
    proxy = EgressProxy(guard, sockets)
    port = await proxy.start()
    url = f"http://rebind.example:{ports['secret']}/x"
    try:
        assert await guard.check(url) is None  # the guard's answer: public
        answer = await ask(port, f"GET {url} HTTP/1.1\r\nHost: rebind.example\r\n\r\n".encode())
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
        assert answer.endswith(b"public")
        assert b"Connection: close\r\n" in answer  # never reused for another host
        assert b"keep-alive" not in answer
        assert servers.public_requests[0].startswith(b"GET /x HTTP/1.1\r\nHost: rebind.example")
        assert sockets.dialled == [(PUBLIC, ports["secret"])]
        assert answers.asked == 1  # the name was not asked again: pinned

        now[0] = CACHE_SECONDS + 1  # the name is asked again, and now answers the secret one
        tunnel = f"CONNECT rebind.example:{ports['secret']} HTTP/1.1\r\n\r\n"
        answer = await ask(port, tunnel.encode())
        assert answer.startswith(b"HTTP/1.1 403 Forbidden\r\n")
        assert b"loopback" in answer
        assert [b.reason for b in guard.blocked] == ["loopback"]
        assert guard.blocked[0].address == SECRET
        assert guard.blocked_navigation is None
    finally:
        await proxy.close()
    assert servers.secret_connections == 0
    assert sockets.dialled == [(PUBLIC, ports["secret"])]


async def test_a_tunnel_relays_both_ways(world: tuple[Servers, dict[str, int]]) -> None:
    _, ports = world
    guard = EgressGuard(resolver=Answers([PUBLIC]))
    proxy = EgressProxy(guard, RoutedSockets({(PUBLIC, 443): ports["echo"]}))
    port = await proxy.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"CONNECT meet.example:443 HTTP/1.1\r\nHost: meet.example:443\r\n\r\nfirst")
        assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 200 Connection established\r\n\r\n"
        assert await reader.readexactly(5) == b"first"
        payload = bytes(range(256)) * 16384  # 4 MiB: more than the relay buffers hold
        sent = asyncio.create_task(_send(writer, payload))
        assert await asyncio.wait_for(reader.readexactly(len(payload)), 10) == payload
        await sent
        writer.close()
    finally:
        await proxy.close()
    assert proxy.connections == 1


async def _send(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(data)
    await writer.drain()


async def test_allowed_hosts_and_numeric_hosts(world: tuple[Servers, dict[str, int]]) -> None:
    servers, ports = world
    guard = EgressGuard(HostAllowList.parse(f"127.0.0.1:{ports['echo']}"))
    sockets = RoutedSockets()
    proxy = EgressProxy(guard, sockets)
    port = await proxy.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"CONNECT 127.0.0.1:{ports['echo']} HTTP/1.1\r\n\r\nhi".encode())
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
        assert await reader.readexactly(2) == b"hi"
        writer.close()
        for target in (f"{SECRET}:{ports['secret']}", f"[::ffff:7f00:9]:{ports['secret']}"):
            answer = await ask(port, f"CONNECT {target} HTTP/1.1\r\n\r\n".encode())
            assert answer.startswith(b"HTTP/1.1 403"), answer
        answer = await ask(port, b"GET http://0x7f.0.0.9/ HTTP/1.1\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 403"), answer
    finally:
        await proxy.close()
    assert servers.secret_connections == 0
    assert sockets.dialled == [("127.0.0.1", ports["echo"])]


async def test_what_is_not_a_proxy_request_is_400() -> None:
    proxy = EgressProxy(EgressGuard(), RoutedSockets())
    port = await proxy.start()
    try:
        for request in (b"GET / HTTP/1.1\r\n\r\n", b"nonsense\r\n\r\n", b"\xff\r\n\r\n"):
            assert (await ask(port, request)).startswith(b"HTTP/1.1 400"), request
        assert (await ask(port, b"GET http://x/" + b"a" * 70000)).startswith(b"HTTP/1.1 431")
    finally:
        await proxy.close()


async def test_a_host_that_does_not_answer_is_502() -> None:
    proxy = EgressProxy(EgressGuard(resolver=Answers([PUBLIC])), RoutedSockets())
    port = await proxy.start()
    try:
        answer = await ask(port, b"CONNECT meet.example:443 HTTP/1.1\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 502"), answer
    finally:
        await proxy.close()


class FakeSession:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def send(self, method: str, params: dict[str, Any]) -> None:
        self.sent.append((method, params))


async def test_a_navigation_the_proxy_refuses_ends_the_bot() -> None:
    """The guard let the main frame go to rebind.example; the proxy then refuses it: that is
    the blocked navigation (the session fails the bot with ``meeting_url_blocked``)."""
    now = [0.0]
    guard = EgressGuard(resolver=Answers([PUBLIC], [SECRET]), clock=lambda: now[0])
    session = FakeSession()
    event = {
        "requestId": "1",
        "request": {"url": "http://rebind.example/room"},
        "resourceType": "Document",
        "frameId": "main",
    }
    await guard._on_paused(session, "main", event)  # type: ignore[arg-type]
    assert session.sent == [("Fetch.continueRequest", {"requestId": "1"})]
    now[0] = CACHE_SECONDS + 1
    proxy = EgressProxy(guard, RoutedSockets())
    port = await proxy.start()
    try:
        answer = await ask(port, b"GET http://rebind.example/room HTTP/1.1\r\n\r\n")
    finally:
        await proxy.close()
    assert answer.startswith(b"HTTP/1.1 403")
    assert guard.blocked_navigation is not None
    assert guard.blocked_navigation.url == "http://rebind.example/room"
    assert guard.blocked_navigation.address == SECRET


@pytest.mark.parametrize(
    ("head", "host", "port", "tunnel"),
    [
        (b"CONNECT meet.example:443 HTTP/1.1\r\n\r\n", "meet.example", 443, True),
        (b"CONNECT [::1]:8088 HTTP/1.1\r\n\r\n", "::1", 8088, True),
        (b"GET http://meet.example/a?b=1 HTTP/1.1\r\n\r\n", "meet.example", 80, False),
        (b"POST ws://127.0.0.1:8188/ HTTP/1.1\r\n\r\n", "127.0.0.1", 8188, False),
    ],
)
def test_parse_request(head: bytes, host: str, port: int, tunnel: bool) -> None:
    request = parse_request(head)
    assert (request.host, request.port, request.tunnel) == (host, port, tunnel)


@pytest.mark.parametrize(
    "head",
    [
        b"CONNECT meet.example HTTP/1.1\r\n\r\n",
        b"CONNECT ::1:80 HTTP/1.1\r\n\r\n",
        b"CONNECT meet.example:0 HTTP/1.1\r\n\r\n",
        b"GET https://meet.example/ HTTP/1.1\r\n\r\n",
        b"GET /path HTTP/1.1\r\n\r\n",
        b"GET http://meet.example/ HTTP/2\r\n\r\n",
    ],
)
def test_parse_request_refuses(head: bytes) -> None:
    with pytest.raises(BadRequest):
        parse_request(head)


def test_a_plain_request_goes_upstream_in_origin_form_with_connection_close() -> None:
    request = parse_request(
        b"GET http://meet.example/a?b=1 HTTP/1.1\r\nHost: meet.example\r\n"
        b"Proxy-Connection: keep-alive\r\nConnection: keep-alive\r\nAccept: */*\r\n\r\n"
    )
    assert request.upstream_head == (
        b"GET /a?b=1 HTTP/1.1\r\nHost: meet.example\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )
    upgrade = parse_request(
        b"GET ws://meet.example/s HTTP/1.1\r\nHost: meet.example\r\nConnection: Upgrade\r\n"
        b"Upgrade: websocket\r\nProxy-Connection: keep-alive\r\n\r\n"
    )
    assert upgrade.upstream_head == (
        b"GET /s HTTP/1.1\r\nHost: meet.example\r\nConnection: Upgrade\r\n"
        b"Upgrade: websocket\r\n\r\n"
    )
    assert close_connection(b"HTTP/1.1 200 OK\r\nKeep-Alive: 5\r\n\r\n") == (
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
    )


async def test_concurrent_checks_of_a_name_share_one_answer() -> None:
    """Two requests for a name at once ask it once (a page's fetch and its WebSocket)."""
    answers = Answers([PUBLIC], [SECRET])
    guard = EgressGuard(resolver=answers)
    found = await asyncio.gather(*(guard.destination("rebind.example", 443) for _ in range(5)))
    assert answers.asked == 1
    assert {d.addresses for d in found} == {(ipaddress.ip_address(PUBLIC),)}
    assert all(d.blocked is None for d in found)


async def test_a_caller_that_goes_away_does_not_fail_the_others() -> None:
    gate = asyncio.Event()

    async def slow(host: str, port: int) -> Sequence[str]:
        await gate.wait()
        return [PUBLIC]

    guard = EgressGuard(resolver=slow)
    first = asyncio.create_task(guard.destination("meet.example", 443))
    second = asyncio.create_task(guard.destination("meet.example", 443))
    await asyncio.sleep(0)
    first.cancel()
    gate.set()
    found = await second
    assert found.blocked is None
    assert found.addresses == (ipaddress.ip_address(PUBLIC),)
    assert first.cancelled()
