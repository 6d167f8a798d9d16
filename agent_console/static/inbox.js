// The reviewers' inbox (/inbox): a department reviewer signs in like an agent (POST
// /api/login), sees the department's open tasks (GET /api/inbox/tasks, every 5 s), opens
// one (GET /api/tasks/{id}) and decides it (POST /api/tasks/{id}/decision). Any other role
// gets a plain refusal; the server refuses them as well.

import { I18n } from "/static/common/i18n.js";
import { Api } from "./api.js";
import { byTestId } from "./dom.js";
import { renderIconPlaceholders } from "./icons.js";
import { InboxList } from "./inbox-list.js";
import { INBOX_STRINGS } from "./inbox-strings.js";
import { TaskView } from "./inbox-task.js";
import { LoginForm } from "./login.js";

const LOGIN_KEY = "cloud-agent.inbox.login";
const LANGUAGE_KEY = "cloud-agent.inbox.language";

function loadLogin() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(LOGIN_KEY) || "null");
    if (saved && saved.token && (!saved.expiresAt || saved.expiresAt > Date.now())) return saved;
  } catch { /* corrupt entry: signed out */ }
  sessionStorage.removeItem(LOGIN_KEY);
  return null;
}

/** Matter titles, department names and form definitions (labels), loaded once. */
class CatalogTexts {
  constructor(api, i18n) {
    this.api = api;
    this.i18n = i18n;
    this.titles = new Map();
    this.departments = new Map();
    this.materials = new Map();
    this.forms = new Map();
    this.loading = null;
  }

  load() {
    if (!this.loading) {
      this.loading = this.api.request("GET", "/api/catalog").then((catalog) => {
        for (const category of catalog.categories || []) {
          for (const matter of category.matters || []) this.titles.set(matter.code, matter.title);
        }
        for (const department of catalog.departments || []) this.departments.set(department.code, department.name);
        for (const material of catalog.materials || []) this.materials.set(material.code, material.name);
      }).catch((error) => { this.loading = null; throw error; });
    }
    return this.loading;
  }

  /** GET /api/catalog/matters/{code}/form, cached; null when it cannot be had. */
  form(code) {
    if (!this.forms.has(code)) {
      this.forms.set(code, this.api.request("GET", `/api/catalog/matters/${encodeURIComponent(code)}/form`).catch(() => {
        this.forms.delete(code);
        return null;
      }));
    }
    return this.forms.get(code);
  }

  text(value) {
    if (!value) return "";
    if (typeof value === "string") return value;
    return (this.i18n.language === "en" ? value.en : value.zh) || value.zh || value.en || "";
  }

  matter(code) {
    const key = typeof code === "string" ? code : code?.code;
    return this.text(this.titles.get(key) || code?.title) || key || "";
  }

  department(code, fallback) {
    return this.text(this.departments.get(code) || fallback) || code || "";
  }

  material(code) {
    return this.text(this.materials.get(code)) || code || "";
  }
}

class Inbox {
  constructor(config) {
    const language = localStorage.getItem(LANGUAGE_KEY) === "en" ? "en" : "zh-CN";
    this.i18n = new I18n(INBOX_STRINGS, language);
    this.refreshMs = (config.refreshSeconds || 5) * 1000;
    this.login = loadLogin();
    this.api = new Api(() => this.login?.token ?? null, () => this.signOut("login.error.expired"));
    this.catalog = new CatalogTexts(this.api, this.i18n);
    this.app = byTestId("inbox-app");
    this.refused = byTestId("inbox-refused");
    this.banner = byTestId("inbox-banner");
    this.who = byTestId("inbox-who");
    this.refreshed = byTestId("inbox-refreshed");
    this.timer = null;
    this.loginForm = new LoginForm(byTestId("login-screen"), {
      api: this.api, i18n: this.i18n, onLogin: (login) => this.signedIn(login),
    });
    const deps = { i18n: this.i18n, api: this.api, catalog: this.catalog };
    this.list = new InboxList(document.querySelector(".inbox-list-panel"), {
      ...deps, onOpen: (task) => this.task.open(task.id),
    });
    this.task = new TaskView(byTestId("inbox-task"), {
      ...deps, onDecided: () => this.refresh(),
    });
    this.languageSwitch = byTestId("language-switch");
    this.languageSwitch.addEventListener("click", () => this.setLanguage(this.i18n.language === "en" ? "zh-CN" : "en"));
    byTestId("logout-button").addEventListener("click", () => this.signOut());
    byTestId("refused-logout").addEventListener("click", () => this.signOut());
    byTestId("inbox-refresh").addEventListener("click", () => this.refresh());
  }

  boot() {
    renderIconPlaceholders();
    this.i18n.set(this.i18n.language);
    if (this.login) this.enter();
    else this.showLogin();
    document.documentElement.dataset.ready = "true";
  }

  showLogin(errorKey = null) {
    this.app.hidden = true;
    this.refused.hidden = true;
    document.querySelector('.login-footer [data-role="language-slot"]').append(this.languageSwitch);
    this.loginForm.show(errorKey);
  }

  signedIn(login) {
    this.login = login;
    sessionStorage.setItem(LOGIN_KEY, JSON.stringify(login));
    this.enter();
  }

  enter() {
    this.loginForm.hide();
    const account = this.login.agent || {};
    if (account.role !== "reviewer") {
      this.refuse();
      return;
    }
    this.refused.hidden = true;
    this.app.hidden = false;
    this.app.querySelector('[data-role="language-slot"]').append(this.languageSwitch);
    this.catalog.load().then(() => this.render()).catch(() => {});
    this.render();
    this.refresh();
    clearInterval(this.timer);
    this.timer = setInterval(() => this.refresh(), this.refreshMs);
    byTestId("inbox-main").focus({ preventScroll: true });
  }

  /** Not a reviewer (or the server says so): a plain notice, nothing else. */
  refuse() {
    clearInterval(this.timer);
    this.app.hidden = true;
    this.refused.hidden = false;
    byTestId("refused-logout").focus();
  }

  signOut(errorKey = null) {
    clearInterval(this.timer);
    this.login = null;
    sessionStorage.removeItem(LOGIN_KEY);
    this.list.clear();
    this.task.clear();
    this.showLogin(errorKey);
  }

  async refresh() {
    if (!this.login) return;
    try {
      const result = await this.api.request("GET", "/api/inbox/tasks");
      this.banner.hidden = true;
      this.list.update(result.tasks || [], result.now);
      if (result.department && !this.department) this.department = result.department;
      this.refreshed.textContent = this.i18n.t("header.refreshed", {
        time: new Date().toLocaleTimeString(this.i18n.language === "en" ? "en-GB" : "zh-CN", { hour12: false }),
      });
      this.renderWho();
    } catch (error) {
      if (error.status === 403) this.refuse();
      else if (error.status !== 401) {
        this.banner.hidden = false;
        this.banner.querySelector('[data-role="banner-text"]').textContent = this.i18n.t("banner.offline");
      }
    }
  }

  renderWho() {
    const account = this.login?.agent || {};
    const code = account.department || this.department || this.list.department || "";
    const department = this.catalog.department(code);
    this.who.textContent = department
      ? this.i18n.t("header.who", { name: account.display_name || account.username || "", department })
      : account.display_name || account.username || "";
  }

  setLanguage(language) {
    localStorage.setItem(LANGUAGE_KEY, language);
    this.i18n.set(language);
    this.render();
  }

  render() {
    this.loginForm.render();
    this.renderWho();
    this.list.render();
    this.task.render();
  }
}

const config = JSON.parse(document.getElementById("inbox-config").textContent || "{}");
new Inbox(config).boot();
