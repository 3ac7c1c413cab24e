"""A private network namespace in which Janus gathers ICE candidates (needs root).

Janus never gathers candidates on loopback interfaces, and the lab must not touch any real
network. So each lab gets its own namespace ``mb-<pid>-<n>`` with ``lo`` up and a veth pair
*both of whose ends live inside it*; ``veth0`` carries ``127.0.1.1/32``. The namespace has no
route out, and nothing is ever added to the host's own namespace.

Processes enter it through :attr:`Netns.exec_prefix` (``ip netns exec NAME``). ``ip netns exec``
execs in place (no fork), so a ``Popen`` pid is the real process and inherited file descriptors
survive; that is what makes :meth:`Netns.wrap_executable` work for Playwright, which talks to
Chromium over inherited pipes.

Filesystem paths are shared with the host (only ``/sys`` is remounted), so Unix sockets and
files under ``/tmp`` work across the boundary; TCP ports inside are private to the namespace.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Final

PREFIX: Final = "mb"
VETH: Final = "veth0"
"""The interface that carries :data:`ICE_ADDRESS`; give it to Janus's ``ice_enforce_list``."""
VETH_PEER: Final = "veth1"
ICE_ADDRESS: Final = "127.0.1.1"

_NAME_RE: Final = re.compile(rf"^{PREFIX}-(\d+)-(\d+)$")
_counter = itertools.count()


class NetnsError(RuntimeError):
    """An ``ip`` command failed."""


def _ip(*args: str, check: bool = True) -> str:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {proc.stderr.strip() or proc.returncode}")
    return proc.stdout


def list_namespaces() -> list[str]:
    """Names of all network namespaces (``ip netns list``)."""
    return [line.split()[0] for line in _ip("netns", "list").splitlines() if line.strip()]


def namespace_pids(name: str) -> list[int]:
    """Pids of the processes living in namespace ``name`` (empty if it does not exist)."""
    out = _ip("netns", "pids", name, check=False)
    return [int(tok) for tok in out.split() if tok.isdigit()]


def workdir_for(name: str) -> Path:
    """The default scratch directory of the lab that owns namespace ``name``."""
    return Path(tempfile.gettempdir()) / f"meetbot-lab-{name}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_namespace_processes(name: str, grace: float = 2.0) -> None:
    """SIGTERM everything in the namespace, then SIGKILL what is left after ``grace`` s."""
    pids = namespace_pids(name)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + (grace if sig == signal.SIGTERM else 2.0)
        while pids and time.monotonic() < deadline:
            time.sleep(0.05)
            pids = namespace_pids(name)
        if not pids:
            return


def delete_namespace(name: str) -> None:
    """Kill the namespace's processes and delete it; no error if it is already gone."""
    kill_namespace_processes(name)
    if name in list_namespaces():
        _ip("netns", "delete", name)


def cleanup_stale() -> list[str]:
    """Delete ``mb-<pid>-<n>`` namespaces (and their workdirs) whose creating pid is gone.

    Returns the names deleted. Namespaces of live labs (other engineers, other sessions) are
    left alone; so is anything not named like ours.
    """
    deleted = []
    for name in list_namespaces():
        m = _NAME_RE.match(name)
        if m is None or _pid_alive(int(m.group(1))):
            continue
        delete_namespace(name)
        shutil.rmtree(workdir_for(name), ignore_errors=True)
        deleted.append(name)
    return deleted


class Netns:
    """One private namespace; create with :meth:`create`, always :meth:`close`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._closed = False

    @classmethod
    def create(cls) -> Netns:
        """Make ``mb-<pid>-<n>`` with ``lo`` up and ``veth0`` (127.0.1.1/32) ⇄ ``veth1``."""
        cleanup_stale()
        name = f"{PREFIX}-{os.getpid()}-{next(_counter)}"
        if name in list_namespaces():  # left by an earlier process that had our pid
            delete_namespace(name)
        _ip("netns", "add", name)
        ns = cls(name)
        try:
            _ip("-n", name, "link", "set", "lo", "up")
            _ip("-n", name, "link", "add", VETH, "type", "veth", "peer", "name", VETH_PEER)
            _ip("-n", name, "addr", "add", f"{ICE_ADDRESS}/32", "dev", VETH)
            _ip("-n", name, "link", "set", VETH, "up")
            _ip("-n", name, "link", "set", VETH_PEER, "up")
        except BaseException:
            ns.close()
            raise
        return ns

    @property
    def exec_prefix(self) -> list[str]:
        """Prepend to any command that must run inside: ``["ip", "netns", "exec", name]``."""
        return ["ip", "netns", "exec", self.name]

    def pids(self) -> list[int]:
        return namespace_pids(self.name)

    def wrap_executable(
        self, executable: str | Path, path: Path, *, run_as: tuple[int, int] | None = None
    ) -> Path:
        """Write an executable script at ``path`` that runs ``executable`` inside the namespace.

        Give it to Playwright as ``executable_path``: the calling process stays in the host
        namespace (and can reach servers on the host's loopback) while the browser joins the lab.
        ``run_as`` (uid, gid): once inside, drop to that user (``setpriv``), so that Chromium
        can use its sandbox (never as root); the ``--user-data-dir`` it is given becomes that
        user's, and its ``HOME``. Entering the namespace needs root, so a runner gives this
        script no user of its own to run as (``MEETBOT_CHROMIUM_USER=""``).
        """
        lines = ["#!/bin/sh"]
        drop = ""
        if run_as is not None:
            uid, gid = run_as
            lines += [
                'for arg in "$@"; do case "$arg" in --user-data-dir=*)',
                '  dir="${arg#--user-data-dir=}"',
                f'  chown -R {uid}:{gid} "$dir"; export HOME="$dir";',
                "esac; done",
            ]
            drop = f"setpriv --reuid={uid} --regid={gid} --clear-groups "
        lines.append(f'exec {" ".join(self.exec_prefix)} {drop}{executable} "$@"')
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o755)
        return path

    def close(self) -> None:
        """Kill every process inside, delete the namespace. Idempotent."""
        if self._closed:
            return
        self._closed = True
        delete_namespace(self.name)

    def __enter__(self) -> Netns:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Netns({self.name!r})"
