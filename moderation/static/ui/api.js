// The service's HTTP API, as the moderators' page uses it.
//
// The API key lives in sessionStorage only (gone when the tab closes) and
// travels in the Authorization header, never in a URL: no query string,
// no fragment, no form field with a name.

const STORAGE_KEY = "moderation.apiKey";

let currentKey = null;
let unauthorizedHandler = null;

/** An error answer of the API: ``{"error": {"code", "message", "details"?}}``. */
export class ApiError extends Error {
  constructor(status, code, message, details = [], retryAfter = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = Array.isArray(details) ? details : [];
    this.retryAfter = retryAfter;
  }
}

export function storedKey() {
  try {
    return sessionStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

export function useKey(key, { remember = true } = {}) {
  currentKey = key;
  if (remember) {
    try {
      sessionStorage.setItem(STORAGE_KEY, key);
    } catch {
      // Storage can be disabled; the key then lasts as long as the page.
    }
  }
}

export function forgetKey() {
  currentKey = null;
  try {
    sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    // nothing stored
  }
}

/** Called (once per failing request) when the key stops working mid-session. */
export function onUnauthorized(handler) {
  unauthorizedHandler = handler;
}

/** ``/v1/comments/<id>/decision`` from literal segments and ids, each id encoded. */
export function path(strings, ...values) {
  return strings.reduce(
    (out, part, i) => out + part + (i < values.length ? encodeURIComponent(String(values[i])) : ""),
    "",
  );
}

/** A query string from the non-empty values of ``params`` (never the key). */
export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/**
 * One API call; resolves to the JSON body, rejects with an ApiError.
 * ``quiet401`` leaves a 401 to the caller (the sign-in check).
 */
export async function api(method, url, body, { keepalive = false, quiet401 = false } = {}) {
  if (currentKey === null) throw new ApiError(401, "signed_out", "You are signed out.");
  const headers = { Accept: "application/json", Authorization: `Bearer ${currentKey}` };
  const init = {
    method,
    headers,
    cache: "no-store",
    credentials: "omit",
    referrerPolicy: "no-referrer",
    keepalive,
  };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    throw new ApiError(0, "network_error", "The service cannot be reached. Check the connection and try again.");
  }
  let data = null;
  if ((response.headers.get("Content-Type") || "").includes("application/json")) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    const failure = new ApiError(
      response.status,
      error.code || `http_${response.status}`,
      error.message || response.statusText || `HTTP ${response.status}`,
      error.details,
      response.headers.get("Retry-After"),
    );
    if (response.status === 401 && !quiet401 && unauthorizedHandler) unauthorizedHandler(failure);
    throw failure;
  }
  return data;
}

/** A sentence for an error, for the status line. */
export function describeError(error) {
  if (!(error instanceof ApiError)) return `Something went wrong: ${error && error.message ? error.message : error}`;
  switch (error.status) {
    case 0:
      return error.message;
    case 401:
      return "The API key was not accepted. Sign in again.";
    case 403:
      return "This key is not allowed to do that.";
    case 404:
      return `Not found: ${error.message}`;
    case 409:
      return `Conflict: ${error.message}`;
    case 422:
      return `Not valid: ${error.message}`;
    case 429:
      return `Too many requests; try again${error.retryAfter ? ` in ${error.retryAfter} s` : " shortly"}.`;
    default:
      return `The service answered ${error.status}: ${error.message}`;
  }
}

/** A GET whose answer is not JSON (an export): its body as a Blob; errors as ``api``'s. */
export async function apiBlob(url) {
  if (currentKey === null) throw new ApiError(401, "signed_out", "You are signed out.");
  let response;
  try {
    response = await fetch(url, {
      headers: { Authorization: `Bearer ${currentKey}` },
      cache: "no-store",
      credentials: "omit",
      referrerPolicy: "no-referrer",
    });
  } catch {
    throw new ApiError(0, "network_error", "The service cannot be reached. Check the connection and try again.");
  }
  if (!response.ok) {
    let error = {};
    try {
      error = (await response.json()).error || {};
    } catch {
      error = {};
    }
    const failure = new ApiError(response.status, error.code || `http_${response.status}`, error.message || `HTTP ${response.status}`, error.details);
    if (response.status === 401 && unauthorizedHandler) unauthorizedHandler(failure);
    throw failure;
  }
  return response.blob();
}
