// A kiosk is provisioned once by opening /kiosk?token=<device token>: the token moves to
// localStorage (it survives reboots and privacy resets) and leaves the address bar, so it
// is not shown on screen, kept in history or sent onwards.

export const TOKEN_KEY = "cloud-agent.kiosk-token";

/** The device token, taking a new one from the URL if present; null when not provisioned. */
export function deviceToken() {
  const url = new URL(location.href);
  const fresh = url.searchParams.get("token");
  if (fresh !== null) {
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + (url.search || "") + url.hash);
    if (fresh.trim()) {
      try {
        localStorage.setItem(TOKEN_KEY, fresh.trim());
      } catch {
        return fresh.trim(); // storage disabled: works until the next reload
      }
    }
  }
  try {
    return localStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

/** Wipe browser storage except the device token. */
export function wipeStorage() {
  try { sessionStorage.clear(); } catch { /* disabled */ }
  try {
    for (const key of Object.keys(localStorage)) if (key !== TOKEN_KEY) localStorage.removeItem(key);
  } catch { /* disabled */ }
}
