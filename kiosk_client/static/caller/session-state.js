// The caller's copy of the session document (docs/protocol.md "Forms and screens").
//
// The server is authoritative: this only applies what it sends (a full `session_document`
// after `connected`, then the single changes) and remembers, per field, the version the
// page last saw, which every edit names as its `base`. The page's own edits are sent at
// once and counted optimistically (base + 1), so keying "1", "2", "3" quickly does not
// trip over our own echoes; another party's change, or `stale_version`, resets the field
// to the server's value and version (last write at the server wins).
//
// Events (CustomEvent detail):
//   reset {}: everything changed (a snapshot) · form {form, change: "pushed" | "state" |
//   "withdrawn" | "errors"} · field {form, field, value, by, own} · identity {identity,
//   prefilled: [{form_id, field}]} · material {material} · screen {screen, change:
//   "pushed" | "status" | "closed"} · case {case} (`case_updated`: the call's case) ·
//   problem {code, message, field, form_id, errors}

export class SessionState extends EventTarget {
  /** @param {(message: object) => boolean} send  sends a message for this call */
  constructor(send) {
    super();
    this.send = send;
    this.clear();
  }

  clear() {
    this.identity = null;
    this.materials = new Map();
    this.forms = new Map();
    this.screens = new Map();
    /** the call's case once a form was submitted: {number, state, tasks, receipt} */
    this.case = null;
    this.revision = 0;
    /** form_id/field -> the version our next edit builds on */
    this.bases = new Map();
    /** our edits not yet echoed or refused, oldest first */
    this.pending = [];
  }

  _emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** Forms that are shown (pushed, filling or submitted, not withdrawn), in push order. */
  get activeForms() {
    return [...this.forms.values()].filter((f) => f.state !== "withdrawn");
  }

  /** Screens not closed, in push order. */
  get openScreens() {
    return [...this.screens.values()].filter((s) => s.status !== "closed");
  }

  material(id) {
    return this.materials.get(id) || null;
  }

  version(form, field) {
    return this.bases.get(`${form.form_id}/${field}`) ?? (form.versions[field] || 0);
  }

  _adoptForm(form) {
    const copy = { ...form, values: { ...form.values }, versions: { ...form.versions },
      filled_by: { ...form.filled_by }, errors: { ...(form.errors || {}) } };
    const old = this.forms.get(form.form_id);
    if (!copy.form && old) copy.form = old.form;
    this.forms.set(form.form_id, copy);
    for (const [field, version] of Object.entries(copy.versions)) this.bases.set(`${form.form_id}/${field}`, version);
    return copy;
  }

  /** Apply one server message of the session document. */
  apply(message) {
    switch (message.type) {
      case "session_document": {
        const document = message.document || {};
        this.clear();
        this.revision = document.revision || 0;
        this.identity = document.identity || null;
        for (const material of document.materials || []) this.materials.set(material.id, material);
        for (const form of document.forms || []) this._adoptForm(form);
        for (const screen of document.screens || []) this.screens.set(screen.screen_id, { ...screen });
        this.case = document.case || null;
        this._emit("reset");
        break;
      }
      case "form_pushed":
        this._emit("form", { form: this._adoptForm(message.form), change: "pushed" });
        break;
      case "form_withdrawn":
      case "form_submitting":
      case "form_submitted":
      case "form_reopened": {
        const form = this.forms.get(message.form_id);
        if (!form) return;
        form.state = { form_withdrawn: "withdrawn", form_submitting: "submitting",
          form_submitted: "submitted", form_reopened: "filling" }[message.type];
        if (message.submission_id) form.submission_id = message.submission_id;
        if (message.type === "form_submitted") form.errors = {};
        this._emit("form", { form, change: message.type === "form_withdrawn" ? "withdrawn" : "state" });
        break;
      }
      case "field_changed":
        this._fieldChanged(message);
        break;
      case "identity_set":
        this.identity = message.identity || null;
        this._emit("identity", { identity: this.identity, prefilled: message.prefilled || [] });
        break;
      case "material_added":
        this.materials.set(message.material.id, message.material);
        this._emit("material", { material: message.material });
        break;
      case "screen_pushed":
        this.screens.set(message.screen.screen_id, { ...message.screen });
        this._emit("screen", { screen: this.screens.get(message.screen.screen_id), change: "pushed" });
        break;
      case "screen_status": {
        const screen = this.screens.get(message.screen_id);
        if (!screen) return;
        screen.status = message.status;
        screen.error = message.error || null;
        this._emit("screen", { screen, change: "status" });
        break;
      }
      case "screen_closed": {
        const screen = this.screens.get(message.screen_id);
        if (!screen) return;
        screen.status = "closed";
        this._emit("screen", { screen, change: "closed" });
        break;
      }
      case "case_updated":
        this.case = message.case || null;
        this._emit("case", { case: this.case });
        break;
      case "error":
        this._error(message);
        break;
      default:
        break;
    }
    if (typeof message.revision === "number") this.revision = Math.max(this.revision, message.revision);
  }

  _fieldChanged(message) {
    const form = this.forms.get(message.form_id);
    if (!form) return;
    const key = `${form.form_id}/${message.field}`;
    const own = message.by === "caller";
    if (own) {
      const index = this.pending.findIndex((p) => p.form_id === form.form_id && p.field === message.field);
      if (index >= 0) this.pending.splice(index, 1);
    }
    const expected = this.bases.get(key) ?? 0;
    form.versions[message.field] = message.version;
    if (message.errors) form.errors = { ...message.errors };
    if (own && message.version <= expected) {
      // The echo of an edit of ours; later keystrokes may already be on their way, so
      // keep the newer value on screen and the optimistic base.
      if (message.version === expected) this._setValue(form, message.field, message.value, message.by);
      this._emit("form", { form, change: "errors" });
      return;
    }
    this.bases.set(key, message.version);
    this._setValue(form, message.field, message.value, message.by);
    this._emit("field", { form, field: message.field, value: message.value, by: message.by, own });
    this._emit("form", { form, change: "errors" });
  }

  _setValue(form, field, value, by) {
    if (value === null || value === undefined || value === "" || (Array.isArray(value) && !value.length)) {
      delete form.values[field];
      delete form.filled_by[field];
    } else {
      form.values[field] = value;
      form.filled_by[field] = by;
    }
  }

  _error(message) {
    // The server answers our messages in order: an edit's error is the oldest pending edit.
    const edit = message.in_reply_to === "edit_field" ? this.pending.shift() : null;
    const formId = message.form_id || (edit && edit.form_id) || null;
    const form = formId ? this.forms.get(formId) : null;
    if (message.code === "stale_version" && form && message.field) {
      // Someone else's edit won: show theirs and build on it.
      this.bases.set(`${form.form_id}/${message.field}`, message.version);
      form.versions[message.field] = message.version;
      this._setValue(form, message.field, message.value, form.filled_by[message.field] || "agent");
      this._emit("field", { form, field: message.field, value: message.value, by: "server", own: false, stale: true });
    } else if (message.code === "form_invalid" && form) {
      form.errors = { ...(message.errors || {}) };
      this._emit("form", { form, change: "errors" });
    }
    this._emit("problem", {
      code: message.code, message: message.message, field: message.field || (edit && edit.field) || null,
      form_id: formId, errors: message.errors || null, reason: message.reason || null,
      inReplyTo: message.in_reply_to,
    });
  }

  /** Send an edit of one field, built on the version this page last saw. */
  edit(form, field, value) {
    const key = `${form.form_id}/${field}`;
    const base = this.version(form, field);
    this._setValue(form, field, value, "caller");
    if (!this.send({ type: "edit_field", form_id: form.form_id, field, value, base })) return false;
    this.pending.push({ form_id: form.form_id, field });
    this.bases.set(key, base + 1);
    return true;
  }

  submit(form) {
    return this.send({ type: "submit_form", form_id: form.form_id });
  }

  screenStatus(screen, status, error = null) {
    const message = { type: "screen_status", screen_id: screen.screen_id, status };
    if (error) message.error = String(error).slice(0, 200);
    return this.send(message);
  }

  setIdentity(identity) {
    return this.send({ type: "set_identity", identity, source: "reader" });
  }
}
