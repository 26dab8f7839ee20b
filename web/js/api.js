// Minimal client for the gridmap HTTP API (/api/v1/*).
// Adds the bearer key, turns RFC 9457 problem+json responses into ApiError objects,
// and follows `links[rel=next]` pagination of feature collections.

const API_BASE = "/api/v1";

// ---- the sign-in (session) ---------------------------------------------------
//
// People sign in with a name and password (POST /api/v1/auth/token) and get an opaque bearer token that
// lasts one shift (GRIDMAP_SESSION_HOURS). It is kept in localStorage with its expiry, so that a reload,
// a new tab or a browser restart during the shift does not ask again. Why localStorage and not a refresh
// cookie: the token is already revocable server-side at once (sign-out, deactivation, an admin's "end
// sessions"), expires with the shift, and travels only in the Authorization header of same-origin requests
// (no cookie: no CSRF surface, no second authentication path). The price is that script injected into the
// page could read it; the pages build their DOM with textContent/escapeHtml (web/js/ui.js) and load no
// third-party script (everything is vendored). A paired wall screen (kiosk) keeps its read-only token the
// same way. Machine API keys are for systems: no page asks for one.

const SESSION_STORAGE = "gridmap.session";

export class ApiError extends Error {
  /**
   * @param {object} p
   * @param {number} p.status   HTTP status (0 for network failures)
   * @param {string} p.code     machine-readable code from the problem body ("unauthorized", "network", …)
   * @param {string} [p.title]  problem title
   * @param {string} [p.detail] problem detail
   */
  constructor({ status, code, title = "", detail = "", type = "", body = null }) {
    super(detail || title || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.title = title;
    this.detail = detail;
    this.type = type;
    /** The whole problem body: extra members such as `field`, `row`, `reason`, `revision`. */
    this.body = body;
  }

  get isUnauthorized() {
    return this.status === 401;
  }
}

// Fallback when storage is unavailable (private modes, sandboxed frames).
let memorySession = null;

function readSession() {
  let s = memorySession;
  try {
    const raw = localStorage.getItem(SESSION_STORAGE);
    if (raw) s = JSON.parse(raw);
  } catch { /* storage disabled or garbage: use the in-memory copy */ }
  if (!s || !s.token) return null;
  if (s.expires_at && Date.parse(s.expires_at) <= Date.now()) return null;
  return s;
}

/**
 * Automation hook kept for the test-suite and scripts: a bearer token in the URL fragment
 * (`#key=…`) is taken into the session and stripped from the address bar. The pages never make
 * such a link (a person signs in with a password; a wall screen pairs with a one-time code).
 */
export function takeKeyFromLocation() {
  const hash = window.location.hash.replace(/^#/, "");
  if (hash) {
    const params = new URLSearchParams(hash);
    const key = params.get("key");
    if (key !== null) {
      params.delete("key");
      const rest = params.toString();
      const url = window.location.pathname + window.location.search + (rest ? `#${rest}` : "");
      window.history.replaceState(window.history.state, "", url);
      if (key.trim()) setKey(key.trim());
    }
  }
  return getKey();
}

/** The bearer token of the current sign-in ("" when signed out or expired). */
export function getKey() {
  return readSession()?.token || "";
}

/** Store a sign-in (`token`, lasting `expiresIn` seconds) or forget it (`""`). */
export function setKey(token, { expiresIn = null, kiosk = false } = {}) {
  const s = token ? {
    token,
    kiosk,
    expires_at: expiresIn ? new Date(Date.now() + expiresIn * 1000).toISOString() : null,
  } : null;
  memorySession = s;
  try {
    if (s) localStorage.setItem(SESSION_STORAGE, JSON.stringify(s));
    else localStorage.removeItem(SESSION_STORAGE);
  } catch { /* storage disabled: the sign-in then lives only for this page */ }
}

/** Whether this browser is a paired wall screen. */
export function isKiosk() {
  return Boolean(readSession()?.kiosk);
}

/** Sign in with a name and password; the token lasts one shift. Resolves to the token answer. */
export async function signIn(username, password) {
  const form = new URLSearchParams({ username, password });
  const out = await apiSend("auth/token", { form, auth: false });
  setKey(out.access_token, { expiresIn: out.expires_in });
  return out;
}

/** Pair this browser as a wall screen with the one-time code from the admin page. */
export async function pairKiosk(code) {
  const out = await apiSend("auth/kiosk", { json: { code }, auth: false });
  setKey(out.access_token, { expiresIn: out.expires_in, kiosk: true });
  return out;
}

/** Sign out: the server revokes the token at once; the page forgets it even when offline. */
export async function signOut() {
  try {
    if (getKey().startsWith("gmt_")) await apiSend("auth/logout");
  } catch { /* already expired or offline: forgetting it locally is what matters to the person */ }
  setKey("");
}

function currentKey() {
  return getKey();
}

// ---- requests ----------------------------------------------------------------

function resolve(pathOrUrl) {
  const url = new URL(pathOrUrl.startsWith("/") || /^https?:/.test(pathOrUrl)
    ? pathOrUrl
    : `${API_BASE}/${pathOrUrl}`, window.location.origin);
  return url;
}

async function toError(res) {
  let body = null;
  const type = res.headers.get("content-type") || "";
  if (type.includes("json")) {
    try { body = await res.json(); } catch { body = null; }
  }
  if (body && typeof body === "object") {
    return new ApiError({
      status: body.status || res.status,
      code: body.code || (res.status === 401 ? "unauthorized" : `http_${res.status}`),
      title: body.title || "",
      detail: typeof body.detail === "string" ? body.detail : "",
      type: body.type || "",
      body,
    });
  }
  return new ApiError({
    status: res.status,
    code: res.status === 401 ? "unauthorized" : `http_${res.status}`,
    title: res.statusText || "",
  });
}

/**
 * GET a JSON resource. `path` is relative to /api/v1 ("grids") or absolute ("/api/v1/grids?…").
 * @returns {Promise<any>}
 */
export async function apiGet(path, { params, signal } = {}) {
  const url = resolve(path);
  if (params) {
    for (const [k, v] of Object.entries(params)) {
      if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, String(v));
    }
  }
  const headers = { Accept: "application/geo+json, application/json;q=0.9, application/problem+json;q=0.8" };
  // Never leak the key to another origin (e.g. an absolute `next` link).
  const key = currentKey();
  if (key && url.origin === window.location.origin) headers.Authorization = `Bearer ${key}`;

  let res;
  try {
    res = await fetch(url, { headers, signal, credentials: "same-origin" });
  } catch (err) {
    if (err?.name === "AbortError") throw err;
    throw new ApiError({ status: 0, code: "network", detail: String(err?.message || err) });
  }
  if (!res.ok) throw await toError(res);
  try {
    return await res.json();
  } catch {
    throw new ApiError({ status: res.status, code: "bad_response" });
  }
}

/** POST (no body) and return the JSON answer; same key and error handling as apiGet. */
export function apiPost(path, { signal } = {}) {
  return apiSend(path, { signal });
}

/**
 * Send a request with a JSON body (`json`) or a multipart form (`form`, a FormData) and return the
 * JSON answer (null for 204). `headers` adds request headers (Idempotency-Key); `auth: false` sends no
 * token (signing in). Same key and problem+json handling as apiGet; the ApiError carries
 * the whole problem body (`err.body`) for the extra members some refusals have.
 */
export async function apiSend(path, { method = "POST", json, form, signal, headers: extra = {}, auth = true } = {}) {
  const url = resolve(path);
  const headers = { Accept: "application/json, application/geo+json;q=0.9, application/problem+json;q=0.8",
    ...extra };
  const key = auth ? currentKey() : "";
  if (key && url.origin === window.location.origin) headers.Authorization = `Bearer ${key}`;
  let body;
  if (form !== undefined) body = form; // FormData (multipart, the browser sets the boundary) or URLSearchParams
  else if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  }
  let res;
  try {
    res = await fetch(url, { method, headers, body, signal, credentials: "same-origin" });
  } catch (err) {
    if (err?.name === "AbortError") throw err;
    throw new ApiError({ status: 0, code: "network", detail: String(err?.message || err) });
  }
  if (!res.ok) throw await toError(res);
  if (res.status === 204) return null;
  try {
    return await res.json();
  } catch {
    throw new ApiError({ status: res.status, code: "bad_response" });
  }
}

/** The current key, for requests made by libraries (vector tiles): never sent to another origin. */
export function authHeader() {
  const key = currentKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

/**
 * GET a paginated FeatureCollection, following `links[rel=next]` until exhausted.
 * `onPage(features, total)` is called after each page (for progress display).
 */
export async function apiGetAllFeatures(path, { params, signal, onPage, maxPages = 200 } = {}) {
  let page = await apiGet(path, { params, signal });
  const first = page;
  const features = [...(page.features || [])];
  const total = Number.isFinite(page.numberMatched) ? page.numberMatched : null;
  onPage?.(features.length, total);
  for (let i = 1; i < maxPages; i += 1) {
    const next = (page.links || []).find((l) => l && l.rel === "next" && l.href);
    if (!next) break;
    page = await apiGet(next.href, { signal });
    features.push(...(page.features || []));
    onPage?.(features.length, total);
  }
  return { ...first, features, numberReturned: features.length, links: [] };
}

export const api = {
  streets: (opts) => apiGet("streets", opts),
  communities: (opts) => apiGet("communities", opts),
  layouts: (opts) => apiGet("layouts", opts),
  grids: ({ layout, bbox, signal, onPage } = {}) =>
    apiGetAllFeatures("grids", { params: { layout, bbox }, signal, onPage }),
  grid: (code, { layout, signal } = {}) =>
    apiGet(`grids/${encodeURIComponent(code)}`, { params: { layout }, signal }),
  categories: (opts) => apiGet("categories", opts),
  facilities: (opts) => apiGetAllFeatures("facilities", opts),
  heatmap: (params, opts = {}) => apiGet("wall/heatmap", { params, ...opts }),
  summary: (params, opts = {}) => apiGet("wall/summary", { params, ...opts }),
  gridMetrics: (params, opts = {}) => apiGet("wall/grids", { params, ...opts }),
  gridCases: (code, opts = {}) => apiGet(`wall/grids/${encodeURIComponent(code)}/cases`, opts),
  case: (id, opts = {}) => apiGet(`wall/cases/${encodeURIComponent(id)}`, opts),
  replay: (params, opts = {}) => apiGet("wall/replay", { params, ...opts }),
  streamTicket: () => apiPost("wall/stream/ticket"),
};
