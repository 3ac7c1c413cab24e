"""A stand-in for the network beyond loopback, for the egress proxy's tests.

:class:`RoutedSockets` is a :class:`~meetbot.runner.browser_sockets.SocketSource` whose
connections to the addresses in its table land on loopback servers of the test (a "public"
address never leaves the machine); it records every address dialled. Loopback addresses not in
the table are dialled as they are.
"""

from __future__ import annotations

import ipaddress
import socket

from meetbot.egress import IPAddress, classify
from meetbot.runner.browser_sockets import LocalSockets


class RoutedSockets(LocalSockets):
    def __init__(self, routes: dict[tuple[str, int], int] | None = None) -> None:
        self.routes = dict(routes or {})
        """``(address, port) -> port on 127.0.0.1``."""
        self.dialled: list[tuple[str, int]] = []

    async def connect(self, address: IPAddress, port: int) -> socket.socket:
        self.dialled.append((str(address), port))
        routed = self.routes.get((str(address), port))
        if routed is not None:
            address, port = ipaddress.ip_address("127.0.0.1"), routed
        elif classify(address) != "loopback":
            raise ConnectionRefusedError(f"{address} is beyond this test's network")
        return await super().connect(address, port)
