"""Run Debian's Janus (VideoRoom only) inside a lab namespace.

:func:`write_config` copies ``/etc/janus`` and overwrites the files the lab controls:

- ``janus.jcfg``: ICE only on ``veth0`` (see :mod:`meetbot.lab.netns`), an RTP port range,
  our admin secret, every plugin/transport/logger/event handler disabled except VideoRoom and
  HTTP;
- ``janus.transport.http.jcfg``: REST on ``127.0.0.1:8088/janus`` *inside* the namespace (the
  demo pages and the bots' browsers use it; the namespace's loopback is private, so the fixed
  port never clashes with another lab);
- ``janus.plugin.videoroom.jcfg``: no static rooms, ``admin_key`` required to create rooms.

:class:`JanusServer` also starts a forwarder (:mod:`meetbot.lab.forward`) so that the host
namespace reaches REST through ``janus-http.sock`` in the lab's workdir.

Room options such as ``notify_joining`` and ``audiolevel_event`` are per room, given at creation
(:meth:`meetbot.lab.host.JanusHost.create_room`).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx

from meetbot.lab.host import JanusHost
from meetbot.lab.netns import VETH, Netns

SYSTEM_CONFIG: Final = Path("/etc/janus")
LIB_DIR: Final = Path("/usr/lib/x86_64-linux-gnu/janus")
HTTP_PORT: Final = 8088
RTP_PORT_RANGE: Final = "20000-20999"

_KEEP_PLUGINS: Final = {"libjanus_videoroom.so", "libjanus_textroom.so"}
_KEEP_TRANSPORTS: Final = {"libjanus_http.so"}


@dataclass(frozen=True, slots=True)
class JanusConfig:
    """Where a lab's Janus configuration lives and what it says."""

    config_dir: Path
    admin_secret: str
    http_port: int = HTTP_PORT

    @property
    def url(self) -> str:
        """The REST endpoint, as reachable from inside the namespace."""
        return f"http://127.0.0.1:{self.http_port}/janus"


def _disabled(kind: str, keep: set[str]) -> str:
    names = sorted(p.name for p in (LIB_DIR / kind).glob("libjanus_*.so") if p.name not in keep)
    return ",".join(names)


def write_config(config_dir: Path, admin_secret: str) -> JanusConfig:
    """Write a complete Janus configuration directory for one lab."""
    shutil.copytree(SYSTEM_CONFIG, config_dir)
    (config_dir / "janus.jcfg").write_text(
        f"""general: {{
	configs_folder = "{config_dir}"
	plugins_folder = "{LIB_DIR}/plugins"
	transports_folder = "{LIB_DIR}/transports"
	events_folder = "{LIB_DIR}/events"
	loggers_folder = "{LIB_DIR}/loggers"
	debug_level = 4
	admin_secret = "{admin_secret}"
	session_timeout = 60
	server_name = "meetbot-lab"
}}
media: {{
	rtp_port_range = "{RTP_PORT_RANGE}"
}}
nat: {{
	nice_debug = false
	ice_enforce_list = "{VETH}"
}}
plugins: {{
	disable = "{_disabled("plugins", _KEEP_PLUGINS)}"
}}
transports: {{
	disable = "{_disabled("transports", _KEEP_TRANSPORTS)}"
}}
loggers: {{
	disable = "{_disabled("loggers", set())}"
}}
events: {{
	disable = "{_disabled("events", set())}"
}}
"""
    )
    (config_dir / "janus.transport.http.jcfg").write_text(
        f"""general: {{
	json = "plain"
	base_path = "/janus"
	http = true
	port = {HTTP_PORT}
	ip = "127.0.0.1"
	https = false
}}
admin: {{
	admin_http = false
	admin_https = false
}}
"""
    )
    (config_dir / "janus.plugin.videoroom.jcfg").write_text(
        f"""general: {{
	admin_key = "{admin_secret}"
}}
"""
    )
    # The room's chat: a TextRoom of the same number, created with it (JanusHost.create_room).
    (config_dir / "janus.plugin.textroom.jcfg").write_text(
        f"""general: {{
	json = "plain"
	admin_key = "{admin_secret}"
}}
"""
    )
    return JanusConfig(config_dir=config_dir, admin_secret=admin_secret)


def start_forwarder(
    netns: Netns, socket_path: Path, port: int, log: Path, *, timeout: float = 10.0
) -> subprocess.Popen[bytes]:
    """Start :mod:`meetbot.lab.forward` inside ``netns``; return once ``socket_path`` exists."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*netns.exec_prefix, sys.executable, "-m", "meetbot.lab.forward",
             str(socket_path), str(port)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + timeout
    while not socket_path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            _stop(process, 1.0)
            raise RuntimeError(f"forwarder to port {port} did not start: {log.read_text()}")
        time.sleep(0.02)
    return process


def _stop(process: subprocess.Popen[bytes], timeout: float) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class JanusServer:
    """Janus and its REST forwarder inside a namespace. Use :meth:`start`; always :meth:`stop`."""

    def __init__(self, config: JanusConfig, workdir: Path) -> None:
        self.config = config
        self.log = workdir / "janus.log"
        self.socket_path = workdir / "janus-http.sock"
        """Janus REST from the host namespace (``curl --unix-socket``)."""
        self._processes: list[subprocess.Popen[bytes]] = []

    @classmethod
    def start(
        cls, netns: Netns, workdir: Path, admin_secret: str, *, timeout: float = 15.0
    ) -> JanusServer:
        """Write the config under ``workdir``, start Janus, wait until its API answers."""
        server = cls(write_config(workdir / "janus-config", admin_secret), workdir)
        try:
            config_dir = server.config.config_dir
            cmd = [*netns.exec_prefix, "janus", "-F", str(config_dir)]
            cmd += ["-C", str(config_dir / "janus.jcfg"), "-o"]
            with server.log.open("wb") as out:
                janus = subprocess.Popen(
                    cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                    start_new_session=True,
                )  # fmt: skip
            server._processes.append(janus)
            server._processes.append(
                start_forwarder(
                    netns, server.socket_path, server.config.http_port, workdir / "forward.log"
                )
            )
            server._wait_ready(timeout)
        except BaseException:
            server.stop()
            raise
        return server

    @property
    def process(self) -> subprocess.Popen[bytes]:
        return self._processes[0]

    def host(self) -> JanusHost:
        """A host client usable from the host namespace (through the forwarder)."""
        return JanusHost(self.config.url, uds=self.socket_path, admin_key=self.config.admin_secret)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        client = self.host()
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"janus exited with {self.process.returncode}: {self.tail()}")
            try:
                plugins = client.info().get("plugins", {})
            except (httpx.HTTPError, ValueError) as exc:
                last = exc
            else:
                if isinstance(plugins, dict) and "janus.plugin.videoroom" in plugins:
                    return
            time.sleep(0.05)
        raise TimeoutError(f"janus not ready after {timeout} s ({last!r}): {self.tail()}")

    def tail(self, lines: int = 20) -> str:
        """The end of Janus's log, for error messages."""
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM (Janus shuts down cleanly), SIGKILL after ``timeout`` s. Idempotent."""
        for process in reversed(self._processes):
            _stop(process, timeout)
