// Unobtrusive notices (server errors, confirmations) in a polite live region.

import { h } from "./dom.js";
import { icon } from "./icons.js";

export class Toasts {
  /** @param {HTMLElement} region  the data-testid="toast-region" element */
  constructor(region, i18n) {
    this.region = region;
    this.i18n = i18n;
  }

  /** Show `text`; kind is "info", "success" or "error". Errors stay a little longer. */
  show(text, kind = "info", { timeoutMs } = {}) {
    const toast = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status", "data-testid": "toast", "data-kind": kind },
      icon(kind === "error" ? "alert" : kind === "success" ? "check" : "info", { size: 18 }),
      h("span", { class: "toast-text" }, text),
      h("button", { type: "button", class: "toast-close", "aria-label": this.i18n.t("toast.close"), onclick: () => remove() }, icon("x", { size: 16 })));
    const remove = () => {
      clearTimeout(timer);
      toast.classList.add("leaving");
      setTimeout(() => toast.remove(), 200);
    };
    const timer = setTimeout(remove, timeoutMs ?? (kind === "error" ? 8000 : 4500));
    this.region.append(toast);
    while (this.region.children.length > 4) this.region.firstElementChild.remove();
    return toast;
  }

  error(text) { return this.show(text, "error"); }
  success(text) { return this.show(text, "success"); }
  info(text) { return this.show(text, "info"); }
}
