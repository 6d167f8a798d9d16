// The call itself: the agent full screen, the caller small in a corner, three big
// controls, and a banner while either side's connection is coming back.
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
    this.local.srcObject = stream || null;
    this.local.hidden = !stream || stream.getVideoTracks().length === 0;
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
    this.noticeKey = key;
    this._render();
  }

  _renderBanner() {
    this.banner.hidden = !(this.linkDown || this.peerDown);
    const key = this.linkDown ? (this.restarting ? "reconnecting_restart" : "reconnecting") : "peer_reconnecting";
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
  }

  reset() {
    this.remote.pause();
    this.remote.srcObject = null;
    this.local.srcObject = null;
    this.muted = false;
    this.cameraOff = false;
    this.linkDown = false;
    this.peerDown = false;
    this.peer = null;
    this.noticeKey = null;
    this._render();
  }
}
