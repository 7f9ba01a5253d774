// The users table: one row per user (search highlights in the cells), and
// the rows' keyboard behaviour (Enter or Space opens, arrows move).

import { h, highlighted, timeEl, badge } from '/admin/js/dom.js';

const COLUMNS = [
  ['name', 'Name', 'col-name'],
  ['email', 'Email', 'col-email'],
  ['username', 'Username', 'col-username'],
  ['roles', 'Roles', 'col-roles'],
  ['status', 'Status', 'col-status'],
  ['created', 'Created', 'col-created'],
];

/** The (empty) table, its body and the wrapper that scrolls it. */
export function buildTable() {
  const thead = h('thead', {}, h('tr', {}, COLUMNS.map(([, label, cls]) => h('th', { scope: 'col', class: cls, text: label }))));
  const tbody = h('tbody', {});
  const table = h('table', { id: 'users-table', class: 'table table-click' },
    h('caption', { class: 'sr-only', text: 'Users' }), thead, tbody);
  const tableWrap = h('div', { class: 'table-wrap' }, table);
  return { table, tbody, tableWrap };
}

function cellText(value, hl) {
  if (hl) return highlighted(hl);
  if (value === null || value === undefined || value === '') return h('span', { class: 'muted', text: '—' });
  return document.createTextNode(value);
}

/** The row for `user`; `hl` maps field names to the search's highlights. */
export function rowFor(user, hl = {}) {
  const attrHits = Object.entries(hl || {}).filter(([k]) => k.startsWith('attributes.'));
  const tr = h('tr', { tabindex: '0', dataset: { id: user.id }, 'aria-label': `${user.name || user.email}, open details` });
  tr.append(
    h('td', { class: 'col-name' },
      h('span', { class: 'cell-main' }, cellText(user.name, hl.name)),
      attrHits.map(([k, v]) => h('span', { class: 'cell-sub' }, h('span', { class: 'muted', text: `${k.slice(11)}: ` }), highlighted(v)))),
    h('td', { class: 'col-email' }, h('span', { class: 'cell-main' }, cellText(user.email, hl.email)), user.email_verified ? null : h('span', { class: 'cell-sub muted', text: 'unverified' })),
    h('td', { class: 'col-username' }, cellText(user.username, hl.username)),
    h('td', { class: 'col-roles' }, (user.roles || []).map((r) => badge(r, r === 'admin' ? 'accent' : ''))),
    h('td', { class: 'col-status' }, badge(user.status, user.status === 'active' ? 'ok' : 'off')),
    h('td', { class: 'col-created' }, timeEl(user.created_at)));
  return tr;
}

/** A row across all columns that says `text` (no users, loading, an error). */
export function emptyRow(text) {
  return h('tr', { class: 'empty-row' }, h('td', { colspan: String(COLUMNS.length) }, h('div', { class: 'empty' }, text)));
}

/** The row of user `id`, if this page shows it. */
export function rowById(tbody, id) {
  return tbody.querySelector(`tr[data-id="${CSS.escape(id)}"]`);
}

/** Click, Enter or Space on a row calls `open(tr)`; Up and Down move between rows. */
export function wireRows(tbody, open) {
  tbody.addEventListener('click', (e) => {
    const tr = e.target.closest('tr[data-id]');
    if (tr) open(tr);
  });
  tbody.addEventListener('keydown', (e) => {
    const tr = e.target.closest('tr[data-id]');
    if (!tr || e.target !== tr) return;
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      open(tr);
    } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      const sib = e.key === 'ArrowDown' ? tr.nextElementSibling : tr.previousElementSibling;
      if (sib && sib.dataset.id) sib.focus();
    }
  });
}
