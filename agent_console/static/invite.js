// Invite links: pick a matter, add an optional label, POST /api/invites, copy the URL.

import { byTestId, h } from "./dom.js";
import { timeOfDay } from "./format.js";

export class Invite {
  /**
   * @param {HTMLElement} root  the data-testid="invite-panel" section
   * @param {{i18n: any, catalog: any, api: import("./api.js").Api, toasts: any}} deps
   */
  constructor(root, { i18n, catalog, api, toasts }) {
    this.root = root;
    this.i18n = i18n;
    this.catalog = catalog;
    this.api = api;
    this.toasts = toasts;
    this.skills = null;
    this.result = null;
    this.form = root.querySelector('[data-role="invite-form"]');
    this.skill = byTestId("invite-skill", root);
    this.label = byTestId("invite-label", root);
    this.create = byTestId("invite-create", root);
    this.url = byTestId("invite-url", root);
    this.copy = byTestId("invite-copy", root);
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.copy.addEventListener("click", () => this.copyUrl());
    this.url.addEventListener("focus", () => this.url.select());
  }

  /** Matters offered in the menu: the agent's own skills. */
  setSkills(codes) {
    this.skills = codes && codes.length ? codes : null;
    this.render();
  }

  async submit() {
    if (!this.skill.value) return;
    this.create.disabled = true;
    try {
      this.result = await this.api.createInvite(this.skill.value, this.label.value.trim());
      this.render();
      this.url.focus();
    } catch (error) {
      if (error.status !== 401) this.toasts.error(`${this.i18n.t("invite.error")}: ${error.message}`);
    } finally {
      this.create.disabled = false;
    }
  }

  async copyUrl() {
    const text = this.url.value;
    let copied = false;
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(text);
        copied = true;
      }
    } catch {
      copied = false;
    }
    if (!copied) {
      this.url.focus();
      this.url.select();
      try {
        copied = document.execCommand("copy");
      } catch {
        copied = false;
      }
    }
    if (copied) this.toasts.success(this.i18n.t("invite.copied"));
    else this.toasts.info(this.i18n.t("invite.copy_failed"));
  }

  clear() {
    this.result = null;
    this.label.value = "";
    this.render();
  }

  render() {
    const value = this.skill.value;
    const skills = this.catalog.list(this.skills);
    this.skill.replaceChildren(...skills.map((skill) => h("option", { value: skill.code }, this.catalog.name(skill.code))));
    if (value && skills.some((s) => s.code === value)) this.skill.value = value;
    const box = this.root.querySelector('[data-role="invite-result"]');
    box.hidden = !this.result;
    if (this.result) {
      this.url.value = this.result.url;
      this.root.querySelector('[data-role="invite-expires"]').textContent =
        this.i18n.t("invite.expires", { time: timeOfDay(this.i18n, this.result.expires_at) });
    }
  }
}
