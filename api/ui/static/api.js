// The page's only way to the service: the JSON API under /_siren/connector/, with the
// caller's credentials. Credentials live in this tab's sessionStorage and nowhere else.

const CREDENTIALS_KEY = "connector.authorization";

/** The API's base URL, from where the page is served (…/_siren/connector/_ui/ → …/_siren/connector/). */
export const API_BASE = new URL("../", window.location.href.split("#")[0]);

export const AUTH_MODE = document.querySelector('meta[name="connector-auth-mode"]')?.content || "none";

/** An error answer of the API (SPEC §7), or a network failure (status 0). */
export class ApiError extends Error {
  constructor(status, body, requestId) {
    const error = (body && body.error) || {};
    super(error.reason || (status ? `HTTP ${status}` : "the service did not answer"));
    this.status = status;
    this.type = error.type || (status ? "http_error" : "network_error");
    this.invalid = Array.isArray(error.invalid) ? error.invalid : [];
    this.job = body && body.job;
    this.requestId = requestId;
  }

  /** A sentence for people: what kind of refusal, then the service's reason. */
  get readable() {
    const kinds = {
      0: "The service did not answer",
      400: "Refused",
      401: "Not signed in",
      403: "Not allowed",
      404: "Not found",
      409: "Conflict",
      413: "Too large",
      415: "Wrong content type",
      503: "Elasticsearch is unavailable",
    };
    const kind = kinds[this.status] || (this.status >= 500 ? "Service error" : `HTTP ${this.status}`);
    return this.status === 0 ? `${kind}.` : `${kind}: ${this.message}`;
  }
}

export const credentials = {
  get() {
    return window.sessionStorage.getItem(CREDENTIALS_KEY);
  },
  setToken(token) {
    window.sessionStorage.setItem(CREDENTIALS_KEY, `Bearer ${token.trim()}`);
  },
  setBasic(username, password) {
    const bytes = new TextEncoder().encode(`${username}:${password}`);
    let binary = "";
    for (const b of bytes) binary += String.fromCharCode(b);
    window.sessionStorage.setItem(CREDENTIALS_KEY, `Basic ${btoa(binary)}`);
  },
  clear() {
    window.sessionStorage.removeItem(CREDENTIALS_KEY);
  },
};

const listeners = { unauthorized: [] };

/** Called with the ApiError whenever the service answers 401. */
export function onUnauthorized(fn) {
  listeners.unauthorized.push(fn);
}

function url(path, query) {
  const target = new URL(path, API_BASE);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== null && value !== undefined && value !== "") target.searchParams.set(key, String(value));
  }
  return target;
}

async function send(method, path, { query, body, accept = "application/json" } = {}) {
  const headers = { Accept: accept };
  const auth = credentials.get();
  if (auth) headers.Authorization = auth;
  const init = {
    method,
    headers,
    cache: "no-store",
    // No cookies, and no browser login prompt on a 401: the page asks for credentials itself.
    credentials: "omit",
  };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(url(path, query), init);
  } catch (ex) {
    throw new ApiError(0, null, null);
  }
  if (resp.ok) return resp;
  let parsed = null;
  try {
    parsed = await resp.json();
  } catch (ex) {
    parsed = null;
  }
  const error = new ApiError(resp.status, parsed, resp.headers.get("X-Request-ID"));
  if (resp.status === 401) listeners.unauthorized.forEach((fn) => fn(error));
  throw error;
}

/** Call a JSON endpoint; resolves to the decoded body, rejects with ApiError. */
export async function call(method, path, options = {}) {
  const resp = await send(method, path, options);
  return resp.json();
}

/** Like call, but resolves to {status, body} and does not throw for the listed statuses. */
export async function callAllowing(statuses, method, path, options = {}) {
  try {
    const resp = await send(method, path, options);
    return { status: resp.status, body: await resp.json() };
  } catch (ex) {
    if (ex instanceof ApiError && statuses.includes(ex.status)) return { status: ex.status, body: ex };
    throw ex;
  }
}

/** A text endpoint (the errors report): resolves to {text, filename, type}. */
export async function fetchText(path, query) {
  const accept = query && query.format === "csv" ? "text/csv" : "application/x-ndjson";
  const resp = await send("GET", path, { query, accept });
  const disposition = resp.headers.get("Content-Disposition") || "";
  const match = /filename="([^"]+)"/.exec(disposition);
  return { text: await resp.text(), filename: match ? match[1] : "download", type: resp.headers.get("Content-Type") };
}

export function get(path, query) {
  return call("GET", path, { query });
}

export function post(path, body, query) {
  return call("POST", path, { body, query });
}

export function put(path, body, query) {
  return call("PUT", path, { body, query });
}

export function del(path, query) {
  return call("DELETE", path, { query });
}

// ------------------------------------------------------------------ who is calling

let principal = null;

/** Ask the service who the stored credentials belong to; ApiError 401 when they are refused. */
export async function whoami() {
  principal = await get("_whoami");
  return principal;
}

export function currentPrincipal() {
  return principal;
}

export function forget() {
  principal = null;
  credentials.clear();
}

/** Whether the caller has the scope (admin implies the others, as on the service). */
export function can(scope) {
  if (!principal) return false;
  return principal.scopes.includes(scope) || principal.scopes.includes("admin");
}

/**
 * Disable a control the caller's scope forbids, with a tooltip naming the scope.
 * Returns the element, wrapped so that the tooltip also shows over a disabled button.
 */
export function gate(el, scope) {
  if (can(scope)) return el;
  const why = `Needs the ${scope} scope; ${principal ? principal.name : "you"} has ${
    principal && principal.scopes.length ? principal.scopes.join(", ") : "none"
  }`;
  if (el.tagName === "A") el.removeAttribute("href");
  el.disabled = true;
  el.classList.add("disabled");
  el.title = why;
  el.dataset.requiresScope = scope;
  el.setAttribute("aria-disabled", "true");
  const wrap = document.createElement("span");
  wrap.className = "gated";
  wrap.title = why;
  wrap.append(el);
  return wrap;
}

// ------------------------------------------------------------------ paths

export const enc = encodeURIComponent;
export const jobPath = (id) => `jobs/ingestion/${enc(id)}`;
export const runPath = (id, runId) => `${jobPath(id)}/_runs/${enc(runId)}`;
export const ingestionPath = (id) => `ingestion/${enc(id)}`;
export const datasourcePath = (id) => `datasource/${enc(id)}`;
