"""End-to-end fixtures: one real Janus meeting lab per test session (see ``meetbot.lab``).

The lab needs root (network namespaces). Not root: every e2e test skips, saying so. Root but
a Debian package missing: the tests fail — CI runs as root and must never skip silently.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from meetbot.lab import Lab, problems


@pytest.fixture(scope="session")
def lab_required() -> None:
    """Skip (not root) or fail (root, something missing) when no lab can start here."""
    if os.geteuid() != 0:
        pytest.skip("e2e: the meeting lab needs root (network namespaces); CI runs as root")
    if found := problems():
        pytest.fail("e2e: meeting lab unavailable: " + "; ".join(found))


@pytest.fixture(scope="session")
def lab(lab_required: None) -> Iterator[Lab]:
    """A running lab for the whole session; give each test its own room (``lab.new_room()``)."""
    with Lab.start() as running:
        yield running
