// Signaling socket with automatic reconnect.
//
// Why: a kiosk on a town network drops its connection now and then; the page must show
// "reconnecting…" and come back by itself. The server keeps the queue place or the call
// for a grace period; the page re-identifies itself in `onOpen` (resume token or agent
// token) each time the socket (re)opens.
//
// A dead network does not always close a socket (a pulled cable leaves it half-open for
// minutes), so with `keepAliveMs` the client pings and treats a silent server as a drop.

const FINAL_CLOSE_CODES = new Set([
  1000, // the server ended the session on purpose (logged out, idle without a call)
  4000, // resumed on another connection
  4001, // replaced by a newer login
  4401, // authentication failed
]);

/** Reconnect delays (ms, before jitter) by the close code that began the outage. Every
 *  other close (a network blip: 1001, 1006, …) retries quickly. The policy holds until a
 *  socket opens again: connection refused while a server restarts does not shorten it. */
const BACKOFF = {
  default: { firstMs: 250, maxMs: 5000, minMs: 0 },
  1012: { firstMs: 1000, maxMs: 10000, minMs: 0 }, // server restart: back in a few seconds
  1013: { firstMs: 5000, maxMs: 60000, minMs: 5000 }, // try again later: never sooner than 5 s
};

export class SignalingClient extends EventTarget {
  /**
   * @param {string} path  "/ws/caller" or "/ws/agent"
   * @param {{onOpen?: (client: SignalingClient, reconnect: boolean) => void,
   *          keepAliveMs?: number}} options  keepAliveMs: ping period (0 = off, the default)
   */
  constructor(path, options = {}) {
    super();
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    this.url = `${scheme}//${location.host}${path}`;
    this.onOpen = options.onOpen || (() => {});
    this.keepAliveMs = options.keepAliveMs || 0;
    this.ws = null;
    this.wanted = false;
    this.attempt = 0;
    this.opened = false;
    this.retryTimer = null;
    this.keepAliveTimer = null;
    this.lastHeard = 0;
    this.backoff = BACKOFF.default;
    /** Code of the close that began the current outage (1012: restarting, 1013: busy);
     *  null while open. Read it in a "state" listener to explain a reconnect. */
    this.closeCode = null;
    this.state = "idle"; // idle | connecting | open | reconnecting | closed
  }

  /** True while messages can be sent. */
  get isOpen() {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  connect() {
    if (!this._onlineHooked) {
      this._onlineHooked = true;
      window.addEventListener("online", () => this.reconnectNow());
    }
    this.wanted = true;
    this._open();
  }

  _setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: state }));
  }

  _open() {
    clearTimeout(this.retryTimer);
    this._setState(this.opened ? "reconnecting" : "connecting");
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      const reconnect = this.opened;
      this.opened = true;
      this.attempt = 0;
      this.backoff = BACKOFF.default;
      this.closeCode = null;
      this.lastHeard = Date.now();
      this._startKeepAlive(ws);
      this._setState("open");
      this.onOpen(this, reconnect);
    };
    ws.onmessage = (event) => {
      if (this.ws !== ws) return;
      this.lastHeard = Date.now();
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      this.dispatchEvent(new CustomEvent("message", { detail: message }));
      this.dispatchEvent(new CustomEvent(`msg:${message.type}`, { detail: message }));
    };
    ws.onclose = (event) => this._closed(ws, event.code, event.reason);
  }

  _startKeepAlive(ws) {
    clearInterval(this.keepAliveTimer);
    if (!this.keepAliveMs) return;
    this.keepAliveTimer = setInterval(() => {
      if (this.ws !== ws) return;
      if (Date.now() - this.lastHeard > 2.5 * this.keepAliveMs) {
        // Half-open: give up on this socket now rather than when TCP notices.
        this._closed(ws, 4003, "keep-alive timeout");
        try { ws.close(4003, "keep-alive timeout"); } catch { /* already closing */ }
        return;
      }
      this.send({ type: "ping" });
    }, this.keepAliveMs);
  }

  _closed(ws, code, reason) {
    if (this.ws !== ws) return;
    this.ws = null;
    clearInterval(this.keepAliveTimer);
    if (BACKOFF[code]) {
      if (this.backoff !== BACKOFF[code]) this.attempt = 0;
      this.backoff = BACKOFF[code];
      this.closeCode = code;
    } else if (this.closeCode === null) {
      this.closeCode = code;
    }
    this.dispatchEvent(new CustomEvent("closed", { detail: { code, reason } }));
    if (!this.wanted || FINAL_CLOSE_CODES.has(code)) {
      this.wanted = false;
      this._setState("closed");
      return;
    }
    // A state event also for a second close in a row (the state stays "reconnecting").
    this.state = "closing";
    this._setState("reconnecting");
    const { firstMs, maxMs, minMs } = this.backoff;
    const delay = Math.max(minMs, Math.min(maxMs, firstMs * 2 ** this.attempt++) * (0.75 + Math.random() / 2));
    this.retryTimer = setTimeout(() => this._open(), delay);
  }

  /** Send a message object; returns false when the socket is not open. */
  send(message) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  /** Retry at once (e.g. the browser reports it is back online) instead of after backoff. */
  reconnectNow() {
    if (this.wanted && !this.ws && this.backoff === BACKOFF.default) {
      this.attempt = 0;
      this._open();
    }
  }

  /** Drop the socket without ending anything server-side (for tests and network blips). */
  drop() {
    if (this.ws) this.ws.close(4002, "dropped by client");
  }

  close() {
    this.wanted = false;
    clearTimeout(this.retryTimer);
    clearInterval(this.keepAliveTimer);
    if (this.ws) this.ws.close(1000, "bye");
    this._setState("closed");
  }

  /** Wait for the next message of `type` (rejects after `timeoutMs`). */
  next(type, timeoutMs = 10000) {
    return new Promise((resolve, reject) => {
      const handler = (event) => {
        clearTimeout(timer);
        this.removeEventListener(`msg:${type}`, handler);
        resolve(event.detail);
      };
      const timer = setTimeout(() => {
        this.removeEventListener(`msg:${type}`, handler);
        reject(new Error(`timeout waiting for ${type}`));
      }, timeoutMs);
      this.addEventListener(`msg:${type}`, handler);
    });
  }
}
