"""The egress rules: which addresses meetbot's outbound requests may reach.

One set of rules for every request meetbot makes on a tenant's behalf: webhooks
(:mod:`meetbot.control.webhooks.targets`) and the bot's browser (:mod:`meetbot.runner.egress`).
An address is loopback, private, link-local, multicast, reserved, unspecified, a cloud metadata
service, or public (:func:`classify`); only public ones are reachable unless the operator allows
the host (:func:`refusal`). A host given as a number in any form a browser accepts (``2130706433``,
``0x7f.1``, ``0177.0.0.1``, ``[::ffff:127.0.0.1]``) is read as the address it is
(:func:`numeric_host`), so it cannot pass for a name.

Both processes import this module; it imports neither side.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressClass(StrEnum):
    PUBLIC = "public"
    LOOPBACK = "loopback"
    PRIVATE = "private"
    LINK_LOCAL = "link-local"
    METADATA = "metadata"
    MULTICAST = "multicast"
    RESERVED = "reserved"
    UNSPECIFIED = "unspecified"


METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, ...
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure wire server (a public address)
    )
)
_NETS = {
    AddressClass.UNSPECIFIED: ("0.0.0.0/8", "::/128"),
    AddressClass.LOOPBACK: ("127.0.0.0/8", "::1/128"),
    AddressClass.LINK_LOCAL: ("169.254.0.0/16", "fe80::/10"),
    AddressClass.MULTICAST: ("224.0.0.0/4", "ff00::/8"),
    AddressClass.PRIVATE: (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "fc00::/7",
        "fec0::/10",
        "64:ff9b:1::/48",
    ),
}
NETWORKS = tuple((cls, ipaddress.ip_network(net)) for cls, nets in _NETS.items() for net in nets)
"""Every non-public network and its class (metadata addresses are checked first)."""
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_TEREDO = ipaddress.IPv6Network("2001::/32")
NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)
"""A host whose last label matches this is a number to browsers (the WHATWG "ends in a
number" rule), never a name."""


def classify(address: IPAddress) -> AddressClass:
    """What kind of address this is; IPv6 forms that embed an IPv4 address are unwrapped."""
    if address in METADATA_ADDRESSES:
        return AddressClass.METADATA
    if isinstance(address, ipaddress.IPv6Address):
        address = address.__class__(address.packed)  # drop any %scope
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return classify(embedded)
        if address in _TEREDO or (address in _IPV4_COMPATIBLE and int(address) > 1):
            return AddressClass.RESERVED
    for cls, network in NETWORKS:
        if address.version == network.version and address in network:
            return cls
    if not address.is_global or address.is_reserved:
        return AddressClass.RESERVED
    return AddressClass.PUBLIC


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal(
    address: IPAddress,
    host: str,
    *,
    allowed_hosts: Iterable[str] = (),
    allow_private: bool = False,
) -> AddressClass | None:
    """``None`` if ``address`` (reached through ``host``) may be called, else why not.

    Unspecified and multicast addresses are never reachable; the others are when ``host`` (or
    the address itself) is in ``allowed_hosts``, and loopback/private ones with
    ``allow_private``.
    """
    cls = classify(address)
    if cls is AddressClass.PUBLIC:
        return None
    if cls in (AddressClass.UNSPECIFIED, AddressClass.MULTICAST):
        return cls
    allowed = frozenset(allowed_hosts)
    if host in allowed or str(address) in allowed:
        return None
    if allow_private and cls in (AddressClass.LOOPBACK, AddressClass.PRIVATE):
        return None
    return cls


def literal(host: str) -> IPAddress | None:
    """The address when ``host`` is a canonical IP literal (IPv6 with or without brackets)."""
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
    except ValueError:
        return None


def is_numeric(host: str) -> bool:
    """Would a browser read ``host`` as an address rather than a name?"""
    text = host.lower().rstrip(".")
    return literal(text) is not None or bool(NUMERIC_LABEL.match(text.rsplit(".", 1)[-1]))


def numeric_host(host: str) -> IPAddress | None:
    """The address a browser connects to for ``host``, if ``host`` is a number in any form.

    IPv4 follows the WHATWG URL standard: one to four dot-separated parts, each decimal, octal
    (leading ``0``) or hexadecimal (``0x``), the last one filling the remaining bytes
    (``127.1``, ``2130706433``, ``0x7f.0.0.1``, ``0177.0.0.1``). IPv6 is any literal, brackets
    optional. ``None`` for a name. A host that ends in a number but is no valid address raises
    :class:`ValueError` (browsers refuse such URLs).
    """
    text = host.lower().removesuffix(".")
    if (found := literal(text)) is not None:
        return found
    parts = text.split(".")
    if not NUMERIC_LABEL.match(parts[-1]):
        return None
    if len(parts) > 4 or not all(parts):
        raise ValueError(f"{host!r} is not an IPv4 address")
    numbers = [_ipv4_part(p, host) for p in parts]
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        raise ValueError(f"{host!r} is not an IPv4 address")
    value = last
    for i, n in enumerate(head):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def _ipv4_part(part: str, host: str) -> int:
    try:
        if part.startswith("0x"):
            return int(part[2:] or "0", 16)
        if len(part) > 1 and part.startswith("0"):
            return int(part[1:], 8)
        return int(part, 10)
    except ValueError:
        raise ValueError(f"{host!r} is not an IPv4 address") from None


@dataclass(frozen=True, slots=True)
class HostAllowList:
    """Hosts the operator allows whatever they resolve to: ``host[:port]`` entries, a host
    without a port allowing all its ports (``MEETBOT_SELF_HOSTED_MEETING_HOSTS``)."""

    entries: frozenset[tuple[str, int | None]] = frozenset()

    @classmethod
    def parse(cls, text: str | Iterable[str]) -> HostAllowList:
        """From ``"janus.internal, 127.0.0.1:8088, [::1]:8088"`` (or the entries one by one).

        Raises :class:`ValueError` for an entry that is not ``host[:port]``."""
        items = text.split(",") if isinstance(text, str) else list(text)
        return cls(frozenset(_entry(item.strip()) for item in items if item.strip()))

    def __bool__(self) -> bool:
        return bool(self.entries)

    def allows(self, host: str, port: int | None = None) -> bool:
        """Is ``host`` (on ``port``; ``None``: any port the entry allows) allowed?"""
        name = normal_host(host)
        return (name, None) in self.entries or (port is not None and (name, port) in self.entries)

    def as_strings(self) -> tuple[str, ...]:
        """The entries as ``host[:port]`` texts (sorted), :meth:`parse` reads them back."""
        return tuple(sorted(_entry_text(h, p) for h, p in self.entries))

    def names(self) -> frozenset[str]:
        """The hosts, whatever their ports."""
        return frozenset(h for h, _ in self.entries)


def normal_host(host: str) -> str:
    """Lower case, no trailing dot, no brackets, numeric forms as their canonical address."""
    text = host.strip().lower().removeprefix("[").removesuffix("]").rstrip(".")
    try:
        address = numeric_host(text)
    except ValueError:
        return text
    return text if address is None else str(address)


def _entry(item: str) -> tuple[str, int | None]:
    host, port = item, None
    if item.startswith("["):
        host, bracket, rest = item[1:].partition("]")
        if not bracket:
            raise ValueError(f"not host[:port]: {item!r}")
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"not host[:port]: {item!r}")
            port = _port(rest[1:], item)
    elif item.count(":") == 1:
        host, _, text = item.partition(":")
        port = _port(text, item)
    if not host or any(c in host for c in "/?#@ ") or (":" in host and literal(host) is None):
        raise ValueError(f"not host[:port]: {item!r}")
    return normal_host(host), port


def _port(text: str, item: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"invalid port in {item!r}")
    return int(text)


def _entry_text(host: str, port: int | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return shown if port is None else f"{shown}:{port}"
