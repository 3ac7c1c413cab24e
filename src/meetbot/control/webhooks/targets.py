"""The SSRF guard: which URLs a webhook may name and which addresses it may reach.

Two steps, both needed. :func:`check_url` looks at the URL alone (scheme, userinfo, host syntax,
literal addresses). :func:`resolve_safe` resolves the host and refuses it when any address is
loopback, private, link-local, multicast, reserved, unspecified or a cloud metadata service,
unless the :class:`TargetPolicy` allows it (the classes are :mod:`meetbot.egress`, the rules
every outbound request follows). The sender calls :func:`resolve_safe` at connect time
and connects to the very addresses it returned, so DNS rebinding between the check and the
connection is not possible.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from meetbot import egress
from meetbot.egress import METADATA_ADDRESSES, AddressClass, IPAddress, classify
from meetbot.errors import InvalidRequest

if TYPE_CHECKING:
    from meetbot.config import Settings

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""``(host, port) -> addresses as text``; the system one is :func:`system_resolver`."""

__all__ = [  # the egress names are re-exported: older imports keep working
    "METADATA_ADDRESSES",
    "AddressClass",
    "IPAddress",
    "InvalidWebhookUrl",
    "TargetPolicy",
    "WebhookTarget",
    "check_url",
    "classify",
    "parse_url",
    "refusal",
    "resolve_safe",
    "system_resolver",
    "validate_webhook_url",
]

MAX_URL_LENGTH = 2048
RESOLVE_TIMEOUT = 5.0


class InvalidWebhookUrl(InvalidRequest):
    """A webhook URL that is malformed or names an address webhooks may not reach."""

    code = "invalid_webhook_url"


@dataclass(frozen=True, slots=True)
class TargetPolicy:
    allow_private: bool = False
    """Allow loopback and private (RFC 1918, CGNAT, ULA) addresses."""
    allowed_hosts: frozenset[str] = frozenset()
    """Host names or addresses (lower case) allowed whatever they resolve to."""

    @classmethod
    def from_settings(cls, settings: Settings) -> TargetPolicy:
        return cls(settings.webhook_allow_private, settings.allowed_webhook_hosts)


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """A syntactically valid webhook URL, taken apart."""

    url: str
    scheme: str
    host: str
    """Lower case, IDNA-encoded, without brackets or a trailing dot."""
    port: int
    literal: IPAddress | None
    """The address when the host is an IP literal."""


_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


def refusal(address: IPAddress, host: str, policy: TargetPolicy) -> AddressClass | None:
    """``None`` if ``address`` (reached through ``host``) may be called, else why not
    (:func:`meetbot.egress.refusal` under the webhook policy)."""
    return egress.refusal(
        address, host, allowed_hosts=policy.allowed_hosts, allow_private=policy.allow_private
    )


def parse_url(url: str) -> WebhookTarget:
    """Take a webhook URL apart; raise :class:`InvalidWebhookUrl` if it is not one."""
    if len(url) > MAX_URL_LENGTH:
        raise InvalidWebhookUrl(f"webhook URL is longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise InvalidWebhookUrl("webhook URL contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidWebhookUrl(f"webhook URL is malformed: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidWebhookUrl("webhook URL must use http or https")
    if "@" in parts.netloc:
        raise InvalidWebhookUrl("webhook URL must not contain a user name or password")
    if port == 0:
        raise InvalidWebhookUrl("webhook URL has an invalid port")
    host = _normalise_host(parts.netloc, parts.hostname)
    literal = _literal(host)
    default_port = 443 if scheme == "https" else 80
    return WebhookTarget(url, scheme, host, port or default_port, literal)


def _normalise_host(netloc: str, hostname: str | None) -> str:
    if not hostname:
        raise InvalidWebhookUrl("webhook URL has no host")
    if netloc.startswith("["):
        if "%" in hostname:
            raise InvalidWebhookUrl("webhook URL must not use an IPv6 zone id")
        try:
            return str(ipaddress.IPv6Address(hostname))
        except ValueError:
            raise InvalidWebhookUrl("webhook URL has an invalid IPv6 address") from None
    host = hostname.rstrip(".")
    try:
        host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InvalidWebhookUrl("webhook URL has an invalid host name") from None
    if _literal(host) is not None:
        return host
    labels = host.split(".")
    if egress.NUMERIC_LABEL.match(labels[-1]):
        raise InvalidWebhookUrl("webhook URL host is a non-canonical IP address")
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise InvalidWebhookUrl("webhook URL has an invalid host name")
    return host


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _refuse(host: str, address: IPAddress, cls: AddressClass) -> InvalidWebhookUrl:
    return InvalidWebhookUrl(
        f"webhook URL host {host} resolves to a {cls} address ({address}); such targets need "
        "MEETBOT_WEBHOOK_ALLOW_PRIVATE=1 (loopback and private only) or the host in "
        "MEETBOT_WEBHOOK_ALLOWED_HOSTS",
        extra={"address_class": str(cls)},
    )


def check_url(url: str, policy: TargetPolicy) -> WebhookTarget:
    """Refuse malformed URLs and literal addresses the policy forbids (no DNS lookup)."""
    target = parse_url(url)
    if target.literal is not None:
        cls = refusal(target.literal, target.host, policy)
        if cls is not None:
            raise _refuse(target.host, target.literal, cls)
    return target


async def system_resolver(host: str, port: int) -> list[str]:
    """``getaddrinfo`` in the event loop's thread pool."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(info[4][0]) for info in infos]


async def resolve_safe(
    host: str, port: int, policy: TargetPolicy, resolver: Resolver = system_resolver
) -> list[IPAddress]:
    """Resolve ``host``; return its addresses, or raise if any of them is forbidden."""
    literal = _literal(host.strip("[]"))
    if literal is not None:
        found: list[IPAddress] = [literal]
    else:
        try:
            async with asyncio.timeout(RESOLVE_TIMEOUT):
                texts = await resolver(host, port)
            found = list(dict.fromkeys(ipaddress.ip_address(t) for t in texts))
        except (OSError, UnicodeError, ValueError, TimeoutError):
            raise InvalidWebhookUrl(f"webhook URL host {host} does not resolve") from None
    if not found:
        raise InvalidWebhookUrl(f"webhook URL host {host} does not resolve")
    for address in found:
        cls = refusal(address, host, policy)
        if cls is not None:
            raise _refuse(host, address, cls)
    return found


async def validate_webhook_url(
    url: str, policy: TargetPolicy, resolver: Resolver = system_resolver
) -> WebhookTarget:
    """Registration-time check: the URL's form, then where its host resolves now."""
    target = check_url(url, policy)
    await resolve_safe(target.host, target.port, policy, resolver)
    return target
