// After-call work: outcome code, notes, the wrap-up countdown, "done".
//
// The server ends wrap-up by its timer too (agent_state leaves wrap_up). Notes typed by
// then are still sent for that call; when an outcome is required and none was chosen,
// the panel stays open "late" until the agent picks one (the server refuses notes
// without an outcome: `outcome_required`).

import { byTestId, h } from "./dom.js";
import { describeCaller } from "./caller.js";
import { clock } from "./format.js";
import { OUTCOMES } from "./strings.js";

export class WrapUp {
  /**
   * @param {HTMLElement} root  the data-testid="wrapup-panel" section
   * @param {{i18n: any, catalog: any, outcomeRequired?: boolean,
   *          onDone: (result: {callId: string, outcome: string|null, notes: string, late: boolean}) => void}} deps
   */
  constructor(root, { i18n, catalog, onDone, outcomeRequired = true }) {
    this.root = root;
    this.i18n = i18n;
    this.catalog = catalog;
    this.onDone = onDone;
    this.outcomeRequired = outcomeRequired;
    this.call = null;
    this.late = false;
    this.form = root.querySelector('[data-role="wrapup-form"]');
    this.outcome = byTestId("wrapup-outcome", root);
    this.notes = byTestId("wrapup-notes", root);
    this.done = byTestId("wrapup-done", root);
    this.outcomeError = byTestId("wrapup-outcome-error", root);
    this.lateNote = byTestId("wrapup-late", root);
    this.outcome.required = outcomeRequired;
    this.outcome.addEventListener("change", () => {
      if (this.outcome.value) this._showMissing(false);
    });
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.notes.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        this.submit();
      }
    });
    this._renderOutcomes();
  }

  get open() {
    return this.call !== null;
  }

  get callId() {
    return this.call ? this.call.callId : null;
  }

  /** True when the agent typed something not yet sent. */
  get dirty() {
    return !!this.call && !this.submitted && (this.notes.value.trim() !== "" || this.outcome.value !== "");
  }

  /**
   * @param {{callId: string, peer: object, duration: number}} summary  from CallPanel.end()
   * @param {string|null} reason  the `ended` reason
   * @param {number} seconds  wrap-up limit; 0 = until the agent ends it
   */
  show(summary, reason, seconds) {
    this.call = { ...summary, reason };
    this.submitted = false;
    this.late = false;
    this._showMissing(false);
    this.deadline = seconds > 0 ? Date.now() + seconds * 1000 : null;
    this.notes.value = "";
    this.outcome.value = "";
    this.done.disabled = false;
    this.root.hidden = false;
    this.root.dataset.callId = summary.callId;
    this.render();
    clearInterval(this.timer);
    this.timer = setInterval(() => this._tick(), 500);
    this.outcome.focus({ preventScroll: true });
  }

  /** The server gave the exact time left (ms); better than our estimate. */
  setRemaining(ms) {
    if (!this.call) return;
    this.deadline = ms > 0 ? Date.now() + ms : null;
    this._tick();
  }

  /** True when "done" may be sent now: an outcome is chosen or none is required. */
  get complete() {
    return !this.outcomeRequired || this.outcome.value !== "";
  }

  /**
   * The server's timer ended wrap-up with notes unsent and no outcome: stay open, say
   * so, and send them (for this call) once the agent picks an outcome.
   */
  keepLate() {
    if (!this.call) return;
    this.late = true;
    this.deadline = null;
    this.render();
    this._showMissing(true);
  }

  hide() {
    clearInterval(this.timer);
    this.timer = null;
    this.call = null;
    this.late = false;
    this.root.hidden = true;
    delete this.root.dataset.callId;
  }

  submit() {
    if (!this.call || this.submitted) return;
    if (!this.complete) {
      this._showMissing(true);
      this.outcome.focus({ preventScroll: true });
      return;
    }
    this.submitted = true;
    this.done.disabled = true;
    this.onDone({ callId: this.call.callId, outcome: this.outcome.value || null,
                  notes: this.notes.value.trim(), late: this.late });
  }

  /** The server refused our end_wrap_up: let the agent correct and send again. */
  failed(code = null) {
    this.done.disabled = false;
    this.submitted = false;
    if (code === "outcome_required") {
      this._showMissing(true);
      this.outcome.focus({ preventScroll: true });
    }
  }

  _showMissing(missing) {
    this.outcomeError.hidden = !missing;
    this.outcomeError.textContent = missing ? this.i18n.t("wrapup.outcome.missing") : "";
    if (missing) this.outcome.setAttribute("aria-invalid", "true");
    else this.outcome.removeAttribute("aria-invalid");
  }

  render() {
    this._renderOutcomes();
    this.root.querySelector('[data-role="wrapup-outcome-label"]').textContent =
      this.i18n.t(this.outcomeRequired ? "wrapup.outcome.required" : "wrapup.outcome");
    this.root.querySelector('[data-role="wrapup-done-text"]').textContent =
      this.i18n.t(this.late ? "wrapup.save_late" : "wrapup.done");
    this.lateNote.hidden = !this.late;
    this.lateNote.textContent = this.late ? this.i18n.t("wrapup.late") : "";
    if (!this.outcomeError.hidden) this.outcomeError.textContent = this.i18n.t("wrapup.outcome.missing");
    if (!this.call) return;
    const who = describeCaller(this.i18n, this.call.peer || {});
    byTestId("wrapup-summary", this.root).textContent = this.i18n.t("wrapup.summary", {
      matter: this.catalog.name(this.call.peer?.skill),
      caller: who.label || who.origin,
      duration: clock(this.call.duration),
    });
    const ended = this.root.querySelector('[data-role="wrapup-ended"]');
    const key = this.call.reason ? `ended.${this.call.reason}` : null;
    ended.textContent = key && this.i18n.t(key) !== key ? this.i18n.t(key) : "";
    this._tick();
  }

  _renderOutcomes() {
    if (this.outcome.dataset.lang === this.i18n.language) return;
    const value = this.outcome.value;
    this.outcome.replaceChildren(
      h("option", { value: "" }, this.i18n.t("wrapup.outcome.placeholder")),
      ...OUTCOMES.map((code) => h("option", { value: code }, this.i18n.t(`outcome.${code}`))));
    this.outcome.value = value;
    this.outcome.dataset.lang = this.i18n.language;
  }

  _tick() {
    const clockEl = this.root.querySelector('[data-role="wrapup-clock"]');
    const text = this.root.querySelector('[data-role="wrapup-clock-text"]');
    const countdown = byTestId("wrapup-countdown", this.root);
    if (this.late) {
      clockEl.textContent = clock(0);
      text.textContent = this.i18n.t("wrapup.timed_out");
      countdown.dataset.remaining = "0";
      countdown.classList.add("urgent");
      return;
    }
    if (!this.deadline) {
      clockEl.textContent = "∞";
      text.textContent = this.i18n.t("wrapup.unlimited");
      countdown.dataset.remaining = "";
      countdown.classList.remove("urgent");
      return;
    }
    const left = Math.max(0, (this.deadline - Date.now()) / 1000);
    clockEl.textContent = clock(Math.ceil(left));
    text.textContent = this.i18n.t("wrapup.remaining", { time: clock(Math.ceil(left)) });
    countdown.dataset.remaining = String(Math.ceil(left));
    countdown.classList.toggle("urgent", left <= 10);
  }
}
