// The matters desk beside the call: tabs for the call's matters (checklist and catalog),
// the live form, the caller's identity, materials (with the video snapshot) and screens.
// It owns the call's session-document mirror and hands every matters message to it; the
// console (console.js) sends what the desk's components ask for.

import { CasePanel } from "./case-panel.js";
import { FormView } from "./form-view.js";
import { IdentityPanel } from "./identity-panel.js";
import { MaterialsPanel } from "./materials-panel.js";
import { MatterSession } from "./matter-session.js";
import { MattersPanel } from "./matters-panel.js";
import { ScreensPanel } from "./screens-panel.js";
import { SubmissionView } from "./submission-view.js";
import { TicketsPanel } from "./tickets-panel.js";

export const DESK_TABS = ["matters", "form", "identity", "materials", "screens"];

export class MatterDesk {
  /**
   * @param {HTMLElement} root  the data-testid="matter-desk" section
   * @param {{i18n, catalog, api, toasts, send, call}} deps  call: the CallPanel
   */
  constructor(root, { i18n, catalog, api, toasts, send, call }) {
    this.root = root;
    this.i18n = i18n;
    this.catalog = catalog;
    this.api = api;
    this.call = call;
    this.session = new MatterSession();
    const session = this.session;
    const deps = { i18n, catalog, session, api, toasts, send };
    this.submission = new SubmissionView(document.querySelector('[data-testid="submission-dialog"]'), deps);
    this.form = new FormView(root.querySelector('[data-testid="form-view"]'), {
      ...deps, onSubmission: (formId) => this.submission.open(formId),
    });
    this.matters = new MattersPanel(root.querySelector('[data-testid="matters-panel"]'), {
      ...deps,
      onOpenForm: (formId) => { this.form.show(formId); this.select("form", true); },
      onSubmission: (formId) => this.submission.open(formId),
    });
    this.case = new CasePanel(root.querySelector('[data-testid="case-panel"]'), deps);
    this.tickets = new TicketsPanel(root.querySelector('[data-testid="tickets-panel"]'), deps);
    this.identity = new IdentityPanel(root.querySelector('[data-testid="identity-panel"]'), deps);
    this.screens = new ScreensPanel(root.querySelector('[data-testid="screens-panel"]'), { ...deps, call });
    this.materials = new MaterialsPanel(root.querySelector('[data-testid="materials-panel"]'), {
      ...deps, remoteVideo: call.remoteVideo, onShow: (materialId) => this.screens.pushMaterial(materialId),
    });
    this.tabs = new Map(DESK_TABS.map((name) => [name, root.querySelector(`[data-testid="desk-tab-${name}"]`)]));
    this.panels = new Map(DESK_TABS.map((name) => [name, root.querySelector(`[data-testid="desk-panel-${name}"]`)]));
    for (const [name, tab] of this.tabs) {
      tab.addEventListener("click", () => this.select(name, true));
      tab.addEventListener("keydown", (event) => this._tabKey(event, name));
    }
    session.addEventListener("change", (event) => {
      const { type } = event.detail;
      if (type === "form_pushed") this.select("form");
      this.renderCounts();
    });
    this.selected = "matters";
    this.select("matters");
  }

  get active() {
    return !this.root.hidden;
  }

  /** A call began (or resumed after a reload): show the desk for it. */
  start(callId, skill) {
    if (this.session.callId !== callId) {
      this.session.reset(callId);
      this.identity.clear();
      this.select("matters");
    }
    this.skill = skill || null;
    this.matters.setSkill(this.skill);
    this.screens.setSkill(this.skill);
    this.root.hidden = false;
    document.body.classList.add("has-desk");
    this.tickets.start();
    if (!this.catalog.categories.length) this.catalog.loadMatters(this.api).then(() => this.render()).catch(() => {});
    this.render();
  }

  end() {
    this.submission.close();
    this.session.reset(null);
    this.root.hidden = true;
    document.body.classList.remove("has-desk");
  }

  /** A server message; true when it belonged to the desk. */
  onMessage(m) {
    if (m.type === "session_document" && this.session.callId && m.call_id && m.call_id !== this.session.callId) return true;
    if (this.tickets.onMessage(m)) return true;
    return this.session.apply(m);
  }

  /** A server error; true when a component explained it where it happened. */
  onError(m) {
    return this.form.onError(m) || this.identity.onError(m) || this.screens.onError(m);
  }

  select(name, focus = false) {
    this.selected = name;
    for (const [tabName, tab] of this.tabs) {
      const on = tabName === name;
      tab.setAttribute("aria-selected", String(on));
      tab.tabIndex = on ? 0 : -1;
      this.panels.get(tabName).hidden = !on;
    }
    this.root.dataset.tab = name;
    if (focus) this.tabs.get(name).focus();
    return true;
  }

  _tabKey(event, name) {
    const index = DESK_TABS.indexOf(name);
    let next = null;
    if (event.key === "ArrowRight") next = DESK_TABS[(index + 1) % DESK_TABS.length];
    else if (event.key === "ArrowLeft") next = DESK_TABS[(index + DESK_TABS.length - 1) % DESK_TABS.length];
    else if (event.key === "Home") next = DESK_TABS[0];
    else if (event.key === "End") next = DESK_TABS[DESK_TABS.length - 1];
    if (!next) return;
    event.preventDefault();
    this.select(next, true);
  }

  /** Alt+P: grab the caller's video (and show the materials tab with the draft). */
  snapshot() {
    if (!this.active) return false;
    this.select("materials");
    this.materials.snapshot();
    return true;
  }

  renderCounts() {
    const counts = {
      matters: this.session.forms.filter((f) => f.state !== "withdrawn").length,
      form: null,
      identity: null,
      materials: this.session.materials.length,
      screens: this.session.screens.filter((s) => s.status !== "closed").length,
    };
    for (const [name, tab] of this.tabs) {
      const badge = tab.querySelector('[data-role="count"]');
      if (!badge) continue;
      badge.textContent = counts[name] ? String(counts[name]) : "";
      badge.hidden = !counts[name];
    }
    const verified = this.tabs.get("identity").querySelector('[data-role="verified"]');
    if (verified) verified.hidden = !this.session.identity;
  }

  render() {
    this.case.render();
    this.matters.render();
    this.form.render();
    this.identity.render();
    this.materials.render();
    this.screens.render();
    this.renderCounts();
  }
}
