// The call in progress: remote video, local preview, mute / camera / hang-up, call timer,
// the caller card, "caller reconnecting…" and the network indicator.
//
// The agent is the answerer (the server says so in `connected`): the caller sends the SDP
// offer, which may arrive before the camera has opened; those early sdp/ice messages are
// held and replayed to the MediaSession once it exists. A second `connected` for the same
// call (after the console's own socket reconnected) keeps the running session and
// restarts ICE on it.
//
// Devices and network: a missing or busy camera or microphone leaves the call going with
// the half that works (a toast says which); a device lost mid-call is announced the same
// way and comes back by itself when plugged in again (MediaSession). When the caller sends
// no camera a placeholder replaces the black box, and a note says when no microphone comes.
// The network indicator (net-quality.js) grades RTT, loss, jitter, bitrate and frame rate.

import { MediaSession, openLocalMedia } from "/static/common/call.js";
import { byTestId, h } from "./dom.js";
import { describeCaller } from "./caller.js";
import { clock } from "./format.js";
import { icon } from "./icons.js";
import { CallRecorder } from "./recorder.js";

const MEDIA_TIMEOUT_MS = 8000;

export class CallPanel extends EventTarget {
  /**
   * @param {HTMLElement} root  the data-testid="call-panel" section
   * @param {{i18n: any, catalog: any, toasts: any, onHangup: (callId: string) => void}} deps
   */
  constructor(root, { i18n, catalog, toasts, onHangup }) {
    super();
    this.root = root;
    this.i18n = i18n;
    this.catalog = catalog;
    this.toasts = toasts;
    this.onHangup = onHangup;
    this.signaling = null;
    this.call = null; // {callId, peer, startedAt, offer}
    this.session = null;
    this.localStream = null;
    this.mediaPromise = null;
    this.microphoneOn = true;
    this.cameraOn = true;
    this.remoteVideo = byTestId("remote-video", root);
    this.localVideo = byTestId("local-video", root);
    this.muteButton = byTestId("mute-button", root);
    this.cameraButton = byTestId("camera-button", root);
    this.hangupButton = byTestId("hangup-button", root);
    this.timerEl = byTestId("call-timer", root);
    this.overlay = root.querySelector('[data-role="call-overlay"]');
    this.peerReconnecting = byTestId("peer-reconnecting", root);
    this.unmuteRemote = byTestId("unmute-remote", root);
    this.quality = byTestId("call-quality", root);
    this.qualityLive = root.querySelector('[data-role="quality-live"]');
    this.placeholder = byTestId("peer-placeholder", root);
    this.peerNoMic = byTestId("peer-no-microphone", root);
    this.recorder = new CallRecorder(root, i18n, toasts);
    this.buffered = [];
    this._buffer = (event) => {
      if (this.call && event.detail.call_id === this.call.callId) this.buffered.push(event);
    };
    this.muteButton.addEventListener("click", () => this.toggleMicrophone());
    this.cameraButton.addEventListener("click", () => this.toggleCamera());
    this.hangupButton.addEventListener("click", () => this.hangup());
    this.unmuteRemote.addEventListener("click", () => {
      this.remoteVideo.muted = false;
      this.remoteVideo.play().catch(() => {});
      this.unmuteRemote.hidden = true;
    });
    for (const type of ["loadeddata", "playing", "resize"]) {
      this.remoteVideo.addEventListener(type, () => this._remoteVideoChanged());
    }
    window.__callStats = () => (this.session ? this.session.inboundVideoStats() : Promise.resolve({ framesDecoded: 0 }));
    window.__mediaSession = () => this.session; // tests: force an ICE restart, read quality
    this._renderControls();
  }

  get callId() {
    return this.call ? this.call.callId : null;
  }

  get active() {
    return this.call !== null;
  }

  /** Open camera and microphone early (when the phone rings) so answering is instant. */
  prepareMedia() {
    if (!this.mediaPromise) {
      let timedOut = false;
      const media = openLocalMedia({
        video: { width: { ideal: 1280 }, height: { ideal: 720 } },
        audio: { echoCancellation: true, noiseSuppression: true },
        allowPartial: true,
      });
      media.then((late) => {
        if (timedOut && late.stream) for (const track of late.stream.getTracks()) track.stop();
      });
      const timeout = new Promise((resolve) => setTimeout(() => {
        timedOut = true;
        resolve({ stream: null, problem: "timeout" });
      }, MEDIA_TIMEOUT_MS));
      const promise = Promise.race([media, timeout]).then((result) => {
        if (this.mediaPromise !== promise) {
          // Released (or replaced) while the camera was opening: give it back at once.
          if (result.stream) for (const track of result.stream.getTracks()) track.stop();
          return { stream: null, problem: "released" };
        }
        this.localStream = result.stream;
        return result;
      });
      this.mediaPromise = promise;
    }
    return this.mediaPromise;
  }

  /** Stop the camera if no call is using it (the offer was cancelled or rejected). */
  releaseMedia() {
    if (this.call) return;
    this._stopLocal();
  }

  /**
   * Start (or keep) the session for a `connected` message.
   * @param {import("/static/common/signaling.js").SignalingClient} signaling
   * @param {object} message  the server's `connected`
   * @param {object|null} offer  the `offer` it answers, for the caller card
   */
  async start(signaling, message, offer) {
    if (this.call && this.call.callId === message.call_id && this.session && !this.session.closed) {
      this.call.peer = { ...this.call.peer, ...message.peer };
      this.renderCard();
      // Our own reconnect: the media may never have stopped, but the network that dropped
      // the socket may have changed our addresses; a restart on a working path is harmless.
      this.session.restartIce();
      return;
    }
    if (this.call) this.end();
    this.signaling = signaling;
    this.lastStart = { signaling, message, offer };
    const startedAt = message.answered_at ? message.answered_at * 1000 : Date.now();
    this.call = { callId: message.call_id, peer: { ...(offer || {}), ...(message.peer || {}) }, startedAt, offer };
    this.buffered = [];
    signaling.addEventListener("msg:sdp", this._buffer);
    signaling.addEventListener("msg:ice", this._buffer);
    this.microphoneOn = true;
    this.cameraOn = true;
    this.root.hidden = false;
    this.root.dataset.callId = message.call_id;
    this._setOverlay("call.connecting");
    this.peerReconnecting.hidden = true;
    this.unmuteRemote.hidden = true;
    this.renderCard();
    this._renderControls();
    this._tickTimer();
    this.timer = setInterval(() => this._tickTimer(), 1000);

    const callId = message.call_id;
    const { stream, problem } = await this.prepareMedia();
    if (!this.call || this.call.callId !== callId) return; // ended while the camera opened
    if (problem) {
      const key = this.i18n.has(`call.media.${problem}`) ? `call.media.${problem}` : "call.no_camera";
      this.toasts.error(this.i18n.t(key) + (stream ? "" : ` (${problem})`));
    }
    this._showLocal(stream);
    this.session = new MediaSession(signaling, {
      callId,
      role: message.role || "answerer",
      polite: message.polite ?? true,
      iceServers: message.ice_servers || [],
      iceTransportPolicy: message.ice_transport_policy,
      localStream: stream,
    });
    this.session.addEventListener("remotetrack", () => this._attachRemote());
    this.session.addEventListener("connectionstate", (event) => this._mediaState(event.detail));
    this.session.addEventListener("error", (event) => console.warn("media session:", event.detail));
    this.session.addEventListener("network", (event) => this._network(event.detail.state));
    this.session.addEventListener("remotemedia", (event) => this._peerMedia(event.detail));
    this.session.addEventListener("devicelost", (event) => {
      this.toasts.error(this.i18n.t(event.detail.kind === "video" ? "call.media.camera_lost" : "call.media.microphone_lost"));
      this._showLocal(this.session.localStream);
    });
    this.session.addEventListener("devicereturned", (event) => {
      this.toasts.info(this.i18n.t(event.detail.kind === "video" ? "call.media.camera_back" : "call.media.microphone_back"));
      this.localStream = this.session.localStream;
      this._showLocal(this.session.localStream);
    });
    this.session.quality.addEventListener("quality", (event) => this._quality(event.detail));
    this.recorder.attach(signaling, message, this.session);
    signaling.removeEventListener("msg:sdp", this._buffer);
    signaling.removeEventListener("msg:ice", this._buffer);
    for (const event of this.buffered.splice(0)) {
      signaling.dispatchEvent(new CustomEvent(event.type, { detail: event.detail }));
    }
    await this.session.start();
  }

  /** The call is over: close media, hide, and return what wrap-up needs to show. */
  end() {
    if (!this.call) return null;
    const call = this.call;
    const summary = { callId: call.callId, peer: call.peer, duration: (Date.now() - call.startedAt) / 1000 };
    if (this.signaling) {
      this.signaling.removeEventListener("msg:sdp", this._buffer);
      this.signaling.removeEventListener("msg:ice", this._buffer);
    }
    clearInterval(this.timer);
    this.removeScreenTrack();
    this.recorder.close();
    if (this.session) this.session.close();
    this.session = null;
    this.call = null;
    this.hangingUp = false; // the guard is against double clicks on this call, not the next
    this.remoteVideo.srcObject = null;
    this.localVideo.srcObject = null;
    this._stopLocal();
    this._quality(null);
    this._peerMedia({ camera: true, microphone: true });
    this.root.hidden = true;
    delete this.root.dataset.callId;
    return summary;
  }

  hangup() {
    if (!this.call || this.hangingUp) return;
    this.hangingUp = true;
    setTimeout(() => { this.hangingUp = false; }, 1500);
    this.onHangup(this.call.callId);
  }

  /** peer_status from the server: the caller's socket dropped or came back. */
  peerStatus(status, restart = false) {
    if (!this.call) return;
    if (status === "connected" && restart && this.lastStart && this.session) {
      // The caller's page was reloaded: its old peer connection is gone, a new offer follows.
      const { signaling, message, offer } = this.lastStart;
      this.end();
      this.start(signaling, message, offer);
      this.dispatchEvent(new CustomEvent("media-restarted")); // a shared screen went with it
      return;
    }
    this.peerReconnecting.hidden = status !== "reconnecting";
    this.root.classList.toggle("peer-away", status === "reconnecting");
  }

  /**
   * Add a shared screen's video track to the call. The agent then makes the offer itself
   * (MediaSession renegotiates on negotiationneeded once the first exchange is done).
   */
  addScreenTrack(track, stream) {
    if (!this.session || this.session.closed) return false;
    this.removeScreenTrack();
    this.screenSender = this.session.pc.addTrack(track, stream);
    this.recorder.setScreen(track);
    this.root.dataset.sharing = "true";
    return true;
  }

  /** Take the shared screen out of the call again (a second renegotiation). */
  removeScreenTrack() {
    if (this.screenSender && this.session && !this.session.closed) {
      try {
        this.session.pc.removeTrack(this.screenSender);
      } catch { /* the connection closed under us */ }
    }
    this.screenSender = null;
    this.recorder.setScreen(null);
    delete this.root.dataset.sharing;
  }

  toggleMicrophone() {
    if (!this.call) return;
    this.microphoneOn = !this.microphoneOn;
    if (this.session) this.session.setMicrophone(this.microphoneOn);
    this._renderControls();
  }

  toggleCamera() {
    if (!this.call) return;
    this.cameraOn = !this.cameraOn;
    if (this.session) this.session.setCamera(this.cameraOn);
    this._renderControls();
  }

  render() {
    this.renderCard();
    this._renderControls();
    if (this.overlayKey) this._setOverlay(this.overlayKey);
    this._renderQuality();
  }

  renderCard() {
    if (!this.call) return;
    const peer = this.call.peer;
    const who = describeCaller(this.i18n, peer);
    const card = byTestId("caller-card", this.root);
    card.querySelector('[data-role="caller-matter"]').textContent = this.catalog.name(peer.skill);
    card.querySelector('[data-role="caller-origin"]').replaceChildren(
      icon(peer.origin === "kiosk" ? "kiosk" : peer.origin === "enterprise" ? "building" : "link", { size: 16 }), who.origin);
    card.querySelector('[data-role="caller-label"]').textContent = who.label;
    const extra = [...who.extra];
    if (peer.language && peer.language !== "zh-CN") extra.push(`${this.i18n.t("call.language")} ${this.i18n.t(`language.${peer.language}`)}`);
    card.querySelector('[data-role="caller-extra"]').replaceChildren(...extra.map((line) => h("span", {}, line)));
  }

  _renderControls() {
    const t = (key) => this.i18n.t(key);
    const set = (button, on, iconOn, iconOff, labelOn, labelOff) => {
      button.setAttribute("aria-pressed", String(!on));
      button.classList.toggle("off", !on);
      button.querySelector('[data-role="icon"]').replaceChildren(icon(on ? iconOn : iconOff));
      button.querySelector('[data-role="label"]').textContent = t(on ? labelOn : labelOff);
    };
    set(this.muteButton, this.microphoneOn, "mic", "mic-off", "call.mute", "call.unmute");
    set(this.cameraButton, this.cameraOn, "video", "video-off", "call.camera_off", "call.camera_on");
    this.root.classList.toggle("camera-off", !this.cameraOn);
    this.root.querySelector('[data-role="local-caption"]').textContent = t(this.root.classList.contains("no-local") ? "call.no_local_camera" : this.cameraOn ? "call.you" : "call.camera_disabled");
  }

  _attachRemote() {
    // All tracks of one offer arrive together; attach once they are in the stream.
    setTimeout(() => {
      if (!this.session) return;
      const stream = this.session.remoteStream;
      if (this.remoteVideo.srcObject !== stream) this.remoteVideo.srcObject = stream;
      this._play();
    }, 0);
  }

  _play() {
    this.remoteVideo.play().catch((error) => {
      if (error.name !== "NotAllowedError") return;
      this.remoteVideo.muted = true; // autoplay policy: show video now, sound on a click
      this.remoteVideo.play().catch(() => {});
      this.unmuteRemote.hidden = false;
    });
  }

  _remoteVideoChanged() {
    if (this.remoteVideo.videoWidth > 0 && this.overlayKey === "call.connecting") this._setOverlay(null);
  }

  _mediaState(state) {
    if (state === "connected") {
      if (this.overlayKey === "call.media_lost") this._setOverlay(this.remoteVideo.videoWidth > 0 ? null : "call.connecting");
    } else if (state === "disconnected" || state === "failed") {
      this._setOverlay("call.media_lost");
    }
  }

  _setOverlay(key) {
    this.overlayKey = key;
    this.overlay.hidden = !key;
    this.overlay.querySelector('[data-role="overlay-text"]').textContent = key ? this.i18n.t(key) : "";
  }

  _tickTimer() {
    if (!this.call) return;
    this.timerEl.textContent = clock((Date.now() - this.call.startedAt) / 1000);
  }

  /** A poll of the network meter ({level, sample}), or null when the call ended. */
  _quality(detail) {
    const level = detail ? detail.level : "none";
    const changed = level !== (this.qualityLevel || "none");
    this.qualityLevel = level;
    this.qualitySample = detail ? detail.sample : null;
    this._renderQuality(changed);
  }

  _renderQuality(announce = false) {
    const level = this.qualityLevel || "none";
    this.quality.dataset.level = level;
    const text = `${this.i18n.t("call.quality")} ${this.i18n.t(`call.quality.${level}`)}`;
    this.quality.querySelector('[data-role="quality-text"]').textContent = text;
    const sample = this.qualitySample;
    const figures = [];
    if (sample && sample.rttMs != null) figures.push(`RTT ${Math.round(sample.rttMs)} ms`);
    if (sample && sample.lossPct != null) figures.push(`${this.i18n.t("call.quality.loss")} ${sample.lossPct.toFixed(1)}%`);
    if (sample && sample.jitterMs != null) figures.push(`${this.i18n.t("call.quality.jitter")} ${Math.round(sample.jitterMs)} ms`);
    if (sample && sample.fps != null) figures.push(`${Math.round(sample.fps)} fps`);
    this.quality.title = figures.join(" · ");
    if (announce && this.qualityLive) this.qualityLive.textContent = level === "none" ? "" : text;
  }

  /** The media path is down and being restarted ("lost") or flows again ("ok"). */
  _network(state) {
    if (state === "lost") this._setOverlay("call.media_lost");
    else if (this.overlayKey === "call.media_lost") this._setOverlay(this.remoteVideo.videoWidth > 0 ? null : "call.connecting");
  }

  /** What the caller sends: a placeholder without camera, a note without microphone. */
  _peerMedia({ camera, microphone }) {
    this.placeholder.hidden = camera;
    this.peerNoMic.hidden = microphone;
    this.root.classList.toggle("peer-no-camera", !camera);
    if (!camera && this.overlayKey === "call.connecting") this._setOverlay(null);
  }

  _showLocal(stream) {
    const video = !!stream && stream.getVideoTracks().some((t) => t.readyState === "live");
    this.localVideo.srcObject = video ? stream : null;
    this.root.classList.toggle("no-local", !video);
    this.root.querySelector('[data-role="local-caption"]').textContent = this.i18n.t(video ? (this.cameraOn ? "call.you" : "call.camera_disabled") : "call.no_local_camera");
  }

  _stopLocal() {
    this.mediaPromise = null;
    if (this.localStream) for (const track of this.localStream.getTracks()) track.stop();
    this.localStream = null;
  }
}
