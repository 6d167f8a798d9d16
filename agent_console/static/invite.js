// Invite links: pick a matter, an optional label, how many calls the link may carry and
// how long it lives; POST /api/invites returns a short opaque link, shown once (the server
// keeps only a hash). Below, the agent's own invites (GET /api/invites) with uses, expiry
// and state; an active one can be revoked (DELETE /api/invites/{id}).

import { byTestId, h } from "./dom.js";
import { timeOfDay } from "./format.js";

/** Choices offered for max_uses (1 = single use) and ttl_seconds. */
export const INVITE_USES = [1, 3, 10];
export const INVITE_LIFETIMES = [3600, 24 * 3600, 7 * 24 * 3600];
const DEFAULT_LIFETIME = 24 * 3600;

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
    this.invites = [];
    this.form = root.querySelector('[data-role="invite-form"]');
    this.skill = byTestId("invite-skill", root);
    this.label = byTestId("invite-label", root);
    this.uses = byTestId("invite-uses", root);
    this.lifetime = byTestId("invite-lifetime", root);
    this.create = byTestId("invite-create", root);
    this.url = byTestId("invite-url", root);
    this.copy = byTestId("invite-copy", root);
    this.list = byTestId("invite-list", root);
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

  async load() {
    try {
      const data = await this.api.invites();
      this.invites = data.invites || [];
      this.failed = false;
    } catch (error) {
      if (error.status === 401) return;
      this.failed = true;
    }
    this.renderList();
  }

  async submit() {
    if (!this.skill.value) return;
    this.create.disabled = true;
    try {
      this.result = await this.api.createInvite({
        skill: this.skill.value,
        label: this.label.value.trim(),
        maxUses: Number(this.uses.value) || 1,
        ttlSeconds: Number(this.lifetime.value) || DEFAULT_LIFETIME,
      });
      this.render();
      this.url.focus();
      this.load();
    } catch (error) {
      if (error.status !== 401) this.toasts.error(`${this.i18n.t("invite.error")}: ${error.message}`);
    } finally {
      this.create.disabled = false;
    }
  }

  async revoke(invite, button) {
    button.disabled = true;
    try {
      await this.api.revokeInvite(invite.id);
      if (this.result && this.result.id === invite.id) this.result = null;
      this.toasts.success(this.i18n.t("invite.revoked"));
      this.render();
      await this.load();
      this.list.focus({ preventScroll: true });
    } catch (error) {
      button.disabled = false;
      if (error.status !== 401) this.toasts.error(this.i18n.t("error.generic", { message: error.message }));
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
    this.invites = [];
    this.label.value = "";
    this.render();
  }

  render() {
    const t = (key, values) => this.i18n.t(key, values);
    const value = this.skill.value;
    const skills = this.catalog.list(this.skills);
    this.skill.replaceChildren(...skills.map((skill) => h("option", { value: skill.code }, this.catalog.name(skill.code))));
    if (value && skills.some((s) => s.code === value)) this.skill.value = value;
    const uses = this.uses.value || "1";
    this.uses.replaceChildren(...INVITE_USES.map((n) =>
      h("option", { value: String(n) }, n === 1 ? t("invite.uses.single") : t("invite.uses.many", { n }))));
    this.uses.value = uses;
    const lifetime = this.lifetime.value || String(DEFAULT_LIFETIME);
    this.lifetime.replaceChildren(...INVITE_LIFETIMES.map((seconds) =>
      h("option", { value: String(seconds) }, this._lifetimeText(seconds))));
    this.lifetime.value = lifetime;
    const box = this.root.querySelector('[data-role="invite-result"]');
    box.hidden = !this.result;
    if (this.result) {
      this.url.value = this.result.url;
      const uses = this.result.max_uses === 1 ? t("invite.uses.single") : t("invite.uses.many", { n: this.result.max_uses });
      this.root.querySelector('[data-role="invite-expires"]').textContent =
        `${t("invite.expires", { time: timeOfDay(this.i18n, this.result.expires_at) })} · ${uses} · ${t("invite.once")}`;
    } else {
      this.url.value = "";
    }
    this.renderList();
  }

  renderList() {
    const t = (key, values) => this.i18n.t(key, values);
    const empty = this.root.querySelector('[data-role="invite-list-empty"]');
    empty.hidden = this.invites.length > 0 && !this.failed;
    empty.textContent = t(this.failed ? "invite.list.error" : "invite.list.empty");
    this.list.replaceChildren(...this.invites.map((invite) => {
      const state = this._state(invite);
      return h("li", { class: `invite-item invite-${state}`, "data-testid": "invite-item", "data-invite-id": invite.id, "data-state": state },
        h("div", { class: "invite-line" },
          h("span", { class: "invite-matter" }, this.catalog.name(invite.skill)),
          h("span", { class: `chip chip-invite-${state}`, "data-testid": "invite-state" }, t(`invite.state.${state}`)),
          state === "active" ? h("button", { type: "button", class: "btn btn-ghost btn-small invite-revoke", "data-testid": "invite-revoke",
            "aria-label": t("invite.revoke.label", { matter: this.catalog.name(invite.skill), label: invite.label || "" }).trim(),
            onclick: (event) => this.revoke(invite, event.currentTarget) }, t("invite.revoke")) : null),
        invite.label ? h("div", { class: "small invite-label" }, invite.label) : null,
        h("div", { class: "invite-line small muted" },
          h("span", { "data-testid": "invite-uses-count" }, t("invite.used", { uses: invite.uses, max: invite.max_uses })),
          h("time", { class: "invite-expiry", datetime: new Date(invite.expires_at * 1000).toISOString() },
            t("invite.expires", { time: timeOfDay(this.i18n, invite.expires_at) }))));
    }));
  }

  /** active | used | expired | revoked, from the server's fields. */
  _state(invite) {
    if (invite.revoked) return "revoked";
    if (invite.active) return "active";
    if (invite.uses >= invite.max_uses) return "used";
    return "expired";
  }

  _lifetimeText(seconds) {
    if (seconds > 86400 && seconds % 86400 === 0) return this.i18n.t("invite.lifetime.days", { n: seconds / 86400 });
    return this.i18n.t("invite.lifetime.hours", { n: seconds / 3600 });
  }
}
