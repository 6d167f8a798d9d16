// A stored submission (GET /api/calls/{call_id}/submissions) in a dialog: the values as
// the form labels them, the materials and the caller's signature as images.

import { h, replace } from "./dom.js";
import { materialThumb, timeOf } from "./form-view.js";

export class SubmissionView {
  /** @param {HTMLDialogElement} dialog  the data-testid="submission-dialog" element */
  constructor(dialog, { i18n, catalog, session, api, toasts }) {
    this.dialog = dialog;
    this.i18n = i18n;
    this.catalog = catalog;
    this.session = session;
    this.api = api;
    this.toasts = toasts;
    this.body = dialog.querySelector('[data-role="submission-body"]');
    this.heading = dialog.querySelector('[data-role="submission-title"]');
    dialog.querySelector('[data-role="submission-close"]').addEventListener("click", () => this.close());
    dialog.addEventListener("close", () => {
      if (this.returnFocus && this.returnFocus.isConnected) this.returnFocus.focus();
    });
  }

  async open(formId) {
    const form = this.session.form(formId);
    if (!form || !this.session.callId) return;
    let submissions;
    try {
      ({ submissions } = await this.api.submissions(this.session.callId));
    } catch (error) {
      this.toasts.error(this.i18n.t("submission.load_failed", { message: error.message || error.code }));
      return;
    }
    const submission = submissions.find((s) => s.form_id === formId) || submissions.find((s) => s.id === form.submission_id);
    if (!submission) {
      this.toasts.error(this.i18n.t("submission.missing"));
      return;
    }
    this.render(form, submission);
    this.returnFocus = document.activeElement;
    if (!this.dialog.open) this.dialog.showModal();
  }

  close() {
    if (this.dialog.open) this.dialog.close();
  }

  render(form, submission) {
    const t = (key, values) => this.i18n.t(key, values);
    const ui = form.form.ui || { order: [], fields: {} };
    this.heading.textContent = t("submission.title", { title: this.catalog.matterTitle(submission.matter) });
    const rows = [];
    for (const name of ui.order || Object.keys(submission.values)) {
      const hints = ui.fields[name] || {};
      if (hints.type === "signature" || hints.type === "material") continue;
      const value = submission.values[name];
      rows.push(h("div", { "data-testid": "submission-value", "data-field": name },
        h("dt", {}, this.catalog.text(hints.label) || name),
        h("dd", {}, display(this, hints, value), submission.filled_by?.[name] ? h("span", { class: "small muted" }, ` · ${t(`submission.by.${submission.filled_by[name]}`)}`) : null)));
    }
    const materials = (submission.materials || []).filter((id) => id !== submission.signature);
    const signature = submission.signature ? this.session.material(submission.signature) : null;
    replace(this.body,
      h("p", { class: "small muted", "data-testid": "submission-meta" }, t("submission.meta", { id: submission.id, at: timeOf(submission.submitted_at), version: submission.form_version })),
      h("dl", { class: "submission-values" }, ...rows),
      h("h3", { class: "small" }, t("submission.materials")),
      materials.length ? h("div", { class: "material-thumbs", "data-testid": "submission-materials" }, ...materials.map((id) => materialThumb(this, this.session.material(id), id)))
        : h("p", { class: "small muted" }, t("submission.no_materials")),
      h("h3", { class: "small" }, t("submission.signature")),
      signature ? h("img", { class: "signature-image", "data-testid": "submission-signature", src: signature.url, alt: t("submission.signature") })
        : h("p", { class: "small muted" }, t("submission.no_signature")));
  }
}

function display(view, hints, value) {
  const t = (key) => view.i18n.t(key);
  if (value === undefined || value === null || value === "") return "—";
  if (hints.type === "yesno") return value ? t("form.yes") : t("form.no");
  if (hints.type === "choice") {
    const option = (hints.options || []).find((o) => o.value === value);
    if (option) return view.i18n.language === "en" ? option.en || option.zh : option.zh;
  }
  return String(value);
}
