// Supervisors' "通话录像 / Recordings" panel (GET /api/recordings): the newest recorded
// calls of the district, each with its call record (matter, caller, agent, length), and a
// player for one at a time. The file is served with HTTP ranges through a short-lived
// link the listing mints (docs/protocol.md "Recording"). Agents never see the panel.

import { h } from "./dom.js";

const STAFF = new Set(["supervisor", "admin"]);
const TEXT = {
  title: { "zh-CN": "通话录像", en: "Recordings" },
  refresh: { "zh-CN": "刷新", en: "Refresh" },
  refresh_label: { "zh-CN": "刷新录像列表", en: "Refresh the recordings" },
  empty: { "zh-CN": "暂无录像", en: "No recordings yet" },
  play: { "zh-CN": "播放", en: "Play" },
  close: { "zh-CN": "关闭", en: "Close" },
  close_label: { "zh-CN": "关闭播放器", en: "Close the player" },
  player: { "zh-CN": "录像回放", en: "Recording playback" },
  failed: { "zh-CN": "录像中断", en: "cut short" },
  missing: { "zh-CN": "文件不可用", en: "file unavailable" },
  seconds: { "zh-CN": "{n} 秒", en: "{n} s" },
};

export class RecordingsPanel {
  /** @param {HTMLElement} after the element the panel goes after; @param deps {i18n, api} */
  constructor(after, { i18n, api }) {
    this.i18n = i18n;
    this.api = api;
    this.items = [];
    this.root = h("section", { class: "panel panel-recordings", "data-testid": "recordings-panel", "aria-labelledby": "recordings-heading" });
    this.root.hidden = true;
    this.heading = h("span", {});
    this.refreshButton = h("button", { type: "button", class: "btn btn-tiny", "data-testid": "recordings-refresh" });
    this.refreshButton.addEventListener("click", () => this.load());
    this.list = h("ul", { class: "recordings-list", "data-testid": "recordings-list", tabindex: "0", "aria-labelledby": "recordings-heading" });
    this.empty = h("p", { class: "empty" });
    this.video = h("video", { controls: "", preload: "metadata", "data-testid": "recording-player", class: "recording-player" });
    this.closeButton = h("button", { type: "button", class: "btn", "data-testid": "recording-player-close" });
    this.closeButton.addEventListener("click", () => this.closePlayer());
    this.player = h("div", { class: "recording-player-box" }, this.video, this.closeButton);
    this.player.hidden = true;
    this.root.append(
      h("header", { class: "panel-head" }, h("h2", { id: "recordings-heading" }, this.heading), this.refreshButton),
      h("div", { class: "panel-scroll" }, this.player, this.list, this.empty));
    after.after(this.root);
    i18n.addEventListener?.("change", () => this.render());
  }

  _t(key, values = {}) {
    let text = TEXT[key][this.i18n.language] ?? TEXT[key]["zh-CN"];
    for (const [name, value] of Object.entries(values)) text = text.replaceAll(`{${name}}`, String(value));
    return text;
  }

  setRole(role) {
    if (STAFF.has(role)) {
      this.root.hidden = false;
      this.load();
    } else {
      this.stop();
    }
  }

  stop() {
    this.root.hidden = true;
    this.items = [];
    this.closePlayer();
  }

  async load() {
    try {
      const data = await this.api.request("GET", "/api/recordings");
      this.items = data.recordings || [];
    } catch (error) {
      console.warn("recordings:", error);
    }
    this.render();
  }

  play(item) {
    this.player.hidden = false;
    this.video.src = item.media_url;
    this.video.setAttribute("aria-label", `${this._t("player")} ${item.call_id}`);
    this.video.play().catch(() => { /* the supervisor presses play */ });
  }

  closePlayer() {
    this.video.pause();
    this.video.removeAttribute("src");
    this.video.load();
    this.player.hidden = true;
  }

  render() {
    this.heading.textContent = this._t("title");
    this.refreshButton.textContent = this._t("refresh");
    this.refreshButton.setAttribute("aria-label", this._t("refresh_label"));
    this.closeButton.textContent = this._t("close");
    this.closeButton.setAttribute("aria-label", this._t("close_label"));
    this.empty.textContent = this._t("empty");
    this.empty.hidden = this.items.length > 0;
    const when = (epoch) => (epoch ? new Date(epoch * 1000).toLocaleString(this.i18n.language) : "");
    this.list.replaceChildren(...this.items.map((item) => {
      const call = item.call || {};
      const length = item.duration_s ? this._t("seconds", { n: Math.round(item.duration_s) }) : "";
      const note = item.state === "failed" ? ` · ${this._t("failed")}` : "";
      const button = h("button", { type: "button", class: "btn btn-tiny", "data-testid": `play-${item.id}` }, this._t(item.media_url ? "play" : "missing"));
      button.disabled = !item.media_url;
      button.setAttribute("aria-label", `${this._t("play")} ${call.caller_label || ""} ${when(item.started_at)}`);
      button.addEventListener("click", () => this.play(item));
      return h("li", { class: "recording-item", "data-call-id": item.call_id },
        h("div", { class: "recording-line" },
          h("span", {}, `${call.caller_label || item.call_id} · ${call.skill || ""}`),
          button),
        h("div", { class: "small muted" }, `${when(item.started_at)} · ${item.agent_id} · ${length}${note}`));
    }));
  }
}
