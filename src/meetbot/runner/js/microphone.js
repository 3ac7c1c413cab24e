// meetbot: the bot's voice as its microphone (issue 16 §2, output_audio). An init script of
// the platforms whose adapter can unmute (runner/voice.py, the `voice` column of
// contract/platforms.py); it comes before camera.js, so camera.js's "getUserMedia below" is
// this one.
//
// Wherever the page asks getUserMedia for audio it gets the same track: an AudioContext's
// MediaStreamDestination the runner plays PCM into (window.__meetbotMic.play). The track is
// disabled (muted: silence is sent) except while a clip plays or streamed-in voice does
// (window.__meetbotMic.feed: 16 kHz PCM scheduled back to back, runner/voice_stream.py). Video, if asked too, comes from
// the getUserMedia below (the browser's), or from a black canvas when that has no camera (a
// page that publishes audio only with video, like the Janus demo, still publishes).
// The bot's own output is local: it never arrives as a remote track, so the recorder (which
// records remote tracks only) neither records nor transcribes it.
(() => {
  "use strict";
  const md = navigator.mediaDevices;
  if (window.__meetbotMic || !md || typeof md.getUserMedia !== "function") return;
  const RATE = 48000;
  const st = { ctx: null, dest: null, gain: null, source: null, playing: null, ended: [],
    tracks: 0, played: 0, errors: [], streaming: false, next: 0, fed: 0 };
  const STREAM_RATE = 16000; // streamed-in voice (contract/voice_in.py): 16 kHz mono s16le
  const STREAM_CUSHION = 0.04; // seconds ahead a stream (re)starts, against arrival jitter

  function context() {
    if (!st.ctx) {
      st.ctx = new AudioContext({ sampleRate: RATE });
      st.dest = st.ctx.createMediaStreamDestination();
      st.gain = st.ctx.createGain();
      st.gain.connect(st.dest);
      setEnabled(false);
    }
    if (st.ctx.state === "suspended") st.ctx.resume();
    return st.ctx;
  }

  function track() {
    context();
    return st.dest.stream.getAudioTracks()[0];
  }

  function setEnabled(on) {
    if (st.dest) for (const t of st.dest.stream.getAudioTracks()) t.enabled = on;
  }

  function decode(b64) {
    const bin = atob(b64);
    const n = bin.length >> 1;
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      let v = bin.charCodeAt(2 * i) | (bin.charCodeAt(2 * i + 1) << 8);
      if (v >= 0x8000) v -= 0x10000;
      out[i] = v / 32768;
    }
    return out;
  }

  // Play a clip (48 kHz mono s16le PCM as base64) at once, instead of what plays.
  function play(id, b64) {
    const ctx = context();
    stop();
    const samples = decode(b64);
    const buffer = ctx.createBuffer(1, Math.max(1, samples.length), RATE);
    buffer.copyToChannel(samples, 0);
    const source = ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(st.gain);
    source.onended = () => {
      if (st.source !== source) return;
      st.source = null;
      st.playing = null;
      st.ended.push(id);
      setEnabled(st.streaming);
    };
    st.source = source;
    st.playing = id;
    setEnabled(true);
    source.start();
    st.played++;
    return true;
  }

  // Stop what plays (it is not reported ended: the runner stopped it).
  function stop() {
    const source = st.source;
    st.source = null;
    st.playing = null;
    if (source) {
      try { source.stop(); } catch (e) { st.errors.push(String(e)); }
    }
    setEnabled(st.streaming);
    return true;
  }

  // Streamed-in voice (runner/voice_stream.py): 16 kHz PCM as base64, scheduled right after
  // what was fed before (or at once, after an underrun). The track is on while streaming.
  // Answers how many seconds are scheduled ahead of now.
  function feed(b64) {
    const ctx = context();
    const samples = decode(b64);
    if (!st.streaming) {
      st.streaming = true;
      setEnabled(true);
    }
    if (samples.length) {
      const buffer = ctx.createBuffer(1, samples.length, STREAM_RATE);
      buffer.copyToChannel(samples, 0);
      const source = ctx.createBufferSource();
      source.buffer = buffer;
      source.connect(st.gain);
      const at = Math.max(st.next, ctx.currentTime + STREAM_CUSHION);
      source.start(at);
      st.next = at + buffer.duration;
      st.fed += samples.length;
    }
    return Math.max(0, st.next - ctx.currentTime);
  }

  // The stream is over (what was fed has played): the track goes off unless a clip plays.
  function feedEnd() {
    st.streaming = false;
    setEnabled(!!st.source);
    return true;
  }

  function blackVideo() {
    const c = document.createElement("canvas");
    c.width = 320;
    c.height = 180;
    const g = c.getContext("2d");
    const paint = () => { g.fillStyle = "#000"; g.fillRect(0, 0, c.width, c.height); };
    paint();
    setInterval(paint, 500);
    return c.captureStream(2).getVideoTracks()[0];
  }

  const below = md.getUserMedia.bind(md);
  md.getUserMedia = async function getUserMedia(constraints) {
    if (!constraints || !constraints.audio) return below(constraints);
    const stream = new MediaStream();
    stream.addTrack(track());
    st.tracks++;
    if (constraints.video) {
      try {
        for (const t of (await below({ video: constraints.video })).getVideoTracks()) {
          stream.addTrack(t);
        }
      } catch (e) {
        stream.addTrack(blackVideo());
      }
    }
    return stream;
  };

  Object.defineProperty(window, "__meetbotMic", {
    value: Object.freeze({
      play,
      stop,
      feed,
      feedEnd,
      // what plays now, and the clips that ended since the last call
      state: () => ({ playing: st.playing, ended: st.ended.splice(0) }),
      stats: () => ({ tracks: st.tracks, played: st.played, errors: st.errors.slice(-5),
        fed: st.fed, streaming: st.streaming,
        enabled: !!(st.dest && st.dest.stream.getAudioTracks()[0].enabled) }),
    }),
    enumerable: false,
  });
})();
