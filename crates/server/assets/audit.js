// proxyhealth dashboard: the audit log panel, for admins. Shown on the fleet
// page once the signed-in token may read /api/v2/proxyhealth/audit (admin);
// hidden for every other role and without a token (docs/api.md, "The audit
// log").
//
// Safety rule, as in app.js: every string from the server (actors, actions,
// objects, addresses) reaches the page only through textContent. Nothing here
// parses markup.
'use strict';

(() => {
  const API_AUDIT = '/api/v2/proxyhealth/audit?limit=50';
  /** The token app.js keeps for this tab. */
  const TOKEN_KEY = 'proxyhealth.adminToken';
  /** How often the panel is read again. */
  const EVERY_MS = 30000;

  function token() {
    try {
      const t = window.sessionStorage.getItem(TOKEN_KEY);
      return t && t.trim() ? t.trim() : null;
    } catch {
      return null;
    }
  }

  function cell(text, cls) {
    const td = document.createElement('td');
    td.textContent = String(text);
    if (cls) td.className = cls;
    return td;
  }

  function when(iso) {
    const t = Date.parse(iso);
    return Number.isFinite(t) ? new Date(t).toLocaleString() : '';
  }

  function render(entries) {
    const body = document.querySelector('#audit-rows');
    body.replaceChildren();
    for (const e of entries) {
      if (!e || typeof e !== 'object') continue;
      const tr = document.createElement('tr');
      tr.className = 'audit-row';
      tr.dataset.action = typeof e.action === 'string' ? e.action : '';
      const status = Number.isInteger(e.status) ? e.status : 0;
      tr.append(
        cell(when(e.at)),
        cell(typeof e.actor === 'string' ? e.actor : ''),
        cell(typeof e.action === 'string' ? e.action : ''),
        cell(typeof e.object === 'string' ? e.object : ''),
        cell(status, status >= 400 ? 'audit-refused' : ''),
        cell(typeof e.client === 'string' ? e.client : ''),
      );
      body.append(tr);
    }
    document.querySelector('#audit-empty').hidden = body.childElementCount > 0;
  }

  async function load() {
    const panel = document.querySelector('#audit');
    const t = token();
    // without a token, an admin signed in with OpenID Connect reads it with
    // the session cookie (app.js sets the body's data-role from the session)
    const session = !t && document.body.dataset.role === 'admin';
    if (!panel || (!t && !session)) {
      if (panel) panel.hidden = true;
      return;
    }
    try {
      const res = await fetch(API_AUDIT, {
        headers: t ? { Accept: 'application/json', Authorization: `Bearer ${t}` } : { Accept: 'application/json' },
        cache: 'no-store',
        credentials: 'same-origin',
      });
      if (!res.ok) {
        // not an admin (403), or not signed in: the panel is not theirs
        panel.hidden = true;
        return;
      }
      const body = await res.json();
      render(Array.isArray(body && body.entries) ? body.entries : []);
      panel.hidden = false;
    } catch {
      panel.hidden = true;
    }
  }

  function start() {
    load();
    window.setInterval(load, EVERY_MS);
    // signing in or out in this tab changes what the panel may show
    window.addEventListener('storage', load);
    // app.js learned who is signed in (or that nobody is)
    document.addEventListener('proxyhealth:session', load);
    document.addEventListener('submit', () => window.setTimeout(load, 500));
    document.addEventListener('click', (ev) => {
      if (ev.target instanceof Element && ev.target.closest('#sign-out')) window.setTimeout(load, 100);
    });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
