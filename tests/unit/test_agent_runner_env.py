"""An agent's runners get the same runner settings as the single-machine launcher's (a fleet
bug: the agent's copy of the list missed the Chromium sandbox user and the log format, so its
runners ran the lab's Chromium as ``nobody`` and could not enter the lab's namespace)."""

from __future__ import annotations

from meetbot.agent.processes import RUNNER_SETTINGS, runner_environment
from meetbot.config import Settings
from meetbot.control.launchers.runner_env import settings_environment


def test_the_agent_passes_every_setting_a_runner_reads() -> None:
    assert set(RUNNER_SETTINGS) == set(settings_environment(Settings()))


def test_an_empty_chromium_user_reaches_the_runner_and_the_token_does_not() -> None:
    env = runner_environment(
        {"MEETBOT_CHROMIUM_USER": "", "MEETBOT_AGENT_TOKEN": "secret", "PATH": "/usr/bin"}
    )
    assert env == {"MEETBOT_CHROMIUM_USER": "", "PATH": "/usr/bin"}
