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
    this.last = null;
    i18n.addEventListener("change", () => this._render(false));
    this.reset();
  }

  update({ position, estimatedWait }) {
    if (this.note.dataset.i18n === "queue_busy") {
      this.note.hidden = true; // in the queue now
      delete this.note.dataset.i18n;
    }
    const changed = !this.last || this.last.position !== position;
    this.last = { position, estimatedWait };
    this._render(changed);
  }

  /** Back in the queue: after an agent did not answer, or after a server restart. */
  requeued(reason) {
    this.note.dataset.i18n = reason === "server_restart" ? "queue_requeued_restart" : "queue_requeued";
    this.note.textContent = this.i18n.t(this.note.dataset.i18n);
    this.note.hidden = false;
  }

  /** The server is busy: the call is requested again by itself in a moment. */
  busy() {
    this.note.dataset.i18n = "queue_busy";
    this.note.textContent = this.i18n.t("queue_busy");
    this.note.hidden = false;
    this.live.textContent = this.note.textContent;
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
    delete this.note.dataset.i18n;
    this.note.hidden = true;
    this._render(false);
  }
}
