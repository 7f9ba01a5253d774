// The Groups page's list: a search box (the group search; typo tolerant, and
// every group by name while empty), a table of groups (name linking to the
// group, description, roles granted, member count) and "Load more".
// A new search aborts the one in flight; answers for an older one are dropped.

import { api, qs, isAbort } from '/admin/js/api.js';
import { h, clear, icon, badge, plural, fmtNumber } from '/admin/js/dom.js';

const PAGE = 50;

/** The list's elements, spread into the page's view object `v`. */
export function listParts() {
  const search = h('input', {
    type: 'search',
    id: 'group-search',
    name: 'q',
    placeholder: 'Search names and descriptions…',
    autocomplete: 'off',
    spellcheck: 'false',
    maxlength: '200',
    'aria-controls': 'group-list',
  });
  const tbody = h('tbody', {});
  const table = h('table', { id: 'group-list', class: 'table' },
    h('caption', { class: 'sr-only', text: 'Groups' }),
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col', class: 'col-name', text: 'Name' }),
      h('th', { scope: 'col', class: 'col-detail', text: 'Description' }),
      h('th', { scope: 'col', text: 'Roles granted' }),
      h('th', { scope: 'col', class: 'col-count', text: 'Members' }))),
    tbody);
  return {
    search,
    searchBox: h('div', { class: 'toolbar', role: 'search' },
      h('div', { class: 'search-box' },
        h('label', { for: 'group-search', class: 'sr-only', text: 'Search groups' }),
        icon('search', 'icon search-icon'),
        search)),
    table,
    tbody,
    tableWrap: h('div', { class: 'table-wrap' }, table),
    count: h('p', { id: 'group-count', class: 'count', 'aria-live': 'polite' }),
    more: h('button', { type: 'button', id: 'group-more', class: 'btn', text: 'Load more', hidden: true }),
    // What the list shows: the query, how many hits the server has sent
    // (where "Load more" goes on) and how many match in all.
    q: '',
    offset: 0,
    total: null,
    loadCtrl: null,
    seq: 0,
  };
}

/** The roles a group grants, as badges ("none" when it grants none). */
function rolesBadges(roles) {
  if (!roles || !roles.length) return h('span', { class: 'muted', text: 'none' });
  return roles.map((r) => badge(r, r === 'admin' ? 'accent' : ''));
}

function rowFor(group) {
  return h('tr', { dataset: { id: group.id } },
    h('td', { class: 'col-name' },
      h('a', { class: 'group-link', href: `#/groups/${encodeURIComponent(group.id)}`, text: group.name })),
    h('td', { class: 'col-detail' }, group.description ? group.description : h('span', { class: 'muted', text: '—' })),
    h('td', { class: 'group-roles' }, rolesBadges(group.roles)),
    h('td', { class: 'col-count', dataset: { count: String(group.member_count) }, text: fmtNumber(group.member_count) }));
}

function emptyRow(text) {
  return h('tr', { class: 'empty-row' }, h('td', { colspan: '4' }, h('div', { class: 'empty', text })));
}

function showCount(v) {
  if (v.total === null) v.count.textContent = '';
  else v.count.textContent = v.q ? plural(v.total, 'match', 'matches') : plural(v.total, 'group', 'groups');
}

/**
 * Puts a group just created at the top of the list. Where the search has it
 * may be a page not loaded yet: "Load more" skips rows already shown.
 */
export function addRow(v, group) {
  const empty = v.tbody.querySelector('.empty-row');
  if (empty) empty.remove();
  v.tbody.prepend(rowFor(group));
  if (v.total !== null) v.total += 1;
  showCount(v);
}

/**
 * Loads the first page for the query in the search box, or (`append`) the
 * next one below; then focuses the link of group `focusId`, if given.
 */
export async function load(v, { append = false, focusId = null } = {}) {
  if (v.loadCtrl) v.loadCtrl.abort();
  v.loadCtrl = new AbortController();
  const { signal } = v.loadCtrl;
  const my = ++v.seq;
  if (!append) v.q = v.search.value.trim();
  v.table.setAttribute('aria-busy', 'true');
  v.tableWrap.classList.add('is-loading');
  if (!v.tbody.firstChild) v.tbody.append(emptyRow('Loading groups…'));
  try {
    const res = await api(`/groups/search${qs({ q: v.q, limit: PAGE, offset: append ? v.offset : 0 })}`, { signal });
    if (my !== v.seq || v.destroyed) return;
    v.listAlert.hide();
    if (!append) {
      clear(v.tbody);
      v.offset = 0;
    }
    const seen = new Set([...v.tbody.querySelectorAll('tr[data-id]')].map((tr) => tr.dataset.id));
    for (const { group } of res.hits || []) {
      if (!seen.has(group.id)) v.tbody.append(rowFor(group));
    }
    v.offset += (res.hits || []).length;
    v.total = res.total;
    v.more.hidden = v.offset >= res.total;
    if (!v.tbody.querySelector('tr[data-id]')) {
      v.tbody.append(emptyRow(v.q ? `No groups match “${v.q}”.` : 'No groups yet. Create the first one above.'));
    }
    showCount(v);
    const link = focusId && v.tbody.querySelector(`tr[data-id="${CSS.escape(focusId)}"] .group-link`);
    if (focusId) (link || v.search).focus();
  } catch (err) {
    if (isAbort(err) || my !== v.seq || v.destroyed) return;
    if (!append) clear(v.tbody).append(emptyRow('Could not load groups.'));
    v.listAlert.show(err.detail);
  } finally {
    if (my === v.seq && !v.destroyed) {
      v.table.setAttribute('aria-busy', 'false');
      v.tableWrap.classList.remove('is-loading');
    }
  }
}
