// The sign-in form: POST /api/login, errors in plain words, then hand the login upwards.

import { byTestId } from "./dom.js";

export class LoginForm {
  /**
   * @param {HTMLElement} screen  the login screen
   * @param {{api: import("./api.js").Api, i18n: any, onLogin: (login: object) => void}} deps
   */
  constructor(screen, { api, i18n, onLogin }) {
    this.screen = screen;
    this.api = api;
    this.i18n = i18n;
    this.onLogin = onLogin;
    this.form = byTestId("login-form", screen);
    this.username = byTestId("login-username", screen);
    this.password = byTestId("login-password", screen);
    this.submit = byTestId("login-submit", screen);
    this.error = byTestId("login-error", screen);
    this.errorKey = null;
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this._submit();
    });
    for (const input of [this.username, this.password]) {
      input.addEventListener("input", () => input.removeAttribute("aria-invalid"));
    }
  }

  show(errorKey = null) {
    this.screen.hidden = false;
    this.password.value = "";
    this.setError(errorKey);
    (this.username.value ? this.password : this.username).focus();
  }

  hide() {
    this.screen.hidden = true;
  }

  setError(key) {
    this.errorKey = key;
    this.error.hidden = !key;
    this.error.textContent = key ? this.i18n.t(key) : "";
  }

  render() {
    this.setError(this.errorKey);
    if (!this.busy) this.submit.textContent = this.i18n.t("login.submit");
  }

  async _submit() {
    if (this.busy) return;
    const username = this.username.value.trim();
    const password = this.password.value;
    if (!username || !password) {
      this.setError("login.error.missing");
      (username ? this.password : this.username).setAttribute("aria-invalid", "true");
      (username ? this.password : this.username).focus();
      return;
    }
    this.busy = true;
    this.submit.disabled = true;
    this.submit.textContent = this.i18n.t("login.busy");
    try {
      const result = await this.api.login(username, password);
      this.setError(null);
      this.onLogin({
        token: result.token,
        agent: result.agent,
        expiresAt: Date.now() + result.expires_in * 1000,
      });
    } catch (error) {
      const wrong = error.status === 401 || error.status === 422;
      this.setError(wrong ? "login.error.credentials" : "login.error.network");
      if (wrong) {
        this.password.value = "";
        this.password.setAttribute("aria-invalid", "true");
        this.password.focus();
      }
    } finally {
      this.busy = false;
      this.submit.disabled = false;
      this.submit.textContent = this.i18n.t("login.submit");
    }
  }
}
