// REST calls with the session's tokens. An expired access token is renewed once with
// the refresh token (which rotates); a refused refresh ends the session.

const STORAGE_KEY = "pos.session";

export class ApiError extends Error {
  constructor(status, code, message, fields = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.fields = fields;
  }
}

export const session = {
  load() {
    try {
      return JSON.parse(localStorage.getItem(STORAGE_KEY)) || null;
    } catch {
      return null;
    }
  },
  save(tokens) {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(tokens));
  },
  clear() {
    localStorage.removeItem(STORAGE_KEY);
  },
};

let onSignedOut = () => {};
export function whenSignedOut(callback) {
  onSignedOut = callback;
}

async function parse(response) {
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  if (type.includes("application/json")) return response.json();
  return response.blob();
}

async function send(method, path, { body, headers = {}, token, raw } = {}) {
  const init = { method, headers: { ...headers } };
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (raw !== undefined) {
    init.body = raw;
  } else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  return fetch(path, init);
}

let refreshing = null;

// One refresh at a time across this browser's tabs (they share the tokens, and a refresh
// token used twice ends the session): under the lock, a tab that finds the tokens
// already renewed by another uses those.
function exclusively(work) {
  if (navigator.locks?.request) return navigator.locks.request("pos-token-refresh", work);
  return work();
}

async function refresh(stale) {
  refreshing ??= exclusively(async () => {
    const current = session.load();
    if (!current) throw new ApiError(401, "not_authenticated", "signed out");
    if (stale && current.access !== stale) return current.access;
    const response = await send("POST", "/api/users/auth/refresh/", { body: { refresh: current.refresh } });
    if (response.status === 401) {
      session.clear();
      onSignedOut();
      throw new ApiError(401, "token_expired", "the session has ended");
    }
    if (!response.ok) throw new ApiError(response.status, "http_" + response.status, response.statusText);
    const tokens = await response.json();
    session.save({ ...current, access: tokens.access, refresh: tokens.refresh });
    return tokens.access;
  }).finally(() => {
    refreshing = null;
  });
  return refreshing;
}

export async function accessToken() {
  const current = session.load();
  return current ? current.access : null;
}

export async function freshToken() {
  return refresh(await accessToken());
}

// 503 (the database is restarting, or this business's data is moving): the hub asks
// to send the same request again after Retry-After. Safe for reads, and for writes that
// carry an idempotency key (the hub makes them once); others are left to the user.
const UNAVAILABLE_RETRIES = 5;

function sendsAgain(method, options) {
  return method === "GET" || Boolean(options.headers && options.headers["Idempotency-Key"]);
}

const pause = (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

export async function request(method, path, options = {}) {
  let token = await accessToken();
  let response = await send(method, path, { ...options, token });
  if (response.status === 401 && token) {
    token = await refresh(token);
    response = await send(method, path, { ...options, token });
  }
  for (let n = 0; response.status === 503 && n < UNAVAILABLE_RETRIES && sendsAgain(method, options); n++) {
    await pause(Math.min(Number(response.headers.get("Retry-After")) || 1, 5));
    response = await send(method, path, { ...options, token });
  }
  const data = await parse(response);
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(
      response.status,
      error.code || "http_" + response.status,
      error.message || response.statusText,
      error.fields || {},
    );
  }
  return data;
}

export const api = {
  get: (path, params) => {
    const query = params
      ? "?" + new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ""))
      : "";
    return request("GET", path + query);
  },
  post: (path, body, headers) => request("POST", path, { body, headers }),
  patch: (path, body) => request("PATCH", path, { body }),
  remove: (path) => request("DELETE", path),
  upload: (path, file) =>
    request("POST", path, { raw: file, headers: { "Content-Type": file.type } }),
};

export async function login(username, password) {
  const response = await send("POST", "/api/users/auth/login/", {
    body: { username, password },
  });
  const data = await parse(response);
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(response.status, error.code, error.message, error.fields || {});
  }
  session.save({ access: data.access, refresh: data.refresh });
  const me = await api.get("/api/users/auth/me/");
  session.save({ access: data.access, refresh: data.refresh, me });
  return me;
}

export async function logout() {
  const current = session.load();
  session.clear();
  if (current) {
    await send("POST", "/api/users/auth/logout/", { body: { refresh: current.refresh } }).catch(() => {});
  }
}
