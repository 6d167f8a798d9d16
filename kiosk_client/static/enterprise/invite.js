// Invite links (/call?invite=<token>): an agent sends a signed link that calls them directly.

/** {invite: {agent: {id, display_name}, skill, label, expires_at}} or {error: code}. */
export async function readInvite(token) {
  try {
    const response = await fetch(`/api/invites/${encodeURIComponent(token)}`, { cache: "no-store" });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) return { error: body.code || "invalid_invite" };
    return { invite: body };
  } catch {
    return { error: "connection_lost" };
  }
}
