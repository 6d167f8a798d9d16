// The work area between calls: what the agent is (ready, not ready, connecting), for how
// long, and today's figures from the recent calls.

import { byTestId } from "./dom.js";
import { clock } from "./format.js";
import { icon } from "./icons.js";
import { reasonText } from "./state-bar.js";

export class IdleView {
  constructor(root, { i18n, ringer, onGoReady }) {
    this.root = root;
    this.i18n = i18n;
    this.ringer = ringer;
    this.state = "unknown";
    this.reason = null;
    this.since = Date.now();
    this.stats = null;
    this.goReady = byTestId("idle-go-ready", root);
    this.goReady.addEventListener("click", () => onGoReady());
    this.audioHint = byTestId("audio-hint", root);
    ringer.addEventListener("lockchange", () => this.render());
    setInterval(() => this._tick(), 1000);
  }

  setState(state, reason, connected) {
    if (state !== this.state || reason !== this.reason) this.since = Date.now();
    this.state = state;
    this.reason = reason;
    this.connected = connected;
    this.render();
  }

  setStats(stats) {
    this.stats = stats;
    this.render();
  }

  show(visible) {
    this.root.hidden = !visible;
  }

  render() {
    const t = (key, values) => this.i18n.t(key, values);
    const mode = !this.connected || this.state === "unknown" || this.state === "offline" ? "offline"
      : this.state === "ready" ? "ready" : "not_ready";
    this.root.dataset.mode = mode;
    const iconBox = this.root.querySelector('[data-role="idle-icon"]');
    const iconName = mode === "ready" ? "headset" : mode === "not_ready" ? "coffee" : "signal";
    if (iconBox.dataset.icon !== iconName) {
      iconBox.replaceChildren(icon(iconName, { size: 40 }));
      iconBox.dataset.icon = iconName;
    }
    this.root.querySelector('[data-role="idle-title"]').textContent = t(`idle.${mode}.title`)
      + (mode === "not_ready" && this.reason ? ` · ${reasonText(this.i18n, this.reason)}` : "");
    this.root.querySelector('[data-role="idle-body"]').textContent = t(`idle.${mode}.body`);
    this.goReady.hidden = mode !== "not_ready";
    this.audioHint.hidden = !(mode === "ready" && this.ringer.locked);
    const s = this.stats;
    this.root.querySelector('[data-role="stat-calls"]').textContent = s ? String(s.calls) : "0";
    this.root.querySelector('[data-role="stat-talk"]').textContent = s && s.averageTalk !== null ? clock(s.averageTalk) : "–";
    this.root.querySelector('[data-role="stat-rating"]').textContent = s && s.averageRating !== null ? s.averageRating.toFixed(1) : "–";
    this._tick();
  }

  _tick() {
    const since = this.root.querySelector('[data-role="idle-since"]');
    const show = this.root.dataset.mode !== "offline";
    since.textContent = show ? this.i18n.t("idle.since", { time: clock((Date.now() - this.since) / 1000) }) : "";
  }
}
