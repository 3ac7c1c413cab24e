// meetbot tap for the Janus VideoRoom demo pages: added before any page script.
//
// janus.js talks to Janus over HTTP with `fetch` (long polls); it captures `fetch` when the
// page calls Janus.init, i.e. after this script wrapped it. We watch:
// - requests: the `join` of our publisher handle (ptype "publisher") tells which handle is
//   ours (subscriber handles get their own events, which we ignore);
// - responses: VideoRoom events for that handle: `joined`, `event` (publishers, joining,
//   unpublished, leaving, error), `talking`/`stopped-talking`, `destroyed`.
// The Python adapter reads `window.__meetbotJanus` and may call `__meetbotJanusJoin(name)` to
// (re)send the join request.
(() => {
  "use strict";
  if (window.__meetbotJanus) return;
  const st = {
    pubHandle: null,
    display: null,
    joinRequests: 0,
    joined: false,
    myId: null,
    participants: {}, // id -> {id, display, publisher, talking}
    error: null, // {code, reason} of the last join error; cleared when joined
    kicked: false,
    destroyed: false,
    left: false,
    sessionCreated: false,
    fetchFailures: 0,
    events: 0,
    ssrcs: {}, // RTP SSRC of a subscribed audio stream -> the publisher's id (separate audio)
  };
  Object.defineProperty(window, "__meetbotJanus", { value: st, enumerable: false });

  const key = (id) => String(id);
  function upsert(p, publisher) {
    if (p === null || typeof p !== "object" || p.id === undefined) return;
    const id = key(p.id);
    if (id === st.myId) return;
    const old = st.participants[id] || { id, display: "", publisher: false, talking: false };
    st.participants[id] = {
      id,
      display: p.display !== undefined ? String(p.display) : old.display,
      publisher: publisher === null ? old.publisher : publisher,
      talking: p.talking !== undefined ? Boolean(p.talking) : old.talking,
    };
  }

  function onVideoroom(d) {
    st.events++;
    switch (d.videoroom) {
      case "joined":
        st.joined = true;
        st.error = null;
        st.myId = key(d.id);
        for (const p of d.publishers || []) if (!p.dummy) upsert(p, true);
        for (const p of d.attendees || []) upsert(p, false);
        break;
      case "event":
        if (d.error_code !== undefined) {
          if (!st.joined) st.error = { code: d.error_code, reason: String(d.error || "") };
        } else if (d.publishers) {
          for (const p of d.publishers) if (!p.dummy) upsert(p, true);
        } else if (d.joining) {
          upsert(d.joining, null);
        } else if (d.unpublished !== undefined && d.unpublished !== "ok") {
          const p = st.participants[key(d.unpublished)];
          if (p) Object.assign(p, { publisher: false, talking: false });
        } else if (d.leaving !== undefined) {
          if (d.leaving === "ok") {
            if (d.reason === "kicked") st.kicked = true;
            else st.left = true;
          } else {
            delete st.participants[key(d.leaving)];
          }
        } else if (d.kicked !== undefined) {
          delete st.participants[key(d.kicked)];
        }
        break;
      case "talking":
      case "stopped-talking": {
        const id = key(d.id);
        if (id !== st.myId) {
          upsert({ id }, null);
          st.participants[id].talking = d.videoroom === "talking";
        }
        break;
      }
      case "destroyed":
        st.destroyed = true;
        break;
      default:
        break;
    }
  }

  // A subscriber handle's offer (`attached`, `updated`): each audio m-section's SSRC belongs to
  // the publisher the stream with that mid comes from (`streams[].feed_id`; `id` before
  // multistream), so the capture's runs (keyed by SSRC) can be told apart by participant.
  function noteSubscription(d, sdp) {
    const streams = Array.isArray(d.streams) ? d.streams : [];
    for (const section of String(sdp).split(/\r?\nm=/).slice(1)) {
      if (!section.startsWith("audio")) continue;
      const mid = /\na=mid:(\S+)/.exec(section);
      const found = streams.find((s) => mid && String(s.mid) === mid[1]);
      const feed = found && found.feed_id !== undefined ? found.feed_id : d.id;
      if (feed === undefined || feed === null) continue;
      const re = /\na=ssrc:(\d+)/g;
      let m;
      while ((m = re.exec(section)) !== null) st.ssrcs[m[1]] = key(feed);
    }
  }

  function onMessage(msg) {
    if (Array.isArray(msg)) {
      for (const m of msg) onMessage(m);
      return;
    }
    if (msg === null || typeof msg !== "object") return;
    if (msg.janus === "success" && msg.data && msg.data.id && !msg.session_id) {
      st.sessionCreated = true;
    }
    if (msg.janus !== "event" || !msg.plugindata) return;
    if (msg.plugindata.plugin !== "janus.plugin.videoroom") return;
    const data = msg.plugindata.data || {};
    if ((data.videoroom === "attached" || data.videoroom === "updated") && msg.jsep) {
      noteSubscription(data, msg.jsep.sdp || "");
    }
    if (st.pubHandle === null || key(msg.sender) !== st.pubHandle) return;
    onVideoroom(msg.plugindata.data || {});
  }

  function noteRequest(url, init) {
    if (!init || typeof init.body !== "string") return;
    let body;
    try {
      body = JSON.parse(init.body);
    } catch (e) {
      return;
    }
    const req = body && body.body;
    if (!req || req.request !== "join" || req.ptype !== "publisher") return;
    const m = /\/janus\/(\d+)\/(\d+)/.exec(url);
    if (m) st.pubHandle = m[2];
    st.display = req.display === undefined ? null : String(req.display);
    st.joinRequests++;
  }

  const nativeFetch = window.fetch.bind(window);
  window.fetch = function (input, init) {
    const url = typeof input === "string" ? input : (input && input.url) || String(input);
    const janus = /\/janus(\/|\?|$)/.test(url);
    if (janus) noteRequest(url, init);
    const p = nativeFetch(input, init);
    if (!janus) return p;
    return p.then(
      (resp) => {
        st.fetchFailures = 0;
        if (resp.ok) {
          resp
            .clone()
            .json()
            .then(onMessage, () => {});
        }
        return resp;
      },
      (err) => {
        st.fetchFailures++;
        throw err;
      },
    );
  };

  // (Re)send our join request through the page's own VideoRoom handle (`sfutest`).
  window.__meetbotJanusJoin = (display) => {
    /* global sfutest, myroom, bootbox */
    if (typeof sfutest === "undefined" || !sfutest || typeof myroom === "undefined") return false;
    if (typeof bootbox !== "undefined") bootbox.hideAll();
    window.myusername = display;
    sfutest.send({ message: { request: "join", room: myroom, ptype: "publisher", display } });
    return true;
  };

  // Leave the room politely, then drop the Janus session.
  window.__meetbotJanusLeave = async () => {
    /* global janus */
    try {
      if (typeof sfutest !== "undefined" && sfutest && st.joined && !st.left && !st.kicked) {
        sfutest.send({ message: { request: "leave" } });
        for (let i = 0; i < 30 && !st.left; i++) await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      if (typeof janus !== "undefined" && janus) {
        try {
          janus.destroy({ cleanupHandles: true });
        } catch (e) {}
      }
    }
    return st.left;
  };
})();
