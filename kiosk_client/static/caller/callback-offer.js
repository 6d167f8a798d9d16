// The callback offer: a phone number typed on a big on-screen keypad (a kiosk has no
// keyboard) or the device's own keyboard, validated before it is sent.
// Dispatches "accept" {phone} and "keepwaiting".

import { isMainlandMobile } from "/static/common/validators.js";

export class CallbackOffer extends EventTarget {
  constructor(root, i18n) {
    super();
    this.root = root;
    this.i18n = i18n;
    this.title = root.querySelector("[data-callback-title]");
    this.input = root.querySelector('[data-testid="callback-phone"]');
    this.error = root.querySelector('[data-testid="callback-phone-error"]');
    this.accept = root.querySelector('[data-testid="callback-accept"]');
    this.keep = root.querySelector('[data-testid="callback-keep-waiting"]');
    this.reason = null;
    for (const key of root.querySelectorAll("[data-key]")) {
      key.addEventListener("click", () => this._key(key.dataset.key));
    }
    this.input.addEventListener("input", () => {
      this.input.value = this.input.value.replace(/\D/g, "").slice(0, 11);
      this._validate(false);
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") this._submit();
    });
    this.accept.addEventListener("click", () => this._submit());
    this.keep.addEventListener("click", () => this.dispatchEvent(new CustomEvent("keepwaiting")));
    i18n.addEventListener("change", () => this._renderTitle());
  }

  show(reason, prefill = "") {
    this.reason = reason;
    this._renderTitle();
    if (prefill && !this.input.value) this.input.value = prefill;
    this._validate(false);
  }

  _renderTitle() {
    this.title.textContent = this.i18n.t(this.reason === "max_wait" ? "callback_title_wait" : "callback_title");
  }

  _key(key) {
    if (key === "delete") this.input.value = this.input.value.slice(0, -1);
    else if (key === "clear") this.input.value = "";
    else if (this.input.value.length < 11) this.input.value += key;
    this._validate(false);
  }

  _validate(showError) {
    const ok = isMainlandMobile(this.input.value);
    this.accept.classList.toggle("is-incomplete", !ok);
    const complain = !ok && (showError || this.input.value.length === 11);
    delete this.error.dataset.i18n;
    this.error.hidden = !complain;
    this.error.textContent = complain ? this.i18n.t("callback_phone_invalid") : "";
    this.input.setAttribute("aria-invalid", String(complain));
    return ok;
  }

  _submit() {
    if (!this._validate(true)) {
      this.input.focus();
      return;
    }
    this.dispatchEvent(new CustomEvent("accept", { detail: { phone: this.input.value } }));
  }

  /** Show the server's refusal (e.g. too many callbacks) under the number; the call waits on. */
  showError(key) {
    this.error.dataset.i18n = key;
    this.error.textContent = this.i18n.t(key);
    this.error.hidden = false;
  }

  reset() {
    this.reason = null;
    this.input.value = "";
    this._validate(false);
  }
}
