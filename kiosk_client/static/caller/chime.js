// Sounds made with WebAudio (no audio files): a gentle ring-back while connecting, a
// rising chime when the agent appears, a single ding for news (callback offer).
//
// The AudioContext is created on first use after a user gesture; browsers keep it
// suspended otherwise, and a missing sound must never break a call.

export class Chime {
  constructor() {
    this.context = null;
    this.ringTimer = null;
    this.enabled = true;
  }

  _ctx() {
    if (!this.enabled) return null;
    try {
      if (!this.context) this.context = new AudioContext();
      if (this.context.state === "suspended") this.context.resume().catch(() => {});
      return this.context;
    } catch {
      return null;
    }
  }

  /** Call from a touch/click handler so later sounds may play. */
  unlock() {
    this._ctx();
  }

  _tone(frequency, start, duration, volume = 0.12) {
    const ctx = this._ctx();
    if (!ctx) return;
    const at = ctx.currentTime + start;
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = "sine";
    osc.frequency.value = frequency;
    gain.gain.setValueAtTime(0, at);
    gain.gain.linearRampToValueAtTime(volume, at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + duration);
    osc.connect(gain).connect(ctx.destination);
    osc.start(at);
    osc.stop(at + duration + 0.05);
  }

  ding() {
    this._tone(880, 0, 0.6);
  }

  connected() {
    this.stopRing();
    [523.25, 659.25, 783.99].forEach((f, i) => this._tone(f, i * 0.12, 0.5));
  }

  ring() {
    if (this.ringTimer) return;
    const once = () => {
      this._tone(523.25, 0, 0.35, 0.08);
      this._tone(659.25, 0.4, 0.45, 0.08);
    };
    once();
    this.ringTimer = setInterval(once, 2500);
  }

  stopRing() {
    clearInterval(this.ringTimer);
    this.ringTimer = null;
  }

  stop() {
    this.stopRing();
  }
}
