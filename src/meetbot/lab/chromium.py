"""Chromium settings that work in the lab, and page scripts to observe WebRTC media.

Launch with ``executable_path`` = ``/usr/bin/chromium`` from a process already inside the
namespace, or = :attr:`meetbot.lab.Lab.chromium_executable` (a wrapper that enters it) from
anywhere. Never ``playwright install``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

CHROMIUM: Final = "/usr/bin/chromium"

FLAGS: Final = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--use-fake-ui-for-media-stream",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--no-first-run",
    "--disable-quic",
    "--autoplay-policy=no-user-gesture-required",
    "--allow-loopback-in-peer-connection",
)
"""For every browser in the lab (participants and bots)."""


def fake_capture_flags(wav: Path | None) -> list[str]:
    """Flags for a publishing participant: a fake camera, and ``wav`` (48 kHz mono, played once,
    silence after its end) as the microphone. ``None`` keeps Chromium's fake microphone, which
    beeps; for a silent one pass a file from :func:`meetbot.lab.speech.make_silence`."""
    flags = ["--use-fake-device-for-media-stream"]
    if wav is not None:
        flags.append(f"--use-file-for-fake-audio-capture={wav}%noloop")
    return flags


PC_TRACKER_JS: Final = """
(() => {
  if (window.__mbPCs) return;
  const Native = window.RTCPeerConnection;
  window.__mbPCs = [];
  function Tracked(...args) {
    const pc = new Native(...args);
    window.__mbPCs.push(pc);
    return pc;
  }
  Tracked.prototype = Native.prototype;
  Object.setPrototypeOf(Tracked, Native);
  window.RTCPeerConnection = Tracked;
})();
"""
"""Init script (add before any page script): remembers every ``RTCPeerConnection``."""

MEDIA_STATS_JS: Final = """
async () => {
  const out = {audio_bytes_received: 0, audio_bytes_sent: 0, inbound_audio_tracks: 0,
               inbound_audio_energy: 0, peer_connections: (window.__mbPCs || []).length};
  for (const pc of window.__mbPCs || []) {
    if (pc.connectionState === 'closed') continue;
    const report = await pc.getStats();
    report.forEach((s) => {
      if (s.kind !== 'audio') return;
      if (s.type === 'inbound-rtp') {
        out.audio_bytes_received += s.bytesReceived || 0;
        out.inbound_audio_tracks += 1;
        out.inbound_audio_energy += s.totalAudioEnergy || 0;
      } else if (s.type === 'outbound-rtp') {
        out.audio_bytes_sent += s.bytesSent || 0;
      }
    });
  }
  return out;
}
"""
"""``page.evaluate(MEDIA_STATS_JS)`` → dict for :meth:`MediaStats.from_json` (needs the tracker)."""


@dataclass(frozen=True, slots=True)
class MediaStats:
    """Audio counters summed over a page's open PeerConnections (``getStats()``)."""

    audio_bytes_received: int
    audio_bytes_sent: int
    inbound_audio_tracks: int
    inbound_audio_energy: float
    """Sum of ``totalAudioEnergy``: grows with what is heard, stays ~0 for silence."""
    peer_connections: int

    @classmethod
    def from_json(cls, data: dict[str, object]) -> MediaStats:
        def num(key: str) -> float:
            value = data.get(key, 0)
            return float(value) if isinstance(value, int | float) else 0.0

        return cls(
            audio_bytes_received=int(num("audio_bytes_received")),
            audio_bytes_sent=int(num("audio_bytes_sent")),
            inbound_audio_tracks=int(num("inbound_audio_tracks")),
            inbound_audio_energy=num("inbound_audio_energy"),
            peer_connections=int(num("peer_connections")),
        )


VIDEO_COLOURS_JS: Final = """
async () => {
  function middle(source, width, height) {
    const canvas = document.createElement('canvas');
    canvas.width = width;
    canvas.height = height;
    const ctx = canvas.getContext('2d');
    ctx.drawImage(source, 0, 0);
    const d = ctx.getImageData(width / 2 - 4, height / 2 - 4, 8, 8).data;
    const rgb = [0, 0, 0];
    for (let i = 0; i < d.length; i += 4) {
      rgb[0] += d[i]; rgb[1] += d[i + 1]; rgb[2] += d[i + 2];
    }
    return rgb.map((v) => Math.round(v / (d.length / 4)));
  }
  const out = [];
  for (const pc of window.__mbPCs || []) {
    if (pc.connectionState === 'closed') continue;
    for (const r of pc.getReceivers()) {
      const track = r.track;
      if (!track || track.kind !== 'video' || track.readyState !== 'live') continue;
      const video = document.createElement('video');
      video.muted = true;
      video.playsInline = true;
      video.style.cssText = 'position:fixed;left:0;top:0;width:64px;height:36px';
      document.body.appendChild(video);
      video.srcObject = new MediaStream([track]);
      video.play().catch(() => {});
      for (let i = 0; i < 30 && !(video.videoWidth > 0); i++) {
        await new Promise((res) => setTimeout(res, 100));
      }
      out.push(video.videoWidth > 0 ? middle(video, video.videoWidth, video.videoHeight) : null);
      video.srcObject = null;
      video.remove();
    }
  }
  return out;
}
"""
"""``page.evaluate(VIDEO_COLOURS_JS)`` → the mean RGB of the middle of one frame of each remote
video track the page receives (``None`` for a track with no frame in 3 s; needs the tracker)."""
