// The checklist of the call's matters: each pushed form with its state (填写中 filling,
// 已提交 submitted), on both caller pages. Tapping an item brings its form into view.

import { localText } from "./form-panel.js";

export class Checklist {
  /** @param {HTMLElement} root  the list container ([data-checklist]) */
  constructor(root, { i18n, state, titles, formElement }) {
    this.root = root;
    this.i18n = i18n;
    this.state = state;
    this.titles = titles;
    this.formElement = formElement;
    this.list = root.querySelector("[data-checklist-items]");
    this.empty = root.querySelector("[data-checklist-empty]");
    for (const type of ["reset", "form"]) state.addEventListener(type, () => this.render());
    i18n.addEventListener("change", () => this.render());
    this.render();
  }

  render() {
    const forms = this.state.activeForms;
    this.empty.hidden = forms.length > 0;
    this.list.replaceChildren(...forms.map((form) => {
      const item = document.createElement("li");
      item.className = "checklist-item";
      item.dataset.testid = "checklist-item";
      item.dataset.formId = form.form_id;
      item.dataset.state = form.state;
      const button = document.createElement("button");
      button.type = "button";
      button.className = "checklist-link";
      const title = document.createElement("span");
      title.className = "checklist-title";
      title.textContent = localText(this.i18n, this.titles(form.matter)) || form.form?.schema?.title || form.matter;
      const chip = document.createElement("span");
      chip.className = "state-chip";
      chip.dataset.state = form.state;
      chip.textContent = this.i18n.t(`form_state.${form.state}`);
      button.append(title, chip);
      button.addEventListener("click", () => {
        const target = this.formElement(form.form_id);
        if (!target) return;
        target.scrollIntoView({ block: "start" });
        target.querySelector("h2")?.setAttribute("tabindex", "-1");
        target.querySelector("h2")?.focus({ preventScroll: true });
      });
      item.append(button);
      return item;
    }));
  }
}
