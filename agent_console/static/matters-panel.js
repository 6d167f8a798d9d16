// The call's matters: the checklist of forms pushed into the call with their state
// (已推送 / 填写中 / 已提交 / 已撤回), and the catalog to find and push another matter's
// form (categories → matters, the call's own category first; a search box filters by
// title or code).

import { h, replace } from "./dom.js";
import { icon } from "./icons.js";

/** The checklist state of a form: pushed until somebody typed into it. */
export function checklistState(form) {
  if (form.state === "filling") {
    const touched = Object.values(form.filled_by || {}).some((by) => by === "caller" || by === "agent");
    return touched ? "filling" : "pushed";
  }
  return form.state; // submitting | submitted | withdrawn
}

export class MattersPanel {
  /**
   * @param {HTMLElement} root  the data-testid="matters-panel" element
   * @param {{i18n, catalog, session, send, onOpenForm: (formId: string) => void,
   *          onSubmission: (formId: string) => void}} deps
   */
  constructor(root, { i18n, catalog, session, send, onOpenForm, onSubmission }) {
    this.root = root;
    this.i18n = i18n;
    this.catalog = catalog;
    this.session = session;
    this.send = send;
    this.onOpenForm = onOpenForm;
    this.onSubmission = onSubmission;
    this.skill = null;
    this.checklist = root.querySelector('[data-testid="matter-checklist"]');
    this.checklistEmpty = root.querySelector('[data-role="checklist-empty"]');
    this.search = root.querySelector('[data-testid="matter-search"]');
    this.list = root.querySelector('[data-testid="matter-catalog"]');
    this.search.addEventListener("input", () => this.renderCatalog());
    this.search.addEventListener("keydown", (event) => {
      if (event.key !== "Enter") return;
      event.preventDefault(); // Enter pushes the only match
      const buttons = this.list.querySelectorAll('[data-testid="push-form"]:not([disabled])');
      if (buttons.length === 1) buttons[0].click();
    });
    // A handful of forms: the checklist follows every change (progress counts too); the
    // catalog only what changes which matters are open, so its focus survives typing.
    session.addEventListener("change", (event) => {
      if (["field_changed", "adopted", "material_added", "identity_set"].includes(event.detail.type)) this.renderChecklist();
      else this.render();
    });
  }

  setSkill(skill) {
    this.skill = skill;
    this.search.value = "";
    this.render();
  }

  render() {
    this.renderChecklist();
    this.renderCatalog();
  }

  renderChecklist() {
    const t = (key, values) => this.i18n.t(key, values);
    const forms = this.session.forms;
    this.checklistEmpty.hidden = forms.length > 0;
    replace(this.checklist, ...forms.map((form) => {
      const state = checklistState(form);
      const ui = form.form.ui || { fields: {} };
      const required = Object.entries(ui.fields || {}).filter(([, hints]) => hints.required);
      const done = required.filter(([name]) => form.values[name] !== undefined && form.values[name] !== null && form.values[name] !== "").length;
      const errors = Object.keys(form.errors || {}).length;
      const title = this.catalog.matterTitle(form.matter);
      return h("li", { class: `checklist-item state-${state}`, "data-testid": "matter-item", "data-matter": form.matter, "data-form-id": form.form_id, "data-state": state },
        h("div", { class: "checklist-line" },
          h("span", { class: "checklist-title" }, title),
          h("span", { class: `chip state-chip state-${state}`, "data-testid": "matter-state" }, t(`matters.state.${state}`))),
        h("div", { class: "checklist-line small muted" },
          h("span", {}, t("matters.progress", { done, total: required.length })),
          errors && state !== "submitted" ? h("span", { class: "danger-text" }, t("matters.errors", { n: errors })) : null,
          h("span", { class: "checklist-actions" },
            state !== "withdrawn" ? h("button", { type: "button", class: "btn btn-secondary btn-small", "data-testid": "open-form", onclick: () => this.onOpenForm(form.form_id), "aria-label": t("matters.open.label", { title }) }, t("matters.open")) : null,
            state === "submitted" ? h("button", { type: "button", class: "btn btn-secondary btn-small", "data-testid": "show-submission", onclick: () => this.onSubmission(form.form_id), "aria-label": t("matters.submission.label", { title }) }, t("matters.submission")) : null,
            form.state === "filling" ? h("button", { type: "button", class: "btn btn-small btn-danger-outline", "data-testid": "withdraw-form", onclick: () => this.withdraw(form), "aria-label": t("matters.withdraw.label", { title }) }, t("matters.withdraw")) : null)));
    }));
  }

  withdraw(form) {
    this.send({ type: "withdraw_form", call_id: this.session.callId, form_id: form.form_id });
  }

  push(code) {
    this.send({ type: "push_form", call_id: this.session.callId, matter: code });
  }

  renderCatalog() {
    const t = (key, values) => this.i18n.t(key, values);
    const query = this.search.value.trim().toLowerCase();
    const open = new Set(this.session.forms.filter((f) => f.state === "filling" || f.state === "submitting").map((f) => f.matter));
    const categories = [...this.catalog.categories].sort((a, b) => (b.code === this.skill) - (a.code === this.skill));
    const groups = [];
    for (const category of categories) {
      const categoryName = this.catalog.text(category.name);
      const matters = category.matters.filter((m) => !query || [m.code, m.title.zh, m.title.en, category.name.zh, category.name.en]
        .some((text) => (text || "").toLowerCase().includes(query)));
      if (!matters.length) continue;
      const headingId = `matter-cat-${category.code}`;
      groups.push(h("li", { class: "catalog-group", "data-category": category.code },
        h("h4", { class: "catalog-category small", id: headingId }, categoryName, category.code === this.skill ? h("span", { class: "chip chip-call" }, t("matters.this_call")) : null),
        h("ul", { class: "catalog-matters", "aria-labelledby": headingId }, ...matters.map((m) => {
          const title = this.catalog.text(m.title);
          const pushed = open.has(m.code);
          return h("li", { class: "catalog-matter", "data-testid": "catalog-matter", "data-matter": m.code },
            h("div", { class: "catalog-matter-text" },
              h("span", { class: "catalog-matter-title" }, title),
              h("span", { class: "small muted" }, t("matters.meta", { minutes: m.norm_minutes, materials: m.materials.map((code) => this.catalog.materialName(code)).join("、") || t("matters.no_materials") }))),
            h("button", { type: "button", class: "btn btn-secondary btn-small", "data-testid": "push-form", "data-matter": m.code, disabled: pushed,
              "aria-label": t(pushed ? "matters.pushed.label" : "matters.push.label", { title }), onclick: () => this.push(m.code) },
            icon(pushed ? "check" : "send", { size: 16 }), t(pushed ? "matters.pushed" : "matters.push")));
        }))));
    }
    replace(this.list, ...groups);
    if (!groups.length) this.list.append(h("li", { class: "empty" }, t(this.catalog.categories.length ? "matters.no_match" : "matters.catalog_unavailable")));
  }
}
