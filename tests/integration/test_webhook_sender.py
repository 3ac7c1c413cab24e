"""The aiohttp sender against real servers on 127.0.0.1: pinning, TLS, redirects, timeouts."""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from webhook_receiver import Receiver

from meetbot.control.webhooks.sender import HttpSender
from meetbot.control.webhooks.targets import TargetPolicy

LOOPBACK_OK = TargetPolicy(allow_private=True)
HOST = "hooks.example.test"


def dns(answer: Sequence[str]):  # type: ignore[no-untyped-def]
    async def resolve(host: str, port: int) -> Sequence[str]:
        if host != HOST:
            raise OSError(host)
        return answer

    return resolve


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()


async def test_posts_body_and_headers_and_measures_latency(receiver: Receiver) -> None:
    async with HttpSender(LOOPBACK_OK) as sender:
        result = await sender.send(receiver.url, b'{"a":1}', {"x-test": "1"}, 5.0)
    assert (result.status_code, result.error, result.ok) == (200, None, True)
    assert 0 < result.latency_ms < 5000
    (request,) = receiver.requests
    assert request.body == b'{"a":1}'
    assert request.headers["x-test"] == "1"
    assert request.headers["user-agent"].startswith("meetbot-webhooks/")
    assert "cookie" not in request.headers


async def test_refuses_loopback_unless_allowed(receiver: Receiver) -> None:
    async with HttpSender(TargetPolicy()) as sender:
        result = await sender.send(receiver.url, b"{}", {}, 5.0)
    assert result.status_code is None
    assert result.error is not None
    assert result.error.startswith("refused:")
    assert "loopback" in result.error
    assert receiver.requests == []


async def test_connects_to_the_validated_address_with_the_original_host(
    receiver: Receiver,
) -> None:
    url = f"http://{HOST}:{receiver.port}/hook"
    async with HttpSender(LOOPBACK_OK, resolver=dns(["127.0.0.1"])) as sender:
        assert (await sender.send(url, b"{}", {}, 5.0)).ok
    assert receiver.requests[0].headers["host"] == f"{HOST}:{receiver.port}"


async def test_dns_rebinding_to_a_forbidden_address_is_refused(receiver: Receiver) -> None:
    """Registration saw a public address; at delivery time the name points inside."""
    url = f"http://{HOST}:{receiver.port}/hook"
    for answer in (["169.254.169.254"], ["93.184.216.34", "127.0.0.1"]):
        async with HttpSender(TargetPolicy(), resolver=dns(answer)) as sender:
            result = await sender.send(url, b"{}", {}, 5.0)
        assert result.error is not None
        assert result.error.startswith("refused:")
    assert receiver.requests == []


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_redirects_are_never_followed(receiver: Receiver, status: int) -> None:
    receiver.respond = lambda _: status
    async with HttpSender(LOOPBACK_OK) as sender:
        result = await sender.send(receiver.url, b"{}", {}, 5.0)
    assert (result.status_code, result.ok) == (status, False)
    assert result.error == "redirects are not followed"
    assert len(receiver.requests) == 1


async def test_errors_and_timeouts_are_results(receiver: Receiver) -> None:
    receiver.respond = lambda _: 503
    async with HttpSender(LOOPBACK_OK) as sender:
        result = await sender.send(receiver.url, b"{}", {}, 5.0)
        assert (result.status_code, result.error) == (503, "HTTP 503")
        receiver.delay = 1.0
        slow = await sender.send(receiver.url, b"{}", {}, 0.2)
        assert slow.status_code is None
        assert slow.error == "timed out after 0.2 s"
        assert 150 < slow.latency_ms < 900
        refused = await sender.send("http://127.0.0.1:9/hook", b"{}", {}, 2.0)
        assert refused.status_code is None
        assert refused.error is not None
        assert "ConnectError" in refused.error
        bad = await sender.send("ftp://127.0.0.1/", b"{}", {}, 2.0)
        assert bad.error == "refused: webhook URL must use http or https"


async def test_keeps_connections_alive(receiver: Receiver) -> None:
    async with HttpSender(LOOPBACK_OK, shards=1) as sender:
        for _ in range(20):
            assert (await sender.send(receiver.url, b"{}", {}, 5.0)).ok
    assert len(receiver.requests) == 20
    assert receiver.connections == 1
    async with HttpSender(LOOPBACK_OK, shards=4) as sender:
        for _ in range(20):
            assert (await sender.send(receiver.url, b"{}", {}, 5.0)).ok
    assert receiver.connections == 1 + 4


def self_signed(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context for HOST and a client context that trusts only it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    client = ssl.create_default_context(cadata=cert_pem.decode())
    return server, client


async def test_https_to_a_pinned_address_verifies_the_host_name(tmp_path: Path) -> None:
    server_tls, client_tls = self_signed(tmp_path)
    receiver = await Receiver().start(tls=server_tls)
    try:
        url = f"https://{HOST}:{receiver.port}/hook"
        pinned = HttpSender(LOOPBACK_OK, resolver=dns(["127.0.0.1"]), ssl_context=client_tls)
        async with pinned as sender:
            result = await sender.send(url, b"{}", {}, 5.0)
        assert (result.status_code, result.error) == (200, None)
        assert receiver.requests[0].headers["host"] == f"{HOST}:{receiver.port}"
        # the certificate names HOST, not the address we connect to
        async with HttpSender(LOOPBACK_OK, ssl_context=client_tls) as sender:
            by_ip = await sender.send(f"https://127.0.0.1:{receiver.port}/hook", b"{}", {}, 5.0)
        assert by_ip.status_code is None
        assert by_ip.error is not None
        assert "CERTIFICATE_VERIFY_FAILED" in by_ip.error or "certificate" in by_ip.error
    finally:
        await receiver.stop()
