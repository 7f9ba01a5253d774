// #/dashboard: figures from GET /api/v1/admin/stats, refreshed every 10 s
// while the page is visible, and the live "Recent changes" panel
// (dashboard/changes.js), whose stream is closed when the view goes.
//
// The functions below share one view object, `v`: destroyed (set on
// unmount), timer (the next refresh), ctrl (the request in flight), changes
// (the panel) and the elements grid, alert and updated.

import { api, isAbort } from '/admin/js/api.js';
import { h, clear, icon, alertBox, fmtNumber, fmtBytes, fmtDuration, fmtDateTime, badge } from '/admin/js/dom.js';
import { changesPanel } from '/admin/js/views/dashboard/changes.js';

const EVERY_MS = 10000;

export function mount(container) {
  const v = {
    destroyed: false,
    timer: 0,
    ctrl: null,
    grid: h('div', { class: 'cards', 'aria-live': 'polite', 'aria-busy': 'true' }),
    alert: alertBox(),
    updated: h('p', { class: 'count' }),
    changes: changesPanel(),
  };
  const refreshBtn = h('button', { type: 'button', class: 'btn btn-ghost', id: 'dashboard-refresh' }, icon('refresh'), h('span', { text: 'Refresh' }));
  const view = h('section', { class: 'view view-dashboard', 'aria-labelledby': 'dash-title' },
    h('div', { class: 'view-head' },
      h('div', {}, h('h1', { id: 'dash-title', text: 'Dashboard' }), v.updated),
      refreshBtn),
    v.alert,
    v.grid,
    v.changes.el);
  container.append(view);
  v.grid.append(...['Users', 'Active sessions', 'Search index', 'Mail outbox', 'Version', 'Uptime'].map((t) =>
    h('div', { class: 'stat card skeleton' }, h('h2', { class: 'stat-label', text: t }), h('p', { class: 'stat-value', text: '…' }))));

  const onVisibility = () => {
    if (document.visibilityState === 'visible') load(v);
    else clearTimeout(v.timer);
  };
  document.addEventListener('visibilitychange', onVisibility);
  refreshBtn.addEventListener('click', () => load(v));

  load(v);

  return {
    unmount() {
      v.destroyed = true;
      clearTimeout(v.timer);
      if (v.ctrl) v.ctrl.abort();
      v.changes.close();
      document.removeEventListener('visibilitychange', onVisibility);
      view.remove();
    },
  };
}

function card(label, value, sub, extra) {
  return h('div', { class: 'stat card' },
    h('h2', { class: 'stat-label', text: label }),
    h('p', { class: 'stat-value' }, value),
    sub ? h('p', { class: 'stat-sub muted' }, sub) : null,
    extra || null);
}

/** Mails accepted (a 202 of a request endpoint) and not yet sent. */
function outboxCard(pending) {
  if (typeof pending !== 'number') return card('Mail outbox', '—', 'not reported by this server');
  return card('Mail outbox', fmtNumber(pending), pending === 1 ? 'mail waiting to be sent' : 'mails waiting to be sent');
}

function render(v, s) {
  const idx = s.index || {};
  const ready = idx.state === 'ready';
  clear(v.grid).append(
    card('Users', fmtNumber(s.users), null),
    card('Active sessions', fmtNumber(s.active_sessions), null),
    card('Search index',
      badge(idx.state || 'unknown', ready ? 'ok' : 'warn'),
      `${fmtNumber(idx.docs)} docs · ${fmtBytes(idx.size_bytes)}`,
      h('p', { class: 'stat-sub muted' }, `Lag: ${fmtNumber(idx.lag)} ${Number(idx.lag) === 1 ? 'write' : 'writes'}`)),
    outboxCard(s.outbox_pending),
    card('Version', s.version || '—', null),
    card('Uptime', fmtDuration(s.uptime_seconds), s.started_at ? `since ${fmtDateTime(s.started_at)}` : null),
  );
  v.grid.setAttribute('aria-busy', 'false');
  v.updated.textContent = `Updated ${new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' }).format(new Date())}`;
}

async function load(v) {
  clearTimeout(v.timer);
  if (v.ctrl) v.ctrl.abort();
  v.ctrl = new AbortController();
  try {
    const s = await api('/admin/stats', { signal: v.ctrl.signal });
    if (v.destroyed) return;
    v.alert.hide();
    render(v, s);
  } catch (e) {
    if (isAbort(e) || v.destroyed) return;
    v.alert.show(e.detail);
  } finally {
    if (!v.destroyed) schedule(v);
  }
}

/** The next refresh in EVERY_MS, while the page is visible. */
function schedule(v) {
  clearTimeout(v.timer);
  if (document.visibilityState === 'visible') v.timer = setTimeout(() => load(v), EVERY_MS);
}
