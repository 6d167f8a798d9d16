// Privacy on a shared screen: after a while without a touch the kiosk resets itself.
// Each screen has its own limit (null = never: during a call or while queued).
// Dispatches "idle" {screen}.

export class IdleTimer extends EventTarget {
  /** @param {Record<string, number|null>} limits seconds per screen name */
  constructor(limits) {
    super();
    this.limits = limits;
    this.screen = null;
    this.timer = null;
    const poke = () => this.restart();
    for (const type of ["pointerdown", "keydown", "touchstart", "wheel"]) {
      document.addEventListener(type, poke, { capture: true, passive: true });
    }
  }

  /** The visible screen changed. */
  enter(screen) {
    this.screen = screen;
    this.restart();
  }

  restart() {
    clearTimeout(this.timer);
    const seconds = this.limits[this.screen];
    if (seconds === null || seconds === undefined) return;
    const screen = this.screen;
    this.timer = setTimeout(() => this.dispatchEvent(new CustomEvent("idle", { detail: { screen } })), seconds * 1000);
  }

  stop() {
    clearTimeout(this.timer);
  }
}
