// The call itself: the agent full screen, the caller small in a corner, three big
// controls, and a banner while either side's connection is coming back. When the agent
// sends no camera, a placeholder says so instead of a black box; a network indicator
// (bars and a word) shows how good the connection is, announced only when it changes.
// Dispatches "mute" {on}, "camera" {on} and "hangup".

import { icon } from "./icons.js";

export class InCallPanel extends EventTarget {
  constructor(root, i18n) {
    super();
    this.root = root;
    this.i18n = i18n;
    this.remote = root.querySelector('[data-testid="remote-video"]');
    this.local = root.querySelector('[data-testid="local-video"]');
    this.banner = root.querySelector('[data-testid="reconnecting-banner"]');
    this.bannerText = this.banner.querySelector("[data-banner-text]");
    this.peerName = root.querySelector("[data-peer-name]");
    this.notice = root.querySelector("[data-media-notice]");
    this.muteButton = root.querySelector('[data-testid="mute-button"]');
    this.cameraButton = root.querySelector('[data-testid="camera-button"]');
    this.hangupButton = root.querySelector('[data-testid="hangup-button"]');
    this.placeholder = root.querySelector('[data-testid="peer-placeholder"]');
    this.peerNoMic = root.querySelector('[data-testid="peer-no-microphone"]');
    this.quality = root.querySelector('[data-testid="net-quality"]');
    this.qualityLive = root.querySelector("[data-quality-live]");
    this.muted = false;
    this.cameraOff = false;
    this.linkDown = false;
    this.peerDown = false;
    this.peer = null;
    this.noticeKey = null;
    this.muteButton.addEventListener("click", () => {
      this.muted = !this.muted;
      this._renderButtons();
      this.dispatchEvent(new CustomEvent("mute", { detail: { on: !this.muted } }));
    });
    this.cameraButton.addEventListener("click", () => {
      this.cameraOff = !this.cameraOff;
      this._renderButtons();
      this.dispatchEvent(new CustomEvent("camera", { detail: { on: !this.cameraOff } }));
    });
    this.hangupButton.addEventListener("click", () => this.dispatchEvent(new CustomEvent("hangup")));
    i18n.addEventListener("change", () => this._render());
    this.reset();
  }

  setPeer(peer) {
    this.peer = peer || null;
    this._render();
  }

  setLocal(stream) {
    const has = (kind) => !!stream && stream.getTracks().some((t) => t.kind === kind && t.readyState === "live");
    this.local.srcObject = stream || null;
    this.local.hidden = !has("video");
    // Nothing to switch off without the device; the notice says why.
    this.cameraButton.disabled = !has("video");
    this.muteButton.disabled = !has("audio");
  }

  setRemote(stream) {
    if (this.remote.srcObject !== stream) this.remote.srcObject = stream || null;
    if (stream) this.remote.play().catch(() => {});
  }

  /** The caller's own socket is down (true) or back (false); `restarting`: the server
   *  closed it for a restart (1012). */
  setLinkDown(down, restarting = false) {
    this.linkDown = down;
    this.restarting = down && restarting;
    this._renderBanner();
  }

  /** The agent reported reconnecting (true) or back (false). */
  setPeerDown(down) {
    this.peerDown = down;
    this._renderBanner();
  }

  showNotice(key) {
    this.noticeKey = key && !this.i18n.has(key) ? "media_failed" : key;
    this._render();
  }

  /** The media path is down and being restarted (true) or flows again (false). */
  setMediaDown(down) {
    this.mediaDown = down;
    this._renderBanner();
  }

  /** What the agent sends: {camera, microphone} (placeholder and note when missing). */
  setPeerMedia({ camera, microphone }) {
    this.placeholder.hidden = camera;
    this.peerNoMic.hidden = microphone;
  }

  /** The network indicator: good / fair / poor (none hides it). Screen readers hear the
   *  change, not every poll. */
  setQuality(level) {
    const changed = level !== this.qualityLevel;
    this.qualityLevel = level;
    this._renderQuality(changed);
  }

  _renderQuality(announce = false) {
    const level = this.qualityLevel || "none";
    this.quality.hidden = level === "none";
    this.quality.dataset.level = level;
    const text = level === "none" ? "" : this.i18n.t(`net_quality_${level}`);
    this.quality.querySelector("[data-quality-text]").textContent = text;
    if (announce) this.qualityLive.textContent = text;
  }

  _renderBanner() {
    this.banner.hidden = !(this.linkDown || this.mediaDown || this.peerDown);
    const key = this.linkDown ? (this.restarting ? "reconnecting_restart" : "reconnecting")
      : this.mediaDown ? "media_reconnecting" : "peer_reconnecting";
    this.bannerText.textContent = this.i18n.t(key);
  }

  _renderButtons() {
    this.muteButton.setAttribute("aria-pressed", String(this.muted));
    this.muteButton.querySelector("[data-icon-slot]").innerHTML = icon(this.muted ? "mic-off" : "mic");
    this.muteButton.querySelector("[data-label]").textContent = this.i18n.t(this.muted ? "unmute" : "mute");
    this.cameraButton.setAttribute("aria-pressed", String(this.cameraOff));
    this.cameraButton.querySelector("[data-icon-slot]").innerHTML = icon(this.cameraOff ? "camera-off" : "camera");
    this.cameraButton.querySelector("[data-label]").textContent = this.i18n.t(this.cameraOff ? "camera_on" : "camera_off");
    this.local.classList.toggle("is-off", this.cameraOff);
  }

  _render() {
    this.peerName.textContent = (this.peer && this.peer.display_name) || this.i18n.t("agent_default");
    this.notice.hidden = !this.noticeKey;
    this.notice.textContent = this.noticeKey ? this.i18n.t(this.noticeKey) : "";
    this._renderButtons();
    this._renderBanner();
    this._renderQuality();
  }

  reset() {
    this.remote.pause();
    this.remote.srcObject = null;
    this.local.srcObject = null;
    this.cameraButton.disabled = false;
    this.muteButton.disabled = false;
    this.muted = false;
    this.cameraOff = false;
    this.linkDown = false;
    this.peerDown = false;
    this.mediaDown = false;
    this.peer = null;
    this.noticeKey = null;
    this.qualityLevel = "none";
    this.qualityLive.textContent = "";
    this.placeholder.hidden = true;
    this.peerNoMic.hidden = true;
    this._render();
  }
}
