// The forms the agent pushed into the call, filled together live (docs/ui.md "Forms").
//
// Renders each form from its UI hints (`form.ui`: order, labels, placeholders, types, which
// fields the caller may edit) with the current values. Fields the caller may edit are
// controls; the others are read-only but visible. Every edit goes to the server at once
// (typing is debounced by TYPING_MS); a change from the agent is highlighted for a moment;
// fields prefilled from the ID card are marked. On a kiosk (no keyboard) digits are keyed
// on the on-screen keypad, yes/no and choices are big buttons, and text the agent types is
// read-only. Submitting sends `submit_form`; the server's verdict comes back as events.

import { FieldKeypad } from "./field-keypad.js";
import { SignaturePad } from "./signature-pad.js";
import { UploadError, captureFromCamera, fileProblem, uploadMaterial } from "./materials.js";

const TYPING_MS = 120;
const HIGHLIGHT_MS = 2500;

/** The text of a catalog {zh, en} object in the page's language. */
export function localText(i18n, text) {
  if (!text) return "";
  if (typeof text === "string") return text;
  return (i18n.language === "en" ? text.en : text.zh) || text.zh || text.en || "";
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value === true ? "" : String(value));
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

/** Whether a field is keyed on the number keys (kiosk) or a numeric keyboard. */
function isDigits(hints) {
  return hints.widget === "digits" || hints.type === "number" || hints.type === "mobile";
}

export class FormPanel extends EventTarget {
  /**
   * @param {HTMLElement} root  where the form cards go
   * @param {object} options  {i18n, state: SessionState, kiosk: bool, call: () => {callId,
   *   resumeToken}, titles: (matter) => {zh, en}|null, documentCamera: () => string|null}
   */
  constructor(root, { i18n, state, kiosk, call, titles, documentCamera }) {
    super();
    this.root = root;
    this.i18n = i18n;
    this.state = state;
    this.kiosk = kiosk;
    this.call = call;
    this.titles = titles;
    this.documentCamera = documentCamera || (() => null);
    this.cards = new Map(); // form_id -> {el, fields: Map(name -> widget)}
    this.keypad = kiosk ? new FieldKeypad(i18n) : null;
    this.keyed = null; // {form, name} being keyed on the keypad
    this.signature = null; // {form, name, pad}
    this.notes = new Map(); // "f1/name" -> {key, kind} transient notes (upload errors…)
    this.live = el("div", { class: "sr-only", role: "status", "aria-live": "polite", "data-testid": "form-live" });
    this.root.after(this.live);
    if (this.keypad) this.keypad.addEventListener("key", ({ detail }) => this._key(detail.key));
    i18n.addEventListener("change", () => this.renderAll());
    state.addEventListener("reset", () => this.renderAll());
    state.addEventListener("form", ({ detail }) => this._formEvent(detail));
    state.addEventListener("field", ({ detail }) => this._fieldEvent(detail));
    state.addEventListener("material", () => this._refreshMaterials());
    state.addEventListener("problem", ({ detail }) => this._problem(detail));
  }

  // ------------------------------------------------------------ rendering

  renderAll() {
    this._closeSignature();
    if (this.keypad) this.keypad.detach();
    this.keyed = null;
    this.root.replaceChildren();
    this.cards.clear();
    for (const form of this.state.activeForms) this._renderForm(form);
  }

  /** Titles arrived (the catalog): rename the cards without touching their fields. */
  retitle() {
    for (const entry of this.cards.values()) entry.el.querySelector("h2").textContent = this._title(entry.form);
  }

  _title(form) {
    return localText(this.i18n, this.titles(form.matter)) || form.form?.schema?.title || form.matter;
  }

  _renderForm(form) {
    const titleId = `form-${form.form_id}-title`;
    const card = el("section", {
      class: "form-card", "data-testid": `form-${form.form_id}`, "data-form-id": form.form_id,
      "data-matter": form.matter, "data-state": form.state, "aria-labelledby": titleId,
    });
    const chip = el("span", { class: "state-chip", "data-testid": `form-${form.form_id}-state` });
    card.append(el("header", { class: "form-card-head" },
      el("h2", { id: titleId, text: this._title(form) }), chip));
    const entry = { el: card, chip, fields: new Map(), form };
    this.cards.set(form.form_id, entry);
    const ui = form.form?.ui || { order: [], fields: {} };
    const list = el("div", { class: "form-fields" });
    for (const name of ui.order || Object.keys(ui.fields)) {
      const hints = ui.fields[name];
      if (!hints) continue;
      const widget = this._renderField(form, name, hints);
      entry.fields.set(name, widget);
      list.append(widget.el);
    }
    card.append(list);
    entry.summary = el("p", { class: "form-summary", role: "alert", "data-testid": `form-${form.form_id}-summary`, hidden: true });
    entry.submit = el("button", { type: "button", class: "button button--call button--wide form-submit", "data-testid": `form-${form.form_id}-submit` });
    entry.submit.addEventListener("click", () => this._submit(form.form_id));
    entry.done = el("p", { class: "form-done", role: "status", "data-testid": `form-${form.form_id}-submitted`, hidden: true });
    card.append(entry.summary, el("div", { class: "form-actions" }, entry.submit), entry.done);
    this.root.append(card);
    this._renderState(entry);
    for (const name of entry.fields.keys()) this._renderValue(form, name);
    return entry;
  }

  _renderField(form, name, hints) {
    const id = `form-${form.form_id}-${name}`;
    const editable = hints.caller === true && form.state === "filling";
    const label = localText(this.i18n, hints.label) || name;
    const hasInput = !["yesno", "choice", "signature", "material"].includes(hints.type);
    const labelEl = el(hasInput ? "label" : "span", { class: "form-field-label", id: `${id}-label`, for: hasInput ? `${id}-input` : null }, label);
    if (hints.required) labelEl.append(el("span", { class: "form-required", text: ` (${this.i18n.t("form_required")})` }));
    const badge = el("span", { class: "form-badge", "data-testid": `${id}-badge`, hidden: true });
    const hint = el("p", { class: "form-hint", id: `${id}-hint`, hidden: true });
    const error = el("p", { class: "field-error", id: `${id}-error`, "data-testid": `${id}-error`, role: "alert", hidden: true });
    const box = el("div", {
      class: "form-field", "data-testid": id, "data-field": name, "data-type": hints.type,
      "data-editable": String(editable),
    }, el("div", { class: "form-field-top" }, labelEl, badge));
    const widget = { el: box, badge, hint, error, hints, label, editable, id, control: null };
    const describedBy = `${id}-hint ${id}-error`;
    const type = hints.type;
    if (type === "yesno" || type === "choice") {
      const options = type === "yesno"
        ? [{ value: true, text: this.i18n.t("yes") }, { value: false, text: this.i18n.t("no") }]
        : (hints.options || []).map((o) => ({ value: o.value, text: localText(this.i18n, o) }));
      const group = el("div", { class: `choice-group${type === "yesno" ? " choice-group--yesno" : ""}`, role: "group", "aria-labelledby": `${id}-label`, "aria-describedby": describedBy });
      widget.buttons = options.map((option) => {
        const button = el("button", {
          type: "button", class: "choice", "aria-pressed": "false", disabled: !editable,
          "data-testid": `${id}-${String(option.value)}`, text: option.text,
        });
        button.addEventListener("click", () => this._edit(form.form_id, name, option.value));
        group.append(button);
        return { button, value: option.value };
      });
      box.append(group);
    } else if (type === "signature") {
      widget.image = el("img", { class: "signature-image", "data-testid": `${id}-image`, alt: this.i18n.t("signature_image"), hidden: true });
      box.append(widget.image);
      if (editable) {
        widget.action = el("button", { type: "button", class: "button button--primary", "data-testid": `${id}-sign`, "aria-describedby": describedBy });
        widget.action.addEventListener("click", () => this._openSignature(form.form_id, name));
        box.append(widget.action);
      }
    } else if (type === "material") {
      widget.thumbs = el("div", { class: "material-thumbs", "data-testid": `${id}-thumbs` });
      box.append(widget.thumbs);
      if (editable) this._materialActions(form, name, widget, describedBy);
    } else {
      const digits = isDigits(hints);
      const keyed = this.kiosk && editable && (digits || hints.widget === "id-number");
      const typed = editable && !keyed && (!this.kiosk || type === "date");
      const input = el("input", {
        id: `${id}-input`, "data-testid": `${id}-input`, class: `form-input${keyed ? " form-input--keyed" : ""}`,
        type: type === "date" ? "date" : "text", autocomplete: "off", spellcheck: "false",
        "aria-describedby": describedBy,
        readonly: !typed, "aria-readonly": typed ? null : "true",
        inputmode: keyed ? "none" : (digits ? "numeric" : null),
        placeholder: localText(this.i18n, hints.placeholder) || null,
        maxlength: type === "mobile" ? 11 : (hints.widget === "id-number" ? 18 : null),
      });
      widget.control = input;
      box.append(input);
      if (typed) {
        let timer = null;
        const send = () => {
          clearTimeout(timer);
          timer = null;
          this._edit(form.form_id, name, this._typedValue(hints, input.value));
        };
        input.addEventListener("input", () => {
          clearTimeout(timer);
          timer = setTimeout(send, type === "date" ? 0 : TYPING_MS);
        });
        input.addEventListener("blur", () => { if (timer) send(); });
      } else if (keyed) {
        input.addEventListener("focus", () => this._startKeying(form.form_id, name));
        input.addEventListener("click", () => this._startKeying(form.form_id, name));
        input.addEventListener("keydown", (event) => {
          const key = /^[0-9]$/.test(event.key) ? event.key : (event.key === "Backspace" ? "delete"
            : (event.key.toUpperCase() === "X" && hints.widget === "id-number" ? "X" : null));
          if (!key) return;
          event.preventDefault();
          this._startKeying(form.form_id, name);
          this._key(key);
        });
        widget.hintKey = "form_tap_to_key";
      } else if (!editable && form.state === "filling") {
        widget.hintKey = "form_agent_fills";
      }
    }
    box.append(hint, error);
    return widget;
  }

  _materialActions(form, name, widget, describedBy) {
    const actions = el("div", { class: "material-actions" });
    if (!this.kiosk) {
      const file = el("input", { type: "file", accept: "image/jpeg,image/png,image/webp,application/pdf", class: "sr-only", id: `${widget.id}-file`, "data-testid": `${widget.id}-file`, tabindex: "-1", "aria-hidden": "true" });
      const button = el("button", { type: "button", class: "button button--secondary", "data-testid": `${widget.id}-upload`, "aria-describedby": describedBy });
      button.dataset.i18n = "material_upload";
      button.addEventListener("click", () => file.click());
      file.addEventListener("change", () => {
        const chosen = file.files && file.files[0];
        file.value = "";
        if (chosen) this._upload(form.form_id, name, chosen, "upload");
      });
      widget.action = button;
      actions.append(button, file);
    } else if (this.documentCamera()) {
      const button = el("button", { type: "button", class: "button button--secondary", "data-testid": `${widget.id}-photo`, "aria-describedby": describedBy });
      button.dataset.i18n = "material_photo";
      button.addEventListener("click", () => this._photo(form.form_id, name));
      widget.action = button;
      widget.hintKey = "material_photo_hint";
      actions.append(button);
    }
    widget.el.append(actions);
  }

  _renderState(entry) {
    const form = entry.form;
    entry.el.dataset.state = form.state;
    entry.chip.dataset.state = form.state;
    entry.chip.textContent = this.i18n.t(`form_state.${form.state === "submitting" ? "submitting" : form.state}`);
    entry.submit.hidden = form.state === "submitted";
    entry.submit.disabled = form.state !== "filling";
    entry.submit.textContent = this.i18n.t(form.state === "submitting" ? "form_submitting" : "form_submit");
    entry.done.hidden = form.state !== "submitted";
    entry.done.textContent = form.state === "submitted" ? this.i18n.t("form_submitted", { id: form.submission_id || "" }) : "";
    const errors = Object.keys(form.errors || {}).length;
    if (form.state === "submitted" || (!errors && entry.summary.dataset.key === "form_invalid")) entry.summary.hidden = true;
  }

  /** Show a field's current value, error, badge and hint. */
  _renderValue(form, name) {
    const entry = this.cards.get(form.form_id);
    const widget = entry && entry.fields.get(name);
    if (!widget) return;
    const value = form.values[name];
    const by = form.filled_by[name];
    const hints = widget.hints;
    widget.el.dataset.filledBy = by || "";
    if (widget.control) {
      const text = value === undefined || value === null ? "" : String(value);
      if (widget.control.value !== text && document.activeElement !== widget.control) widget.control.value = text;
      else if (widget.control.value !== text && widget.control.readOnly) widget.control.value = text;
    }
    if (widget.buttons) {
      for (const { button, value: option } of widget.buttons) button.setAttribute("aria-pressed", String(value === option));
    }
    if (hints.type === "signature") {
      const material = value ? this.state.material(String(value)) : null;
      widget.image.hidden = !material;
      if (material && widget.image.getAttribute("src") !== material.url) widget.image.src = material.url;
      if (widget.action) widget.action.textContent = this.i18n.t(value ? "signature_again" : "signature_sign");
    }
    if (hints.type === "material") this._renderThumbs(widget, value);
    // badge: prefilled from the ID card, reused material, or (for a moment) the agent's
    const prefilled = by === "prefill";
    widget.el.dataset.prefilled = String(prefilled);
    const badgeKey = widget.highlight ? "form_changed_by_agent" : (prefilled ? "form_prefilled" : (by === "reuse" ? "form_reused" : null));
    widget.badge.hidden = !badgeKey;
    widget.badge.textContent = badgeKey ? this.i18n.t(badgeKey) : "";
    widget.badge.dataset.kind = widget.highlight ? "agent" : (by || "");
    // error: the server's code for this field, or a note of ours (upload failed…)
    const note = this.notes.get(`${form.form_id}/${name}`);
    const code = (form.errors || {})[name];
    const errorKey = note && note.kind === "error" ? note.key : (code ? (this.i18n.has(`field_error.${code}`) ? `field_error.${code}` : "field_error.invalid") : null);
    widget.error.hidden = !errorKey;
    widget.error.textContent = errorKey ? this.i18n.t(errorKey) : "";
    widget.el.dataset.error = code || "";
    if (widget.control) widget.control.setAttribute("aria-invalid", String(!!errorKey));
    const hintKey = note && note.kind === "hint" ? note.key : (form.state === "filling" ? widget.hintKey : null);
    widget.hint.hidden = !hintKey;
    widget.hint.textContent = hintKey ? this.i18n.t(hintKey) : "";
    if (widget.action && widget.action.dataset.i18n) {
      const busy = note && note.kind === "busy";
      widget.action.disabled = !!busy;
      widget.action.textContent = this.i18n.t(busy ? "material_uploading" : widget.action.dataset.i18n);
    }
  }

  _renderThumbs(widget, value) {
    const ids = value === undefined || value === null ? [] : (Array.isArray(value) ? value : [value]);
    const thumbs = ids.map((id) => {
      const material = this.state.material(String(id));
      if (!material) return null;
      const name = widget.label;
      if (material.content_type === "application/pdf") {
        return el("span", { class: "material-thumb material-thumb--pdf", "data-material-id": id, text: this.i18n.t("material_pdf") });
      }
      return el("img", { class: "material-thumb", src: material.url, alt: this.i18n.t("material_thumb", { name }), "data-material-id": id });
    }).filter(Boolean);
    const current = [...widget.thumbs.children].map((c) => c.dataset.materialId).join(",");
    if (current !== ids.join(",") || thumbs.length !== widget.thumbs.children.length) {
      widget.thumbs.replaceChildren(...(thumbs.length ? thumbs : [el("span", { class: "material-missing", text: this.i18n.t("material_missing") })]));
    }
  }

  _refreshMaterials() {
    for (const entry of this.cards.values()) {
      for (const [name, widget] of entry.fields) {
        if (["material", "signature"].includes(widget.hints.type)) this._renderValue(entry.form, name);
      }
    }
  }

  // ------------------------------------------------------------ events from the server

  _formEvent({ form, change }) {
    const entry = this.cards.get(form.form_id);
    if (change === "pushed" || (!entry && change !== "withdrawn")) {
      if (entry) entry.el.remove();
      const created = this._renderForm(form);
      this._announce(this.i18n.t("form_announce_pushed", { title: this._title(form) }));
      this.dispatchEvent(new CustomEvent("change"));
      if (change === "pushed" && this.cards.size > 1) created.el.scrollIntoView?.({ block: "start" });
      return;
    }
    if (change === "withdrawn") {
      if (this.keyed && this.keyed.formId === form.form_id) this._stopKeying();
      if (this.signature && this.signature.formId === form.form_id) this._closeSignature();
      if (entry) entry.el.remove();
      this.cards.delete(form.form_id);
      this.dispatchEvent(new CustomEvent("change"));
      return;
    }
    const wasEditable = entry.el.dataset.state === "filling"; // as drawn: `form` was changed in place
    entry.form = form;
    if (wasEditable !== (form.state === "filling")) {
      // Editable becomes read-only (submitted) or back (reopened): draw the form anew.
      const next = entry.el.nextSibling;
      entry.el.remove();
      this.cards.delete(form.form_id);
      const fresh = this._renderForm(form);
      this.root.insertBefore(fresh.el, next);
      if (this.keyed && this.keyed.formId === form.form_id) this._stopKeying();
    } else {
      this._renderState(entry);
      for (const name of entry.fields.keys()) this._renderValue(form, name);
    }
    this.dispatchEvent(new CustomEvent("change"));
  }

  _fieldEvent({ form, field, by, own, stale }) {
    const entry = this.cards.get(form.form_id);
    const widget = entry && entry.fields.get(field);
    if (!widget) return;
    if (!own && (by === "agent" || stale)) {
      // The side that did not type sees the change, highlighted for a moment.
      widget.highlight = true;
      widget.el.dataset.highlight = "true";
      clearTimeout(widget.highlightTimer);
      widget.highlightTimer = setTimeout(() => {
        widget.highlight = false;
        delete widget.el.dataset.highlight;
        this._renderValue(entry.form, field);
      }, HIGHLIGHT_MS);
      if (widget.control && document.activeElement === widget.control && !widget.control.readOnly) {
        widget.control.value = form.values[field] === undefined ? "" : String(form.values[field]);
      }
      this._announce(this.i18n.t("form_announce_agent", { label: widget.label }));
      if (stale) this.notes.set(`${form.form_id}/${field}`, { kind: "hint", key: "form_stale" });
    }
    this._renderValue(form, field);
  }

  _problem({ code, form_id: formId, field }) {
    if (!formId) return;
    const entry = this.cards.get(formId);
    if (!entry) return;
    if (code === "form_invalid") {
      entry.summary.dataset.key = "form_invalid";
      entry.summary.textContent = this.i18n.t("form_invalid");
      entry.summary.hidden = false;
      for (const name of entry.fields.keys()) this._renderValue(entry.form, name);
      const first = [...entry.fields.values()].find((w) => !w.error.hidden);
      if (first) first.el.scrollIntoView?.({ block: "center" });
    } else if (code === "not_saved") {
      entry.summary.dataset.key = "form_not_saved";
      entry.summary.textContent = this.i18n.t("form_not_saved");
      entry.summary.hidden = false;
    } else if (field && entry.fields.has(field) && ["invalid_value", "field_locked"].includes(code)) {
      this.notes.set(`${formId}/${field}`, { kind: "error", key: `field_error.${code}` });
      this._renderValue(entry.form, field);
    }
  }

  _announce(text) {
    this.live.textContent = "";
    setTimeout(() => { this.live.textContent = text; }, 50);
  }

  // ------------------------------------------------------------ edits

  _form(formId) {
    return this.state.forms.get(formId);
  }

  _typedValue(hints, text) {
    if (text === "") return null;
    if (hints.type === "number") {
      const number = Number(text);
      return text.trim() !== "" && Number.isFinite(number) ? number : text;
    }
    return text;
  }

  _edit(formId, name, value) {
    const form = this._form(formId);
    if (!form || form.state !== "filling") return;
    this.notes.delete(`${formId}/${name}`);
    this.state.edit(form, name, value);
    this._renderValue(form, name);
  }

  _startKeying(formId, name) {
    const entry = this.cards.get(formId);
    const widget = entry && entry.fields.get(name);
    if (!widget || !this.keypad) return;
    if (this.keyed && this.keyed.formId === formId && this.keyed.name === name && !this.keypad.root.hidden) return;
    if (this.keyed) this._keyedWidget()?.el.classList.remove("is-keying");
    this.keyed = { formId, name };
    widget.el.classList.add("is-keying");
    this.keypad.attach(widget.error, widget.label, widget.hints.widget === "id-number");
  }

  _keyedWidget() {
    if (!this.keyed) return null;
    return this.cards.get(this.keyed.formId)?.fields.get(this.keyed.name) || null;
  }

  _stopKeying() {
    this._keyedWidget()?.el.classList.remove("is-keying");
    this.keyed = null;
    if (this.keypad) this.keypad.detach();
  }

  _key(key) {
    const widget = this._keyedWidget();
    const form = this.keyed && this._form(this.keyed.formId);
    if (!widget || !form || form.state !== "filling") return;
    const before = form.values[this.keyed.name] === undefined ? "" : String(form.values[this.keyed.name]);
    let text = before;
    if (key === "clear") text = "";
    else if (key === "delete") text = before.slice(0, -1);
    else {
      const max = widget.control.maxLength > 0 ? widget.control.maxLength : 40;
      if (before.length >= max) return;
      text = before + key;
    }
    if (text === before) return;
    widget.control.value = text;
    this._edit(this.keyed.formId, this.keyed.name, this._typedValue(widget.hints, text));
  }

  _submit(formId) {
    const form = this._form(formId);
    const entry = this.cards.get(formId);
    if (!form || form.state !== "filling") return;
    if (this.keyed) this._stopKeying();
    entry.summary.hidden = true;
    this.state.submit(form);
  }

  // ------------------------------------------------------------ signature and materials

  _openSignature(formId, name) {
    this._closeSignature();
    const widget = this.cards.get(formId)?.fields.get(name);
    if (!widget) return;
    const pad = new SignaturePad(this.i18n);
    this.signature = { formId, name, pad };
    widget.action.hidden = true;
    widget.action.after(pad.root);
    pad.open();
    pad.canvas.focus({ preventScroll: true });
    pad.root.scrollIntoView?.({ block: "nearest" });
    pad.addEventListener("cancel", () => this._closeSignature());
    pad.addEventListener("done", async ({ detail }) => {
      pad.setBusy(true);
      try {
        const material = await uploadMaterial(this.call(), detail.blob, "signature", "signature");
        this.state.materials.set(material.id, material);
        this._closeSignature();
        this._edit(formId, name, material.id);
      } catch (error) {
        pad.setBusy(false);
        pad.showError(`field_error.${error instanceof UploadError ? error.code : "upload_failed"}`);
      }
    });
  }

  _closeSignature() {
    if (!this.signature) return;
    const { formId, name, pad } = this.signature;
    pad.root.remove();
    this.signature = null;
    const widget = this.cards.get(formId)?.fields.get(name);
    if (widget && widget.action) {
      widget.action.hidden = false;
      widget.action.focus({ preventScroll: true });
    }
  }

  async _upload(formId, name, blob, source) {
    const form = this._form(formId);
    const widget = this.cards.get(formId)?.fields.get(name);
    if (!form || !widget) return;
    const key = `${formId}/${name}`;
    const problem = fileProblem(blob);
    if (problem) {
      this.notes.set(key, { kind: "error", key: `field_error.${problem}` });
      this._renderValue(form, name);
      return;
    }
    this.notes.set(key, { kind: "busy" });
    this._renderValue(form, name);
    // Materials once: the server itself puts a new material into every empty field of its
    // kind, so only a replacement (or another file of a multiple field) needs an edit.
    const empty = form.values[name] === undefined;
    try {
      const material = await uploadMaterial(this.call(), blob, widget.hints.material || "other", source);
      this.state.materials.set(material.id, material);
      this.notes.delete(key);
      const current = this._form(formId);
      if (!(empty && !widget.hints.multiple) && current.values[name] !== material.id) {
        const value = widget.hints.multiple ? [...(Array.isArray(current.values[name]) ? current.values[name] : []), material.id] : material.id;
        this._edit(formId, name, value);
      } else {
        this._renderValue(current, name);
      }
    } catch (error) {
      this.notes.set(key, { kind: "error", key: `field_error.${error instanceof UploadError ? error.code : "upload_failed"}` });
      this._renderValue(this._form(formId), name);
    }
  }

  async _photo(formId, name) {
    const key = `${formId}/${name}`;
    const deviceId = this.documentCamera();
    try {
      this.notes.set(key, { kind: "busy" });
      this._renderValue(this._form(formId), name);
      const blob = await captureFromCamera(deviceId);
      this.notes.delete(key);
      await this._upload(formId, name, blob, "document_camera");
    } catch {
      this.notes.set(key, { kind: "error", key: "field_error.camera_failed" });
      this._renderValue(this._form(formId), name);
    }
  }
}
