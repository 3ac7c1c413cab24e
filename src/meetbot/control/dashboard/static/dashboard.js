// meetbot dashboard: a little progressive enhancement; every page works without it.
// - [data-live="URL"]: refreshed every data-every ms from URL (a server-rendered, escaped
//   fragment); data-reload-on-end="1": the page reloads once the fragment says the bot ended
//   (the recording appears).
// - form[data-confirm]: asks before sending.
"use strict";
(function () {
  function live(region) {
    var every = Number(region.dataset.every || 1000);
    var busy = false;
    var timer = setInterval(async function () {
      if (busy || document.hidden) return;
      busy = true;
      try {
        var response = await fetch(region.dataset.live, {
          headers: { "X-Dashboard-Fragment": "1" },
          credentials: "same-origin",
          cache: "no-store",
        });
        if (response.redirected) { clearInterval(timer); location.reload(); return; }
        if (!response.ok) return;
        var html = await response.text();
        var focused = document.activeElement && region.contains(document.activeElement);
        if (!focused) region.innerHTML = html;
        var state = region.querySelector("[data-ended]");
        if (region.dataset.reloadOnEnd === "1" && state && state.dataset.ended === "1") {
          clearInterval(timer);
          location.reload();
        }
      } catch (e) {
        // offline for a moment: the next tick tries again
      } finally {
        busy = false;
      }
    }, every);
  }
  document.querySelectorAll("[data-live]").forEach(live);
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
})();
