// The kiosk page: attract → call button → matter → queue → call → rating → privacy reset.
//
// A shared touch screen in a town service centre: everything is big, one decision per
// screen, and nothing of one visitor survives to the next (privacyReset below).

import { I18n } from "/static/common/i18n.js";
import { STRINGS } from "./caller/strings.js";
import { renderIcons } from "./caller/icons.js";
import { Screens } from "./caller/screens.js";
import { Chime } from "./caller/chime.js";
import { CallerCall } from "./caller/caller-call.js";
import { QueuePanel } from "./caller/queue-panel.js";
import { LinkStatus } from "./caller/link-status.js";
import { CallbackOffer } from "./caller/callback-offer.js";
import { InCallPanel } from "./caller/in-call-panel.js";
import { RatingPanel } from "./caller/rating-panel.js";
import { MatterPicker, loadSkills } from "./caller/matter-picker.js";
import { deviceToken, wipeStorage } from "./kiosk/provisioning.js";
import { IdleTimer } from "./kiosk/idle-timer.js";
import { WorkArea } from "./caller/work-area.js";
import { RecordingConsent } from "./caller/recording-consent.js";
import { bindCallControls, callbackDoneRenderer, errorKey, followCall, noticeShower } from "./caller/call-screens.js";

/** Matters a citizen can call about at a town kiosk (enterprise matters are on /call). */
const KIOSK_MATTERS = ["water", "electricity", "gas", "transport", "citizen-card", "tv", "other"];

/** Seconds without a touch before the kiosk wipes itself; null: never on that screen.
 *  The server's settings give the menu and rating limits (kiosk_idle_seconds, ...). */
const stageEl = document.querySelector("main.stage");
const IDLE_SECONDS = Number(stageEl?.dataset.idleSeconds) || 60;
const RATING_IDLE_SECONDS = Number(stageEl?.dataset.ratingIdleSeconds) || 15;
const IDLE_LIMITS = {
  home: IDLE_SECONDS, matters: IDLE_SECONDS, callback: IDLE_SECONDS,
  notice: Math.min(20, IDLE_SECONDS), "callback-done": Math.min(20, IDLE_SECONDS),
  rating: RATING_IDLE_SECONDS,
  attract: null, queue: null, connecting: null, "in-call": null,
  thanks: null, "not-provisioned": null,
};
const THANKS_SECONDS = 4;

const byTestId = (id) => document.querySelector(`[data-testid="${id}"]`);
const screenEl = (name) => document.querySelector(`[data-screen="${name}"]`);

const i18n = new I18n(STRINGS);
const screens = new Screens(document);
const chime = new Chime();
const idle = new IdleTimer(IDLE_LIMITS);
const queue = new QueuePanel(screenEl("queue"), i18n);
const link = new LinkStatus(document, i18n);
const callbackOffer = new CallbackOffer(screenEl("callback"), i18n);
const inCall = new InCallPanel(screenEl("in-call"), i18n);
const rating = new RatingPanel(screenEl("rating"));
const picker = new MatterPicker(document.querySelector("[data-matters]"), i18n, { mode: "go" });
const elderButton = byTestId("elder-mode");
const work = new WorkArea(screenEl("in-call"), {
  i18n, kiosk: true,
  cardReaderUrl: stageEl?.dataset.cardReaderUrl || null,
  documentCamera: stageEl?.dataset.documentCamera || null,
});

let token = deviceToken();
let call = null;
let callbackPhone = "";
let thanksTimer = null;
let skillsLoaded = false;

renderIcons();
i18n.apply();
screens.addEventListener("change", (event) => idle.enter(event.detail.name));
idle.addEventListener("idle", ({ detail }) => {
  if (detail.screen === "callback") {
    // Walked away from the callback offer: wipe the number, keep the place in the queue.
    callbackOffer.reset();
    byTestId("callback-reopen").hidden = false;
    screens.show("queue");
    return;
  }
  privacyReset();
});
window.__callStats = () => (call ? call.stats() : Promise.resolve({ framesDecoded: 0 }));
window.__mediaSession = () => (call ? call.session : null); // tests: force an ICE restart, read quality

// ------------------------------------------------------------------ top bar

function setElder(on) {
  document.documentElement.classList.toggle("elder", on);
  elderButton.setAttribute("aria-pressed", String(on));
}

elderButton.addEventListener("click", () => setElder(elderButton.getAttribute("aria-pressed") !== "true"));
byTestId("language-switch").addEventListener("click", () => {
  i18n.set(i18n.language === "en" ? "zh-CN" : "en");
  byTestId("language-switch").setAttribute("lang", i18n.language === "en" ? "zh-CN" : "en");
});

// ------------------------------------------------------------------ before the call

async function ensureSkills() {
  if (skillsLoaded) return;
  const status = document.querySelector("[data-matters-status]");
  status.hidden = false;
  status.textContent = i18n.t("matters_loading");
  try {
    const skills = await loadSkills();
    picker.render(skills.filter((s) => KIOSK_MATTERS.includes(s.code)));
    skillsLoaded = true;
    status.hidden = true;
  } catch {
    status.textContent = i18n.t("matters_unavailable");
  }
}

byTestId("attract-screen").addEventListener("click", () => {
  chime.unlock();
  screens.show("home");
  ensureSkills();
});
byTestId("call-button").addEventListener("click", () => {
  screens.show("matters");
  ensureSkills();
});
for (const button of document.querySelectorAll("[data-action=reset]")) button.addEventListener("click", () => privacyReset());
for (const button of document.querySelectorAll("[data-action=home]")) button.addEventListener("click", () => screens.show("home"));
picker.addEventListener("pick", (event) => startCall(event.detail.skill.code));

// ------------------------------------------------------------------ the call

function startCall(skill) {
  chime.unlock();
  queue.reset();
  link.reset();
  screens.show("queue");
  call = new CallerCall();
  follow(call);
  work.follow(call);
  // Elder mode is chosen for older and disabled citizens, often with the centre's staff:
  // their calls are served first (the server honours priority from kiosks only).
  const elder = elderButton.getAttribute("aria-pressed") === "true";
  call.start({ skill, kiosk_token: token, language: i18n.language, priority: elder });
}

const notice = noticeShower(screens, i18n);
const recording = new RecordingConsent(i18n);
const renderCallbackDone = callbackDoneRenderer(i18n, () => callbackPhone);

function follow(current) {
  recording.follow(current);
  followCall(current, () => call, { screens, queue, link, inCall, rating, callbackOffer, chime, notice, renderCallbackDone }, {
    afterHangup: privacyReset,
    onFatalError: (code, scope) => {
      if (code === "invalid_kiosk_token") {
        call.dispose();
        call = null;
        screens.show("not-provisioned");
        return;
      }
      notice(code === "too_many_calls" ? "refused_title" : "error_title", errorKey(i18n, code, scope));
    },
  });
}

bindCallControls(() => call, { screens, inCall, callbackOffer, notice, reopenButton: byTestId("callback-reopen") },
  (phone) => { callbackPhone = phone; }, privacyReset);

rating.addEventListener("rate", async ({ detail }) => {
  if (call) await call.rate(detail.score, 3000);
  screens.show("thanks");
  clearTimeout(thanksTimer);
  thanksTimer = setTimeout(privacyReset, THANKS_SECONDS * 1000);
});
rating.addEventListener("skip", () => privacyReset());

// ------------------------------------------------------------------ privacy

/** Leave nothing of the last visitor: call, media, texts, storage, language, text size. */
function privacyReset() {
  clearTimeout(thanksTimer);
  if (call) call.dispose();
  call = null;
  work.follow(null);
  recording.follow(null);
  callbackPhone = "";
  renderCallbackDone();
  chime.stop();
  inCall.reset();
  queue.reset();
  link.reset();
  callbackOffer.reset();
  byTestId("callback-reopen").hidden = true;
  rating.reset();
  wipeStorage();
  setElder(false);
  i18n.set("zh-CN");
  byTestId("language-switch").setAttribute("lang", "en");
  if (location.search || location.hash) history.replaceState(null, "", location.pathname);
  if (document.activeElement instanceof HTMLElement) document.activeElement.blur();
  screens.show(token ? "attract" : "not-provisioned");
}

// ------------------------------------------------------------------ start

document.addEventListener("contextmenu", (event) => event.preventDefault());
const saved = token ? CallerCall.saved() : null;
if (!token) {
  screens.show("not-provisioned");
} else if (saved) {
  // The page was reloaded during a call: take it back.
  screens.show(saved.wasConnected ? "connecting" : "queue");
  call = new CallerCall();
  follow(call);
  work.follow(call);
  call.resume(saved);
  ensureSkills();
} else {
  screens.show("attract");
  ensureSkills();
  checkProvisioning();
}

/** Ask the server whether this device token is still valid, so a revoked or mistyped token
 *  shows the technician's screen at once instead of failing a citizen's first call. A
 *  network problem proves nothing: the kiosk then stays as it is. */
async function checkProvisioning() {
  try {
    const response = await fetch("/api/kiosk", { headers: { "X-Kiosk-Token": token }, cache: "no-store" });
    if (response.status === 401 && !call) screens.show("not-provisioned");
  } catch { /* offline: the first call will tell */ }
}
