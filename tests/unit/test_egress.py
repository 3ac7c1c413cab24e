"""The egress rules (``meetbot.egress``) and the browser's guard on them (``runner.egress``)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pytest
from pydantic import ValidationError

from meetbot.config import Settings
from meetbot.egress import AddressClass, HostAllowList, classify, is_numeric, numeric_host
from meetbot.runner.egress import EgressGuard

C = AddressClass


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),  # decimal
        ("0x7f000001", "127.0.0.1"),  # hexadecimal
        ("0X7F000001", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),  # octal
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),  # the last part fills the remaining bytes
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),  # trailing dot
        ("0", "0.0.0.0"),
        ("2852039166", "169.254.169.254"),
        ("0xa9fea9fe", "169.254.169.254"),
        ("0251.0376.0251.0376", "169.254.169.254"),
        ("169.254.43518", "169.254.169.254"),
        ("[::1]", "::1"),
        ("::1", "::1"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
        ("[::ffff:a9fe:a9fe]", "::ffff:a9fe:a9fe"),
        ("[0:0:0:0:0:0:0:1]", "::1"),
    ],
)
def test_numeric_hosts_are_the_address_a_browser_dials(host: str, address: str) -> None:
    assert numeric_host(host) == ipaddress.ip_address(address)
    assert is_numeric(host)


@pytest.mark.parametrize("host", ["example.com", "meet.google.com", "1x.example", "a.b0", "0x1g"])
def test_names_are_not_numbers(host: str) -> None:
    assert numeric_host(host) is None
    assert not is_numeric(host)


@pytest.mark.parametrize("host", ["1.2.3.4.5", "256.0.0.1", "08.0.0.1", "1..2", "4294967296"])
def test_a_host_ending_in_a_number_that_is_no_address_is_refused(host: str) -> None:
    with pytest.raises(ValueError, match="not an IPv4 address"):
        numeric_host(host)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1", C.LOOPBACK),
        ("::ffff:127.0.0.1", C.LOOPBACK),  # IPv4-mapped
        ("::ffff:169.254.169.254", C.METADATA),
        ("64:ff9b::a9fe:a9fe", C.METADATA),  # NAT64
        ("2002:a9fe:a9fe::", C.METADATA),  # 6to4
        ("::127.0.0.1", C.RESERVED),  # IPv4-compatible
        ("fe80::1", C.LINK_LOCAL),
        ("169.254.1.1", C.LINK_LOCAL),
        ("10.1.2.3", C.PRIVATE),
        ("fd12::1", C.PRIVATE),
        ("224.0.0.1", C.MULTICAST),
        ("ff02::1", C.MULTICAST),
        ("0.0.0.0", C.UNSPECIFIED),
        ("168.63.129.16", C.METADATA),
        ("8.8.8.8", C.PUBLIC),
    ],
)
def test_classify(address: str, expected: AddressClass) -> None:
    assert classify(ipaddress.ip_address(address)) is expected


def test_host_allow_list() -> None:
    hosts = HostAllowList.parse("Janus.Internal., 127.0.0.1:8000, [::1]:8088, 2130706434")
    assert hosts.allows("janus.internal", 443)
    assert hosts.allows("JANUS.internal.", 1)
    assert hosts.allows("127.0.0.1", 8000)
    assert not hosts.allows("127.0.0.1", 8001)
    assert hosts.allows("0x7f000001", 8000)  # the same address, another spelling
    assert hosts.allows("[::1]", 8088)
    assert not hosts.allows("::1", 80)
    assert hosts.allows("127.0.0.2", 5)
    assert not hosts.allows("janus.internal.evil.com", 443)
    assert HostAllowList.parse(hosts.as_strings()) == hosts
    assert not HostAllowList.parse("")


@pytest.mark.parametrize(
    "bad", ["a:b", "host:0", "host:70000", "http://host", "a b", "[::1", "::1:80:x"]
)
def test_the_setting_refuses_what_is_not_host_port(bad: str) -> None:
    with pytest.raises(ValidationError, match="self_hosted_meeting_hosts"):
        Settings(self_hosted_meeting_hosts=bad)


def test_the_setting_is_empty_by_default() -> None:
    assert not Settings().self_hosted_meeting_host_list


def _resolver(table: dict[str, Sequence[str]]):  # type: ignore[no-untyped-def]
    asked: list[str] = []

    async def resolve(host: str, port: int) -> Sequence[str]:
        asked.append(host)
        if host not in table:
            raise OSError("no such name")
        return table[host]

    return resolve, asked


NAMES = {
    "meet.example": ["93.184.216.34"],
    "evil.example": ["93.184.216.34", "127.0.0.1"],  # one bad address is enough
    "meta.example": ["169.254.169.254"],
    "v6.example": ["::ffff:10.0.0.1"],
    "janus.internal": ["10.0.0.5"],
}


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://meet.example/room", None),
        ("wss://meet.example/socket", None),
        ("data:text/html,hi", None),
        ("blob:https://meet.example/x", None),
        ("about:blank", None),
        ("http://127.0.0.1:8000/", "loopback"),
        ("http://2130706433/", "loopback"),
        ("http://0x7f.1/", "loopback"),
        ("http://0177.0.0.1/", "loopback"),
        ("http://[::1]:6379/", "loopback"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://[::ffff:a9fe:a9fe]/latest/meta-data", "metadata"),
        ("http://169.254.169.254/latest/meta-data", "metadata"),
        ("http://2852039166/", "metadata"),
        ("http://[fe80::1]/", "link-local"),
        ("http://10.0.0.1/", "private"),
        ("http://224.0.0.1/", "multicast"),
        ("http://localhost:8080/", "loopback"),
        ("http://x.localhost/", "loopback"),
        ("http://evil.example/", "loopback"),
        ("https://meta.example/", "metadata"),
        ("ws://v6.example/", "private"),
        ("http://nowhere.example/", "unresolvable"),
        ("http://1.2.3.4.5/", "invalid-host"),
        ("http://janus.internal:8088/janus", None),  # allowed host
        ("http://janus.internal:9/", "private"),  # not on that port
        ("http://127.0.0.2:8089/", None),  # allowed with all its ports
        ("http://2130706434/", None),  # the same address, spelt as a number
    ],
)
async def test_the_browser_guard(url: str, reason: str | None) -> None:
    resolve, _ = _resolver(NAMES)
    guard = EgressGuard(HostAllowList.parse("janus.internal:8088,127.0.0.2"), resolver=resolve)
    blocked = await guard.check(url)
    assert (blocked.reason if blocked else None) == reason


async def test_names_are_resolved_once_per_cache_period() -> None:
    now = [0.0]
    resolve, asked = _resolver(NAMES)
    guard = EgressGuard(resolver=resolve, clock=lambda: now[0])
    for _ in range(3):
        assert await guard.check("https://meet.example/a.js") is None
        blocked = await guard.check("https://evil.example/b.js")
        assert blocked is not None
        assert blocked.url == "https://evil.example/b.js"
    assert asked == ["meet.example", "evil.example"]
    now[0] = 31.0
    await guard.check("https://meet.example/a.js")
    assert asked == ["meet.example", "evil.example", "meet.example"]


def test_a_refused_main_frame_navigation_is_remembered() -> None:
    from meetbot.runner.egress import Blocked

    guard = EgressGuard()
    guard.record(Blocked("http://10.0.0.1/x.js", "10.0.0.1", "private"))
    assert guard.blocked_navigation is None
    first = Blocked("http://127.0.0.1/", "127.0.0.1", "loopback", "127.0.0.1", navigation=True)
    guard.record(first)
    guard.record(Blocked("http://10.0.0.2/", "10.0.0.2", "private", navigation=True))
    assert guard.blocked_navigation == first
    assert "127.0.0.1" in first.describe()
    assert len(guard.blocked) == 3
