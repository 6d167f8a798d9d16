// The agent's recent calls (GET /api/calls/recent), refreshed after each call.

import { h } from "./dom.js";
import { clock, timeOfDay } from "./format.js";
import { icon } from "./icons.js";

export class History extends EventTarget {
  /**
   * @param {HTMLElement} root  the panel holding data-testid="recent-calls"
   * @param {{i18n: any, catalog: any, api: import("./api.js").Api}} deps
   */
  constructor(root, { i18n, catalog, api }) {
    super();
    this.root = root;
    this.i18n = i18n;
    this.catalog = catalog;
    this.api = api;
    this.calls = [];
    this.list = root.querySelector('[data-testid="recent-calls"]');
    this.empty = root.querySelector('[data-role="history-empty"]');
    root.querySelector('[data-role="history-refresh"]').addEventListener("click", () => this.load());
  }

  async load() {
    clearTimeout(this.pending);
    this.root.setAttribute("aria-busy", "true");
    try {
      const data = await this.api.recentCalls();
      this.calls = data.calls || [];
      this.failed = false;
    } catch (error) {
      if (error.status === 401) return;
      this.failed = true;
    } finally {
      this.root.removeAttribute("aria-busy");
    }
    this.render();
    this.dispatchEvent(new CustomEvent("stats", { detail: this.todayStats() }));
  }

  /** Reload after `delayMs` (the server writes the record just after the call ends). */
  refreshSoon(delayMs = 400) {
    clearTimeout(this.pending);
    this.pending = setTimeout(() => this.load(), delayMs);
  }

  todayStats() {
    const today = new Date().toDateString();
    const answered = this.calls.filter((c) => c.answered_at && new Date(c.ended_at * 1000).toDateString() === today);
    const talk = answered.reduce((sum, c) => sum + (c.talk_s || 0), 0);
    const rated = answered.filter((c) => c.rating);
    return {
      calls: answered.length,
      averageTalk: answered.length ? talk / answered.length : null,
      averageRating: rated.length ? rated.reduce((sum, c) => sum + c.rating, 0) / rated.length : null,
    };
  }

  render() {
    const t = (key, values) => this.i18n.t(key, values);
    this.empty.hidden = this.calls.length > 0;
    this.empty.textContent = t(this.failed ? "history.error" : "history.empty");
    if (this.failed) this.empty.hidden = false;
    this.list.replaceChildren(...this.calls.map((call) => {
      const outcomeKey = call.outcome ? `outcome.${call.outcome}` : null;
      const outcomeText = outcomeKey ? (t(outcomeKey) === outcomeKey ? call.outcome : t(outcomeKey)) : null;
      return h("li", { class: `history-item${call.answered_at ? "" : " unanswered"}`, "data-testid": "recent-call", "data-call-id": call.id },
        h("div", { class: "history-line" },
          h("span", { class: "history-matter" }, this.catalog.name(call.skill)),
          outcomeText ? h("span", { class: `chip chip-${call.outcome}`, "data-testid": "recent-call-outcome" }, outcomeText) : null,
          h("time", { class: "history-time small muted", datetime: new Date(call.ended_at * 1000).toISOString() }, timeOfDay(this.i18n, call.ended_at))),
        h("div", { class: "history-line small muted" },
          icon(call.origin === "kiosk" ? "kiosk" : call.origin === "enterprise" ? "building" : "link", { size: 14 }),
          h("span", { class: "history-caller" }, call.caller_label || t(`origin.${call.origin}`)),
          h("span", { class: "history-talk" }, call.answered_at ? t("history.talk", { duration: clock(call.talk_s || 0) }) : t("history.unanswered")),
          call.rating ? h("span", { class: "history-rating", "aria-label": t("history.rating", { score: call.rating }) }, "★".repeat(call.rating)) : null),
        call.notes ? h("p", { class: "history-notes small", title: call.notes, "data-testid": "recent-call-notes" }, call.notes) : null);
    }));
  }
}
