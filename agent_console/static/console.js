// The console's composition root: signs in, keeps the agent socket, and routes each server
// message (docs/protocol.md) to the component that shows it. No component talks to the
// socket itself; they call back here, so every message sent is in one place.

import { I18n } from "/static/common/i18n.js";
import { SignalingClient } from "/static/common/signaling.js";
import { Api, clearLogin, loadLogin, saveLogin } from "./api.js";
import { CallPanel } from "./call-panel.js";
import { Callbacks } from "./callbacks.js";
import { Catalog } from "./catalog.js";
import { byTestId } from "./dom.js";
import { History } from "./history.js";
import { renderIconPlaceholders } from "./icons.js";
import { IdleView } from "./idle-view.js";
import { IncomingCall } from "./incoming-call.js";
import { Invite } from "./invite.js";
import { LoginForm } from "./login.js";
import { MatterDesk } from "./matter-desk.js";
import { QueuePanel } from "./queue-panel.js";
import { Ringer } from "./ringer.js";
import { HelpDialog, Shortcuts } from "./shortcuts.js";
import { StateBar } from "./state-bar.js";
import { STRINGS } from "./strings.js";
import { SupervisionPanel } from "./supervision-panel.js";
import { RecordingsPanel } from "./recordings-panel.js";
import { Toasts } from "./toast.js";
import { WrapUp } from "./wrap-up.js";

const LANGUAGE_KEY = "cloud-agent.console.language";
const PING_MS = 25000;
/** offer_cancelled reasons the agent caused themselves: no notice needed. */
const SILENT_CANCELS = new Set(["rejected", "agent_not_ready", "accepted"]);

class AgentConsole {
  constructor(config) {
    this.config = config;
    const language = localStorage.getItem(LANGUAGE_KEY) === "en" ? "en" : "zh-CN";
    this.i18n = new I18n(STRINGS, language);
    this.login = loadLogin();
    this.profile = null;
    this.signaling = null;
    this.agentState = "unknown";
    this.lastOffer = null;
    this.api = new Api(() => this.login?.token ?? null, () => this.signOut("login.error.expired"));
    this.catalog = new Catalog(this.i18n);
    this.toasts = new Toasts(byTestId("toast-region"), this.i18n);
    this.ringer = new Ringer();

    const app = byTestId("console-app");
    this.app = app;
    this.workspace = byTestId("workspace");
    this.logoutButton = byTestId("logout-button");
    this.banner = byTestId("connection-banner");
    const deps = { i18n: this.i18n, catalog: this.catalog, api: this.api, toasts: this.toasts };

    this.loginForm = new LoginForm(byTestId("login-screen"), { ...deps, onLogin: (login) => this.signedIn(login) });
    this.stateBar = new StateBar(app.querySelector(".topbar"), {
      i18n: this.i18n,
      onSetStatus: (status, reason) => this.setStatus(status, reason),
      onAutoAnswer: (enabled) => this.send({ type: "set_auto_answer", enabled }),
    });
    this.idle = new IdleView(byTestId("idle-view"), { i18n: this.i18n, ringer: this.ringer, onGoReady: () => this.setStatus("ready") });
    this.incoming = new IncomingCall(byTestId("incoming-call"), {
      ...deps, ringer: this.ringer,
      onAccept: (callId) => this.accept(callId),
      onReject: (callId) => this.reject(callId),
      onExpired: () => {
        this.call.releaseMedia();
        this.updateStage();
      },
    });
    this.call = new CallPanel(byTestId("call-panel"), {
      ...deps, onHangup: (callId) => this.send({ type: "hangup", call_id: callId }),
    });
    this.desk = new MatterDesk(byTestId("matter-desk"), { ...deps, send: (message) => this.send(message), call: this.call });
    this.wrapUp = new WrapUp(byTestId("wrapup-panel"), {
      ...deps, outcomeRequired: config.wrapUpOutcomeRequired !== false, onDone: (result) => this.endWrapUp(result),
    });
    this.queues = new QueuePanel(byTestId("queue-panel"), { ...deps, targetSeconds: config.serviceLevelSeconds ?? 2 });
    this.history = new History(app.querySelector(".panel-history"), deps);
    this.history.addEventListener("stats", (event) => this.idle.setStats(event.detail));
    this.callbacks = new Callbacks(byTestId("callbacks-panel"), deps);
    this.overdue = new SupervisionPanel(byTestId("overdue-panel"), deps);
    this.recordings = new RecordingsPanel(byTestId("overdue-panel"), deps);
    this.invite = new Invite(byTestId("invite-panel"), deps);
    this.help = new HelpDialog(byTestId("help-dialog"), byTestId("help-button"));

    new Shortcuts({
      KeyA: () => (this.incoming.offer ? this.incoming.accept() : false),
      KeyR: () => (this.incoming.offer ? this.incoming.reject() : false),
      KeyH: () => (this.call.active ? this.call.hangup() : false),
      KeyM: () => (this.call.active ? this.call.toggleMicrophone() : false),
      KeyV: () => (this.call.active ? this.call.toggleCamera() : false),
      KeyW: () => (this.wrapUp.open ? this.wrapUp.submit() : false),
      KeyY: () => this.setStatus("ready"),
      KeyN: () => this.setStatus("not_ready", byTestId("not-ready-reason").value),
      KeyK: () => this.help.open(),
      KeyP: () => (this.desk.active ? this.desk.snapshot() : false),
      KeyX: () => (this.desk.active ? this.desk.select("matters", true) : false),
      KeyB: () => (this.desk.active ? this.desk.select("form", true) : false),
      KeyI: () => (this.desk.active ? this.desk.select("identity", true) : false),
      KeyL: () => (this.desk.active ? this.desk.select("materials", true) : false),
      KeyS: () => (this.desk.active ? this.desk.select("screens", true) : false),
    }, () => !this.app.hidden);

    // One language switch, moved between the sign-in card and the header.
    this.languageSwitch = byTestId("language-switch");
    this.languageSwitch.addEventListener("click", () => this.setLanguage(this.i18n.language === "en" ? "zh-CN" : "en"));
    this.logoutButton.addEventListener("click", () => this.signOut());
  }

  async boot() {
    renderIconPlaceholders();
    this.i18n.set(this.i18n.language);
    this.renderAll();
    this.catalog.load(this.api).then(() => this.renderAll()).catch(() => {});
    this.catalog.loadMatters(this.api).then(() => this.renderAll()).catch(() => {});
    if (this.login) this.enter();
    else this.loginForm.show();
    document.documentElement.dataset.ready = "true";
  }

  // ------------------------------------------------------------------ sign-in

  signedIn(login) {
    this.login = login;
    saveLogin(login);
    this.ringer.unlock(); // the sign-in click is the gesture that lets the ring play
    this.enter();
  }

  enter() {
    this.loginForm.hide();
    this.app.hidden = false;
    this.app.querySelector('[data-role="language-slot"]').append(this.languageSwitch);
    this.profile = this.login.agent || null;
    this.renderIdentity();
    this.applyProfile();
    this.connect();
    this.history.load();
    this.callbacks.start();
    this.invite.load();
    this.updateStage();
    this.workspace.focus({ preventScroll: true });
  }

  /** Leave the console; `errorKey` explains why when it was not the agent's choice. */
  signOut(errorKey = null) {
    // Say so, so the server logs the agent out now rather than after the reconnect grace.
    if (this.signaling) this.signaling.send({ type: "logout" });
    if (this.signaling) this.signaling.close();
    this.signaling = null;
    clearInterval(this.pingTimer);
    this.incoming.hide();
    this.call.end();
    this.desk.end();
    this.wrapUp.hide();
    this.callbacks.stop();
    this.callbacks.clear();
    this.overdue.stop();
    this.recordings.stop();
    this.invite.clear();
    this.history.calls = [];
    this.history.render();
    this.banner.hidden = true;
    clearLogin();
    this.login = null;
    this.profile = null;
    this.agentState = "unknown";
    this.stateBar.setConnection("idle");
    this.stateBar.setState({ state: "unknown" });
    this.app.hidden = true;
    byTestId("login-screen").querySelector('[data-role="language-slot"]').append(this.languageSwitch);
    this.loginForm.show(errorKey);
  }

  // ------------------------------------------------------------------ socket

  connect() {
    if (this.signaling) this.signaling.close();
    const signaling = new SignalingClient("/ws/agent", {
      onOpen: (client) => client.send({ type: "auth", token: this.login.token }),
    });
    this.signaling = signaling;
    signaling.addEventListener("state", (event) => {
      if (this.signaling !== signaling) return;
      this.stateBar.setConnection(event.detail);
      if (event.detail !== "open") this.incoming.hide(); // an offer cannot outlive the socket
      this.updateStage();
    });
    signaling.addEventListener("closed", (event) => {
      if (this.signaling !== signaling) return;
      const { code } = event.detail;
      if (code === 4001 || code === 4401 || code === 4000) this.showBanner("conn.replaced", "conn.reconnect", () => this.connect());
      // The outage began with a server restart (1012) or "try again later" (1013): say so
      // calmly; the client retries with a jittered back-off and onOpen signs in again.
      else if (signaling.closeCode === 1012) this.showBanner("conn.restarting", null, null);
      else if (signaling.closeCode === 1013) this.showBanner("conn.busy", null, null);
    });
    signaling.addEventListener("message", (event) => {
      if (this.signaling === signaling) this.onMessage(event.detail);
    });
    this.banner.hidden = true;
    signaling.connect();
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => signaling.send({ type: "ping" }), PING_MS);
  }

  send(message) {
    if (this.signaling && this.signaling.send(message)) return true;
    this.toasts.error(this.i18n.t("conn.reconnecting"));
    return false;
  }

  onMessage(m) {
    switch (m.type) {
      case "authenticated": return this.onAuthenticated(m);
      case "agent_state": return this.onAgentState(m);
      case "offer": return this.onOffer(m);
      case "offer_cancelled": return this.onOfferCancelled(m);
      case "connected": return this.onConnected(m);
      case "peer_status": return this.call.peerStatus(m.status, m.restart);
      case "ended": return this.onEnded(m);
      case "queue_snapshot": return this.queues.update(m.queues);
      case "wrap_up_saved":
        this.toasts.success(this.i18n.t("wrapup.saved"));
        return this.history.refreshSoon(100);
      case "error": return this.onError(m);
      // forms, identity, materials and screens of the call (the matters desk)
      default:
        this.desk.onMessage(m); // hello, pong and anything newer than this console are ignored
        return undefined;
    }
  }

  onAuthenticated(m) {
    this.banner.hidden = true;
    this.profile = { ...(this.profile || {}), ...m.agent };
    if (this.login) {
      this.login.agent = { ...(this.login.agent || {}), ...m.agent };
      saveLogin(this.login);
    }
    this.renderIdentity();
    this.applyProfile();
    this.incoming.hide(); // offers do not survive a reconnect: never leave one ringing
    if (!m.call_id && this.call.active) {
      const summary = this.call.end(); // it ended while we were away
      this.desk.end();
      if (m.state === "wrap_up" && summary) this.wrapUp.show(summary, null, this.config.wrapUpSeconds);
    }
    this.setAgentState(m);
  }

  onAgentState(m) {
    this.setAgentState(m);
  }

  setAgentState(m) {
    const state = m.state;
    this.agentState = state;
    this.stateBar.setState({ state, reason: m.reason ?? null, autoAnswer: m.auto_answer ?? null });
    if (state === "ready" || state === "not_ready" || state === "offline") {
      this.incoming.hide();
      if (this.wrapUp.open && !this.wrapUp.late) {
        if (this.wrapUp.dirty && this.wrapUp.callId && !this.wrapUp.complete) {
          // The timer ended wrap-up while the agent was typing, with no outcome yet: the
          // server takes late notes that name the call, but only with an outcome.
          this.wrapUp.keepLate();
        } else {
          if (this.wrapUp.dirty && this.wrapUp.callId) {
            // The server still takes notes that name the call: keep them.
            this.endWrapUp({
              callId: this.wrapUp.callId,
              outcome: this.wrapUp.outcome.value || null,
              notes: this.wrapUp.notes.value.trim(),
            });
            this.toasts.info(this.i18n.t("wrapup.expired"));
          }
          this.wrapUp.hide();
          this.history.refreshSoon();
          this.workspace.focus({ preventScroll: true });
        }
      }
    }
    if (state === "wrap_up" && !this.wrapUp.open && !this.call.active) {
      // Signed in (or reloaded) during wrap-up: let the agent finish it.
      this.wrapUp.show(this.lastSummary || { callId: m.call_id || null, peer: {}, duration: 0 }, null, 0);
    }
    if (state === "wrap_up" && typeof m.wrap_up_ms === "number") this.wrapUp.setRemaining(m.wrap_up_ms);
    this.updateStage();
  }

  onOffer(m) {
    if (this.call.active) return; // the server never offers during a call; ignore if it did
    this.lastOffer = m;
    this.incoming.show(m);
    this.call.prepareMedia();
    this.updateStage();
  }

  onOfferCancelled(m) {
    if (this.incoming.callId !== m.call_id) return;
    this.incoming.hide();
    this.call.releaseMedia();
    if (!SILENT_CANCELS.has(m.reason)) {
      const key = `cancel.${m.reason}`;
      this.toasts.info(this.i18n.t(this.i18n.t(key) === key ? "cancel.other" : key));
    }
    this.updateStage();
  }

  onConnected(m) {
    const offer = this.lastOffer && this.lastOffer.call_id === m.call_id ? this.lastOffer : null;
    this.incoming.hide();
    if (this.wrapUp.open) {
      if (this.wrapUp.late && this.wrapUp.dirty) this.toasts.error(this.i18n.t("wrapup.late_lost"));
      this.wrapUp.hide();
    }
    const fresh = this.call.callId !== m.call_id;
    this.call.start(this.signaling, m, offer).catch((error) => {
      this.toasts.error(this.i18n.t("error.media", { message: error.message || String(error) }));
    });
    if (fresh) this.workspace.focus({ preventScroll: true });
    this.desk.start(m.call_id, (offer && offer.skill) || m.peer?.skill || this.call.call?.peer?.skill || null);
    this.updateStage();
  }

  onEnded(m) {
    if (this.call.callId === m.call_id) {
      const summary = this.call.end();
      this.desk.end();
      this.lastSummary = summary;
      const seconds = typeof m.wrap_up_ms === "number" ? m.wrap_up_ms / 1000 : this.config.wrapUpSeconds;
      this.wrapUp.show(summary, m.reason, seconds);
      if (m.reason !== "agent_hangup") {
        const key = `ended.${m.reason}`;
        if (this.i18n.t(key) !== key) this.toasts.info(this.i18n.t(key));
      }
    } else if (this.incoming.callId === m.call_id) {
      this.incoming.hide();
    }
    this.history.refreshSoon(600);
    this.updateStage();
  }

  onError(m) {
    if (m.in_reply_to === "auth" || m.code === "invalid_token") {
      this.signOut("login.error.expired");
      return;
    }
    if (m.in_reply_to === "accept") {
      this.incoming.hide(); // the offer is gone; do not leave a dead alert
      this.call.releaseMedia();
      this.updateStage();
    }
    if (this.desk.active && this.desk.onError(m)) return; // explained where it happened
    if (m.in_reply_to === "end_wrap_up") {
      if (m.code === "not_in_wrap_up") this.wrapUp.hide();
      else this.wrapUp.failed(m.code);
      this.updateStage();
    }
    const key = `error.${m.code}`;
    const known = this.i18n.t(key) !== key;
    this.toasts.error(known ? this.i18n.t(key) : this.i18n.t("error.generic", { message: m.message || m.code }));
  }

  // ------------------------------------------------------------------ actions

  setStatus(status, reason) {
    const message = status === "ready" ? { type: "set_status", status } : { type: "set_status", status, reason: reason || "break" };
    if (this.send(message)) this.stateBar.choose(status, reason);
  }

  accept(callId) {
    this.ringer.unlock();
    if (!this.send({ type: "accept", call_id: callId })) this.incoming.hide();
  }

  reject(callId) {
    this.send({ type: "reject", call_id: callId });
    this.call.releaseMedia();
    this.updateStage();
  }

  endWrapUp({ callId, outcome, notes, late = false }) {
    const message = { type: "end_wrap_up" };
    if (callId) message.call_id = callId;
    if (outcome) message.outcome = outcome;
    if (notes) message.notes = notes;
    if (!this.send(message)) {
      this.wrapUp.failed();
      return;
    }
    if (late) {
      // Wrap-up already ended, so no agent_state follows: close now; wrap_up_saved confirms.
      this.wrapUp.hide();
      this.history.refreshSoon(600);
      this.workspace.focus({ preventScroll: true });
      this.updateStage();
    }
  }

  // ------------------------------------------------------------------ rendering

  /** Show exactly one thing in the work area: the call, wrap-up, the ring, or the idle view. */
  updateStage() {
    const offer = this.incoming.offer && (!this.wrapUp.open || this.wrapUp.late);
    const phase = this.call.active ? "call" : offer ? "ringing" : this.wrapUp.open ? "wrapup" : "idle";
    document.body.dataset.phase = phase;
    this.idle.show(phase === "idle");
    const connected = this.signaling?.state === "open";
    this.idle.setState(this.agentState, this.stateBar.reason, connected);
    const busy = phase !== "idle";
    this.logoutButton.disabled = busy;
    this.logoutButton.title = busy ? this.i18n.t("header.logout.blocked") : "";
  }

  showBanner(textKey, actionKey, action) {
    this.banner.hidden = false;
    this.banner.querySelector('[data-role="banner-text"]').textContent = this.i18n.t(textKey);
    const button = this.banner.querySelector('[data-role="banner-action"]');
    button.hidden = !actionKey;
    button.textContent = actionKey ? this.i18n.t(actionKey) : "";
    button.onclick = action;
    this.bannerKeys = [textKey, actionKey];
  }

  renderIdentity() {
    const agent = this.profile || {};
    const name = agent.display_name || agent.username || agent.id || "";
    const login = agent.username || agent.id || "";
    const el = byTestId("agent-name");
    el.textContent = login && login !== name ? `${name} · ${login}` : name;
    el.title = agent.partition ? `${el.textContent} · ${this.i18n.t("header.district")} ${agent.partition}` : el.textContent;
  }

  applyProfile() {
    const skills = this.profile && this.profile.skills ? Object.keys(this.profile.skills) : null;
    this.queues.setSkills(skills);
    this.invite.setSkills(skills);
    this.overdue.setRole(this.profile?.role);
    this.recordings.setRole(this.profile?.role);
  }

  setLanguage(language) {
    localStorage.setItem(LANGUAGE_KEY, language);
    this.i18n.set(language);
    this.renderAll();
  }

  renderAll() {
    document.title = this.i18n.t("app.title");
    // The button's name is its visible text, in the language it switches to.
    this.languageSwitch.querySelector('[data-i18n="lang.switch"]').lang = this.i18n.language === "en" ? "zh-CN" : "en";
    this.languageSwitch.title = this.i18n.t("lang.switch.label");
    this.loginForm.render();
    this.stateBar.render();
    this.idle.render();
    this.incoming.render();
    this.call.render();
    this.wrapUp.render();
    this.queues.render();
    this.history.render();
    this.callbacks.render();
    this.overdue.render();
    this.invite.render();
    this.desk.render();
    this.renderIdentity();
    if (!this.banner.hidden && this.bannerKeys) {
      this.banner.querySelector('[data-role="banner-text"]').textContent = this.i18n.t(this.bannerKeys[0]);
      if (this.bannerKeys[1]) this.banner.querySelector('[data-role="banner-action"]').textContent = this.i18n.t(this.bannerKeys[1]);
    }
  }
}

const config = JSON.parse(document.getElementById("console-config").textContent || "{}");
new AgentConsole(config).boot();
