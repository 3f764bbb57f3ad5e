// The one way the page talks to the app process: adds the CSRF header, turns failures into one
// plain sentence, and reports 423 (locked) and 401 (session gone) to main.js.

import {app} from './state.js';

const CSRF_KEY = 'alliance.csrf';

export const OFFLINE_SENTENCE =
  "Can't reach the clinic's server right now — please try again when it's back.";
export const QUEUED_SENTENCE =
  "Can't reach the clinic's server — your message is queued and will be sent when it's back.";
const GENERIC = 'Something went wrong. Please try again.';
const NO_APP = "Can't reach the Alliance app on this computer. Is it still running?";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function csrf() {
  return sessionStorage.getItem(CSRF_KEY);
}
export function setCsrf(token) {
  if (token) sessionStorage.setItem(CSRF_KEY, token);
  else sessionStorage.removeItem(CSRF_KEY);
}

/** Trades the one-time launch token for a session cookie and a CSRF token. */
export async function launch(token) {
  let res;
  try {
    res = await fetch('/auth/launch', {
      method: 'POST',
      headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({token}),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, NO_APP);
  }
  if (!res.ok) {
    throw new ApiError(res.status,
      'That link has already been used. Open Alliance from the newest link the app printed.');
  }
  const body = await res.json();
  setCsrf(body.csrf);
  return body;
}

function sentenceFor(status, body) {
  if (body && typeof body.error === 'string' && body.error.trim()) return body.error.trim();
  if (status === 503) return OFFLINE_SENTENCE;
  if (status === 423) return 'Alliance is locked. Unlock it with your passphrase.';
  if (status === 401) return 'Open Alliance from the link the app printed when it started.';
  return GENERIC;
}

/** Raw request; returns the Response after status handling. `data` is sent as JSON, or as
 * multipart/form-data when it is a FormData (the browser sets the boundary). */
export async function request(method, path, data, {signal} = {}) {
  const headers = {'X-Alliance-CSRF': csrf() || ''};
  const init = {method, headers, credentials: 'same-origin', cache: 'no-store', signal};
  if (data instanceof FormData) {
    init.body = data;
  } else if (data !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(data);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError(0, NO_APP);
  }
  if (res.ok) return res;
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  const err = new ApiError(res.status, sentenceFor(res.status, body));
  if (res.status === 423) app.hooks.locked();
  else if (res.status === 401) app.hooks.sessionLost();
  else if (res.status === 503) app.hooks.offline();
  throw err;
}

export async function api(method, path, data) {
  const res = await request(method, path, data);
  const text = await res.text();
  if (!text) return {};
  try {
    return JSON.parse(text);
  } catch {
    return {};
  }
}

export const get = (path) => api('GET', path);
export const post = (path, data = {}) => api('POST', path, data);

export function cpath(id, rest = '') {
  return `/api/contacts/${encodeURIComponent(id)}${rest}`;
}
