// The waiting view: place in the queue and estimated wait, announced politely to screen
// readers (an aria-live region) whenever they change.

import { waitText } from "./format.js";

export class QueuePanel {
  constructor(root, i18n) {
    this.root = root;
    this.i18n = i18n;
    this.position = root.querySelector('[data-testid="queue-position"]');
    this.estimate = root.querySelector('[data-testid="queue-estimate"]');
    this.live = root.querySelector("[data-queue-live]");
    this.note = root.querySelector("[data-queue-note]");
    this.linkStatus = root.querySelector("[data-link-status]");
    this.last = null;
    i18n.addEventListener("change", () => this._render(false));
    this.reset();
  }

  update({ position, estimatedWait }) {
    const changed = !this.last || this.last.position !== position;
    this.last = { position, estimatedWait };
    this._render(changed);
  }

  requeued() {
    this.note.textContent = this.i18n.t("queue_requeued");
    this.note.hidden = false;
  }

  setLink(state) {
    this.linkStatus.hidden = state === "open" || state === "idle" || state === "closed";
  }

  _render(announce) {
    if (!this.last) {
      this.position.textContent = "–";
      this.estimate.textContent = this.i18n.t("queue_joining");
      return;
    }
    const estimate = waitText(this.i18n, this.last.estimatedWait);
    this.position.textContent = String(this.last.position ?? "–");
    this.estimate.textContent = estimate;
    if (announce) this.live.textContent = this.i18n.t("queue_announce", { position: this.last.position, estimate });
  }

  reset() {
    this.last = null;
    this.live.textContent = "";
    this.note.textContent = "";
    this.note.hidden = true;
    this.linkStatus.hidden = true;
    this._render(false);
  }
}
