"""A fleet as real processes, for the agent's integration tests and the fleet benchmarks:
control-plane replicas (``MEETBOT_LAUNCHER=fleet meetbot serve`` on one PostgreSQL database and
one data directory, so they share the server secret) and agents (``meetbot agent``), each
startable, killable (SIGKILL) and drainable (SIGTERM). ``prefix`` runs an agent under a command
(``ip netns exec NS``: a host of its own, :mod:`harness.netns`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from meetbot.lab.serve import MEETBOT, Server, free_port

MEET = "https://meet.google.com/abc-defg-hij"


class BoundServer(Server):
    """``meetbot serve`` bound to another loopback address than 127.0.0.1."""

    def __init__(self, data_dir: Path, port: int, env: dict[str, str], *, host: str) -> None:
        super().__init__(data_dir, port, env)
        self.host = host

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass
class Fleet:
    data_dir: Path
    database_url: str
    settings: dict[str, str] = field(default_factory=dict)
    replicas: list[Server] = field(default_factory=list)
    agents: list[AgentProcess] = field(default_factory=list)
    key: str = ""

    @property
    def env(self) -> dict[str, str]:
        return {
            "MEETBOT_LAUNCHER": "fleet", "MEETBOT_DATABASE_URL": self.database_url,
            "MEETBOT_DELIVERY": "inline", **self.settings,
        }  # fmt: skip

    def replica(self, host: str = "127.0.0.1") -> Server:
        """Start one more control-plane replica (the first prints the first API key), bound
        to ``host`` (e.g. :attr:`harness.netns.Hosts.server_address`)."""
        env = self.env | {"MEETBOT_HOST": host}
        server = BoundServer(self.data_dir, free_port(), env, host=host)
        server.start()
        if not self.key:
            self.key = server.first_key()
        self.replicas.append(server)
        return server

    def agent_token(self, name: str) -> str:
        done = subprocess.run(
            [*MEETBOT, "agents", "create", "--name", name, "--data-dir", str(self.data_dir)],
            capture_output=True, text=True, check=True, env={**os.environ, **self.env},
        )  # fmt: skip
        return done.stdout.strip().splitlines()[-1]

    def agent(
        self,
        name: str,
        servers: Sequence[str] | None = None,
        *,
        slots: int = 4,
        warm: int = 1,
        simulate: bool = True,
        extra: Sequence[str] = (),
        prefix: Sequence[str] = (),
        env: dict[str, str] | None = None,
        token: str | None = None,
    ) -> AgentProcess:
        urls = ",".join(servers or [r.url for r in self.replicas])
        proc = AgentProcess(
            name, token or self.agent_token(name), urls, self.data_dir / "agents" / name,
            slots=slots, warm=warm, simulate=simulate, extra=list(extra), prefix=list(prefix),
            env={**os.environ, **self.settings, **(env or {})},
        )  # fmt: skip
        proc.start()
        self.agents.append(proc)
        return proc

    def agents_list(self) -> list[dict[str, Any]]:
        done = subprocess.run(
            [*MEETBOT, "agents", "list", "--json", "--data-dir", str(self.data_dir)],
            capture_output=True, text=True, check=True, env={**os.environ, **self.env},
        )  # fmt: skip
        listed: list[dict[str, Any]] = json.loads(done.stdout)
        return listed

    def listed(self, name: str) -> dict[str, Any]:
        return next(a for a in self.agents_list() if a["name"] == name)

    def client(self, server: Server | None = None) -> httpx.Client:
        base = (server or self.replicas[0]).url
        return httpx.Client(
            base_url=base, timeout=30, headers={"Authorization": f"Token {self.key}"}
        )

    def stop(self) -> None:
        for agent in self.agents:
            agent.kill9()
        for server in self.replicas:
            server.stop()


@dataclass
class AgentProcess:
    name: str
    token: str
    servers: str
    data_dir: Path
    slots: int = 4
    warm: int = 1
    simulate: bool = True
    extra: list[str] = field(default_factory=list)
    prefix: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.data_dir / "agent.log"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [
            *self.prefix, *MEETBOT, "agent", "--server", self.servers, "--slots", str(self.slots),
            "--warm", str(self.warm), "--name", self.name, "--data-dir", str(self.data_dir),
            *(["--simulate"] if self.simulate else []), *self.extra,
        ]  # fmt: skip
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT,
                env={**self.env, "MEETBOT_AGENT_TOKEN": self.token},
            )  # fmt: skip

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def term(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def bot(http: httpx.Client, bot_id: str) -> dict[str, Any]:
    r = http.get(f"/api/v1/bot/{bot_id}/")
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


def wait_for(check: Any, timeout: float = 30.0, what: str = "") -> Any:
    """Poll ``check()`` until it returns something truthy; return it."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or check}")
        time.sleep(0.05)
