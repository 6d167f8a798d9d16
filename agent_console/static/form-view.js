// The live form of one matter in the call: each field from the form's UI hints, with its
// value, who filled it (caller / identity prefill / reused material) and its error.
//
// The agent edits every field except the signature; each edit is sent as `edit_field`
// with `base` = the field's version this console last saw, at most DEBOUNCE_MS after the
// keystroke. One edit per field is in flight at a time: the next waits for the server's
// `field_changed` echo (and its new version), so fast typing never races itself. A
// caller's change shows at once, highlighted ("客户正在填写"); when both type at the same
// moment the server keeps the first and answers the other `stale_version`, whose value
// and version this view adopts.

import { h, replace } from "./dom.js";
import { icon } from "./icons.js";

const DEBOUNCE_MS = 120;
const HIGHLIGHT_MS = 3000;
const TEXT_TYPES = new Set(["text", "number", "date", "id_number", "uscc", "mobile", "address"]);

export class FormView {
  /**
   * @param {HTMLElement} root  the data-testid="form-view" panel
   * @param {{i18n, catalog, session, send: (message: object) => boolean,
   *          onSubmission: (formId: string) => void}} deps
   */
  constructor(root, { i18n, catalog, session, send, onSubmission }) {
    this.root = root;
    this.i18n = i18n;
    this.catalog = catalog;
    this.session = session;
    this.send = send;
    this.onSubmission = onSubmission;
    this.formId = null;
    this.edits = new Map(); // field -> {timer, inflight, queued, value}
    this.highlights = new Map(); // field -> timer
    this.rows = new Map(); // field -> {row, control, error, live, marks, hints}
    this.notes = new Map(); // field -> note key shown once (e.g. adopted)
    session.addEventListener("change", (event) => this._onChange(event.detail));
  }

  get form() {
    return this.formId ? this.session.form(this.formId) : null;
  }

  /** Show `formId` (or the newest form still open when null). */
  show(formId) {
    if (formId !== this.formId) this._dropEdits();
    this.formId = formId;
    this.render();
  }

  render() {
    if (this.formId && !this.session.form(this.formId)) this.formId = null;
    if (!this.formId) {
      const open = [...this.session.forms].reverse().find((f) => f.state !== "withdrawn");
      this.formId = open ? open.form_id : null;
    }
    const focus = this._focusState();
    this.rows = new Map();
    const form = this.form;
    const picker = this._renderPicker();
    if (!form) {
      replace(this.root, picker, h("p", { class: "empty", "data-testid": "form-empty" }, this.i18n.t("form.empty")));
      return;
    }
    const t = (key, values) => this.i18n.t(key, values);
    const state = form.state;
    const head = h("div", { class: "form-head" },
      h("h3", { class: "form-title", "data-testid": "form-title" }, this.catalog.matterTitle(form.matter)),
      h("span", { class: `chip state-chip state-${state}`, "data-testid": "form-state", "data-state": state }, t(`form.state.${state}`)),
      state === "submitted" ? h("button", { type: "button", class: "btn btn-secondary btn-small", "data-testid": "form-show-submission", onclick: () => this.onSubmission(form.form_id) },
        icon("check", { size: 16 }), t("form.show_submission")) : null);
    const fields = h("div", { class: "form-fields", "data-testid": "form-fields", "data-form-id": form.form_id });
    const ui = form.form.ui || { order: [], fields: {} };
    for (const name of ui.order || Object.keys(ui.fields || {})) {
      const hints = (ui.fields || {})[name];
      if (hints) fields.append(this._renderField(form, name, hints));
    }
    const locked = state !== "filling";
    replace(this.root, picker, head,
      locked ? h("p", { class: "small muted form-locked" }, t(state === "submitted" ? "form.locked.submitted" : state === "withdrawn" ? "form.locked.withdrawn" : "form.locked.submitting")) : null,
      fields);
    for (const name of this.rows.keys()) this.updateField(name);
    this._restoreFocus(focus);
  }

  _renderPicker() {
    const forms = this.session.forms;
    if (forms.length < 2) return h("div", { hidden: true });
    return h("div", { class: "form-picker", role: "group", "aria-label": this.i18n.t("form.picker") },
      ...forms.map((form) => h("button", {
        type: "button", class: `pill-button state-${form.state}`, "aria-pressed": String(form.form_id === this.formId),
        "data-testid": "form-pick", "data-form-id": form.form_id, onclick: () => this.show(form.form_id),
      }, this.catalog.matterTitle(form.matter))));
  }

  _renderField(form, name, hints) {
    const t = (key, values) => this.i18n.t(key, values);
    const id = `ff-${form.form_id}-${name}`;
    const label = this.catalog.text(hints.label) || name;
    const type = hints.type;
    const errorId = `${id}-error`;
    const liveId = `${id}-live`;
    const marks = h("span", { class: "field-marks", "data-role": "marks" });
    const error = h("p", { class: "field-error", id: errorId, "data-testid": "form-field-error", hidden: true });
    const live = h("p", { class: "field-live small", id: liveId, "data-testid": "form-field-live", role: "status" });
    let control;
    let labelEl;
    const describedBy = `${errorId} ${liveId}`;
    const locked = form.state !== "filling";
    if (TEXT_TYPES.has(type)) {
      const attrs = { id, "data-testid": `form-input-${name}`, "aria-describedby": describedBy, autocomplete: "off", spellcheck: "false", disabled: locked };
      if (type === "date") attrs.type = "date";
      else attrs.type = "text";
      if (type === "number" || type === "mobile" || hints.widget === "digits") attrs.inputmode = type === "number" ? "decimal" : "numeric";
      const placeholder = this.catalog.text(hints.placeholder);
      if (placeholder) attrs.placeholder = placeholder;
      control = h("input", attrs);
      control.addEventListener("input", () => this._edited(name, this._readControl(name)));
      labelEl = h("label", { for: id }, label);
    } else if (type === "choice" || type === "yesno") {
      const options = type === "yesno"
        ? [["yes", t("form.yes")], ["no", t("form.no")]]
        : (hints.options || []).map((o) => [o.value, this.i18n.language === "en" ? o.en || o.zh : o.zh || o.value]);
      control = h("select", { id, "data-testid": `form-input-${name}`, "aria-describedby": describedBy, disabled: locked },
        h("option", { value: "" }, t("form.choose")),
        ...options.map(([value, text]) => h("option", { value }, text)));
      control.addEventListener("change", () => this._edited(name, this._readControl(name), 0));
      labelEl = h("label", { for: id }, label);
    } else if (type === "material") {
      control = h("div", { class: "material-field", "data-role": "material-field" });
      labelEl = h("span", { class: "field-label", id: `${id}-label` }, label);
    } else { // signature: the caller signs; the agent only sees it
      control = h("div", { class: "signature-field", "data-testid": `form-input-${name}`, "data-role": "signature" });
      labelEl = h("span", { class: "field-label", id: `${id}-label` }, label);
    }
    const row = h("div", { class: `form-field type-${type}`, "data-testid": "form-field", "data-field": name, "data-type": type },
      h("div", { class: "field-label-row" }, labelEl, hints.required ? h("span", { class: "required-mark", "aria-hidden": "true" }, "*") : null, marks),
      control, error, live);
    this.rows.set(name, { row, control, error, live, marks, hints, id });
    return row;
  }

  /** Bring one field's control, marks and error up to the session document. */
  updateField(name) {
    const form = this.form;
    const entry = this.rows.get(name);
    if (!form || !entry) return;
    const t = (key, values) => this.i18n.t(key, values);
    const { control, error, marks, hints, row } = entry;
    const value = form.values[name];
    const type = hints.type;
    const editing = this.edits.get(name);
    const busy = Boolean(editing && (editing.timer || editing.inflight || editing.queued !== undefined));
    if (TEXT_TYPES.has(type)) {
      const text = value === undefined || value === null ? "" : String(value);
      if (!busy && control.value !== text) control.value = text;
    } else if (type === "choice") {
      if (!busy) control.value = value ?? "";
    } else if (type === "yesno") {
      if (!busy) control.value = value === true ? "yes" : value === false ? "no" : "";
    } else if (type === "material") {
      this._renderMaterialField(form, name, entry);
    } else {
      const material = value ? this.session.material(value) : null;
      replace(control, material
        ? h("img", { class: "signature-image", src: material.url, alt: t("form.signature_of", { label: this.catalog.text(hints.label) }) })
        : h("span", { class: "muted small" }, t(form.state === "filling" ? "form.signature_pending" : "form.signature_none")));
    }
    const by = form.filled_by[name];
    replace(marks,
      hints.caller ? h("span", { class: "chip chip-caller", title: t("form.mark.caller.title") }, t("form.mark.caller")) : null,
      by === "prefill" ? h("span", { class: "chip chip-prefill", "data-testid": "mark-prefill" }, t("form.mark.prefill")) : null,
      by === "reuse" ? h("span", { class: "chip chip-reuse", "data-testid": "mark-reuse" }, t("form.mark.reuse")) : null);
    row.dataset.filledBy = by || "";
    const code = form.errors[name];
    error.hidden = !code;
    error.textContent = code ? this._errorText(code, hints) : "";
    if (control.matches?.("input, select")) {
      if (code) control.setAttribute("aria-invalid", "true");
      else control.removeAttribute("aria-invalid");
    }
  }

  _renderMaterialField(form, name, entry) {
    const t = (key, values) => this.i18n.t(key, values);
    const { control, hints, id } = entry;
    const value = form.values[name];
    const chosen = value === undefined || value === null ? [] : Array.isArray(value) ? value : [value];
    const locked = form.state !== "filling";
    const thumbs = h("div", { class: "material-thumbs" }, ...chosen.map((materialId) => materialThumb(this, this.session.material(materialId), materialId)));
    const kind = hints.material;
    const all = [...this.session.materials].sort((a, b) => (b.kind === kind) - (a.kind === kind));
    let picker;
    if (hints.multiple) {
      picker = h("fieldset", { class: "material-checks", disabled: locked },
        h("legend", { class: "visually-hidden" }, t("form.pick_material", { label: this.catalog.text(hints.label) })),
        ...(all.length ? all.map((m) => h("label", { class: "check" },
          h("input", { type: "checkbox", value: m.id, checked: chosen.includes(m.id), onchange: () => {
            const ids = [...picker.querySelectorAll("input:checked")].map((input) => input.value);
            this._edited(name, ids.length ? ids : null, 0);
          } }),
          `${this.catalog.materialName(m.kind)} · ${timeOf(m.at)}`)) : [h("span", { class: "small muted" }, t("materials.none"))]));
    } else {
      picker = h("select", { id, "data-testid": `form-input-${name}`, "aria-labelledby": `${id}-label`, disabled: locked },
        h("option", { value: "" }, all.length ? t("form.pick_material_none") : t("materials.none")),
        ...all.map((m) => h("option", { value: m.id }, `${this.catalog.materialName(m.kind)} · ${t(`material.source.${m.source}`)} · ${timeOf(m.at)}`)));
      picker.value = chosen[0] || "";
      picker.addEventListener("change", () => this._edited(name, picker.value || null, 0));
    }
    replace(control, thumbs, picker);
    control.dataset.testid = `form-material-${name}`;
  }

  _readControl(name) {
    const { control, hints } = this.rows.get(name);
    const raw = control.value;
    if (hints.type === "yesno") return raw === "yes" ? true : raw === "no" ? false : null;
    if (raw === "") return null;
    if (hints.type === "number" && /^-?\d+(\.\d+)?$/.test(raw.trim())) return Number(raw.trim());
    if (hints.type === "id_number" || hints.type === "uscc") return raw.trim().toUpperCase();
    return raw;
  }

  // ------------------------------------------------------------------ sending edits

  _edited(name, value, delay = DEBOUNCE_MS) {
    const form = this.form;
    if (!form || form.state !== "filling") return;
    const edit = this.edits.get(name) || { timer: null, inflight: false, queued: undefined, formId: form.form_id };
    this.edits.set(name, edit);
    clearTimeout(edit.timer);
    edit.pending = value;
    edit.timer = setTimeout(() => {
      edit.timer = null;
      if (edit.inflight) edit.queued = edit.pending;
      else this._sendEdit(name, edit, edit.pending);
    }, delay);
  }

  _sendEdit(name, edit, value) {
    const form = this.session.form(edit.formId);
    if (!form || form.state !== "filling") return;
    if (sameValue(form.values[name], value)) return; // nothing to change
    edit.inflight = true;
    edit.sentValue = value;
    const sent = this.send({ type: "edit_field", call_id: this.session.callId, form_id: edit.formId, field: name, value, base: form.versions[name] || 0 });
    if (!sent) edit.inflight = false;
  }

  _settled(name, formId) {
    const edit = this.edits.get(name);
    if (!edit || edit.formId !== formId) return;
    edit.inflight = false;
    if (edit.queued !== undefined) {
      const value = edit.queued;
      edit.queued = undefined;
      this._sendEdit(name, edit, value);
    }
  }

  _dropEdits() {
    for (const edit of this.edits.values()) clearTimeout(edit.timer);
    this.edits.clear();
  }

  /** An `error` in reply to our edit_field; true when this view explained it. */
  onError(m) {
    if (m.in_reply_to !== "edit_field" || !m.field) return false;
    const edit = this.edits.get(m.field);
    const formId = edit ? edit.formId : this.formId;
    if (edit) {
      clearTimeout(edit.timer);
      edit.timer = null;
      edit.inflight = false;
      edit.queued = undefined;
    }
    if (m.code === "stale_version") {
      // Someone else's edit won: show theirs, on its version.
      this.session.adopt(formId, m.field, m.value ?? null, m.version ?? 0);
      this._note(m.field, "form.adopted");
      return true;
    }
    if (m.code === "invalid_value") {
      this.updateField(m.field);
      const entry = this.rows.get(m.field);
      if (entry) {
        entry.error.hidden = false;
        entry.error.textContent = this._errorText(m.reason || m.code_detail || "invalid", entry.hints);
      }
      return true;
    }
    if (m.code === "field_locked") {
      this.updateField(m.field);
      this._note(m.field, "form.locked_field");
      return true;
    }
    return false;
  }

  _note(name, key) {
    const entry = this.rows.get(name);
    if (!entry) return;
    entry.live.textContent = this.i18n.t(key);
  }

  // ------------------------------------------------------------------ incoming changes

  _onChange(detail) {
    switch (detail.type) {
      case "reset":
        this._dropEdits();
        this.formId = null;
        return this.render();
      case "document":
        return this.render();
      case "form_pushed": // the agent just pushed it: show it
        this._dropEdits();
        this.formId = detail.formId;
        return this.render();
      case "field_changed":
        if (detail.formId !== this.formId) {
          if (detail.by === "agent") this._settled(detail.field, detail.formId);
          return undefined;
        }
        if (detail.by === "agent") {
          this._settled(detail.field, detail.formId);
        } else {
          const edit = this.edits.get(detail.field);
          if (edit && edit.timer) { // our unsent typing lost to theirs
            clearTimeout(edit.timer);
            edit.timer = null;
          }
          this._highlight(detail.field, detail.by);
        }
        this.updateField(detail.field);
        for (const name of this.rows.keys()) if (name !== detail.field) this._updateError(name);
        return undefined;
      case "adopted":
        if (detail.formId === this.formId) this.updateField(detail.field);
        return undefined;
      case "material_added":
        for (const [name, entry] of this.rows) if (entry.hints.type === "material") this.updateField(name);
        return undefined;
      case "form_submitting":
      case "form_reopened":
      case "form_submitted":
      case "form_withdrawn":
        this.render(); // the form locks, and the picker shows every form's state
        return undefined;
      default:
        return undefined;
    }
  }

  _updateError(name) {
    const form = this.form;
    const entry = this.rows.get(name);
    if (!form || !entry) return;
    const code = form.errors[name];
    entry.error.hidden = !code;
    entry.error.textContent = code ? this._errorText(code, entry.hints) : "";
    if (entry.control.matches?.("input, select")) {
      if (code) entry.control.setAttribute("aria-invalid", "true");
      else entry.control.removeAttribute("aria-invalid");
    }
  }

  _highlight(name, by) {
    const entry = this.rows.get(name);
    if (!entry) return;
    entry.row.classList.remove("flash");
    void entry.row.offsetWidth; // restart the flash for every keystroke
    entry.row.classList.add("flash", `changed-by-${by}`);
    entry.row.dataset.highlight = by;
    entry.live.textContent = this.i18n.t(by === "caller" ? "form.caller_typing" : by === "prefill" ? "form.prefilled_now" : "form.reused_now");
    clearTimeout(this.highlights.get(name));
    this.highlights.set(name, setTimeout(() => {
      entry.row.classList.remove("flash", "changed-by-caller", "changed-by-prefill", "changed-by-reuse");
      delete entry.row.dataset.highlight;
      entry.live.textContent = "";
    }, HIGHLIGHT_MS));
  }

  _errorText(code, hints) {
    const key = `form.error.${code}`;
    return this.i18n.has(key) ? this.i18n.t(key, { label: this.catalog.text(hints.label) }) : this.i18n.t("form.error.invalid");
  }

  _focusState() {
    const active = document.activeElement;
    if (!active || !this.root.contains(active) || !active.id) return null;
    return { id: active.id, start: active.selectionStart ?? null, end: active.selectionEnd ?? null };
  }

  _restoreFocus(state) {
    if (!state) return;
    const el = document.getElementById(state.id);
    if (!el) return;
    el.focus({ preventScroll: true });
    if (state.start !== null && typeof el.setSelectionRange === "function") {
      try { el.setSelectionRange(state.start, state.end); } catch { /* not a text input */ }
    }
  }
}

function sameValue(a, b) {
  if (a === undefined) a = null;
  if (b === undefined) b = null;
  return JSON.stringify(a) === JSON.stringify(b);
}

export function timeOf(at) {
  if (!at) return "";
  const date = new Date(at * 1000);
  return `${String(date.getHours()).padStart(2, "0")}:${String(date.getMinutes()).padStart(2, "0")}:${String(date.getSeconds()).padStart(2, "0")}`;
}

/** A small preview of a material: the image itself, or a PDF chip; a link opens it. */
export function materialThumb(view, material, fallbackId) {
  const t = (key, values) => view.i18n.t(key, values);
  if (!material) return h("span", { class: "material-thumb missing small" }, fallbackId || "");
  const name = view.catalog.materialName(material.kind);
  const image = material.content_type && material.content_type.startsWith("image/");
  return h("a", { class: "material-thumb", href: material.url, target: "_blank", rel: "noopener", "data-testid": "material-thumb", "data-material-id": material.id },
    image ? h("img", { src: material.url, alt: t("materials.thumb_alt", { name }) })
      : h("span", { class: "pdf-chip" }, `PDF · ${t("materials.pages", { n: material.pages || 1 })}`, h("span", { class: "visually-hidden" }, ` ${name}`)));
}
