"""Runner hosts as network namespaces (needs root): each host its own namespace and address,
the control plane reached over a veth link; "cut a host off" = its link down.

All hosts hang off one bridge ``mbfb<tag>`` in the root namespace that carries
``127.0.<net>.1/24`` (:attr:`Hosts.server_address`: bind the control plane there). Host ``n`` is
namespace ``mbf-<pid>-<n>`` with a veth pair ``mbf<tag>r<n>`` (root side, on the bridge) /
``mbf<tag>h<n>`` (inside, ``127.0.<net>.<n+2>/24``), ``lo`` up inside. Addresses stay in
127/8, so no test traffic can leave the machine; 127/8 is routed between interfaces only with
``route_localnet=1`` (all, the bridge and each veth, both sides), which :class:`Hosts` sets and
restores.

Processes enter a host with :attr:`Host.prefix` (``ip netns exec NAME``); :meth:`Host.cut`
sets its link down (requests time out both ways) and :meth:`Host.restore` up again;
:meth:`Host.kill` SIGKILLs every process in it ("kill the host"); :meth:`Hosts.close` deletes
everything.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SYSCTL = Path("/proc/sys/net/ipv4/conf")


class NetnsError(RuntimeError):
    """An ``ip`` command failed."""


def ip(*args: str, netns: str | None = None, check: bool = True) -> str:
    command = ["ip", *(["netns", "exec", netns, "ip"] if netns else []), *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise NetnsError(f"{' '.join(command)}: {done.stderr.strip() or done.returncode}")
    return done.stdout


def available() -> str | None:
    """Why hosts cannot be made here, or ``None``."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    try:
        ip("netns", "list")
    except (OSError, NetnsError) as exc:
        return f"ip netns unavailable: {exc}"
    return None


def _set_route_localnet(interface: str, value: str, netns: str | None = None) -> None:
    key = f"net.ipv4.conf.{interface}.route_localnet={value}"
    prefix = ["ip", "netns", "exec", netns] if netns else []
    subprocess.run([*prefix, "sysctl", "-q", "-w", key], check=True, capture_output=True)


@dataclass
class Host:
    name: str
    outside: str
    """The root side of the link."""
    address: str
    """This host's own address (inside the namespace)."""
    gateway: str

    @property
    def prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.name]

    def cut(self) -> None:
        """The host is cut off: requests in either direction time out."""
        ip("link", "set", self.outside, "down")

    def restore(self) -> None:
        ip("link", "set", self.outside, "up")

    def pids(self) -> list[int]:
        out = ip("netns", "pids", self.name, check=False)
        return [int(tok) for tok in out.split() if tok.isdigit()]

    def kill(self) -> None:
        """Kill -9 every process on the host."""
        for _ in range(50):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)


@dataclass
class Hosts:
    net: int = 40
    """The hosts' subnet: ``127.0.<net>.0/24``."""
    hosts: list[Host] = field(default_factory=list)
    _saved: str | None = None
    _bridge: str | None = None

    @property
    def tag(self) -> str:
        return f"{os.getpid() % 10000}"

    @property
    def server_address(self) -> str:
        """The bridge's address: a control plane bound there is reached from every host."""
        return f"127.0.{self.net}.1"

    def _open(self) -> str:
        if self._bridge is None:
            self._saved = (SYSCTL / "all" / "route_localnet").read_text().strip()
            _set_route_localnet("all", "1")
            bridge = f"mbfb{self.tag}"
            ip("link", "add", bridge, "type", "bridge")
            self._bridge = bridge
            ip("addr", "add", f"{self.server_address}/24", "dev", bridge)
            ip("link", "set", bridge, "up")
            _set_route_localnet(bridge, "1")
        return self._bridge

    def add(self) -> Host:
        bridge = self._open()
        n = len(self.hosts)
        name = f"mbf-{os.getpid()}-{n}"
        outside, inside = f"mbf{self.tag}r{n}", f"mbf{self.tag}h{n}"
        address = f"127.0.{self.net}.{n + 2}"
        ip("netns", "add", name)
        host = Host(name, outside, address, self.server_address)
        self.hosts.append(host)
        ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        ip("link", "set", inside, "netns", name)
        ip("link", "set", outside, "master", bridge)
        ip("link", "set", outside, "up")
        _set_route_localnet(outside, "1")
        ip("link", "set", "lo", "up", netns=name)
        ip("addr", "add", f"{address}/24", "dev", inside, netns=name)
        ip("link", "set", inside, "up", netns=name)
        _set_route_localnet("all", "1", netns=name)
        _set_route_localnet(inside, "1", netns=name)
        return host

    def close(self) -> None:
        for host in self.hosts:
            host.kill()
            ip("netns", "delete", host.name, check=False)  # its veth pair goes with it
            ip("link", "delete", host.outside, check=False)
        self.hosts.clear()
        if self._bridge is not None:
            ip("link", "delete", self._bridge, check=False)
            self._bridge = None
        if self._saved is not None:
            _set_route_localnet("all", self._saved)
            self._saved = None
