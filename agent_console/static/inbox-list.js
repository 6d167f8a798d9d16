// The department's open tasks, oldest first: case number, matters, waiting time, due time
// and an overdue flag (red, and said in words). Refreshed from the server every few
// seconds without losing the reviewer's place: the focused and the open task stay so.

import { h, replace } from "./dom.js";

/** "12 分钟", "2 小时 5 分钟", "1 天 3 小时" from seconds. */
export function duration(i18n, seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return i18n.t("time.seconds", { n: s });
  if (s < 3600) return i18n.t("time.minutes", { n: Math.floor(s / 60) });
  if (s < 86400) return i18n.t("time.hours", { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
  return i18n.t("time.days", { d: Math.floor(s / 86400), h: Math.floor((s % 86400) / 3600) });
}

/** "11月30日 17:00" / "30 Nov, 17:00" (epoch seconds in). */
export function when(i18n, epochSeconds) {
  if (!epochSeconds) return "–";
  const locale = i18n.language === "en" ? "en-GB" : "zh-CN";
  return new Date(epochSeconds * 1000).toLocaleString(locale, {
    month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hour12: false,
  });
}

export class InboxList {
  constructor(root, { i18n, catalog, onOpen }) {
    this.root = root;
    this.i18n = i18n;
    this.catalog = catalog;
    this.onOpen = onOpen;
    this.list = root.querySelector('[data-testid="inbox-list"]');
    this.empty = root.querySelector('[data-testid="inbox-empty"]');
    this.count = root.querySelector('[data-testid="inbox-count"]');
    this.tasks = [];
    this.selected = null;
    this.department = null;
    this.list.addEventListener("keydown", (event) => this._key(event));
  }

  clear() {
    this.tasks = [];
    this.selected = null;
    this.department = null;
    this.render();
  }

  update(tasks) {
    this.tasks = tasks;
    if (tasks.length && tasks[0].department) this.department = tasks[0].department;
    this.render();
  }

  matters(task) {
    return (task.matters || []).map((m) => this.catalog.matter(m)).join("、");
  }

  render() {
    const t = (key, values) => this.i18n.t(key, values);
    const focusedId = this.list.contains(document.activeElement) ? document.activeElement.dataset.taskId : null;
    this.count.textContent = String(this.tasks.length);
    this.count.classList.toggle("pill-alert", this.tasks.some((task) => task.overdue));
    this.empty.hidden = this.tasks.length > 0;
    replace(this.list, ...this.tasks.map((task) => {
      const matters = this.matters(task);
      const age = t("list.age", { age: duration(this.i18n, task.age_s ?? 0) });
      const due = t("list.due", { time: when(this.i18n, task.due_at) });
      const label = t("list.item.label", { number: task.case_number, matters, age, due })
        + (task.overdue ? `，${t("list.overdue")}` : "");
      return h("li", { class: "inbox-item", "data-overdue": task.overdue ? "true" : "false" },
        h("button", {
          type: "button", class: "inbox-open", "data-testid": "inbox-item", "data-task-id": task.id,
          "data-case-number": task.case_number, "data-overdue": task.overdue ? "true" : "false",
          "aria-current": task.id === this.selected ? "true" : null, "aria-label": label,
          onclick: () => this.open(task),
        },
        h("span", { class: "inbox-line" },
          h("span", { class: "inbox-number" }, task.case_number),
          task.overdue ? h("span", { class: "chip chip-overdue", "data-testid": "inbox-overdue" }, "⚠ ", t("list.overdue")) : null),
        h("span", { class: "inbox-matters" }, matters),
        h("span", { class: "inbox-line small muted" },
          h("span", { "data-testid": "inbox-age" }, age),
          h("span", { class: task.overdue ? "inbox-due danger-text" : "inbox-due", "data-testid": "inbox-due" }, due))));
    }));
    if (focusedId) this.list.querySelector(`[data-task-id="${CSS.escape(focusedId)}"]`)?.focus();
  }

  open(task) {
    this.selected = task.id;
    this.render();
    this.onOpen(task);
  }

  _key(event) {
    if (!["ArrowDown", "ArrowUp", "Home", "End"].includes(event.key)) return;
    const buttons = [...this.list.querySelectorAll('[data-testid="inbox-item"]')];
    const index = buttons.indexOf(document.activeElement);
    if (!buttons.length) return;
    event.preventDefault();
    let next = 0;
    if (event.key === "ArrowDown") next = Math.min(buttons.length - 1, index + 1);
    else if (event.key === "ArrowUp") next = Math.max(0, index - 1);
    else if (event.key === "End") next = buttons.length - 1;
    buttons[next].focus();
  }
}
