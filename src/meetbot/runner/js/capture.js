// meetbot audio capture: added before any page script (Playwright init script).
//
// Wraps RTCPeerConnection, takes every remote audio track from its `track` events and mixes
// them in ONE WebAudio graph at 16 kHz mono. An AudioWorklet cuts 250 ms Int16 chunks which
// go to Python through the `__meetbotAudio` binding (base64 strings).
//
// Python drives it: `__meetbotCapture.start()` when admitted (the recording's time origin),
// `await __meetbotCapture.stop()` when leaving (flushes the last partial chunk). Silence is
// emitted while no track plays, so sample counts are the recording's clock.
//
// Lessons (shared/notes/janus-e2e.md): key tracks by the track object (Janus names every track
// `janus0`); attach each remote stream to a muted <audio> element too, or WebAudio may stay
// silent; pull the worklet through a zero-gain node into the destination; with one
// PeerConnection and many tracks a leaving participant's track never fires `ended`.
(() => {
  "use strict";
  if (window.__meetbotCapture || typeof window.RTCPeerConnection !== "function") {
    return;
  }
  const SAMPLE_RATE = 16000;
  const CHUNK_SAMPLES = 4000; // 250 ms
  const NativePC = window.RTCPeerConnection;

  const WORKLET = `
    class MeetbotChunker extends AudioWorkletProcessor {
      constructor() {
        super();
        this.buf = new Float32Array(${CHUNK_SAMPLES});
        this.n = 0;
        this.running = true;
        this.port.onmessage = (e) => {
          if (e.data === "flush") {
            this.emit();
            this.running = false;
            this.port.postMessage("flushed");
          }
        };
      }
      emit() {
        if (this.n === 0) return;
        const out = new Int16Array(this.n);
        for (let i = 0; i < this.n; i++) {
          const s = Math.max(-1, Math.min(1, this.buf[i]));
          out[i] = s < 0 ? s * 0x8000 : s * 0x7fff;
        }
        this.n = 0;
        this.port.postMessage(out.buffer, [out.buffer]);
      }
      process(inputs) {
        if (!this.running) return false;
        const input = inputs[0];
        const ch = input && input.length > 0 ? input[0] : null;
        const frames = ch ? ch.length : 128;
        for (let i = 0; i < frames; i++) {
          this.buf[this.n++] = ch ? ch[i] : 0;
          if (this.n === this.buf.length) this.emit();
        }
        return true;
      }
    }
    registerProcessor("meetbot-chunker", MeetbotChunker);
  `;

  const state = {
    ctx: null,
    mix: null,
    chunker: null,
    mode: null,
    tracks: new Map(), // MediaStreamTrack -> {stream, el, source}
    started: false,
    stopped: false,
    chunks: 0,
    samples: 0, // delivered to Python
    startedAt: 0, // performance.now() at start
    pcs: [],
    pending: new Set(),
    errors: [],
  };

  function b64(buffer) {
    const bytes = new Uint8Array(buffer);
    let s = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(s);
  }

  function deliver(buffer) {
    if (state.stopped || typeof window.__meetbotAudio !== "function") return;
    state.chunks++;
    state.samples += buffer.byteLength / 2;
    const p = Promise.resolve(window.__meetbotAudio(b64(buffer))).catch((e) => {
      state.errors.push(String(e));
    });
    state.pending.add(p);
    p.finally(() => state.pending.delete(p));
  }

  function connect(track, entry) {
    if (!state.ctx || entry.source) return;
    try {
      entry.source = state.ctx.createMediaStreamSource(entry.stream);
      entry.source.connect(state.mix);
    } catch (e) {
      state.errors.push(String(e));
    }
  }

  function addTrack(track) {
    if (track.kind !== "audio" || state.tracks.has(track)) return;
    const stream = new MediaStream([track]);
    const el = document.createElement("audio");
    el.muted = true;
    el.autoplay = true;
    el.srcObject = stream;
    el.play().catch(() => {});
    const entry = { stream, el, source: null };
    state.tracks.set(track, entry);
    track.addEventListener("ended", () => removeTrack(track));
    connect(track, entry);
  }

  function removeTrack(track) {
    const entry = state.tracks.get(track);
    if (!entry) return;
    state.tracks.delete(track);
    if (entry.source) entry.source.disconnect();
    entry.el.srcObject = null;
  }

  class MeetbotPeerConnection extends NativePC {
    constructor(...args) {
      super(...args);
      state.pcs.push(this);
      this.addEventListener("track", (event) => addTrack(event.track));
    }
  }
  window.RTCPeerConnection = MeetbotPeerConnection;
  if (window.webkitRTCPeerConnection) window.webkitRTCPeerConnection = MeetbotPeerConnection;

  // Insecure origins (plain http other than localhost) have no AudioWorklet: fall back to a
  // ScriptProcessorNode that cuts the same 250 ms chunks on the main thread.
  function scriptProcessor(ctx) {
    const node = ctx.createScriptProcessor(4096, 1, 1);
    const buf = new Float32Array(CHUNK_SAMPLES);
    let n = 0;
    const emit = () => {
      if (n === 0) return;
      const out = new Int16Array(n);
      for (let i = 0; i < n; i++) {
        const s = Math.max(-1, Math.min(1, buf[i]));
        out[i] = s < 0 ? s * 0x8000 : s * 0x7fff;
      }
      n = 0;
      deliver(out.buffer);
    };
    node.onaudioprocess = (e) => {
      const ch = e.inputBuffer.getChannelData(0);
      for (let i = 0; i < ch.length; i++) {
        buf[n++] = ch[i];
        if (n === buf.length) emit();
      }
    };
    return { node, flush: async () => emit() };
  }

  async function worklet(ctx) {
    const url = URL.createObjectURL(new Blob([WORKLET], { type: "text/javascript" }));
    try {
      await ctx.audioWorklet.addModule(url);
    } finally {
      URL.revokeObjectURL(url);
    }
    const node = new AudioWorkletNode(ctx, "meetbot-chunker", {
      numberOfInputs: 1,
      numberOfOutputs: 1,
      channelCount: 1,
      channelCountMode: "explicit",
    });
    let flushed = null;
    node.port.onmessage = (e) => {
      if (e.data instanceof ArrayBuffer) deliver(e.data);
      else if (e.data === "flushed" && flushed) flushed();
    };
    const flush = () =>
      new Promise((resolve) => {
        flushed = resolve;
        setTimeout(resolve, 1000);
        node.port.postMessage("flush");
      });
    return { node, flush };
  }

  async function start() {
    if (state.started) return state.ctx !== null && state.ctx.state === "running";
    state.started = true;
    state.startedAt = performance.now();
    try {
      const ctx = new AudioContext({ sampleRate: SAMPLE_RATE, latencyHint: "playback" });
      const chunker = ctx.audioWorklet ? await worklet(ctx) : scriptProcessor(ctx);
      const mix = ctx.createGain();
      mix.channelCount = 1;
      mix.channelCountMode = "explicit";
      mix.channelInterpretation = "speakers";
      const sink = ctx.createGain();
      sink.gain.value = 0;
      mix.connect(chunker.node);
      chunker.node.connect(sink);
      sink.connect(ctx.destination);
      Object.assign(state, { ctx, mix, chunker, mode: ctx.audioWorklet ? "worklet" : "script" });
      if (ctx.state !== "running") await ctx.resume();
      for (const [track, entry] of state.tracks) connect(track, entry);
      return ctx.state === "running";
    } catch (e) {
      state.errors.push(String(e));
      return false;
    }
  }

  async function stop() {
    if (!state.started || state.stopped) return state.chunks;
    if (state.chunker) await state.chunker.flush();
    state.stopped = true;
    await Promise.all([...state.pending]);
    for (const track of [...state.tracks.keys()]) removeTrack(track);
    if (state.ctx) await state.ctx.close().catch(() => {});
    return state.chunks;
  }

  function stats() {
    return {
      started: state.started,
      stopped: state.stopped,
      tracks: state.tracks.size,
      chunks: state.chunks,
      context: state.ctx ? state.ctx.state : null,
      mode: state.mode,
      errors: state.errors.slice(-5),
      samples: state.samples,
      context_time: state.ctx ? state.ctx.currentTime : 0,
      wall_time: state.started ? (performance.now() - state.startedAt) / 1000 : 0,
    };
  }

  // WebRTC's view of the remote audio (inbound-rtp, summed): what arrived and what the jitter
  // buffer did to it (bench/capture_under_load.py)
  async function rtc() {
    const keys = ["packetsReceived", "packetsLost", "totalSamplesReceived", "concealedSamples",
      "silentConcealedSamples", "insertedSamplesForDeceleration",
      "removedSamplesForAcceleration", "jitterBufferDelay", "jitterBufferEmittedCount"];
    const out = Object.fromEntries(keys.map((k) => [k, 0]));
    for (const pc of state.pcs) {
      if (pc.connectionState === "closed") continue;
      const report = await pc.getStats();
      report.forEach((s) => {
        if (s.type !== "inbound-rtp" || s.kind !== "audio") return;
        for (const k of keys) out[k] += s[k] || 0;
      });
    }
    return out;
  }

  Object.defineProperty(window, "__meetbotCapture", {
    value: Object.freeze({ start, stop, stats, rtc }),
    enumerable: false,
  });
})();
