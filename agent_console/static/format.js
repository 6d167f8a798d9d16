// Formatting of durations, clock times and phone numbers for the console.

/** 75 -> "01:15", 3725 -> "1:02:05". */
export function clock(totalSeconds) {
  const s = Math.max(0, Math.floor(totalSeconds));
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  const seconds = s % 60;
  const mm = String(minutes).padStart(2, "0");
  const ss = String(seconds).padStart(2, "0");
  return hours ? `${hours}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** A short wait: "8 秒" / "2 分钟" style, through the i18n dictionary. */
export function shortDuration(i18n, seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return i18n.t("time.seconds", { n: s });
  if (s < 3600) return clock(s);
  return clock(s);
}

/** "14:05" for today, "3月2日 14:05" / "Mar 2, 14:05" otherwise (epoch seconds in). */
export function timeOfDay(i18n, epochSeconds) {
  const date = new Date(epochSeconds * 1000);
  const now = new Date();
  const locale = i18n.language === "en" ? "en-GB" : "zh-CN";
  const time = date.toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit", hour12: false });
  if (date.toDateString() === now.toDateString()) return time;
  const day = date.toLocaleDateString(locale, { month: "short", day: "numeric" });
  return `${day} ${time}`;
}

/** "刚刚", "5 分钟前", … from epoch seconds. */
export function ago(i18n, epochSeconds, nowMs = Date.now()) {
  const seconds = Math.max(0, nowMs / 1000 - epochSeconds);
  if (seconds < 60) return i18n.t("time.just_now");
  if (seconds < 3600) return i18n.t("time.minutes_ago", { n: Math.floor(seconds / 60) });
  return i18n.t("time.hours_ago", { n: Math.floor(seconds / 3600) });
}

/** 13812345678 -> "138 **** 5678": enough to tell callbacks apart, not to dial. */
export function maskPhone(phone) {
  const digits = String(phone || "");
  if (digits.length < 7) return "****";
  return `${digits.slice(0, 3)} **** ${digits.slice(-4)}`;
}

/** 13812345678 -> "138 1234 5678", the way it is read out. */
export function groupPhone(phone) {
  const d = String(phone || "");
  return d.length === 11 ? `${d.slice(0, 3)} ${d.slice(3, 7)} ${d.slice(7)}` : d;
}
