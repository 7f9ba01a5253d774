// #/dashboard: figures from GET /api/v1/admin/stats, refreshed every 10 s
// while the page is visible.

import { api, isAbort } from '/admin/js/api.js';
import { h, clear, icon, alertBox, fmtNumber, fmtBytes, fmtDuration, fmtDateTime, badge } from '/admin/js/dom.js';

const EVERY_MS = 10000;

export function mount(container) {
  let destroyed = false;
  let timer = 0;
  let ctrl = null;

  const grid = h('div', { class: 'cards', 'aria-live': 'polite', 'aria-busy': 'true' });
  const alert = alertBox();
  const updated = h('p', { class: 'count' });
  const refreshBtn = h('button', { type: 'button', class: 'btn btn-ghost', id: 'dashboard-refresh' }, icon('refresh'), h('span', { text: 'Refresh' }));

  const view = h('section', { class: 'view view-dashboard', 'aria-labelledby': 'dash-title' },
    h('div', { class: 'view-head' },
      h('div', {}, h('h1', { id: 'dash-title', text: 'Dashboard' }), updated),
      refreshBtn),
    alert,
    grid);
  container.append(view);

  grid.append(...['Users', 'Active sessions', 'Search index', 'Version', 'Uptime'].map((t) =>
    h('div', { class: 'stat card skeleton' }, h('h2', { class: 'stat-label', text: t }), h('p', { class: 'stat-value', text: '…' }))));

  function card(label, value, sub, extra) {
    return h('div', { class: 'stat card' },
      h('h2', { class: 'stat-label', text: label }),
      h('p', { class: 'stat-value' }, value),
      sub ? h('p', { class: 'stat-sub muted' }, sub) : null,
      extra || null);
  }

  function render(s) {
    const idx = s.index || {};
    const ready = idx.state === 'ready';
    clear(grid).append(
      card('Users', fmtNumber(s.users), null),
      card('Active sessions', fmtNumber(s.active_sessions), null),
      card('Search index',
        badge(idx.state || 'unknown', ready ? 'ok' : 'warn'),
        `${fmtNumber(idx.docs)} docs · ${fmtBytes(idx.size_bytes)}`,
        h('p', { class: 'stat-sub muted' }, `Lag: ${fmtNumber(idx.lag)} ${Number(idx.lag) === 1 ? 'write' : 'writes'}`)),
      card('Version', s.version || '—', null),
      card('Uptime', fmtDuration(s.uptime_seconds), s.started_at ? `since ${fmtDateTime(s.started_at)}` : null),
    );
    grid.setAttribute('aria-busy', 'false');
    updated.textContent = `Updated ${new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' }).format(new Date())}`;
  }

  async function load() {
    clearTimeout(timer);
    if (ctrl) ctrl.abort();
    ctrl = new AbortController();
    try {
      const s = await api('/admin/stats', { signal: ctrl.signal });
      if (destroyed) return;
      alert.hide();
      render(s);
    } catch (e) {
      if (isAbort(e) || destroyed) return;
      alert.show(e.detail);
    } finally {
      if (!destroyed) schedule();
    }
  }

  function schedule() {
    clearTimeout(timer);
    if (document.visibilityState === 'visible') timer = setTimeout(load, EVERY_MS);
  }

  const onVisibility = () => {
    if (document.visibilityState === 'visible') load();
    else clearTimeout(timer);
  };
  document.addEventListener('visibilitychange', onVisibility);
  refreshBtn.addEventListener('click', () => load());

  load();

  return {
    unmount() {
      destroyed = true;
      clearTimeout(timer);
      if (ctrl) ctrl.abort();
      document.removeEventListener('visibilitychange', onVisibility);
      view.remove();
    },
  };
}
