// The call's case in the matters desk (docs/protocol.md, `case_updated`): its number, one
// line per department's task turning green as it is approved (待审核 / 需补正 + reason /
// 已通过 / 未通过 + reason), overdue ones flagged in words, and once every task is approved
// the receipt: a link to open it and "发送回执给客户", which puts the receipt PDF into the
// call as a document screen (uploaded as a material of the call, then pushed).

import { h, replace } from "./dom.js";
import { icon } from "./icons.js";
import { timeOfDay } from "./format.js";

/** The receipt PDF's route with the receipt code, which opens it for whoever holds the code. */
export function receiptLink(receipt) {
  return `${receipt.url}${receipt.url.includes("?") ? "&" : "?"}code=${encodeURIComponent(receipt.code)}`;
}

export class CasePanel {
  /**
   * @param {HTMLElement} root  the data-testid="case-panel" section
   * @param {{i18n, catalog, session, api, toasts, send}} deps
   */
  constructor(root, { i18n, catalog, session, api, toasts, send }) {
    this.root = root;
    this.i18n = i18n;
    this.catalog = catalog;
    this.session = session;
    this.api = api;
    this.toasts = toasts;
    this.send = send;
    this.sending = false;
    session.addEventListener("change", (event) => {
      if (["case_updated", "document", "reset"].includes(event.detail.type)) this.render();
    });
  }

  render() {
    const t = (key, values) => this.i18n.t(key, values);
    const kase = this.session.case;
    this.root.hidden = !kase;
    if (!kase) {
      replace(this.root);
      return;
    }
    const now = Date.now() / 1000;
    const tasks = kase.tasks || [];
    this.root.dataset.state = kase.state;
    this.root.dataset.caseNumber = kase.number;
    const headingId = "case-heading";
    replace(this.root,
      h("div", { class: "case-head" },
        h("h3", { class: "desk-sub", id: headingId }, t("case.title")),
        h("span", { class: "case-number", "data-testid": "case-number" }, kase.number),
        h("span", { class: `chip case-chip case-${kase.state}`, "data-testid": "case-state" }, t(`case.state.${kase.state}`))),
      h("ol", { class: "case-tasks", "aria-labelledby": headingId }, ...tasks.map((task) => {
        const overdue = !["approved", "rejected"].includes(task.state) && task.due_at && task.due_at < now;
        const department = this.catalog.text(task.department_name) || task.department;
        const matters = (task.matters || []).map((code) => this.catalog.matterTitle(typeof code === "string" ? code : code.code)).join("、");
        return h("li", { class: `case-task task-${task.state}`, "data-testid": "case-task", "data-department": task.department, "data-state": task.state, "data-overdue": overdue ? "true" : "false" },
          h("div", { class: "checklist-line" },
            h("span", { class: "case-task-mark", "aria-hidden": "true" }, icon(task.state === "approved" ? "check" : task.state === "rejected" ? "x" : "clock", { size: 16 })),
            h("span", { class: "checklist-title" }, department),
            h("span", { class: `chip task-chip task-${task.state}`, "data-testid": "case-task-state" }, t(`case.task.${task.state}`))),
          h("div", { class: "checklist-line small muted" },
            h("span", {}, matters),
            task.decided_at ? h("span", {}, t("case.decided_at", { time: timeOfDay(this.i18n, task.decided_at) }))
              : task.due_at ? h("span", { class: overdue ? "danger-text" : null }, t("case.due", { time: timeOfDay(this.i18n, task.due_at) })) : null,
            overdue ? h("span", { class: "chip chip-overdue", "data-testid": "case-task-overdue" }, "⚠ ", t("case.overdue")) : null),
          task.reason ? h("p", { class: "case-reason small", "data-testid": "case-task-reason" }, t("case.reason", { reason: task.reason })) : null);
      })),
      kase.state === "rejected" ? h("p", { class: "case-notice danger-text small", "data-testid": "case-rejected" }, t("case.rejected_hint")) : null,
      kase.receipt ? h("div", { class: "case-receipt", "data-testid": "case-receipt" },
        h("a", { class: "btn btn-secondary btn-small", href: receiptLink(kase.receipt), target: "_blank", rel: "noopener", "data-testid": "case-receipt-link" },
          icon("link", { size: 16 }), t("case.receipt.open")),
        h("button", { type: "button", class: "btn btn-primary btn-small", "data-testid": "case-receipt-send", disabled: this.sending, onclick: () => this.sendReceipt() },
          icon("send", { size: 16 }), t(this.sending ? "case.receipt.sending" : "case.receipt.send"))) : null);
  }

  /** Fetch the receipt PDF, add it to the call as a material, show it to the caller. */
  async sendReceipt() {
    const kase = this.session.case;
    if (!kase || !kase.receipt || this.sending) return;
    const callId = this.session.callId;
    this.sending = true;
    this.render();
    try {
      const response = await fetch(receiptLink(kase.receipt), { cache: "no-store" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const blob = await response.blob();
      const pdf = blob.type ? blob : new Blob([blob], { type: "application/pdf" });
      const { material } = await this.api.uploadMaterial(callId, "other", "upload", pdf);
      this.send({ type: "push_screen", call_id: callId, screen: { kind: "document", material_id: material.id } });
      this.toasts.show(this.i18n.t("case.receipt.sent"), "success");
    } catch (error) {
      this.toasts.show(this.i18n.t("case.receipt.failed", { reason: error.message || error.code }), "error");
    } finally {
      this.sending = false;
      this.render();
    }
  }
}
