"""Fetching a ``bot_image`` URL over real HTTPS on loopback (issue 16 §4): the webhook egress
rules apply (addresses checked after resolving, connection pinned), no redirects, a size cap."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from meetbot.control.bot_image import InvalidBotImageUrl
from meetbot.control.webhooks.image_fetch import HttpImageFetcher
from meetbot.control.webhooks.targets import TargetPolicy
from meetbot.testing.builders import solid_png

HOST = "images.example.test"
PICTURE = solid_png(32, 32, (0, 200, 0))
LOOPBACK_OK = TargetPolicy(allow_private=True)


def resolver(answer: Sequence[str]):  # type: ignore[no-untyped-def]
    async def resolve(host: str, port: int) -> Sequence[str]:
        if host != HOST:
            raise OSError(host)
        return answer

    return resolve


def tls_pair(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
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
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (tmp_path / "cert.pem").write_bytes(pem)
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return server, ssl.create_default_context(cadata=pem.decode())


ROUTES: dict[str, bytes] = {
    "/face.png": b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: %d\r\n"
    b"Connection: close\r\n\r\n" % len(PICTURE) + PICTURE,
    "/moved.png": b"HTTP/1.1 302 Found\r\nLocation: https://127.0.0.1/face.png\r\n"
    b"Content-Length: 0\r\nConnection: close\r\n\r\n",
    "/huge.png": b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nConnection: close\r\n\r\n"
    + b"\x00" * 300_000,
}


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[int, ssl.SSLContext]]:
    server_tls, client_tls = tls_pair(tmp_path)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        path = request.split(b" ")[1].decode()
        writer.write(ROUTES.get(path, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))
        await writer.drain()
        writer.close()

    srv = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_tls)
    port = srv.sockets[0].getsockname()[1]
    try:
        yield port, client_tls
    finally:
        srv.close()
        await srv.wait_closed()


async def test_an_allowed_https_url_is_fetched(server: tuple[int, ssl.SSLContext]) -> None:
    port, tls = server
    fetcher = HttpImageFetcher(LOOPBACK_OK, resolver=resolver(["127.0.0.1"]), ssl_context=tls)
    assert await fetcher.fetch(f"https://{HOST}:{port}/face.png") == PICTURE


@pytest.mark.parametrize(
    ("policy", "path", "why"),
    [
        (TargetPolicy(), "/face.png", "loopback"),  # a name resolving to loopback: refused
        (LOOPBACK_OK, "/moved.png", "HTTP 302"),  # redirects are not followed
        (LOOPBACK_OK, "/missing.png", "HTTP 404"),
        (LOOPBACK_OK, "/huge.png", "larger than"),
    ],
)
async def test_refusals(
    server: tuple[int, ssl.SSLContext], policy: TargetPolicy, path: str, why: str
) -> None:
    port, tls = server
    fetcher = HttpImageFetcher(policy, resolver=resolver(["127.0.0.1"]), ssl_context=tls)
    with pytest.raises(InvalidBotImageUrl, match=why):
        await fetcher.fetch(f"https://{HOST}:{port}{path}", max_bytes=100_000)


async def test_the_allowed_hosts_list_lets_a_private_host_through(
    server: tuple[int, ssl.SSLContext],
) -> None:
    port, tls = server
    policy = TargetPolicy(allowed_hosts=frozenset({HOST}))
    fetcher = HttpImageFetcher(policy, resolver=resolver(["127.0.0.1"]), ssl_context=tls)
    assert await fetcher.fetch(f"https://{HOST}:{port}/face.png") == PICTURE
