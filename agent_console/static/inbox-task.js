// One task of the inbox: its case, the submissions' values with the catalog's labels and
// who filled each (caller, agent, ID card, reused), the materials as images (their signed
// links), and the decision: approve, ask for a correction or reject (both with a reason,
// which the caller sees). Feedback goes to a polite live region.

import { h, replace } from "./dom.js";

import { when } from "./inbox-list.js";

const FINAL = new Set(["approved", "rejected"]);

/** The task, its case number and submissions, whatever nesting the server chose. */
export function normalizeTask(data) {
  const task = { ...(data.task || data) };
  task.case_number = task.case_number || data.case_number || data.case?.number || "";
  task.submissions = data.submissions || task.submissions || [];
  return task;
}

/** A material of a submission by id: {id, kind, url, content_type} or null. */
function material(submission, id) {
  const materials = submission.materials || [];
  if (Array.isArray(materials)) {
    const found = materials.find((m) => (typeof m === "string" ? m === id : m.id === id));
    return found && typeof found === "object" ? found : null;
  }
  const entry = materials[id];
  if (!entry) return null;
  return typeof entry === "string" ? { id, url: entry } : { id, ...entry };
}

export class TaskView {
  constructor(root, { i18n, api, catalog, onDecided }) {
    this.root = root;
    this.i18n = i18n;
    this.api = api;
    this.catalog = catalog;
    this.onDecided = onDecided;
    this.task = null;
    this.forms = new Map();
    this.placeholder = root.querySelector('[data-testid="task-placeholder"]');
    this.body = root.querySelector('[data-role="task-body"]');
    this.heading = root.querySelector('[data-testid="task-heading"]');
    this.state = root.querySelector('[data-testid="task-state"]');
    this.facts = root.querySelector('[data-testid="task-facts"]');
    this.submissions = root.querySelector('[data-testid="task-submissions"]');
    this.decision = root.querySelector('[data-testid="decision-form"]');
    this.reason = root.querySelector('[data-testid="decision-reason"]');
    this.error = root.querySelector('[data-testid="decision-error"]');
    this.feedback = root.querySelector('[data-testid="decision-feedback"]');
    this.buttons = [...root.querySelectorAll("[data-decision]")];
    for (const button of this.buttons) button.addEventListener("click", () => this.decide(button.dataset.decision));
    this.decision.addEventListener("submit", (event) => event.preventDefault());
    this.reason.addEventListener("input", () => {
      this.reason.removeAttribute("aria-invalid");
      this.error.hidden = true;
    });
  }

  clear() {
    this.task = null;
    this.feedback.textContent = "";
    this.render();
  }

  async open(taskId) {
    this.loadingId = taskId;
    this.error.hidden = true;
    this.reason.value = "";
    this.reason.removeAttribute("aria-invalid");
    this.placeholder.hidden = false;
    this.body.hidden = true;
    this.placeholder.textContent = this.i18n.t("task.loading");
    try {
      const data = await this.api.request("GET", `/api/tasks/${encodeURIComponent(taskId)}`);
      if (this.loadingId !== taskId) return;
      const task = normalizeTask(data);
      await this.catalog.load().catch(() => {});
      const codes = new Set(task.submissions.map((s) => s.matter).filter(Boolean));
      await Promise.all([...codes].map(async (code) => this.forms.set(code, await this.catalog.form(code))));
      if (this.loadingId !== taskId) return;
      this.task = task;
      this.render();
      this.heading.focus({ preventScroll: false });
    } catch (error) {
      if (this.loadingId !== taskId) return;
      this.task = null;
      this.render();
      this.placeholder.textContent = this.i18n.t("task.failed", { reason: error.message || error.code });
    }
  }

  matters(task) {
    return (task.matters || []).map((m) => this.catalog.matter(m)).join("、");
  }

  render() {
    const t = (key, values) => this.i18n.t(key, values);
    const task = this.task;
    this.placeholder.hidden = Boolean(task);
    this.body.hidden = !task;
    if (!task) {
      this.placeholder.textContent = t("task.pick");
      return;
    }
    this.heading.textContent = `${task.case_number} · ${this.matters(task)}`;
    this.heading.tabIndex = -1;
    this.root.dataset.taskId = task.id;
    this.root.dataset.state = task.state;
    this.state.textContent = t(`state.${task.state}`);
    this.state.className = `chip task-chip task-${task.state}`;
    const facts = [
      ["task.case", task.case_number, "task-case-number"],
      ["task.department", this.catalog.department(task.department, task.department_name)],
      ["task.matters", this.matters(task)],
      ["task.created", when(this.i18n, task.created_at)],
      ["task.due", task.overdue ? `${when(this.i18n, task.due_at)} · ${t("list.overdue")}` : when(this.i18n, task.due_at), "task-due"],
    ];
    if (task.decided_at) facts.push(["task.decided", when(this.i18n, task.decided_at)]);
    if (task.reason) facts.push(["task.reason", task.reason, "task-reason"]);
    replace(this.facts, ...facts.map(([key, value, testid]) => h("div", { class: key === "task.due" && task.overdue ? "danger-text" : null },
      h("dt", {}, t(key)), h("dd", { "data-testid": testid || null }, value))));
    replace(this.submissions, ...(task.submissions.length
      ? task.submissions.map((submission) => this.renderSubmission(submission))
      : [h("p", { class: "empty" }, t("task.no_submissions"))]));
    const final = FINAL.has(task.state);
    this.decision.hidden = final || task.state === "correction";
  }

  renderSubmission(submission) {
    const t = (key, values) => this.i18n.t(key, values);
    const form = this.forms.get(submission.matter) || null;
    const ui = form?.ui || { order: Object.keys(submission.values || {}), fields: {} };
    const values = submission.values || {};
    const filledBy = submission.filled_by || {};
    const order = [...(ui.order || []), ...Object.keys(values).filter((name) => !(ui.order || []).includes(name))];
    const rows = order.filter((name) => name in values || ui.fields?.[name]).map((name) => {
      const hints = ui.fields?.[name] || {};
      const label = this.catalog.text(hints.label) || name;
      const by = filledBy[name];
      return h("div", { class: "value-row", "data-testid": "task-value", "data-field": name, "data-filled-by": by || null },
        h("dt", {}, label),
        h("dd", {}, this.renderValue(submission, hints, values[name]),
          by ? h("span", { class: `chip by-chip by-${by}`, "data-testid": "task-filled-by" }, t(`by.${by}`)) : null));
    });
    const headingId = `submission-${submission.id}`;
    return h("section", { class: "submission", "data-testid": "task-submission", "data-matter": submission.matter, "aria-labelledby": headingId },
      h("h3", { id: headingId }, t("task.submission", { title: this.catalog.matter(submission.matter), id: submission.id })),
      h("dl", { class: "values" }, ...rows));
  }

  renderValue(submission, hints, value) {
    const t = (key) => this.i18n.t(key);
    if (value === undefined || value === null || value === "") return h("span", { class: "muted" }, t("task.empty_value"));
    if (hints.type === "material" || hints.type === "signature") {
      const ids = Array.isArray(value) ? value : [value];
      return h("span", { class: "task-thumbs" }, ...ids.map((id) => {
        const found = material(submission, id);
        const name = hints.type === "signature" ? this.catalog.text(hints.label) : this.catalog.material(found?.kind || hints.material) || id;
        if (!found || !found.url) return h("span", { class: "muted" }, id);
        if (found.content_type === "application/pdf") {
          return h("a", { href: found.url, target: "_blank", rel: "noopener", "data-testid": "task-material", "data-material-id": id }, name, " (PDF)");
        }
        return h("a", { href: found.url, target: "_blank", rel: "noopener", class: "task-thumb", "data-testid": "task-material", "data-material-id": id,
          "aria-label": this.i18n.t("task.material.open", { name }) },
        h("img", { src: found.url, alt: name, loading: "lazy" }));
      }));
    }
    if (hints.type === "yesno" || typeof value === "boolean") return t(value ? "task.yes" : "task.no");
    if (hints.type === "choice" && Array.isArray(hints.options)) {
      const option = hints.options.find((o) => o.value === value);
      if (option) return this.i18n.language === "en" ? option.en : option.zh;
    }
    return Array.isArray(value) ? value.join("、") : String(value);
  }

  async decide(decision) {
    const t = (key, values) => this.i18n.t(key, values);
    const task = this.task;
    if (!task || this.busy) return;
    const reason = this.reason.value.trim();
    if (decision !== "approve" && !reason) {
      this.error.textContent = t("decision.reason_required");
      this.error.hidden = false;
      this.reason.setAttribute("aria-invalid", "true");
      this.reason.focus();
      return;
    }
    this.busy = true;
    for (const button of this.buttons) button.disabled = true;
    this.feedback.textContent = t("decision.busy");
    try {
      const body = decision === "approve" ? { decision } : { decision, reason };
      const result = await this.api.request("POST", `/api/tasks/${encodeURIComponent(task.id)}/decision`, body);
      const decided = normalizeTask(result || {});
      task.state = decided.state || { approve: "approved", reject: "rejected", correction: "correction" }[decision];
      task.reason = decision === "approve" ? null : reason;
      task.decided_at = decided.decided_at || Date.now() / 1000;
      this.feedback.textContent = t(`decision.done.${decision}`, { number: task.case_number, matters: this.matters(task) });
      this.feedback.dataset.kind = "success";
      this.render();
      this.onDecided(task);
    } catch (error) {
      this.feedback.dataset.kind = "error";
      if (error.code === "illegal_transition" || error.status === 409) this.feedback.textContent = t("decision.final");
      else if (error.status === 403) this.feedback.textContent = t("decision.forbidden");
      else this.feedback.textContent = t("decision.failed", { reason: error.message || error.code });
    } finally {
      this.busy = false;
      for (const button of this.buttons) button.disabled = false;
    }
  }
}


