"""The "field absent" sentinel of PATCH objects: ``UNSET`` keeps a value, ``None`` sets null.

A patch dataclass types each field ``T | None | Literal[Unset.UNSET]`` with ``UNSET`` as its
default; the API fills only the fields the request names, and the service reads ``UNSET`` as
"leave it as it is" (see :class:`meetbot.control.service.patches.BotPatch` and
:class:`meetbot.control.service.webhook_endpoints.EndpointPatch`).
"""

from __future__ import annotations

from enum import Enum


class Unset(Enum):
    UNSET = "unset"


UNSET = Unset.UNSET
