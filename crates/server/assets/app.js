// proxyhealth dashboard: reads the JSON API (docs/api.md) and renders it.
//
// Safety rule for this file: every string that came from the server (names,
// display names, URLs, icons, errors, warnings, versions) reaches the page only
// through textContent, text nodes, or checked DOM properties (img.src, a.href
// after a scheme check). Nothing here parses markup.
'use strict';

(() => {
  const API = {
    summary: '/api/v2/proxyhealth/summary',
    events: '/api/v2/proxyhealth/events',
    list: '/api/v2/workspaceproxies',
    regions: '/api/v2/regions',
    refresh: '/api/v2/workspaceproxies/refresh',
    maintenance: '/api/v2/proxyhealth/maintenance',
    replicas: '/api/v2/proxyhealth/replicas',
    session: '/api/v2/proxyhealth/session',
    logout: '/auth/logout',
  };
  const TOKEN_KEY = 'proxyhealth.adminToken';
  const POLL_MS = 5000;
  /** How often the maintenance windows are read again (admin view). */
  const MAINTENANCE_POLL_MS = 30000;
  const RECONNECT_MS = 15000;
  /** Rows on one page of the table: the DOM holds only these, whatever the fleet's size. */
  const PAGE_SIZE = 50;
  /** Proxies per request while the page reads the whole admin list, a page at a time. */
  const MODEL_PAGE = 1000;
  /** How long the whole list waits for the event stream to say where it starts. */
  const LIVE_WAIT_MS = 3000;
  /** The history strip's length (the server keeps as many). */
  const HISTORY_LEN = 30;

  /** The statuses of docs/api.md, plus `not-ok` for the read-only view (regions only say healthy or not). */
  const KNOWN = ['ok', 'unhealthy', 'unreachable', 'unregistered', 'unknown'];
  const LABEL = {
    ok: 'ok', unhealthy: 'unhealthy', unreachable: 'unreachable',
    unregistered: 'unregistered', unknown: 'unknown', 'not-ok': 'not ok',
  };
  /** Lower is worse: the order of the "status (worst first)" sort. */
  const SEVERITY = { unreachable: 0, 'not-ok': 0, unhealthy: 1, unregistered: 2, unknown: 3, ok: 4 };
  const ADMIN_FILTERS = ['all', 'ok', 'unhealthy', 'unreachable', 'unregistered', 'unknown'];
  const PUBLIC_FILTERS = ['all', 'ok', 'not-ok'];
  const LONG_LINES = 4;
  const LONG_CHARS = 400;
  const FLAP_CHANGES = 4;
  /** A live replica whose view is older than this (several heartbeats) counts as lagging. */
  const LAG_WARN_MS = 5000;

  const state = {
    token: null,
    // GET /api/v2/proxyhealth/session: whether sign-in (OpenID Connect) is
    // configured and who is signed in; null until asked or when unknown.
    session: null,
    mode: 'admin', // 'admin' (workspaceproxies) or 'public' (regions)
    summary: null,
    // The fleet, read whole once and then kept current by the stream's changes:
    // id -> {p, id, n (lowercase name), q (search text), st (status)}.
    model: new Map(),
    complete: false, // the model holds the whole fleet of this mode
    modelMode: null, // the mode the model was read in
    shown: null, // the model filtered and sorted for the table (null: work it out again)
    firstPage: null, // before the model is read: one page from the server {rows, total}
    pageIndex: 0,
    liveGen: null, // the generation the stream's changes start from
    liveWaiters: [],
    queued: [], // changes that arrived while the model was being read
    renderQueued: false,
    reading: false, // the model is being read: changes wait in `queued`
    filter: 'all',
    sort: 'status',
    search: '',
    rows: new Map(), // proxy id -> {key, tr}
    loading: false,
    loadPromise: null,
    again: false,
    lastSuccess: 0,
    es: null, // the open stream: {close()} (an EventSource, or a fetch's abort)
    esView: null, // what the open stream follows: 'proxies', 'regions' or 'page'
    pollTimer: null,
    checking: false,
    replicas: null, // the consistency report (admin only), or null
    page: null, // on a proxy's page (/proxies/{id}): its id or name
    window: '24h', // the proxy page's history window
    detail: null, // the proxy page's data: {proxy, history, historyError}
    view: null, // the proxy page's history, read for the charts
  };

  // ---------- small helpers ----------

  const $ = (sel) => document.querySelector(sel);

  /** Builds an element; `text` sets textContent; children may be nodes or strings (strings become text nodes). */
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v === null || v === undefined || v === false) continue;
        if (k === 'class') node.className = v;
        else if (k === 'text') node.textContent = String(v);
        else if (k === 'dataset') Object.assign(node.dataset, v);
        else node.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const c of children) {
      if (c !== null && c !== undefined && c !== false) node.append(c);
    }
    return node;
  }

  function setText(node, text) {
    const t = String(text);
    if (node && node.textContent !== t) node.textContent = t;
  }

  function str(v) {
    return typeof v === 'string' ? v : '';
  }

  function normStatus(s) {
    return KNOWN.includes(s) ? s : 'unknown';
  }

  /** Parses an RFC 3339 time; null for missing, invalid, or the zero time `0001-01-01T00:00:00Z`. */
  function parseTime(iso) {
    if (typeof iso !== 'string' || iso === '') return null;
    const t = Date.parse(iso);
    if (Number.isNaN(t)) return null;
    if (new Date(t).getUTCFullYear() < 1971) return null;
    return t;
  }

  /** Formatted times by their value: a sweep gives every proxy the same times, and local formatting is slow. */
  const exactTimes = new Map();

  function exactTime(t) {
    let text = exactTimes.get(t);
    if (text === undefined) {
      const d = new Date(t);
      text = `${d.toLocaleString()} (${d.toISOString()})`;
      if (exactTimes.size > 20000) exactTimes.clear();
      exactTimes.set(t, text);
    }
    return text;
  }

  function fmtDuration(ms) {
    let s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return `${s}s`;
    let m = Math.floor(s / 60);
    s %= 60;
    if (m < 10) return s ? `${m}m ${s}s` : `${m}m`;
    if (m < 60) return `${m}m`;
    let h = Math.floor(m / 60);
    m %= 60;
    if (h < 24) return m ? `${h}h ${m}m` : `${h}h`;
    const d = Math.floor(h / 24);
    h %= 24;
    return h ? `${d}d ${h}h` : `${d}d`;
  }

  function fmtRelative(t, now) {
    const diff = now - t;
    // A little clock skew between server and browser must not read as "in 3s".
    if (diff < 5000 && diff > -60000) return 'just now';
    return diff > 0 ? `${fmtDuration(diff)} ago` : `in ${fmtDuration(-diff)}`;
  }

  function fmtMs(ms) {
    if (typeof ms !== 'number' || !Number.isFinite(ms)) return '—';
    if (ms < 10) return `${ms.toFixed(1)} ms`;
    if (ms < 1000) return `${Math.round(ms)} ms`;
    return `${(ms / 1000).toFixed(2)} s`;
  }

  /** A share (0 to 1) as a percentage, rounded down so that a single failure never reads 100 %. */
  function fmtUptime(u) {
    if (typeof u !== 'number' || !Number.isFinite(u)) return '—';
    if (u >= 1) return '100%';
    return `${(Math.floor(u * 10000) / 100).toFixed(2)}%`;
  }

  function uptimeLevel(u) {
    if (typeof u !== 'number') return 'none';
    if (u >= 0.999) return 'good';
    if (u >= 0.95) return 'fair';
    return 'poor';
  }

  function plural(n, one, many) {
    return `${n} ${n === 1 ? one : many}`;
  }

  /** Only http(s) URLs become links. */
  function isWebUrl(u) {
    return /^https?:\/\//i.test(u);
  }

  /** Only same-origin paths (not protocol-relative `//host`) and http(s) URLs become images. */
  function isImageUrl(u) {
    return (u.startsWith('/') && !u.startsWith('//')) || u.startsWith('http://') || u.startsWith('https://');
  }

  // ---------- token ----------

  const memoryStore = {};
  function storeGet(k) {
    try { return window.sessionStorage.getItem(k); } catch { return memoryStore[k] ?? null; }
  }
  function storeSet(k, v) {
    try { window.sessionStorage.setItem(k, v); } catch { memoryStore[k] = v; }
  }
  function storeDel(k) {
    try { window.sessionStorage.removeItem(k); } catch { delete memoryStore[k]; }
  }

  /** Takes `#token=…` out of the address bar (into sessionStorage), then returns the stored token. */
  function initToken() {
    const hash = location.hash.replace(/^#/, '');
    if (hash) {
      const params = new URLSearchParams(hash);
      if (params.has('token')) {
        const t = (params.get('token') || '').trim();
        params.delete('token');
        const rest = params.toString();
        history.replaceState(history.state, '', location.pathname + location.search + (rest ? `#${rest}` : ''));
        if (t) storeSet(TOKEN_KEY, t);
      }
    }
    const stored = storeGet(TOKEN_KEY);
    return stored && stored.trim() ? stored.trim() : null;
  }

  /** Whether this browser acts with a signed-in session (and no pasted token). */
  function viaSession() {
    return !state.token && Boolean(state.session && state.session.signed_in);
  }

  /** Whether the dashboard reads as someone: a pasted token, or a session. */
  function authed() {
    return Boolean(state.token) || viaSession();
  }

  /** The role this browser acts in: the session's; with a pasted token the page does
   *  not know the token's role, so it offers everything and the server decides. */
  function role() {
    if (state.token) return 'admin';
    return viaSession() ? state.session.role : null;
  }

  /** Whether the role may act on the checking (check now): operator or admin. */
  function mayOperate() {
    const r = role();
    return r === 'admin' || r === 'operator';
  }

  /** Asks the server whether sign-in is configured and who is signed in. */
  async function loadSession() {
    try {
      const res = await fetch(API.session, { headers: { Accept: 'application/json' }, cache: 'no-store', credentials: 'same-origin' });
      if (res.status === 401) {
        // a tampered, ended or expired session: sign in again
        state.session = { oidc: true, signed_in: false, login_url: '/auth/login' };
      } else if (res.ok) {
        state.session = await res.json();
      } else {
        state.session = null;
      }
    } catch {
      state.session = null;
    }
  }

  /** Ends the signed-in session (the server removes its cookie). */
  async function endSession() {
    try {
      await api('POST', API.logout);
    } catch (e) {
      showAuthError(`Sign out failed: ${e.message}`);
    }
    state.session = { oidc: true, signed_in: false, login_url: '/auth/login' };
  }

  function signIn(token) {
    state.token = token;
    storeSet(TOKEN_KEY, token);
    hideAuthError();
  }

  function signOut(reason) {
    if (viaSession()) state.session = { oidc: true, signed_in: false, login_url: '/auth/login' };
    state.token = null;
    storeDel(TOKEN_KEY);
    if (reason) showAuthError(reason);
    renderAuth();
  }

  // ---------- API ----------

  class ApiError extends Error {
    constructor(status, message, detail) {
      super(message);
      this.status = status;
      this.detail = detail || '';
    }
  }

  /** Calls the API; resolves to the parsed JSON body, rejects with ApiError carrying the error envelope. */
  async function api(method, path) {
    const headers = { Accept: 'application/json' };
    if (state.token) headers.Authorization = `Bearer ${state.token}`;
    else if (method !== 'GET' && viaSession()) headers['X-Proxyhealth-CSRF'] = state.session.csrf_token;
    let res;
    try {
      res = await fetch(path, { method, headers, cache: 'no-store', credentials: 'same-origin' });
    } catch (e) {
      throw new ApiError(0, 'Could not reach the proxyhealth server', String((e && e.message) || e));
    }
    let body = null;
    let raw = '';
    try { raw = await res.text(); } catch { raw = ''; }
    if (raw) {
      try { body = JSON.parse(raw); } catch { body = null; }
    }
    if (!res.ok) {
      const isObj = body && typeof body === 'object';
      const message = isObj && typeof body.message === 'string' && body.message ? body.message : `HTTP ${res.status} ${res.statusText}`.trim();
      const parts = [];
      if (isObj && typeof body.detail === 'string' && body.detail) parts.push(body.detail);
      if (isObj && Array.isArray(body.validations)) {
        for (const v of body.validations) {
          if (v && typeof v === 'object') parts.push(`${str(v.field)}: ${str(v.detail)}`);
        }
      }
      throw new ApiError(res.status, message, parts.join('\n'));
    }
    if (body === null || typeof body !== 'object') {
      throw new ApiError(res.status, 'The server answered with something that is not JSON', raw.slice(0, 200));
    }
    return body;
  }

  function regionsOf(body) {
    return Array.isArray(body.regions) ? body.regions.filter((r) => r && typeof r === 'object') : [];
  }

  function statusOf(p) {
    if (state.mode === 'public') return p.healthy === true ? 'ok' : 'not-ok';
    return normStatus(p.status && typeof p.status === 'object' ? p.status.status : 'unknown');
  }

  // ---------- loading ----------

  /** Reads what the page shows (summary, then the proxies). Calls coalesce. */
  function load() {
    if (state.loading) {
      state.again = true;
      return state.loadPromise;
    }
    state.loading = true;
    state.loadPromise = (async () => {
      try {
        do {
          state.again = false;
          await loadOnce();
        } while (state.again);
      } finally {
        state.loading = false;
      }
    })();
    return state.loadPromise;
  }

  /** The server's sort for the table's (null: only the page can sort so). */
  function serverSort() {
    return { status: '-status', name: 'name', 'latency-desc': '-latency', 'latency-asc': 'latency' }[state.sort] || null;
  }

  /** The list route's address for one page of what the table shows now. */
  function pageUrl(offset, limit) {
    const params = new URLSearchParams({ sort: serverSort() || 'name', offset: String(offset), limit: String(limit) });
    if (state.filter !== 'all' && KNOWN.includes(state.filter)) params.set('status', state.filter);
    if (state.search.trim()) params.set('name', state.search.trim());
    return `${API.list}?${params}`;
  }

  async function loadOnce() {
    if (state.page !== null) {
      await loadProxyOnce();
      return;
    }
    let summary;
    let mode = 'public';
    try {
      try {
        summary = await api('GET', API.summary);
      } catch (e) {
        if (e.status === 401 && authed()) {
          signOut(`The token was rejected: ${e.message}`);
          summary = await api('GET', API.summary);
        } else {
          throw e;
        }
      }
      publishSummary(summary);
      if (authed()) {
        try {
          if (!state.complete || state.modelMode !== 'admin') {
            // The first view: one page from the server, before the whole list.
            const first = await api('GET', pageUrl(0, PAGE_SIZE));
            state.mode = 'admin';
            state.firstPage = { rows: regionsOf(first).map((p) => entryOf(p, 'admin')), total: num(first.total) ?? 0 };
            state.pageIndex = 0;
            render();
          }
          await liveStart('proxies');
          state.reading = true;
          try {
            await loadModel('admin');
            drainQueued();
          } finally {
            state.reading = false;
          }
          mode = 'admin';
        } catch (e) {
          if ((e.status === 401 || e.status === 403) && viaSession()) {
            // the session may not read the full list (its role, or it ended):
            // ask who is signed in, and show the public view meanwhile
            await loadSession();
            renderAuth();
          } else if (e.status === 401) signOut(`The token was rejected (401): ${e.message}${e.detail ? ` — ${e.detail}` : ''}`);
          else if (e.status === 403) signOut(`This token may not read the proxies (403): ${e.message}`);
          else throw e;
        }
      }
      if (mode === 'public') {
        await liveStart('regions');
        state.reading = true;
        try {
          setModel('public', regionsOf(await api('GET', API.regions)));
          drainQueued();
        } finally {
          state.reading = false;
        }
      }
    } catch (e) {
      if (e.status === 401 && !authed()) {
        showAuthError('This server needs a token even for the read-only view.');
        renderAuth();
      }
      showNotice(e.status ? `Could not load the dashboard data (HTTP ${e.status}): ${e.message}` : `${e.message}.`, e.detail, 'load');
      markStale();
      return;
    }
    state.mode = mode;
    state.replicas = mode === 'admin' ? await loadReplicas() : null;
    state.lastSuccess = Date.now();
    hideNotice('load');
    render();
  }

  /** Reads the whole admin list a page at a time (each a short task), then makes it the model. */
  async function loadModel(mode) {
    const all = [];
    let total = Infinity;
    for (let offset = 0; offset < total; offset += MODEL_PAGE) {
      const body = await api('GET', `${API.list}?sort=name&offset=${offset}&limit=${MODEL_PAGE}`);
      const regions = regionsOf(body);
      total = num(body.total) ?? 0;
      for (const p of regions) all.push(p);
      if (regions.length === 0) break;
    }
    setModel(mode, all);
  }

  /** Replaces the model with `list`, read in `mode`. */
  function setModel(mode, list) {
    state.model = new Map();
    for (const p of list) {
      const e = entryOf(p, mode);
      state.model.set(e.id, e);
    }
    state.modelMode = mode;
    state.complete = true;
    state.firstPage = null;
    state.shown = null;
    document.body.dataset.model = 'complete';
    if (!document.body.dataset.modelMs) document.body.dataset.modelMs = String(Math.round(performance.now()));
  }

  /** A proxy of the model with what filtering and sorting read, worked out once. */
  function entryOf(p, mode) {
    const name = str(p.name);
    const lower = name.toLowerCase();
    const st = mode === 'public' ? (p.healthy === true ? 'ok' : 'not-ok')
      : normStatus(p.status && typeof p.status === 'object' ? p.status.status : 'unknown');
    const lat = mode === 'admin' && p.status && typeof p.status.latency_ms === 'number' ? p.status.latency_ms : null;
    return { p, id: str(p.id) || `name:${name}`, name, n: lower, q: `${lower}\n${str(p.display_name).toLowerCase()}`, st, lat, up: uptimeOf(p, 'last_30d') };
  }

  /** Shows a summary: the tiles and the generation the page is at. */
  function publishSummary(summary) {
    state.summary = summary;
    if (summary && (typeof summary.generation === 'number' || typeof summary.generation === 'string')) {
      document.body.dataset.generation = String(summary.generation);
    }
  }

  /** The replicas' consistency report; null when it cannot be read (the panel then hides: it is an extra, never a reason to fail the page). */
  async function loadReplicas() {
    try {
      return await api('GET', API.replicas);
    } catch {
      return null;
    }
  }

  function markStale() {
    document.body.classList.add('stale');
    if (state.lastSuccess) {
      const since = fmtRelative(state.lastSuccess, Date.now());
      setText($('#generation-info'), `showing data loaded ${since}`);
    }
  }

  // ---------- live updates ----------

  function setLive(mode, title) {
    const live = $('#live');
    live.dataset.state = mode;
    const text = { connecting: 'connecting…', live: 'live', polling: `polling every ${POLL_MS / 1000} s`, offline: 'offline' }[mode] || mode;
    setText(live.querySelector('.live-text'), text);
    live.title = title || '';
  }

  function startPolling() {
    if (state.pollTimer) return;
    state.pollTimer = window.setInterval(load, POLL_MS);
    setLive('polling', 'The event stream is unavailable; re-reading the API every 5 seconds.');
  }

  function stopPolling() {
    if (state.pollTimer) window.clearInterval(state.pollTimer);
    state.pollTimer = null;
  }

  /** What the stream should follow: a proxy's page reloads on each sweep; the fleet follows the changes of its list. */
  function wantedView() {
    if (state.page !== null) return 'page';
    return authed() ? 'proxies' : 'regions';
  }

  /**
   * Makes sure the stream follows `view` and has said where its changes start (or failed),
   * so the list read next misses no change. Waits at most LIVE_WAIT_MS.
   */
  function liveStart(view) {
    if (state.esView !== view || !state.es) connectEvents();
    if (state.liveGen !== null || state.pollTimer) return Promise.resolve();
    return new Promise((resolve) => {
      state.liveWaiters.push(resolve);
      window.setTimeout(resolve, LIVE_WAIT_MS);
    });
  }

  function liveReady() {
    const waiters = state.liveWaiters;
    state.liveWaiters = [];
    for (const w of waiters) w();
  }

  function closeEvents() {
    if (state.es) state.es.close();
    state.es = null;
    state.esView = null;
    state.liveGen = null;
    state.queued = [];
  }

  function connectEvents() {
    closeEvents();
    const view = wantedView();
    state.esView = view;
    const url = view === 'page' ? API.events : `${API.events}?view=${view}`;
    const handlers = {
      open: () => {
        stopPolling();
        setLive('live', 'Connected to the event stream: the page updates after every sweep.');
      },
      sweep: (data) => {
        if (view === 'page') {
          load();
          return;
        }
        publishSummary(data);
        scheduleRender();
      },
      proxies: (data) => onChange(data),
      regions: (data) => onChange(data),
      resync: (data) => {
        state.liveGen = num(data.generation);
        state.queued = [];
        load();
      },
      failed: () => {
        startPolling();
        liveReady();
      },
    };
    const retry = () => window.setTimeout(() => {
      if (state.esView === view) connectEvents();
    }, RECONNECT_MS);
    if (view === 'proxies') state.es = streamWithToken(url, handlers, retry);
    else state.es = eventSource(url, handlers, retry);
    if (!state.es) {
      state.esView = null;
      handlers.failed();
    }
  }

  /** The stream as an EventSource (no token needed); null where there is none. */
  function eventSource(url, handlers, retry) {
    if (!('EventSource' in window)) return null;
    let es;
    try {
      es = new EventSource(url);
    } catch {
      return null;
    }
    es.addEventListener('open', handlers.open);
    for (const name of ['sweep', 'proxies', 'regions', 'resync']) {
      es.addEventListener(name, (ev) => {
        let data;
        try { data = JSON.parse(ev.data); } catch { return; }
        handlers[name](data);
      });
    }
    es.addEventListener('error', () => {
      handlers.failed();
      if (es.readyState === EventSource.CLOSED) {
        es.close();
        retry();
      }
    });
    return es;
  }

  /**
   * The stream read with fetch, so it can carry the admin token (an EventSource cannot send
   * headers): the same server-sent events, parsed here.
   */
  function streamWithToken(url, handlers, retry) {
    if (!('ReadableStream' in window) || !('TextDecoderStream' in window)) return null;
    const abort = new AbortController();
    let closed = false;
    (async () => {
      const res = await fetch(url, {
        headers: state.token ? { Accept: 'text/event-stream', Authorization: `Bearer ${state.token}` } : { Accept: 'text/event-stream' },
        cache: 'no-store', credentials: 'same-origin', signal: abort.signal,
      });
      if (!res.ok || !res.body) throw new ApiError(res.status, `HTTP ${res.status}`);
      handlers.open();
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += value;
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          dispatchBlock(buffer.slice(0, end), handlers);
          buffer = buffer.slice(end + 2);
          end = buffer.indexOf('\n\n');
        }
      }
    })().catch(() => {}).finally(() => {
      if (closed) return;
      handlers.failed();
      retry();
    });
    return { close: () => { closed = true; abort.abort(); } };
  }

  /** One server-sent event block: `event:` and `data:` lines. */
  function dispatchBlock(block, handlers) {
    let name = 'message';
    const data = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) name = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (!data.length || !Object.hasOwn(handlers, name) || name === 'open' || name === 'failed') return;
    let parsed;
    try { parsed = JSON.parse(data.join('\n')); } catch { return; }
    handlers[name](parsed);
  }

  /** A `proxies` or `regions` event: where the stream starts, or a change to apply. */
  function onChange(d) {
    const from = num(d.from);
    const to = num(d.generation);
    if (from === null || to === null) return;
    if (from === to) {
      // The stream (re)started: changes before it may be missed, so a model read earlier is read again.
      state.liveGen = to;
      state.queued = [];
      liveReady();
      if (state.complete) load();
      return;
    }
    if (!state.complete || state.reading) {
      state.queued.push(d);
      return;
    }
    applyChange(d);
    scheduleRender();
  }

  /** Applies the changes that arrived while the model was read. */
  function drainQueued() {
    const queued = state.queued;
    state.queued = [];
    for (const d of queued) applyChange(d);
  }

  /** Applies one change to the model; a change that does not follow the last reads the list again. */
  function applyChange(d) {
    if (!state.complete) return;
    if (num(d.from) !== state.liveGen) {
      state.liveGen = num(d.generation);
      load();
      return;
    }
    state.liveGen = num(d.generation);
    const mode = state.modelMode;
    for (const id of Array.isArray(d.removed) ? d.removed : []) state.model.delete(String(id));
    const changed = (Array.isArray(d.changed) ? d.changed : []).filter((p) => p && typeof p === 'object');
    const at = parseTime(d.checked_at);
    // Proxies whose latency alone moved: set it before their check is added to the history.
    for (const c of Array.isArray(d.latencies) ? d.latencies : []) {
      const e = c && state.model.get(str(c.id));
      if (!e || typeof c.latency_ms !== 'number' || !e.p.status || typeof e.p.status !== 'object') continue;
      e.p.status.latency_ms = c.latency_ms;
      if (mode === 'admin') e.lat = c.latency_ms;
    }
    if (at !== null && mode === 'admin') {
      // Every other proxy was checked by this sweep with the same result.
      const ids = new Set(changed.map((p) => str(p.id)));
      for (const e of state.model.values()) {
        if (!ids.has(e.id)) checkedAgain(e.p, d.checked_at, at);
      }
    }
    for (const p of changed) {
      const e = entryOf(p, mode);
      const before = state.model.get(e.id);
      if (before && p.uptime === undefined && before.p.uptime !== undefined) {
        p.uptime = before.p.uptime;
        e.up = before.up;
      }
      // the stream's proxies carry no window: the one read with the list holds until its end
      if (before && p.maintenance === undefined && maintenanceOf(before.p)) p.maintenance = before.p.maintenance;
      state.model.set(e.id, e);
    }
    state.shown = null;
    document.body.dataset.liveGeneration = String(state.liveGen);
  }

  /** A proxy checked again at `iso` with its last result: its time and one more history point. */
  function checkedAgain(p, iso, at) {
    const st = p.status;
    if (!st || typeof st !== 'object') return;
    const was = parseTime(st.checked_at);
    if (was !== null && was >= at) return;
    st.checked_at = iso;
    if (Array.isArray(st.history)) {
      const latency = typeof st.latency_ms === 'number' ? Math.round(st.latency_ms) : null;
      st.history.push({ status: st.last_result, checked_at: iso, latency_ms: latency });
      if (st.history.length > HISTORY_LEN) st.history.splice(0, st.history.length - HISTORY_LEN);
    }
  }

  /** Renders once at the next frame, however many changes arrive before it. */
  function scheduleRender() {
    if (state.renderQueued) return;
    state.renderQueued = true;
    window.requestAnimationFrame(() => {
      state.renderQueued = false;
      if (state.page === null) render();
    });
  }

  // ---------- check now ----------

  async function checkNow() {
    if (state.checking) return;
    if (!mayOperate()) {
      renderAuth();
      if (!authed()) $('#token-input').focus();
      return;
    }
    const btn = $('#check-now');
    state.checking = true;
    btn.disabled = true;
    btn.setAttribute('aria-busy', 'true');
    setText(btn.querySelector('.btn-label'), 'Checking…');
    setText($('#check-status'), '');
    hideNotice('check');
    try {
      const body = await api('POST', API.refresh);
      const n = regionsOf(body).length;
      setText($('#check-status'), `Checked ${plural(n, 'proxy', 'proxies')}`);
      window.setTimeout(() => setText($('#check-status'), ''), 4000);
      // A live stream brings the sweep's changes by itself.
      if (state.liveGen === null || state.pollTimer) await load();
    } catch (e) {
      if (e.status === 401) {
        signOut(`The token was rejected (401): ${e.message}`);
      }
      showNotice(`Check now failed${e.status ? ` (HTTP ${e.status})` : ''}: ${e.message}`, e.detail, 'check');
    } finally {
      state.checking = false;
      btn.removeAttribute('aria-busy');
      setText(btn.querySelector('.btn-label'), 'Check now');
      renderAuth();
    }
  }

  // ---------- notices ----------

  function showNotice(message, detail, kind) {
    const n = $('#notice');
    n.dataset.kind = kind;
    setText(n.querySelector('.notice-message'), message);
    const d = n.querySelector('.notice-detail');
    setText(d, detail || '');
    d.hidden = !detail;
    n.hidden = false;
  }

  function hideNotice(kind) {
    const n = $('#notice');
    if (!kind || n.dataset.kind === kind) n.hidden = true;
  }

  function showAuthError(msg) {
    const e = $('#auth-error');
    setText(e, msg);
    e.hidden = false;
  }

  function hideAuthError() {
    const e = $('#auth-error');
    e.hidden = true;
    setText(e, '');
  }

  // ---------- rendering ----------

  function render() {
    document.body.classList.remove('stale');
    renderAuth();
    renderSummary();
    renderFilters();
    renderRows();
    renderReplicas();
    tick();
  }

  /** The replicas panel: one line per replica in cluster mode, with a warning when one lags, the replicas disagree or proxies are stale; only the note in the other modes. */
  function renderReplicas() {
    const panel = $('#replicas');
    const r = state.replicas;
    if (!r || typeof r !== 'object' || state.mode !== 'admin') {
      panel.hidden = true;
      return;
    }
    panel.hidden = false;
    const mode = str(r.mode);
    const cluster = mode === 'cluster';
    panel.classList.toggle('compact', !cluster);
    panel.dataset.mode = mode;
    const replicas = cluster && Array.isArray(r.replicas) ? r.replicas.filter((x) => x && typeof x === 'object') : [];
    const disagreements = Array.isArray(r.disagreements) ? r.disagreements.filter((x) => x && typeof x === 'object') : [];
    const stale = Array.isArray(r.stale) ? r.stale.filter((x) => x && typeof x === 'object') : [];
    const live = replicas.filter((x) => x.live === true);
    setText($('#replicas-mode'), cluster ? `${plural(live.length, 'live replica', 'live replicas')} of ${replicas.length}` : mode);

    const list = $('#replica-list');
    list.replaceChildren(...replicas.map(replicaLine));

    const lagging = live.filter(isLagging);
    const warnings = [];
    if (lagging.length) warnings.push(`${plural(lagging.length, 'replica lags', 'replicas lag')} behind the newest result`);
    if (disagreements.length) {
      const names = disagreements.map((d) => str(d.name) || str(d.proxy_id)).join(', ');
      warnings.push(`replicas disagree about ${plural(disagreements.length, 'proxy', 'proxies')}: ${names}`);
    }
    if (stale.length) {
      const names = stale.map((d) => str(d.name) || str(d.proxy_id)).join(', ');
      warnings.push(`no recent result for ${plural(stale.length, 'proxy', 'proxies')}: ${names}`);
    }
    const warning = $('#replicas-warning');
    setText(warning, warnings.length ? `⚠ ${warnings.join('; ')}` : '');
    warning.hidden = warnings.length === 0;

    const note = $('#replicas-note');
    setText(note, str(r.note));
    note.hidden = !str(r.note);
  }

  function isLagging(x) {
    return typeof x.lag_generations === 'number' && x.lag_generations > 0
      && typeof x.lag_ms === 'number' && x.lag_ms >= LAG_WARN_MS;
  }

  /** One replica: marker, host, state, heartbeat age, version, address, view generation, lag. */
  function replicaLine(x) {
    const state = x.stopped_at ? 'stopped' : x.live === true ? 'live' : 'dead';
    const age = typeof x.heartbeat_age_ms === 'number' ? `heartbeat ${fmtDuration(x.heartbeat_age_ms)} ago` : '';
    const lagN = typeof x.lag_generations === 'number' ? x.lag_generations : 0;
    const lag = lagN > 0 ? `lag ${lagN} (${fmtMs(typeof x.lag_ms === 'number' ? x.lag_ms : NaN)})` : 'up to date';
    return el('li', { class: 'replica', dataset: { replicaId: str(x.id), state } },
      el('span', { class: 'replica-this', text: x.this === true ? 'this' : '', title: x.this === true ? 'The replica that served this page' : null }),
      el('span', { class: 'replica-host', text: str(x.hostname) || str(x.id), title: str(x.id) }),
      el('span', { class: 'replica-state', text: state, dataset: { state } }),
      el('span', { class: 'replica-meta', text: age }),
      el('span', { class: 'replica-meta', text: str(x.version) }),
      el('span', { class: 'replica-meta', text: str(x.listen_addr) }),
      el('span', { class: 'replica-meta', text: `view ${typeof x.view_generation === 'number' ? x.view_generation : '?'}` }),
      el('span', { class: 'replica-lag', text: lag, dataset: { lagging: String(x.live === true && isLagging(x)) } }));
  }

  function renderAuth() {
    const signedIn = authed();
    const operate = mayOperate();
    $('#auth').hidden = signedIn;
    $('#sign-out').hidden = !signedIn;
    const who = $('#who');
    who.hidden = !viaSession();
    setText(who.querySelector('.who-name'), viaSession() ? str(state.session.name) : '');
    setText(who.querySelector('.who-role'), viaSession() ? str(state.session.role) : '');
    const sso = $('#sso-sign-in');
    sso.hidden = signedIn || !(state.session && state.session.oidc);
    sso.href = `/auth/login?return_to=${encodeURIComponent(location.pathname + location.search)}`;
    const btn = $('#check-now');
    // a viewer is not offered what its role may not do (the server refuses it anyway)
    btn.hidden = signedIn && !operate;
    btn.disabled = !operate || state.checking;
    btn.title = operate ? 'Run a health sweep of every proxy now' : 'Check now needs a token or an operator: sign in first';
    document.body.dataset.mode = signedIn ? 'admin' : 'public';
    document.body.dataset.role = role() || '';
  }

  function renderSummary() {
    const s = state.summary || {};
    const counts = s.counts && typeof s.counts === 'object' ? s.counts : {};
    const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
    for (const st of KNOWN) {
      const tile = document.querySelector(`.tile[data-count-for="${st}"]`);
      const n = num(counts[st]);
      setText(tile.querySelector('.tile-count'), n);
      tile.classList.toggle('zero', n === 0);
      if (st === 'unknown') tile.hidden = n === 0;
    }
    const total = typeof s.total === 'number' ? s.total : KNOWN.reduce((a, st) => a + num(counts[st]), 0);
    setText(document.querySelector('.tile[data-count-for="total"] .tile-count'), total);

    const bad = num(counts.unhealthy) + num(counts.unreachable) + num(counts.unregistered);
    const headline = $('#summary-title');
    let text;
    let tone;
    if (total === 0) {
      text = 'No proxies registered yet';
      tone = 'none';
    } else if (bad === 0 && num(counts.unknown) === 0) {
      text = total === 1 ? 'The proxy is healthy' : `All ${total} proxies are healthy`;
      tone = 'ok';
    } else if (bad === 0) {
      text = `${plural(num(counts.unknown), 'proxy has', 'proxies have')} not been checked yet`;
      tone = 'unknown';
    } else {
      text = `${bad} of ${plural(total, 'proxy', 'proxies')} ${bad === 1 ? 'needs' : 'need'} attention`;
      tone = num(counts.unreachable) > 0 ? 'unreachable' : num(counts.unhealthy) > 0 ? 'unhealthy' : 'unregistered';
    }
    setText(headline, text);
    headline.dataset.tone = tone;
    document.title = bad > 0 ? `(${bad}) proxyhealth` : 'proxyhealth';

    const last = s.last_sweep && typeof s.last_sweep === 'object' ? s.last_sweep : null;
    const errBox = $('#sweep-error');
    const sweepErr = last && last.error !== null && last.error !== undefined && last.error !== '' ? String(last.error) : '';
    setText(errBox.querySelector('.sweep-error-text'), sweepErr);
    errBox.hidden = !sweepErr;

    const info = $('#sweep-info');
    const when = info.querySelector('.sweep-when');
    const started = last ? parseTime(last.started_at) : null;
    if (started !== null) {
      when.replaceChildren('Last sweep ', relTime(started));
    } else {
      when.replaceChildren(last ? 'Last sweep: time unknown' : 'No sweep has run yet');
    }
    setText(info.querySelector('.sweep-took'), last && typeof last.duration_ms === 'number' ? `took ${fmtMs(last.duration_ms)}` : '');
    const interval = typeof s.interval_ms === 'number' && s.interval_ms > 0 ? s.interval_ms : 0;
    setText(info.querySelector('.sweep-interval'), interval ? `runs every ${fmtDuration(interval)}` : '');
    const next = info.querySelector('.sweep-next');
    if (interval && started !== null) {
      next.dataset.nextAt = String(started + interval);
    } else {
      delete next.dataset.nextAt;
      setText(next, '');
    }
    setText($('#generation-info'), s.generation !== undefined ? `generation ${s.generation}` : '');
  }

  /** A <time> element whose text is kept relative by tick() and whose title is the exact time. */
  function relTime(t) {
    const node = el('time', { datetime: new Date(t).toISOString(), title: exactTime(t), class: 'rel', dataset: { t: String(t) } });
    node.textContent = fmtRelative(t, Date.now());
    return node;
  }

  function renderFilters() {
    const wanted = state.mode === 'public' ? PUBLIC_FILTERS : ADMIN_FILTERS;
    if (!wanted.includes(state.filter)) state.filter = 'all';
    const box = $('#filters');
    const counts = filterCounts();
    if (box.dataset.mode !== state.mode) {
      box.dataset.mode = state.mode;
      box.replaceChildren();
      for (const f of wanted) {
        const b = el('button', { type: 'button', class: 'chip', dataset: { filter: f, status: f } },
          el('span', { class: 'chip-symbol', 'aria-hidden': 'true' }),
          el('span', { class: 'chip-label', text: f === 'all' ? 'All' : LABEL[f] }),
          el('span', { class: 'chip-count' }));
        b.addEventListener('click', () => {
          state.filter = f;
          viewChanged();
        });
        box.append(b);
      }
    }
    for (const b of box.querySelectorAll('button')) {
      const f = b.dataset.filter;
      const n = counts[f] || 0;
      setText(b.querySelector('.chip-count'), n);
      b.setAttribute('aria-pressed', String(f === state.filter));
      b.classList.toggle('zero', n === 0);
      // `unknown` only appears when something is unknown (or it is the active filter).
      b.hidden = f === 'unknown' && n === 0 && state.filter !== 'unknown';
    }
  }

  /** Proxies per filter chip: from the model, or from the summary until the model is read. */
  function filterCounts() {
    if (!state.complete) {
      const c = state.summary && isObj(state.summary.counts) ? state.summary.counts : {};
      const counts = { all: num(state.summary && state.summary.total) ?? 0 };
      for (const st of KNOWN) counts[st] = num(c[st]) ?? 0;
      return counts;
    }
    const counts = { all: state.model.size };
    for (const e of state.model.values()) counts[e.st] = (counts[e.st] || 0) + 1;
    return counts;
  }

  /** The filter, search or sort changed: back to the first page, shown at once (or asked of the server until the model is read). */
  function viewChanged() {
    state.shown = null;
    state.pageIndex = 0;
    renderFilters();
    if (!state.complete && state.firstPage && authed()) {
      askServerPage();
      return;
    }
    renderRows();
  }

  /** Before the model is read: the page the table shows now, from the server. */
  async function askServerPage() {
    const asked = pageUrl(state.pageIndex * PAGE_SIZE, PAGE_SIZE);
    state.asked = asked;
    try {
      const body = await api('GET', asked);
      if (state.asked !== asked || state.complete) return;
      state.firstPage = { rows: regionsOf(body).map((p) => entryOf(p, 'admin')), total: num(body.total) ?? 0 };
      renderRows();
    } catch {
      // The model, read meanwhile, answers instead.
    }
  }

  /** Orders by name as the server does: lowercase, then exactly. */
  function byName(a, b) {
    if (a.n !== b.n) return a.n < b.n ? -1 : 1;
    if (a.name !== b.name) return a.name < b.name ? -1 : 1;
    return 0;
  }

  /** Missing values last, whatever the direction. */
  function missingLast(a, b, diff) {
    if (a === null || b === null) return (a === null) - (b === null);
    return diff;
  }

  /** The model filtered and sorted as the table shows it (kept until something changes). */
  function shownProxies() {
    if (state.shown) return state.shown;
    const q = state.search.trim().toLowerCase();
    const f = state.filter;
    const out = [];
    for (const e of state.model.values()) {
      if (f !== 'all' && e.st !== f) continue;
      if (q && !e.q.includes(q)) continue;
      out.push(e);
    }
    const cmp = {
      name: byName,
      status: (a, b) => (SEVERITY[a.st] - SEVERITY[b.st]) || byName(a, b),
      'latency-desc': (a, b) => missingLast(a.lat, b.lat, b.lat - a.lat) || byName(a, b),
      'latency-asc': (a, b) => missingLast(a.lat, b.lat, a.lat - b.lat) || byName(a, b),
      'uptime-asc': (a, b) => missingLast(a.up, b.up, a.up - b.up) || byName(a, b),
    }[state.sort] || byName;
    out.sort(cmp);
    state.shown = out;
    return out;
  }

  function renderRows() {
    const table = $('#proxy-table');
    table.dataset.mode = state.mode;
    // Latency is only known with the admin token.
    const sort = $('#sort');
    for (const opt of sort.options) {
      if (opt.value.startsWith('latency') || opt.value.startsWith('uptime')) opt.disabled = state.mode === 'public';
    }
    if (state.mode === 'public' && (state.sort.startsWith('latency') || state.sort.startsWith('uptime'))) {
      state.sort = 'status';
      sort.value = 'status';
      state.shown = null;
    }
    let page;
    let total;
    if (state.complete) {
      const shown = shownProxies();
      total = shown.length;
      const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
      if (state.pageIndex >= pages) state.pageIndex = pages - 1;
      page = shown.slice(state.pageIndex * PAGE_SIZE, (state.pageIndex + 1) * PAGE_SIZE);
    } else if (state.firstPage) {
      page = state.firstPage.rows;
      total = state.firstPage.total;
    } else {
      page = [];
      total = 0;
    }
    const tbody = $('#proxy-rows');
    const scrollY = window.scrollY;
    const wanted = [];
    const kept = new Map();
    for (const e of page) {
      const key = `${state.mode}|${JSON.stringify(e.p)}`;
      let entry = state.rows.get(e.id);
      if (!entry || entry.key !== key) {
        const tr = buildRow(e.p, e.id);
        if (entry) {
          keepOpenDetails(entry.tr, tr);
          if (entry.tr.parentNode) entry.tr.replaceWith(tr);
        }
        entry = { key, tr };
      }
      kept.set(e.id, entry);
      wanted.push(entry.tr);
    }
    // Only the rows of this page are kept: the DOM never grows with the fleet.
    state.rows = kept;
    // Put the wanted rows in order, moving as few nodes as possible.
    let cursor = tbody.firstChild;
    for (const tr of wanted) {
      if (tr === cursor) {
        cursor = cursor.nextSibling;
      } else {
        tbody.insertBefore(tr, cursor);
      }
    }
    while (cursor) {
      const next = cursor.nextSibling;
      cursor.remove();
      cursor = next;
    }
    const empty = $('#empty');
    if (wanted.length === 0) {
      const none = state.complete ? state.model.size === 0 : !state.firstPage || (total === 0 && state.filter === 'all' && !state.search.trim());
      setText(empty, none
        ? 'No proxies registered yet. Create one with POST /api/v2/workspaceproxies.'
        : 'No proxy matches this filter or search.');
      empty.hidden = !state.complete && !state.firstPage;
    } else {
      empty.hidden = true;
    }
    renderPager(total);
    renderVantages('fleet', page);
    if (window.scrollY !== scrollY) window.scrollTo(window.scrollX, scrollY);
    if (wanted.length && !document.body.dataset.firstRowsMs) {
      document.body.dataset.firstRowsMs = String(Math.round(performance.now()));
    }
  }

  /** "1–50 of 10,000" and the buttons to the other pages; hidden when one page holds everything. */
  function renderPager(total) {
    const pager = $('#pager');
    const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    pager.hidden = total <= PAGE_SIZE;
    pager.dataset.page = String(state.pageIndex + 1);
    pager.dataset.pages = String(pages);
    pager.dataset.total = String(total);
    const from = Math.min(total, state.pageIndex * PAGE_SIZE + 1);
    const to = Math.min(total, (state.pageIndex + 1) * PAGE_SIZE);
    setText($('#pager-range'), `${fmtCount(from)}–${fmtCount(to)} of ${plural(total, 'proxy', 'proxies').replace(/^\d+/, fmtCount(total))}`);
    $('#pager-first').disabled = state.pageIndex === 0;
    $('#pager-prev').disabled = state.pageIndex === 0;
    $('#pager-next').disabled = state.pageIndex >= pages - 1;
    $('#pager-last').disabled = state.pageIndex >= pages - 1;
  }

  /** Shows another page of the table. */
  function goToPage(index) {
    state.pageIndex = Math.max(0, index);
    if (!state.complete && authed()) askServerPage();
    else renderRows();
    const top = $('#proxies');
    if (top.getBoundingClientRect().top < 0) top.scrollIntoView({ block: 'start' });
  }

  /** Carries the open/closed state of folded messages (and keyboard focus on them) over to a rebuilt row. */
  function keepOpenDetails(oldTr, newTr) {
    const open = new Set();
    for (const d of oldTr.querySelectorAll('details[open][data-key]')) open.add(d.dataset.key);
    const active = document.activeElement;
    const focusedKey = active && oldTr.contains(active) && active.parentElement && active.parentElement.dataset
      ? active.parentElement.dataset.key : undefined;
    for (const d of newTr.querySelectorAll('details[data-key]')) {
      if (open.has(d.dataset.key)) d.open = true;
      if (focusedKey && d.dataset.key === focusedKey) {
        const summary = d.querySelector('summary');
        if (summary) queueMicrotask(() => summary.focus({ preventScroll: true }));
      }
    }
  }

  function buildRow(p, id) {
    const status = statusOf(p);
    const st = state.mode === 'admin' && p.status && typeof p.status === 'object' ? p.status : null;
    const tr = el('tr', { class: 'proxy-row', dataset: { proxyId: id, proxyName: str(p.name), status } });

    tr.append(el('th', { scope: 'row', class: 'col-proxy', 'data-label': 'Proxy' }, proxyCell(p)));
    tr.append(el('td', { class: 'col-status', 'data-label': 'Status' }, statusCell(p, status, st)));
    if (state.mode === 'admin') {
      tr.append(el('td', { class: 'col-latency num admin-only', 'data-label': 'Latency' },
        el('span', { class: 'latency', text: st ? fmtMs(st.latency_ms) : '—', title: st && st.latency_ms === null ? 'No request was made' : null })));
      tr.append(el('td', { class: 'col-uptime num admin-only', 'data-label': 'Uptime' },
        uptimeFigure(p, 'last_24h', '24 h'), uptimeFigure(p, 'last_30d', '30 d')));
      const changed = st ? parseTime(st.status_changed_at) : null;
      tr.append(el('td', { class: 'col-since admin-only', 'data-label': 'In status for' },
        changed === null
          ? el('span', { class: 'muted', text: '—' })
          : el('span', { class: 'since', title: `In this status since ${exactTime(changed)}`, dataset: { since: String(changed) }, text: fmtDuration(Date.now() - changed) })));
      const checked = st ? parseTime(st.checked_at) : null;
      tr.append(el('td', { class: 'col-checked admin-only', 'data-label': 'Checked' },
        checked === null ? el('span', { class: 'muted', text: 'never' }) : relTime(checked)));
      tr.append(el('td', { class: 'col-history admin-only', 'data-label': 'History' }, historyStrip(st)));
      tr.append(el('td', { class: 'col-messages admin-only', 'data-label': 'Errors and warnings' }, messagesCell(st)));
    }
    return tr;
  }

  /**
   * The expiry of the TLS certificate the proxy presented, as a tag beside its name (admin view,
   * https proxies whose certificate the last check saw): the date and the days left (text only).
   */
  function certTag(st) {
    const at = st ? parseTime(st.tls_not_after) : null;
    if (at === null) return null;
    const days = typeof st.tls_days_left === 'number' && Number.isFinite(st.tls_days_left)
      ? st.tls_days_left : Math.floor((at - Date.now()) / 86400000);
    const expired = at <= Date.now() || days < 0;
    const date = new Date(at).toISOString().slice(0, 10);
    return el('span', {
      class: expired ? 'tag tag-warn cert cert-expired' : 'tag cert',
      title: `TLS certificate valid until ${exactTime(at)}`,
      dataset: { daysLeft: String(days) },
      text: expired ? `TLS certificate expired ${date}` : `TLS certificate until ${date} · ${plural(days, 'day', 'days')} left`,
    });
  }

  function proxyCell(p) {
    const wrap = el('div', { class: 'proxy' });
    wrap.append(iconNode(str(p.icon_url)));
    const names = el('div', { class: 'proxy-names' });
    const display = str(p.display_name) || str(p.name);
    if (state.mode === 'admin' && str(p.id)) {
      const a = el('a', { class: 'display-name proxy-link', title: 'History, latency and incidents of this proxy' });
      a.href = proxyPath(str(p.id));
      a.textContent = display;
      names.append(a);
    } else {
      names.append(el('span', { class: 'display-name', text: display }));
    }
    const meta = el('div', { class: 'proxy-meta' });
    meta.append(el('code', { class: 'proxy-name', text: str(p.name) }));
    if (p.derp_only === true) meta.append(el('span', { class: 'tag', text: 'DERP only' }));
    if (p.deleted === true) meta.append(el('span', { class: 'tag tag-warn', text: 'deleted' }));
    if (str(p.version)) meta.append(el('span', { class: 'tag version', text: str(p.version), title: 'Version the proxy reported' }));
    const cert = state.mode === 'admin' && p.status && typeof p.status === 'object' ? certTag(p.status) : null;
    if (cert) meta.append(cert);
    names.append(meta);
    const url = str(p.path_app_url);
    if (url) {
      if (isWebUrl(url)) {
        const a = el('a', { class: 'proxy-url', target: '_blank', rel: 'noopener noreferrer' });
        a.href = url;
        a.textContent = url;
        names.append(a);
      } else {
        names.append(el('span', { class: 'proxy-url', text: url }));
      }
    } else if (state.mode === 'admin') {
      names.append(el('span', { class: 'proxy-url muted', text: 'no URL yet (not registered)' }));
    }
    wrap.append(names);
    return wrap;
  }

  function iconNode(icon) {
    const box = el('span', { class: 'icon', 'aria-hidden': 'true' });
    if (icon && isImageUrl(icon)) {
      const img = document.createElement('img');
      img.alt = '';
      img.loading = 'lazy';
      img.decoding = 'async';
      img.referrerPolicy = 'no-referrer';
      img.addEventListener('error', () => {
        img.remove();
        box.classList.add('icon-missing');
      });
      img.src = icon;
      box.append(img);
    } else if (icon) {
      box.classList.add('icon-text');
      box.textContent = icon;
      box.title = icon;
    } else {
      box.classList.add('icon-missing');
    }
    return box;
  }

  /** The share of `ok` checks the list gives for `key` (`last_24h`, `last_30d`), or null. */
  function uptimeOf(p, key) {
    const u = p && p.uptime && typeof p.uptime === 'object' ? p.uptime[key] : null;
    return typeof u === 'number' && Number.isFinite(u) ? u : null;
  }

  /** One uptime figure of a row (`24 h` or `30 d`), with its period as a small label. */
  function uptimeFigure(p, key, period) {
    const u = uptimeOf(p, key);
    return el('span', {
      class: 'uptime',
      dataset: { period: key, level: uptimeLevel(u) },
      title: u === null ? `No checks recorded in the last ${period}` : `Share of checks that were ok in the last ${period}`,
    }, el('span', { class: 'uptime-value', text: fmtUptime(u) }), el('span', { class: 'uptime-period', text: period }));
  }

  /**
   * Reads the maintenance windows and marks the model's proxies with the ones active now (the
   * event stream carries no window: one made or started while the page is open shows here).
   */
  async function refreshMaintenance() {
    if (state.mode !== 'admin' || !state.complete) return;
    let body;
    try { body = await api('GET', API.maintenance); } catch { return; }
    const now = Date.now();
    const own = new Map();
    let all = null;
    for (const w of Array.isArray(body.windows) ? body.windows : []) {
      const c = w && w.current && typeof w.current === 'object' ? w.current : null;
      const from = c ? parseTime(c.starts_at) : null;
      const to = c ? parseTime(c.ends_at) : null;
      if (from === null || to === null || from > now || to <= now) continue;
      if (w.all === true) all = all && parseTime(all.ends_at) > to ? all : c;
      else if (w.proxy_id) own.set(str(w.proxy_id), c);
    }
    for (const e of state.model.values()) {
      const m = own.get(e.id) || all;
      if (m) e.p.maintenance = m;
      else delete e.p.maintenance;
    }
    state.shown = null;
    scheduleRender();
  }

  /** The maintenance window the proxy is in now (`{id, reason, starts_at, ends_at}`), or null. */
  function maintenanceOf(p) {
    const m = p && p.maintenance && typeof p.maintenance === 'object' ? p.maintenance : null;
    if (!m) return null;
    const ends = parseTime(m.ends_at);
    return ends !== null && ends > Date.now() ? m : null;
  }

  function statusCell(p, status, st) {
    const wrap = el('div', { class: 'status-cell' });
    wrap.append(el('span', { class: 'badge', dataset: { status }, text: LABEL[status] }));
    const maint = maintenanceOf(p);
    if (maint) {
      wrap.append(el('span', {
        class: 'tag tag-maint',
        title: `In maintenance until ${exactTime(parseTime(maint.ends_at))}: ${str(maint.reason)}. Probes go on; changes are not notified.`,
        text: 'maintenance',
      }));
    }
    if (st && typeof st.last_result === 'string' && st.last_result && normStatus(st.last_result) !== status) {
      wrap.append(el('span', {
        class: 'last-result',
        title: 'The status only changes after several equal results in a row (hysteresis)',
        text: `last check: ${normStatus(st.last_result)}`,
      }));
    }
    const hist = st && Array.isArray(st.history) ? st.history : [];
    let changes = 0;
    for (let i = 1; i < hist.length; i++) {
      if (hist[i] && hist[i - 1] && hist[i].status !== hist[i - 1].status) changes++;
    }
    if (changes >= FLAP_CHANGES) {
      wrap.append(el('span', {
        class: 'tag tag-flap',
        title: `Changed ${changes} times in the last ${hist.length} checks`,
        text: `flapping (${changes}×)`,
      }));
    }
    return wrap;
  }

  function historyStrip(st) {
    const hist = st && Array.isArray(st.history) ? st.history.filter((h) => h && typeof h === 'object') : [];
    if (hist.length === 0) return el('span', { class: 'muted', text: 'no checks yet' });
    const slots = 30;
    const shown = hist.slice(-slots);
    const counts = {};
    const strip = el('div', { class: 'history', role: 'img' });
    shown.forEach((h, i) => {
      const s = normStatus(h.status);
      counts[s] = (counts[s] || 0) + 1;
      const t = parseTime(h.checked_at);
      const when = t === null ? 'time unknown' : exactTime(t);
      const cell = el('span', { class: 'cell', dataset: { status: s }, title: `${s} · ${when} · ${fmtMs(h.latency_ms)}` });
      if (i === 0) cell.style.gridColumnStart = String(slots - shown.length + 1);
      strip.append(cell);
    });
    const parts = KNOWN.filter((s) => counts[s]).map((s) => `${counts[s]} ${s}`);
    strip.setAttribute('aria-label', `Last ${plural(shown.length, 'check', 'checks')}: ${parts.join(', ')}`);
    return strip;
  }

  function messagesCell(st) {
    const report = st && st.report && typeof st.report === 'object' ? st.report : {};
    const errors = Array.isArray(report.errors) ? report.errors : [];
    const warnings = Array.isArray(report.warnings) ? report.warnings : [];
    const wrap = el('div', { class: 'messages' });
    wrap.append(messageList('errors', 'Errors', errors));
    wrap.append(messageList('warnings', 'Warnings', warnings));
    if (errors.length === 0 && warnings.length === 0) wrap.append(el('span', { class: 'muted none', text: 'none' }));
    return wrap;
  }

  function messageList(kind, label, items) {
    const list = el('ul', { class: `${kind} msg-list`, 'aria-label': label });
    items.forEach((raw, i) => {
      const text = typeof raw === 'string' ? raw : JSON.stringify(raw);
      const li = el('li', { class: `msg msg-${kind}` });
      const lines = text.split('\n');
      if (lines.length > LONG_LINES || text.length > LONG_CHARS) {
        const first = lines[0].length > 200 ? `${lines[0].slice(0, 200)}…` : lines[0];
        const d = el('details', { class: 'msg-details', dataset: { key: `${kind}:${i}` } },
          el('summary', {},
            el('span', { class: 'msg-preview', text: first }),
            el('span', { class: 'msg-more', text: `${plural(lines.length, 'line', 'lines')}, ${text.length} chars` })),
          el('div', { class: 'msg-text', text }));
        li.append(d);
      } else {
        li.append(el('div', { class: 'msg-text', text }));
      }
      list.append(li);
    });
    return list;
  }

  /** Keeps relative times, time-in-status and the next-sweep countdown current. */
  function tick() {
    const now = Date.now();
    for (const t of document.querySelectorAll('time.rel[data-t]')) {
      setText(t, fmtRelative(Number(t.dataset.t), now));
    }
    for (const s of document.querySelectorAll('.since[data-since]')) {
      setText(s, fmtDuration(now - Number(s.dataset.since)));
    }
    const next = document.querySelector('.sweep-next[data-next-at]');
    if (next) {
      const at = Number(next.dataset.nextAt);
      setText(next, at > now + 1000 ? `next in ~${fmtDuration(at - now)}` : 'next sweep due');
    }
  }

  // ---------- a proxy's page (/proxies/{id}) ----------

  /** The history windows the API knows (`?window=`). */
  const WINDOWS = ['24h', '7d', '30d', '90d'];
  const SECOND_MS = 1000;
  const MINUTE_MS = 60 * SECOND_MS;
  const HOUR_MS = 60 * MINUTE_MS;
  const DAY_MS = 24 * HOUR_MS;
  const SVG_NS = 'http://www.w3.org/2000/svg';
  /** Left and right margins of both charts: they share them so that their time axes line up. */
  const PLOT = { left: 64, right: 14 };
  /** Steps between time-axis ticks, shortest first. */
  const TICK_STEPS = [10 * SECOND_MS, 30 * SECOND_MS, MINUTE_MS, 5 * MINUTE_MS, 15 * MINUTE_MS, 30 * MINUTE_MS, HOUR_MS, 3 * HOUR_MS,
    6 * HOUR_MS, 12 * HOUR_MS, DAY_MS, 2 * DAY_MS, 7 * DAY_MS, 14 * DAY_MS, 30 * DAY_MS];
  /** How bad a status is on the timeline (lower is worse); a pixel shows the worst status it covers. */
  const RANK = { unreachable: 0, unhealthy: 1, unregistered: 2, unknown: 3, ok: 4, none: 5 };

  /** The proxy (id or name) of a `/proxies/{id}` address, or null on the fleet page. */
  function proxyRoute() {
    const m = /^\/proxies\/([^/]+)\/?$/.exec(location.pathname);
    if (!m) return null;
    try {
      return decodeURIComponent(m[1]);
    } catch {
      return null;
    }
  }

  /** The address of a proxy's page. */
  function proxyPath(id) {
    return `/proxies/${encodeURIComponent(id)}`;
  }

  /** The window of the address (`?window=7d`), else 24 hours. */
  function windowFromUrl() {
    const w = new URLSearchParams(location.search).get('window');
    return WINDOWS.includes(w) ? w : '24h';
  }

  /** Builds an SVG element; `text` sets textContent, every other prop is an attribute. */
  function svg(tag, props, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === null || v === undefined) continue;
      if (k === 'text') node.textContent = String(v);
      else if (k === 'dataset') Object.assign(node.dataset, v);
      else node.setAttribute(k, String(v));
    }
    for (const c of children) {
      if (c) node.append(c);
    }
    return node;
  }

  function isObj(v) {
    return v !== null && typeof v === 'object';
  }

  function num(v) {
    return typeof v === 'number' && Number.isFinite(v) ? v : null;
  }

  /** A short local date and time for the charts and incidents. */
  function fmtClock(t, withSeconds) {
    const opts = { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' };
    if (withSeconds) opts.second = '2-digit';
    return new Date(t).toLocaleString([], opts);
  }

  function fmtCount(n) {
    return Number(n).toLocaleString();
  }

  /** Shows why the page has nothing to show; the history panels hide until a load succeeds. */
  function showPageMessage(text) {
    $('#proxy-page').dataset.loaded = 'false';
    const p = $('#proxy-missing');
    setText(p, text);
    p.hidden = false;
  }

  function hidePageMessage() {
    $('#proxy-missing').hidden = true;
  }

  /** Reads the proxy and its history over the chosen window, then renders the page. */
  async function loadProxyOnce() {
    if (!authed()) {
      renderAuth();
      setText($('#proxy-title'), state.page);
      showPageMessage('A proxy’s page needs a token: sign in above.');
      return;
    }
    const base = `${API.list}/${encodeURIComponent(state.page)}`;
    const asked = state.window;
    let proxy;
    try {
      proxy = await api('GET', base);
    } catch (e) {
      if (e.status === 401 || e.status === 403) {
        signOut(`The token was rejected (${e.status}): ${e.message}`);
        showPageMessage('A proxy’s page needs a token: sign in above.');
      } else if (e.status === 404) {
        setText($('#proxy-title'), state.page);
        showPageMessage(`${e.message} There is no proxy with the id or name ${JSON.stringify(state.page)}.`);
      } else {
        showNotice(e.status ? `Could not load the proxy (HTTP ${e.status}): ${e.message}` : `${e.message}.`, e.detail, 'load');
        markStale();
      }
      return;
    }
    let history = null;
    let historyError = '';
    try {
      history = await api('GET', `${base}/history?window=${encodeURIComponent(asked)}`);
    } catch (e) {
      historyError = `${e.message}${e.detail ? ` ${e.detail}` : ''}`;
    }
    if (asked !== state.window) {
      // Another window was chosen meanwhile: read that one instead.
      state.again = true;
      return;
    }
    state.detail = { proxy, history, historyError };
    state.lastSuccess = Date.now();
    hideNotice('load');
    hidePageMessage();
    $('#proxy-page').dataset.loaded = 'true';
    renderProxyPage();
    document.body.dataset.pageLoads = String(Number(document.body.dataset.pageLoads || 0) + 1);
  }

  function renderProxyPage() {
    document.body.classList.remove('stale');
    renderAuth();
    const { proxy, history, historyError } = state.detail;
    renderProxyHead(proxy);
    renderVantages('proxy', proxy);
    renderWindows();
    if (history && isObj(history)) {
      renderHistory(history);
    } else {
      const why = historyError || 'No history.';
      setText($('#window-uptime'), '');
      $('#timeline').replaceChildren(el('p', { class: 'empty', text: why }));
      $('#latency-chart').replaceChildren();
      renderIncidents([]);
    }
    setText($('#generation-info'), state.lastSuccess ? `loaded ${new Date(state.lastSuccess).toLocaleTimeString()}` : '');
    tick();
  }

  /** The proxy's names, icon, URL, current status, latency and messages. */
  function renderProxyHead(p) {
    const st = isObj(p.status) ? p.status : null;
    const status = normStatus(st ? st.status : 'unknown');
    const display = str(p.display_name) || str(p.name);
    document.title = `${display} · proxyhealth`;
    const names = el('div', { class: 'proxy-names' }, el('h2', { id: 'proxy-title', class: 'proxy-title', text: display }));
    const meta = el('div', { class: 'proxy-meta' }, el('code', { class: 'proxy-name', text: str(p.name) }));
    if (p.derp_only === true) meta.append(el('span', { class: 'tag', text: 'DERP only' }));
    if (p.deleted === true) meta.append(el('span', { class: 'tag tag-warn', text: 'deleted' }));
    if (str(p.version)) meta.append(el('span', { class: 'tag version', text: str(p.version), title: 'Version the proxy reported' }));
    names.append(meta);
    const url = str(p.path_app_url);
    if (url && isWebUrl(url)) {
      const a = el('a', { class: 'proxy-url', target: '_blank', rel: 'noopener noreferrer' });
      a.href = url;
      a.textContent = url;
      names.append(a);
    } else {
      names.append(el('span', { class: url ? 'proxy-url' : 'proxy-url muted', text: url || 'no URL yet (not registered)' }));
    }
    $('#proxy-head').replaceChildren(el('div', { class: 'proxy' }, iconNode(str(p.icon_url)), names));

    const changed = st ? parseTime(st.status_changed_at) : null;
    const checked = st ? parseTime(st.checked_at) : null;
    const now = $('#proxy-now');
    now.dataset.status = status;
    now.replaceChildren(
      statusCell(p, status, st),
      el('dl', { class: 'facts' },
        el('div', {}, el('dt', { text: 'Latency' }), el('dd', { class: 'latency', text: st ? fmtMs(st.latency_ms) : '—' })),
        el('div', {}, el('dt', { text: 'In status for' }), el('dd', {}, changed === null
          ? '—'
          : el('span', { class: 'since', title: `In this status since ${exactTime(changed)}`, dataset: { since: String(changed) }, text: fmtDuration(Date.now() - changed) }))),
        el('div', {}, el('dt', { text: 'Checked' }), el('dd', {}, checked === null ? 'never' : relTime(checked))),
        el('div', { class: 'facts-strip' }, el('dt', { text: 'Last checks' }), el('dd', {}, historyStrip(st)))));
    $('#proxy-messages').replaceChildren(messagesCell(st));
  }

  function renderWindows() {
    for (const b of document.querySelectorAll('#windows button[data-window]')) {
      b.setAttribute('aria-pressed', String(b.dataset.window === state.window));
    }
  }

  function chooseWindow(w) {
    if (!WINDOWS.includes(w) || w === state.window) return;
    state.window = w;
    const params = new URLSearchParams(location.search);
    params.set('window', w);
    history.replaceState(history.state, '', `${location.pathname}?${params}${location.hash}`);
    renderWindows();
    load();
  }

  /** The history answer, checked and turned into times (ms): what both charts draw. */
  function readHistory(h) {
    const since = parseTime(h.since);
    const until = parseTime(h.until);
    const transitions = (Array.isArray(h.transitions) ? h.transitions : [])
      .filter(isObj)
      .map((t) => ({ at: parseTime(t.at), to: normStatus(t.to), report: isObj(t.report) ? t.report : {} }))
      .filter((t) => t.at !== null)
      .sort((a, b) => a.at - b.at);
    const buckets = (Array.isArray(h.buckets) ? h.buckets : [])
      .filter(isObj)
      .map((b) => ({
        hour: parseTime(b.hour),
        checks: num(b.checks) || 0,
        ok: num(b.ok) || 0,
        uptime: num(b.uptime),
        median: num(b.latency_median_ms),
        max: num(b.latency_max_ms),
      }))
      .filter((b) => b.hour !== null)
      .sort((a, b) => a.hour - b.hour);
    const startStatus = typeof h.status_at_start === 'string' ? normStatus(h.status_at_start) : null;
    const end = until === null ? Date.now() : until;
    let start = since === null ? end - DAY_MS : since;
    // A proxy with no status before the window is drawn from its first record on:
    // there is nothing to show before it.
    let recordedFrom = null;
    if (startStatus === null) {
      recordedFrom = transitions.length ? transitions[0].at : buckets.length ? buckets[0].hour : null;
      if (recordedFrom !== null && recordedFrom > start) start = recordedFrom;
    }
    start = Math.min(start, end - 15 * SECOND_MS);
    return { start, end, startStatus, transitions, buckets, recordedFrom };
  }

  function renderHistory(h) {
    state.view = readHistory(h);
    const v = state.view;
    const checks = num(h.checks) || 0;
    const okChecks = num(h.ok_checks) || 0;
    const parts = [];
    const uptime = $('#window-uptime');
    uptime.replaceChildren(
      el('span', { class: 'window-uptime-figure', dataset: { level: uptimeLevel(num(h.uptime)) }, text: `${fmtUptime(num(h.uptime))} uptime` }));
    parts.push(checks ? `${fmtCount(okChecks)} of ${fmtCount(checks)} checks ok` : 'no checks in this window');
    parts.push(plural(v.transitions.length, 'status change', 'status changes'));
    if (v.recordedFrom !== null) parts.push(`recorded since ${fmtClock(v.recordedFrom)}`);
    uptime.append(el('span', { class: 'muted', text: ` · ${parts.join(' · ')}` }));
    renderMaintenance(Array.isArray(h.maintenance) ? h.maintenance : []);
    renderCharts();
    renderIncidents(Array.isArray(h.incidents) ? h.incidents : []);
  }

  /** The maintenance windows that overlap the history's window: when, and why. */
  function renderMaintenance(list) {
    const box = $('#window-maintenance');
    const items = list.filter((m) => m && typeof m === 'object').map((m) => {
      const from = parseTime(m.starts_at);
      const to = parseTime(m.ends_at);
      const when = from === null || to === null ? '' : `${exactTime(from)} – ${exactTime(to)}`;
      return el('li', { class: 'maintenance-item' },
        el('span', { class: 'tag tag-maint', text: 'maintenance' }),
        el('span', { text: ` ${when}: ${str(m.reason)} (not counted in uptime, not notified)` }));
    });
    box.replaceChildren(...items);
    box.hidden = items.length === 0;
  }

  /** Draws the timeline and the latency chart at the width they have now. */
  function renderCharts() {
    const v = state.view;
    if (!v) return;
    const box = $('#timeline');
    const width = Math.max(360, Math.floor(box.clientWidth || 0));
    box.replaceChildren(timelineSvg(v, width));
    $('#latency-chart').replaceChildren(latencySvg(v, width));
  }

  /** Maps times of [start, end] onto the plot's x range. */
  function xScale(v, width) {
    const plotW = width - PLOT.left - PLOT.right;
    const span = Math.max(1, v.end - v.start);
    return (t) => PLOT.left + ((Math.min(Math.max(t, v.start), v.end) - v.start) / span) * plotW;
  }

  /** The periods of one status each: from the status at the start, through every transition, to the end. */
  function segmentsOf(v) {
    const out = [];
    let status = v.startStatus;
    let from = v.start;
    for (const t of v.transitions) {
      if (t.at > from) {
        out.push({ from, to: Math.min(t.at, v.end), status });
        from = t.at;
      }
      status = t.to;
    }
    if (v.end > from) out.push({ from, to: v.end, status });
    return out;
  }

  /** Time-axis ticks: local whole minutes, hours or days, at most one per 110 px. */
  function timeTicks(start, end, plotW) {
    const most = Math.max(2, Math.floor(plotW / 110));
    const step = TICK_STEPS.find((s) => (end - start) / s <= most) || TICK_STEPS[TICK_STEPS.length - 1];
    const offset = new Date(start).getTimezoneOffset() * MINUTE_MS;
    const ticks = [];
    for (let t = Math.ceil((start - offset) / step) * step + offset; t <= end; t += step) ticks.push(t);
    const label = (t) => {
      const d = new Date(t);
      if (step >= DAY_MS) return d.toLocaleDateString([], { month: 'short', day: 'numeric' });
      if (end - start > DAY_MS) return d.toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
      if (step < MINUTE_MS) return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
      return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    };
    return ticks.map((t) => ({ t, label: label(t) }));
  }

  function xAxis(node, v, width, top, bottom) {
    const x = xScale(v, width);
    for (const { t, label } of timeTicks(v.start, v.end, width - PLOT.left - PLOT.right)) {
      node.append(svg('line', { class: 'grid', x1: x(t), x2: x(t), y1: top, y2: bottom }));
      node.append(svg('text', { class: 'tick-label', x: x(t), y: bottom + 14, 'text-anchor': 'middle', text: label }));
    }
  }

  /** The status timeline: one bar, each pixel coloured by the worst status it covers. */
  function timelineSvg(v, width) {
    const barTop = 4;
    const barH = 30;
    const height = barTop + barH + 22;
    const plotW = width - PLOT.left - PLOT.right;
    const x = xScale(v, width);
    const span = Math.max(1, v.end - v.start);
    const segments = segmentsOf(v);
    const cols = new Array(plotW).fill(null);
    for (const s of segments) {
      const status = s.status || 'none';
      const i0 = Math.max(0, Math.floor(((s.from - v.start) / span) * plotW));
      const i1 = Math.min(plotW - 1, Math.max(i0, Math.ceil(((s.to - v.start) / span) * plotW) - 1));
      for (let i = i0; i <= i1; i++) {
        if (cols[i] === null || RANK[status] < RANK[cols[i]]) cols[i] = status;
      }
    }
    const counts = {};
    for (const s of segments) counts[s.status || 'none'] = (counts[s.status || 'none'] || 0) + 1;
    const node = svg('svg', {
      class: 'chart timeline-chart', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img',
      'aria-label': `Status from ${fmtClock(v.start)} to ${fmtClock(v.end)}: ${plural(v.transitions.length, 'change', 'changes')}`,
      dataset: { segments: String(segments.length), transitions: String(v.transitions.length) },
    });
    xAxis(node, v, width, barTop, barTop + barH);
    const t = (i) => v.start + (i / plotW) * span;
    let i = 0;
    while (i < plotW) {
      const status = cols[i] || 'none';
      let j = i + 1;
      while (j < plotW && (cols[j] || 'none') === status) j++;
      const from = t(i);
      const to = t(j);
      const what = status === 'none' ? 'no data' : LABEL[status];
      node.append(svg('rect', {
        class: status === 'none' ? 'seg seg-none' : 'seg',
        x: PLOT.left + i, y: barTop, width: j - i, height: barH,
        dataset: { status },
      }, svg('title', { text: `${what} · ${fmtClock(from, true)} – ${fmtClock(to, true)} (${fmtDuration(to - from)})` })));
      i = j;
    }
    node.append(svg('rect', { class: 'frame', x: PLOT.left, y: barTop, width: plotW, height: barH }));
    // A tick for every transition when they are few enough to tell apart.
    if (v.transitions.length <= plotW / 4) {
      for (const tr of v.transitions) {
        node.append(svg('line', { class: 'change', x1: x(tr.at), x2: x(tr.at), y1: barTop + barH, y2: barTop + barH + 4 }));
      }
    }
    return node;
  }

  /** A round number at or above `v` whose quarters are round too (1, 2, 4, 6 or 8 times a power of ten). */
  function niceCeil(v) {
    if (!(v > 0)) return 1;
    const pow = 10 ** Math.floor(Math.log10(v));
    for (const m of [1, 2, 4, 6, 8, 10]) {
      if (m * pow >= v) return m * pow;
    }
    return 10 * pow;
  }

  /** The latency chart: median and maximum per hour, as steps (each hour's figure across the hour). */
  function latencySvg(v, width) {
    const withLatency = v.buckets.filter((b) => b.median !== null || b.max !== null);
    if (withLatency.length === 0) {
      return el('p', { class: 'empty', text: 'No latency in this window: no request was made (or no check ran).' });
    }
    const top = 10;
    const plotH = 150;
    const height = top + plotH + 24;
    const x = xScale(v, width);
    const yMax = niceCeil(Math.max(...withLatency.map((b) => Math.max(b.median || 0, b.max || 0))));
    const y = (ms) => top + plotH - (ms / yMax) * plotH;
    const node = svg('svg', {
      class: 'chart latency-svg', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img',
      'aria-label': `Latency per hour, median and maximum, up to ${fmtMs(yMax)}`,
      dataset: { hours: String(withLatency.length) },
    });
    for (let i = 0; i <= 4; i++) {
      const ms = (yMax * i) / 4;
      node.append(svg('line', { class: i === 0 ? 'grid baseline' : 'grid', x1: PLOT.left, x2: width - PLOT.right, y1: y(ms), y2: y(ms) }));
      node.append(svg('text', { class: 'tick-label', x: PLOT.left - 8, y: y(ms) + 4, 'text-anchor': 'end', text: i === 0 ? '0' : fmtMs(ms) }));
    }
    xAxis(node, v, width, top, top + plotH);
    // Each hour is drawn across the part of it the window shows: a step line
    // through consecutive hours.
    const left = (b) => x(b.hour);
    const right = (b) => x(b.hour + HOUR_MS);
    for (const key of ['max', 'median']) {
      let d = '';
      let prev = null;
      for (const b of v.buckets) {
        if (b[key] === null) {
          prev = null;
          continue;
        }
        const yy = y(b[key]).toFixed(1);
        if (prev && b.hour - prev.hour <= HOUR_MS) d += ` V${yy} H${right(b).toFixed(1)}`;
        else d += ` M${left(b).toFixed(1)} ${yy} H${Math.max(right(b), left(b) + 2).toFixed(1)}`;
        prev = b;
      }
      if (d) node.append(svg('path', { class: `line line-${key}`, d: d.trim() }));
    }
    // One hover target per hour, with its figures.
    for (const b of withLatency) {
      const lines = [
        `${fmtClock(b.hour)} – ${new Date(b.hour + HOUR_MS).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}`,
        `median ${fmtMs(b.median)}, maximum ${fmtMs(b.max)}`,
        `${fmtCount(b.checks)} checks, ${fmtUptime(b.uptime)} ok`,
      ];
      node.append(svg('rect', {
        class: 'hover', x: left(b), y: top, width: Math.max(2, right(b) - left(b)), height: plotH,
      }, svg('title', { text: lines.join('\n') })));
    }
    return node;
  }

  /** The incidents overlapping the window, newest first, each with its first error as text. */
  function renderIncidents(list) {
    const items = list.filter(isObj);
    setText($('#incident-count'), items.length ? `${plural(items.length, 'incident', 'incidents')} in this window` : '');
    $('#incident-list').replaceChildren(...items.map(incidentItem));
    const empty = $('#incidents-empty');
    setText(empty, 'No incidents in this window: every recorded status was ok.');
    empty.hidden = items.length > 0;
  }

  function incidentItem(i) {
    // a partial outage stays ok overall: shown in the warning's colour, its vantages named by its warning
    const partial = i.kind === 'partial';
    const worst = partial ? 'unhealthy' : normStatus(i.worst_status);
    const started = parseTime(i.started_at);
    const ended = parseTime(i.ended_at);
    const open = i.open === true;
    const message = str(i.first_error);
    const when = el('span', { class: 'incident-when' });
    if (started !== null) when.append(el('time', { datetime: new Date(started).toISOString(), title: exactTime(started), text: fmtClock(started, true) }));
    when.append(' → ');
    if (open) when.append(el('span', { class: 'tag tag-open', text: 'ongoing' }));
    else if (ended !== null) when.append(el('time', { datetime: new Date(ended).toISOString(), title: exactTime(ended), text: fmtClock(ended, true) }));
    const duration = num(i.duration_ms);
    return el('li', { class: 'incident', dataset: { status: worst, open: String(open), kind: partial ? 'partial' : 'outage' } },
      el('div', { class: 'incident-head' },
        el('span', { class: 'badge', dataset: { status: worst }, text: partial ? 'Partial outage' : LABEL[worst] }),
        when,
        el('span', { class: 'incident-duration', text: duration === null ? '' : `${open ? 'for ' : 'lasted '}${fmtDuration(duration)}` })),
      el('p', { class: message ? 'incident-message' : 'incident-message muted', dataset: { empty: String(!message) }, text: message || 'No error message was reported.' }));
  }

  // ---------- vantages (vantages.js) ----------

  /** Hands what the page shows to vantages.js: the table's rows (the latency matrix shows the same ones) or a proxy. */
  function renderVantages(what, data) {
    const v = window.ProxyhealthVantages;
    if (!v) return;
    if (what === 'proxy') v.proxy(data);
    else v.fleet({ mode: state.mode, proxies: data.map((e) => e.p), model: state.model, api });
  }

  // ---------- wiring ----------

  function init() {
    state.token = initToken();
    state.page = proxyRoute();
    state.window = windowFromUrl();
    document.body.dataset.view = state.page === null ? 'fleet' : 'proxy';
    $('#proxy-page').hidden = state.page === null;
    renderAuth();
    for (const b of document.querySelectorAll('#windows button[data-window]')) {
      b.addEventListener('click', () => chooseWindow(b.dataset.window));
    }
    let resizeTimer = 0;
    window.addEventListener('resize', () => {
      window.clearTimeout(resizeTimer);
      resizeTimer = window.setTimeout(renderCharts, 150);
    });

    $('#sign-in').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const input = $('#token-input');
      const t = input.value.trim();
      if (!t) {
        showAuthError('Paste the admin token first.');
        return;
      }
      input.value = '';
      signIn(t);
      renderAuth();
      load();
    });
    $('#sign-out').addEventListener('click', async () => {
      if (viaSession()) await endSession();
      signOut('');
      document.dispatchEvent(new CustomEvent('proxyhealth:session'));
      hideAuthError();
      load();
    });
    $('#check-now').addEventListener('click', checkNow);
    $('#notice .notice-close').addEventListener('click', () => { $('#notice').hidden = true; });
    $('#sort').addEventListener('change', (ev) => {
      state.sort = ev.target.value;
      viewChanged();
    });
    $('#search').addEventListener('input', (ev) => {
      state.search = ev.target.value;
      viewChanged();
    });
    $('#pager-first').addEventListener('click', () => goToPage(0));
    $('#pager-prev').addEventListener('click', () => goToPage(state.pageIndex - 1));
    $('#pager-next').addEventListener('click', () => goToPage(state.pageIndex + 1));
    $('#pager-last').addEventListener('click', () => goToPage(Number($('#pager').dataset.pages || 1) - 1));

    setLive('connecting', 'Opening the event stream');
    loadSession().then(() => {
      renderAuth();
      document.dispatchEvent(new CustomEvent('proxyhealth:session'));
      load();
      if (state.page !== null) connectEvents();
    });
    window.setInterval(tick, 1000);
    window.setInterval(refreshMaintenance, MAINTENANCE_POLL_MS);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
