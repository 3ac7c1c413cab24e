"""The meeting lab: a real Janus VideoRoom meeting on this machine, for e2e tests and demos.

Needs root and Debian's ``janus``, ``janus-demos``, ``chromium``, ``espeak-ng``, ``sox``,
``iproute2`` (see :func:`problems`). Nothing leaves the machine: everything lives in a private
network namespace with no route out.

Use::

    from meetbot.lab import Lab, make_speech

    with Lab.start() as lab:                       # ~1 s
        room = lab.new_room()                      # or lab.host.create_room(1234, allowed=[...])
        speech = make_speech(["Hello there."], lab.workdir / "hello.wav")
        alice = lab.add_participant(room, "alice", wav=speech.path)   # joined when it returns
        lab.host.list_participants(room)           # [RoomParticipant(id=..., display="alice", ...)]
        lab.host.kick(room, alice.wait_joined())
        lab.host.destroy(room)
    # participants, web server, Janus, namespace, workdir: all gone

Who reaches what (the one design decision that matters):

- **Browsers must run inside the namespace** (Janus gathers ICE candidates only on its
  ``veth0``, 127.0.1.1). Inside, the room page is ``lab.room_url(room)``
  (``http://127.0.0.1:8000/videoroomtest.html?room=N``) and Janus REST is ``lab.janus_url``
  (``http://127.0.0.1:8088/janus``); those addresses mean nothing outside.
- **Everything else stays in the host namespace**, on the host's loopback: the test process,
  ``meetbot serve``, runners, storage. A runner puts only its Chromium in the lab by launching
  ``lab.chromium_executable`` — a wrapper script ``exec ip netns exec NAME setpriv ...
  /usr/bin/chromium "$@"`` that runs Chromium as ``nobody``, in its sandbox — as Playwright's
  ``executable_path`` (``MEETBOT_CHROMIUM_PATH``, with ``MEETBOT_CHROMIUM_USER=""``: the
  wrapper switches user itself, after entering the namespace; both in
  ``lab.chromium_settings``). Playwright talks to the
  browser over inherited pipes, which ``ip netns exec`` keeps (it execs, never forks), so the
  runner still reports to the control plane on 127.0.0.1 while its browser sits in the meeting.
- **The host** (:class:`JanusHost`, ``lab.host``) talks to Janus's REST API from the host
  namespace through ``lab.janus.socket_path``, a Unix socket that a tiny forwarder inside the
  namespace bridges to 127.0.0.1:8088 (filesystem Unix sockets are not network-namespaced). A
  fresh Janus session per call: no keepalive. From a shell:
  ``curl --unix-socket WORKDIR/janus-http.sock http://janus/janus/info``.
- Anything else that must be inside: prefix its command with ``lab.exec_prefix``
  (``["ip", "netns", "exec", NAME]``). Participants are such processes
  (``python -m meetbot.lab.browser``), so the people in a meeting need no Playwright in the
  test process; display names are letters and digits only (the demo page's rule).

The API is blocking (fast; the slow calls are ``Lab.start`` and ``add_participant``, which
returns once the participant is in the room and its audio flows: ~3-4 s, 7-8 s on a loaded
2-core machine); from async tests wrap those two in ``asyncio.to_thread``. One ``Lab`` per
pytest session is the intended use (see ``tests/e2e/conftest.py``): give each test its own room
via :meth:`Lab.new_room`.

A crashed run leaves a namespace ``mb-<pid>-<n>``; the next ``Lab.start`` deletes every such
namespace whose pid is gone, killing what still runs inside, and its workdir.
"""

from __future__ import annotations

import atexit
import itertools
import os
import secrets
import shutil
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from meetbot.lab.chromium import CHROMIUM, FLAGS, MEDIA_STATS_JS, PC_TRACKER_JS, MediaStats
from meetbot.lab.host import JanusError, JanusHost, RoomParticipant
from meetbot.lab.janus import JanusServer
from meetbot.lab.netns import Netns, cleanup_stale, workdir_for
from meetbot.lab.participant import Participant, ParticipantError
from meetbot.lab.speech import Sentence, Speech, make_silence, make_speech
from meetbot.lab.web import DemoSite

__all__ = [
    "CHROMIUM",
    "FLAGS",
    "MEDIA_STATS_JS",
    "MEETING_HOSTS",
    "PC_TRACKER_JS",
    "JanusError",
    "JanusHost",
    "Lab",
    "MediaStats",
    "Participant",
    "ParticipantError",
    "RoomParticipant",
    "Sentence",
    "Speech",
    "cleanup_stale",
    "make_silence",
    "make_speech",
    "problems",
]

MEETING_HOSTS = "127.0.0.1,127.0.1.1"
"""``MEETBOT_SELF_HOSTED_MEETING_HOSTS`` for lab rooms: the room page (:8000) and Janus REST
(:8088) are on 127.0.0.1 inside the namespace, Janus's ICE candidates on 127.0.1.1 (the bot's
WebRTC may reach only allowed hosts among private addresses: ``runner/ice_filter.py``)."""

NOBODY = 65534
"""The uid and gid the bots' Chromium runs as in the lab."""

_TOOLS = ("ip", "janus", "chromium", "espeak-ng", "sox", "setpriv")


def problems() -> list[str]:
    """Why a lab cannot start here (empty when it can). Root comes first."""
    found = [] if os.geteuid() == 0 else ["needs root (network namespaces)"]
    found += [f"{tool} not installed" for tool in _TOOLS if shutil.which(tool) is None]
    if not Path("/usr/share/janus/demos/videoroomtest.html").exists():
        found.append("janus-demos not installed")
    return found


class Lab:
    """A running lab. Build with :meth:`start`; close with ``with`` or :meth:`close`."""

    def __init__(self, netns: Netns, workdir: Path, stack: ExitStack, keep_workdir: bool) -> None:
        self.netns = netns
        self.workdir = workdir
        self._stack = stack
        self._keep_workdir = keep_workdir
        self._rooms = itertools.count(1000)
        self._participants: list[Participant] = []
        self.janus: JanusServer
        self.site: DemoSite
        self.host: JanusHost
        self.chromium_executable: Path
        self.silence_wav: Path

    @classmethod
    def start(cls, *, workdir: Path | None = None, keep_workdir: bool = False) -> Lab:
        """Namespace, Janus, demo web server; returns when all answer (about 1 s)."""
        if found := problems():
            raise RuntimeError("meeting lab unavailable: " + "; ".join(found))
        with ExitStack() as stack:
            netns = Netns.create()
            stack.callback(netns.close)
            wd = workdir or workdir_for(netns.name)
            wd.mkdir(parents=True, exist_ok=True)
            lab = cls(netns, wd, stack, keep_workdir)
            stack.callback(lab._teardown)
            lab.janus = JanusServer.start(netns, wd, secrets.token_hex(8))
            stack.callback(lab.janus.stop)
            lab.site = DemoSite.start(netns, wd, lab.janus.config.url)
            stack.callback(lab.site.stop)
            lab.host = lab.janus.host()
            lab.chromium_executable = netns.wrap_executable(
                CHROMIUM, wd / "chromium-in-lab", run_as=(NOBODY, NOBODY)
            )
            lab.silence_wav = make_silence(wd / "silence.wav", 1.0)
            stack.callback(lab._close_participants)
            lab._stack = stack.pop_all()
        atexit.register(lab.close)
        return lab

    @property
    def exec_prefix(self) -> list[str]:
        """Prefix for a command that must run inside the namespace."""
        return self.netns.exec_prefix

    @property
    def chromium_settings(self) -> dict[str, str]:
        """The settings that put a runner's Chromium in the lab (as ``nobody``, sandboxed)."""
        return {"MEETBOT_CHROMIUM_PATH": str(self.chromium_executable), "MEETBOT_CHROMIUM_USER": ""}

    @property
    def janus_url(self) -> str:
        """Janus REST, as reachable from inside the namespace."""
        return self.janus.config.url

    def room_url(self, room: int, *, multi: bool = False, subscriber: bool = False) -> str:
        """The demo page for ``room`` (reachable from inside); ``multi``: one PeerConnection
        with many tracks (``mvideoroomtest.html``); ``subscriber``: join without publishing."""
        return self.site.room_url(room, multi=multi, subscriber=subscriber)

    def new_room(self, **options: Any) -> int:
        """Create a room with a fresh number (options as :meth:`JanusHost.create_room`)."""
        room = next(self._rooms)
        while self.host.exists(room):
            room = next(self._rooms)
        self.host.create_room(room, **options)
        return room

    def add_participant(
        self,
        room: int,
        name: str,
        *,
        wav: Path | None = None,
        multi: bool = False,
        subscriber: bool = False,
        wait: bool = True,
        timeout: float = 30.0,
    ) -> Participant:
        """A browser that joins ``room`` as ``name`` (letters and digits) through the demo page.

        ``wav``: what its microphone says, once (48 kHz mono, see :func:`make_speech`); None
        is silence. ``subscriber``: join without publishing. ``wait``: return once joined
        (raises :class:`ParticipantError` with the page's message if it could not); else return
        at once and call :meth:`Participant.wait_joined` later. Closed with the lab.
        """
        n = len(self._participants)
        participant = Participant.launch(
            self.room_url(room, multi=multi, subscriber=subscriber),
            name,
            wav=wav or self.silence_wav,
            exec_prefix=self.exec_prefix,
            log=self.workdir / f"participant-{n}-{name}.log",
            join_timeout=timeout,
        )
        self._participants.append(participant)
        if wait:
            try:
                participant.wait_joined(timeout + 10)
            except BaseException:
                participant.close()
                raise
        return participant

    def _close_participants(self) -> None:
        for participant in self._participants:
            participant.terminate()  # all at once: each browser takes ~1-2 s to close
        for participant in self._participants:
            participant.close()

    def _teardown(self) -> None:
        self.netns.close()  # kills whatever still runs inside
        if not self._keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def close(self) -> None:
        """Stop everything, kill whatever still runs in the namespace, delete it. Idempotent."""
        atexit.unregister(self.close)
        self._stack.close()

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Lab({self.netns.name!r}, workdir={str(self.workdir)!r})"
