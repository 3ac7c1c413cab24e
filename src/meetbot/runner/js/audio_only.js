// meetbot: receive no remote video. Added (init script, after capture.js) for a bot that
// records audio only, on platforms whose adapter was checked with it (the runner decides).
//
// Decoding and rendering remote video is most of a bot's CPU, and a bot that records audio
// has no use for it. Right before the page creates an SDP answer (or offer), every transceiver
// that would receive video is set to `inactive` (`sendonly` if the page sends video on it), so
// the answer refuses the video and the server stops sending it: nothing reaches the decoder.
// Audio transceivers are untouched; the capture script still gets every remote audio track.
(() => {
  "use strict";
  if (window.__meetbotAudioOnly || typeof window.RTCPeerConnection !== "function") {
    return;
  }
  const Base = window.RTCPeerConnection;
  const state = { refused: 0, errors: [] };

  function refuseVideo(pc) {
    let transceivers = [];
    try {
      transceivers = pc.getTransceivers();
    } catch (e) {
      state.errors.push(String(e));
    }
    for (const t of transceivers) {
      try {
        if (t.stopped || t.currentDirection === "stopped" || t.direction === "stopped") continue;
        if (!t.receiver || !t.receiver.track || t.receiver.track.kind !== "video") continue;
        const want = t.direction === "sendrecv" || t.direction === "sendonly" ? "sendonly" : "inactive";
        if (t.direction !== want) {
          t.direction = want;
          state.refused++;
        }
      } catch (e) {
        state.errors.push(String(e));
      }
    }
  }

  class AudioOnlyPeerConnection extends Base {
    createAnswer(...args) {
      refuseVideo(this);
      return super.createAnswer(...args);
    }
    createOffer(...args) {
      refuseVideo(this);
      return super.createOffer(...args);
    }
  }
  window.RTCPeerConnection = AudioOnlyPeerConnection;
  if (window.webkitRTCPeerConnection) window.webkitRTCPeerConnection = AudioOnlyPeerConnection;

  Object.defineProperty(window, "__meetbotAudioOnly", {
    value: Object.freeze({ stats: () => ({ refused: state.refused, errors: state.errors.slice(-5) }) }),
    enumerable: false,
  });
})();
