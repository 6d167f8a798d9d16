// The call's case on the caller's page (docs/protocol.md, `case_updated`): under the
// checklist, one line per department that turns green when it approves (待审核 → 已通过);
// a plain notice when a department asks for a correction (which form to fix, and why) or
// rejects (what to fix); and once every department approved, the receipt: the server's
// printable receipt page in a frame, "打印回执" on the kiosk, "下载回执" (the PDF) on /call.

import { localText } from "./form-panel.js";

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

/** A route of the case's receipt with the receipt code, which opens it for its holder. */
export function receiptLink(path, receipt) {
  return `${path}${path.includes("?") ? "&" : "?"}code=${encodeURIComponent(receipt.code)}`;
}

export class CaseStatus {
  /**
   * @param {{status: HTMLElement, notice: HTMLElement, receipt: HTMLElement}} roots
   * @param {{i18n, state, kiosk: boolean, titles: (code: string) => object|null}} deps
   */
  constructor({ status, notice, receipt }, { i18n, state, kiosk, titles }) {
    this.status = status;
    this.notice = notice;
    this.receipt = receipt;
    this.i18n = i18n;
    this.state = state;
    this.kiosk = kiosk;
    this.titles = titles;
    this.shownReceipt = null;
    for (const type of ["reset", "case"]) state.addEventListener(type, () => this.render());
    i18n.addEventListener("change", () => this.render());
  }

  get case() {
    return this.state.case || null;
  }

  matterTitle(code) {
    return localText(this.i18n, this.titles(code)) || code;
  }

  render() {
    const t = (key, values) => this.i18n.t(key, values);
    const kase = this.case;
    this.status.hidden = !kase;
    if (!kase) {
      this.status.replaceChildren();
      this.notice.replaceChildren();
      this.notice.hidden = true;
      this.receipt.replaceChildren();
      this.receipt.hidden = true;
      this.shownReceipt = null;
      return;
    }
    const tasks = kase.tasks || [];
    this.status.dataset.state = kase.state;
    this.status.replaceChildren(
      el("h3", { class: "case-heading", id: "case-heading" },
        el("span", { text: t("case_title") }), " ",
        el("span", { class: "case-number", "data-testid": "case-number", text: kase.number })),
      el("ol", { class: "case-tasks", "aria-labelledby": "case-heading" }, ...tasks.map((task) => el("li", {
        class: "case-task", "data-testid": "case-task", "data-department": task.department, "data-state": task.state,
      },
      el("span", { class: "case-task-mark", "aria-hidden": "true", text: { approved: "✓", rejected: "✕", correction: "!" }[task.state] || "…" }),
      el("span", { class: "case-task-name", text: localText(this.i18n, task.department_name) || task.department }),
      el("span", { class: "state-chip", "data-state": task.state, "data-testid": "case-task-state", text: t(`case_task.${task.state}`) })))));
    this.renderNotice(kase, tasks);
    this.renderReceipt(kase);
  }

  renderNotice(kase, tasks) {
    const t = (key, values) => this.i18n.t(key, values);
    const lines = [];
    let kind = null;
    if (kase.state === "rejected") {
      kind = "rejected";
      for (const task of tasks.filter((x) => x.state === "rejected")) {
        lines.push(t("case_fix_line", { department: localText(this.i18n, task.department_name) || task.department, reason: task.reason || t("case_no_reason") }));
      }
    } else {
      const corrections = tasks.filter((x) => x.state === "correction");
      if (corrections.length) kind = "correction";
      for (const task of corrections) {
        const forms = (task.matters || []).map((code) => `「${this.matterTitle(code)}」`).join("、");
        lines.push(t("case_correction_line", { department: localText(this.i18n, task.department_name) || task.department, forms, reason: task.reason || t("case_no_reason") }));
      }
    }
    this.notice.hidden = !kind;
    this.notice.dataset.kind = kind || "";
    if (!kind) {
      this.notice.replaceChildren();
      return;
    }
    this.notice.replaceChildren(
      el("h3", { text: t(kind === "rejected" ? "case_rejected_title" : "case_correction_title") }),
      el("p", { text: t(kind === "rejected" ? "case_rejected_lead" : "case_correction_lead") }),
      el("ul", {}, ...lines.map((line) => el("li", { "data-testid": "case-fix", text: line }))));
  }

  renderReceipt(kase) {
    const t = (key, values) => this.i18n.t(key, values);
    const receipt = kase.state === "approved" ? kase.receipt : null;
    this.receipt.hidden = !receipt;
    if (!receipt) {
      this.receipt.replaceChildren();
      this.shownReceipt = null;
      return;
    }
    const page = receiptLink(`/case/${encodeURIComponent(kase.number)}/receipt`, receipt);
    const pdf = receiptLink(receipt.url, receipt);
    const key = `${kase.number}/${receipt.code}/${this.i18n.language}`;
    if (this.shownReceipt === key) return;
    this.shownReceipt = key;
    this.frame = el("iframe", { class: "receipt-frame", src: page, title: t("receipt_frame"), "data-testid": "receipt-frame" });
    const action = this.kiosk
      ? el("button", { type: "button", class: "button button--primary receipt-action", "data-testid": "receipt-print", onclick: () => this.print(), text: t("receipt_print") })
      : el("a", { class: "button button--primary receipt-action", "data-testid": "receipt-download", href: pdf, download: `receipt-${kase.number}.pdf`, text: t("receipt_download") });
    this.receipt.replaceChildren(
      el("h2", { id: "receipt-title", tabindex: "-1", text: t("receipt_title") }),
      el("p", { class: "receipt-lead", text: t("receipt_lead", { number: kase.number }) }),
      action,
      this.frame);
    this.receipt.scrollIntoView({ block: "start" });
  }

  /** Print the receipt page of the frame (it allows being framed by this origin only). */
  print() {
    const frame = this.frame;
    const go = () => {
      try {
        frame.contentWindow.focus();
        frame.contentWindow.print();
      } catch {
        window.print(); // the print stylesheet shows just the receipt panel
      }
    };
    if (frame.contentDocument && frame.contentDocument.readyState === "complete" && frame.contentDocument.URL !== "about:blank") go();
    else frame.addEventListener("load", go, { once: true });
  }
}
