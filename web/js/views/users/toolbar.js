// The users view's toolbar: the search box, the status and role filters
// (their options show facet counts) and the sort menu, whose choices depend
// on whether a query is typed.

import { h, clear, icon, fmtNumber } from '/admin/js/dom.js';

const LIST_SORTS = [
  ['-created_at', 'Newest first'],
  ['created_at', 'Oldest first'],
  ['email', 'Email (A–Z)'],
];
const SEARCH_SORTS = [
  ['relevance', 'Best match'],
  ['-created_at', 'Newest first'],
  ['created_at', 'Oldest first'],
  ['name', 'Name (A–Z)'],
];

/** The toolbar element and its controls. */
export function buildToolbar() {
  const search = h('input', {
    type: 'search',
    id: 'user-search',
    name: 'q',
    placeholder: 'Search name, email, username, attributes…',
    autocomplete: 'off',
    spellcheck: 'false',
    maxlength: '512',
    'aria-controls': 'users-table',
  });
  const statusSel = h('select', { id: 'status-filter', name: 'status' },
    h('option', { value: '', text: 'All' }),
    h('option', { value: 'active', text: 'active' }),
    h('option', { value: 'disabled', text: 'disabled' }));
  const roleSel = h('select', { id: 'role-filter', name: 'role' },
    h('option', { value: '', text: 'All' }),
    h('option', { value: 'admin', text: 'admin' }),
    h('option', { value: 'user', text: 'user' }));
  const sortSel = h('select', { id: 'user-sort', name: 'sort' });
  const toolbar = h('div', { class: 'toolbar' },
    h('div', { class: 'search-box' },
      h('label', { for: 'user-search', class: 'sr-only', text: 'Search users' }),
      icon('search', 'icon search-icon'),
      search),
    h('div', { class: 'filters' },
      h('div', { class: 'filter' }, h('label', { for: 'status-filter', text: 'Status' }), statusSel),
      h('div', { class: 'filter' }, h('label', { for: 'role-filter', text: 'Role' }), roleSel),
      h('div', { class: 'filter' }, h('label', { for: 'user-sort', text: 'Sort' }), sortSel)));
  return { toolbar, search, statusSel, roleSel, sortSel };
}

/** Offers the sorts for browsing or for a query (`st.q`), with st's choice selected. */
export function fillSorts({ sortSel }, st) {
  const searching = !!st.q;
  const opts = searching ? SEARCH_SORTS : LIST_SORTS;
  const value = searching ? st.searchSort : st.listSort;
  if (sortSel.dataset.mode !== (searching ? 'search' : 'list')) {
    clear(sortSel).append(...opts.map(([v, label]) => h('option', { value: v, text: label })));
    sortSel.dataset.mode = searching ? 'search' : 'list';
  }
  sortSel.value = value;
}

/** Puts the counts of `facets` ({status, roles}; null: none) into the filters' options. */
export function setFacetLabels({ statusSel, roleSel }, facets) {
  const label = (sel, counts) => {
    for (const opt of sel.options) {
      if (!opt.value) continue;
      const n = counts && counts[opt.value];
      opt.textContent = n === undefined || n === null ? opt.value : `${opt.value} (${fmtNumber(n)})`;
    }
  };
  label(statusSel, facets && facets.status);
  label(roleSel, facets && facets.roles);
}
