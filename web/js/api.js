// The API client: one fetch wrapper, RFC 9457 problems as ApiError, and the
// session (access token in memory, refresh token in sessionStorage).

const BASE = '/api/v1';
const REFRESH_KEY = 'roster.refresh_token';
// A sign-in waiting for its second factor (from a mailed link opened on the
// account page, continued by the console).
const CHALLENGE_KEY = 'roster.mfa_challenge';

/**
 * An API failure: the problem document's fields, or a network failure
 * (status 0). `retryAfter` is the Retry-After header in seconds (0 if none).
 */
export class ApiError extends Error {
  constructor(status, problem = {}, retryAfter = 0) {
    super(problem.detail || problem.title || `Request failed (${status})`);
    this.name = 'ApiError';
    this.status = status;
    this.type = problem.type || '';
    this.title = problem.title || '';
    this.detail = problem.detail || problem.title || this.message;
    this.errors = Array.isArray(problem.errors) ? problem.errors : [];
    this.retryAfter = retryAfter;
  }
}

export function isAbort(e) {
  return e && e.name === 'AbortError';
}

// --- session state -------------------------------------------------------

let accessToken = null;
let currentUser = null;
let enrollmentRequired = false;
let refreshTimer = 0;
let inflightRefresh = null;
let signedOutHandler = () => {};

export function onSignedOut(fn) {
  signedOutHandler = fn;
}

export function me() {
  return currentUser;
}

export function setMe(user) {
  currentUser = user;
}

/** The signed-in user's roles require a second factor it has not set up. */
export function mustEnrolSecondFactor() {
  return enrollmentRequired;
}

export function setEnrolled() {
  enrollmentRequired = false;
}

export function isSignedIn() {
  return accessToken !== null;
}

export function hasStoredSession() {
  try {
    return !!sessionStorage.getItem(REFRESH_KEY);
  } catch {
    return false;
  }
}

function storeRefresh(token) {
  try {
    if (token) sessionStorage.setItem(REFRESH_KEY, token);
    else sessionStorage.removeItem(REFRESH_KEY);
  } catch {
    /* storage may be unavailable; the session then lasts this page only */
  }
}

let memoryRefresh = null;

function readRefresh() {
  try {
    return sessionStorage.getItem(REFRESH_KEY) || memoryRefresh;
  } catch {
    return memoryRefresh;
  }
}

function adopt(tokens) {
  accessToken = tokens.access_token;
  currentUser = tokens.user || currentUser;
  enrollmentRequired = tokens.mfa_enrollment_required === true;
  memoryRefresh = tokens.refresh_token;
  storeRefresh(tokens.refresh_token);
  clearTimeout(refreshTimer);
  const ttl = Number(tokens.expires_in) || 900;
  // Refresh shortly before expiry: 30 s early, or at 80 % for short lifetimes.
  const seconds = Math.max(5, Math.min(ttl - 30, ttl * 0.8));
  refreshTimer = setTimeout(() => {
    refreshSession().catch(() => {});
  }, seconds * 1000);
}

function forget() {
  accessToken = null;
  currentUser = null;
  memoryRefresh = null;
  clearTimeout(refreshTimer);
  storeRefresh(null);
}

// --- raw requests -----------------------------------------------------------

/**
 * One request. With `stream`, a successful answer comes back unread as
 * {status, response, headers} (the caller reads response.body); failures are
 * ApiErrors either way.
 */
async function send(path, { method = 'GET', body, headers = {}, signal, token, stream = false } = {}) {
  const h = { Accept: 'application/json, application/problem+json', ...headers };
  if (body !== undefined) h['Content-Type'] = 'application/json';
  if (token) h.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(BASE + path, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch (e) {
    if (isAbort(e)) throw e;
    throw new ApiError(0, {
      title: 'Network error',
      detail: 'Could not reach the server. Check your connection and try again.',
    });
  }
  if (stream && res.ok) return { status: res.status, response: res, headers: res.headers };
  let data = null;
  const type = res.headers.get('Content-Type') || '';
  if (res.status !== 204 && res.status !== 304 && type.includes('json')) {
    try {
      data = await res.json();
    } catch (e) {
      if (isAbort(e)) throw e;
      data = null;
    }
  }
  if (!res.ok && res.status !== 304) {
    // Retry-After may also be an HTTP date; roster sends seconds.
    const wait = Number.parseInt(res.headers.get('Retry-After') || '', 10);
    throw new ApiError(res.status, data || { title: res.statusText }, Number.isFinite(wait) && wait > 0 ? wait : 0);
  }
  return { status: res.status, data, etag: res.headers.get('ETag'), headers: res.headers };
}

// --- session operations ----------------------------------------------------

/**
 * The first step's answer: `{user}` once signed in, or `{secondFactor:
 * {token, methods}}` when a second factor is due (see verifySecondFactor).
 */
function firstStep(data) {
  if (data && data.mfa_required) {
    return { secondFactor: { token: data.mfa_token, methods: data.methods || [] } };
  }
  adopt(data);
  return { user: data.user };
}

export async function login(loginName, password) {
  const { data } = await send('/auth/login', {
    method: 'POST',
    body: { login: loginName, password },
  });
  return firstStep(data);
}

/**
 * The second step: `method` is 'totp' or 'recovery' with a code, or
 * 'webauthn' with a passkey's credential (see passkeySecondStep). Returns
 * the user.
 */
export async function verifySecondFactor(challenge, method, proof) {
  const body = { mfa_token: challenge.token, method };
  if (method === 'webauthn') body.credential = proof;
  else body.code = proof;
  const { data } = await send('/auth/mfa/verify', { method: 'POST', body });
  adopt(data);
  try {
    sessionStorage.removeItem(CHALLENGE_KEY);
  } catch {
    /* nothing was kept */
  }
  return data.user;
}

/** Signs in with a passkey alone. Returns the user. */
export async function signInWithPasskey(webauthn) {
  const { data: options } = await send('/auth/webauthn/login/start', { method: 'POST', body: {} });
  const credential = await webauthn.get(options);
  const { data } = await send('/auth/webauthn/login/finish', { method: 'POST', body: { credential } });
  adopt(data);
  return data.user;
}

/** The second step of `challenge` taken with a passkey. Returns the user. */
export async function passkeySecondStep(webauthn, challenge) {
  const { data: options } = await send('/auth/webauthn/login/start', {
    method: 'POST',
    body: { mfa_token: challenge.token },
  });
  const credential = await webauthn.get(options);
  return verifySecondFactor(challenge, 'webauthn', credential);
}

/** A second step left for the console by the account page, taken out. */
export function takePendingChallenge() {
  try {
    const raw = sessionStorage.getItem(CHALLENGE_KEY);
    sessionStorage.removeItem(CHALLENGE_KEY);
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}

/**
 * Signs in with the token of a mailed sign-in link (it works once); the
 * session is kept as login() keeps it. Answers as login() does; a second
 * step due is also kept for the console (/admin/) to continue.
 */
export async function loginWithLink(token) {
  const { data } = await send('/auth/magic-link/confirm', {
    method: 'POST',
    body: { token },
  });
  const r = firstStep(data);
  if (r.secondFactor) {
    try {
      sessionStorage.setItem(CHALLENGE_KEY, JSON.stringify(r.secondFactor));
    } catch {
      /* the console cannot continue it; the person signs in again */
    }
  }
  return r;
}

/**
 * Exchanges the refresh token for a new pair. Concurrent callers share one
 * in-flight request: refreshing one token twice would look like reuse and
 * revoke the session.
 */
export function refreshSession() {
  if (inflightRefresh) return inflightRefresh;
  const token = readRefresh();
  if (!token) return Promise.reject(new ApiError(401, { detail: 'Not signed in.' }));
  inflightRefresh = (async () => {
    try {
      const { data } = await send('/auth/refresh', {
        method: 'POST',
        body: { refresh_token: token },
      });
      adopt(data);
      return data.user;
    } catch (e) {
      if (e instanceof ApiError && e.status !== 0 && e.status < 500 && e.status !== 429) {
        forget();
        signedOutHandler('Your session has ended. Please sign in again.');
      }
      throw e;
    } finally {
      inflightRefresh = null;
    }
  })();
  return inflightRefresh;
}

/** Restores a session after a reload from the stored refresh token. */
export async function restore() {
  if (!readRefresh()) return null;
  return refreshSession();
}

export async function logout() {
  const token = accessToken;
  forget();
  if (token) {
    try {
      await send('/auth/logout', { method: 'POST', token });
    } catch {
      /* the session is gone locally either way */
    }
  }
}

// --- authenticated requests ---------------------------------------------

/**
 * An authenticated request. On a 401 it refreshes once (sharing any refresh
 * already under way) and retries. Returns {status, data, etag}; with
 * `stream: true`, {status, response, headers} with the body unread (the
 * change stream, js/events.js).
 */
export async function request(path, opts = {}) {
  if (!accessToken && inflightRefresh) {
    try {
      await inflightRefresh;
    } catch {
      /* handled below */
    }
  }
  if (!accessToken && !readRefresh()) {
    throw new ApiError(401, { title: 'Authentication required', detail: 'Not signed in.' });
  }
  const used = accessToken;
  try {
    if (!used) throw new ApiError(401, {});
    return await send(path, { ...opts, token: used });
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 401 || opts.signal?.aborted) throw e;
    // Someone else may already have refreshed since this request left.
    if (accessToken === used || !accessToken) {
      await refreshSession();
    }
    return send(path, { ...opts, token: accessToken });
  }
}

/** Like request(), returning only the body. */
export async function api(path, opts) {
  return (await request(path, opts)).data;
}

/** A public request (no token): setup, the mailed links' pages, mail requests. */
export async function publicRequest(path, opts) {
  return send(path, opts);
}

/** Builds a query string, skipping empty values; arrays repeat the key. */
export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v)) v.forEach((x) => u.append(k, x));
    else u.append(k, String(v));
  }
  const s = u.toString();
  return s ? `?${s}` : '';
}
