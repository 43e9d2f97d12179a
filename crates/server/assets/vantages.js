// proxyhealth dashboard: the vantages, the places probes come from. A proxies ×
// vantages latency matrix beside the fleet table, a row per vantage on a proxy's
// page, and the vantages panel with each vantage's agents (docs/vantages.md).
//
// app.js calls in through `window.ProxyhealthVantages` whenever it renders the
// fleet table's rows or a proxy's page; this file never reads the list itself,
// so the matrix always shows the rows the table shows (its filter, search, sort
// and page), never more.
//
// Safety rule, as in app.js: every string that came from the server (names,
// vantage names, agent ids, versions, addresses, errors, warnings) reaches the
// page only through textContent, text nodes, title attributes or checked DOM
// properties. Nothing here parses markup.
'use strict';

(() => {
  const API_VANTAGES = '/api/v2/proxyhealth/vantages';
  /**
   * Coder's own thresholds for a proxy's latency (its dashboard colours latency
   * under 150 ms as good, under 300 ms as a warning, and slower as an error), so
   * a cell reads the same here as in Coder's proxy menu.
   */
  const LATENCY_FAIR_MS = 150;
  const LATENCY_POOR_MS = 300;
  /** The panel is read again at most this often (the fleet page renders after every sweep). */
  const PANEL_EVERY_MS = 5000;
  /** Which view of the fleet (table or matrix) this tab shows. */
  const VIEW_KEY = 'proxyhealth.fleetView';
  const KNOWN = ['ok', 'unhealthy', 'unreachable', 'unregistered', 'unknown'];
  const SYMBOL = { ok: '●', unhealthy: '▲', unreachable: '✕', unregistered: '○', unknown: '?' };

  const state = {
    view: readView(),
    panel: null, // the vantages route's last answer (admin), or null
    panelAt: 0,
    panelLoading: false,
    ctx: null, // the fleet page's last rendering: {mode, proxies, model, api}
    ownSeen: '', // the own vantage's name as the proxies' readings give it
    wired: false,
  };

  // ---------- small helpers (app.js keeps its own private) ----------

  const $ = (sel) => document.querySelector(sel);

  /** Builds an element; `text` sets textContent; children may be nodes or strings (strings become text nodes). */
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = String(v);
      else if (k === 'dataset') Object.assign(node.dataset, v);
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) {
      if (c !== null && c !== undefined && c !== false) node.append(c);
    }
    return node;
  }

  function str(v) {
    return typeof v === 'string' ? v : '';
  }

  function isObj(v) {
    return v !== null && typeof v === 'object';
  }

  function num(v) {
    return typeof v === 'number' && Number.isFinite(v) ? v : null;
  }

  function normStatus(s) {
    return KNOWN.includes(s) ? s : 'unknown';
  }

  /** An RFC 3339 time in ms; null for missing, invalid or the zero time. */
  function parseTime(iso) {
    if (typeof iso !== 'string' || iso === '') return null;
    const t = Date.parse(iso);
    if (Number.isNaN(t) || new Date(t).getUTCFullYear() < 1971) return null;
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
    if (m < 60) return s && m < 10 ? `${m}m ${s}s` : `${m}m`;
    const h = Math.floor(m / 60);
    m %= 60;
    if (h < 24) return m ? `${h}h ${m}m` : `${h}h`;
    return `${Math.floor(h / 24)}d ${h % 24}h`;
  }

  function fmtRelative(t, now) {
    const diff = now - t;
    if (diff < 5000 && diff > -60000) return 'just now';
    return diff > 0 ? `${fmtDuration(diff)} ago` : `in ${fmtDuration(-diff)}`;
  }

  function fmtMs(ms) {
    if (typeof ms !== 'number' || !Number.isFinite(ms)) return '—';
    if (ms < 1000) return `${Math.round(ms)} ms`;
    return `${(ms / 1000).toFixed(2)} s`;
  }

  function plural(n, one, many) {
    return `${n} ${n === 1 ? one : many}`;
  }

  /** A <time> whose text app.js's clock keeps relative (`time.rel[data-t]`) and whose title is exact. */
  function relTime(t) {
    return el('time', {
      class: 'rel', datetime: new Date(t).toISOString(), title: exactTime(t),
      dataset: { t: String(t) }, text: fmtRelative(t, Date.now()),
    });
  }

  function readView() {
    try {
      return window.sessionStorage.getItem(VIEW_KEY) === 'matrix' ? 'matrix' : 'table';
    } catch {
      return 'table';
    }
  }

  function keepView(view) {
    try { window.sessionStorage.setItem(VIEW_KEY, view); } catch { /* kept for this page only */ }
  }

  // ---------- readings ----------

  /** Whether the proxy carries other vantages' readings (the API leaves `vantages` out otherwise). */
  function hasVantages(p) {
    return isObj(p) && Array.isArray(p.vantages) && p.vantages.some(isObj);
  }

  /** The own vantage's name: the panel's, else the first reading's of any proxy seen. */
  function ownName() {
    return (state.panel && str(state.panel.own)) || state.ownSeen;
  }

  /** One reading, checked: {vantage, status, latency, at, errors, warnings, stale}. */
  function reading(r) {
    const report = isObj(r.report) ? r.report : {};
    return {
      vantage: str(r.vantage),
      status: normStatus(r.status),
      latency: num(r.latency_ms),
      at: parseTime(r.checked_at),
      errors: Array.isArray(report.errors) ? report.errors.map(String) : [],
      warnings: Array.isArray(report.warnings) ? report.warnings.map(String) : [],
      stale: r.stale === true,
    };
  }

  /**
   * A proxy's readings, the own vantage's first. A proxy no other vantage has a
   * result for carries none: then its status is all the own vantage saw, as the
   * service itself judges it.
   */
  function readingsOf(p) {
    if (hasVantages(p)) {
      const list = p.vantages.filter(isObj).map(reading);
      if (list[0].vantage) state.ownSeen = list[0].vantage;
      return list;
    }
    const st = isObj(p.status) ? p.status : null;
    if (!st) return [];
    return [reading({ ...st, vantage: ownName() })];
  }

  /**
   * What a cell's colour says. A status other than ok says it alone, a stale
   * reading is greyed whatever it said, and an ok one is coloured by its
   * latency with Coder's thresholds. Unlike Coder's menu a latency of 0 counts
   * as fast: a loopback check can take under a millisecond.
   */
  function toneOf(r) {
    if (!r) return 'missing';
    if (r.stale) return 'stale';
    if (r.status === 'unhealthy' || r.status === 'unreachable') return r.status;
    if (r.status !== 'ok') return 'unknown';
    if (r.latency === null) return 'none';
    if (r.latency < LATENCY_FAIR_MS) return 'fast';
    if (r.latency < LATENCY_POOR_MS) return 'medium';
    return 'slow';
  }

  /** The words of a cell's tooltip: who saw what, when, and the first error. */
  function describe(r, proxyName) {
    const lines = [`${r.vantage || 'this service'} → ${proxyName}`];
    lines.push(`${r.status}${r.latency === null ? ', no request made' : ` in ${fmtMs(r.latency)}`}`);
    lines.push(r.at === null ? 'never checked' : `checked ${exactTime(r.at)}`);
    if (r.stale) lines.push('stale: no fresh result for two intervals, left out of the quorum');
    if (r.errors.length) lines.push(`error: ${r.errors[0]}`);
    else if (r.warnings.length) lines.push(`warning: ${r.warnings[0]}`);
    return lines.join('\n');
  }

  // ---------- the fleet page: view tabs, matrix, panel ----------

  /** app.js rendered the table's rows: `proxies` are the rows shown (one page), `model` the whole fleet read. */
  function fleet(ctx) {
    state.ctx = ctx;
    wire();
    const admin = ctx.mode === 'admin';
    if (!admin) {
      state.panel = null;
      renderPanel();
    } else {
      refreshPanel(ctx.api);
    }
    const any = admin && (ctx.proxies.some(hasVantages) || anyInModel(ctx.model));
    $('#fleet-views').hidden = !any;
    const matrix = any && state.view === 'matrix';
    for (const b of document.querySelectorAll('#fleet-views button[data-fleet-view]')) {
      b.setAttribute('aria-pressed', String(b.dataset.fleetView === (matrix ? 'matrix' : 'table')));
    }
    const tableWrap = $('#proxy-table').closest('.table-wrap');
    if (tableWrap) tableWrap.hidden = matrix;
    $('#matrix-wrap').hidden = !matrix;
    document.body.dataset.fleetView = matrix ? 'matrix' : 'table';
    if (matrix) renderMatrix(ctx.proxies);
  }

  function anyInModel(model) {
    if (!model || typeof model.values !== 'function') return false;
    for (const e of model.values()) {
      if (e && hasVantages(e.p)) {
        state.ownSeen = str(e.p.vantages[0].vantage) || state.ownSeen;
        return true;
      }
    }
    return false;
  }

  /** Hooks the view buttons up once. */
  function wire() {
    if (state.wired) return;
    state.wired = true;
    for (const b of document.querySelectorAll('#fleet-views button[data-fleet-view]')) {
      b.addEventListener('click', () => {
        state.view = b.dataset.fleetView === 'matrix' ? 'matrix' : 'table';
        keepView(state.view);
        if (state.ctx) fleet(state.ctx);
      });
    }
  }

  /** The vantages' columns: the own first, then every other one the panel or the rows name, by name. */
  function columnsOf(rows) {
    const own = ownName();
    const others = new Set();
    if (state.panel && Array.isArray(state.panel.vantages)) {
      for (const v of state.panel.vantages) if (isObj(v) && str(v.name)) others.add(str(v.name));
    }
    for (const { readings } of rows) {
      for (const r of readings.slice(1)) if (r.vantage) others.add(r.vantage);
    }
    others.delete(own);
    return [own, ...[...others].sort()];
  }

  /** Liveness of a vantage from the panel: 'live', 'quiet', or '' when unknown. */
  function livenessOf(name) {
    const vs = state.panel && Array.isArray(state.panel.vantages) ? state.panel.vantages : [];
    const v = vs.find((x) => isObj(x) && str(x.name) === name);
    if (!v || !isObj(v.liveness)) return '';
    return v.liveness.live === true ? 'live' : 'quiet';
  }

  function renderMatrix(proxies) {
    const rows = proxies.filter(isObj).map((p) => ({ p, readings: readingsOf(p) }));
    const columns = columnsOf(rows);
    const head = el('tr', {},
      el('th', { scope: 'col', class: 'matrix-proxy', text: 'Proxy' }),
      el('th', { scope: 'col', class: 'matrix-overall', text: 'Overall' }));
    columns.forEach((name, i) => {
      const live = i === 0 ? '' : livenessOf(name);
      head.append(el('th', { scope: 'col', class: 'matrix-vantage', dataset: { vantage: name, live } },
        el('span', { class: 'matrix-vantage-name', text: name || 'this service' }),
        el('span', { class: 'matrix-vantage-note', text: i === 0 ? 'this service' : live === 'quiet' ? 'quiet' : 'agent' })));
    });
    const body = rows.map(({ p, readings }) => matrixRow(p, readings, columns));
    const table = el('table', { id: 'matrix', class: 'matrix' },
      el('caption', { class: 'visually-hidden', text: 'Status and latency of each proxy from each vantage' }),
      el('thead', {}, head),
      el('tbody', {}, ...body));
    $('#matrix-wrap').replaceChildren(table, legend());
  }

  function matrixRow(p, readings, columns) {
    const st = isObj(p.status) ? p.status : {};
    const overall = normStatus(st.status);
    const name = str(p.name);
    const display = str(p.display_name) || name;
    const names = el('div', { class: 'matrix-names' });
    if (str(p.id)) {
      const a = el('a', { class: 'display-name proxy-link', title: 'History, latency and incidents of this proxy' });
      a.href = `/proxies/${encodeURIComponent(str(p.id))}`;
      a.textContent = display;
      names.append(a);
    } else {
      names.append(el('span', { class: 'display-name', text: display }));
    }
    names.append(el('code', { class: 'proxy-name', text: name }));
    const note = verdictNote(st, overall);
    if (note) names.append(note);
    const tr = el('tr', { class: 'matrix-row', dataset: { proxyId: str(p.id), proxyName: name, status: overall } },
      el('th', { scope: 'row', class: 'matrix-proxy' }, names),
      el('td', { class: 'matrix-overall' }, el('span', { class: 'badge', dataset: { status: overall }, text: overall })));
    const byName = new Map(readings.map((r, i) => [i === 0 ? columns[0] : r.vantage, r]));
    for (const column of columns) tr.append(matrixCell(byName.get(column), column, name));
    return tr;
  }

  /** The line under a proxy's name that says what the vantages decided: a partial outage's warning, or the quorum's error. */
  function verdictNote(st, overall) {
    const report = isObj(st.report) ? st.report : {};
    const errors = Array.isArray(report.errors) ? report.errors.map(String) : [];
    const warnings = Array.isArray(report.warnings) ? report.warnings.map(String) : [];
    const partial = warnings.find((w) => w.startsWith('partial outage'));
    if (overall === 'ok' && partial) {
      return el('span', { class: 'matrix-note matrix-partial', title: partial, text: `⚠ ${partial}` });
    }
    // The quorum's error names every vantage's error, which the cells hold:
    // the note keeps its head ("unreachable from 2 of 3 vantages"), the title all of it.
    const quorum = overall !== 'ok' && errors.length ? /^(.* of \d+ vantages?):/.exec(errors[0]) : null;
    if (quorum) {
      return el('span', { class: 'matrix-note matrix-quorum', title: errors[0], text: quorum[1] });
    }
    return null;
  }

  function matrixCell(r, vantage, proxyName) {
    const tone = toneOf(r);
    if (!r) {
      return el('td', {
        class: 'mcell', dataset: { vantage, tone },
        title: `${vantage} → ${proxyName}\nno result from this vantage`,
      }, el('span', { class: 'mcell-latency', text: '—' }));
    }
    const cell = el('td', {
      class: 'mcell', dataset: { vantage, tone, status: r.status, stale: String(r.stale) },
      title: describe(r, proxyName),
    });
    const latency = el('span', { class: 'mcell-latency', text: fmtMs(r.latency) });
    if (r.status === 'ok') {
      cell.append(latency);
    } else {
      cell.append(el('span', { class: 'mcell-status', text: `${SYMBOL[r.status]} ${r.status}` }));
      if (r.latency !== null) cell.append(latency);
    }
    if (r.stale) cell.append(el('span', { class: 'mcell-stale', text: 'stale' }));
    return cell;
  }

  function legend() {
    const key = (tone, text) => el('span', { class: 'matrix-key' }, el('span', { class: 'mcell-swatch', dataset: { tone } }), text);
    return el('p', { class: 'matrix-legend' },
      key('fast', `under ${LATENCY_FAIR_MS} ms`),
      key('medium', `${LATENCY_FAIR_MS}–${LATENCY_POOR_MS} ms`),
      key('slow', `over ${LATENCY_POOR_MS} ms`),
      key('unhealthy', 'unhealthy'),
      key('unreachable', 'unreachable'),
      key('stale', 'stale (not counted)'),
      el('span', { class: 'muted', text: 'Hover a cell for when it was checked and its first error.' }));
  }

  // ---------- the vantages panel ----------

  /** Reads the vantages again when the last read is old enough; the panel is an extra, never a reason to fail the page. */
  async function refreshPanel(api) {
    const now = Date.now();
    if (state.panelLoading || now - state.panelAt < PANEL_EVERY_MS || typeof api !== 'function') return;
    state.panelLoading = true;
    state.panelAt = now;
    let answer = null;
    try {
      answer = await api('GET', API_VANTAGES);
    } catch {
      answer = null;
    } finally {
      state.panelLoading = false;
    }
    // Signed out meanwhile: nothing to show.
    state.panel = state.ctx && state.ctx.mode === 'admin' && isObj(answer) ? answer : null;
    renderPanel();
    if (state.ctx && state.view === 'matrix' && !$('#matrix-wrap').hidden) renderMatrix(state.ctx.proxies);
  }

  function renderPanel() {
    const panel = $('#vantages');
    const r = state.panel;
    const vantages = r && Array.isArray(r.vantages) ? r.vantages.filter(isObj) : [];
    if (!r || vantages.length === 0) {
      panel.hidden = true;
      return;
    }
    panel.hidden = false;
    const live = vantages.filter((v) => isObj(v.liveness) && v.liveness.live === true).length;
    $('#vantages-summary').textContent =
      `${plural(vantages.length + 1, 'vantage', 'vantages')}: ${str(r.own) || 'this service'} (this service) and ${live} of ${vantages.length} with live agents · quorum ${str(r.quorum) || 'majority'}`;
    const quiet = vantages.filter((v) => !(isObj(v.liveness) && v.liveness.live === true)).map((v) => str(v.name));
    const warning = $('#vantages-warning');
    warning.textContent = quiet.length
      ? `⚠ ${quiet.join(', ')} ${quiet.length === 1 ? 'has' : 'have'} gone quiet: no fresh result, left out of every quorum`
      : '';
    warning.hidden = quiet.length === 0;
    $('#vantage-list').replaceChildren(...vantages.map(vantageItem));
  }

  function vantageItem(v) {
    const liveness = isObj(v.liveness) ? v.liveness : {};
    const live = liveness.live === true;
    const last = parseTime(liveness.last_result_at);
    const agents = Array.isArray(liveness.agents) ? liveness.agents.filter(isObj) : [];
    const head = el('div', { class: 'vantage-head' },
      el('span', { class: 'vantage-name', text: str(v.name) }),
      el('span', { class: 'vantage-state', dataset: { state: live ? 'live' : 'quiet' }, text: live ? 'live' : 'quiet' }),
      el('span', { class: 'vantage-meta' }, last === null ? 'no result yet' : el('span', {}, 'last result ', relTime(last))),
      el('span', { class: 'vantage-meta', text: plural(agents.length, 'agent', 'agents') }));
    const list = agents.length
      ? el('ul', { class: 'agent-list' }, ...agents.map(agentItem))
      : el('p', { class: 'vantage-meta agent-none', text: 'No agent has connected yet: run `proxyhealth agent` with this vantage’s token.' });
    return el('li', { class: 'vantage', dataset: { vantageName: str(v.name), live: String(live) } }, head, list);
  }

  function agentItem(a) {
    const seen = parseTime(a.last_seen);
    const lag = num(a.lag_ms);
    const live = a.live === true;
    return el('li', { class: 'agent', dataset: { agentId: str(a.id), live: String(live) } },
      el('span', { class: 'agent-id', text: str(a.id), title: 'The id the agent names itself with' }),
      el('span', { class: 'agent-state', dataset: { state: live ? 'live' : 'quiet' }, text: live ? 'live' : 'quiet' }),
      el('span', { class: 'agent-version', text: str(a.version) || 'version unknown' }),
      el('span', { class: 'agent-address', text: str(a.address) || 'address unknown' }),
      el('span', { class: 'agent-seen' }, seen === null ? 'never seen' : el('span', {}, 'seen ', relTime(seen))),
      el('span', { class: 'agent-lag', text: lag === null ? 'no batch yet' : `lag ${fmtMs(lag)}` }),
      el('span', { class: 'agent-assigned', text: `${plural(num(a.assigned) ?? 0, 'proxy', 'proxies')} assigned` }));
  }

  // ---------- a proxy's page ----------

  /** app.js rendered a proxy's page: one row per vantage, or nothing when no other vantage has a result. */
  function proxy(p) {
    const section = $('#proxy-vantages');
    if (!hasVantages(p)) {
      section.hidden = true;
      $('#proxy-vantage-rows').replaceChildren();
      return;
    }
    const readings = readingsOf(p);
    section.hidden = false;
    const fresh = readings.filter((r) => !r.stale);
    const failing = fresh.filter((r) => r.status !== 'ok');
    $('#proxy-vantages-summary').textContent = `${plural(readings.length, 'vantage', 'vantages')}, ${fresh.length} fresh, ${failing.length} failing`;
    $('#proxy-vantage-rows').replaceChildren(...readings.map((r, i) => vantageRow(r, i === 0)));
  }

  function vantageRow(r, own) {
    const tone = toneOf(r);
    const badge = el('span', { class: 'badge', dataset: { status: r.status }, text: r.status });
    const status = el('div', { class: 'status-cell' }, badge);
    if (r.stale) status.append(el('span', { class: 'tag vrow-stale', title: 'No fresh result for two intervals: left out of the quorum', text: 'stale' }));
    const messages = el('div', { class: 'messages' },
      messageList('errors', r.errors), messageList('warnings', r.warnings));
    if (!r.errors.length && !r.warnings.length) messages.append(el('span', { class: 'muted none', text: 'none' }));
    return el('tr', { class: 'vantage-row', dataset: { vantage: r.vantage, status: r.status, tone, stale: String(r.stale), own: String(own) } },
      el('th', { scope: 'row', class: 'vrow-vantage' },
        el('span', { class: 'vrow-name', text: r.vantage || 'this service' }),
        own ? el('span', { class: 'tag', text: 'this service' }) : null),
      el('td', { class: 'vrow-status' }, status),
      el('td', { class: 'vrow-latency num' }, el('span', { class: 'mcell-swatch', dataset: { tone }, 'aria-hidden': 'true' }), ` ${fmtMs(r.latency)}`),
      el('td', { class: 'vrow-checked' }, r.at === null ? el('span', { class: 'muted', text: 'never' }) : relTime(r.at)),
      el('td', { class: 'vrow-messages' }, messages));
  }

  function messageList(kind, items) {
    return el('ul', { class: `${kind} msg-list`, 'aria-label': kind === 'errors' ? 'Errors' : 'Warnings' },
      ...items.map((text) => el('li', { class: `msg msg-${kind}` }, el('div', { class: 'msg-text', text }))));
  }

  window.ProxyhealthVantages = Object.freeze({ fleet, proxy });
})();
