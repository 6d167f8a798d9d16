// Which screen and sound follow each event of a caller's call — the same on the kiosk
// and on the enterprise page. The pages differ only in what happens after the caller's
// own hang-up (`afterHangup`), the callback phone to prefill (`callbackPhone`) and how a
// fatal error is shown (`onFatalError`). Every waiting screen has a cancel button
// (`data-cancel`) that ends the call and returns to a clear state.

import { maskPhone } from "./format.js";

/**
 * @param {EventTarget} current  the CallerCall to follow
 * @param {() => EventTarget|null} active  the page's current call (events of older calls are ignored)
 * @param {object} ui  {screens, queue, link, inCall, rating, callbackOffer, chime, notice, renderCallbackDone}
 * @param {{afterHangup: () => void, onFatalError: (code: string, scope: string|null) => void,
 *          callbackPhone?: () => string}} hooks
 */
export function followCall(current, active, ui, hooks) {
  const { screens, queue, link, inCall, rating, callbackOffer, chime, notice, renderCallbackDone } = ui;
  const on = (type, handler) => current.addEventListener(type, (event) => {
    if (current === active()) handler(event.detail);
  });
  on("queue", (detail) => queue.update(detail));
  on("busy", () => queue.busy());
  on("requeued", ({ reason }) => {
    chime.stopRing();
    queue.requeued(reason);
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
  on("callback_registered", ({ duplicate }) => {
    renderCallbackDone(duplicate);
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
  on("mediaproblem", ({ problem }) => inCall.showNotice(problem ? `media_${problem}` : null));
  on("network", ({ state }) => inCall.setMediaDown(state === "lost"));
  on("remotemedia", (detail) => inCall.setPeerMedia(detail));
  on("quality", ({ level }) => inCall.setQuality(level));
  on("link", (detail) => {
    link.update(detail);
    inCall.setLinkDown(detail.state === "reconnecting", detail.closeCode === 1012);
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
      notice("ended_title", { caller_lost: "ended_lost", server_restart: "ended_restart" }[reason] || "ended_unanswered");
    }
  });
  on("error", ({ code, scope, fatal }) => {
    if (fatal) hooks.onFatalError(code, scope);
    else if (code === "too_many_callbacks") callbackOffer.showError(errorKey(callbackOffer.i18n, code, scope));
  });
}

/** The most specific explanation of a server error code: `error.<code>.<scope>`, then
 *  `error.<code>`, then `error.unknown`. */
export function errorKey(i18n, code, scope = null) {
  if (scope && i18n.has(`error.${code}.${scope}`)) return `error.${code}.${scope}`;
  return i18n.has(`error.${code}`) ? `error.${code}` : "error.unknown";
}

/**
 * The in-call and callback controls, the same on both pages; wired once per page.
 * @param {() => any} active  the page's current call, or null
 * @param {object} ui  {screens, inCall, callbackOffer, notice, reopenButton}
 * @param {(phone: string) => void} rememberPhone  keeps the number for the confirmation
 * @param {() => void} leave  back to the page's clear start (when there is no call to end)
 */
export function bindCallControls(active, ui, rememberPhone, leave) {
  const { screens, inCall, callbackOffer, notice, reopenButton } = ui;
  // Cancel on every waiting screen: the hang-up's `ended` leads on (afterHangup); with no
  // call left to end, or offline, the page leaves at once.
  for (const button of document.querySelectorAll("[data-cancel]")) {
    button.addEventListener("click", () => {
      const call = active();
      if (!call || !call.hangup()) leave();
    });
  }
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
  let duplicate = false;
  const render = () => {
    const text = document.querySelector('[data-screen="callback-done"] [data-callback-done-text]');
    const number = phone();
    text.textContent = number ? i18n.t("callback_done_lead", { phone: maskPhone(number) }) : "";
    if (number && duplicate) text.textContent += "\n" + i18n.t("callback_done_duplicate");
  };
  i18n.addEventListener("change", render);
  /** Render for a new confirmation; `isDuplicate`: the number was already booked. */
  return (isDuplicate = false) => {
    duplicate = isDuplicate;
    render();
  };
}
