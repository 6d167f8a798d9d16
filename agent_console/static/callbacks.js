// Callback requests to place (GET /api/callbacks): claim one → its number shows → done.
//
// The server lists pending callbacks with masked numbers, and the ones this agent has
// claimed and not completed with the full number (so they survive a sign-out).

import { h } from "./dom.js";
import { ago, groupPhone, maskPhone } from "./format.js";

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
    this.claimed = this._loadClaimed();
    this.list = root.querySelector('[data-role="callback-list"]');
    this.empty = root.querySelector('[data-role="callbacks-empty"]');
    this.count = root.querySelector('[data-role="callbacks-count"]');
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
      const known = new Set(this.claimed.map((c) => c.id));
      this.claimed = [...this.claimed, ...mine.filter((c) => !known.has(c.id))];
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
      const phone = this.list.querySelector(`[data-callback-id="${CSS.escape(item.id)}"] [data-testid="callback-phone"]`);
      if (phone) phone.focus();
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

  async complete(item, button) {
    button.disabled = true;
    try {
      await this.api.completeCallback(item.id);
      this.claimed = this.claimed.filter((c) => c.id !== item.id);
      this._saveClaimed();
      this.toasts.success(this.i18n.t("callbacks.completed"));
      this.render();
    } catch (error) {
      button.disabled = false;
      this.toasts.error(this.i18n.t("error.generic", { message: error.message }));
    }
  }

  /** Forget the claimed list (sign-out). */
  clear() {
    this.claimed = [];
    this.pending = [];
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
    this.list.replaceChildren(...items);
  }

  _item(item, claimed) {
    const t = (key, values) => this.i18n.t(key, values);
    const head = h("div", { class: "callback-line" },
      h("span", { class: "callback-matter" }, this.catalog.name(item.skill)),
      h("span", { class: "small muted" }, t("callbacks.requested", { time: ago(this.i18n, item.created_at) })));
    const caller = h("div", { class: "small muted callback-caller" }, item.caller_label || "");
    if (!claimed) {
      return h("li", { class: "callback-item", "data-testid": "callback-item", "data-callback-id": item.id },
        head, caller,
        h("div", { class: "callback-line" },
          h("span", { class: "callback-phone masked", "aria-label": "masked" }, maskPhone(item.phone)),
          h("button", { type: "button", class: "btn btn-secondary btn-small", "data-testid": "callback-claim",
            onclick: (event) => this.claim(item, event.currentTarget) }, t("callbacks.claim"))));
    }
    return h("li", { class: "callback-item claimed", "data-testid": "callback-item", "data-callback-id": item.id, "data-status": "claimed" },
      head, caller,
      h("div", { class: "small callback-claimed-note" }, t("callbacks.claimed")),
      h("div", { class: "callback-line" },
        h("a", { class: "callback-phone", href: `tel:${item.phone}`, "data-testid": "callback-phone" }, groupPhone(item.phone)),
        h("button", { type: "button", class: "btn btn-primary btn-small", "data-testid": "callback-complete",
          onclick: (event) => this.complete(item, event.currentTarget) }, t("callbacks.complete"))));
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
