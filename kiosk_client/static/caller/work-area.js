// What the agent pushes into a call, on the caller's page: the checklist of matters, the
// forms, the screens and (kiosk) the ID card reader, beside the video.
//
// It follows the page's current CallerCall: every `matters` event goes into the
// SessionState, which the components render. While a form or a screen is open the in-call
// screen gets the class `has-work`: on the portrait kiosk the video shrinks to a strip at
// the top and the work takes the rest; on /call they sit side by side.

import { SessionState } from "./session-state.js";
import { FormPanel, localText } from "./form-panel.js";
import { Checklist } from "./checklist.js";
import { CaseStatus } from "./case-status.js";
import { ScreenViewer } from "./screen-viewer.js";
import { CardReader } from "./card-reader.js";
import { findCamera } from "./materials.js";

/** How long "坐席已拍照：…" stays on screen. */
const SNAPSHOT_NOTICE_MS = 6000;

export class WorkArea {
  /**
   * @param {HTMLElement} screen  the in-call screen section
   * @param {{i18n, kiosk: boolean, cardReaderUrl?: string|null, documentCamera?: string|null}} options
   */
  constructor(screen, { i18n, kiosk, cardReaderUrl = null, documentCamera = null }) {
    this.screen = screen;
    this.i18n = i18n;
    this.kiosk = kiosk;
    this.call = null;
    this.titles = new Map();
    /** material kind code -> {zh, en} from the catalog */
    this.materialNames = new Map();
    this.snapshotKind = null;
    this.snapshotTimer = null;
    this.snapshotNotice = screen.querySelector('[data-testid="snapshot-notice"]');
    this.catalogLoading = null;
    this.documentCameraLabel = documentCamera;
    this.documentCameraId = null;
    this.work = screen.querySelector("[data-work]");
    this.state = new SessionState((message) => (this.call ? this.call.sendMatter(message) : false));
    const titles = (matter) => this.titles.get(matter) || null;
    this.forms = new FormPanel(screen.querySelector("[data-forms]"), {
      i18n, state: this.state, kiosk, titles,
      call: () => ({ callId: this.call && this.call.callId, resumeToken: this.call && this.call.resumeToken }),
      documentCamera: () => this.documentCameraId,
    });
    this.checklist = new Checklist(screen.querySelector("[data-checklist]"), {
      i18n, state: this.state, titles,
      formElement: (formId) => screen.querySelector(`[data-form-id="${formId}"]`),
    });
    this.caseStatus = new CaseStatus({
      status: screen.querySelector("[data-case-status]"),
      notice: screen.querySelector("[data-case-notice]"),
      receipt: screen.querySelector("[data-receipt]"),
    }, { i18n, state: this.state, kiosk, titles });
    this.viewer = new ScreenViewer(screen.querySelector("[data-screens]"), {
      i18n, state: this.state,
      screenTrack: () => (this.call ? this.call.remoteVideoTracks().screen : null),
    });
    this.reader = new CardReader(screen.querySelector("[data-identity]"), { i18n, state: this.state, url: kiosk ? cardReaderUrl : null });
    for (const source of [this.forms, this.viewer]) source.addEventListener("change", () => this._layout());
    this.state.addEventListener("reset", () => this._layout());
    this.state.addEventListener("form", ({ detail }) => {
      if (detail.change === "pushed") this._loadTitles();
    });
    // The agent photographed something of the caller's (a snapshot of this camera): say
    // so plainly for a few seconds, politely announced (the live region is the wrapper).
    this.state.addEventListener("material", ({ detail }) => {
      const material = detail.material || {};
      if (material.source === "snapshot" && material.by === "agent") this._showSnapshot(material.kind);
    });
    i18n.addEventListener("change", () => this._renderSnapshot());
    // A ticket made in this call: its number stays on screen to be noted down.
    this.tickets = [];
    this.ticketNotice = document.createElement("p");
    this.ticketNotice.className = "banner banner--info ticket-notice";
    this.ticketNotice.dataset.testid = "ticket-notice";
    this.ticketNotice.hidden = true;
    const ticketLive = document.createElement("div");
    ticketLive.setAttribute("role", "status");
    ticketLive.setAttribute("aria-live", "polite");
    ticketLive.append(this.ticketNotice);
    const snapshotLive = screen.querySelector("[data-snapshot-live]");
    if (snapshotLive) snapshotLive.after(ticketLive);
    else screen.append(ticketLive);
    i18n.addEventListener("change", () => this._renderTickets());
    this._layout();
  }

  /** Follow a new call (null: none). */
  follow(call) {
    this.call = call;
    this.reset();
    if (!call) return;
    const current = call;
    current.addEventListener("matters", ({ detail }) => {
      if (this.call !== current) return;
      if (detail.message.type === "ticket_created") this._showTicket(detail.message.ticket);
      else this.state.apply(detail.message);
    });
    current.addEventListener("remotetracks", () => {
      if (this.call === current) this.viewer.updateScreenTrack();
    });
    current.addEventListener("ended", () => {
      if (this.call === current) this.reset();
    });
    current.addEventListener("connected", () => {
      if (this.call !== current) return;
      this._loadTitles();
      this._findDocumentCamera();
    });
  }

  /** Forget everything of the last call (the call ended, or the kiosk's privacy reset). */
  reset() {
    this.state.clear();
    this.viewer.reset();
    this.forms.renderAll();
    this.checklist.render();
    this.caseStatus.render();
    this.reader.statusKey = null;
    this.reader.render();
    this._hideSnapshot();
    this.tickets = [];
    this._renderTickets();
    this._layout();
  }

  _showTicket(ticket) {
    if (!ticket || !ticket.number || this.tickets.some((t) => t.number === ticket.number)) return;
    this.tickets.push(ticket);
    this._renderTickets();
  }

  _renderTickets() {
    if (!this.ticketNotice) return;
    const lines = this.tickets.map((ticket) => this.i18n.t("ticket_notice", {
      number: ticket.number, kind: this.i18n.t(`ticket_kind_${ticket.kind}`) }));
    this.ticketNotice.textContent = lines.join(" ");
    this.ticketNotice.hidden = !lines.length;
  }

  _showSnapshot(kind) {
    this.snapshotKind = kind || "other";
    this._renderSnapshot();
    clearTimeout(this.snapshotTimer);
    this.snapshotTimer = setTimeout(() => this._hideSnapshot(), SNAPSHOT_NOTICE_MS);
    // The kind's name may still be on its way with the catalog.
    if (!this.materialNames.has(this.snapshotKind)) {
      const loading = this._loadTitles();
      if (loading) loading.then(() => this._renderSnapshot());
    }
  }

  _hideSnapshot() {
    clearTimeout(this.snapshotTimer);
    this.snapshotKind = null;
    if (!this.snapshotNotice) return;
    this.snapshotNotice.hidden = true;
    this.snapshotNotice.textContent = "";
  }

  _renderSnapshot() {
    if (!this.snapshotNotice || !this.snapshotKind) return;
    const text = this.i18n.t("snapshot_notice", { name: this._materialName(this.snapshotKind) });
    if (this.snapshotNotice.textContent !== text) this.snapshotNotice.textContent = text;
    this.snapshotNotice.hidden = false;
  }

  /** A material kind's name: the catalog's, else the label of a form field asking for it. */
  _materialName(kind) {
    const named = localText(this.i18n, this.materialNames.get(kind));
    if (named) return named;
    for (const form of this.state.activeForms) {
      const fields = (form.form && form.form.ui && form.form.ui.fields) || {};
      for (const field of Object.values(fields)) {
        if (field && field.material === kind) return localText(this.i18n, field.label);
      }
    }
    return this.i18n.t("snapshot_notice_other");
  }

  _layout() {
    const busy = this.state.activeForms.length > 0 || this.state.openScreens.length > 0;
    this.work.hidden = !busy;
    this.screen.classList.toggle("has-work", busy);
    this.screen.classList.toggle("has-screen", this.viewer.covering);
    this.screen.dataset.work = busy ? (this.viewer.covering ? "screen" : "form") : "none";
  }

  /** Matter titles in both languages from the catalog (the form carries only its own). */
  _loadTitles() {
    if (this.catalogLoading) return this.catalogLoading;
    this.catalogLoading = fetch("/api/catalog", { cache: "no-store" })
      .then((response) => (response.ok ? response.json() : Promise.reject(new Error(String(response.status)))))
      .then((catalog) => {
        for (const category of catalog.categories || []) {
          for (const matter of category.matters || []) this.titles.set(matter.code, matter.title);
        }
        for (const kind of catalog.materials || []) this.materialNames.set(kind.code, kind.name);
        this.forms.retitle();
        this.checklist.render();
        this.caseStatus.render();
      })
      .catch(() => { this.catalogLoading = null; });
    return this.catalogLoading;
  }

  async _findDocumentCamera() {
    if (!this.kiosk || !this.documentCameraLabel || this.documentCameraId) return;
    try {
      this.documentCameraId = await findCamera(this.documentCameraLabel);
      if (this.documentCameraId) this.forms.renderAll();
    } catch { /* no camera list: no photo button */ }
  }
}
