"""Ad-hoc bots across a fleet: POST → ``joining`` over real agents.

Starts a temporary PostgreSQL database, one control plane (``MEETBOT_LAUNCHER=fleet meetbot
serve``) and ``--agents`` agents (``meetbot agent``, ``--simulate`` by default: the real runner
session and report channel, a simulated meeting; ``--real`` for runner processes, which need
Chromium), each with ``--warm`` warm browsers. Then ``--bots`` ad-hoc bots are created one after
another (``--gap`` s apart); per bot: the client's send time → the ``joining`` status change's
``at`` (the control plane's clock; same machine). A 507 (no warm browser offered at that moment)
is counted and the create retried 100 ms later. Each bot stays ``--call`` s in its meeting.

    .venv/bin/python bench/fleet_adhoc.py --agents 3 --bots 60
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "integration")]

from pg_testdb import temporary_database, unavailable_reason  # noqa: E402

from harness.fleet import MEET, Fleet, bot  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, default=3)
    parser.add_argument("--bots", type=int, default=60)
    parser.add_argument("--warm", type=int, default=3)
    parser.add_argument("--gap", type=float, default=0.5, help="seconds between creates")
    parser.add_argument("--call", type=float, default=10.0, help="simulated call length (s)")
    parser.add_argument("--real", action="store_true", help="runner processes (Chromium)")
    args = parser.parse_args()
    if (reason := unavailable_reason()) is not None:
        sys.exit(reason)
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, {vars(args)}")
    settings = {
        "MEETBOT_SIMULATED_CALL_SECONDS": str(args.call),
        "MEETBOT_LOG_LEVEL": "warning",
    }
    with tempfile.TemporaryDirectory() as tmp, temporary_database("meetbot_bench") as url:
        fleet = Fleet(Path(tmp) / "data", url, settings)
        try:
            fleet.replica()
            for n in range(args.agents):
                fleet.agent(f"agent-{n}", slots=args.warm + 20, warm=args.warm,
                            simulate=not args.real)  # fmt: skip
            while sum(a["warm_idle"] > 0 for a in fleet.agents_list()) < args.agents:
                time.sleep(0.2)
            sent: dict[str, datetime] = {}
            answered: list[float] = []
            refused = 0
            with fleet.client() as http:
                for _ in range(args.bots):
                    while True:
                        at = datetime.now(UTC)
                        r = http.post("/api/v1/bot/", json={"meeting_url": MEET})
                        if r.status_code == 201:
                            sent[r.json()["id"]] = at
                            answered.append((datetime.now(UTC) - at).total_seconds() * 1000)
                            break
                        refused += 1
                        time.sleep(0.1)
                    time.sleep(args.gap)
                time.sleep(3)
                joins: list[float] = []
                for bot_id, at in sent.items():
                    changes = bot(http, bot_id)["status_changes"]
                    joining = [c["at"] for c in changes if c["status"] == "joining"]
                    if joining:
                        joined = datetime.fromisoformat(joining[0].replace("Z", "+00:00"))
                        joins.append((joined - at).total_seconds() * 1000)
            print(
                f"{len(sent)} ad-hoc bots over {args.agents} agents: POST -> joining "
                f"p50={pct(joins, 0.5):.0f} ms p95={pct(joins, 0.95):.0f} ms "
                f"max={max(joins, default=float('nan')):.0f} ms; not joining: "
                f"{len(sent) - len(joins)}; 507 answers retried: {refused}; the POST's own answer "
                f"p50={pct(answered, 0.5):.0f} ms p95={pct(answered, 0.95):.0f} ms; "
                f"load average {os.getloadavg()[0]:.2f}"
            )
        finally:
            fleet.stop()


if __name__ == "__main__":
    main()
