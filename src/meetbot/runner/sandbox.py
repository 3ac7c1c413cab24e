"""Whom the bot's Chromium runs as, and whether in its sandbox (issue 12).

Chromium's renderer sandbox (user, PID and network namespaces plus seccomp-bpf) is what stands
between a meeting page that exploits the renderer and the runner's host. Chromium refuses it as
root, and it needs unprivileged user namespaces from the kernel. So:

- a runner running as root runs Chromium as an unprivileged user (``MEETBOT_CHROMIUM_USER``,
  ``nobody`` by default): it launches it through a small wrapper (:func:`write_wrapper`) that
  drops to that user's uid and gid (no supplementary groups) and execs ``chromium_path``; the
  browser's profile directory is given to that user;
- when the kernel forbids unprivileged user namespaces, or there is no such user, the sandbox
  cannot work: the runner refuses to start (:class:`SandboxUnavailable`), unless the operator
  accepts the risk with ``MEETBOT_CHROMIUM_NO_SANDBOX=1`` (Chromium then runs with
  ``--no-sandbox``, and a page that breaks out of the renderer has the rights of Chromium's
  user);
- ``MEETBOT_CHROMIUM_USER=""`` runs Chromium as the runner's own user: for a non-root runner,
  or a ``chromium_path`` that switches user itself (the meeting lab's wrapper does, after it
  enters its network namespace).

:func:`choose` is pure; :func:`kernel_facts` and :func:`lookup_user` read the machine.
:func:`renderer_report` reads ``/proc`` to say whether a running browser's renderers are
sandboxed (the doctor and the tests use it).
"""

from __future__ import annotations

import os
import pwd
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final

NO_SANDBOX_FLAGS: Final = ("--no-sandbox", "--no-zygote")
"""Added only without the sandbox: ``--no-zygote`` saves two processes per browser, but
Chromium allows it only with ``--no-sandbox``."""

NO_SANDBOX_SETTING: Final = "MEETBOT_CHROMIUM_NO_SANDBOX"


class SandboxUnavailable(RuntimeError):
    """Chromium's sandbox cannot work here and the operator did not accept running without."""


@dataclass(frozen=True, slots=True)
class RunAs:
    """An unprivileged user Chromium runs as."""

    name: str
    uid: int
    gid: int


@dataclass(frozen=True, slots=True)
class KernelFacts:
    """What the kernel says about unprivileged user namespaces (``None``: no such setting)."""

    unprivileged_userns_clone: int | None = None
    """Debian/Ubuntu's ``kernel.unprivileged_userns_clone`` (0: forbidden)."""
    max_user_namespaces: int | None = None
    """``user.max_user_namespaces`` (0: forbidden)."""
    apparmor_restrict_unprivileged_userns: int | None = None
    """Ubuntu 23.10+'s ``kernel.apparmor_restrict_unprivileged_userns`` (1: only programs
    with an AppArmor profile that allows it)."""


@dataclass(frozen=True, slots=True)
class ChromiumSandbox:
    """How the bot's Chromium runs."""

    sandboxed: bool
    run_as: RunAs | None = None
    """Drop to this user (the runner is root); ``None``: run as the runner's user."""
    reason: str = ""
    """Why it runs without its sandbox (empty when sandboxed)."""

    @property
    def flags(self) -> tuple[str, ...]:
        return () if self.sandboxed else NO_SANDBOX_FLAGS

    def describe(self) -> str:
        who = f"as {self.run_as.name} (uid {self.run_as.uid})" if self.run_as else "as this user"
        if self.sandboxed:
            return f"sandboxed, {who}"
        return f"WITHOUT its sandbox ({NO_SANDBOX_SETTING}=1), {who}: {self.reason}"


UNSANDBOXED: Final = ChromiumSandbox(sandboxed=False, reason="asked for by the caller")
"""For test browsers run as root (participants of the meeting lab): never for a bot."""


def userns_problem(facts: KernelFacts) -> str | None:
    """Why the kernel will not let an unprivileged process make a user namespace, or ``None``."""
    if facts.unprivileged_userns_clone == 0:
        return "kernel.unprivileged_userns_clone is 0 (unprivileged user namespaces are off)"
    if facts.max_user_namespaces == 0:
        return "user.max_user_namespaces is 0 (user namespaces are off)"
    if facts.apparmor_restrict_unprivileged_userns == 1:
        return (
            "kernel.apparmor_restrict_unprivileged_userns is 1 (AppArmor allows user "
            "namespaces only to programs whose profile says so; give Chromium such a profile "
            "or set the sysctl to 0)"
        )
    return None


def choose(
    *,
    euid: int,
    user: str,
    run_as: RunAs | None,
    facts: KernelFacts,
    allow_unsandboxed: bool,
) -> ChromiumSandbox:
    """The sandbox for this runner: ``euid`` is the runner's, ``user`` the setting
    (``MEETBOT_CHROMIUM_USER``) and ``run_as`` that user as found (``None``: not found).

    Raises :class:`SandboxUnavailable` when the sandbox cannot work and ``allow_unsandboxed``
    is false."""
    drop = run_as if euid == 0 and user else None
    problem = userns_problem(facts)
    if problem is None and euid == 0 and user and run_as is None:
        problem = f"there is no user {user!r} to run Chromium as (MEETBOT_CHROMIUM_USER)"
    elif problem is None and drop is not None and drop.uid == 0:
        problem = f"MEETBOT_CHROMIUM_USER {user!r} is root; Chromium has no sandbox as root"
        drop = None
    if problem is None:
        return ChromiumSandbox(sandboxed=True, run_as=drop)
    if not allow_unsandboxed:
        raise SandboxUnavailable(
            f"Chromium's sandbox cannot work here: {problem}. Fix that, or set "
            f"{NO_SANDBOX_SETTING}=1 to run the bots' browsers without it (a meeting page that "
            "exploits the renderer then runs with the rights of Chromium's user)."
        )
    return ChromiumSandbox(sandboxed=False, run_as=drop, reason=problem)


def lookup_user(name: str) -> RunAs | None:
    """The user ``name`` (a name or a numeric uid), or ``None`` if there is none."""
    if not name:
        return None
    try:
        entry = pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
    except (KeyError, ValueError):
        return None
    return RunAs(entry.pw_name, entry.pw_uid, entry.pw_gid)


def kernel_facts(sysctl: Path = Path("/proc/sys")) -> KernelFacts:
    def read(relative: str) -> int | None:
        try:
            return int((sysctl / relative).read_text().strip())
        except (OSError, ValueError):
            return None

    return KernelFacts(
        unprivileged_userns_clone=read("kernel/unprivileged_userns_clone"),
        max_user_namespaces=read("user/max_user_namespaces"),
        apparmor_restrict_unprivileged_userns=read("kernel/apparmor_restrict_unprivileged_userns"),
    )


def for_this_process(user: str, *, allow_unsandboxed: bool) -> ChromiumSandbox:
    """:func:`choose` with this process's uid, the named user and the kernel's settings."""
    return choose(
        euid=os.geteuid(),
        user=user,
        run_as=lookup_user(user),
        facts=kernel_facts(),
        allow_unsandboxed=allow_unsandboxed,
    )


WRAPPER: Final = """#!{python} -IS
# Written by meetbot's runner: run Chromium as {name}, never as root.
import os, sys
os.setgroups([])
os.setgid({gid})
os.setuid({uid})
if os.getuid() == 0 or os.geteuid() == 0:
    sys.exit("meetbot: could not drop root for Chromium")
os.environ["HOME"] = {home!r}
os.execv({chromium!r}, [{chromium!r}, *sys.argv[1:]])
"""


def write_wrapper(directory: Path, chromium_path: str, run_as: RunAs, home: Path) -> Path:
    """An executable in ``directory`` that drops to ``run_as`` and execs ``chromium_path``
    with its arguments (Playwright's pipes are inherited through the exec); ``HOME`` is set to
    ``home`` (the profile: Chromium writes a few files there)."""
    path = directory / "chromium-as-user"
    text = WRAPPER.format(
        python=sys.executable,
        name=run_as.name,
        uid=run_as.uid,
        gid=run_as.gid,
        home=str(home),
        chromium=chromium_path,
    )
    path.write_text(text, encoding="utf-8")
    path.chmod(0o700)
    return path


@dataclass(frozen=True, slots=True)
class RendererReport:
    """What ``/proc`` says of one Chromium renderer process."""

    pid: int
    uid: int
    seccomp: int
    """2: a seccomp-bpf filter (Chromium's sandbox); 0: none."""
    own_user_namespace: bool
    own_net_namespace: bool

    @property
    def sandboxed(self) -> bool:
        return (
            self.uid != 0 and self.seccomp == 2 and self.own_user_namespace
            and self.own_net_namespace
        )  # fmt: skip


def renderer_report(pid: int, proc: Path = Path("/proc")) -> RendererReport | None:
    """The report of ``pid`` (against this process's namespaces), ``None`` if it is gone."""
    base = proc / str(pid)
    try:
        status = (base / "status").read_text()
        user_ns = os.readlink(base / "ns" / "user")
        net_ns = os.readlink(base / "ns" / "net")
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return RendererReport(
        pid=pid,
        uid=int(fields.get("Uid", "0").split()[0]),
        seccomp=int(fields.get("Seccomp", "0").strip() or 0),
        own_user_namespace=user_ns != os.readlink(proc / "self" / "ns" / "user"),
        own_net_namespace=net_ns != os.readlink(proc / "self" / "ns" / "net"),
    )


def command_line(pid: int, proc: Path = Path("/proc")) -> list[str]:
    """The arguments of ``pid`` (``[]`` if it is gone). Chromium's child processes rewrite
    their title into one string: that is split at spaces."""
    try:
        raw = (proc / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    parts = [part.decode(errors="replace") for part in raw.split(b"\0") if part]
    return parts[0].split() if len(parts) == 1 else parts
