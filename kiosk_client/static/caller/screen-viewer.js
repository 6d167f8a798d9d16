// Screens the agent shows the caller, over the form area: a guidance page, a document
// (server-rendered page images), an allow-listed web page, a QR code, or the agent's own
// screen (a second video track added by renegotiation).
//
// Each has a title bar with "隐藏/显示" (hide/show). The page reports what it really did
// with `screen_status`: "displayed" once the content has loaded (image `load`, frame
// `load`, video frames), "hidden" when the caller hides it, "error" with a short reason
// when it cannot be shown. Nothing from elsewhere is inserted as HTML: the QR code's SVG
// (made by our server) is shown as a data: image, pages and frames by URL.

import { localText } from "./form-panel.js";

const SHARE_WAIT_MS = 10000;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children);
  return node;
}

export class ScreenViewer extends EventTarget {
  /**
   * @param {HTMLElement} root  the screens layer ([data-screens])
   * @param {{i18n, state: SessionState, screenTrack: () => MediaStreamTrack|null}} options
   */
  constructor(root, { i18n, state, screenTrack }) {
    super();
    this.root = root;
    this.i18n = i18n;
    this.state = state;
    this.screenTrack = screenTrack;
    this.views = new Map(); // screen_id -> {el, body, toggle, screen, loaded, hidden}
    state.addEventListener("reset", () => this.renderAll());
    state.addEventListener("screen", ({ detail }) => this._screenEvent(detail));
    i18n.addEventListener("change", () => {
      for (const view of this.views.values()) this._renderBar(view);
    });
  }

  /** Whether a screen is open and not hidden (the form area is covered). */
  get covering() {
    return [...this.views.values()].some((v) => !v.hidden);
  }

  renderAll() {
    for (const view of this.views.values()) this._dispose(view);
    this.views.clear();
    this.root.replaceChildren();
    for (const screen of this.state.openScreens) this._add(screen, screen.status === "hidden");
    this._changed();
  }

  _screenEvent({ screen, change }) {
    if (change === "pushed") {
      // A new screen comes to the front; the others fold away (they can be shown again).
      for (const view of this.views.values()) if (!view.hidden) this._setHidden(view, true, true);
      this._add(screen, false);
    } else if (change === "closed") {
      const view = this.views.get(screen.screen_id);
      if (view) {
        this._dispose(view);
        view.el.remove();
        this.views.delete(screen.screen_id);
      }
    } else {
      const view = this.views.get(screen.screen_id);
      if (view) view.el.dataset.status = screen.status;
    }
    this._changed();
  }

  _changed() {
    this.root.hidden = this.views.size === 0;
    this.root.dataset.covering = String(this.covering);
    this.dispatchEvent(new CustomEvent("change"));
  }

  _title(screen) {
    return localText(this.i18n, screen.title) || this.i18n.t(`screen_title.${screen.kind}`);
  }

  _add(screen, hidden) {
    const id = screen.screen_id;
    const titleId = `screen-${id}-title`;
    const toggle = el("button", { type: "button", class: "button button--secondary screen-toggle", "data-testid": `screen-${id}-toggle`, "aria-controls": `screen-${id}-body` });
    const title = el("h2", { id: titleId, class: "screen-title" });
    const body = el("div", { class: `screen-body screen-body--${screen.kind}`, id: `screen-${id}-body`, "data-testid": `screen-${id}-body` });
    const error = el("p", { class: "screen-error", role: "alert", hidden: true });
    const view = {
      screen, body, toggle, title, error, hidden, loaded: false, reported: hidden ? "hidden" : null,
      el: el("section", { class: "screen-view", "data-testid": `screen-${id}`, "data-screen-id": id, "data-kind": screen.kind, "data-status": screen.status, "aria-labelledby": titleId },
        el("header", { class: "screen-bar" }, title, toggle), body, error),
    };
    toggle.addEventListener("click", () => this._setHidden(view, !view.hidden));
    this.views.set(id, view);
    this.root.prepend(view.el);
    this._renderBar(view);
    body.hidden = hidden;
    if (!hidden) this._content(view);
  }

  _renderBar(view) {
    view.title.textContent = this._title(view.screen);
    view.toggle.textContent = this.i18n.t(view.hidden ? "screen_show" : "screen_hide");
    view.toggle.setAttribute("aria-expanded", String(!view.hidden));
    view.el.classList.toggle("is-hidden", view.hidden);
    if (view.screen.kind === "guidance" && view.frame) {
      const url = this._guidanceUrl(view.screen);
      if (view.frame.getAttribute("src") !== url) {
        view.loaded = false;
        view.frame.src = url;
      }
    }
  }

  _setHidden(view, hidden, quiet = false) {
    view.hidden = hidden;
    view.body.hidden = hidden;
    this._renderBar(view);
    if (hidden) {
      if (view.video) view.video.pause();
      this._report(view, "hidden");
    } else {
      if (!view.body.childElementCount) this._content(view);
      else if (view.loaded) this._report(view, "displayed");
      if (view.video) view.video.play().catch(() => {});
    }
    if (!quiet) this._changed();
  }

  _report(view, status, error = null) {
    if (view.reported === status && status !== "error") return;
    view.reported = status;
    view.el.dataset.status = status;
    this.state.screenStatus(view.screen, status, error);
  }

  _loaded(view) {
    view.loaded = true;
    view.error.hidden = true;
    if (!view.hidden) this._report(view, "displayed");
  }

  _failed(view, reason) {
    view.error.hidden = false;
    view.error.textContent = this.i18n.t("screen_error");
    this._report(view, "error", reason);
  }

  _guidanceUrl(screen) {
    if (!screen.url) return "";
    return this.i18n.language === "en" ? `${screen.url}${screen.url.includes("?") ? "&" : "?"}lang=en` : screen.url;
  }

  _content(view) {
    const { screen, body } = view;
    switch (screen.kind) {
      case "document": {
        const pages = Array.isArray(screen.pages) ? screen.pages : [];
        if (!pages.length) return this._failed(view, "no pages");
        let left = pages.length;
        const scroller = el("div", { class: "document-pages", tabindex: "0", role: "region", "aria-label": this._title(screen) });
        pages.forEach((url, index) => {
          const image = el("img", { class: "document-page", alt: this.i18n.t("screen_page", { n: index + 1 }), "data-testid": `screen-${screen.screen_id}-page` });
          image.addEventListener("load", () => { if (--left === 0) this._loaded(view); }, { once: true });
          image.addEventListener("error", () => this._failed(view, `page ${index + 1} did not load`), { once: true });
          image.src = url;
          scroller.append(image);
        });
        body.append(scroller);
        break;
      }
      case "guidance":
      case "url": {
        const url = screen.kind === "guidance" ? this._guidanceUrl(screen) : screen.url;
        if (!url) return this._failed(view, "no url");
        const frame = el("iframe", {
          class: "screen-frame", title: this._title(screen), referrerpolicy: "no-referrer",
          sandbox: screen.kind === "url" ? "allow-scripts allow-same-origin" : "",
          "data-testid": `screen-${screen.screen_id}-frame`,
        });
        frame.addEventListener("load", () => this._loaded(view));
        frame.addEventListener("error", () => this._failed(view, "frame did not load"));
        frame.src = url;
        view.frame = frame;
        body.append(frame);
        break;
      }
      case "qr": {
        if (typeof screen.svg !== "string" || !screen.svg.trim().startsWith("<")) return this._failed(view, "no qr code");
        const image = el("img", { class: "qr-image", alt: screen.text || "QR", "data-testid": `screen-${screen.screen_id}-qr` });
        image.addEventListener("load", () => this._loaded(view), { once: true });
        image.addEventListener("error", () => this._failed(view, "qr code did not render"), { once: true });
        image.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(screen.svg)}`;
        body.append(image, el("p", { class: "qr-hint", text: this.i18n.t("screen_qr_hint") }),
          el("p", { class: "qr-text", "data-testid": `screen-${screen.screen_id}-text`, text: screen.text || "" }));
        break;
      }
      case "screen_share": {
        const video = el("video", { class: "share-video", autoplay: true, playsinline: true, "data-testid": `screen-${screen.screen_id}-video` });
        video.muted = true;
        const waiting = el("p", { class: "note share-waiting", text: this.i18n.t("screen_share_waiting") });
        view.video = video;
        video.addEventListener("loadeddata", () => {
          waiting.hidden = true;
          this._loaded(view);
        });
        body.append(video, waiting);
        this.updateScreenTrack();
        view.shareTimer = setTimeout(() => { if (!view.loaded) this._failed(view, "no screen track arrived"); }, SHARE_WAIT_MS);
        break;
      }
      default:
        this._failed(view, `unknown kind ${screen.kind}`);
    }
  }

  /** The agent's shared screen track changed (added by renegotiation): show the newest. */
  updateScreenTrack() {
    const track = this.screenTrack();
    for (const view of this.views.values()) {
      if (!view.video) continue;
      const current = view.video.srcObject && view.video.srcObject.getVideoTracks()[0];
      if (track && current !== track) {
        view.video.srcObject = new MediaStream([track]);
        view.video.play().catch(() => {});
      }
    }
  }

  _dispose(view) {
    clearTimeout(view.shareTimer);
    if (view.video) view.video.srcObject = null;
  }

  reset() {
    for (const view of this.views.values()) this._dispose(view);
    this.views.clear();
    this.root.replaceChildren();
    this._changed();
  }
}
