// Small text formatters shared by the caller pages.

/** "under a minute" / "about 3 min" for a wait in seconds (null: still calculating). */
export function waitText(i18n, seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return i18n.t("wait_unknown");
  if (seconds < 60) return i18n.t("wait_under_minute");
  return i18n.t("wait_minutes", { minutes: Math.round(seconds / 60) });
}

/** 138****8000: enough for the caller to recognise the number, not for a passer-by. */
export function maskPhone(phone) {
  return phone && phone.length === 11 ? `${phone.slice(0, 3)}****${phone.slice(7)}` : "";
}

/** The catalog name of a skill in the page's language. */
export function skillName(i18n, skill) {
  if (!skill) return "";
  return i18n.language === "en" ? skill.name_en || skill.code : skill.name_zh || skill.code;
}
