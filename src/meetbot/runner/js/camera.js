// meetbot: the bot's picture as its camera (issue 16 §4). Added as an init script by
// runner/camera.py, with the picture as a data URL in `st.src` (null: no picture yet; the
// page's camera then works as it would without this script).
//
// Wherever the page asks getUserMedia for video, it gets a track drawn from the picture
// (a canvas's captureStream, redrawn a few times a second so that encoders keep sending);
// audio, if asked too, comes from the getUserMedia below this one (another init script's, or
// the browser's), or is silence when that has no microphone. enumerateDevices lists a camera
// when the browser has none. window.__meetbotCamera.show(dataUrl) changes the picture on every
// track already handed out (output_video).
(() => {
  "use strict";
  const md = navigator.mediaDevices;
  if (window.__meetbotCamera || !md || typeof md.getUserMedia !== "function") return;
  const WIDTH = 640;
  const HEIGHT = 360;
  const FPS = 10;
  const st = {
    src: __MEETBOT_CAMERA_IMAGE__,
    image: null,
    canvas: null,
    ctx: null,
    tracks: 0,
    drawn: 0,
    shown: 0,
    errors: [],
  };

  function load(src) {
    return new Promise((resolve, reject) => {
      const img = new Image();
      img.onload = () => resolve(img);
      img.onerror = () => reject(new Error("the picture does not decode"));
      img.src = src;
    });
  }

  function draw() {
    const { ctx, image } = st;
    if (!ctx) return;
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, WIDTH, HEIGHT);
    if (image) {
      // cover: the picture fills the frame, its middle kept
      const scale = Math.max(WIDTH / image.naturalWidth, HEIGHT / image.naturalHeight);
      const w = image.naturalWidth * scale;
      const h = image.naturalHeight * scale;
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(image, (WIDTH - w) / 2, (HEIGHT - h) / 2, w, h);
    }
    st.drawn++;
  }

  function canvas() {
    if (!st.canvas) {
      st.canvas = document.createElement("canvas");
      st.canvas.width = WIDTH;
      st.canvas.height = HEIGHT;
      st.ctx = st.canvas.getContext("2d");
      draw();
      setInterval(draw, 1000 / FPS);
    }
    return st.canvas;
  }

  async function show(src) {
    const image = await load(src);
    st.src = src;
    st.image = image;
    st.shown++;
    draw();
    return true;
  }

  function videoTrack() {
    const track = canvas().captureStream(FPS).getVideoTracks()[0];
    st.tracks++;
    return track;
  }

  function silence() {
    const ctx = new AudioContext();
    const dest = ctx.createMediaStreamDestination();
    const gain = ctx.createGain();
    gain.gain.value = 0;
    const osc = ctx.createOscillator();
    osc.connect(gain).connect(dest);
    osc.start();
    return dest.stream.getAudioTracks()[0];
  }

  const below = md.getUserMedia.bind(md);
  md.getUserMedia = async function getUserMedia(constraints) {
    if (!constraints || !constraints.video || !st.src) return below(constraints);
    if (!st.image) {
      try {
        await show(st.src);
      } catch (e) {
        st.errors.push(String(e));
      }
    }
    const stream = new MediaStream();
    if (constraints.audio) {
      try {
        for (const t of (await below({ audio: constraints.audio })).getAudioTracks()) {
          stream.addTrack(t);
        }
      } catch (e) {
        stream.addTrack(silence());
      }
    }
    stream.addTrack(videoTrack());
    return stream;
  };

  const enumerate = typeof md.enumerateDevices === "function" ? md.enumerateDevices.bind(md) : null;
  if (enumerate) {
    md.enumerateDevices = async function enumerateDevices() {
      const devices = await enumerate();
      if (!st.src || devices.some((d) => d.kind === "videoinput")) return devices;
      const camera = { deviceId: "meetbot-camera", groupId: "meetbot", kind: "videoinput",
        label: "meetbot camera", toJSON() { return { ...this }; } };
      return [...devices, camera];
    };
  }

  Object.defineProperty(window, "__meetbotCamera", {
    value: Object.freeze({
      show,
      active: () => !!st.src,
      stats: () => ({ tracks: st.tracks, drawn: st.drawn, shown: st.shown, errors: st.errors.slice(-5) }),
    }),
    enumerable: false,
  });
})();
