// The incoming-call alert: matter, origin, wait, ring countdown, accept / reject, ring sound.
//
// It disappears the moment the offer ends (offer_cancelled, a new state, a reconnect):
// a ring that outlives its call — a "zombie ring" — is agents' top complaint.

import { byTestId, h } from "./dom.js";
import { describeCaller } from "./caller.js";
import { shortDuration } from "./format.js";

/** Seconds past the ring deadline after which the alert removes itself. */
const EXPIRY_GRACE_S = 3;

export class IncomingCall {
  /**
   * @param {HTMLElement} root  the data-testid="incoming-call" section
   * @param {{i18n: any, catalog: any, ringer: import("./ringer.js").Ringer,
   *          onAccept: (callId: string) => void, onReject: (callId: string) => void,
   *          onExpired?: (callId: string) => void}} deps
   */
  constructor(root, { i18n, catalog, ringer, onAccept, onReject, onExpired = () => {} }) {
    this.root = root;
    this.i18n = i18n;
    this.catalog = catalog;
    this.ringer = ringer;
    this.onAccept = onAccept;
    this.onReject = onReject;
    this.onExpired = onExpired;
    this.offer = null;
    this.timer = null;
    this.titleTimer = null;
    this.pageTitle = document.title;
    this.acceptButton = byTestId("accept-button", root);
    this.rejectButton = byTestId("reject-button", root);
    this.acceptButton.addEventListener("click", () => this.accept());
    this.rejectButton.addEventListener("click", () => this.reject());
  }

  get callId() {
    return this.offer ? this.offer.call_id : null;
  }

  /** Ring for `offer` (the server's `offer` message). */
  show(offer) {
    this.hide();
    this.offer = offer;
    this.receivedAt = performance.now();
    this.answering = false;
    this.root.hidden = false;
    this.root.dataset.callId = offer.call_id;
    this.root.classList.toggle("auto", !!offer.auto_answer);
    this.acceptButton.disabled = false;
    this.rejectButton.disabled = false;
    this.render();
    this._tick();
    this.timer = setInterval(() => this._tick(), 200);
    if (!offer.auto_answer) {
      this.ringer.start();
      this._flashTitle();
      this.returnFocus = document.activeElement;
      this.acceptButton.focus({ preventScroll: true });
    }
  }

  /** Stop ringing and remove the alert now. */
  hide() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.ringer.stop();
    this._stopTitle();
    const hadFocus = this.root.contains(document.activeElement);
    this.root.hidden = true;
    delete this.root.dataset.callId;
    this.offer = null;
    if (hadFocus && this.returnFocus && this.returnFocus.isConnected && !this.returnFocus.closest("[hidden]")) {
      this.returnFocus.focus({ preventScroll: true });
    }
    this.returnFocus = null;
  }

  accept() {
    if (!this.offer || this.answering) return;
    this.answering = true;
    this.acceptButton.disabled = true;
    this.rejectButton.disabled = true;
    this.ringer.stop();
    this._stopTitle();
    this.onAccept(this.offer.call_id);
  }

  reject() {
    if (!this.offer || this.answering) return;
    const callId = this.offer.call_id;
    this.hide();
    this.onReject(callId);
  }

  render() {
    const offer = this.offer;
    if (!offer) return;
    const t = (key, values) => this.i18n.t(key, values);
    const who = describeCaller(this.i18n, offer);
    this.root.querySelector('[data-role="incoming-title"]').textContent = t(offer.auto_answer ? "incoming.auto" : "incoming.title");
    byTestId("incoming-matter", this.root).textContent = this.catalog.name(offer.skill);
    const origin = byTestId("incoming-origin", this.root);
    origin.replaceChildren(h("span", { class: "origin-kind" }, who.origin), who.label ? h("strong", {}, who.label) : null);
    // The caller's language (zh-CN | en), so the agent can answer in it; servers before
    // the field was added send none, and an unknown code is shown as it came.
    const language = typeof offer.language === "string" && offer.language ? offer.language : null;
    this.root.querySelector('[data-role="incoming-language-fact"]').hidden = !language;
    const languageEl = byTestId("incoming-language", this.root);
    const languageKey = `language.${language}`;
    languageEl.textContent = language ? (this.i18n.has(languageKey) ? t(languageKey) : language) : "";
    languageEl.classList.toggle("foreign", !!language && language !== "zh-CN");
    const company = byTestId("incoming-company", this.root);
    company.hidden = who.extra.length === 0;
    company.replaceChildren(...who.extra.map((line) => h("div", {}, line)));
  }

  _tick() {
    const offer = this.offer;
    if (!offer) return;
    const elapsed = (performance.now() - this.receivedAt) / 1000;
    byTestId("incoming-waited", this.root).textContent = shortDuration(this.i18n, (offer.waited || 0) + elapsed);
    const total = Math.max(0.001, (offer.ring_timeout_ms || 0) / 1000);
    if (elapsed > total + EXPIRY_GRACE_S && !this.answering) {
      // The server's offer_cancelled should have come by now; never ring past the deadline.
      const callId = offer.call_id;
      this.hide();
      this.onExpired(callId);
      return;
    }
    const left = Math.max(0, total - elapsed);
    const fill = this.root.querySelector('[data-role="countdown-fill"]');
    fill.style.transform = `scaleX(${left / total})`;
    this.root.querySelector('[data-role="countdown-text"]').textContent = this.i18n.t("incoming.countdown", { seconds: Math.ceil(left) });
    this.root.classList.toggle("urgent", left <= 5);
  }

  _flashTitle() {
    let on = false;
    this.pageTitle = document.title;
    const alertTitle = `📞 ${this.i18n.t("incoming.title")} · ${this.catalog.name(this.offer.skill)}`;
    this.titleTimer = setInterval(() => {
      on = !on;
      document.title = on ? alertTitle : this.pageTitle;
    }, 900);
    document.title = alertTitle;
  }

  _stopTitle() {
    if (this.titleTimer) clearInterval(this.titleTimer);
    if (this.titleTimer) document.title = this.pageTitle;
    this.titleTimer = null;
  }
}
