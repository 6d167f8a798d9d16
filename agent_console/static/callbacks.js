// Callback requests to place (GET /api/callbacks): claim one → its number shows → call →
// record how it went (outcome and notes) → it moves to the agent's history.
//
// The server lists pending callbacks with masked numbers, the ones this agent has claimed
// and not completed with the full number (so they survive a sign-out), and `history`:
// the agent's completed callbacks with outcome, notes and the full number.

import { h } from "./dom.js";
import { ago, groupPhone, maskPhone, timeOfDay } from "./format.js";
import { CALLBACK_OUTCOMES } from "./strings.js";

const CLAIMED_KEY = "cloud-agent.console.claimed-callbacks";
const REFRESH_MS = 30000;

export class Callbacks {
  /**
   * @param {HTMLElement} root  the data-testid="callbacks-panel" section
   * @param {{i18n: any, catalog: any, api: import("./api.js").Api, toasts: any}} deps
   */
  constructor(root, { i18n, catalog, api, toasts }) {
    this.root = root;
    this.i18n = i18n;
    this.catalog = catalog;
    this.api = api;
    this.toasts = toasts;
    this.pending = [];
    this.history = [];
    this.claimed = this._loadClaimed();
    /** id of the claimed callback whose "how did it go" form is open, and its draft */
    this.completing = null;
    this.draft = { outcome: "", notes: "", missing: false };
    this.list = root.querySelector('[data-role="callback-list"]');
    this.empty = root.querySelector('[data-role="callbacks-empty"]');
    this.count = root.querySelector('[data-role="callbacks-count"]');
    this.historyBox = root.querySelector('[data-testid="callback-history"]');
    this.historyList = root.querySelector('[data-role="callback-history-list"]');
    this.historyCount = root.querySelector('[data-role="callback-history-count"]');
    root.querySelector('[data-role="callbacks-refresh"]').addEventListener("click", () => this.load());
  }

  start() {
    this.stop();
    this.load();
    this.timer = setInterval(() => this.load(), REFRESH_MS);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }

  async load() {
    try {
      const data = await this.api.callbacks();
      const items = data.callbacks || [];
      const mine = items.filter((c) => c.status === "claimed");
      this.history = data.history || [];
      const done = new Set(this.history.map((c) => c.id));
      const known = new Set(this.claimed.map((c) => c.id));
      this.claimed = [...this.claimed.filter((c) => !done.has(c.id)), ...mine.filter((c) => !known.has(c.id))];
      this._saveClaimed();
      const claimedIds = new Set(this.claimed.map((c) => c.id));
      this.pending = items.filter((c) => c.status !== "claimed" && !claimedIds.has(c.id));
      this.failed = false;
    } catch (error) {
      if (error.status === 401) return;
      this.failed = true;
    }
    this.render();
  }

  async claim(item, button) {
    button.disabled = true;
    try {
      const result = await this.api.claimCallback(item.id);
      this.claimed.push({ ...item, phone: result.phone, status: result.status });
      this._saveClaimed();
      this.pending = this.pending.filter((c) => c.id !== item.id);
      this.render();
      this._focus(item.id, "callback-phone");
    } catch (error) {
      if (error.status === 409) {
        this.toasts.info(this.i18n.t("callbacks.taken"));
        this.pending = this.pending.filter((c) => c.id !== item.id);
        this.render();
      } else {
        button.disabled = false;
        this.toasts.error(this.i18n.t("error.generic", { message: error.message }));
      }
    }
  }

  /** "完成": ask how the callback went before anything is sent. */
  openCompletion(item) {
    this.completing = item.id;
    this.draft = { outcome: "", notes: "", missing: false };
    this.render();
    this._focus(item.id, "callback-outcome");
  }

  cancelCompletion(item) {
    this.completing = null;
    this.render();
    this._focus(item.id, "callback-complete");
  }

  async complete(item, button) {
    if (!this.draft.outcome) {
      this.draft.missing = true;
      this.render();
      this._focus(item.id, "callback-outcome");
      return;
    }
    button.disabled = true;
    try {
      await this.api.completeCallback(item.id, this.draft.outcome, this.draft.notes.trim());
      this.claimed = this.claimed.filter((c) => c.id !== item.id);
      this._saveClaimed();
      this.history = [{ ...item, outcome: this.draft.outcome, notes: this.draft.notes.trim() || null,
                        done_at: Date.now() / 1000 }, ...this.history];
      this.completing = null;
      this.toasts.success(this.i18n.t("callbacks.completed"));
      this.render();
      this.load(); // the server's history is the record
    } catch (error) {
      button.disabled = false;
      if (error.status === 401) return;
      this.toasts.error(this.i18n.t("error.generic", { message: error.message }));
    }
  }

  /** Forget the claimed list (sign-out). */
  clear() {
    this.claimed = [];
    this.pending = [];
    this.history = [];
    this.completing = null;
    sessionStorage.removeItem(CLAIMED_KEY);
    this.render();
  }

  render() {
    const t = (key, values) => this.i18n.t(key, values);
    const items = [
      ...this.claimed.map((item) => this._item(item, true)),
      ...this.pending.map((item) => this._item(item, false)),
    ];
    this.count.textContent = String(this.claimed.length + this.pending.length);
    this.count.classList.toggle("pill-alert", this.pending.length > 0);
    this.empty.hidden = items.length > 0 && !this.failed;
    this.empty.textContent = t(this.failed ? "callbacks.error" : "callbacks.empty");
    // Keep the agent's place (and what they type, in this.draft) across the 30 s refresh.
    const focused = this.list.contains(document.activeElement) ? document.activeElement : null;
    const refocus = focused ? [focused.closest("[data-callback-id]")?.dataset.callbackId, focused.dataset.testid] : null;
    this.list.replaceChildren(...items);
    if (refocus && refocus[0] && refocus[1] && !this.list.contains(document.activeElement)) this._focus(refocus[0], refocus[1]);
    this.historyBox.hidden = this.history.length === 0;
    this.historyCount.textContent = String(this.history.length);
    this.historyList.replaceChildren(...this.history.map((item) => this._historyItem(item)));
  }

  _outcomeText(code) {
    const key = `callback.outcome.${code}`;
    return this.i18n.has(key) ? this.i18n.t(key) : code;
  }

  _item(item, claimed) {
    const t = (key, values) => this.i18n.t(key, values);
    const head = h("div", { class: "callback-line" },
      h("span", { class: "callback-matter" }, this.catalog.name(item.skill)),
      h("span", { class: "small muted" }, t("callbacks.requested", { time: ago(this.i18n, item.created_at) })));
    const caller = item.caller_label ? h("div", { class: "small muted callback-caller" }, item.caller_label) : null;
    if (!claimed) {
      return h("li", { class: "callback-item", "data-testid": "callback-item", "data-callback-id": item.id },
        head, caller,
        h("div", { class: "callback-line" },
          h("span", { class: "callback-phone masked", "aria-label": t("callbacks.masked") }, maskPhone(item.phone)),
          h("button", { type: "button", class: "btn btn-secondary btn-small", "data-testid": "callback-claim",
            onclick: (event) => this.claim(item, event.currentTarget) }, t("callbacks.claim"))));
    }
    const completing = this.completing === item.id;
    return h("li", { class: "callback-item claimed", "data-testid": "callback-item", "data-callback-id": item.id, "data-status": "claimed" },
      head, caller,
      h("div", { class: "small callback-claimed-note" }, t("callbacks.claimed")),
      h("div", { class: "callback-line" },
        h("a", { class: "callback-phone", href: `tel:${item.phone}`, "data-testid": "callback-phone" }, groupPhone(item.phone)),
        completing ? null : h("button", { type: "button", class: "btn btn-primary btn-small", "data-testid": "callback-complete",
          onclick: () => this.openCompletion(item) }, t("callbacks.complete"))),
      completing ? this._completionForm(item) : null);
  }

  _completionForm(item) {
    const t = (key, values) => this.i18n.t(key, values);
    const ids = { outcome: `callback-outcome-${item.id}`, error: `callback-outcome-error-${item.id}`, notes: `callback-notes-${item.id}` };
    const select = h("select", {
      id: ids.outcome, "data-testid": "callback-outcome", required: true, "aria-describedby": ids.error,
      "aria-invalid": this.draft.missing ? "true" : null,
      onchange: (event) => {
        this.draft.outcome = event.currentTarget.value;
        if (this.draft.outcome && this.draft.missing) {
          this.draft.missing = false;
          event.currentTarget.removeAttribute("aria-invalid");
          error.hidden = true;
        }
      },
    },
    h("option", { value: "" }, t("callbacks.outcome.placeholder")),
    ...CALLBACK_OUTCOMES.map((code) => h("option", { value: code }, this._outcomeText(code))));
    select.value = this.draft.outcome;
    const error = h("p", { class: "field-error", id: ids.error, "data-testid": "callback-outcome-error", hidden: !this.draft.missing },
      t("callbacks.outcome.missing"));
    const notes = h("textarea", { id: ids.notes, "data-testid": "callback-notes", rows: 2, maxlength: 4000,
      placeholder: t("callbacks.notes.placeholder"), oninput: (event) => { this.draft.notes = event.currentTarget.value; } });
    notes.value = this.draft.notes;
    return h("form", { class: "callback-done-form", "data-testid": "callback-done-form", novalidate: true,
      onsubmit: (event) => {
        event.preventDefault();
        this.complete(item, event.currentTarget.querySelector('[data-testid="callback-save"]'));
      } },
    h("div", { class: "field field-compact" },
      h("label", { for: ids.outcome }, t("callbacks.outcome")), select, error),
    h("div", { class: "field field-compact" },
      h("label", { for: ids.notes }, t("callbacks.notes")), notes),
    h("div", { class: "callback-line callback-done-actions" },
      h("button", { type: "button", class: "btn btn-ghost btn-small", "data-testid": "callback-cancel",
        onclick: () => this.cancelCompletion(item) }, t("callbacks.cancel")),
      h("button", { type: "submit", class: "btn btn-primary btn-small", "data-testid": "callback-save" }, t("callbacks.save"))));
  }

  _historyItem(item) {
    return h("li", { class: "callback-item done", "data-testid": "callback-history-item", "data-callback-id": item.id },
      h("div", { class: "callback-line" },
        h("span", { class: "callback-matter" }, this.catalog.name(item.skill)),
        h("span", { class: `chip chip-${item.outcome}`, "data-testid": "callback-history-outcome" }, this._outcomeText(item.outcome)),
        item.done_at ? h("time", { class: "small muted callback-done-time", datetime: new Date(item.done_at * 1000).toISOString() },
          timeOfDay(this.i18n, item.done_at)) : null),
      h("div", { class: "small callback-history-phone" }, groupPhone(item.phone)),
      item.notes ? h("p", { class: "history-notes small", title: item.notes, "data-testid": "callback-history-notes" }, item.notes) : null);
  }

  _focus(id, testid) {
    const el = this.list.querySelector(`[data-callback-id="${CSS.escape(id)}"] [data-testid="${testid}"]`);
    if (el) el.focus();
  }

  _loadClaimed() {
    try {
      return JSON.parse(sessionStorage.getItem(CLAIMED_KEY) || "[]");
    } catch {
      return [];
    }
  }

  _saveClaimed() {
    sessionStorage.setItem(CLAIMED_KEY, JSON.stringify(this.claimed));
  }
}
