// The kiosk's on-screen number keys for the form field being keyed (the kiosk has no
// keyboard): 0–9, an optional "X" (the last character of some ID numbers), delete and
// clear, all far above 48 px. One keypad serves the whole form panel; it moves under the
// field being keyed. Dispatches "key" {key: "0".."9" | "X" | "delete" | "clear"}.

import { icon } from "./icons.js";

const KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "clear", "0", "delete"];

export class FieldKeypad extends EventTarget {
  constructor(i18n) {
    super();
    this.i18n = i18n;
    this.root = document.createElement("div");
    this.root.className = "keypad field-keypad";
    this.root.setAttribute("role", "group");
    this.root.dataset.testid = "form-keypad";
    this.xKey = null;
    for (const key of KEYS) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "key" + (key === "clear" ? " key--small" : "");
      button.dataset.key = key;
      button.dataset.testid = `form-keypad-${key}`;
      if (key === "delete") button.innerHTML = `<span class="icon-slot" aria-hidden="true">${icon("delete")}</span>`;
      else if (key === "clear") button.dataset.i18n = "keypad_clear";
      else button.textContent = key;
      button.addEventListener("click", () => this.dispatchEvent(new CustomEvent("key", { detail: { key } })));
      this.root.append(button);
    }
    this.xKey = document.createElement("button");
    this.xKey.type = "button";
    this.xKey.className = "key";
    this.xKey.textContent = "X";
    this.xKey.dataset.testid = "form-keypad-X";
    this.xKey.hidden = true;
    this.xKey.addEventListener("click", () => this.dispatchEvent(new CustomEvent("key", { detail: { key: "X" } })));
    this.root.append(this.xKey);
    this.field = null;
    this.root.hidden = true;
    i18n.addEventListener("change", () => this._label());
  }

  /** Show the keys under `anchor` for a field labelled `label`; `withX` adds the X key. */
  attach(anchor, label, withX = false) {
    anchor.after(this.root);
    this.label = label;
    this.xKey.hidden = !withX;
    this.root.hidden = false;
    this._label();
  }

  detach() {
    this.root.hidden = true;
    this.root.remove();
  }

  _label() {
    this.root.setAttribute("aria-label", this.i18n.t("keypad_label", { label: this.label || "" }));
    for (const el of this.root.querySelectorAll("[data-i18n]")) el.textContent = this.i18n.t(el.dataset.i18n);
    this.root.querySelector('[data-key="delete"]').setAttribute("aria-label", this.i18n.t("keypad_delete"));
  }
}
