"""The SSRF guard: URL shapes, address classes, policies, resolution."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pytest

from meetbot.config import Settings
from meetbot.control.webhooks.targets import (
    AddressClass,
    InvalidWebhookUrl,
    TargetPolicy,
    check_url,
    classify,
    parse_url,
    refusal,
    resolve_safe,
    validate_webhook_url,
)

C = AddressClass
STRICT = TargetPolicy()
PRIVATE_OK = TargetPolicy(allow_private=True)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("8.8.8.8", C.PUBLIC),
        ("1.1.1.1", C.PUBLIC),
        ("2606:4700:4700::1111", C.PUBLIC),
        ("127.0.0.1", C.LOOPBACK),
        ("127.255.255.254", C.LOOPBACK),
        ("::1", C.LOOPBACK),
        ("10.1.2.3", C.PRIVATE),
        ("172.16.0.1", C.PRIVATE),
        ("172.31.255.255", C.PRIVATE),
        ("192.168.1.1", C.PRIVATE),
        ("100.64.0.1", C.PRIVATE),  # carrier-grade NAT
        ("fd12:3456::1", C.PRIVATE),  # unique local
        ("fec0::1", C.PRIVATE),  # deprecated site local
        ("169.254.1.1", C.LINK_LOCAL),
        ("fe80::1", C.LINK_LOCAL),
        ("fe80::1%eth0", C.LINK_LOCAL),
        ("169.254.169.254", C.METADATA),
        ("169.254.170.2", C.METADATA),
        ("fd00:ec2::254", C.METADATA),
        ("100.100.100.200", C.METADATA),
        ("168.63.129.16", C.METADATA),
        ("224.0.0.1", C.MULTICAST),
        ("239.255.255.250", C.MULTICAST),
        ("ff02::1", C.MULTICAST),
        ("0.0.0.0", C.UNSPECIFIED),
        ("0.1.2.3", C.UNSPECIFIED),
        ("::", C.UNSPECIFIED),
        ("255.255.255.255", C.RESERVED),
        ("240.0.0.1", C.RESERVED),
        ("192.0.2.1", C.RESERVED),  # documentation
        ("198.18.0.1", C.RESERVED),  # benchmarking
        ("2001:db8::1", C.RESERVED),
        ("2001::1", C.RESERVED),  # Teredo
        ("::7f00:1", C.RESERVED),  # IPv4-compatible
        # IPv6 forms that carry an IPv4 address are judged by that address
        ("::ffff:127.0.0.1", C.LOOPBACK),
        ("::ffff:7f00:1", C.LOOPBACK),
        ("::ffff:10.0.0.1", C.PRIVATE),
        ("::ffff:169.254.169.254", C.METADATA),
        ("::ffff:8.8.8.8", C.PUBLIC),
        ("64:ff9b::7f00:1", C.LOOPBACK),  # NAT64
        ("64:ff9b::a9fe:a9fe", C.METADATA),
        ("64:ff9b::808:808", C.PUBLIC),
        ("64:ff9b:1::1", C.PRIVATE),
        ("2002:7f00:1::", C.LOOPBACK),  # 6to4
        ("2002:c0a8:101::1", C.PRIVATE),
        ("2002:808:808::1", C.PUBLIC),
    ],
)
def test_classify(address: str, expected: AddressClass) -> None:
    assert classify(ipaddress.ip_address(address)) is expected


@pytest.mark.parametrize(
    ("address", "policy", "refused"),
    [
        ("8.8.8.8", STRICT, None),
        ("127.0.0.1", STRICT, C.LOOPBACK),
        ("127.0.0.1", PRIVATE_OK, None),
        ("10.0.0.1", PRIVATE_OK, None),
        ("fd00::1", PRIVATE_OK, None),
        ("169.254.1.1", PRIVATE_OK, C.LINK_LOCAL),
        ("169.254.169.254", PRIVATE_OK, C.METADATA),
        ("192.0.2.1", PRIVATE_OK, C.RESERVED),
        ("10.0.0.1", TargetPolicy(allowed_hosts=frozenset({"hooks.internal"})), None),
        ("10.0.0.1", TargetPolicy(allowed_hosts=frozenset({"10.0.0.1"})), None),
        ("10.0.0.2", TargetPolicy(allowed_hosts=frozenset({"10.0.0.1"})), C.PRIVATE),
        ("0.0.0.0", TargetPolicy(allowed_hosts=frozenset({"hooks.internal"})), C.UNSPECIFIED),
        ("224.0.0.1", TargetPolicy(True, frozenset({"hooks.internal"})), C.MULTICAST),
    ],
)
def test_refusal(address: str, policy: TargetPolicy, refused: AddressClass | None) -> None:
    assert refusal(ipaddress.ip_address(address), "hooks.internal", policy) == refused


def test_policy_from_settings() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        webhook_allow_private=True,
        webhook_allowed_hosts=" Hooks.Internal , 10.0.0.9,",
    )
    assert TargetPolicy.from_settings(settings) == TargetPolicy(
        True, frozenset({"hooks.internal", "10.0.0.9"})
    )


@pytest.mark.parametrize(
    ("url", "host", "port"),
    [
        ("https://example.com/hook", "example.com", 443),
        ("http://example.com/hook", "example.com", 80),
        ("HTTPS://EXAMPLE.com:8443/a?b=c", "example.com", 8443),
        ("https://example.com./x", "example.com", 443),
        ("https://bücher.example/", "xn--bcher-kva.example", 443),
        ("https://my_host.example/", "my_host.example", 443),
        ("https://8.8.8.8/x", "8.8.8.8", 443),
        ("https://[2606:4700::1111]:444/x", "2606:4700::1111", 444),
    ],
)
def test_parse_url_accepts(url: str, host: str, port: int) -> None:
    target = parse_url(url)
    assert (target.host, target.port, target.url) == (host, port, url)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.com/", "http or https"),
        ("file:///etc/passwd", "http or https"),
        ("gopher://example.com/", "http or https"),
        ("example.com/hook", "http or https"),
        ("https://user:pw@example.com/", "user name"),
        ("https://user@example.com/", "user name"),
        ("https:///hook", "no host"),
        ("https://exa mple.com/", "whitespace"),
        ("https://example.com/\n", "whitespace"),
        ("https://example.com:0/", "invalid port"),
        ("https://example.com:99999/", "malformed"),
        ("https://example.com:abc/", "malformed"),
        ("https://-bad-.example/", "invalid host"),
        ("https://a..b/", "invalid host"),
        ("https://" + "a" * 64 + ".example/", "invalid host"),
        ("https://[::1%25eth0]/", "zone id"),
        ("https://[1.2.3]/", "malformed"),
        ("http://2130706433/", "non-canonical"),
        ("http://0x7f000001/", "non-canonical"),
        ("http://0177.0.0.1/", "non-canonical"),
        ("http://127.1/", "non-canonical"),
        ("http://1.2.3.4.5/", "non-canonical"),
        ("https://example.com/" + "a" * 2100, "longer than"),
    ],
)
def test_parse_url_refuses(url: str, why: str) -> None:
    with pytest.raises(InvalidWebhookUrl, match=why) as info:
        parse_url(url)
    assert info.value.code == "invalid_webhook_url"
    assert info.value.status == 400


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/",
        "http://[::1]/",
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://[fd00:ec2::254]/",
        "http://0.0.0.0/",
    ],
)
def test_check_url_refuses_forbidden_literals(url: str) -> None:
    with pytest.raises(InvalidWebhookUrl, match="MEETBOT_WEBHOOK_ALLOW_PRIVATE") as info:
        check_url(url, STRICT)
    assert info.value.body()["address_class"] in {c.value for c in AddressClass}


def test_check_url_with_allowances() -> None:
    assert check_url("http://127.0.0.1:9/", PRIVATE_OK).literal == ipaddress.ip_address("127.0.0.1")
    with pytest.raises(InvalidWebhookUrl, match="metadata"):
        check_url("http://169.254.169.254/", PRIVATE_OK)
    allowed = TargetPolicy(allowed_hosts=frozenset({"169.254.169.254"}))
    assert check_url("http://169.254.169.254/", allowed).host == "169.254.169.254"
    assert check_url("https://example.com/", STRICT).literal is None  # no DNS in check_url


def fake_dns(table: dict[str, Sequence[str]]):  # type: ignore[no-untyped-def]
    async def resolve(host: str, port: int) -> Sequence[str]:
        if host not in table:
            raise OSError(f"no such host {host}")
        return table[host]

    return resolve


DNS = fake_dns(
    {
        "public.example": ["93.184.216.34", "2606:2800:220:1::1"],
        "rebind.example": ["93.184.216.34", "127.0.0.1"],
        "internal.example": ["10.0.0.7"],
        "mapped.example": ["::ffff:169.254.169.254"],
        "empty.example": [],
    }
)


async def test_resolve_safe_with_a_resolver() -> None:
    found = await resolve_safe("public.example", 443, STRICT, DNS)
    assert [str(a) for a in found] == ["93.184.216.34", "2606:2800:220:1::1"]
    with pytest.raises(InvalidWebhookUrl, match="loopback"):
        await resolve_safe("rebind.example", 443, STRICT, DNS)  # any bad address refuses all
    with pytest.raises(InvalidWebhookUrl, match="private"):
        await resolve_safe("internal.example", 443, STRICT, DNS)
    assert await resolve_safe("internal.example", 443, PRIVATE_OK, DNS)
    allowed = TargetPolicy(allowed_hosts=frozenset({"internal.example"}))
    assert await resolve_safe("internal.example", 443, allowed, DNS)
    with pytest.raises(InvalidWebhookUrl, match="metadata"):
        await resolve_safe("mapped.example", 443, PRIVATE_OK, DNS)
    for host in ("empty.example", "nowhere.example"):
        with pytest.raises(InvalidWebhookUrl, match="does not resolve"):
            await resolve_safe(host, 443, STRICT, DNS)


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "127.0.0.1",
        "2130706433",
        "0x7f000001",
        "0x7f.1",
        "0177.0.0.1",
        "127.1",
        "017700000001",
        "::1",
        "[::1]",
        "0",
        "0.0.0.0",
    ],
)
async def test_numeric_and_local_forms_through_getaddrinfo(host: str) -> None:
    with pytest.raises(InvalidWebhookUrl, match=r"loopback|unspecified"):
        await resolve_safe(host, 80, STRICT)


async def test_validate_webhook_url() -> None:
    target = await validate_webhook_url("https://public.example/x", STRICT, DNS)
    assert target.host == "public.example"
    with pytest.raises(InvalidWebhookUrl, match="private"):
        await validate_webhook_url("https://internal.example/x", STRICT, DNS)
    with pytest.raises(InvalidWebhookUrl, match="http or https"):
        await validate_webhook_url("ftp://public.example/x", STRICT, DNS)
    with pytest.raises(InvalidWebhookUrl, match="loopback"):
        await validate_webhook_url("http://localhost:8000/x", STRICT)
