// The enterprise guest form: company name, unified social credit code (GB 32100 check
// character verified while typing), contact name and mobile. Errors appear next to their
// field once the field was left or is complete, and all at once on submit. Dispatches
// "check" whenever a field's verdict was shown again, so a summary can follow it.

import { isMainlandMobile, normalizeUscc, usccProblem } from "/static/common/validators.js";

const FIELDS = ["company-name", "uscc", "contact-name", "contact-phone"];

export class CompanyForm extends EventTarget {
  constructor(root, i18n) {
    super();
    this.root = root;
    this.i18n = i18n;
    this.inputs = Object.fromEntries(FIELDS.map((id) => [id, root.querySelector(`[data-testid="${id}"]`)]));
    this.touched = new Set();
    for (const [id, input] of Object.entries(this.inputs)) {
      input.addEventListener("input", () => {
        if (id === "uscc") {
          const start = input.selectionStart;
          const normal = normalizeUscc(input.value).slice(0, 18);
          if (normal !== input.value) {
            input.value = normal;
            input.setSelectionRange(Math.min(start, normal.length), Math.min(start, normal.length));
          }
          if (normal.length === 18) this.touched.add(id);
        }
        if (id === "contact-phone") {
          input.value = input.value.replace(/\D/g, "").slice(0, 11);
          if (input.value.length === 11) this.touched.add(id);
        }
        if (this.touched.has(id)) this._show(id);
      });
      input.addEventListener("blur", () => {
        if (input.value) this.touched.add(id);
        if (this.touched.has(id)) this._show(id);
      });
    }
    i18n.addEventListener("change", () => {
      for (const id of this.touched) this._show(id);
    });
  }

  /** The message key (and values) for a field's current value, or null when fine. */
  _problem(id) {
    const value = this.inputs[id].value.trim();
    switch (id) {
      case "company-name":
        return value.length >= 2 && value.length <= 100 ? null : ["invalid.company_name"];
      case "uscc": {
        const problem = usccProblem(value);
        return problem ? [`invalid.uscc.${problem}`, { count: normalizeUscc(value).length }] : null;
      }
      case "contact-name":
        return value.length >= 1 && value.length <= 50 ? null : ["invalid.contact_name"];
      case "contact-phone":
        return isMainlandMobile(value) ? null : ["invalid.contact_phone"];
      default:
        return null;
    }
  }

  _show(id) {
    const problem = this._problem(id);
    const input = this.inputs[id];
    const error = this.root.querySelector(`[data-testid="${id}-error"]`);
    input.setAttribute("aria-invalid", String(!!problem));
    error.hidden = !problem;
    error.textContent = problem ? this.i18n.t(problem[0], problem[1]) : "";
    this.dispatchEvent(new CustomEvent("check"));
    return !problem;
  }

  /** Whether any field is marked invalid on screen right now. */
  get hasMarkedErrors() {
    return FIELDS.some((id) => this.inputs[id].getAttribute("aria-invalid") === "true");
  }

  /** Check every field; returns the company for call_request, or null (focus on the first error). */
  validate() {
    let first = null;
    for (const id of FIELDS) {
      this.touched.add(id);
      if (!this._show(id) && !first) first = this.inputs[id];
    }
    if (first) {
      first.focus();
      return null;
    }
    return {
      name: this.inputs["company-name"].value.trim(),
      uscc: normalizeUscc(this.inputs.uscc.value),
      contact_name: this.inputs["contact-name"].value.trim(),
      contact_phone: this.inputs["contact-phone"].value.trim(),
    };
  }

  get phone() {
    return this.inputs["contact-phone"].value.trim();
  }
}
