"""The audio clock thread of a runner's Chromium is found below the runner and raised."""

from __future__ import annotations

from pathlib import Path

from meetbot.runner.priority import descendants, raise_audio_threads


def _process(proc: Path, pid: int, ppid: int, comm: str, threads: dict[int, str]) -> None:
    d = proc / str(pid)
    (d / "task").mkdir(parents=True)
    (d / "stat").write_text(f"{pid} ({comm}) S {ppid} {pid} {pid} 0 -1 4194560 0 0\n")
    for tid, name in threads.items():
        (d / "task" / str(tid)).mkdir()
        (d / "task" / str(tid) / "comm").write_text(name + "\n")


def fake_proc(tmp_path: Path) -> Path:
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "self").mkdir()  # not a pid: skipped
    _process(proc, 100, 1, "python", {100: "python"})
    _process(proc, 200, 100, "node", {200: "node"})
    # a comm with spaces and a parenthesis must not confuse the stat parser
    _process(proc, 300, 200, "chromium (main)", {300: "chromium", 301: "AudioThread"})
    _process(proc, 400, 300, "chromium", {400: "chromium", 401: "AudioOutputDevi"})
    _process(proc, 500, 1, "chromium", {500: "chromium", 501: "AudioThread"})  # not ours
    return proc


def test_descendants_walks_the_tree_below_root(tmp_path: Path) -> None:
    assert sorted(descendants(100, fake_proc(tmp_path))) == [200, 300, 400]


def test_only_our_audio_clock_threads_are_raised(tmp_path: Path) -> None:
    raised: list[int] = []
    assert raise_audio_threads(100, proc=fake_proc(tmp_path), set_rr=raised.append) == 1
    assert raised == [301]


def test_a_refused_raise_is_skipped(tmp_path: Path) -> None:
    def refuse(tid: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    assert raise_audio_threads(100, proc=fake_proc(tmp_path), set_rr=refuse) == 0
