// api.js - the /v1 API as the UI uses it: the datacenter (?dc=) and the
// ACL token (X-Consul-Token) on every call, errors turned into words a
// person can act on, and blocking queries (index + wait) that back off
// on errors and rest while the tab is hidden.

const TOKEN_KEY = 'cairn.ui.token';
const DC_KEY = 'cairn.ui.dc';

function stored(key) {
  try { return localStorage.getItem(key) || ''; } catch (e) { return ''; }
}
function store(key, v) {
  try {
    if (v) localStorage.setItem(key, v); else localStorage.removeItem(key);
  } catch (e) { /* private mode: this tab only */ }
}

let dc = stored(DC_KEY);
let token = stored(TOKEN_KEY);

export const settings = {
  get dc() { return dc; },
  set dc(v) { dc = v || ''; store(DC_KEY, dc); },
  get token() { return token; },
  set token(v) { token = v || ''; store(TOKEN_KEY, token); },
};

export class ApiError extends Error {
  constructor(kind, status, message, detail) {
    super(message);
    this.kind = kind;     // "network", "leader", "denied", "http"
    this.status = status; // 0 for network errors
    this.detail = detail || '';
  }
}

function httpError(status, text) {
  const body = (text || '').trim().slice(0, 300);
  if (status === 403)
    return new ApiError('denied', 403, 'Permission denied' + (body ? ': ' + body : '') +
      ' \u2014 check the ACL token in Settings.', body);
  if (/no cluster leader/i.test(body))
    return new ApiError('leader', status, 'No cluster leader: the servers have not elected ' +
      'a leader (yet). Lists update again once there is one.', body);
  if (status === 413)
    return new ApiError('http', 413, 'Too large (413)' + (body ? ': ' + body : ''), body);
  return new ApiError('http', status, 'The agent answered ' + status + (body ? ': ' + body : ''), body);
}

// path: "/v1/..." with its segments already encoded; params: query
// parameters (true: a flag without value; undefined/null: left out)
export async function api(path, opts = {}) {
  const { method = 'GET', params = {}, body, signal, allow404 = false, raw = false } = opts;
  const url = new URL(path, location.origin);
  if (dc && opts.dc !== false) url.searchParams.set('dc', dc);
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === false) continue;
    url.searchParams.set(k, v === true ? '' : String(v));
  }
  const headers = {};
  if (token) headers['X-Consul-Token'] = token;
  let res;
  try {
    res = await fetch(url, { method, headers, body, signal, cache: 'no-store', credentials: 'same-origin' });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError('network', 0, 'Cannot reach the Cairn agent: the network is down ' +
      'or the agent stopped. Retrying\u2026');
  }
  const index = Number(res.headers.get('X-Consul-Index') || 0);
  if (res.status === 404 && allow404) {
    await res.arrayBuffer().catch(() => null);
    return { status: 404, index, data: null };
  }
  if (!res.ok) throw httpError(res.status, await res.text().catch(() => ''));
  if (raw) return { status: res.status, index, data: await res.text() };
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch (e) { data = text; }
  }
  return { status: res.status, index, data };
}

// encode a KV key (or any name) for a path: each segment escaped, '/' kept
export function pathOf(key) {
  return key.split('/').map(encodeURIComponent).join('/');
}

const WAIT = '60s';
const BACKOFF_MIN = 1000, BACKOFF_MAX = 30000;

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() { clearTimeout(t); signal.removeEventListener('abort', done); resolve(); }
    signal.addEventListener('abort', done);
  });
}

function visible(signal) {
  return new Promise((resolve) => {
    if (!document.hidden || signal.aborted) { resolve(); return; }
    function done() {
      if (document.hidden && !signal.aborted) return;
      document.removeEventListener('visibilitychange', done);
      signal.removeEventListener('abort', done);
      resolve();
    }
    document.addEventListener('visibilitychange', done);
    signal.addEventListener('abort', done);
  });
}

// status of the live updates, for the footer
const listeners = new Set();
export function onLive(fn) { listeners.add(fn); }
function live(state) { for (const fn of listeners) fn(state); }

// watch(path, params, onData, onError): a blocking query loop.  At most
// one request is in flight; the first answers at once, then each waits
// for a change (?index=<X-Consul-Index>&wait=60s).  An index that goes
// backwards starts over from 0; an error is reported and retried after
// 1 s, 2 s, ... up to 30 s; while the tab is hidden no new request
// starts.  stop() aborts the request in flight.
export function watch(path, params, onData, onError) {
  const ctl = new AbortController();
  const signal = ctl.signal;
  let index = 0, delay = 0, first = true;

  (async () => {
    while (!signal.aborted) {
      if (document.hidden) {
        live('paused');
        await visible(signal);
        if (signal.aborted) break;
      }
      const t0 = Date.now();
      const q = Object.assign({}, params);
      if (index > 0) { q.index = index; q.wait = WAIT; }
      try {
        live('live');
        const r = await api(path, { params: q, signal, allow404: true });
        if (signal.aborted) break;
        const prev = index;
        index = r.index > 0 ? r.index : 0;
        if (index < prev) index = 0; // the state was reset: read afresh
        delay = 0;
        if (first || r.index !== prev) onData(r.data, r);
        else if (Date.now() - t0 < 1000) await sleep(1000, signal); // no storm
        first = false;
      } catch (e) {
        if (signal.aborted || e.name === 'AbortError') break;
        delay = delay ? Math.min(delay * 2, BACKOFF_MAX) : BACKOFF_MIN;
        live('retry');
        onError(e);
        await sleep(delay, signal);
      }
    }
  })();
  return { stop() { ctl.abort(); } };
}
