// The header's status controls: the agent's state as the server reports it (agent_state),
// the ready / not-ready switch with its reasons, auto-answer, and the connection light.
//
// What the agent *chose* (ready, or not ready for a reason) is shown on the switch; what
// the system says they are doing (ringing, on a call, wrap-up) is shown on the badge.

import { byTestId, h } from "./dom.js";
import { clock } from "./format.js";
import { NOT_READY_REASONS } from "./strings.js";

/** A not-ready reason's label; reasons the console does not know are shown as sent. */
export function reasonText(i18n, reason) {
  const key = `reason.${reason}`;
  const text = i18n.t(key);
  return text === key ? reason : text;
}

const ACTIVE_STATES = new Set(["reserved", "busy", "wrap_up"]);

export class StateBar {
  /**
   * @param {HTMLElement} root  the header
   * @param {{i18n: any, onSetStatus: (status: string, reason?: string) => void,
   *          onAutoAnswer: (enabled: boolean) => void}} deps
   */
  constructor(root, { i18n, onSetStatus, onAutoAnswer }) {
    this.i18n = i18n;
    this.onSetStatus = onSetStatus;
    this.onAutoAnswer = onAutoAnswer;
    this.badge = byTestId("agent-state", root);
    this.readyButton = byTestId("state-ready", root);
    this.notReadyButton = byTestId("state-not-ready", root);
    this.reasonSelect = byTestId("not-ready-reason", root);
    this.autoAnswer = byTestId("auto-answer", root);
    this.connection = byTestId("connection-status", root);
    this.pending = root.querySelector('[data-role="state-pending"]');
    this.state = "unknown";
    this.reason = null;
    this.since = Date.now();
    this.chosen = { status: null, reason: "break" };
    this.connState = "idle";

    this.readyButton.addEventListener("click", () => this.onSetStatus("ready"));
    this.notReadyButton.addEventListener("click", () => this.onSetStatus("not_ready", this.reasonSelect.value));
    this.reasonSelect.addEventListener("change", () => {
      this.chosen.reason = this.reasonSelect.value;
      if (this.chosen.status === "not_ready") this.onSetStatus("not_ready", this.reasonSelect.value);
    });
    this.autoAnswer.addEventListener("change", () => {
      this.autoAnswer.setAttribute("aria-checked", String(this.autoAnswer.checked));
      this.onAutoAnswer(this.autoAnswer.checked);
    });
    setInterval(() => this._renderTimer(), 1000);
    this.render();
  }

  /** A state from `authenticated` or `agent_state`. */
  setState({ state, reason = null, autoAnswer = null }) {
    if (state !== this.state || reason !== this.reason) this.since = Date.now();
    this.state = state;
    this.reason = reason;
    if (state === "ready") this.chosen.status = "ready";
    if (state === "not_ready") {
      this.chosen.status = "not_ready";
      if (NOT_READY_REASONS.includes(reason)) this.chosen.reason = reason;
    }
    if (autoAnswer !== null) {
      this.autoAnswer.checked = autoAnswer;
      this.autoAnswer.setAttribute("aria-checked", String(autoAnswer));
    }
    this.render();
  }

  /** The agent asked for a status; remembered so a change during a call shows as pending. */
  choose(status, reason) {
    this.chosen.status = status;
    if (status === "not_ready" && reason) this.chosen.reason = reason;
    this.render();
  }

  setConnection(state) {
    this.connState = state;
    this.render();
  }

  render() {
    const t = (key, values) => this.i18n.t(key, values);
    if (!this.reasonSelect.options.length || this.reasonSelect.dataset.lang !== this.i18n.language) {
      this.reasonSelect.replaceChildren(...NOT_READY_REASONS.map((code) => h("option", { value: code }, t(`reason.${code}`))));
      this.reasonSelect.dataset.lang = this.i18n.language;
    }
    this.reasonSelect.value = this.chosen.reason;

    const connected = this.connState === "open";
    const state = this.state;
    this.badge.dataset.state = state;
    let text = t(`state.${state}`);
    if (state === "not_ready" && this.reason) text += ` · ${reasonText(this.i18n, this.reason)}`;
    this.badge.querySelector('[data-role="state-text"]').textContent = text;
    this._renderTimer();

    const ready = this.chosen.status === "ready";
    const notReady = this.chosen.status === "not_ready";
    this.readyButton.setAttribute("aria-pressed", String(ready));
    this.notReadyButton.setAttribute("aria-pressed", String(notReady));
    this.readyButton.disabled = !connected;
    this.notReadyButton.disabled = !connected;
    this.autoAnswer.disabled = !connected;

    const active = ACTIVE_STATES.has(this.state);
    const pendingKey = !active ? null : notReady ? "state.pending_not_ready" : null;
    this.pending.hidden = !pendingKey;
    this.pending.textContent = pendingKey ? t(pendingKey) : "";

    this.connection.dataset.state = this.connState;
    this.connection.querySelector('[data-role="conn-text"]').textContent = t(`conn.${this.connState}`);
  }

  _renderTimer() {
    const timer = this.badge.querySelector('[data-role="state-timer"]');
    const show = this.state !== "unknown" && this.state !== "offline";
    timer.textContent = show ? clock((Date.now() - this.since) / 1000) : "";
  }
}
