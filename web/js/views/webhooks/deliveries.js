// #/webhooks/<id>: one endpoint's deliveries, newest first, 50 at a time
// ("Older" follows next_before), each with a Retry. A retry is attempted
// before the server answers, so the row is rebuilt from the answer; a
// disabled endpoint refuses it (409) and the problem's detail says why.
//
// The functions below share one object, `d`: id, destroyed, ctrl (aborts
// this page's requests), before (where "Older" goes on), seq (the list load
// in flight) and the elements (see mountDeliveries).

import { api, qs, isAbort } from '/admin/js/api.js';
import { h, clear, icon, timeEl, badge, alertBox, statusBox, busy, fmtNumber } from '/admin/js/dom.js';
import { stateBadge, warningFor } from '/admin/js/views/webhooks/list.js';

const PAGE = 50;
const KINDS = { delivered: 'ok', pending: 'info', failed: 'warn' };

export function mountDeliveries(container, id) {
  const d = {
    id,
    destroyed: false,
    ctrl: new AbortController(),
    before: null,
    seq: 0,
    title: h('h1', { id: 'deliveries-title', tabindex: '-1', text: 'Deliveries' }),
    endpoint: h('div', { id: 'deliveries-endpoint', class: 'deliveries-endpoint' }),
    refresh: h('button', { type: 'button', id: 'deliveries-refresh', class: 'btn btn-ghost' }, icon('refresh'), h('span', { text: 'Refresh' })),
    alert: alertBox(),
    notice: statusBox(),
    older: h('button', { type: 'button', id: 'deliveries-older', class: 'btn', text: 'Older', hidden: true }),
    ...deliveriesTable(),
  };
  d.alert.id = 'deliveries-alert';
  const view = h('section', { class: 'view-deliveries', 'aria-labelledby': 'deliveries-title' },
    h('a', { class: 'back-link', href: '#/webhooks' }, '← ', h('span', { text: 'All webhooks' })),
    h('div', { class: 'view-head' }, h('div', {}, d.title, d.endpoint), d.refresh),
    d.alert,
    d.notice,
    d.tableWrap,
    h('div', { class: 'pager' }, d.older));
  container.append(view);
  d.refresh.addEventListener('click', () => busy(d.refresh, () => Promise.all([loadEndpoint(d), load(d, false)])));
  d.older.addEventListener('click', () => busy(d.older, () => load(d, true)));
  d.tbody.addEventListener('click', (e) => {
    const b = e.target.closest('button[data-action="retry"]');
    if (b) retry(d, b.closest('tr'), b);
  });
  d.title.focus();
  loadEndpoint(d);
  load(d, false);
  return {
    unmount() {
      d.destroyed = true;
      d.ctrl.abort();
      view.remove();
    },
  };
}

function deliveriesTable() {
  const tbody = h('tbody', {});
  const table = h('table', { id: 'deliveries-table', class: 'table' },
    h('caption', { class: 'sr-only', text: 'Deliveries, newest first' }),
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col', text: 'Event' }),
      h('th', { scope: 'col', text: 'Type' }),
      h('th', { scope: 'col', text: 'Status' }),
      h('th', { scope: 'col', text: 'Attempts' }),
      h('th', { scope: 'col', class: 'col-created', text: 'Last attempt' }),
      h('th', { scope: 'col', class: 'col-detail', text: 'Response' }),
      h('th', { scope: 'col', class: 'col-expires', text: 'Next attempt' }),
      h('th', { scope: 'col', class: 'col-actions' }, h('span', { class: 'sr-only', text: 'Actions' })))),
    tbody);
  return { tbody, table, tableWrap: h('div', { class: 'table-wrap' }, table) };
}

function rowFor(x) {
  const response = [
    x.last_status_code != null ? h('code', { text: `HTTP ${x.last_status_code}` }) : null,
    x.last_error ? h('span', { class: 'cell-sub', text: x.last_error }) : null,
  ].filter(Boolean);
  return h('tr', { class: 'delivery-row', dataset: { eventId: String(x.event_id), status: x.status } },
    h('td', { class: 'mono', text: `#${x.event_id}` }),
    h('td', {}, h('code', { text: x.event_type })),
    h('td', {}, badge(x.status, KINDS[x.status] || '')),
    h('td', { text: fmtNumber(x.attempts) }),
    h('td', { class: 'col-created' }, timeEl(x.last_attempt_at, true)),
    h('td', { class: 'col-detail' }, response.length ? response : h('span', { class: 'muted', text: '—' })),
    h('td', { class: 'col-expires' }, timeEl(x.next_attempt_at, true)),
    h('td', { class: 'col-actions' }, h('button', {
      type: 'button', class: 'btn btn-sm', dataset: { action: 'retry' }, text: 'Retry', 'aria-label': `Retry event #${x.event_id}`,
    })));
}

function emptyRow(text) {
  return h('tr', { class: 'empty-row' }, h('td', { colspan: '8' }, h('div', { class: 'empty', text })));
}

/** The endpoint's address, state and backlog above the table. */
async function loadEndpoint(d) {
  try {
    const hook = await api(`/webhooks/${encodeURIComponent(d.id)}`, { signal: d.ctrl.signal });
    if (d.destroyed) return;
    clear(d.endpoint).append(
      h('p', { class: 'deliveries-url' }, h('code', { text: hook.url }), ' ', stateBadge(hook)),
      h('p', { class: 'count', text: `${fmtNumber(hook.pending)} pending · delivered through #${hook.delivered_through ?? 0}` }),
      warningFor(hook) || '');
  } catch (err) {
    if (isAbort(err) || d.destroyed) return;
    d.alert.show(err.status === 404 ? 'This endpoint no longer exists.' : err.detail);
  }
}

/** Loads the newest page, or (`append`) the page older than the last row. */
async function load(d, append) {
  const my = ++d.seq;
  d.table.setAttribute('aria-busy', 'true');
  d.tableWrap.classList.add('is-loading');
  if (!append && !d.tbody.firstChild) d.tbody.append(emptyRow('Loading deliveries…'));
  try {
    const data = await api(`/webhooks/${encodeURIComponent(d.id)}/deliveries${qs({ limit: PAGE, before: append ? d.before : null })}`, { signal: d.ctrl.signal });
    if (my !== d.seq || d.destroyed) return;
    if (!append) clear(d.tbody);
    (data.items || []).forEach((x) => d.tbody.append(rowFor(x)));
    d.before = data.next_before ?? null;
    d.older.hidden = d.before === null;
    if (!d.tbody.querySelector('.delivery-row')) d.tbody.append(emptyRow('Nothing delivered yet: events after the endpoint was added show up here.'));
  } catch (err) {
    if (isAbort(err) || my !== d.seq || d.destroyed) return;
    if (!append) clear(d.tbody);
    d.alert.show(err.status === 404 ? 'This endpoint no longer exists.' : err.detail);
  } finally {
    if (my === d.seq && !d.destroyed) {
      d.table.setAttribute('aria-busy', 'false');
      d.tableWrap.classList.remove('is-loading');
    }
  }
}

async function retry(d, tr, b) {
  d.alert.hide();
  await busy(b, async () => {
    try {
      const x = await api(`/webhooks/${encodeURIComponent(d.id)}/deliveries/${encodeURIComponent(tr.dataset.eventId)}/retry`, { method: 'POST', signal: d.ctrl.signal });
      if (d.destroyed) return;
      const next = rowFor(x);
      tr.replaceWith(next);
      next.querySelector('[data-action="retry"]').focus();
      d.notice.flash(`Event #${x.event_id}: ${x.status}.`);
      loadEndpoint(d);
    } catch (err) {
      if (isAbort(err) || d.destroyed) return;
      d.alert.show(err.detail);
    }
  });
}
