// Camera and microphone check before the call: a live preview, a microphone level bar,
// and a plain explanation with a retry when the browser refuses or finds no device.
// The checked stream is handed to the call (takeStream) so the browser asks only once.

import { openLocalMedia, stopStream } from "/static/common/call.js";

export class DeviceCheck {
  constructor(root, i18n) {
    this.root = root;
    this.i18n = i18n;
    this.preview = root.querySelector('[data-testid="device-preview"]');
    this.button = root.querySelector('[data-testid="device-check-button"]');
    this.status = root.querySelector('[data-testid="device-status"]');
    this.meter = root.querySelector('[data-testid="mic-level"]');
    this.bar = this.meter.querySelector("span");
    this.stream = null;
    this.problem = null; // what the last check lacked ("camera_busy", …), for the call's notice
    this.audio = null;
    this.frame = null;
    this.statusKey = "device_idle";
    this.state = "idle"; // idle | checking | ok | problem
    this.button.addEventListener("click", () => this.check());
    i18n.addEventListener("change", () => this._render());
    this._render();
  }

  async check() {
    this._release();
    this.state = "checking";
    this.statusKey = "device_checking";
    this._render();
    const { stream, problem } = await openLocalMedia({ allowPartial: true });
    this.stream = stream;
    this.problem = problem;
    if (stream) {
      this.preview.srcObject = stream;
      this.preview.play().catch(() => {});
      this._meter(stream);
    }
    this.state = problem && !stream ? "problem" : "ok";
    this.statusKey = problem ? `device.${problem}` : "device_ok";
    this._render();
  }

  _meter(stream) {
    if (stream.getAudioTracks().length === 0) return;
    try {
      this.audio = new AudioContext();
      const analyser = this.audio.createAnalyser();
      analyser.fftSize = 512;
      this.audio.createMediaStreamSource(stream).connect(analyser);
      const samples = new Uint8Array(analyser.fftSize);
      const tick = () => {
        analyser.getByteTimeDomainData(samples);
        let peak = 0;
        for (const s of samples) peak = Math.max(peak, Math.abs(s - 128));
        const level = Math.min(100, Math.round((peak / 128) * 180));
        this.bar.style.width = `${level}%`;
        this.meter.setAttribute("aria-valuenow", String(level));
        this.frame = requestAnimationFrame(tick);
      };
      tick();
    } catch {
      // no WebAudio: the preview alone still proves the camera
    }
  }

  _stopMeter() {
    cancelAnimationFrame(this.frame);
    this.frame = null;
    if (this.audio) this.audio.close().catch(() => {});
    this.audio = null;
    this.bar.style.width = "0%";
  }

  _release() {
    this._stopMeter();
    stopStream(this.stream);
    this.stream = null;
    this.preview.srcObject = null;
  }

  _render() {
    this.status.textContent = this.i18n.t(this.statusKey);
    this.status.dataset.state = this.state;
    this.button.querySelector("[data-label]").textContent = this.i18n.t(this.state === "idle" ? "device_check" : "device_recheck");
    this.button.disabled = this.state === "checking";
    this.root.dataset.state = this.state;
  }

  /** The checked stream for the call (null if none); the check panel lets go of it. */
  takeStream() {
    const stream = this.stream;
    this._stopMeter();
    this.stream = null;
    this.preview.srcObject = null;
    this.state = "idle";
    this.statusKey = "device_idle";
    this._render();
    return stream;
  }

  reset() {
    this._release();
    this.problem = null;
    this.state = "idle";
    this.statusKey = "device_idle";
    this._render();
  }
}
