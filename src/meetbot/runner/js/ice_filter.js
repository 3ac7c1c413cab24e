// meetbot: WebRTC goes only to public addresses and the operator's allowed hosts (issue 12).
// ICE candidates (in remote descriptions and addIceCandidate) and ICE servers whose address is
// loopback, private, link-local, CGNAT, multicast, reserved or an mDNS name are dropped, so the
// browser never sends STUN/TURN/media packets there. ALLOWED: [[address, port or null], ...];
// the runner replaces it once its assignment is known through a setter whose name is a secret
// of this browser (__SETTER__), removed by the script that calls it.
// Runs before every other script: the native methods are guarded where they live, and
// the native constructor is no longer reachable (RTCPeerConnection is a filtering wrapper that
// later scripts may subclass).
(() => {
  let ALLOWED = __ALLOWED__;
  Object.defineProperty(globalThis, "__SETTER__", {
    value: (list) => { ALLOWED = list; }, configurable: true, enumerable: false,
  });
  const PC = globalThis.RTCPeerConnection;
  if (!PC) return;

  const v4 = (text) => {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
    return m ? m.slice(1).map(Number) : null;
  };
  const publicV4 = ([a, b, c]) =>
    !(a === 0 || a === 10 || a === 127 || a >= 224 || (a === 100 && b >= 64 && b < 128) ||
      (a === 169 && b === 254) || (a === 172 && b >= 16 && b < 32) || (a === 192 && b === 168) ||
      (a === 192 && b === 0 && (c === 0 || c === 2)) || (a === 198 && (b === 18 || b === 19)) ||
      (a === 198 && b === 51 && c === 100) || (a === 203 && b === 0 && c === 113));
  const publicV6 = (text) => {
    const t = text.toLowerCase().replace(/^\[|\]$/g, "");
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(t);
    if (mapped) return !!v4(mapped[1]) && publicV4(v4(mapped[1]));
    const first = parseInt(t.split(":")[0] || "0", 16);
    // global unicast only (2000::/3), less 6to4 (2002::/16) and documentation (2001:db8::/32)
    return first >= 0x2000 && first <= 0x3fff && first !== 0x2002 && !t.startsWith("2001:db8:");
  };
  const allowed = (address, port) =>
    ALLOWED.some(([host, p]) => host === address && (p === null || p === Number(port)));
  const ok = (address, port) => {
    if (allowed(address, port)) return true;
    const four = v4(address);
    if (four) return publicV4(four);
    if (address.includes(":")) return publicV6(address);
    return false; // a name (mDNS ".local", or anything): never resolved for ICE
  };
  // candidate:<foundation> <component> <transport> <priority> <address> <port> typ ...
  const candidateOk = (line) => {
    const parts = String(line).replace(/^a=/, "").trim().split(/\s+/);
    if (parts.length < 6) return false;
    return ok(parts[4], parts[5]);
  };
  const cleanSdp = (sdp) =>
    sdp.split(/\r\n/).filter((l) => !l.startsWith("a=candidate:") || candidateOk(l)).join("\r\n");
  const serverOk = (url) => {
    const m = /^(?:stuns?|turns?):(\[[^\]]+\]|[^:?]+)(?::(\d+))?/i.exec(String(url));
    return !!m && ok(m[1].replace(/^\[|\]$/g, ""), m[2] || (/^turns|^stuns/i.test(url) ? 5349 : 3478));
  };
  const cleanConfig = (config) => {
    if (!config || !Array.isArray(config.iceServers)) return config;
    const iceServers = config.iceServers
      .map((s) => ({ ...s, urls: [].concat(s.urls || s.url || []).filter(serverOk) }))
      .filter((s) => s.urls.length);
    return { ...config, iceServers };
  };

  // The methods stay assignable (shims such as webrtc-adapter replace them), but whatever is
  // assigned is always called through the filter: no one gets hold of an unfiltered method.
  const proto = PC.prototype;
  const guard = (obj, name, filterArgs) => {
    let current = obj[name];
    const wrappers = new WeakMap();
    const wrap = (fn) => {
      if (typeof fn !== "function") return fn;
      if (!wrappers.has(fn)) {
        wrappers.set(fn, function (...args) {
          const filtered = filterArgs(args);
          return filtered === null ? Promise.resolve() : fn.apply(this, filtered);
        });
      }
      return wrappers.get(fn);
    };
    Object.defineProperty(obj, name, {
      get: () => wrap(current), set: (value) => { current = value; },
      configurable: false, enumerable: true,
    });
  };
  guard(proto, "setRemoteDescription", ([desc, ...rest]) => {
    if (desc && typeof desc.sdp === "string") desc = { type: desc.type, sdp: cleanSdp(desc.sdp) };
    return [desc, ...rest];
  });
  guard(proto, "addIceCandidate", ([candidate, ...rest]) => {
    const line = candidate && (candidate.candidate ?? candidate);
    if (line && typeof line === "string" && !candidateOk(line)) return null; // dropped
    return [candidate, ...rest];
  });
  guard(proto, "setConfiguration", ([config, ...rest]) => [cleanConfig(config), ...rest]);
  function RTCPeerConnection(config, ...rest) {
    return Reflect.construct(PC, [cleanConfig(config), ...rest], new.target || RTCPeerConnection);
  }
  RTCPeerConnection.prototype = proto;
  if (PC.generateCertificate) RTCPeerConnection.generateCertificate = PC.generateCertificate;
  Object.defineProperty(proto, "constructor", { value: RTCPeerConnection, writable: true });
  globalThis.RTCPeerConnection = RTCPeerConnection;
  if ("webkitRTCPeerConnection" in globalThis) globalThis.webkitRTCPeerConnection = RTCPeerConnection;
})();
