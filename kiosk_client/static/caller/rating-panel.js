// Five faces after the call; one tap rates. Dispatches "rate" {score} and "skip".

import { face } from "./icons.js";

export class RatingPanel extends EventTarget {
  constructor(root) {
    super();
    this.root = root;
    this.buttons = [...root.querySelectorAll("[data-score]")];
    for (const button of this.buttons) {
      button.querySelector("[data-face]").innerHTML = face(Number(button.dataset.score));
      button.addEventListener("click", () => {
        if (this.busy) return;
        this.busy = true;
        button.setAttribute("aria-pressed", "true");
        this.dispatchEvent(new CustomEvent("rate", { detail: { score: Number(button.dataset.score) } }));
      });
    }
    const skip = root.querySelector("[data-rating-skip]");
    if (skip) skip.addEventListener("click", () => this.dispatchEvent(new CustomEvent("skip")));
    this.reset();
  }

  reset() {
    this.busy = false;
    for (const button of this.buttons) button.setAttribute("aria-pressed", "false");
  }
}
