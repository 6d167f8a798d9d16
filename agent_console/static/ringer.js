// The ring: a two-tone chirp generated with WebAudio (no sound file to fetch or cache).
//
// Browsers keep an AudioContext suspended until the page has had a user gesture; after a
// reload the console may not have one yet, so `locked` tells the page to ask for a click.

export class Ringer extends EventTarget {
  constructor() {
    super();
    this.context = null;
    this.timer = null;
    this.voices = new Set();
    this.volume = 0.22;
    const unlock = () => this.unlock();
    window.addEventListener("pointerdown", unlock, { capture: true });
    window.addEventListener("keydown", unlock, { capture: true });
  }

  _context() {
    if (!this.context) {
      const AudioContextClass = window.AudioContext || window.webkitAudioContext;
      if (!AudioContextClass) return null;
      this.context = new AudioContextClass();
      this.context.addEventListener("statechange", () => this.dispatchEvent(new Event("lockchange")));
    }
    return this.context;
  }

  /** True when the browser will not play the ring until the agent interacts. */
  get locked() {
    const context = this._context();
    return !!context && context.state === "suspended";
  }

  unlock() {
    const context = this._context();
    if (context && context.state === "suspended") context.resume().catch(() => {});
  }

  get ringing() {
    return this.timer !== null;
  }

  start() {
    if (this.timer !== null) return;
    const context = this._context();
    if (!context) return;
    this.unlock();
    const burst = () => {
      const t = context.currentTime + 0.02;
      this._tone(1046.5, t, 0.16);
      this._tone(1318.5, t + 0.2, 0.16);
      this._tone(1046.5, t + 0.4, 0.16);
      this._tone(1318.5, t + 0.6, 0.22);
    };
    burst();
    this.timer = setInterval(burst, 2000);
  }

  stop() {
    if (this.timer === null) return;
    clearInterval(this.timer);
    this.timer = null;
    for (const voice of this.voices) {
      try {
        voice.stop();
      } catch {
        /* already stopped */
      }
    }
    this.voices.clear();
  }

  _tone(frequency, at, length) {
    const context = this.context;
    const oscillator = context.createOscillator();
    const gain = context.createGain();
    oscillator.type = "sine";
    oscillator.frequency.value = frequency;
    gain.gain.setValueAtTime(0, at);
    gain.gain.linearRampToValueAtTime(this.volume, at + 0.015);
    gain.gain.setValueAtTime(this.volume, at + length - 0.04);
    gain.gain.linearRampToValueAtTime(0, at + length);
    oscillator.connect(gain).connect(context.destination);
    oscillator.start(at);
    oscillator.stop(at + length + 0.01);
    this.voices.add(oscillator);
    oscillator.onended = () => {
      this.voices.delete(oscillator);
      gain.disconnect();
    };
  }
}
