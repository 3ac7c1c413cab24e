// meetbot dashboard: a little progressive enhancement; every page works without it.
// - [data-live="URL"]: refreshed every data-every ms from URL (a server-rendered, escaped
//   fragment); data-reload-on-end="1": the page reloads once the fragment says the bot ended
//   (the recording appears).
// - [data-stream="PATH"] on a live region: the bot's real-time stream (a WebSocket, opened
//   with a short-lived token); each event refreshes the region at once, and while the stream
//   is open (data-streaming="1") polling only keeps the clocks going (every 15 s). Polling
//   takes over again if the stream closes.
// - form[data-confirm]: asks before sending.
"use strict";
(function () {
  var REFRESHING = { status_update: 1, "transcript.data": 1, "transcript.lagging": 1,
    "transcript.ready": 1, "participant.joined": 1, "participant.left": 1, "chat.message": 1,
    "recording.paused": 1, "recording.resumed": 1, "recording.ready": 1 };

  var STREAMING_EVERY = 15000;

  function live(region) {
    var every = Number(region.dataset.every || 1000);
    var last = Date.now();
    var busy = false;
    var again = false;
    var timer = null;

    async function refresh() {
      if (busy) { again = true; return; }
      busy = true;
      last = Date.now();
      try {
        var response = await fetch(region.dataset.live, {
          headers: { "X-Dashboard-Fragment": "1" },
          credentials: "same-origin",
          cache: "no-store",
        });
        if (response.redirected) { stop(); location.reload(); return; }
        if (!response.ok) return;
        var html = await response.text();
        var focused = document.activeElement && region.contains(document.activeElement);
        if (!focused) region.innerHTML = html;
        var state = region.querySelector("[data-ended]");
        if (region.dataset.reloadOnEnd === "1" && state && state.dataset.ended === "1") {
          stop();
          location.reload();
        }
      } catch (e) {
        // offline for a moment: the next tick tries again
      } finally {
        busy = false;
        if (again) { again = false; refresh(); }
      }
    }

    function stop() {
      clearInterval(timer);
      if (region.socket) region.socket.close();
    }

    timer = setInterval(function () {
      if (document.hidden) return;
      if (region.dataset.streaming === "1" && Date.now() - last < STREAMING_EVERY) return;
      refresh();
    }, every);

    if (region.dataset.stream && window.WebSocket) {
      var url = new URL(region.dataset.stream, location.href);
      url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
      var socket = new WebSocket(url.href);
      region.socket = socket;
      socket.onopen = function () { region.dataset.streaming = "1"; };
      socket.onmessage = function (message) {
        var frame = null;
        try { frame = JSON.parse(message.data); } catch (e) { return; }
        if (frame && REFRESHING[frame.type]) refresh();
      };
      socket.onclose = function () { region.dataset.streaming = "0"; };
    }
  }
  document.querySelectorAll("[data-live]").forEach(live);
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
})();
