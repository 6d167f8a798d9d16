// Tickets in the matters desk (docs/protocol.md §20): "转工单" turns what cannot be settled
// in the call (or a complaint, inquiry, assistance request, suggestion) into a ticket owned
// by the agent or a department; "我的工单" lists the agent's tickets, due first, overdue
// ones flagged in words, with the next legal state changes and a note. A `ticket_created`
// from the server (this call made a ticket) refreshes the list.

import { h, replace } from "./dom.js";
import { timeOfDay } from "./format.js";

export const TICKET_KINDS = ["complaint", "inquiry", "assistance", "suggestion", "matter"];
/** The moves the owner may make from each state (the server's table, signaling/matters/tickets.py). */
export const TICKET_MOVES = {
  open: ["in_progress"],
  in_progress: ["resolved"],
  resolved: ["closed", "in_progress"],
  closed: [],
};

export class TicketsPanel {
  /**
   * @param {HTMLElement} root  the data-testid="tickets-panel" section
   * @param {{i18n, catalog, session, api, toasts}} deps
   */
  constructor(root, { i18n, catalog, session, api, toasts }) {
    this.root = root;
    this.i18n = i18n;
    this.catalog = catalog;
    this.session = session;
    this.api = api;
    this.toasts = toasts;
    this.tickets = [];
    this.departments = [];
    this.busy = false;
    this.formOpen = false;
    this.draft = { kind: "complaint", subject: "", description: "", owner: "", phone: "", matter: "" };
    this.error = "";
  }

  t(key, values) {
    return this.i18n.t(key, values);
  }

  /** A call began: load the departments (once) and my tickets. */
  async start() {
    this.render();
    try {
      if (!this.departments.length) {
        const data = await this.api.catalog();
        this.departments = data.departments || [];
      }
    } catch { /* the owner select then offers "me" only */ }
    await this.refresh();
  }

  async refresh() {
    try {
      const data = await this.api.request("GET", "/api/tickets");
      this.tickets = data.tickets || [];
    } catch (error) {
      this.toasts.show(this.t("tickets.load_failed", { reason: error.message || error.code }), "error");
    }
    this.render();
  }

  /** A server message; true when it was a ticket's. */
  onMessage(m) {
    if (m.type !== "ticket_created") return false;
    if (m.call_id !== this.session.callId) return true;
    this.toasts.show(this.t("tickets.created", { number: m.ticket.number }), "success");
    this.refresh();
    return true;
  }

  async create(event) {
    event.preventDefault();
    if (this.busy) return;
    const d = this.draft;
    const body = { kind: d.kind, subject: d.subject.trim(), description: d.description.trim() };
    if (this.session.callId) body.call_id = this.session.callId;
    if (d.owner) body.owner = { department: d.owner };
    if (d.phone.trim()) body.phone = d.phone.trim();
    if (d.kind === "matter") body.matter = d.matter;
    if (!body.subject) {
      this.error = this.t("tickets.subject_required");
      this.render();
      return;
    }
    this.busy = true;
    this.error = "";
    this.render();
    try {
      const { ticket } = await this.api.request("POST", "/api/tickets", body);
      this.lastCreated = ticket.number;
      this.draft = { ...this.draft, subject: "", description: "", phone: "" };
      this.formOpen = false;
      await this.refresh();
    } catch (error) {
      this.error = this.i18n.has(`tickets.error.${error.code}`)
        ? this.t(`tickets.error.${error.code}`) : this.t("tickets.failed", { reason: error.message || error.code });
    } finally {
      this.busy = false;
      this.render();
    }
  }

  async move(ticket, state, noteInput) {
    const note = noteInput.value.trim();
    try {
      await this.api.request("POST", `/api/tickets/${encodeURIComponent(ticket.number)}/status`, note ? { state, note } : { state });
      this.toasts.show(this.t("tickets.moved", { number: ticket.number, state: this.t(`tickets.state.${state}`) }), "success");
    } catch (error) {
      this.toasts.show(this.t("tickets.failed", { reason: error.message || error.code }), "error");
    }
    await this.refresh();
  }

  render() {
    const t = (key, values) => this.t(key, values);
    const d = this.draft;
    const field = (label, control) => h("label", { class: "field field-compact" }, h("span", {}, label), control);
    const input = (name, attrs = {}) => {
      const el = h(attrs.multiline ? "textarea" : "input", {
        "data-testid": `ticket-${name}`, maxlength: attrs.max || 100, rows: attrs.multiline ? 3 : null,
        inputmode: attrs.inputmode || null, placeholder: attrs.placeholder || null, required: attrs.required || null,
        oninput: (event) => { this.draft[name] = event.target.value; },
      });
      el.value = d[name];
      return el;
    };
    const select = (name, options, onchange = null) => {
      const el = h("select", { "data-testid": `ticket-${name}`, onchange: (event) => { this.draft[name] = event.target.value; if (onchange) onchange(); } },
        ...options.map(([value, label]) => h("option", { value }, label)));
      el.value = d[name];
      return el;
    };
    const matters = [...this.catalog.matters.values()].map((m) => [m.code, this.catalog.text(m.title)]);
    if (d.kind === "matter" && !d.matter && matters.length) d.matter = matters[0][0];
    const form = this.formOpen ? h("form", { class: "ticket-form", "data-testid": "ticket-form", onsubmit: (event) => this.create(event) },
      field(t("tickets.kind"), select("kind", TICKET_KINDS.map((k) => [k, t(`tickets.kind.${k}`)]), () => this.render())),
      d.kind === "matter" ? field(t("tickets.matter"), select("matter", matters)) : null,
      field(t("tickets.subject"), input("subject", { required: true })),
      field(t("tickets.description"), input("description", { multiline: true, max: 2000 })),
      field(t("tickets.owner"), select("owner", [["", t("tickets.owner.me")],
        ...this.departments.map((dep) => [dep.code, this.catalog.text(dep.name)])])),
      field(t("tickets.phone"), input("phone", { inputmode: "numeric", max: 11, placeholder: t("tickets.phone.placeholder") })),
      this.error ? h("p", { class: "danger-text small", role: "alert", "data-testid": "ticket-error" }, this.error) : null,
      h("div", { class: "ticket-actions" },
        h("button", { type: "submit", class: "btn btn-primary btn-small", "data-testid": "ticket-submit", disabled: this.busy }, t("tickets.submit")),
        h("button", { type: "button", class: "btn btn-secondary btn-small", onclick: () => { this.formOpen = false; this.render(); } }, t("tickets.cancel")))) : null;
    const now = Date.now() / 1000;
    replace(this.root,
      h("div", { class: "case-head" },
        h("h3", { class: "desk-sub", id: "tickets-heading" }, t("tickets.title")),
        this.formOpen ? null : h("button", { type: "button", class: "btn btn-secondary btn-small", "data-testid": "ticket-new",
          onclick: () => { this.formOpen = true; this.error = ""; this.render(); this.root.querySelector('[data-testid="ticket-kind"]').focus(); } }, t("tickets.new"))),
      form,
      this.lastCreated ? h("p", { class: "small", "data-testid": "ticket-last", role: "status" }, t("tickets.created", { number: this.lastCreated })) : null,
      this.tickets.length ? h("ol", { class: "ticket-list", "data-testid": "ticket-list", "aria-labelledby": "tickets-heading" },
        ...this.tickets.map((ticket) => this.item(ticket, now)))
        : h("p", { class: "empty small", "data-testid": "ticket-empty" }, t("tickets.empty")));
  }

  item(ticket, now) {
    const t = (key, values) => this.t(key, values);
    const overdue = ticket.overdue ?? (["open", "in_progress"].includes(ticket.state) && ticket.due_at < now);
    const noteId = `ticket-note-${ticket.number}`;
    const note = h("input", { id: noteId, "data-testid": "ticket-note", maxlength: 500, autocomplete: "off", placeholder: t("tickets.note.placeholder") });
    const moves = TICKET_MOVES[ticket.state] || [];
    return h("li", { class: `case-task ticket ticket-${ticket.state}`, "data-testid": "ticket", "data-number": ticket.number, "data-state": ticket.state, "data-overdue": overdue ? "true" : "false" },
      h("div", { class: "checklist-line" },
        h("span", { class: "case-number", "data-testid": "ticket-number" }, ticket.number),
        h("span", { class: "chip" }, t(`tickets.kind.${ticket.kind}`)),
        h("span", { class: `chip task-chip ticket-chip-${ticket.state}`, "data-testid": "ticket-state" }, t(`tickets.state.${ticket.state}`))),
      h("div", { class: "checklist-line small" }, h("span", { class: "checklist-title" }, ticket.subject)),
      h("div", { class: "checklist-line small muted" },
        h("span", { class: overdue ? "danger-text" : null }, t("tickets.due", { time: timeOfDay(this.i18n, ticket.due_at) })),
        overdue ? h("span", { class: "chip chip-overdue", "data-testid": "ticket-overdue" }, "⚠ ", t("tickets.overdue")) : null),
      moves.length ? h("div", { class: "ticket-move" },
        h("label", { class: "visually-hidden", for: noteId }, t("tickets.note_for", { number: ticket.number })),
        note,
        ...moves.map((state) => h("button", { type: "button", class: "btn btn-secondary btn-small", "data-testid": `ticket-move-${state}`,
          onclick: () => this.move(ticket, state, note) }, t(`tickets.move.${ticket.state}.${state}`)))) : null);
  }
}
