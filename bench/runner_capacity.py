"""How many bots this machine holds in one meeting: memory, CPU, and recording without gaps.

Needs root (the Janus meeting lab, ``meetbot.lab``). Starts the lab and `meetbot serve` with the
local launcher (warm pool of 1, MEETBOT_MAX_CONCURRENT_BOTS = bots + 1), puts ONE speaking
participant in one Janus room (espeak-ng sentences, long enough for the whole run), then adds
bots to that room one at a time (``--bots``, default 8). After each bot is ``recording`` it
measures, over ``--window`` seconds:

- per runner process tree (the runner, its Playwright driver, Chromium and all of Chromium's
  children): PSS (psutil ``memory_full_info().pss``, summed over the tree) and CPU % of one
  core (CPU time consumed in the window ÷ window), sampled at the window's end;
- per bot, the audio chunk files that arrived in the window (1.5 s each, so expected ≈
  window ÷ 1.5), whether the sequence numbers since the start have holes, ``behind``: how far
  the audio written so far trails the wall time since ``recording`` (taken at the newest
  chunk's write time; a constant second or so when the bot keeps up), ``drift``: how much
  ``behind`` grew during the window per second of it, and what the bot heard in the window:
  the share of chunks louder than -50 dBFS (speech with pauses gives most of them; 0 means the
  bot hears nothing) and the loudest chunk;
- machine: CPU busy % over the window, load average, free memory;
- per bot, by kind of process (python runner, node driver, chromium browser, renderer, gpu,
  zygote, utility:network/audio/storage...): mean PSS and CPU, to see where they go.

A bot "holds" when it is still ``recording``, wrote at least 90 % of the expected chunks in
the window (less one, for the chunk boundaries), has no holes, its ``drift`` in the window is
at most ``--max-drift`` (5 %) and it is at most ``--max-behind`` s (5) behind. The last two
are the ones that bite on a starved CPU: the chunk sequence stays whole while the audio falls
behind the wall clock, mostly while another bot's browser starts. What a bot heard is
reported, not judged. The run stops adding bots at the first step where some bot does not
hold, and reports the most bots held.

    sudo .venv/bin/python bench/runner_capacity.py [--bots 8] [--window 30]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil

from meetbot.lab import MEETING_HOSTS, Lab, make_speech, problems
from meetbot.lab.serve import Server, start_server

CHUNK_S = 1.5
HOLD_RATIO = 0.9
BOT_NAME = "Bench"
SENTENCES = [
    "Good morning everyone and thank you for joining the weekly planning meeting.",
    "Please send the quarterly report to the finance team before Friday.",
    "We agreed to review the budget together after lunch.",
    "The design team will share the new mockups with the customers next week.",
    "Can someone take notes and post them in the project channel?",
    "I think we should move the release until the testing is complete.",
    "Our main goal this month is to reduce the waiting time for support tickets.",
    "Maria will contact the vendor about the delayed shipment.",
]


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def drain_output(server: Server) -> None:
    """Keep reading the server's output so its pipe never fills and blocks it."""

    def pump() -> None:
        assert server.proc is not None
        assert server.proc.stdout is not None
        for line in server.proc.stdout:
            server.output.append(line.rstrip())

    threading.Thread(target=pump, daemon=True).start()


def runner_records(data_dir: Path) -> list[dict[str, Any]]:
    found = []
    for path in (data_dir / "runners").glob("[0-9]*.json"):
        with contextlib.suppress(OSError, ValueError):
            found.append(json.loads(path.read_text()))
    return found


def kill_leftover_runners(data_dir: Path) -> None:
    """Runners outlive the control plane by design; end the ones this benchmark started."""
    records = runner_records(data_dir)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = []
        for r in records:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(r["pid"], sig)
                alive.append(r)
        if not alive:
            return
        time.sleep(3)


# --- process trees --------------------------------------------------------------------------


def tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def cpu_seconds(procs: list[psutil.Process]) -> dict[int, float]:
    out = {}
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            t = p.cpu_times()
            out[p.pid] = t.user + t.system
    return out


def kind(p: psutil.Process) -> str:
    """What a process of a runner's tree is: python, node, chromium (the browser process),
    renderer, gpu, zygote, utility:<sub-type> (network, audio, storage...), other."""
    try:
        cmd = p.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return "gone"
    if not cmd:
        return "other"
    exe = Path(cmd[0]).name
    if exe.startswith("python"):
        return "python"
    if exe == "node":
        return "node"
    ptype = next((a.split("=", 1)[1] for a in cmd if a.startswith("--type=")), None)
    if ptype is None:
        return "chromium" if "chrom" in exe else exe
    if ptype == "utility":
        sub = next((a.split("=", 1)[1] for a in cmd if a.startswith("--utility-sub-type=")), "")
        return "utility:" + sub.rsplit(".", 1)[-1].removesuffix("Service").lower()
    return ptype.removesuffix("-process")


def by_kind(
    procs: list[psutil.Process],
    cpu0: dict[int, float],
    cpu1: dict[int, float],
    wall: float,
    into: dict[str, list[float]],
) -> None:
    """Add each process's PSS (MiB) and CPU (% of a core in the window) to ``into[kind]``."""
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            pss = p.memory_full_info().pss / 2**20
            cpu = (cpu1.get(p.pid, 0.0) - cpu0.get(p.pid, 0.0)) / wall * 100
            row = into.setdefault(kind(p), [0.0, 0.0, 0.0])
            row[0] += pss
            row[1] += cpu
            row[2] += 1


def pss_mib(procs: list[psutil.Process]) -> tuple[float, float, int]:
    """(PSS, USS) in MiB summed over ``procs``, and how many processes were read."""
    pss = uss = 0
    n = 0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            info = p.memory_full_info()
            pss += info.pss
            uss += info.uss
            n += 1
    return pss / 2**20, uss / 2**20, n


# --- chunks ---------------------------------------------------------------------------------


def chunk_seqs(data_dir: Path, bot_id: str) -> list[int]:
    folder = data_dir / "media" / "bots" / bot_id / "chunks"
    return sorted(int(p.stem) for p in folder.glob("*.pcm") if p.stem.isdigit())


def behind_at(data_dir: Path, bot_id: str, recording_at: float) -> tuple[float, float]:
    """``(when, behind)``: when the newest chunk file was written, and by how much the audio
    written up to then (16 kHz mono s16le, from the files' sizes) trails the wall time since
    ``recording``. Taking the newest chunk's write time as "now" removes the 1.5 s sawtooth of
    whole chunks."""
    folder = data_dir / "media" / "bots" / bot_id / "chunks"
    total, newest = 0, recording_at
    for path in folder.glob("*.pcm"):
        with contextlib.suppress(OSError):
            st = path.stat()
            total += st.st_size
            newest = max(newest, st.st_mtime)
    return newest, newest - recording_at - total / 32_000


def recording_at(bot: dict[str, Any]) -> float:
    for change in bot["status_changes"]:
        if change["status"] == "recording":
            return datetime.fromisoformat(change["at"].replace("Z", "+00:00")).timestamp()
    return time.time()


def chunk_dbfs(data_dir: Path, bot_id: str, seq: int) -> float:
    """Loudness of one chunk (RMS, dBFS); ``-inf`` when unreadable or digital silence."""
    path = data_dir / "media" / "bots" / bot_id / "chunks" / f"{seq:08d}.pcm"
    try:
        data = path.read_bytes()
    except OSError:
        return float("-inf")
    samples = np.frombuffer(data[: len(data) - len(data) % 2], dtype="<i2").astype(np.float64)
    if samples.size == 0:
        return float("-inf")
    rms = math.sqrt(float(np.mean(np.square(samples / 32768.0))))
    return 20 * math.log10(rms) if rms > 0 else float("-inf")


def heard(data_dir: Path, bot_id: str, seqs: list[int]) -> tuple[float, float]:
    """Over ``seqs``: the share of chunks louder than -50 dBFS, and the loudest chunk (dBFS)."""
    levels = [chunk_dbfs(data_dir, bot_id, seq) for seq in seqs]
    if not levels:
        return 0.0, float("-inf")
    return sum(level > -50 for level in levels) / len(levels), max(levels)


# --- the run --------------------------------------------------------------------------------


@dataclass
class BotRun:
    id: str
    pid: int | None = None


def add_bot(api: httpx.Client, url: str, data_dir: Path, timeout: float = 180) -> BotRun | None:
    body = {
        "meeting_url": url,
        "bot_name": BOT_NAME,
        "stop_options": {"last_person_detection": 0, "silence_detection": 0},
    }
    deadline = time.monotonic() + timeout
    while True:  # 507 while the warm pool refills
        r = api.post("/api/v1/bot/", json=body)
        if r.status_code == 201:
            break
        if r.status_code != 507 or time.monotonic() > deadline:
            print(f"POST {r.status_code}: {r.text[:300]}")
            return None
        time.sleep(0.25)
    bot = BotRun(r.json()["id"])
    while time.monotonic() < deadline:
        status = api.get(f"/api/v1/bot/{bot.id}/").json()["status"]
        if status == "recording":
            break
        if status not in ("booting", "joining"):
            print(f"bot {bot.id} ended {status} before recording")
            return None
        time.sleep(0.2)
    else:
        print(f"bot {bot.id} not recording after {timeout:.0f}s")
        return None
    for record in runner_records(data_dir):
        if record.get("bot_id") == bot.id:
            bot.pid = record["pid"]
    return bot


def measure(
    api: httpx.Client,
    data_dir: Path,
    bots: list[BotRun],
    window: float,
    max_behind: float,
    max_drift: float,
) -> bool:
    # The window's two snapshots (CPU times, chunks, lag) are taken for every bot at once,
    # before and after anything slow (API calls, PSS from smaps): on a loaded machine reading
    # bot by bot would stretch each later bot's window.
    rec_at = {b.id: recording_at(api.get(f"/api/v1/bot/{b.id}/").json()) for b in bots}
    procs = {b.id: tree(b.pid) for b in bots if b.pid}
    psutil.cpu_percent()
    t0 = time.monotonic()
    cpu0 = {bid: cpu_seconds(p) for bid, p in procs.items()}
    seq0 = {b.id: chunk_seqs(data_dir, b.id) for b in bots}
    lag0 = {b.id: behind_at(data_dir, b.id, rec_at[b.id]) for b in bots}
    time.sleep(window)
    machine_cpu = psutil.cpu_percent()
    now_procs_of = {b.id: tree(b.pid) if b.pid else [] for b in bots}
    cpu1_of = {bid: cpu_seconds(p) for bid, p in now_procs_of.items()}
    seqs_of = {b.id: chunk_seqs(data_dir, b.id) for b in bots}
    lag1 = {b.id: behind_at(data_dir, b.id, rec_at[b.id]) for b in bots}
    wall = time.monotonic() - t0
    held = 0
    rows = []
    total_pss = total_cpu = 0.0
    worst = 0.0
    kinds: dict[str, list[float]] = {}
    for i, b in enumerate(bots):
        status = api.get(f"/api/v1/bot/{b.id}/").json()["status"]
        seqs = seqs_of[b.id]
        (w0, behind0), (w1, behind) = lag0[b.id], lag1[b.id]
        drift = (behind - behind0) / (w1 - w0) if w1 > w0 else float("inf")
        worst = max(worst, behind)
        new = len(seqs) - len(seq0[b.id])
        expected = wall / CHUNK_S
        holes = (seqs[-1] + 1 - len(seqs)) if seqs else 0
        now_procs, cpu1 = now_procs_of[b.id], cpu1_of[b.id]
        used = sum(v - cpu0.get(b.id, {}).get(pid, 0.0) for pid, v in cpu1.items())
        cpu = used / wall * 100
        pss, uss, n = pss_mib(now_procs)
        by_kind(now_procs, cpu0.get(b.id, {}), cpu1, wall, kinds)
        total_pss += pss
        total_cpu += cpu
        ok = (
            status == "recording"
            and new >= HOLD_RATIO * expected - 1
            and holes == 0
            and drift <= max_drift
            and behind <= max_behind
        )
        loud, peak = heard(data_dir, b.id, [q for q in seqs if q not in set(seq0[b.id])])
        held += ok
        rows.append(
            f"  bot {i + 1}: {status:<9} chunks {new:3d}/{expected:4.1f} holes={holes} "
            f"behind={behind:4.1f}s drift={drift:+5.0%} "
            f"heard={loud:4.0%} peak={peak:6.1f}dBFS procs={n:2d} "
            f"PSS={pss:5.0f}MiB USS={uss:5.0f}MiB CPU={cpu:5.1f}% {'ok' if ok else 'NOT HELD'}"
        )
    mem = psutil.virtual_memory()
    print(
        f"{len(bots)} bots: {held} held; worst behind={worst:.1f}s; runners total "
        f"PSS={total_pss:.0f}MiB CPU={total_cpu:.0f}% of a core; machine CPU busy="
        f"{machine_cpu:.0f}% load={load()} available={mem.available / 2**30:.1f}GiB",
        flush=True,
    )
    print("\n".join(rows), flush=True)
    per_bot = ", ".join(
        f"{k} {v[0] / len(bots):.0f}MiB/{v[1] / len(bots):.1f}%"
        + (f" (x{v[2] / len(bots):.0f})" if v[2] > len(bots) else "")
        for k, v in sorted(kinds.items(), key=lambda kv: -kv[1][0])
    )
    print(f"  per bot by process (PSS/CPU of a core): {per_bot}", flush=True)
    return held == len(bots)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bots", type=int, default=8)
    parser.add_argument("--window", type=float, default=30.0, help="seconds measured per step")
    parser.add_argument(
        "--max-behind", type=float, default=5.0, help="audio behind wall time a bot may be (s)"
    )
    parser.add_argument(
        "--max-drift",
        type=float,
        default=0.05,
        help="how much faster than audio the wall clock may run during the window (0.05 = 5 %%)",
    )
    args = parser.parse_args()
    if found := problems():
        raise SystemExit("the meeting lab cannot start here: " + "; ".join(found))
    print(f"date={datetime.now(UTC).isoformat(timespec='seconds')} cpus={os.cpu_count()}")
    print(f"load before={load()} memory total={psutil.virtual_memory().total / 2**30:.1f}GiB")
    with tempfile.TemporaryDirectory(prefix="mb-bench-cap-") as tmp, Lab.start() as lab:
        workdir = Path(tmp)
        data_dir = workdir / "data"
        env = {
            "MEETBOT_LAUNCHER": "local",
            **lab.chromium_settings,
            "MEETBOT_SELF_HOSTED_MEETING_HOSTS": MEETING_HOSTS,
            "MEETBOT_ADHOC_POOL_SIZE": "1",
            "MEETBOT_MAX_CONCURRENT_BOTS": str(args.bots + 1),
            "MEETBOT_DEFAULT_TRANSCRIPTION_MODEL": "none",
            "MEETBOT_LOG_LEVEL": "warning",
        }
        # Long enough for every step: joining (~15 s each under load) plus the window.
        need = args.bots * (args.window + 40) + 60
        sentences = SENTENCES * max(1, math.ceil(need / 35))
        speech = make_speech(sentences, workdir / "talk.wav", lead_s=1.0)
        print(f"speaker: {speech.duration_s:.0f}s of espeak-ng speech")
        room = lab.new_room()
        lab.add_participant(room, "alice", wav=speech.path, timeout=60)
        server = start_server(data_dir, env)
        drain_output(server)
        bots: list[BotRun] = []
        most = 0
        try:
            headers = {"Authorization": f"Token {server.first_key()}"}
            with httpx.Client(base_url=server.url, headers=headers, timeout=30) as api:
                for _ in range(args.bots):
                    began = time.monotonic()
                    bot = add_bot(api, lab.room_url(room), data_dir)
                    if bot is None:
                        break
                    bots.append(bot)
                    print(
                        f"\nbot {len(bots)} recording {time.monotonic() - began:.1f}s after "
                        f"its first POST (runner pid {bot.pid})",
                        flush=True,
                    )
                    if not measure(
                        api, data_dir, bots, args.window, args.max_behind, args.max_drift
                    ):
                        break
                    most = len(bots)
                in_room = [p.display or "?" for p in lab.host.list_participants(room)]
                print(f"\nJanus room lists {len(in_room)} participants: {sorted(in_room)}")
                for bot in bots:
                    with contextlib.suppress(httpx.HTTPError):
                        api.post(f"/api/v1/bot/{bot.id}/leave_call/")
        finally:
            server.stop()
            kill_leftover_runners(data_dir)
    print(f"\nmost bots held: {most} of {args.bots} tried (window {args.window:g}s each step)")
    print(f"load after={load()}")


if __name__ == "__main__":
    main()
