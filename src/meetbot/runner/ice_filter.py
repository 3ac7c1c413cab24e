"""WebRTC goes only to public addresses and the operator's allowed hosts (issue 12).

ICE (STUN checks, TURN, media over UDP/TCP) never passes the request hooks of
:mod:`meetbot.runner.egress`. So every frame of the bot's browser gets ``js/ice_filter.js``
before any other script: it drops remote ICE candidates (in descriptions and
``addIceCandidate``) and ICE servers whose address is not public (:mod:`meetbot.egress`'s
classes, in JavaScript) or an mDNS name, unless the address (and port) is allowed. The allowed
list is given when the assignment is known (:func:`allow_script`): the operator's
``host[:port]`` entries, names resolved to their addresses here.

Not a sandbox boundary: a page that could run code before the filter (none can: it is the first
init script of every document) or a compromised renderer could still make ICE packets. It keeps
a meeting page from using the bot's WebRTC stack to probe the runner's network.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
from importlib import resources

from meetbot.egress import HostAllowList, numeric_host

AllowedAddresses = list[tuple[str, int | None]]


def new_setter_name() -> str:
    """A name the page cannot guess, for the setter of the allowed list."""
    return "__meetbotIce" + secrets.token_hex(12)


def filter_script(setter: str, allowed: AllowedAddresses) -> str:
    source = (resources.files("meetbot.runner") / "js" / "ice_filter.js").read_text("utf-8")
    return source.replace("__SETTER__", setter).replace("__ALLOWED__", json.dumps(allowed))


def allow_script(setter: str, allowed: AllowedAddresses) -> str:
    """Sets the allowed list in every later document, then removes the setter."""
    return (
        f"(() => {{ const set = globalThis[{json.dumps(setter)}]; if (!set) return;"
        f" set({json.dumps(allowed)}); delete globalThis[{json.dumps(setter)}]; }})();"
    )


def _resolve(name: str) -> list[str]:
    try:
        infos = socket.getaddrinfo(name, None, type=socket.SOCK_DGRAM)
    except (OSError, UnicodeError):
        return []
    return sorted({str(info[4][0]).split("%", 1)[0] for info in infos})


async def allowed_addresses(hosts: HostAllowList) -> AllowedAddresses:
    """The allowed entries as addresses (names resolved now, each to all its addresses)."""
    found: AllowedAddresses = []
    for host, port in sorted(hosts.entries, key=lambda e: (e[0], e[1] or 0)):
        try:
            address = numeric_host(host)
        except ValueError:
            continue
        if address is not None:
            found.append((str(address), port))
        else:
            found += [(a, port) for a in await asyncio.to_thread(_resolve, host)]
    return found
