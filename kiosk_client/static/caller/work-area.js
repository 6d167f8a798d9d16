// What the agent pushes into a call, on the caller's page: the checklist of matters, the
// forms, the screens and (kiosk) the ID card reader, beside the video.
//
// It follows the page's current CallerCall: every `matters` event goes into the
// SessionState, which the components render. While a form or a screen is open the in-call
// screen gets the class `has-work`: on the portrait kiosk the video shrinks to a strip at
// the top and the work takes the rest; on /call they sit side by side.

import { SessionState } from "./session-state.js";
import { FormPanel } from "./form-panel.js";
import { Checklist } from "./checklist.js";
import { ScreenViewer } from "./screen-viewer.js";
import { CardReader } from "./card-reader.js";
import { findCamera } from "./materials.js";

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
    this._layout();
  }

  /** Follow a new call (null: none). */
  follow(call) {
    this.call = call;
    this.reset();
    if (!call) return;
    const current = call;
    current.addEventListener("matters", ({ detail }) => {
      if (this.call === current) this.state.apply(detail.message);
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
    this.reader.statusKey = null;
    this.reader.render();
    this._layout();
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
    if (this.catalogLoading) return;
    this.catalogLoading = fetch("/api/catalog", { cache: "no-store" })
      .then((response) => (response.ok ? response.json() : Promise.reject(new Error(String(response.status)))))
      .then((catalog) => {
        for (const category of catalog.categories || []) {
          for (const matter of category.matters || []) this.titles.set(matter.code, matter.title);
        }
        this.forms.retitle();
        this.checklist.render();
      })
      .catch(() => { this.catalogLoading = null; });
  }

  async _findDocumentCamera() {
    if (!this.kiosk || !this.documentCameraLabel || this.documentCameraId) return;
    try {
      this.documentCameraId = await findCamera(this.documentCameraLabel);
      if (this.documentCameraId) this.forms.renderAll();
    } catch { /* no camera list: no photo button */ }
  }
}
