"""Launchers: where runner processes come from (:class:`meetbot.ports.Launcher`).

``local``: subprocesses on this machine with a warm pool (:class:`LocalLauncher`). Later:
a worker fleet, Kubernetes.
"""

from __future__ import annotations

from meetbot.control.launchers.local import EXIT_UNKNOWN, LaunchError, LocalLauncher
from meetbot.control.launchers.warm_pool import PoolState

__all__ = ["EXIT_UNKNOWN", "LaunchError", "LocalLauncher", "PoolState"]
