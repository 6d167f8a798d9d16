// Supervisors' "超时督办 / Overdue" panel (GET /api/supervision/overdue): every department
// task still undecided past its catalog due time, and every unresolved ticket past its due
// time, the oldest due first, refreshed every 10 s. How long each is overdue is said in
// words ("已超时 2 小时 5 分钟"), never by colour alone. Agents never see the panel.

import { h } from "./dom.js";

const REFRESH_MS = 10000;
const STAFF = new Set(["supervisor", "admin"]);

/** 7500 -> "2 小时 5 分钟" / "2 h 5 min"; under a minute -> "不到 1 分钟". */
export function overdueWords(i18n, seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const days = Math.floor(s / 86400);
  const hours = Math.floor((s % 86400) / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  const parts = [];
  if (days) parts.push(i18n.t("overdue.days", { n: days }));
  if (hours) parts.push(i18n.t("overdue.hours", { n: hours }));
  if (minutes && !days) parts.push(i18n.t("overdue.minutes", { n: minutes }));
  return parts.length ? parts.join(" ") : i18n.t("overdue.under_a_minute");
}

export class SupervisionPanel {
  /**
   * @param {HTMLElement} root  the data-testid="overdue-panel" section
   * @param {{i18n: any, api: import("./api.js").Api}} deps
   */
  constructor(root, { i18n, api }) {
    this.root = root;
    this.i18n = i18n;
    this.api = api;
    this.tasks = [];
    this.tickets = [];
    this.loaded = false;
    this.timer = null;
    this.list = root.querySelector('[data-role="overdue-list"]');
    this.empty = root.querySelector('[data-role="overdue-empty"]');
    this.count = root.querySelector('[data-role="overdue-count"]');
    root.querySelector('[data-role="overdue-refresh"]').addEventListener("click", () => this.load());
  }

  /** Show and poll for supervisors and admins; hide (and stop) for everyone else. */
  setRole(role) {
    if (STAFF.has(role)) {
      if (this.timer) return;
      this.root.hidden = false;
      this.load();
      this.timer = setInterval(() => this.load(), REFRESH_MS);
    } else {
      this.stop();
    }
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    this.root.hidden = true;
    this.tasks = [];
    this.tickets = [];
    this.loaded = false;
  }

  async load() {
    try {
      const data = await this.api.request("GET", "/api/supervision/overdue");
      this.tasks = data.tasks || [];
      this.tickets = data.tickets || [];
      this.loaded = true;
    } catch (error) {
      if (error.status === 403) this.stop(); // no longer a supervisor: the panel goes
      return; // a network blip keeps the last list; the next poll tries again
    }
    this.render();
  }

  name(names) {
    if (!names) return "";
    return (this.i18n.language === "en" ? names.en : names.zh) || names.zh || names.en || "";
  }

  render() {
    const t = (key, values) => this.i18n.t(key, values);
    const total = this.tasks.length + this.tickets.length;
    this.count.textContent = t("overdue.count", { count: total });
    this.count.classList.toggle("pill-alert", total > 0);
    this.empty.hidden = total > 0 || !this.loaded;
    const tasks = this.tasks.map((task) => h("li", {
      class: "overdue-row", "data-testid": "overdue-task", "data-case": task.case_number,
      "data-department": task.department,
    },
    h("div", { class: "overdue-line" },
      h("span", { class: "overdue-number" }, task.case_number),
      h("span", { class: "overdue-state" }, t(`overdue.state.${task.state}`))),
    h("div", { class: "overdue-what" },
      h("span", { class: "overdue-department" }, this.name(task.department_name)),
      " · ",
      (task.matters || []).map((m) => this.name(m.title)).join("、")),
    h("div", { class: "overdue-by" }, t("overdue.by", { duration: overdueWords(this.i18n, task.overdue_s) }))));
    const tickets = this.tickets.map((ticket) => h("li", {
      class: "overdue-row", "data-testid": "overdue-ticket", "data-ticket": ticket.number,
    },
    h("div", { class: "overdue-line" },
      h("span", { class: "overdue-number" }, ticket.number),
      h("span", { class: "overdue-state" }, t("overdue.ticket"))),
    h("div", { class: "overdue-what" },
      ticket.owner?.department_name ? `${this.name(ticket.owner.department_name)} · ` : "",
      ticket.subject),
    h("div", { class: "overdue-by" }, t("overdue.by", { duration: overdueWords(this.i18n, ticket.overdue_s) }))));
    this.list.replaceChildren(...tasks, ...tickets);
  }
}
