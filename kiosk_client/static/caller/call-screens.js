// Which screen and sound follow each event of a caller's call — the same on the kiosk
// and on the enterprise page. The pages differ only in what happens after the caller's
// own hang-up (`afterHangup`), the callback phone to prefill (`callbackPhone`) and how a
// fatal error is shown (`onFatalError`).

import { maskPhone } from "./format.js";

/**
 * @param {EventTarget} current  the CallerCall to follow
 * @param {() => EventTarget|null} active  the page's current call (events of older calls are ignored)
 * @param {object} ui  {screens, queue, inCall, rating, callbackOffer, chime, notice, renderCallbackDone}
 * @param {{afterHangup: () => void, onFatalError: (code: string) => void, callbackPhone?: () => string}} hooks
 */
export function followCall(current, active, ui, hooks) {
  const { screens, queue, inCall, rating, callbackOffer, chime, notice, renderCallbackDone } = ui;
  const on = (type, handler) => current.addEventListener(type, (event) => {
    if (current === active()) handler(event.detail);
  });
  on("queue", (detail) => queue.update(detail));
  on("requeued", () => {
    chime.stopRing();
    queue.requeued();
    screens.show("queue");
  });
  on("ringing", () => {
    screens.show("connecting");
    chime.ring();
  });
  on("callback_offer", ({ reason }) => {
    callbackOffer.show(reason, hooks.callbackPhone ? hooks.callbackPhone() : undefined);
    if (screens.is("queue")) {
      screens.show("callback");
      chime.ding();
    }
  });
  on("callback_registered", () => {
    renderCallbackDone();
    screens.show("callback-done");
  });
  on("connected", ({ peer }) => {
    inCall.setPeer(peer);
    if (!screens.is("in-call")) {
      chime.connected();
      screens.show("in-call");
    }
  });
  on("localstream", ({ stream }) => inCall.setLocal(stream));
  on("remotestream", ({ stream }) => inCall.setRemote(stream));
  on("mediaproblem", ({ problem }) => inCall.showNotice(
    { no_camera: "media_no_camera", no_microphone: "media_no_microphone" }[problem] || "media_failed"));
  on("link", ({ state }) => {
    queue.setLink(state);
    inCall.setLinkDown(state === "reconnecting");
  });
  on("peer", ({ status }) => inCall.setPeerDown(status === "reconnecting"));
  on("ended", ({ reason, wasConnected }) => {
    chime.stop();
    inCall.reset();
    if (wasConnected) {
      rating.reset();
      screens.show("rating");
    } else if (reason === "callback") {
      // callback_registered normally came first; do not wait forever for it
      setTimeout(() => {
        if (current === active() && screens.is("callback")) screens.show("callback-done");
      }, 5000);
    } else if (reason === "caller_hangup") {
      hooks.afterHangup();
    } else {
      notice("ended_title", reason === "caller_lost" ? "ended_lost" : "ended_unanswered");
    }
  });
  on("error", ({ code, fatal }) => {
    if (fatal) hooks.onFatalError(code);
  });
}

/**
 * The in-call and callback controls, the same on both pages; wired once per page.
 * @param {() => any} active  the page's current call, or null
 * @param {object} ui  {screens, inCall, callbackOffer, notice, reopenButton}
 * @param {(phone: string) => void} rememberPhone  keeps the number for the confirmation
 */
export function bindCallControls(active, ui, rememberPhone) {
  const { screens, inCall, callbackOffer, notice, reopenButton } = ui;
  callbackOffer.addEventListener("keepwaiting", () => {
    reopenButton.hidden = false;
    screens.show("queue");
  });
  reopenButton.addEventListener("click", () => screens.show("callback"));
  callbackOffer.addEventListener("accept", ({ detail }) => {
    rememberPhone(detail.phone);
    const call = active();
    if (!call || !call.acceptCallback(detail.phone)) notice("error_title", "error.connection_lost");
  });
  inCall.addEventListener("mute", ({ detail }) => active()?.setMicrophone(detail.on));
  inCall.addEventListener("camera", ({ detail }) => active()?.setCamera(detail.on));
  inCall.addEventListener("hangup", () => active()?.hangup());
}

/** A function that shows the notice screen with a title and text (kept translatable). */
export function noticeShower(screens, i18n) {
  return (titleKey, textKey) => {
    const root = document.querySelector('[data-screen="notice"]');
    for (const [selector, key] of [["[data-notice-title]", titleKey], ["[data-notice-text]", textKey]]) {
      const el = root.querySelector(selector);
      el.dataset.i18n = key;
      el.textContent = i18n.t(key);
    }
    screens.show("notice");
  };
}

/** Renders the callback confirmation with the masked number, again on a language change. */
export function callbackDoneRenderer(i18n, phone) {
  const render = () => {
    const text = document.querySelector('[data-screen="callback-done"] [data-callback-done-text]');
    const number = phone();
    text.textContent = number ? i18n.t("callback_done_lead", { phone: maskPhone(number) }) : "";
  };
  i18n.addEventListener("change", render);
  return render;
}
