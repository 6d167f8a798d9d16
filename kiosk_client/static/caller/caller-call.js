// One caller's call, from the call button to the rating: socket, queue, media.
//
// Pages (kiosk, enterprise) only render what this reports. It follows docs/protocol.md:
// `call_request` once; `resume` with the resume token whenever the socket reopens; on
// `connected` the caller is the offerer and builds a MediaSession; a `connected` received
// again for the same call (after a resume) keeps that session and restarts ICE on it
// unless its media path is still up.
// The resume token is also kept in sessionStorage so a page reload can take the call back;
// `dispose()` wipes it.
//
// Events (CustomEvent detail in brackets):
//   queue {position, estimatedWait} · requeued {reason} · ringing · callback_offer {reason}
//   callback_registered {callbackId, duplicate} · connected {peer, resumed}
//   consent_required {policy, onRefusal}: answer with answerConsent() · recording {state, reason}
//   localstream {stream} · remotestream {stream} · mediaproblem {problem}: problem is also
//     "camera_lost"/"microphone_lost" mid-call, and null when a device came back
//   network {state: "ok"|"lost"}: the media path is down and ICE is being restarted
//   remotemedia {camera, microphone}: whether the agent sends each (placeholder if not)
//   quality {level: "good"|"fair"|"poor"}: the network indicator changed (net-quality.js)
//   link {state: "open"|"reconnecting"|..., closeCode: 1012 restarting, 1013 busy, …}
//   peer {status} · ended {reason, callId, wasConnected} · error {code, message, scope, fatal}
//   busy {retryAfterMs}: the server is overloaded; the same request is sent again by itself
//     after that many ms (docs/protocol.md `busy`)
//   matters {message}: a message of the session document (forms, identity, materials,
//     screens; docs/protocol.md "Forms and screens"), or an `error` in reply to one
//   remotetracks {camera, screen}: the agent's camera track and its newest other video
//     track (a screen share added by renegotiation), or null
//
// After a server restart (close 1012) the new server may not know the call any more: a
// call that was still waiting is requested again (`requeued` {reason: "server_restart"});
// one that was connected ends with reason "server_restart".

import { SignalingClient } from "/static/common/signaling.js";
import { MediaSession, openLocalMedia, stopStream } from "/static/common/call.js";

export const RESUME_KEY = "cloud-agent.call";
/** How long a hang-up waits for the server's `ended` before ending the call here. */
const HANGUP_WAIT_MS = 4000;
/** Retry hint used when a `busy` reply carries none. */
const BUSY_RETRY_MS = 3000;

/** Errors after which the call cannot go on (the rest are reported and the call lives). */
/** Server messages of the session document, handed on as `matters` events. */
const MATTER_MESSAGES = new Set([
  "session_document", "form_pushed", "form_withdrawn", "field_changed", "form_submitting",
  "form_submitted", "form_reopened", "identity_set", "material_added", "screen_pushed",
  "screen_status", "screen_closed", "case_updated", "ticket_created",
]);
/** Our own messages whose errors are the session document's. */
const MATTER_REQUESTS = new Set(["edit_field", "set_identity", "submit_form", "screen_status"]);

const FATAL_ERRORS = new Set([
  "invalid_kiosk_token", "identity_required", "invalid_invite", "unknown_skill",
  "call_in_progress", "invalid_resume_token", "invalid_message", "unsupported_version",
  "connection_lost", "too_many_calls",
]);

export class CallerCall extends EventTarget {
  /**
   * @param {{storage?: Storage, keepAliveMs?: number, media?: object}} options
   *   media: options for openLocalMedia (default: camera and microphone, partial allowed)
   */
  constructor({ storage = window.sessionStorage, keepAliveMs = 10000, media = { allowPartial: true } } = {}) {
    super();
    this.storage = storage;
    this.keepAliveMs = keepAliveMs;
    this.mediaOptions = media;
    this.state = "idle"; // idle | requesting | queued | ringing | connected | ended | failed
    this.request = null;
    this.callId = null;
    this.resumeToken = null;
    this.peer = null;
    this.session = null;
    this.localStream = null;
    this.wasConnected = false;
    this.lastCallId = null;
    this.signaling = null;
    this.disposed = false;
    this._mediaPromise = null;
    this._building = null;
    this._hangupTimer = null;
    this._retryTimer = null;
    this.restarted = false; // the socket was closed with 1012 since the last resume
  }

  /** The call a reloaded page may resume, or null. */
  static saved(storage = window.sessionStorage) {
    try {
      const saved = JSON.parse(storage.getItem(RESUME_KEY) || "null");
      return saved && saved.resumeToken ? saved : null;
    } catch {
      return null;
    }
  }

  /** Place a call: request = {skill, language, kiosk_token | company | invite}. */
  start(request) {
    // One id per button press: if the socket drops before `queued` arrives, the same
    // request is sent again and the server answers with the same call, not a second one.
    // 128 random bits (the server refuses shorter ids: a guessable id could be replayed).
    const requestId = Array.from(crypto.getRandomValues(new Uint8Array(16)),
      (b) => b.toString(16).padStart(2, "0")).join("");
    this.request = { type: "call_request", request_id: requestId, ...request };
    this.state = "requesting";
    this._connect();
  }

  /** Take back a call saved by a page that was reloaded. */
  resume(saved) {
    this.callId = saved.callId;
    this.resumeToken = saved.resumeToken;
    this.wasConnected = !!saved.wasConnected;
    this.state = "requesting";
    this._connect();
  }

  /** Use a stream the page already opened (device check); the call owns it from now on.
   *  `problem`: what the check found missing ("camera_busy", …), shown again in the call. */
  useLocalStream(stream, problem = null) {
    if (stream && stream.getTracks().some((t) => t.readyState === "live")) {
      this.localStream = stream;
      this.localProblem = problem;
    }
  }

  _connect() {
    this.signaling = new SignalingClient("/ws/caller", {
      keepAliveMs: this.keepAliveMs,
      onOpen: (_client, reconnect) => this._opened(reconnect),
    });
    this.signaling.addEventListener("message", (event) => this._message(event.detail));
    this.signaling.addEventListener("closed", (event) => {
      if (event.detail.code === 1012) this.restarted = true;
    });
    this.signaling.addEventListener("state", (event) => this._emit("link", {
      state: event.detail, closeCode: this.signaling ? this.signaling.closeCode : null,
    }));
    this.signaling.connect();
  }

  _opened(reconnect) {
    clearTimeout(this._retryTimer); // a reopened socket sends the request itself
    if (this.resumeToken) {
      // Without a live peer connection (a reloaded page) the agent must start afresh.
      const restartMedia = this.wasConnected && !(this.session && !this.session.closed);
      this.signaling.send({ type: "resume", resume_token: this.resumeToken, restart_media: restartMedia });
    } else if (this.state === "requesting" && this.request) {
      this.signaling.send(this.request); // again after a drop: same request id, same call
    } else if (this.state === "requesting") {
      // The socket dropped before the server queued us: we cannot know whether it did.
      this._fail("connection_lost", "socket closed before the call was queued");
    }
  }

  _emit(type, detail = {}) {
    if (!this.disposed) this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _save() {
    try {
      this.storage.setItem(RESUME_KEY, JSON.stringify({
        callId: this.callId, resumeToken: this.resumeToken, wasConnected: this.wasConnected,
      }));
    } catch { /* storage full or disabled: only reload-resume is lost */ }
  }

  _forget() {
    try { this.storage.removeItem(RESUME_KEY); } catch { /* nothing stored */ }
  }

  _message(message) {
    if (this.disposed) return;
    switch (message.type) {
      case "queued":
        this.callId = message.call_id;
        this.resumeToken = message.resume_token;
        this.state = "queued";
        this._save();
        this._emit("queue", { position: message.position, estimatedWait: message.estimated_wait });
        break;
      case "position":
        if (this.state === "requesting") this.state = "queued";
        this._emit("queue", { position: message.position, estimatedWait: message.estimated_wait });
        break;
      case "resumed":
        this.restarted = false;
        this.callId = message.call_id;
        if (message.state === "waiting" || message.state === "ringing") {
          this.state = message.state === "ringing" ? "ringing" : "queued";
          if (message.position) this._emit("queue", { position: message.position, estimatedWait: message.estimated_wait });
          if (message.state === "ringing") this._emit("ringing");
        }
        break;
      case "ringing":
        this.state = "ringing";
        this._prepareMedia();
        this._emit("ringing");
        break;
      case "requeued":
        this.state = "queued";
        this._emit("requeued", { reason: message.reason });
        break;
      case "callback_offer":
        this._emit("callback_offer", { reason: message.reason });
        break;
      case "callback_registered":
        this._emit("callback_registered", { callbackId: message.callback_id, duplicate: message.duplicate === true });
        // Recording refused where that means a callback: nothing was queued, no `ended` follows.
        if (message.reason === "recording_refused") this._ended({ call_id: message.call_id, reason: "callback", disposition: "callback" });
        break;
      case "recording_consent_required":
        this._emit("consent_required", { policy: message.policy, onRefusal: message.on_refusal });
        break;
      case "recording_status":
        this._emit("recording", { state: message.state, reason: message.reason || null });
        break;
      case "connected":
        this._connected(message);
        break;
      case "peer_status":
        this._emit("peer", { status: message.status });
        break;
      case "ended":
        this._ended(message);
        break;
      case "rating_saved":
        this._emit("rating_saved", { callId: message.call_id });
        break;
      case "error":
        if (MATTER_REQUESTS.has(message.in_reply_to)) {
          this._emit("matters", { message });
          return;
        }
        if (message.code === "invalid_resume_token") {
          this._resumeRefused();
          return;
        }
        if (message.code === "busy" && this.state === "requesting" && this.request) {
          // Overloaded: not an error of this call. The same request (same request id)
          // goes again after the server's hint; hang-up or dispose cancels it.
          const retryAfterMs = Number(message.retry_after_ms) > 0 ? Number(message.retry_after_ms) : BUSY_RETRY_MS;
          clearTimeout(this._retryTimer);
          this._retryTimer = setTimeout(() => {
            if (this.state === "requesting" && !this.disposed && this.signaling) this.signaling.send(this.request);
          }, retryAfterMs);
          this._emit("busy", { retryAfterMs });
          return;
        }
        if (message.code === "no_call" && this._hangupTimer) {
          // Hung up before the server had queued the call: nothing left to end there.
          this._ended({ call_id: this.callId, reason: "caller_hangup" });
          return;
        }
        this._emit("error", { code: message.code, message: message.message, scope: message.scope || null, fatal: FATAL_ERRORS.has(message.code) && this.state === "requesting" });
        if (FATAL_ERRORS.has(message.code) && this.state === "requesting") this._fail(message.code, message.message, false);
        break;
      default:
        if (MATTER_MESSAGES.has(message.type)) this._emit("matters", { message });
        break; // hello, pong, sdp/ice (the MediaSession listens), future types
    }
  }

  /** The server does not know our call: it ended during a long drop, or the server was
   *  restarted and lost it. A waiting call from this page is then simply requested again. */
  _resumeRefused() {
    const restarted = this.restarted;
    this.restarted = false;
    if (restarted && this.request && !this.wasConnected && ["queued", "ringing"].includes(this.state)) {
      this.resumeToken = null;
      this.callId = null;
      this._forget();
      this.state = "requesting";
      this.signaling.send(this.request);
      this._emit("requeued", { reason: "server_restart" });
      return;
    }
    this._ended({ call_id: this.callId, reason: restarted ? "server_restart" : "caller_lost" });
  }

  _prepareMedia() {
    if (!this._mediaPromise) {
      this._mediaPromise = (async () => {
        if (this.localStream) {
          // Checked on the page before the call: say in the call what it lacks.
          const has = (kind) => this.localStream.getTracks().some((t) => t.kind === kind && t.readyState === "live");
          const lacking = !has("video") || !has("audio")
            ? this.localProblem || (!has("video") ? "no_camera" : "no_microphone") : null;
          if (lacking) this._emit("mediaproblem", { problem: lacking });
          return this.localStream;
        }
        const { stream, problem } = await openLocalMedia(this.mediaOptions);
        if (this.disposed || this.state === "ended") {
          stopStream(stream);
          return null;
        }
        this.localStream = stream;
        if (problem) this._emit("mediaproblem", { problem });
        return stream;
      })();
    }
    return this._mediaPromise;
  }

  async _connected(message) {
    this.peer = message.peer || {};
    this.state = "connected";
    this.wasConnected = true;
    this.callId = message.call_id;
    this._save();
    if (this.session && this.session.callId === message.call_id && !this.session.closed) {
      // Back after a signaling drop: keep the peer connection. Media often survived the
      // blip (it does not go through the server); restart ICE only when it did not.
      // Restart ICE in any case: the network that dropped the socket may have changed our
      // addresses, and a restart on a working path is harmless (media stays on it).
      this._emit("connected", { peer: this.peer, resumed: true });
      await this.session.restartIce();
      return;
    }
    if (this._building) return; // a repeated `connected` while the first is being set up
    this._building = (async () => {
      const stream = await this._prepareMedia();
      if (this.disposed || this.state !== "connected") return;
      const session = new MediaSession(this.signaling, {
        callId: message.call_id, role: message.role, polite: message.polite,
        iceServers: message.ice_servers || [], localStream: stream,
        iceTransportPolicy: message.ice_transport_policy,
      });
      this.session = session;
      session.addEventListener("remotetrack", () => {
        this._emit("remotestream", { stream: session.remoteStream });
        this._emit("remotetracks", this.remoteVideoTracks());
      });
      // A broken media path is restarted by the session itself (call.js); when signaling
      // is down too, the resume's `connected` restarts it.
      session.addEventListener("connectionstate", (event) => this._emit("mediastate", { state: event.detail }));
      session.addEventListener("network", (event) => this._emit("network", event.detail));
      session.addEventListener("remotemedia", (event) => this._emit("remotemedia", event.detail));
      session.addEventListener("devicelost", (event) => {
        this._emit("localstream", { stream: session.localStream });
        this._emit("mediaproblem", { problem: event.detail.kind === "video" ? "camera_lost" : "microphone_lost" });
      });
      session.addEventListener("devicereturned", () => {
        this.localStream = session.localStream;
        this._emit("localstream", { stream: session.localStream });
        this._emit("mediaproblem", { problem: null });
      });
      session.quality.addEventListener("change", (event) => this._emit("quality", event.detail));
      this._emit("connected", { peer: this.peer, resumed: false });
      this._emit("localstream", { stream });
      this._emit("remotestream", { stream: session.remoteStream });
      await session.start();
    })();
    try {
      await this._building;
    } finally {
      this._building = null;
    }
  }

  _teardownMedia() {
    if (this.session) this.session.close();
    this.session = null;
    stopStream(this.localStream);
    this.localStream = null;
    this._mediaPromise = null;
  }

  _ended(message) {
    clearTimeout(this._hangupTimer);
    clearTimeout(this._retryTimer);
    if (this.state === "ended") return;
    this.state = "ended";
    this.lastCallId = message.call_id || this.callId;
    this.ratingToken = message.rating_token || null;
    this.resumeToken = null;
    this._forget();
    this._teardownMedia();
    this._emit("ended", { reason: message.reason, callId: this.lastCallId, wasConnected: this.wasConnected, disposition: message.disposition });
  }

  _fail(code, text, emit = true) {
    this.state = "failed";
    this.resumeToken = null;
    this._forget();
    this._teardownMedia();
    if (this.signaling) this.signaling.close();
    if (emit) this._emit("error", { code, message: text, fatal: true });
  }

  /** Send a message of the session document for this call (adds `call_id`); false when
   *  the socket is not open. */
  sendMatter(message) {
    if (!this.signaling || !this.callId) return false;
    return this.signaling.send({ ...message, call_id: this.callId });
  }

  /** The agent's camera (its first video track) and the newest other live video track,
   *  which is a shared screen the agent added by renegotiation (or null). */
  remoteVideoTracks() {
    const tracks = this.session ? this.session.remoteStream.getVideoTracks() : [];
    const camera = tracks[0] || null;
    const others = tracks.slice(1).filter((t) => t.readyState === "live");
    return { camera, screen: others.length ? others[others.length - 1] : null };
  }

  /** Leave the queue, or end the call. Returns true when `ended` is awaited from the
   *  server; false when the call ended here at once (offline, or nothing to end). */
  hangup() {
    if (["requesting", "queued", "ringing", "connected"].includes(this.state)) {
      if (this.signaling.send({ type: "hangup" })) {
        // Whatever the server does, the caller is not left waiting on a button that
        // seems dead: without `ended` in a few seconds the call ends here.
        clearTimeout(this._hangupTimer);
        this._hangupTimer = setTimeout(() => {
          if (this.state !== "ended") this._ended({ call_id: this.callId, reason: "caller_hangup" });
        }, HANGUP_WAIT_MS);
        return true;
      }
      // Offline: end here; the server ends it when the resume grace runs out.
      this._ended({ call_id: this.callId, reason: "caller_hangup" });
    }
    return false;
  }

  /** Answer the recording consent prompt: the call request goes again with the answer
   *  (and, where a refusal means a callback, the number to call back). */
  answerConsent(consent, callbackPhone = null) {
    if (!this.request || this.state !== "requesting") return false;
    this.request = { ...this.request, recording_consent: consent === true };
    if (callbackPhone) this.request.callback_phone = callbackPhone;
    return this.signaling ? this.signaling.send(this.request) : false;
  }

  /** Leave the queue and be called back on `phone`. */
  acceptCallback(phone) {
    return this.signaling ? this.signaling.send({ type: "accept_callback", phone }) : false;
  }

  /** Rate the call that just ended; resolves true once the server stored it. */
  async rate(score, timeoutMs = 5000) {
    if (!this.lastCallId || !this.signaling) return false;
    const saved = this.signaling.next("rating_saved", timeoutMs).then(() => true, () => false);
    const rating = { type: "rating", call_id: this.lastCallId, score };
    if (this.ratingToken) rating.rating_token = this.ratingToken;
    if (!this.signaling.send(rating)) return false;
    return saved;
  }

  setMicrophone(on) {
    if (this.session) this.session.setMicrophone(on);
    else for (const t of this.localStream ? this.localStream.getAudioTracks() : []) t.enabled = on;
  }

  setCamera(on) {
    if (this.session) this.session.setCamera(on);
    else for (const t of this.localStream ? this.localStream.getVideoTracks() : []) t.enabled = on;
  }

  /** Inbound video figures (framesDecoded…) for tests and quality display. */
  stats() {
    return this.session ? this.session.inboundVideoStats() : Promise.resolve({ framesDecoded: 0 });
  }

  /** Hang up if needed, close everything and forget the call (privacy reset). */
  dispose() {
    if (this.disposed) return;
    clearTimeout(this._hangupTimer);
    clearTimeout(this._retryTimer);
    if (["queued", "ringing", "connected"].includes(this.state) && this.signaling) this.signaling.send({ type: "hangup" });
    this.disposed = true;
    this._forget();
    this._teardownMedia();
    if (this.signaling) this.signaling.close();
    this.signaling = null;
    this.request = null;
    this.peer = null;
    this.callId = this.lastCallId = this.resumeToken = this.ratingToken = null;
  }
}
