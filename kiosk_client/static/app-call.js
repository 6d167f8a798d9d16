// The enterprise call page: company form (or an agent's invite link), device check,
// matter, call; then the same call screens as the kiosk.

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
import { skillName } from "./caller/format.js";
import { CompanyForm } from "./enterprise/company-form.js";
import { DeviceCheck } from "./enterprise/device-check.js";
import { readInvite } from "./enterprise/invite.js";
import { WorkArea } from "./caller/work-area.js";
import { RecordingConsent } from "./caller/recording-consent.js";
import { bindCallControls, callbackDoneRenderer, errorKey, followCall, noticeShower } from "./caller/call-screens.js";

const byTestId = (id) => document.querySelector(`[data-testid="${id}"]`);
const screenEl = (name) => document.querySelector(`[data-screen="${name}"]`);

const i18n = new I18n(STRINGS);
const screens = new Screens(document);
const chime = new Chime();
const form = new CompanyForm(document.querySelector("[data-company-form]"), i18n);
const devices = new DeviceCheck(document.querySelector("[data-device-check]"), i18n);
const picker = new MatterPicker(document.querySelector("[data-matters]"), i18n, { mode: "select" });
const queue = new QueuePanel(screenEl("queue"), i18n);
const link = new LinkStatus(document, i18n);
const callbackOffer = new CallbackOffer(screenEl("callback"), i18n);
const inCall = new InCallPanel(screenEl("in-call"), i18n);
const rating = new RatingPanel(screenEl("rating"));
const summary = byTestId("form-error");
const work = new WorkArea(screenEl("in-call"), { i18n, kiosk: false });

const inviteToken = new URLSearchParams(location.search).get("invite");
let invite = null;
let skills = [];
let call = null;
let callbackPhone = "";

renderIcons();
i18n.apply();
window.__callStats = () => (call ? call.stats() : Promise.resolve({ framesDecoded: 0 }));
window.__mediaSession = () => (call ? call.session : null); // tests: force an ICE restart, read quality

byTestId("language-switch").addEventListener("click", () => {
  i18n.set(i18n.language === "en" ? "zh-CN" : "en");
  byTestId("language-switch").setAttribute("lang", i18n.language === "en" ? "zh-CN" : "en");
});

// ------------------------------------------------------------------ preparing

function renderInvite() {
  if (!invite) return;
  byTestId("invite-agent").textContent = invite.agent.display_name;
  const skill = skills.find((s) => s.code === invite.skill) || { code: invite.skill };
  byTestId("invite-matter").textContent = i18n.t("invite_matter", { matter: skillName(i18n, skill) });
}
i18n.addEventListener("change", renderInvite);

async function prepare() {
  const skillsLoaded = loadSkills().then((list) => {
    skills = list;
    picker.render(list);
  }, () => {
    byTestId("matters-status").hidden = false;
  });
  if (inviteToken) {
    document.body.dataset.mode = "invite-loading";
    const result = await readInvite(inviteToken);
    if (result.invite) {
      invite = result.invite;
      document.body.dataset.mode = "invite";
      await skillsLoaded;
      renderInvite();
    } else {
      document.body.dataset.mode = "form";
      const error = byTestId("invite-error");
      error.dataset.i18n = i18n.has(`error.${result.error}`) ? `error.${result.error}` : "error.invalid_invite";
      error.textContent = i18n.t(error.dataset.i18n);
      error.hidden = false;
    }
  } else {
    document.body.dataset.mode = "form";
  }
}

picker.addEventListener("pick", () => {
  byTestId("matter-error").hidden = true;
  refreshSummary();
});

function showSummary(key) {
  summary.dataset.i18n = key;
  summary.textContent = i18n.t(key);
  summary.hidden = false;
}

/** After a failed submit the summary follows the fields: it names what is still wrong
 *  and goes away once nothing is marked any more. */
function refreshSummary() {
  if (summary.hidden) return;
  const matterMissing = !byTestId("matter-error").hidden;
  if (form.hasMarkedErrors) showSummary("form_has_errors");
  else if (matterMissing) showSummary("invalid.matter");
  else summary.hidden = true;
}
form.addEventListener("check", refreshSummary);

byTestId("call-button").addEventListener("click", () => {
  summary.hidden = true;
  let request;
  if (invite) {
    request = { skill: invite.skill, invite: inviteToken, language: i18n.language };
  } else {
    const company = form.validate();
    const matter = picker.selected;
    byTestId("matter-error").hidden = !!matter;
    if (!company || !matter) {
      showSummary(company ? "invalid.matter" : "form_has_errors");
      if (company && !matter) document.querySelector("[data-matters] .matter")?.focus();
      return;
    }
    request = { skill: matter.code, company, language: i18n.language };
  }
  startCall(request);
});

// ------------------------------------------------------------------ the call

function startCall(request) {
  chime.unlock();
  queue.reset();
  link.reset();
  callbackOffer.reset();
  screens.show("queue");
  call = new CallerCall({ media: { allowPartial: true } });
  call.useLocalStream(devices.takeStream(), devices.problem);
  follow(call);
  work.follow(call);
  call.start(request);
}

const notice = noticeShower(screens, i18n);
const recording = new RecordingConsent(i18n);
const renderCallbackDone = callbackDoneRenderer(i18n, () => callbackPhone);

function follow(current) {
  recording.follow(current);
  followCall(current, () => call, { screens, queue, link, inCall, rating, callbackOffer, chime, notice, renderCallbackDone }, {
    afterHangup: backToForm,
    callbackPhone: () => form.phone,
    onFatalError: (code, scope) => notice(code === "too_many_calls" ? "refused_title" : "error_title",
      errorKey(i18n, code, scope)),
  });
}

bindCallControls(() => call, { screens, inCall, callbackOffer, notice, reopenButton: byTestId("callback-reopen") },
  (phone) => { callbackPhone = phone; }, backToForm);
rating.addEventListener("rate", async ({ detail }) => {
  if (call) await call.rate(detail.score, 3000);
  screens.show("thanks");
});
rating.addEventListener("skip", () => backToForm());
for (const button of document.querySelectorAll("[data-action=reset]")) button.addEventListener("click", () => backToForm());

/** Close the call and show the (still filled) form for another call. */
function backToForm() {
  if (call) call.dispose();
  call = null;
  work.follow(null);
  recording.follow(null);
  callbackPhone = "";
  chime.stop();
  inCall.reset();
  queue.reset();
  link.reset();
  callbackOffer.reset();
  byTestId("callback-reopen").hidden = true;
  rating.reset();
  screens.show("prepare");
}

// ------------------------------------------------------------------ start

const saved = CallerCall.saved();
if (saved) {
  screens.show(saved.wasConnected ? "connecting" : "queue");
  call = new CallerCall();
  follow(call);
  work.follow(call);
  call.resume(saved);
  prepare();
} else {
  screens.show("prepare", { focus: false });
  prepare();
}
