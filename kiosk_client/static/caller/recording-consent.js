// Recording consent and the recording indicator, for the kiosk and /call pages.
//
// When the server answers a call request with `recording_consent_required`, the caller
// sees a plain prompt before anything is queued and before any media starts, and answers
// with big buttons. Agreeing or (where the call may go on unrecorded) declining sends the
// call request again with the answer; where a refusal means a callback, declining asks for
// a mobile number on a keypad. While the call is recorded a badge says so.
// docs/protocol.md "Recording".

const TEXT = {
  title: { "zh-CN": "本次通话将被录音录像", en: "This call will be recorded" },
  body: {
    "zh-CN": "本次通话将被录音录像，用于核实办理内容和服务质量监督，录像按规定期限保存后删除，只有监督人员可以查看。",
    en: "This call will be recorded (sound and picture) to check what was settled and to supervise service quality. The recording is kept for a fixed period and then deleted; only supervisors may view it.",
  },
  continue_note: {
    "zh-CN": "您也可以不同意：通话照常进行，但不录音录像。",
    en: "You may also decline: the call goes on, but it is not recorded.",
  },
  callback_note: {
    "zh-CN": "本事项须录音录像办理。如不同意，可以留下手机号码，工作人员稍后给您回电。",
    en: "This service is handled on a recorded call only. If you decline, leave your mobile number and staff will call you back.",
  },
  agree: { "zh-CN": "同意，开始通话", en: "I agree, start the call" },
  decline_continue: { "zh-CN": "不同意，不录音继续", en: "Decline, call without recording" },
  decline_callback: { "zh-CN": "不同意，改为回电", en: "Decline, call me back instead" },
  cancel: { "zh-CN": "取消呼叫", en: "Cancel the call" },
  phone_title: { "zh-CN": "请输入您的手机号码", en: "Enter your mobile number" },
  phone_label: { "zh-CN": "手机号码", en: "Mobile number" },
  phone_invalid: { "zh-CN": "请输入以 1 开头的 11 位手机号码", en: "Enter an 11-digit mobile number starting with 1" },
  delete_digit: { "zh-CN": "删除一位", en: "Delete a digit" },
  confirm_callback: { "zh-CN": "确认回电", en: "Call me back" },
  back: { "zh-CN": "返回", en: "Back" },
  recording: { "zh-CN": "录音录像中", en: "Recording" },
};

/** Seconds a prompt waits for an answer before the call request is withdrawn. */
const ANSWER_SECONDS = 90;

function ensureStyles() {
  if (document.querySelector("link[data-recording-css]")) return;
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = "/static/kiosk/css/recording.css";
  link.dataset.recordingCss = "";
  document.head.append(link);
}

function button(testId, className) {
  const el = document.createElement("button");
  el.type = "button";
  el.className = className;
  el.dataset.testid = testId;
  return el;
}

export class RecordingConsent {
  /** @param {import("/static/common/i18n.js").I18n} i18n the page's language */
  constructor(i18n, root = document.body) {
    ensureStyles();
    this.i18n = i18n;
    this.call = null;
    this.onRefusal = "continue";
    this.step = "ask"; // ask | phone
    this.phone = "";
    this._timer = null;
    this._listeners = [];

    this.dialog = document.createElement("div");
    this.dialog.className = "consent-backdrop";
    this.dialog.hidden = true;
    this.dialog.innerHTML = `
      <div class="consent" role="dialog" aria-modal="true" aria-labelledby="consent-title" aria-describedby="consent-body" data-testid="recording-consent">
        <button type="button" class="consent-language" data-testid="consent-language"></button>
        <h2 id="consent-title" class="consent-title"></h2>
        <p id="consent-body" class="consent-body"></p>
        <p class="consent-note" data-consent-note></p>
        <div class="consent-phone" data-consent-phone hidden>
          <label class="consent-phone-label" for="consent-phone-input" data-consent-phone-label></label>
          <input id="consent-phone-input" class="consent-phone-input" data-testid="consent-phone" inputmode="numeric" autocomplete="tel" maxlength="11" pattern="1[0-9]{10}">
          <p class="consent-error" role="alert" data-consent-error hidden></p>
          <div class="consent-keypad" data-consent-keypad></div>
        </div>
        <div class="consent-actions" data-consent-actions></div>
      </div>`;
    root.append(this.dialog);
    this.title = this.dialog.querySelector(".consent-title");
    this.body = this.dialog.querySelector(".consent-body");
    this.note = this.dialog.querySelector("[data-consent-note]");
    this.phoneBox = this.dialog.querySelector("[data-consent-phone]");
    this.phoneInput = this.dialog.querySelector("[data-testid=consent-phone]");
    this.phoneError = this.dialog.querySelector("[data-consent-error]");
    this.actions = this.dialog.querySelector("[data-consent-actions]");
    this.phoneInput.addEventListener("input", () => {
      this.phone = this.phoneInput.value.replace(/\D/g, "").slice(0, 11);
      this.phoneInput.value = this.phone;
    });
    this._buildKeypad(this.dialog.querySelector("[data-consent-keypad]"));
    this.languageButton = this.dialog.querySelector("[data-testid=consent-language]");
    this.languageButton.addEventListener("click", () => {
      const next = this.i18n.language === "en" ? "zh-CN" : "en";
      this.i18n.set(next);
      const topbar = document.querySelector('[data-testid="language-switch"]');
      if (topbar) topbar.setAttribute("lang", next === "en" ? "zh-CN" : "en");
    });

    this.badge = document.createElement("p");
    this.badge.className = "recording-badge";
    this.badge.setAttribute("role", "status");
    this.badge.dataset.testid = "recording-indicator";
    this.badge.hidden = true;
    root.append(this.badge);

    i18n.addEventListener("change", () => this._render());
  }

  _t(key) {
    const entry = TEXT[key];
    return entry[this.i18n.language] ?? entry["zh-CN"];
  }

  _buildKeypad(pad) {
    for (const key of ["1", "2", "3", "4", "5", "6", "7", "8", "9", "del", "0"]) {
      const el = button(`consent-key-${key}`, "consent-key");
      if (key === "del") {
        el.textContent = "⌫";
        el.dataset.label = "delete_digit";
      } else {
        el.textContent = key;
      }
      el.addEventListener("click", () => {
        this.phone = key === "del" ? this.phone.slice(0, -1) : (this.phone + key).slice(0, 11);
        this.phoneInput.value = this.phone;
        this.phoneError.hidden = true;
      });
      pad.append(el);
    }
  }

  /** Follow a CallerCall (or null to forget the last one). */
  follow(call) {
    for (const [target, type, handler] of this._listeners) target.removeEventListener(type, handler);
    this._listeners = [];
    this._close();
    this.badge.hidden = true;
    this.call = call;
    if (!call) return;
    const on = (type, handler) => {
      call.addEventListener(type, handler);
      this._listeners.push([call, type, handler]);
    };
    on("consent_required", ({ detail }) => this._open(detail.onRefusal));
    on("recording", ({ detail }) => {
      this.badge.hidden = detail.state !== "recording";
      this._render();
    });
    on("callback_registered", () => this._close());
    on("ended", () => { this._close(); this.badge.hidden = true; });
    on("error", ({ detail }) => {
      if (detail.code === "callback_phone_required" || detail.code === "invalid_message") {
        this.phoneError.hidden = false;
      }
    });
  }

  _open(onRefusal) {
    this.onRefusal = onRefusal === "callback" ? "callback" : "continue";
    this.step = "ask";
    this.phone = "";
    this.phoneInput.value = "";
    this.dialog.hidden = false;
    this._render();
    clearTimeout(this._timer);
    this._timer = setTimeout(() => { if (this.call) this.call.hangup(); this._close(); }, ANSWER_SECONDS * 1000);
    const first = this.actions.querySelector("button");
    if (first) first.focus();
  }

  _close() {
    clearTimeout(this._timer);
    this.dialog.hidden = true;
  }

  _answer(consent, phone = null) {
    if (!this.call) return;
    this.call.answerConsent(consent, phone);
    if (consent || this.onRefusal === "continue") this._close();
  }

  _render() {
    const english = this.i18n.language === "en";
    this.languageButton.textContent = english ? "中文" : "English";
    this.languageButton.lang = english ? "zh-CN" : "en";
    this.languageButton.setAttribute("aria-label", english ? "切换到中文" : "Switch to English");
    this.badge.textContent = `● ${this._t("recording")}`;
    this.title.textContent = this._t(this.step === "phone" ? "phone_title" : "title");
    this.body.textContent = this._t("body");
    this.body.hidden = this.step === "phone";
    this.note.textContent = this._t(this.onRefusal === "callback" ? "callback_note" : "continue_note");
    this.note.hidden = this.step === "phone";
    this.phoneBox.hidden = this.step !== "phone";
    this.dialog.querySelector("[data-consent-phone-label]").textContent = this._t("phone_label");
    this.phoneError.textContent = this._t("phone_invalid");
    for (const key of this.dialog.querySelectorAll("[data-label]")) key.setAttribute("aria-label", this._t(key.dataset.label));
    this.actions.replaceChildren();
    const add = (testId, className, label, onClick) => {
      const el = button(testId, className);
      el.textContent = this._t(label);
      el.addEventListener("click", onClick);
      this.actions.append(el);
      return el;
    };
    if (this.step === "ask") {
      add("consent-agree", "consent-button consent-button--primary", "agree", () => this._answer(true));
      if (this.onRefusal === "callback") {
        add("consent-decline", "consent-button", "decline_callback", () => {
          this.step = "phone";
          this._render();
          this.phoneInput.focus();
        });
      } else {
        add("consent-decline", "consent-button", "decline_continue", () => this._answer(false));
      }
      add("consent-cancel", "consent-button consent-button--quiet", "cancel", () => {
        if (this.call) this.call.hangup();
        this._close();
      });
    } else {
      add("consent-callback", "consent-button consent-button--primary", "confirm_callback", () => {
        if (!/^1\d{10}$/.test(this.phone)) {
          this.phoneError.hidden = false;
          return;
        }
        this._answer(false, this.phone);
      });
      add("consent-back", "consent-button", "back", () => { this.step = "ask"; this._render(); });
    }
  }
}
