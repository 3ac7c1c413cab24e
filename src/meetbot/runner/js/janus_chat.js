// meetbot chat for the Janus VideoRoom demo pages: the room's chat is the Janus TextRoom of
// the same number (the lab host creates both), reached over a data channel on the page's own
// Janus session (the demo's global `janus`). Added before any page script; started by
// `__meetbotChatOpen(display)` once the page has joined the VideoRoom.
// State for Python: `window.__meetbotChat` = {joined, username, error, inbox: [...], sent: n}.
// `__meetbotChatTake()` returns and clears the inbox; `__meetbotChatSend(text, to)` sends
// (to: "everyone" or a TextRoom username) and returns false until the room is joined.
(() => {
  "use strict";
  if (window.__meetbotChat) return;
  const st = { joined: false, username: null, error: null, inbox: [], sent: 0, opening: false };
  Object.defineProperty(window, "__meetbotChat", { value: st, enumerable: false });
  let handle = null;
  let room = null;
  const displays = {};
  const rnd = () => Math.random().toString(36).slice(2, 12);

  function roomNumber() {
    const value = new URLSearchParams(window.location.search).get("room");
    return value === null ? 1234 : Number(value);
  }

  function onData(raw) {
    let msg;
    try {
      msg = JSON.parse(raw);
    } catch (e) {
      return;
    }
    if (msg.textroom === "success" && msg.participants !== undefined) {
      for (const p of msg.participants) displays[p.username] = p.display || p.username;
      st.joined = true;
    } else if (msg.textroom === "join") {
      displays[msg.username] = msg.display || msg.username;
    } else if (msg.textroom === "error") {
      st.error = String(msg.error || "textroom error");
    } else if (msg.textroom === "message") {
      if (msg.from === st.username) return; // our own message, echoed to us
      st.inbox.push({
        from: String(msg.from),
        display: String(displays[msg.from] || msg.from),
        text: String(msg.text),
        to: msg.whisper ? st.username : "everyone",
        date: String(msg.date || ""),
      });
    }
  }

  function attach(display) {
    const j = window.janus;
    if (!j || !window.Janus) {
      st.error = "no Janus session on the page";
      st.opening = false;
      return;
    }
    room = roomNumber();
    st.username = "chat-" + rnd();
    j.attach({
      plugin: "janus.plugin.textroom",
      opaqueId: "meetbot-chat-" + rnd(),
      success: (h) => {
        handle = h;
        h.send({ message: { request: "setup" } });
      },
      error: (e) => {
        st.error = String(e);
      },
      onmessage: (msg, jsep) => {
        if (msg && msg.error) st.error = String(msg.error);
        if (!jsep) return;
        handle.createAnswer({
          jsep,
          tracks: [{ type: "data" }],
          success: (answer) => handle.send({ message: { request: "ack" }, jsep: answer }),
          error: (e) => {
            st.error = "answer: " + String(e);
          },
        });
      },
      ondataopen: () => {
        displays[st.username] = display;
        handle.data({
          text: JSON.stringify({
            textroom: "join",
            transaction: rnd(),
            room,
            username: st.username,
            display,
          }),
          error: (e) => {
            st.error = "join: " + String(e);
          },
        });
      },
      ondata: onData,
    });
  }

  window.__meetbotChatOpen = (display) => {
    if (st.opening || st.joined) return;
    st.opening = true;
    attach(String(display));
  };

  window.__meetbotChatTake = () => st.inbox.splice(0, st.inbox.length);

  window.__meetbotChatSend = (text, to) => {
    if (!st.joined || !handle) return false;
    const message = { textroom: "message", transaction: rnd(), room, text: String(text) };
    if (to && to !== "everyone") message.to = String(to);
    handle.data({ text: JSON.stringify(message), error: () => {} });
    st.sent++;
    return true;
  };
})();
