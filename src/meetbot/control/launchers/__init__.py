"""Launchers: where runner processes come from (:class:`meetbot.control.ports.Launcher`).

``local`` (:class:`~meetbot.control.launchers.local.LocalLauncher`): the fleet's code with one
agent in ``meetbot serve``'s process; ``fleet`` (:class:`~.fleet.FleetLauncher`): agents on
runner hosts; ``fake``: :class:`~.simulated.SimulatedLauncher`.
"""

from __future__ import annotations

from meetbot.control.launchers.warm_pool import PoolState

__all__ = ["PoolState"]
