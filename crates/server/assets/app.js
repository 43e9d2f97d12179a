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
    replicas: '/api/v2/proxyhealth/replicas',
  };
  const TOKEN_KEY = 'proxyhealth.adminToken';
  const POLL_MS = 5000;
  const RECONNECT_MS = 15000;

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
    mode: 'admin', // 'admin' (workspaceproxies) or 'public' (regions)
    proxies: [],
    summary: null,
    filter: 'all',
    sort: 'status',
    search: '',
    rows: new Map(), // proxy id -> {key, tr}
    loading: false,
    loadPromise: null,
    again: false,
    lastSuccess: 0,
    es: null,
    esOpenedOnce: false,
    pollTimer: null,
    checking: false,
    replicas: null, // the consistency report (admin only), or null
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

  function exactTime(t) {
    const d = new Date(t);
    return `${d.toLocaleString()} (${d.toISOString()})`;
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

  function signIn(token) {
    state.token = token;
    storeSet(TOKEN_KEY, token);
    hideAuthError();
  }

  function signOut(reason) {
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

  /** Fetches summary, then the list (so the list is never older than the generation we publish). Calls coalesce. */
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

  async function loadOnce() {
    let summary;
    let list = null;
    let mode = 'public';
    try {
      try {
        summary = await api('GET', API.summary);
      } catch (e) {
        if (e.status === 401 && state.token) {
          signOut(`The admin token was rejected: ${e.message}`);
          summary = await api('GET', API.summary);
        } else {
          throw e;
        }
      }
      if (state.token) {
        try {
          list = regionsOf(await api('GET', API.list));
          mode = 'admin';
        } catch (e) {
          if (e.status === 401) signOut(`The admin token was rejected (401): ${e.message}${e.detail ? ` — ${e.detail}` : ''}`);
          else if (e.status === 403) signOut(`This token may not read the proxies (403): ${e.message}`);
          else throw e;
        }
      }
      if (list === null) list = regionsOf(await api('GET', API.regions));
    } catch (e) {
      if (e.status === 401 && !state.token) {
        showAuthError('This server needs the admin token even for the read-only view.');
        renderAuth();
      }
      showNotice(e.status ? `Could not load the dashboard data (HTTP ${e.status}): ${e.message}` : `${e.message}.`, e.detail, 'load');
      markStale();
      return;
    }
    state.summary = summary;
    state.proxies = list;
    state.mode = mode;
    state.replicas = mode === 'admin' ? await loadReplicas() : null;
    state.lastSuccess = Date.now();
    hideNotice('load');
    render();
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

  function connectEvents() {
    if (!('EventSource' in window)) {
      startPolling();
      return;
    }
    let es;
    try {
      es = new EventSource(API.events);
    } catch {
      startPolling();
      return;
    }
    state.es = es;
    es.addEventListener('open', () => {
      stopPolling();
      setLive('live', 'Connected to the event stream: the page updates after every sweep.');
      // After a reconnect we may have missed sweeps.
      if (state.esOpenedOnce) load();
      state.esOpenedOnce = true;
    });
    es.addEventListener('sweep', () => {
      load();
    });
    es.addEventListener('error', () => {
      startPolling();
      if (es.readyState === EventSource.CLOSED) {
        es.close();
        if (state.es === es) state.es = null;
        window.setTimeout(connectEvents, RECONNECT_MS);
      }
    });
  }

  // ---------- check now ----------

  async function checkNow() {
    if (state.checking) return;
    if (!state.token) {
      renderAuth();
      $('#token-input').focus();
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
      await load();
    } catch (e) {
      if (e.status === 401) {
        signOut(`The admin token was rejected (401): ${e.message}`);
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
    const signedIn = Boolean(state.token);
    $('#auth').hidden = signedIn;
    $('#sign-out').hidden = !signedIn;
    const btn = $('#check-now');
    btn.disabled = !signedIn || state.checking;
    btn.title = signedIn ? 'Run a health sweep of every proxy now' : 'Check now needs the admin token: sign in first';
    document.body.dataset.mode = signedIn ? 'admin' : 'public';
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
    const counts = { all: state.proxies.length };
    for (const p of state.proxies) {
      const st = statusOf(p);
      counts[st] = (counts[st] || 0) + 1;
    }
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
          renderFilters();
          renderRows();
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

  function visibleProxies() {
    const q = state.search.trim().toLowerCase();
    const out = state.proxies.filter((p) => {
      if (state.filter !== 'all' && statusOf(p) !== state.filter) return false;
      if (!q) return true;
      return str(p.name).toLowerCase().includes(q) || str(p.display_name).toLowerCase().includes(q);
    });
    const byName = (a, b) => str(a.name).localeCompare(str(b.name), undefined, { sensitivity: 'base', numeric: true });
    const lat = (p) => (p.status && typeof p.status.latency_ms === 'number' ? p.status.latency_ms : null);
    const cmp = {
      name: byName,
      status: (a, b) => (SEVERITY[statusOf(a)] - SEVERITY[statusOf(b)]) || byName(a, b),
      'latency-desc': (a, b) => {
        const la = lat(a);
        const lb = lat(b);
        if (la === null || lb === null) return (la === null) - (lb === null) || byName(a, b);
        return lb - la || byName(a, b);
      },
      'latency-asc': (a, b) => {
        const la = lat(a);
        const lb = lat(b);
        if (la === null || lb === null) return (la === null) - (lb === null) || byName(a, b);
        return la - lb || byName(a, b);
      },
    }[state.sort] || byName;
    return out.sort(cmp);
  }

  function renderRows() {
    const table = $('#proxy-table');
    table.dataset.mode = state.mode;
    // Latency is only known with the admin token.
    const sort = $('#sort');
    for (const opt of sort.options) {
      if (opt.value.startsWith('latency')) opt.disabled = state.mode === 'public';
    }
    if (state.mode === 'public' && state.sort.startsWith('latency')) {
      state.sort = 'status';
      sort.value = 'status';
    }
    const tbody = $('#proxy-rows');
    const scrollY = window.scrollY;
    const seen = new Set();
    const wanted = [];
    for (const p of visibleProxies()) {
      const id = str(p.id) || `name:${str(p.name)}`;
      seen.add(id);
      const key = `${state.mode}|${JSON.stringify(p)}`;
      let entry = state.rows.get(id);
      if (!entry || entry.key !== key) {
        const tr = buildRow(p, id);
        if (entry) {
          keepOpenDetails(entry.tr, tr);
          if (entry.tr.parentNode) entry.tr.replaceWith(tr);
        }
        entry = { key, tr };
        state.rows.set(id, entry);
      }
      wanted.push(entry.tr);
    }
    // Forget proxies that are gone from the list (filtered ones stay cached, detached).
    for (const id of [...state.rows.keys()]) {
      if (!state.proxies.some((p) => (str(p.id) || `name:${str(p.name)}`) === id)) state.rows.delete(id);
    }
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
      setText(empty, state.proxies.length === 0
        ? 'No proxies registered yet. Create one with POST /api/v2/workspaceproxies.'
        : 'No proxy matches this filter or search.');
      empty.hidden = false;
    } else {
      empty.hidden = true;
    }
    if (window.scrollY !== scrollY) window.scrollTo(window.scrollX, scrollY);
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
    names.append(el('span', { class: 'display-name', text: display }));
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

  function statusCell(p, status, st) {
    const wrap = el('div', { class: 'status-cell' });
    wrap.append(el('span', { class: 'badge', dataset: { status }, text: LABEL[status] }));
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

  // ---------- wiring ----------

  function init() {
    state.token = initToken();
    renderAuth();

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
    $('#sign-out').addEventListener('click', () => {
      signOut('');
      hideAuthError();
      load();
    });
    $('#check-now').addEventListener('click', checkNow);
    $('#notice .notice-close').addEventListener('click', () => { $('#notice').hidden = true; });
    $('#sort').addEventListener('change', (ev) => {
      state.sort = ev.target.value;
      renderRows();
    });
    $('#search').addEventListener('input', (ev) => {
      state.search = ev.target.value;
      renderRows();
    });

    setLive('connecting', 'Opening the event stream');
    load();
    connectEvents();
    window.setInterval(tick, 1000);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
