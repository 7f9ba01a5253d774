// #/audit: the audit log, newest first, filtered by actor and action, with
// "Load more" following next_cursor.
//
// The functions below share one view object, `v`: destroyed (set on
// unmount), ctrl and seq (the load in flight and its number), cursor (where
// "Load more" goes on), shown (entries listed) and the elements actor,
// action, filters, table, tbody, tableWrap, alert, count and more.

import { api, qs, isAbort } from '/admin/js/api.js';
import { h, clear, timeEl, badge, alertBox, debounce, busy, fmtNumber } from '/admin/js/dom.js';

const ACTIONS = [
  'login', 'logout', 'refresh.reuse', 'register', 'admin.create',
  'user.create', 'user.delete', 'user.enable', 'user.disable', 'user.roles',
  'password.change', 'session.revoke', 'api_key.create', 'api_key.revoke',
];

const PAGE = 50;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Links to the user panel when an audit target is a user id. */
function targetCell(entry) {
  const t = entry.target;
  if (!t) return h('span', { class: 'muted', text: '—' });
  const userish = /^(user|password|session|admin|register|login|logout)/.test(entry.action);
  if (UUID.test(t) && userish && entry.action !== 'user.delete') {
    return h('a', { href: `#/users/${t}`, class: 'mono', title: t, text: `${t.slice(0, 8)}…` });
  }
  return h('span', { class: 'mono', title: t, text: t.length > 20 ? `${t.slice(0, 18)}…` : t });
}

function actorCell(actor) {
  if (!actor) return h('span', { class: 'muted', text: '—' });
  const m = actor.match(/^user:(.+)$/);
  if (m && UUID.test(m[1])) {
    return h('a', { href: `#/users/${m[1]}`, class: 'mono', title: actor, text: `user:${m[1].slice(0, 8)}…` });
  }
  return h('span', { class: 'mono', title: actor, text: actor.length > 24 ? `${actor.slice(0, 22)}…` : actor });
}

export function mount(container) {
  const v = {
    destroyed: false,
    ctrl: null,
    seq: 0,
    cursor: null,
    shown: 0,
    ...auditFilters(),
    ...auditTable(),
    alert: alertBox(),
    count: h('p', { class: 'count', 'aria-live': 'polite' }),
    more: h('button', { type: 'button', id: 'audit-more', class: 'btn', text: 'Load more', hidden: true }),
  };
  const view = h('section', { class: 'view view-audit', 'aria-labelledby': 'audit-title' },
    h('div', { class: 'view-head' }, h('div', {}, h('h1', { id: 'audit-title', text: 'Audit log' }), v.count)),
    v.filters,
    v.alert,
    v.tableWrap,
    h('div', { class: 'pager' }, v.more));
  container.append(view);

  const refilter = debounce(() => load(v, false), 300);
  v.actor.addEventListener('input', refilter);
  v.action.addEventListener('input', refilter);
  v.filters.addEventListener('submit', (e) => {
    e.preventDefault();
    refilter.cancel();
    load(v, false);
  });
  v.filters.addEventListener('reset', () => {
    setTimeout(() => load(v, false), 0);
  });
  v.more.addEventListener('click', () => busy(v.more, () => load(v, true)));

  load(v, false);

  return {
    unmount() {
      v.destroyed = true;
      refilter.cancel();
      if (v.ctrl) v.ctrl.abort();
      view.remove();
    },
  };
}

function auditFilters() {
  const actor = h('input', { id: 'audit-actor', name: 'actor', type: 'search', autocomplete: 'off', spellcheck: 'false', placeholder: 'user:<id>, key:<id> or system' });
  const action = h('input', { id: 'audit-action', name: 'action', type: 'search', autocomplete: 'off', spellcheck: 'false', list: 'audit-actions', placeholder: 'any action' });
  const datalist = h('datalist', { id: 'audit-actions' }, ACTIONS.map((a) => h('option', { value: a })));
  const reset = h('button', { type: 'reset', class: 'btn btn-ghost', text: 'Clear' });
  const filters = h('form', { id: 'audit-filters', class: 'toolbar', role: 'search' },
    h('div', { class: 'filter grow' }, h('label', { for: 'audit-actor', text: 'Actor' }), actor),
    h('div', { class: 'filter grow' }, h('label', { for: 'audit-action', text: 'Action' }), action, datalist),
    h('div', { class: 'filter filter-end' }, reset));
  return { filters, actor, action };
}

function auditTable() {
  const tbody = h('tbody', {});
  const table = h('table', { id: 'audit-table', class: 'table' },
    h('caption', { class: 'sr-only', text: 'Audit log, newest first' }),
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col', text: 'Time' }),
      h('th', { scope: 'col', text: 'Action' }),
      h('th', { scope: 'col', class: 'col-actor', text: 'Actor' }),
      h('th', { scope: 'col', class: 'col-target', text: 'Target' }),
      h('th', { scope: 'col', class: 'col-ip', text: 'Address' }),
      h('th', { scope: 'col', text: 'Outcome' }),
      h('th', { scope: 'col', class: 'col-detail', text: 'Detail' }))),
    tbody);
  const tableWrap = h('div', { class: 'table-wrap' }, table);
  return { table, tbody, tableWrap };
}

function rowFor(e) {
  const ok = e.outcome === 'success' || e.outcome === 'ok';
  return h('tr', { dataset: { id: e.id } },
    h('td', { class: 'nowrap' }, timeEl(e.at, true)),
    h('td', {}, h('code', { text: e.action })),
    h('td', { class: 'col-actor' }, actorCell(e.actor)),
    h('td', { class: 'col-target' }, targetCell(e)),
    h('td', { class: 'col-ip mono', text: e.ip || '—' }),
    h('td', {}, badge(e.outcome, ok ? 'ok' : 'warn')),
    h('td', { class: 'col-detail', text: e.detail || '' }));
}

function emptyRow(text) {
  return h('tr', { class: 'empty-row' }, h('td', { colspan: '7' }, h('div', { class: 'empty', text })));
}

/** Loads the first page for the filters, or (`append`) the next one below. */
async function load(v, append) {
  const { table, tableWrap, tbody } = v;
  if (v.ctrl) v.ctrl.abort();
  v.ctrl = new AbortController();
  const my = ++v.seq;
  v.alert.hide();
  table.setAttribute('aria-busy', 'true');
  tableWrap.classList.add('is-loading');
  if (!append) {
    v.cursor = null;
    if (!tbody.querySelector('tr')) tbody.append(emptyRow('Loading…'));
  }
  try {
    const data = await api(`/audit${qs({ limit: PAGE, cursor: append ? v.cursor : null, actor: v.actor.value.trim(), action: v.action.value.trim() })}`, { signal: v.ctrl.signal });
    if (my !== v.seq || v.destroyed) return;
    showEntries(v, data, append);
  } catch (e) {
    if (isAbort(e) || my !== v.seq || v.destroyed) return;
    if (!append) clear(tbody);
    v.alert.show(e.detail);
  } finally {
    if (my === v.seq && !v.destroyed) {
      table.setAttribute('aria-busy', 'false');
      tableWrap.classList.remove('is-loading');
    }
  }
}

function showEntries(v, data, append) {
  const { tbody } = v;
  if (!append) {
    clear(tbody);
    v.shown = 0;
  }
  const items = data.items || [];
  items.forEach((e) => tbody.append(rowFor(e)));
  v.shown += items.length;
  v.cursor = data.next_cursor || null;
  v.more.hidden = !v.cursor;
  if (!v.shown) {
    const filtered = v.actor.value.trim() || v.action.value.trim();
    tbody.append(emptyRow(filtered ? (v.cursor ? 'No matching entries among the latest ones; load more to look further back.' : 'No entries match these filters.') : 'The audit log is empty.'));
  }
  v.count.textContent = `${fmtNumber(v.shown)} ${v.shown === 1 ? 'entry' : 'entries'} shown${v.cursor ? ' · more available' : ''}`;
}
