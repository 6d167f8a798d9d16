// The console's copy of the call's session document (docs/protocol.md, "Session document").
//
// The server holds the document; this mirror is rebuilt from every `session_document` (on
// connect, resume and re-auth) and kept current by the messages both parties receive. The
// components of the matters desk read it and listen for "change" ({detail: {type, …}}).

export const FORM_STATES = ["filling", "submitting", "submitted", "withdrawn"];

export class MatterSession extends EventTarget {
  constructor() {
    super();
    this.reset(null);
  }

  reset(callId) {
    this.callId = callId;
    this.revision = 0;
    this.identity = null;
    this.materials = [];
    this.forms = [];
    this.screens = [];
    this.case = null; // the call's case (`case_updated`), once a form was submitted
    this.lastEdit = new Map(); // `${form_id}/${field}` -> {by, at}
    this._emit({ type: "reset" });
  }

  /** A full snapshot from the server replaces everything. */
  load(document) {
    this.callId = document.call_id;
    this.revision = document.revision || 0;
    this.identity = document.identity || null;
    this.materials = [...(document.materials || [])];
    this.forms = (document.forms || []).map((form) => normalizeForm(form));
    this.screens = [...(document.screens || [])];
    this.case = document.case || null;
    this._emit({ type: "document" });
  }

  form(formId) {
    return this.forms.find((form) => form.form_id === formId) || null;
  }

  material(id) {
    return this.materials.find((material) => material.id === id) || null;
  }

  screen(id) {
    return this.screens.find((screen) => screen.screen_id === id) || null;
  }

  /** Apply one server message of the call; returns true when it was one of ours. */
  apply(m) {
    if (m.type !== "session_document" && this.callId && m.call_id && m.call_id !== this.callId) return false;
    if (typeof m.revision === "number") this.revision = Math.max(this.revision, m.revision);
    switch (m.type) {
      case "session_document":
        this.load(m.document);
        return true;
      case "form_pushed": {
        const form = normalizeForm(m.form);
        const index = this.forms.findIndex((f) => f.form_id === form.form_id);
        if (index >= 0) this.forms[index] = form;
        else this.forms.push(form);
        this._emit({ type: m.type, formId: form.form_id });
        return true;
      }
      case "field_changed": {
        const form = this.form(m.form_id);
        if (!form) return true;
        if (m.value === null || m.value === undefined || m.value === "") {
          delete form.values[m.field];
          delete form.filled_by[m.field];
        } else {
          form.values[m.field] = m.value;
          form.filled_by[m.field] = m.by;
        }
        form.versions[m.field] = m.version;
        if (m.errors) form.errors = { ...m.errors };
        this.lastEdit.set(`${m.form_id}/${m.field}`, { by: m.by, at: Date.now() });
        this._emit({ type: m.type, formId: m.form_id, field: m.field, by: m.by, value: m.value, version: m.version });
        return true;
      }
      case "form_submitting":
      case "form_reopened":
      case "form_submitted":
      case "form_withdrawn": {
        const form = this.form(m.form_id);
        if (!form) return true;
        form.state = { form_submitting: "submitting", form_reopened: "filling", form_submitted: "submitted", form_withdrawn: "withdrawn" }[m.type];
        if (m.type === "form_submitted") {
          form.submission_id = m.submission_id;
          form.submitted_at = m.submitted_at;
          form.errors = {};
        }
        this._emit({ type: m.type, formId: m.form_id });
        return true;
      }
      case "identity_set":
        this.identity = m.identity;
        this._emit({ type: m.type, prefilled: m.prefilled || [] });
        return true;
      case "material_added":
        if (!this.material(m.material.id)) this.materials.push(m.material);
        this._emit({ type: m.type, material: m.material });
        return true;
      case "screen_pushed": {
        const index = this.screens.findIndex((s) => s.screen_id === m.screen.screen_id);
        if (index >= 0) this.screens[index] = m.screen;
        else this.screens.push(m.screen);
        if (m.screen.kind === "screen_share") {
          // One screen share at a time: the server closed any earlier one.
          for (const other of this.screens) {
            if (other !== m.screen && other.kind === "screen_share" && other.status !== "closed") other.status = "closed";
          }
        }
        this._emit({ type: m.type, screenId: m.screen.screen_id });
        return true;
      }
      case "screen_status": {
        const screen = this.screen(m.screen_id);
        if (screen) {
          screen.status = m.status;
          screen.error = m.error ?? null;
        }
        this._emit({ type: m.type, screenId: m.screen_id });
        return true;
      }
      case "screen_closed": {
        const screen = this.screen(m.screen_id);
        if (screen) screen.status = "closed";
        this._emit({ type: m.type, screenId: m.screen_id });
        return true;
      }
      case "case_updated":
        this.case = m.case || null;
        this._emit({ type: m.type });
        return true;
      default:
        return false;
    }
  }

  /** Edits the server refused as stale: take its value and version. */
  adopt(formId, field, value, version) {
    const form = this.form(formId);
    if (!form) return;
    if (value === null || value === undefined) delete form.values[field];
    else form.values[field] = value;
    form.versions[field] = version;
    this._emit({ type: "adopted", formId, field, value, version });
  }

  _emit(detail) {
    this.dispatchEvent(new CustomEvent("change", { detail }));
  }
}

function normalizeForm(form) {
  return {
    ...form,
    values: { ...(form.values || {}) },
    versions: { ...(form.versions || {}) },
    filled_by: { ...(form.filled_by || {}) },
    errors: { ...(form.errors || {}) },
    form: form.form || { schema: {}, ui: { order: [], fields: {} } },
  };
}
