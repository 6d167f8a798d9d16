// One WebRTC media session between a caller and an agent.
//
// Why a module of its own: the kiosk, the enterprise page and the console all run the
// same negotiation. The server says who makes the offer (the caller) and who is "polite"
// (the agent) so either side can renegotiate later (screen share) without glare
// ("perfect negotiation", W3C WebRTC examples). After a reconnect the offerer restarts
// ICE instead of tearing the call down.
//
// Devices and network (docs/operations.md "What callers see when devices or the network
// fail"): a camera or microphone that goes away mid-call (its track ends) stops being
// sent (the transceiver turns recvonly, so the other side's remote track mutes and its
// page shows a placeholder) and comes back on the next `devicechange` if it can be
// opened; a media path that stays `disconnected` or goes `failed` is restarted with fresh
// ICE credentials — by the offerer first, by the answerer (polite, so perfect negotiation
// settles any glare) only if the offerer has not done so a little later.

import { NetworkQualityMeter } from "./net-quality.js";

/** How long `disconnected` may last before the offerer restarts ICE (often it heals). */
const DISCONNECTED_GRACE_MS = 3000;
/** The answerer waits this much longer, so the offerer's restart normally comes first. */
const ANSWERER_EXTRA_MS = 3000;
/** A restart that did not bring media back is tried again after this long. */
const RESTART_RETRY_MS = 6000;

export class MediaSession extends EventTarget {
  /**
   * @param {import("./signaling.js").SignalingClient} signaling
   * @param {{callId: string, role: "offerer"|"answerer", polite: boolean,
   *          iceServers: RTCIceServer[], iceTransportPolicy?: "all"|"relay",
   *          localStream: MediaStream}} options
   */
  constructor(signaling, options) {
    super();
    this.signaling = signaling;
    this.callId = options.callId;
    this.role = options.role;
    this.polite = options.polite;
    this.localStream = options.localStream;
    this.remoteStream = new MediaStream();
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.closed = false;
    this.pendingCandidates = [];
    this.network = "ok"; // ok | lost: the media path is down and being restarted
    this.iceRestarts = 0;
    this._restartTimer = null;
    this._everConnected = false;
    this._remoteMedia = null; // {camera, microphone} once the first answer is in
    // "relay" (the server's ice_transport_policy, for kiosks on hostile networks): media
    // only through TURN, never host or server-reflexive candidates.
    this.pc = new RTCPeerConnection({
      iceServers: options.iceServers || [],
      iceTransportPolicy: options.iceTransportPolicy === "relay" ? "relay" : "all",
    });
    for (const track of this.localStream ? this.localStream.getTracks() : []) {
      this.pc.addTrack(track, this.localStream);
    }
    // Only the offerer adds receive-only slots for media it lacks; an answerer's own
    // transceivers would not be matched to the offer's and would force a renegotiation.
    if (this.role === "offerer" && (!this.localStream || this.localStream.getVideoTracks().length === 0)) {
      this.pc.addTransceiver("video", { direction: "recvonly" });
    }
    if (this.role === "offerer" && (!this.localStream || this.localStream.getAudioTracks().length === 0)) {
      this.pc.addTransceiver("audio", { direction: "recvonly" });
    }
    this.pc.ontrack = (event) => {
      if (!this.remoteStream.getTracks().includes(event.track)) {
        this.remoteStream.addTrack(event.track);
      }
      this.dispatchEvent(new CustomEvent("remotetrack", { detail: event.track }));
      this._checkRemoteMedia();
    };
    this.pc.onicecandidate = ({ candidate }) => {
      this.signaling.send({ type: "ice", call_id: this.callId, candidate: candidate ? candidate.toJSON() : null });
    };
    this.pc.onconnectionstatechange = () => {
      this.dispatchEvent(new CustomEvent("connectionstate", { detail: this.pc.connectionState }));
    };
    this.pc.oniceconnectionstatechange = () => this._iceChanged();
    this.pc.onsignalingstatechange = () => this._checkRemoteMedia();
    for (const track of this.localStream ? this.localStream.getTracks() : []) this._watchTrack(track);
    this._onDeviceChange = () => this._deviceChanged();
    if (navigator.mediaDevices) navigator.mediaDevices.addEventListener("devicechange", this._onDeviceChange);
    this.quality = new NetworkQualityMeter(this.pc);
    this.pc.onnegotiationneeded = async () => {
      // The offerer's first offer comes from start(); the answerer only renegotiates
      // (screen share) once the first exchange is done.
      if (this.role === "offerer" ? !this._started : !this._negotiatedOnce) return;
      await this._makeOffer();
    };
    this._onSdp = (event) => this._handleSdp(event.detail);
    this._onIce = (event) => this._handleIce(event.detail);
    signaling.addEventListener("msg:sdp", this._onSdp);
    signaling.addEventListener("msg:ice", this._onIce);
  }

  async _makeOffer(options = {}) {
    if (this.closed || (this.makingOffer && !options.iceRestart)) return;
    try {
      this.makingOffer = true;
      const offer = await this.pc.createOffer(options);
      if (this.pc.signalingState !== "stable" && !options.iceRestart) return;
      await this.pc.setLocalDescription(offer);
      this.signaling.send({ type: "sdp", call_id: this.callId, description: { type: this.pc.localDescription.type, sdp: this.pc.localDescription.sdp } });
    } catch (error) {
      this.dispatchEvent(new CustomEvent("error", { detail: error }));
    } finally {
      this.makingOffer = false;
    }
  }

  async _handleSdp(message) {
    if (message.call_id !== this.callId || this.closed) return;
    const description = message.description;
    const collision = description.type === "offer" && (this.makingOffer || this.pc.signalingState !== "stable");
    this.ignoreOffer = !this.polite && collision;
    if (this.ignoreOffer) return;
    try {
      await this.pc.setRemoteDescription(description);
      this._negotiatedOnce = true;
      for (const candidate of this.pendingCandidates.splice(0)) {
        await this.pc.addIceCandidate(candidate).catch(() => {});
      }
      if (description.type === "offer") {
        await this.pc.setLocalDescription();
        this.signaling.send({ type: "sdp", call_id: this.callId, description: { type: this.pc.localDescription.type, sdp: this.pc.localDescription.sdp } });
      }
    } catch (error) {
      if (!this.closed) this.dispatchEvent(new CustomEvent("error", { detail: error }));
    }
  }

  async _handleIce(message) {
    if (message.call_id !== this.callId || this.closed) return;
    const candidate = message.candidate;
    if (!this.pc.remoteDescription) {
      this.pendingCandidates.push(candidate || undefined);
      return;
    }
    try {
      await this.pc.addIceCandidate(candidate || undefined);
    } catch (error) {
      if (!this.ignoreOffer) this.dispatchEvent(new CustomEvent("error", { detail: error }));
    }
  }

  /** Start negotiation (the offerer calls this once the session is connected). */
  async start() {
    if (this.role !== "offerer" || this._started) return;
    this._started = true;
    await this._makeOffer();
  }

  /** After a network blip: a new offer with fresh ICE credentials, same tracks. The
   *  answerer asks its connection to restart, which makes it offer (it is polite). */
  async restartIce() {
    if (this.closed) return;
    this.iceRestarts += 1;
    if (this.role === "offerer") await this._makeOffer({ iceRestart: true });
    else if (this._negotiatedOnce) this.pc.restartIce();
  }

  _iceChanged() {
    if (this.closed) return;
    const state = this.pc.iceConnectionState;
    if (state === "connected" || state === "completed") {
      this._everConnected = true;
      clearTimeout(this._restartTimer);
      this._restartTimer = null;
      this._setNetwork("ok");
    } else if (state === "disconnected" || state === "failed") {
      if (!this._everConnected && state === "disconnected") return;
      const extra = this.role === "offerer" ? 0 : ANSWERER_EXTRA_MS;
      this._scheduleRestart((state === "failed" ? 0 : DISCONNECTED_GRACE_MS) + extra);
    }
  }

  _scheduleRestart(delay) {
    if (this._restartTimer) return;
    this._restartTimer = setTimeout(() => {
      this._restartTimer = null;
      const state = this.pc.iceConnectionState;
      if (this.closed || state === "connected" || state === "completed") return;
      this._setNetwork("lost");
      if (this.signaling.isOpen) this.restartIce();
      this._scheduleRestart(RESTART_RETRY_MS);
    }, delay);
  }

  _setNetwork(state) {
    if (this.network === state) return;
    this.network = state;
    this.dispatchEvent(new CustomEvent("network", { detail: { state } }));
  }

  /** Whether the other side sends camera and microphone now (the first transceiver of
   *  each kind receives); a screen share comes on a later transceiver and does not count. */
  remoteMedia() {
    return { camera: false, microphone: false, ...this._remoteMedia };
  }

  _checkRemoteMedia() {
    if (this.closed) return;
    const receives = (kind) => {
      const first = this.pc.getTransceivers().find((t) => t.receiver.track.kind === kind && t.mid !== null);
      return !!first && ["sendrecv", "recvonly"].includes(first.currentDirection);
    };
    if (!this.pc.currentRemoteDescription) return;
    const now = { camera: receives("video"), microphone: receives("audio") };
    const was = this._remoteMedia;
    if (was && now.camera === was.camera && now.microphone === was.microphone) return;
    this._remoteMedia = now;
    this.dispatchEvent(new CustomEvent("remotemedia", { detail: { ...now } }));
  }

  /** The first transceiver of a kind: the camera or microphone slot (not a screen share). */
  _slot(kind) {
    return this.pc.getTransceivers().find((t) => t.receiver.track.kind === kind && t.currentDirection !== "stopped") || null;
  }

  _watchTrack(track) {
    track.addEventListener("ended", () => this._trackEnded(track));
  }

  /** A device went away (unplugged, taken by the system): stop sending that kind; the call
   *  goes on with the rest. Pages hear "devicelost" {kind}. */
  async _trackEnded(track) {
    if (this.closed || !this.localStream || !this.localStream.getTracks().includes(track)) return;
    this.localStream.removeTrack(track);
    this.dispatchEvent(new CustomEvent("devicelost", { detail: { kind: track.kind } }));
    const slot = this.pc.getTransceivers().find((t) => t.sender.track === track) || this._slot(track.kind);
    if (!slot) return;
    try {
      await slot.sender.replaceTrack(null);
      slot.direction = "recvonly"; // renegotiates: the other side's track mutes
    } catch { /* the connection closed under us */ }
  }

  /** A device was plugged in: open what we lack and send it again ("devicereturned"). */
  async _deviceChanged() {
    if (this.closed || this._reacquiring) return;
    this._reacquiring = true;
    try {
      for (const kind of ["video", "audio"]) {
        const has = this.localStream && this.localStream.getTracks().some((t) => t.kind === kind && t.readyState === "live");
        const slot = this._slot(kind);
        if (has || !slot || !this._negotiatedOnce) continue;
        let track;
        try {
          track = (await navigator.mediaDevices.getUserMedia({ [kind]: true })).getTracks()[0];
        } catch {
          continue; // still missing or busy
        }
        if (this.closed) {
          track.stop();
          return;
        }
        if (!this.localStream) this.localStream = new MediaStream();
        this.localStream.addTrack(track);
        this._watchTrack(track);
        await slot.sender.replaceTrack(track);
        slot.direction = "sendrecv";
        this.dispatchEvent(new CustomEvent("devicereturned", { detail: { kind, track } }));
      }
    } finally {
      this._reacquiring = false;
    }
  }

  setMicrophone(on) {
    for (const track of this.localStream ? this.localStream.getAudioTracks() : []) track.enabled = on;
  }

  setCamera(on) {
    for (const track of this.localStream ? this.localStream.getVideoTracks() : []) track.enabled = on;
  }

  /** Inbound video figures for quality display and tests. */
  async inboundVideoStats() {
    let result = { framesDecoded: 0, framesPerSecond: 0, packetsLost: 0, jitter: 0, bytesReceived: 0 };
    if (this.closed) return result;
    const report = await this.pc.getStats();
    report.forEach((stat) => {
      if (stat.type === "inbound-rtp" && stat.kind === "video") {
        result = {
          framesDecoded: stat.framesDecoded || 0,
          framesPerSecond: stat.framesPerSecond || 0,
          packetsLost: stat.packetsLost || 0,
          jitter: stat.jitter || 0,
          bytesReceived: stat.bytesReceived || 0,
        };
      }
    });
    return result;
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this._restartTimer);
    this.quality.stop();
    if (navigator.mediaDevices) navigator.mediaDevices.removeEventListener("devicechange", this._onDeviceChange);
    this.signaling.removeEventListener("msg:sdp", this._onSdp);
    this.signaling.removeEventListener("msg:ice", this._onIce);
    this.pc.close();
  }
}

const PROBLEMS = {
  NotAllowedError: "permission_denied",
  SecurityError: "permission_denied",
  NotFoundError: "no_device",
  OverconstrainedError: "no_device",
  NotReadableError: "device_busy",
  AbortError: "device_busy",
};

/**
 * Camera and microphone, with a plain-language reason when the browser refuses.
 *
 * Returns {stream, problem}; problem is null, "permission_denied", "no_device",
 * "device_busy", "insecure_context" (page not served over https or from localhost, so the
 * browser offers no camera at all) or "unknown". With `allowPartial`, a missing or busy
 * (held by another program) camera or microphone is not fatal: each half is asked for
 * alone, the stream has the half that works, and `problem` names the other one:
 * "no_camera", "camera_busy", "camera_failed", or the same for "microphone".
 */
export async function openLocalMedia({ video = true, audio = true, allowPartial = false } = {}) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return { stream: null, problem: window.isSecureContext === false ? "insecure_context" : "no_device" };
  }
  try {
    return { stream: await navigator.mediaDevices.getUserMedia({ video, audio }), problem: null };
  } catch (error) {
    const problem = PROBLEMS[error.name] || "unknown";
    if (allowPartial && (problem === "no_device" || problem === "device_busy") && video && audio) {
      const half = await openHalf("audio", audio);
      const other = await openHalf("video", video);
      const tracks = [half, other].flatMap((h) => (h.track ? [h.track] : []));
      if (tracks.length === 1) {
        const failed = half.track ? other : half;
        return { stream: new MediaStream(tracks), problem: failed.problem };
      }
      for (const track of tracks) track.stop(); // both open alone: a glitch, report it as it was
    }
    return { stream: null, problem };
  }
}

/** One kind alone: {track} or {problem: "no_camera" | "camera_busy" | "camera_failed" …}. */
async function openHalf(kind, constraints) {
  const device = kind === "video" ? "camera" : "microphone";
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ [kind]: constraints });
    return { track: stream.getTracks()[0] };
  } catch (error) {
    const reason = PROBLEMS[error.name];
    return { track: null, problem: reason === "no_device" ? `no_${device}` : reason === "device_busy" ? `${device}_busy` : `${device}_failed` };
  }
}

/** Stop every track of a stream (camera light off); null is fine. */
export function stopStream(stream) {
  for (const track of stream ? stream.getTracks() : []) track.stop();
}
