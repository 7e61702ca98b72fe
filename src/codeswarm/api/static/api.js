// The API's token and its JSON calls.
"use strict";

export const TOKEN_KEY = "codeswarm.token";
export const session = { token: null };

// The token: from a `#token=` fragment (kept in sessionStorage, dropped from the address bar), or
// from an earlier page of this tab.
export function readToken() {
  const hash = new URLSearchParams(location.hash.replace(/^#/, ""));
  const fromHash = hash.get("token");
  if (fromHash) {
    sessionStorage.setItem(TOKEN_KEY, fromHash);
    // the token leaves the address bar (and so history, bookmarks, screenshots)
    history.replaceState(null, "", location.pathname + location.search);
  }
  session.token = sessionStorage.getItem(TOKEN_KEY);
  return session.token;
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
  session.token = value || null;
}

export function authHeaders() {
  return { Authorization: `Bearer ${session.token}` };
}

export class AuthError extends Error {}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// `path`'s JSON; AuthError on 401, ApiError (the server's code and one-line message) otherwise.
export async function api(path, { method = "GET", body } = {}) {
  const headers = authHeaders();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  if (res.status === 401) throw new AuthError("the token was refused");
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (!res.ok) {
    const err = (data && data.error) || {};
    throw new ApiError(res.status, err.code || "http_error", err.message || `HTTP ${res.status}`);
  }
  return data;
}
