"""``meetbot doctor`` refuses a URL it cannot use before it starts a browser (exit status 2).

The doctor against real pages in Chromium is in ``tests/e2e/test_platform_adapters.py``.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from meetbot.doctor import run_doctor


async def test_doctor_rejects_an_unusable_url_without_a_browser(tmp_path: Path) -> None:
    out = io.StringIO()
    url = "https://example.com/not-a-meeting"
    assert await asyncio.to_thread(run_doctor, url, out_dir=tmp_path, out=out) == 2
    assert "FAILED: Invalid meeting URL" in out.getvalue()
