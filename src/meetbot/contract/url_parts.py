"""A meeting link taken apart, with the checks every link passes whatever its platform:
http(s) only, no user info, a valid host name or address, no whitespace or control characters,
a bounded length. :mod:`meetbot.contract.meeting_urls` recognises the platform from the parts."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit


class RejectedUrl(ValueError):
    """Not a link meetbot can take apart; the message says why (for the client)."""


@dataclass(frozen=True, slots=True)
class UrlParts:
    scheme: str
    host: str  # lowercase, no trailing dot, IPv6 without brackets
    port: int | None  # None when absent or the scheme's default
    path: str  # raw (still percent-encoded)
    query: Mapping[str, str]  # lowercased names, first value wins, decoded
    fragment: str

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    @property
    def trimmed_path(self) -> str:
        return self.path.rstrip("/")


_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_PORT_AFTER_HOST = re.compile(r"[0-9]+(?:[/?#]|$)")
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
DEFAULT_PORTS = {"http": 80, "https": 443}


def query_params(raw: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, value in parse_qsl(raw, keep_blank_values=True):
        values.setdefault(name.lower(), value)
    return values


def _valid_host(host: str) -> bool:
    if "%" in host:
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        last = host.rsplit(".", 1)[-1]
        return len(host) <= 253 and bool(_HOSTNAME.fullmatch(host)) and not last.isdigit()
    return True


def split_url(url: str, max_length: int) -> UrlParts:
    text = url.strip()
    if not text:
        raise RejectedUrl("the URL is empty")
    if len(text) > max_length:
        raise RejectedUrl(f"the URL is longer than {max_length} characters")
    if any(c.isspace() for c in text):
        raise RejectedUrl("the URL contains whitespace")
    if not (text.isascii() and text.isprintable()):
        raise RejectedUrl("the URL contains control or non-ASCII characters")
    scheme = _SCHEME.match(text)
    if scheme is None or _PORT_AFTER_HOST.match(text, scheme.end()):
        text = f"https://{text}"  # no scheme: "meet.google.com/..." or "localhost:8088/..."
    elif scheme[1].lower() not in DEFAULT_PORTS or not text.startswith("//", scheme.end()):
        raise RejectedUrl("only http:// and https:// links are accepted")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise RejectedUrl("the URL is malformed (bad host or port)") from None
    if "@" in parts.netloc:
        raise RejectedUrl("user names or passwords in the URL are not allowed")
    host = (parts.hostname or "").removesuffix(".")
    if not host:
        raise RejectedUrl("the URL has no host")
    if not _valid_host(host):
        raise RejectedUrl("the URL's host is not a valid host name or IP address")
    scheme_name = parts.scheme.lower()
    return UrlParts(
        scheme=scheme_name,
        host=host,
        port=None if port == DEFAULT_PORTS[scheme_name] else port,
        path=parts.path,
        query=query_params(parts.query),
        fragment=parts.fragment,
    )


def is_under(host: str, domain: str) -> bool:
    return host == domain or host.endswith(f".{domain}")
