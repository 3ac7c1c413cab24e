// meetbot audio capture: added before any page script (Playwright init script).
//
// Wraps RTCPeerConnection and takes every remote audio track from its `track` events. Two
// paths:
// - "rtp" (where RTCRtpScriptTransform and WebCodecs exist: secure origins): a worker taps
//   each audio receiver's encoded frames (passed on unchanged), decodes them (Opus, or RED's
//   primary Opus block) with an AudioDecoder, and hands runs of consecutive 16 kHz samples with
//   the RTP timestamp of their first sample and its arrival time to Python through the
//   `__meetbotFrames` binding; Python mixes them by timestamp (runner/timeline.py). No audio
//   clock of the renderer is involved: a starved renderer skips render periods (audio lost),
//   packets are only delayed (bench/capture_under_load.py).
// - otherwise: ONE WebAudio graph mixes the tracks at 16 kHz mono; an AudioWorklet cuts 250 ms
//   Int16 chunks which go to Python through the `__meetbotAudio` binding (base64 strings).
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

  const RTP_WORKER = `
    "use strict";
    const streams = new Map(); // receiver id + ":" + SSRC -> decoder and the run being built
    let recording = false;
    let seq = 0;
    const now = () => Date.now(); // the wall clock Python compares with
    const fail = (e) => self.postMessage({ error: "rtp: " + String(e) });
    function primary(data, mime) {
      if (mime !== "audio/red") return data;
      // RFC 2198: 4-byte headers (F=1) with block lengths, a 1-byte last header, blocks
      const b = new Uint8Array(data);
      let i = 0;
      let skip = 0;
      while (i + 3 < b.length && b[i] & 0x80) {
        skip += ((b[i + 2] & 0x03) << 8) | b[i + 3];
        i += 4;
      }
      return data.slice(i + 1 + skip);
    }
    function flushRun(key, s) {
      const r = s.run;
      s.run = null;
      if (!r || r.n === 0) return;
      const pcm = r.buf.slice(0, r.n);
      self.postMessage({ key, rtp: r.rtp, at: r.at, pcm: pcm.buffer }, [pcm.buffer]);
    }
    function output(key, s, d) {
      // one output per Opus packet, in order (the decoder makes its own timestamps)
      const info = s.pending.shift();
      const n = d.numberOfFrames;
      const f = new Float32Array(n);
      d.copyTo(f, { planeIndex: 0, format: "f32-planar" });
      d.close();
      if (!info) return;
      const [rtp, at] = info;
      const m = Math.floor(n / 3); // 48 -> 16 kHz: the mean of 3 (a crude low-pass)
      const pcm = new Int16Array(m);
      for (let i = 0; i < m; i++) {
        const v = Math.max(-1, Math.min(1, (f[3 * i] + f[3 * i + 1] + f[3 * i + 2]) / 3));
        pcm[i] = v < 0 ? v * 0x8000 : v * 0x7fff;
      }
      const r = s.run;
      if (r && r.end === rtp && r.n + m <= r.buf.length) {
        r.buf.set(pcm, r.n);
        r.n += m;
        r.end = (rtp + n) >>> 0;
      } else {
        flushRun(key, s);
        s.run = { rtp, at, buf: new Int16Array(${CHUNK_SAMPLES * 2}), n: m, end: (rtp + n) >>> 0 };
        s.run.buf.set(pcm, 0);
      }
      if (s.run.n >= ${CHUNK_SAMPLES}) flushRun(key, s);
    }
    function stream(key) {
      let s = streams.get(key);
      if (s) return s;
      s = { run: null, pending: [] };
      s.decoder = new AudioDecoder({ output: (d) => output(key, s, d), error: fail });
      s.decoder.configure({ codec: "opus", sampleRate: 48000, numberOfChannels: 1 });
      streams.set(key, s);
      return s;
    }
    function tap(id, frame) {
      if (!recording) return;
      const md = frame.getMetadata();
      const mime = String(md.mimeType || "audio/opus").toLowerCase();
      if (mime !== "audio/opus" && mime !== "audio/red") return;
      const data = primary(frame.data, mime);
      if (data.byteLength === 0) return;
      const rtp = md.rtpTimestamp !== undefined ? md.rtpTimestamp : frame.timestamp;
      const s = stream(id + ":" + md.synchronizationSource);
      if (s.decoder.state !== "configured") return;
      seq++;
      s.pending.push([rtp >>> 0, now()]);
      s.decoder.decode(new EncodedAudioChunk({ type: "key", timestamp: seq * 20000, data }));
    }
    self.onrtctransform = (event) => {
      const t = event.transformer;
      const id = t.options.id;
      const tee = new TransformStream({
        transform(frame, controller) {
          try {
            tap(id, frame);
          } catch (e) {
            fail(e);
          }
          controller.enqueue(frame);
        },
      });
      t.readable.pipeThrough(tee).pipeTo(t.writable).catch(fail);
    };
    setInterval(() => streams.forEach((s, key) => flushRun(key, s)), 100); // the live copy's holdback is 200 ms
    self.onmessage = async (e) => {
      if (e.data === "ping") self.postMessage("pong");
      else if (e.data === "start") recording = true;
      else if (e.data === "stop") {
        for (const [key, s] of streams) {
          try {
            if (s.decoder.state === "configured") await s.decoder.flush();
          } catch (err) {
            fail(err);
          }
          flushRun(key, s);
        }
        recording = false;
        self.postMessage("stopped");
      }
    };
  `;

  const rtpPath = { worker: null, ready: false, receivers: [], ids: 0, stopped: null };

  function rtpWorker() {
    if (rtpPath.worker) return;
    if (typeof RTCRtpScriptTransform !== "function" || typeof AudioDecoder !== "function") return;
    try {
      const url = URL.createObjectURL(new Blob([RTP_WORKER], { type: "text/javascript" }));
      const worker = new Worker(url);
      worker.onmessage = onWorker;
      worker.onerror = (e) => state.errors.push("rtp worker: " + (e.message || "error"));
      rtpPath.worker = worker;
      worker.postMessage("ping");
    } catch (e) {
      state.errors.push(String(e));
    }
  }

  function onWorker(e) {
    const m = e.data;
    if (m === "pong") {
      rtpPath.ready = true; // a worker that runs (a page's CSP may forbid it)
      for (const receiver of rtpPath.receivers) transform(receiver);
    } else if (m === "stopped") {
      if (rtpPath.stopped) rtpPath.stopped();
    } else if (m && m.error) {
      state.errors.push(m.error);
    } else if (m && m.pcm) {
      deliverRun(m);
    }
  }

  function transform(receiver) {
    if (receiver.transform) return; // ours already, or the page's own
    try {
      receiver.transform = new RTCRtpScriptTransform(rtpPath.worker, { id: "r" + ++rtpPath.ids });
    } catch (e) {
      state.errors.push(String(e));
    }
  }

  function addReceiver(receiver) {
    if (!receiver || !receiver.track || receiver.track.kind !== "audio") return;
    if (rtpPath.receivers.includes(receiver)) return;
    rtpPath.receivers.push(receiver);
    rtpWorker();
    if (rtpPath.ready) transform(receiver);
  }

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

  function deliverRun(m) {
    if (state.stopped || typeof window.__meetbotFrames !== "function") return;
    state.chunks++;
    state.samples += m.pcm.byteLength / 2;
    const p = Promise.resolve(window.__meetbotFrames(m.key, m.rtp, m.at, b64(m.pcm))).catch(
      (e) => {
        state.errors.push(String(e));
      },
    );
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
      this.addEventListener("track", (event) => {
        addTrack(event.track);
        addReceiver(event.receiver);
      });
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

  // `options.rtp === false`: the WebAudio path even where the RTP path works (the bench's "before")
  async function start(options) {
    if (state.started) {
      return state.mode === "rtp" || (state.ctx !== null && state.ctx.state === "running");
    }
    state.started = true;
    state.startedAt = performance.now();
    if (rtpPath.ready && !(options && options.rtp === false)) {
      state.mode = "rtp";
      rtpPath.worker.postMessage("start");
      // an empty run: the recorder keeps time from now on, even if nobody ever speaks
      deliverRun({ key: "", rtp: 0, at: Date.now(), pcm: new ArrayBuffer(0) });
      return true;
    }
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
    if (state.mode === "rtp") {
      await new Promise((resolve) => {
        rtpPath.stopped = resolve;
        setTimeout(resolve, 2000);
        rtpPath.worker.postMessage("stop");
      });
    }
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

  rtpWorker(); // started early: it must have answered before start() chooses the path

  Object.defineProperty(window, "__meetbotCapture", {
    value: Object.freeze({ start, stop, stats, rtc }),
    enumerable: false,
  });
})();
