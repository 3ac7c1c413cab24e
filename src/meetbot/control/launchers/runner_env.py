"""What a runner process gets of the control plane's environment: an allow-list, and the
``MEETBOT_*`` settings it reads, given explicitly. Never the database URL, the server secret,
storage or vendor keys: a runner gets what it needs in its assignment (issue 12)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from meetbot.config import Settings

RUNNER_ENV_PASSED: Final = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "PYTHONPATH",
    "LD_LIBRARY_PATH",
    "PLAYWRIGHT_BROWSERS_PATH",
)
"""What a runner gets of the server's environment; its ``MEETBOT_*`` settings are given
explicitly (:func:`settings_environment`). Never the database URL, the server secret,
storage or vendor keys: a runner gets what it needs in its assignment."""


def runner_environment(server: Mapping[str, str], given: Mapping[str, str]) -> dict[str, str]:
    """A runner's environment: :data:`RUNNER_ENV_PASSED` of ``server``'s, plus ``given``."""
    return {**{k: server[k] for k in RUNNER_ENV_PASSED if k in server}, **given}


def settings_environment(settings: Settings) -> dict[str, str]:
    """The ``MEETBOT_*`` settings a runner reads, from the control plane's settings."""
    return {
        "MEETBOT_CHROMIUM_PATH": settings.chromium_path,
        "MEETBOT_CHROMIUM_USER": settings.chromium_user,
        "MEETBOT_CHROMIUM_NO_SANDBOX": "1" if settings.chromium_no_sandbox else "0",
        "MEETBOT_WARM_LEAD": str(settings.warm_lead),
        "MEETBOT_LOG_LEVEL": settings.log_level,
        "MEETBOT_LOG_FORMAT": settings.log_format,
        "MEETBOT_RUNNER_SPOOL_MB": str(settings.runner_spool_mb),
        "MEETBOT_RUNNER_VIDEO_SPOOL_MB": str(settings.runner_video_spool_mb),
    }
