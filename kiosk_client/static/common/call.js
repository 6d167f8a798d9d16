// One WebRTC media session between a caller and an agent.
//
// Why a module of its own: the kiosk, the enterprise page and the console all run the
// same negotiation. The server says who makes the offer (the caller) and who is "polite"
// (the agent) so either side can renegotiate later (screen share) without glare
// ("perfect negotiation", W3C WebRTC examples). After a reconnect the offerer restarts
// ICE instead of tearing the call down.

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
    };
    this.pc.onicecandidate = ({ candidate }) => {
      this.signaling.send({ type: "ice", call_id: this.callId, candidate: candidate ? candidate.toJSON() : null });
    };
    this.pc.onconnectionstatechange = () => {
      this.dispatchEvent(new CustomEvent("connectionstate", { detail: this.pc.connectionState }));
    };
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

  /** After a network blip: a new offer with fresh ICE credentials, same tracks. */
  async restartIce() {
    if (this.role === "offerer") await this._makeOffer({ iceRestart: true });
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
 * browser offers no camera at all) or "unknown". With `allowPartial`, a missing camera or
 * microphone is not fatal: the stream has what exists and `problem` says what is missing
 * as "no_camera" or "no_microphone".
 */
export async function openLocalMedia({ video = true, audio = true, allowPartial = false } = {}) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return { stream: null, problem: window.isSecureContext === false ? "insecure_context" : "no_device" };
  }
  try {
    return { stream: await navigator.mediaDevices.getUserMedia({ video, audio }), problem: null };
  } catch (error) {
    const problem = PROBLEMS[error.name] || "unknown";
    if (allowPartial && problem === "no_device" && video && audio) {
      for (const [only, missing] of [[{ audio }, "no_camera"], [{ video }, "no_microphone"]]) {
        try {
          return { stream: await navigator.mediaDevices.getUserMedia(only), problem: missing };
        } catch { /* try the other half */ }
      }
    }
    return { stream: null, problem };
  }
}

/** Stop every track of a stream (camera light off); null is fine. */
export function stopStream(stream) {
  for (const track of stream ? stream.getTracks() : []) track.stop();
}
