// The caller's identity, checked once per call: the agent enters name, ID number (GB 11643
// checked as it is typed, with the same rules as the server: kiosk_client's validators.js),
// address and mobile, and sends `set_identity {source: "agent"}`. `identity_set` — from
// this panel or from the kiosk's card reader — shows who is verified and where it came from;
// every form in the call is then prefilled from it by the server.

import { isMainlandMobile, normalizeResidentId, residentIdProblem } from "/static/common/validators.js";
import { h, replace } from "./dom.js";
import { timeOf } from "./form-view.js";

export class IdentityPanel {
  /** @param {HTMLElement} root  the data-testid="identity-panel" element */
  constructor(root, { i18n, session, send }) {
    this.root = root;
    this.i18n = i18n;
    this.session = session;
    this.send = send;
    this.form = root.querySelector('[data-role="identity-form"]');
    this.inputs = {};
    for (const name of ["name", "id_number", "address", "mobile"]) {
      this.inputs[name] = root.querySelector(`[data-testid="identity-${name.replace("_", "-")}"]`);
    }
    this.current = root.querySelector('[data-testid="identity-current"]');
    this.serverError = root.querySelector('[data-testid="identity-server-error"]');
    this.inputs.id_number.addEventListener("input", () => {
      const value = normalizeResidentId(this.inputs.id_number.value);
      // Say what is wrong once the number is complete; while typing only a wrong character.
      const problem = residentIdProblem(value);
      const show = value.length >= 18 || problem === "characters" ? problem : null;
      this._setError("id_number", show && show !== "empty" ? `identity.error.id_number.${show}` : null);
    });
    this.inputs.id_number.addEventListener("blur", () => {
      const value = this.inputs.id_number.value;
      if (!value) return;
      const problem = residentIdProblem(value);
      this._setError("id_number", problem ? `identity.error.id_number.${problem}` : null);
    });
    this.inputs.mobile.addEventListener("input", () => this._setError("mobile", null));
    this.inputs.name.addEventListener("input", () => this._setError("name", null));
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    session.addEventListener("change", (event) => {
      if (["identity_set", "document", "reset"].includes(event.detail.type)) this.render();
    });
  }

  clear() {
    for (const input of Object.values(this.inputs)) input.value = "";
    for (const name of Object.keys(this.inputs)) this._setError(name, null);
    this.serverError.hidden = true;
  }

  submit() {
    const name = this.inputs.name.value.trim();
    const idNumber = normalizeResidentId(this.inputs.id_number.value);
    const address = this.inputs.address.value.trim();
    const mobile = this.inputs.mobile.value.trim();
    const problems = {
      name: !name ? "identity.error.name.empty" : name.length > 50 ? "identity.error.name.long" : null,
      id_number: residentIdProblem(idNumber) ? `identity.error.id_number.${residentIdProblem(idNumber)}` : null,
      mobile: mobile && !isMainlandMobile(mobile) ? "identity.error.mobile" : null,
      address: null,
    };
    for (const [field, key] of Object.entries(problems)) this._setError(field, key);
    const first = Object.entries(problems).find(([, key]) => key);
    if (first) {
      this.inputs[first[0]].focus();
      return false;
    }
    this.serverError.hidden = true;
    const identity = { name, id_number: idNumber };
    if (address) identity.address = address;
    if (mobile) identity.mobile = mobile;
    return this.send({ type: "set_identity", call_id: this.session.callId, identity, source: "agent" });
  }

  /** `invalid_identity` from the server: its reason under the form. */
  onError(m) {
    if (m.in_reply_to !== "set_identity") return false;
    this.serverError.hidden = false;
    this.serverError.textContent = this.i18n.t("identity.error.server", { message: m.message || m.code });
    return true;
  }

  _setError(field, key) {
    const input = this.inputs[field];
    const error = this.root.querySelector(`[data-testid="identity-error-${field.replace("_", "-")}"]`);
    if (!error) return;
    error.hidden = !key;
    error.textContent = key ? this.i18n.t(key) : "";
    if (key) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }

  render() {
    const t = (key, values) => this.i18n.t(key, values);
    const identity = this.session.identity;
    this.root.dataset.verified = identity ? "true" : "false";
    if (!identity) {
      replace(this.current, h("p", { class: "muted small" }, t("identity.none")));
      return;
    }
    const source = identity.source === "reader" ? t("identity.source.reader") : t("identity.source.agent");
    replace(this.current,
      h("p", { class: "identity-verified" }, h("strong", { "data-testid": "identity-verified-name" }, identity.name), " ",
        h("span", { class: "chip chip-ok", "data-testid": "identity-source", "data-source": identity.source }, t("identity.verified_from", { source }))),
      h("dl", { class: "identity-facts small" },
        h("div", {}, h("dt", {}, t("identity.id_number")), h("dd", { class: "mono" }, identity.id_number)),
        identity.address ? h("div", {}, h("dt", {}, t("identity.address")), h("dd", {}, identity.address)) : null,
        identity.mobile ? h("div", {}, h("dt", {}, t("identity.mobile")), h("dd", { class: "mono" }, identity.mobile)) : null,
        h("div", {}, h("dt", {}, t("identity.at")), h("dd", {}, timeOf(identity.at)))));
  }
}
