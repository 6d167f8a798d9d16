// REST calls of the console (docs/protocol.md, "REST"), with the agent's Bearer token.
//
// The login lives in sessionStorage: a reload keeps the agent signed in, closing the tab
// signs them out, and nothing outlives the browser session on a shared desk.

const STORAGE_KEY = "cloud-agent.console.login";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.status = status;
    this.code = code;
  }
}

export function loadLogin() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || "null");
    if (saved && saved.token && (!saved.expiresAt || saved.expiresAt > Date.now())) return saved;
  } catch {
    /* corrupt entry: treat as signed out */
  }
  sessionStorage.removeItem(STORAGE_KEY);
  return null;
}

export function saveLogin(login) {
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(login));
}

export function clearLogin() {
  sessionStorage.removeItem(STORAGE_KEY);
}

export class Api {
  /**
   * @param {() => string|null} getToken
   * @param {() => void} onUnauthorized  called when the server refuses the token (401)
   */
  constructor(getToken, onUnauthorized) {
    this.getToken = getToken;
    this.onUnauthorized = onUnauthorized;
  }

  async request(method, path, body) {
    const headers = { Accept: "application/json" };
    const token = this.getToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" });
    } catch (error) {
      throw new ApiError(0, "network", String(error));
    }
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (!response.ok) {
      const error = new ApiError(response.status, data?.code || "http_error", data?.message || response.statusText);
      if (response.status === 401 && token && path !== "/api/login") this.onUnauthorized();
      throw error;
    }
    return data;
  }

  /** POST /api/login → {token, expires_in, agent}. */
  login(username, password) {
    return this.request("POST", "/api/login", { username, password });
  }

  skills() { return this.request("GET", "/api/skills"); }
  recentCalls() { return this.request("GET", "/api/calls/recent"); }
  callbacks() { return this.request("GET", "/api/callbacks"); }
  claimCallback(id) { return this.request("POST", `/api/callbacks/${encodeURIComponent(id)}/claim`); }
  /** outcome: resolved | follow-up | no-answer | wrong-number | other; notes optional. */
  completeCallback(id, outcome, notes) {
    const body = notes ? { outcome, notes } : { outcome };
    return this.request("POST", `/api/callbacks/${encodeURIComponent(id)}/complete`, body);
  }
  /** POST /api/invites → {id, token, url, skill, label, expires_at, max_uses, uses}. */
  createInvite({ skill, label, maxUses, ttlSeconds }) {
    return this.request("POST", "/api/invites", { skill, label, max_uses: maxUses, ttl_seconds: ttlSeconds });
  }
  invites() { return this.request("GET", "/api/invites"); }
  revokeInvite(id) { return this.request("DELETE", `/api/invites/${encodeURIComponent(id)}`); }
  /** GET /api/catalog → {categories: [{code, name, matters: [...]}], materials, departments}. */
  catalog() { return this.request("GET", "/api/catalog"); }
  /** GET /api/calls/{id}/submissions → {submissions: [{id, form_id, values, materials, signature, …}]}. */
  submissions(callId) { return this.request("GET", `/api/calls/${encodeURIComponent(callId)}/submissions`); }

  /**
   * POST /api/calls/{id}/materials with the file itself as the body (no multipart) →
   * {material: {id, kind, content_type, size, sha256, source, by, at, pages, url}}.
   */
  async uploadMaterial(callId, kind, source, blob) {
    const headers = { Accept: "application/json" };
    const token = this.getToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (blob.type) headers["Content-Type"] = blob.type;
    const query = new URLSearchParams({ kind, source });
    let response;
    try {
      response = await fetch(`/api/calls/${encodeURIComponent(callId)}/materials?${query}`, { method: "POST", headers, body: blob, cache: "no-store" });
    } catch (error) {
      throw new ApiError(0, "network", String(error));
    }
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (!response.ok) {
      if (response.status === 401 && token) this.onUnauthorized();
      throw new ApiError(response.status, data?.code || "http_error", data?.message || response.statusText);
    }
    return data;
  }
}
