// The call's materials, and "拍照取证": a frame of the caller's video grabbed to a canvas
// (JPEG), labelled with a material kind (the kinds the call's matters need first), uploaded
// as `POST /api/calls/{call_id}/materials?kind=…&source=snapshot` with the blob as the body.
// Both parties then get `material_added`, and the server attaches it to every open form
// that needs that kind.

import { h, replace } from "./dom.js";
import { materialThumb, timeOf } from "./form-view.js";
import { icon } from "./icons.js";

const JPEG_QUALITY = 0.9;

export class MaterialsPanel {
  /**
   * @param {HTMLElement} root  the data-testid="materials-panel" element
   * @param {{i18n, catalog, session, api, toasts, remoteVideo: HTMLVideoElement,
   *          onShow: (materialId: string) => void}} deps
   */
  constructor(root, { i18n, catalog, session, api, toasts, remoteVideo, onShow }) {
    this.root = root;
    this.i18n = i18n;
    this.catalog = catalog;
    this.session = session;
    this.api = api;
    this.toasts = toasts;
    this.remoteVideo = remoteVideo;
    this.onShow = onShow;
    this.snapshotButton = root.querySelector('[data-testid="snapshot-button"]');
    this.draft = root.querySelector('[data-testid="snapshot-draft"]');
    this.preview = root.querySelector('[data-role="snapshot-preview"]');
    this.kind = root.querySelector('[data-testid="snapshot-kind"]');
    this.uploadButton = root.querySelector('[data-testid="snapshot-upload"]');
    this.cancelButton = root.querySelector('[data-testid="snapshot-cancel"]');
    this.status = root.querySelector('[data-testid="snapshot-status"]');
    this.list = root.querySelector('[data-testid="materials-list"]');
    this.empty = root.querySelector('[data-role="materials-empty"]');
    this.blob = null;
    this.snapshotButton.addEventListener("click", () => this.snapshot());
    this.uploadButton.addEventListener("click", () => this.upload());
    this.cancelButton.addEventListener("click", () => this.discard());
    session.addEventListener("change", (event) => {
      if (["material_added", "document", "reset", "form_pushed"].includes(event.detail.type)) this.render();
      if (event.detail.type === "reset") this.discard();
    });
  }

  /** Grab the caller's current video frame; then the agent picks its kind and uploads. */
  async snapshot() {
    const video = this.remoteVideo;
    if (!video.videoWidth || !video.videoHeight) {
      this.toasts.error(this.i18n.t("snapshot.no_video"));
      return false;
    }
    const canvas = this.preview;
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    this.blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", JPEG_QUALITY));
    if (!this.blob) {
      this.toasts.error(this.i18n.t("snapshot.failed"));
      return false;
    }
    this.renderKinds();
    this.draft.hidden = false;
    this.status.textContent = this.i18n.t("snapshot.taken", { w: canvas.width, h: canvas.height });
    this.kind.focus();
    return true;
  }

  discard() {
    this.blob = null;
    this.draft.hidden = true;
    this.uploadButton.disabled = false;
  }

  async upload() {
    if (!this.blob || !this.session.callId) return;
    const kind = this.kind.value;
    this.uploadButton.disabled = true;
    this.status.textContent = this.i18n.t("snapshot.uploading");
    try {
      await this.api.uploadMaterial(this.session.callId, kind, "snapshot", this.blob);
      this.toasts.success(this.i18n.t("snapshot.uploaded", { kind: this.catalog.materialName(kind) }));
      this.discard();
    } catch (error) {
      this.status.textContent = this.i18n.t("snapshot.upload_failed", { message: this._reason(error) });
      this.uploadButton.disabled = false;
    }
  }

  _reason(error) {
    const key = `upload.error.${error.code}`;
    return this.i18n.has(key) ? this.i18n.t(key) : error.message || error.code;
  }

  /** The kinds the call's matters need first, then every other kind, then "other". */
  renderKinds() {
    const t = (key) => this.i18n.t(key);
    const previous = this.kind.value;
    const needed = [];
    for (const form of this.session.forms) {
      if (form.state === "withdrawn") continue;
      const matter = this.catalog.matters.get(form.matter);
      for (const code of matter ? matter.materials : []) if (!needed.includes(code)) needed.push(code);
      for (const hints of Object.values(form.form.ui?.fields || {})) {
        if (hints.type === "material" && hints.material && !needed.includes(hints.material)) needed.push(hints.material);
      }
    }
    const others = [...this.catalog.materials.keys()].filter((code) => !needed.includes(code));
    const option = (code) => h("option", { value: code }, this.catalog.materialName(code));
    replace(this.kind,
      needed.length ? h("optgroup", { label: t("snapshot.kinds.needed") }, ...needed.map(option)) : null,
      h("optgroup", { label: t("snapshot.kinds.other") }, ...others.map(option), option("other")));
    if (previous && [...this.kind.options].some((o) => o.value === previous)) this.kind.value = previous;
  }

  render() {
    const t = (key, values) => this.i18n.t(key, values);
    const materials = this.session.materials;
    this.empty.hidden = materials.length > 0;
    replace(this.list, ...[...materials].reverse().map((m) => h("li", { class: "material-item", "data-testid": "material-item", "data-material-id": m.id, "data-kind": m.kind, "data-source": m.source },
      materialThumb(this, m),
      h("div", { class: "material-text" },
        h("span", { class: "material-kind" }, this.catalog.materialName(m.kind)),
        h("span", { class: "small muted" }, `${t(`material.source.${m.source}`)} · ${t(`material.by.${m.by}`)} · ${timeOf(m.at)}`)),
      m.kind !== "signature" ? h("button", { type: "button", class: "btn btn-secondary btn-small", "data-testid": "material-show", "aria-label": t("materials.show.label", { name: this.catalog.materialName(m.kind) }), onclick: () => this.onShow(m.id) },
        icon("screen", { size: 16 }), t("materials.show")) : null)));
    if (!this.draft.hidden) this.renderKinds();
  }
}
