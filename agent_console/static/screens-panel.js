// Screens the agent shows the caller: a matter's guidance page, a document (an image or PDF
// uploaded as a material of kind "other", rendered to pages by the server), an allow-listed
// web address, a QR code, or the agent's own screen. Each pushed screen shows what the
// caller's page did with it (`screen_status`: 已推送 / 已显示 / 客户已隐藏 / 显示失败 + why)
// and can be closed.
//
// Screen share: getDisplayMedia's video track is added to the call's peer connection (the
// agent renegotiates: MediaSession makes the offer on negotiationneeded), then
// `push_screen {kind: "screen_share"}`. Stopping — the button, or the browser's own "stop
// sharing" — removes the track (a second renegotiation) and sends `close_screen`.

import { h, replace } from "./dom.js";
import { icon } from "./icons.js";

export class ScreensPanel {
  /**
   * @param {HTMLElement} root  the data-testid="screens-panel" element
   * @param {{i18n, catalog, session, api, toasts, send, call}} deps  call: the CallPanel
   */
  constructor(root, { i18n, catalog, session, api, toasts, send, call }) {
    this.root = root;
    this.i18n = i18n;
    this.catalog = catalog;
    this.session = session;
    this.api = api;
    this.toasts = toasts;
    this.send = send;
    this.call = call;
    this.skill = null;
    this.share = null; // {stream, track, screenId|null, stopping}
    const $ = (id) => root.querySelector(`[data-testid="${id}"]`);
    this.guidanceMatter = $("screen-guidance-matter");
    this.documentFile = $("screen-document-file");
    this.documentStatus = $("screen-document-status");
    this.documentName = $("screen-document-name");
    // The native file input shows the browser's own words ("Choose File"), in the
    // browser's language: it is visually hidden and a button in the page's language
    // opens it; the chosen file's name is shown beside it.
    this.documentChoose = $("screen-document-choose");
    this.documentChoose.addEventListener("click", () => this.documentFile.click());
    this.documentFile.addEventListener("change", () => {
      this.documentStatus.textContent = "";
      this.renderDocumentName();
    });
    this.renderDocumentName();
    this.url = $("screen-url");
    this.urlError = $("screen-url-error");
    this.qrText = $("screen-qr-text");
    this.qrTitle = $("screen-qr-title");
    this.qrError = $("screen-qr-error");
    this.shareStart = $("screen-share-start");
    this.shareStop = $("screen-share-stop");
    this.list = $("screens-list");
    this.empty = root.querySelector('[data-role="screens-empty"]');
    $("push-guidance").addEventListener("click", () => this.pushGuidance());
    $("push-document").addEventListener("click", () => this.pushDocument());
    root.querySelector('[data-role="url-form"]').addEventListener("submit", (event) => { event.preventDefault(); this.pushUrl(); });
    root.querySelector('[data-role="qr-form"]').addEventListener("submit", (event) => { event.preventDefault(); this.pushQr(); });
    this.url.addEventListener("input", () => this._setError(this.urlError, this.url, null));
    this.qrText.addEventListener("input", () => this._setError(this.qrError, this.qrText, null));
    this.shareStart.addEventListener("click", () => this.startShare());
    this.shareStop.addEventListener("click", () => this.stopShare());
    session.addEventListener("change", (event) => this._onChange(event.detail));
    call.addEventListener("media-restarted", () => this.stopShare());
  }

  setSkill(skill) {
    this.skill = skill;
    this.render();
  }

  // ------------------------------------------------------------------ pushing

  _push(screen) {
    return this.send({ type: "push_screen", call_id: this.session.callId, screen });
  }

  pushGuidance() {
    if (this.guidanceMatter.value) this._push({ kind: "guidance", matter: this.guidanceMatter.value });
  }

  /** Upload the chosen image or PDF as material kind "other", then show it. */
  async pushDocument() {
    const file = this.documentFile.files && this.documentFile.files[0];
    if (!file) {
      this.documentStatus.textContent = this.i18n.t("screens.document.choose");
      this.documentChoose.focus();
      return;
    }
    this.documentStatus.textContent = this.i18n.t("screens.document.uploading");
    try {
      const { material } = await this.api.uploadMaterial(this.session.callId, "other", "upload", file);
      this._push({ kind: "document", material_id: material.id });
      this.documentStatus.textContent = "";
      this.documentFile.value = "";
      this.renderDocumentName();
    } catch (error) {
      const key = `upload.error.${error.code}`;
      this.documentStatus.textContent = this.i18n.t("snapshot.upload_failed", { message: this.i18n.has(key) ? this.i18n.t(key) : error.message || error.code });
    }
  }

  /** A material already in the call (materials list → "展示给客户"). */
  pushMaterial(materialId) {
    return this._push({ kind: "document", material_id: materialId });
  }

  pushUrl() {
    const url = this.url.value.trim();
    if (!/^https?:\/\/\S+$/i.test(url)) {
      this._setError(this.urlError, this.url, "screens.url.invalid");
      return;
    }
    this._setError(this.urlError, this.url, null);
    this._push({ kind: "url", url });
  }

  pushQr() {
    const text = this.qrText.value.trim();
    if (!text) {
      this._setError(this.qrError, this.qrText, "screens.qr.empty");
      return;
    }
    const screen = { kind: "qr", text };
    const title = this.qrTitle.value.trim();
    if (title) screen.title = title;
    this._push(screen);
  }

  _setError(el, input, key) {
    el.hidden = !key;
    el.textContent = key ? this.i18n.t(key) : "";
    if (key) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }

  /** Errors in reply to push_screen: the refused address is explained under its field. */
  onError(m) {
    if (m.in_reply_to !== "push_screen" && m.in_reply_to !== "close_screen") return false;
    if (m.code === "url_not_allowed") {
      this._setError(this.urlError, this.url, "screens.url.not_allowed");
      this.url.focus();
      return true;
    }
    if (this.share && !this.share.screenId && m.in_reply_to === "push_screen") this._endShare(false);
    return false;
  }

  // ------------------------------------------------------------------ screen share

  async startShare() {
    if (this.share) return;
    if (!this.call.session || !navigator.mediaDevices?.getDisplayMedia) {
      this.toasts.error(this.i18n.t("screens.share.unavailable"));
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    } catch (error) {
      if (error.name !== "NotAllowedError" && error.name !== "AbortError") {
        this.toasts.error(this.i18n.t("screens.share.failed", { message: error.message || error.name }));
      }
      return;
    }
    this.startShareWith(stream);
  }

  /** Share `stream`'s video track (getDisplayMedia, or any captured stream). */
  startShareWith(stream) {
    const track = stream.getVideoTracks()[0];
    if (!track || !this.call.addScreenTrack(track, stream)) {
      for (const t of stream.getTracks()) t.stop();
      this.toasts.error(this.i18n.t("screens.share.unavailable"));
      return;
    }
    this.share = { stream, track, screenId: null, stopping: false };
    track.addEventListener("ended", () => this.stopShare()); // the browser's "stop sharing"
    this._push({ kind: "screen_share" });
    this.renderShare();
  }

  stopShare() {
    if (!this.share || this.share.stopping) return;
    this.share.stopping = true;
    if (this.share.screenId) this.send({ type: "close_screen", call_id: this.session.callId, screen_id: this.share.screenId });
    this._endShare(true);
  }

  _endShare(removeTrack) {
    if (!this.share) return;
    const { stream } = this.share;
    if (removeTrack) this.call.removeScreenTrack();
    for (const track of stream.getTracks()) track.stop();
    this.share = null;
    this.renderShare();
  }

  renderShare() {
    this.shareStart.hidden = Boolean(this.share);
    this.shareStop.hidden = !this.share;
    this.root.dataset.sharing = this.share ? "true" : "false";
  }

  // ------------------------------------------------------------------ state

  _onChange(detail) {
    if (detail.type === "reset") {
      if (this.share) this._endShare(true);
      this.render();
      return;
    }
    if (detail.type === "screen_pushed") {
      const screen = this.session.screen(detail.screenId);
      if (screen && screen.kind === "screen_share" && this.share && !this.share.screenId) {
        this.share.screenId = screen.screen_id;
        if (this.share.stopping) this.send({ type: "close_screen", call_id: this.session.callId, screen_id: screen.screen_id });
      }
    }
    if (detail.type === "screen_closed" && this.share && this.share.screenId === detail.screenId) this._endShare(true);
    if (["screen_pushed", "screen_status", "screen_closed", "document", "form_pushed", "form_withdrawn"].includes(detail.type)) this.render();
  }

  render() {
    this.renderGuidanceOptions();
    this.renderList();
    this.renderShare();
    this.renderDocumentName();
  }

  renderDocumentName() {
    const file = this.documentFile.files && this.documentFile.files[0];
    this.documentName.textContent = file ? file.name : this.i18n.t("screens.document.none");
    this.documentName.title = file ? file.name : "";
    this.documentName.dataset.chosen = String(Boolean(file));
  }

  /** The call's matters first, then the other matters of the call's category. */
  renderGuidanceOptions() {
    const previous = this.guidanceMatter.value;
    const inCall = [];
    for (const form of this.session.forms) if (!inCall.includes(form.matter)) inCall.push(form.matter);
    const category = this.catalog.categories.find((c) => c.code === this.skill);
    const rest = category ? category.matters.map((m) => m.code).filter((code) => !inCall.includes(code)) : [];
    const option = (code) => h("option", { value: code }, this.catalog.matterTitle(code));
    replace(this.guidanceMatter,
      inCall.length ? h("optgroup", { label: this.i18n.t("screens.guidance.in_call") }, ...inCall.map(option)) : null,
      rest.length ? h("optgroup", { label: this.i18n.t("screens.guidance.category") }, ...rest.map(option)) : null);
    if (previous && [...this.guidanceMatter.options].some((o) => o.value === previous)) this.guidanceMatter.value = previous;
  }

  renderList() {
    const t = (key, values) => this.i18n.t(key, values);
    const screens = this.session.screens;
    this.empty.hidden = screens.length > 0;
    replace(this.list, ...[...screens].reverse().map((screen) => {
      const status = screen.status || "pushed";
      const title = this.catalog.text(screen.title) || t(`screens.kind.${screen.kind}`);
      const statusText = status === "error"
        ? t("screens.status.error_reason", { reason: screen.error || t("screens.status.no_reason") })
        : t(`screens.status.${status}`);
      return h("li", { class: `screen-item status-${status}`, "data-testid": "screen-item", "data-screen-id": screen.screen_id, "data-kind": screen.kind, "data-status": status },
        h("span", { class: "screen-kind", "aria-hidden": "true" }, icon(KIND_ICONS[screen.kind] || "screen", { size: 18 })),
        h("div", { class: "screen-text" },
          h("span", { class: "screen-title" }, title),
          h("span", { class: "small muted" }, t(`screens.kind.${screen.kind}`), screen.kind === "url" || screen.kind === "qr" ? ` · ${screen.url || screen.text || ""}` : "")),
        h("span", { class: `chip screen-status status-${status}`, "data-testid": "screen-status" }, statusText),
        status !== "closed" ? h("button", { type: "button", class: "btn btn-small btn-secondary", "data-testid": "screen-close", "aria-label": t("screens.close.label", { title }),
          onclick: () => this.close(screen) }, t("screens.close")) : null);
    }));
  }

  close(screen) {
    if (screen.kind === "screen_share" && this.share && this.share.screenId === screen.screen_id) {
      this.stopShare();
      return;
    }
    this.send({ type: "close_screen", call_id: this.session.callId, screen_id: screen.screen_id });
  }
}

const KIND_ICONS = { guidance: "info", document: "file", url: "link", qr: "qr", screen_share: "screen" };
