"""Whom the bot's Chromium runs as and whether sandboxed (``runner/sandbox.py``), decided
without the machine: the kernel's settings and the user are given."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from meetbot.doctor import run_doctor
from meetbot.runner.sandbox import (
    NO_SANDBOX_FLAGS,
    KernelFacts,
    RunAs,
    SandboxUnavailable,
    choose,
    command_line,
    kernel_facts,
)

NOBODY = RunAs("nobody", 65534, 65534)
OPEN = KernelFacts(unprivileged_userns_clone=1, max_user_namespaces=1000)


def test_root_runs_chromium_as_the_user_sandboxed() -> None:
    sandbox = choose(euid=0, user="nobody", run_as=NOBODY, facts=OPEN, allow_unsandboxed=False)
    assert sandbox.sandboxed
    assert sandbox.run_as == NOBODY
    assert sandbox.flags == ()
    assert "--no-sandbox" not in sandbox.flags


def test_a_non_root_runner_runs_chromium_as_itself() -> None:
    sandbox = choose(euid=1000, user="nobody", run_as=NOBODY, facts=OPEN, allow_unsandboxed=False)
    assert (sandbox.sandboxed, sandbox.run_as) == (True, None)


def test_an_empty_user_leaves_the_switch_to_the_executable() -> None:
    sandbox = choose(euid=0, user="", run_as=None, facts=OPEN, allow_unsandboxed=False)
    assert (sandbox.sandboxed, sandbox.run_as) == (True, None)


@pytest.mark.parametrize(
    ("facts", "words"),
    [
        (KernelFacts(unprivileged_userns_clone=0), "unprivileged_userns_clone"),
        (KernelFacts(max_user_namespaces=0), "max_user_namespaces"),
        (KernelFacts(apparmor_restrict_unprivileged_userns=1), "apparmor"),
    ],
)
def test_no_user_namespaces_refuses_unless_the_operator_accepts(
    facts: KernelFacts, words: str
) -> None:
    with pytest.raises(SandboxUnavailable, match="MEETBOT_CHROMIUM_NO_SANDBOX=1") as raised:
        choose(euid=0, user="nobody", run_as=NOBODY, facts=facts, allow_unsandboxed=False)
    assert words in str(raised.value)
    sandbox = choose(euid=0, user="nobody", run_as=NOBODY, facts=facts, allow_unsandboxed=True)
    assert not sandbox.sandboxed
    assert sandbox.flags == NO_SANDBOX_FLAGS
    assert sandbox.run_as == NOBODY  # still not root
    assert words in sandbox.describe()


def test_a_missing_or_root_user_is_no_sandbox() -> None:
    with pytest.raises(SandboxUnavailable, match="no user 'ghost'"):
        choose(euid=0, user="ghost", run_as=None, facts=OPEN, allow_unsandboxed=False)
    with pytest.raises(SandboxUnavailable, match="is root"):
        choose(euid=0, user="root", run_as=RunAs("root", 0, 0), facts=OPEN, allow_unsandboxed=False)
    sandbox = choose(
        euid=0, user="root", run_as=RunAs("root", 0, 0), facts=OPEN, allow_unsandboxed=True
    )
    assert (sandbox.sandboxed, sandbox.run_as) == (False, None)


def test_kernel_facts_read_the_sysctls(tmp_path: Path) -> None:
    (tmp_path / "kernel").mkdir()
    (tmp_path / "user").mkdir()
    (tmp_path / "kernel" / "unprivileged_userns_clone").write_text("0\n")
    (tmp_path / "user" / "max_user_namespaces").write_text("15000\n")
    assert kernel_facts(tmp_path) == KernelFacts(0, 15000, None)


def test_a_renamed_chromium_child_command_line_is_split(tmp_path: Path) -> None:
    (tmp_path / "7").mkdir()
    (tmp_path / "7" / "cmdline").write_bytes(b"/usr/lib/chromium/chromium --type=renderer\0")
    assert command_line(7, tmp_path) == ["/usr/lib/chromium/chromium", "--type=renderer"]
    assert command_line(8, tmp_path) == []


def test_the_doctor_says_when_the_sandbox_cannot_work(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the doctor drops to MEETBOT_CHROMIUM_USER only as root")
    out = io.StringIO()
    url = "https://meet.google.com/abc-defg-hij"
    code = run_doctor(url, out_dir=tmp_path, out=out, chromium_user="no-such-user-meetbot")
    assert code == 2
    assert "sandbox cannot work" in out.getvalue()
