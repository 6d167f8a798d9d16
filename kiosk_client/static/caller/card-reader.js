// The kiosk's ID card reader: a local service (the server setting `card_reader_url`,
// `cloud-agent reader-sim` for demos) answering GET /card with the card on the reader.
// "刷身份证" reads it and sends `set_identity` (source "reader"); the server checks the
// number and prefills every form of the call. The card's data goes nowhere else and is
// not kept on the page beyond the call's session document.

export class CardReader {
  /**
   * @param {HTMLElement} root  the identity bar ([data-identity])
   * @param {{i18n, state: SessionState, url: string|null}} options
   */
  constructor(root, { i18n, state, url }) {
    this.root = root;
    this.i18n = i18n;
    this.state = state;
    this.url = url ? url.replace(/\/+$/, "") : null;
    this.button = root.querySelector('[data-testid="read-card"]');
    this.status = root.querySelector('[data-testid="identity-status"]');
    this.verified = root.querySelector('[data-testid="identity-verified"]');
    this.statusKey = null;
    this.button.hidden = !this.url;
    this.button.addEventListener("click", () => this.read());
    state.addEventListener("reset", () => this.render());
    state.addEventListener("identity", () => {
      this.statusKey = null;
      this.render();
    });
    state.addEventListener("problem", ({ detail }) => {
      if (detail.inReplyTo === "set_identity") this._status("error.invalid_identity");
    });
    i18n.addEventListener("change", () => this.render());
    this.render();
  }

  async read() {
    if (!this.url) return;
    this.button.disabled = true;
    this._status("identity_reading");
    try {
      const response = await fetch(`${this.url}/card`, { cache: "no-store", mode: "cors", credentials: "omit" });
      if (response.status === 404) {
        this._status("identity_no_card");
        return;
      }
      if (!response.ok) throw new Error(`reader answered ${response.status}`);
      const card = await response.json();
      const identity = { name: String(card.name || ""), id_number: String(card.id_number || "").toUpperCase() };
      if (card.address) identity.address = String(card.address).slice(0, 200);
      if (!this.state.setIdentity(identity)) this._status("identity_reader_down");
    } catch {
      this._status("identity_reader_down");
    } finally {
      this.button.disabled = false;
    }
  }

  _status(key) {
    this.statusKey = key;
    this.render();
  }

  render() {
    const identity = this.state.identity;
    this.root.hidden = !this.url && !identity;
    this.verified.hidden = !identity;
    if (identity) {
      const id = String(identity.id_number || "");
      // Shown on a shared screen: the middle of the number stays hidden.
      const masked = id.length === 18 ? `${id.slice(0, 6)}********${id.slice(14)}` : id;
      this.verified.textContent = this.i18n.t("identity_verified", { name: identity.name, id: masked });
    }
    this.button.querySelector("[data-label]").textContent = this.i18n.t("identity_read_card");
    this.status.hidden = !this.statusKey;
    this.status.textContent = this.statusKey ? this.i18n.t(this.statusKey) : "";
  }
}
