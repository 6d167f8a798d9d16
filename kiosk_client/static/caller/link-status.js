// The "reconnecting…" line on the waiting screens (queue, connecting): says why the socket
// is down and that the page is on it — a network blip, a server restart (close 1012) or
// a server that asked us to come back later (close 1013). Hidden while the socket is open.

const TEXT_BY_CLOSE = { 1012: "link_restarting", 1013: "link_busy" };

/** The text key that explains a socket that is down after a close with `closeCode`. */
export function linkTextKey(closeCode) {
  return TEXT_BY_CLOSE[closeCode] || "link_reconnecting";
}

export class LinkStatus {
  constructor(root, i18n) {
    this.elements = [...root.querySelectorAll("[data-link-status]")];
    this.i18n = i18n;
    this.down = false;
    this.closeCode = null;
    i18n.addEventListener("change", () => this._render());
    this.reset();
  }

  /** {state, closeCode} from the call's "link" event. */
  update({ state, closeCode }) {
    this.down = state === "reconnecting";
    this.closeCode = closeCode;
    this._render();
  }

  reset() {
    this.down = false;
    this.closeCode = null;
    this._render();
  }

  _render() {
    for (const el of this.elements) {
      el.hidden = !this.down;
      el.dataset.reason = this.down ? linkTextKey(this.closeCode) : "";
      el.querySelector("[data-link-text]").textContent = this.i18n.t(linkTextKey(this.closeCode));
    }
  }
}
