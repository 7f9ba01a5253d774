// #/users: search-as-you-type, filters with facet counts, cursor paging for
// browsing (list endpoint) and offset paging for queries (search endpoint).

import { api, qs, isAbort } from '/admin/js/api.js';
import { h, clear, icon, highlighted, timeEl, badge, plural, fmtNumber, fmtMs, debounce, alertBox, statusBox } from '/admin/js/dom.js';
import { createPanel } from '/admin/js/views/user-panel.js';

const PAGE = 50;
const OFFSET_MAX = 10000;

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

const COLUMNS = [
  ['name', 'Name', 'col-name'],
  ['email', 'Email', 'col-email'],
  ['username', 'Username', 'col-username'],
  ['roles', 'Roles', 'col-roles'],
  ['status', 'Status', 'col-status'],
  ['created', 'Created', 'col-created'],
];

export function mount(container, arg) {
  const st = {
    q: '',
    status: '',
    role: '',
    listSort: '-created_at',
    searchSort: 'relevance',
    cursors: [], // stack of cursors of the previous pages
    cursor: null, // the cursor of the current page (null: first)
    next: null,
    offset: 0,
    total: null,
    rows: 0,
  };
  const users = new Map();
  let ctrl = null;
  let seq = 0;
  let pendingNotice = '';
  let destroyed = false;

  // --- toolbar ---------------------------------------------------------------

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
  const count = h('p', { id: 'user-count', class: 'count', 'aria-live': 'polite' });
  const newBtn = h('button', { type: 'button', id: 'new-user', class: 'btn btn-primary' }, icon('plus'), h('span', { text: 'New user' }));
  const alert = alertBox();
  const notice = statusBox('notice-float');

  const thead = h('thead', {}, h('tr', {}, COLUMNS.map(([, label, cls]) => h('th', { scope: 'col', class: cls, text: label }))));
  const tbody = h('tbody', {});
  const table = h('table', { id: 'users-table', class: 'table table-click' },
    h('caption', { class: 'sr-only', text: 'Users' }), thead, tbody);
  const tableWrap = h('div', { class: 'table-wrap' }, table);

  const prev = h('button', { type: 'button', id: 'page-prev', class: 'btn btn-sm', text: '← Previous', disabled: true });
  const next = h('button', { type: 'button', id: 'page-next', class: 'btn btn-sm', text: 'Next →', disabled: true });
  const pageInfo = h('span', { class: 'page-info muted' });
  const pageHint = h('p', { class: 'hint page-hint', hidden: true });
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages of users' }, prev, pageInfo, next);

  const searchIcon = icon('search', 'icon search-icon');
  const view = h('section', { class: 'view view-users', 'aria-labelledby': 'users-title' },
    h('div', { class: 'view-head' },
      h('div', {}, h('h1', { id: 'users-title', text: 'Users' }), count),
      newBtn),
    h('div', { class: 'toolbar' },
      h('div', { class: 'search-box' },
        h('label', { for: 'user-search', class: 'sr-only', text: 'Search users' }),
        searchIcon,
        search),
      h('div', { class: 'filters' },
        h('div', { class: 'filter' }, h('label', { for: 'status-filter', text: 'Status' }), statusSel),
        h('div', { class: 'filter' }, h('label', { for: 'role-filter', text: 'Role' }), roleSel),
        h('div', { class: 'filter' }, h('label', { for: 'user-sort', text: 'Sort' }), sortSel))),
    alert,
    notice,
    tableWrap,
    pager,
    pageHint);
  container.append(view);

  function fillSorts() {
    const searching = !!st.q;
    const opts = searching ? SEARCH_SORTS : LIST_SORTS;
    const value = searching ? st.searchSort : st.listSort;
    if (sortSel.dataset.mode !== (searching ? 'search' : 'list')) {
      clear(sortSel).append(...opts.map(([v, label]) => h('option', { value: v, text: label })));
      sortSel.dataset.mode = searching ? 'search' : 'list';
    }
    sortSel.value = value;
  }

  function setFacetLabels(facets) {
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

  // --- rows --------------------------------------------------------------------

  function cellText(value, hl) {
    if (hl) return highlighted(hl);
    if (value === null || value === undefined || value === '') return h('span', { class: 'muted', text: '—' });
    return document.createTextNode(value);
  }

  function rowFor(user, hl = {}) {
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

  function emptyRow(text) {
    return h('tr', { class: 'empty-row' }, h('td', { colspan: String(COLUMNS.length) }, h('div', { class: 'empty' }, text)));
  }

  tbody.addEventListener('click', (e) => {
    const tr = e.target.closest('tr[data-id]');
    if (tr) openRow(tr);
  });
  tbody.addEventListener('keydown', (e) => {
    const tr = e.target.closest('tr[data-id]');
    if (!tr || e.target !== tr) return;
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      openRow(tr);
    } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      const sib = e.key === 'ArrowDown' ? tr.nextElementSibling : tr.previousElementSibling;
      if (sib && sib.dataset.id) sib.focus();
    }
  });

  function openRow(tr) {
    tr.focus();
    const target = `#/users/${encodeURIComponent(tr.dataset.id)}`;
    if (location.hash === target) panel.openUser(tr.dataset.id, tr);
    else location.hash = target;
  }

  // --- loading -------------------------------------------------------------------

  function setLoading(on) {
    tableWrap.classList.toggle('is-loading', on);
    table.setAttribute('aria-busy', on ? 'true' : 'false');
    if (on) {
      prev.disabled = true;
      next.disabled = true;
      if (!tbody.querySelector('tr')) tbody.append(h('tr', { class: 'empty-row' }, h('td', { colspan: String(COLUMNS.length) }, h('div', { class: 'empty', text: 'Loading users…' }))));
    }
  }

  async function load() {
    if (ctrl) ctrl.abort();
    ctrl = new AbortController();
    const signal = ctrl.signal;
    const my = ++seq;
    fillSorts();
    setLoading(true);
    alert.hide();
    try {
      if (st.q) await loadSearch(my, signal);
      else await loadList(my, signal);
    } catch (e) {
      if (isAbort(e) || my !== seq || destroyed) return;
      clear(tbody).append(emptyRow(e.status === 503 ? 'Search is not available right now.' : 'Could not load users.'));
      alert.show(e.detail);
      count.textContent = '';
      pageInfo.textContent = '';
    } finally {
      if (my === seq && !destroyed) setLoading(false);
    }
  }

  async function loadSearch(my, signal) {
    const res = await api(`/users/search${qs({
      q: st.q,
      status: st.status,
      role: st.role,
      sort: st.searchSort,
      limit: PAGE,
      offset: st.offset,
      facets: 'status,roles',
    })}`, { signal });
    if (my !== seq || destroyed) return;
    users.clear();
    clear(tbody);
    for (const hit of res.hits || []) {
      users.set(hit.user.id, hit.user);
      tbody.append(rowFor(hit.user, hit.highlights || {}));
    }
    st.total = res.total;
    st.rows = (res.hits || []).length;
    if (!st.rows) tbody.append(emptyRow(st.offset ? 'No more matches.' : `No users match “${st.q}”.`));
    setFacetLabels(res.facets);
    count.textContent = `${plural(res.total, 'match', 'matches')} in ${fmtMs(res.took_ms)} ms`;
    const from = st.rows ? st.offset + 1 : 0;
    const to = st.offset + st.rows;
    pageInfo.textContent = st.rows ? `${fmtNumber(from)}–${fmtNumber(to)} of ${fmtNumber(res.total)}` : '';
    prev.disabled = st.offset === 0;
    const nextOffset = st.offset + PAGE;
    const more = nextOffset < res.total;
    const capped = more && nextOffset > OFFSET_MAX;
    next.disabled = !more || capped;
    pageHint.hidden = !capped;
    pageHint.textContent = capped ? `Search shows the first ${fmtNumber(OFFSET_MAX)} matches; refine the query or add filters to see the rest.` : '';
  }

  async function loadList(my, signal) {
    const filters = { status: st.status, role: st.role };
    const listP = api(`/users${qs({ ...filters, sort: st.listSort, limit: PAGE, cursor: st.cursor })}`, { signal });
    // Facet counts and the total come from one cheap search call.
    const facetP = api(`/users/search${qs({ q: '', ...filters, facets: 'status,roles', limit: 1 })}`, { signal })
      .catch((e) => {
        if (isAbort(e)) throw e;
        return null;
      });
    const [list, facets] = await Promise.all([listP, facetP]);
    if (my !== seq || destroyed) return;
    users.clear();
    clear(tbody);
    for (const u of list.items || []) {
      users.set(u.id, u);
      tbody.append(rowFor(u));
    }
    st.rows = (list.items || []).length;
    st.next = list.next_cursor || null;
    st.total = facets ? facets.total : null;
    if (!st.rows) {
      const filtered = st.status || st.role;
      tbody.append(emptyRow(st.next ? 'No matching users in this stretch; press Next to keep looking.'
        : st.cursors.length ? 'No more users.'
          : filtered ? 'No users match these filters.' : 'No users yet. Create the first one with “New user”.'));
    }
    setFacetLabels(facets && facets.facets);
    count.textContent = st.total === null ? `${plural(st.rows, 'user', 'users')} on this page` : plural(st.total, 'user', 'users');
    const page = st.cursors.length + 1;
    pageInfo.textContent = st.rows ? `Page ${fmtNumber(page)}` : '';
    prev.disabled = st.cursors.length === 0;
    next.disabled = !st.next;
    pageHint.hidden = true;
  }

  function resetPaging() {
    st.cursors = [];
    st.cursor = null;
    st.next = null;
    st.offset = 0;
  }

  // --- events ----------------------------------------------------------------------

  const onType = debounce(() => {
    const q = search.value.trim();
    if (q === st.q) return;
    st.q = q;
    resetPaging();
    load();
  }, 150);
  search.addEventListener('input', onType);
  search.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      onType.cancel();
      const q = search.value.trim();
      if (q !== st.q) {
        st.q = q;
        resetPaging();
        load();
      }
    }
  });
  statusSel.addEventListener('change', () => {
    st.status = statusSel.value;
    resetPaging();
    load();
  });
  roleSel.addEventListener('change', () => {
    st.role = roleSel.value;
    resetPaging();
    load();
  });
  sortSel.addEventListener('change', () => {
    if (st.q) st.searchSort = sortSel.value;
    else st.listSort = sortSel.value;
    resetPaging();
    load();
  });
  prev.addEventListener('click', () => {
    if (st.q) st.offset = Math.max(0, st.offset - PAGE);
    else st.cursor = st.cursors.pop() ?? null;
    load().then(() => table.scrollIntoView({ block: 'nearest' }));
  });
  next.addEventListener('click', () => {
    if (st.q) {
      st.offset = Math.min(OFFSET_MAX, st.offset + PAGE);
    } else {
      if (!st.next) return;
      st.cursors.push(st.cursor);
      st.cursor = st.next;
    }
    load().then(() => table.scrollIntoView({ block: 'nearest' }));
  });
  newBtn.addEventListener('click', () => {
    if (location.hash !== '#/users') history.replaceState(null, '', '#/users');
    panel.openCreate(newBtn);
  });

  // --- the panel -----------------------------------------------------------------------

  const panel = createPanel({
    onSaved(user) {
      users.set(user.id, user);
      const old = tbody.querySelector(`tr[data-id="${CSS.escape(user.id)}"]`);
      if (old) old.replaceWith(rowFor(user));
    },
    onCreated(user) {
      pendingNotice = 'User created.';
      resetPaging();
      load();
      location.hash = `#/users/${encodeURIComponent(user.id)}`;
      notice.flash(`Created ${user.email}.`);
    },
    onDeleted(id, { email, silent } = {}) {
      users.delete(id);
      const row = tbody.querySelector(`tr[data-id="${CSS.escape(id)}"]`);
      if (row) {
        const sib = row.nextElementSibling || row.previousElementSibling;
        row.remove();
        if (sib && sib.dataset.id) panelReturn = sib;
        if (st.total !== null && st.total > 0) {
          st.total -= 1;
          count.textContent = st.q ? plural(st.total, 'match', 'matches') : plural(st.total, 'user', 'users');
        }
        if (!tbody.querySelector('tr[data-id]')) tbody.append(emptyRow('No users on this page.'));
      }
      if (!silent && email) notice.flash(`Deleted ${email}.`);
    },
    onClose({ fromRoute, id, returnFocus }) {
      if (!fromRoute && location.hash.startsWith('#/users/')) {
        history.replaceState(null, '', '#/users');
      }
      let target = returnFocus && returnFocus !== search && returnFocus.isConnected && !returnFocus.closest('#user-panel') ? returnFocus : null;
      if (!target && id) target = tbody.querySelector(`tr[data-id="${CSS.escape(id)}"]`);
      if (!target && panelReturn && panelReturn.isConnected) target = panelReturn;
      panelReturn = null;
      (target || search).focus();
    },
  });
  let panelReturn = null;

  function route(id) {
    if (id && id !== 'new') {
      const notice2 = pendingNotice;
      pendingNotice = '';
      const row = tbody.querySelector(`tr[data-id="${CSS.escape(id)}"]`);
      const active = document.activeElement;
      const returnTo = active && active !== document.body && !active.closest('#user-panel') ? active : row || search;
      panel.openUser(id, returnTo, { notice: notice2 });
    } else if (id === 'new') {
      history.replaceState(null, '', '#/users');
      panel.openCreate(newBtn);
    } else if (panel.isOpen) {
      panel.close({ fromRoute: true });
    }
  }

  fillSorts();
  load();
  route(arg);

  return {
    update(id) {
      route(id);
    },
    unmount() {
      destroyed = true;
      if (ctrl) ctrl.abort();
      onType.cancel();
      panel.destroy();
      view.remove();
    },
  };
}
