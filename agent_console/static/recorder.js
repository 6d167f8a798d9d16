// The recorder copy: the agent's browser sends what the call carries to the server.
//
// Only for a call whose caller agreed to be recorded (`connected.recording.consent`). Once
// the call's own peer connection is connected, a SECOND RTCPeerConnection sends the
// caller's audio and video (as received), the agent's microphone and camera, and the
// screen share while there is one, to the server's recorder (`recorder_offer`, answered by
// `recorder_answer`; docs/protocol.md "Recording"). The order of the sections is the
// recorder's contract: audio caller, agent; video caller, agent, screen. Nothing here can
// delay or end the call: a recorder that fails is reported to the agent and that is all.

const TEXT = {
  consented: { "zh-CN": "客户已同意录音录像", en: "The caller agreed to recording" },
  refused: { "zh-CN": "客户未同意录音录像：本通话不录音", en: "The caller declined recording: this call is not recorded" },
  recording: { "zh-CN": "录音录像中", en: "Recording" },
  starting: { "zh-CN": "录像连接中…", en: "Recorder connecting…" },
  stopped: { "zh-CN": "录像已保存", en: "Recording saved" },
  failed: { "zh-CN": "录像中断，通话照常进行（已记录）", en: "Recording stopped; the call goes on (logged)" },
};

/** ms to wait for ICE gathering before the offer is sent with what there is. */
const GATHER_MS = 3000;

export class CallRecorder {
  /** @param {HTMLElement} panel the call panel; @param i18n the console's; @param toasts notices */
  constructor(panel, i18n, toasts) {
    this.i18n = i18n;
    this.toasts = toasts;
    this.pc = null;
    this.callId = null;
    this.state = null;
    this.consent = null;
    this.screen = null;
    this.status = document.createElement("p");
    this.status.className = "recording-status";
    this.status.setAttribute("role", "status");
    this.status.dataset.testid = "recording-status";
    this.status.hidden = true;
    (panel.querySelector('[data-testid="caller-card"]') || panel).append(this.status);
    if (!document.querySelector("link[data-recording-css]")) {
      const link = document.createElement("link");
      link.rel = "stylesheet";
      link.href = "/static/console/recording.css";
      link.dataset.recordingCss = "";
      document.head.append(link);
    }
    this._onAnswer = (event) => this._answer(event.detail);
    this._onStatus = (event) => this._serverStatus(event.detail);
    i18n.addEventListener?.("change", () => this._render());
  }

  _t(key) {
    const entry = TEXT[key];
    return entry[this.i18n.language] ?? entry["zh-CN"];
  }

  /** A call started: record it if the caller agreed, once its media is connected. */
  attach(signaling, message, session) {
    this.close();
    const recording = message.recording || null;
    this.callId = message.call_id;
    this.consent = recording ? recording.consent : null;
    this.state = recording && recording.state ? recording.state : null;
    this.signaling = signaling;
    this.session = session;
    signaling.addEventListener("msg:recorder_answer", this._onAnswer);
    signaling.addEventListener("msg:recording_status", this._onStatus);
    this._render();
    if (this.consent !== "granted" || ["starting", "recording"].includes(this.state)) return;
    const whenConnected = () => {
      if (session.pc.connectionState !== "connected" || this.pc || this.session !== session) return;
      this._start(message.ice_servers || []).catch((error) => this._failed(String(error)));
    };
    session.pc.addEventListener("connectionstatechange", whenConnected);
    whenConnected();
  }

  async _start(iceServers) {
    const session = this.session;
    this.pc = new RTCPeerConnection({ iceServers, bundlePolicy: "max-bundle" });
    const remote = session.remoteStream;
    const local = session.localStream;
    const first = (stream, kind) => (stream ? (kind === "audio" ? stream.getAudioTracks() : stream.getVideoTracks())[0] : null) || null;
    this.senders = {};
    for (const [name, track, kind] of [
      ["caller-audio", first(remote, "audio"), "audio"], ["agent-audio", first(local, "audio"), "audio"],
      ["caller-video", first(remote, "video"), "video"], ["agent-video", first(local, "video"), "video"],
      ["screen", this.screen, "video"],
    ]) {
      this.senders[name] = this.pc.addTransceiver(track || kind, { direction: "sendonly" }).sender;
    }
    // The caller's tracks may arrive after the call connected (a late renegotiation).
    session.addEventListener("remotetrack", () => {
      if (!this.pc) return;
      for (const kind of ["audio", "video"]) {
        const sender = this.senders[`caller-${kind}`];
        const track = first(session.remoteStream, kind);
        if (track && !sender.track) sender.replaceTrack(track).catch(() => {});
      }
    });
    this.pc.addEventListener("connectionstatechange", () => {
      if (this.pc && this.pc.connectionState === "failed") this._failed("peer connection failed");
    });
    await this.pc.setLocalDescription(await this.pc.createOffer());
    await new Promise((resolve) => {
      if (this.pc.iceGatheringState === "complete") return resolve();
      const timer = setTimeout(resolve, GATHER_MS);
      this.pc.addEventListener("icegatheringstatechange", () => {
        if (this.pc && this.pc.iceGatheringState === "complete") { clearTimeout(timer); resolve(); }
      });
    });
    if (!this.pc) return;
    const { type, sdp } = this.pc.localDescription;
    this.signaling.send({ type: "recorder_offer", call_id: this.callId, description: { type, sdp } });
  }

  async _answer(message) {
    if (!this.pc || message.call_id !== this.callId) return;
    try {
      await this.pc.setRemoteDescription(message.description);
    } catch (error) {
      this._failed(String(error));
    }
  }

  _serverStatus(message) {
    if (message.call_id !== this.callId) return;
    const before = this.state;
    this.state = message.state;
    this._render();
    if (message.state === "failed" && before !== "failed") {
      console.warn("recording failed:", message.reason);
      this.toasts?.error?.(this._t("failed"));
      this._closePc();
    }
  }

  _failed(reason) {
    if (this.state === "failed") return;
    console.warn("recorder copy failed:", reason);
    this.state = "failed";
    this._render();
    this.toasts?.error?.(this._t("failed"));
    this._closePc();
  }

  /** The agent started (track) or stopped (null) sharing its screen. */
  setScreen(track) {
    this.screen = track || null;
    if (this.pc && this.senders && this.senders.screen) this.senders.screen.replaceTrack(this.screen).catch(() => {});
  }

  _render() {
    const key = this.state === "recording" ? "recording"
      : this.state === "starting" ? "starting"
      : this.state === "failed" ? "failed"
      : this.state === "stopped" ? "stopped"
      : this.consent === "granted" ? "consented"
      : this.consent === "refused" ? "refused" : null;
    this.status.hidden = !key;
    this.status.dataset.state = this.state || this.consent || "";
    this.status.textContent = key ? `${key === "recording" ? "● " : ""}${this._t(key)}` : "";
  }

  _closePc() {
    if (this.pc) {
      try { this.pc.close(); } catch { /* already closed */ }
    }
    this.pc = null;
  }

  /** The call ended (or another starts): drop the copy; the server finishes the file. */
  close() {
    this._closePc();
    if (this.signaling) {
      this.signaling.removeEventListener("msg:recorder_answer", this._onAnswer);
      this.signaling.removeEventListener("msg:recording_status", this._onStatus);
    }
    this.signaling = null;
    this.session = null;
    this.callId = null;
    this.state = null;
    this.consent = null;
    this.screen = null;
    this._render();
  }
}
