// #/users: search-as-you-type, filters with facet counts, cursor paging for
// browsing (list endpoint) and offset paging for queries (search endpoint).
// This file builds the view, wires its controls and links it with the user
// panel and the route; the parts live in js/views/users/.
//
// They share one view object, `v`:
//   st       what the page shows: q, status, role, listSort, searchSort,
//            cursors (the previous pages' cursors), cursor (this page's;
//            null: the first), next, offset, total, rows
//   ui       the elements (see buildUi)
//   ctrl, seq      the load in flight (aborted by the next one) and its number
//   destroyed      set on unmount; late answers are dropped
//   onType         the debounced search-as-you-type handler
//   panel          the user panel (user-panel.js)
//   pendingNotice  shown in the panel the next time it opens a user
//   panelReturn    where focus goes when the panel closes and its row is gone

import { h, icon, plural, debounce, alertBox, statusBox } from '/admin/js/dom.js';
import { createPanel } from '/admin/js/views/user-panel.js';
import { buildToolbar, fillSorts } from '/admin/js/views/users/toolbar.js';
import { buildTable, rowFor, emptyRow, rowById, wireRows } from '/admin/js/views/users/table.js';
import { buildPager, resetPaging, pageBack, pageForward } from '/admin/js/views/users/pager.js';
import { load } from '/admin/js/views/users/load.js';

export function mount(container, arg) {
  const v = {
    st: {
      q: '',
      status: '',
      role: '',
      listSort: '-created_at',
      searchSort: 'relevance',
      cursors: [],
      cursor: null,
      next: null,
      offset: 0,
      total: null,
      rows: 0,
    },
    ui: buildUi(),
    ctrl: null,
    seq: 0,
    destroyed: false,
    onType: null,
    panel: null,
    pendingNotice: '',
    panelReturn: null,
  };
  container.append(v.ui.view);
  wireRows(v.ui.tbody, (tr) => openRow(v, tr));
  wireQuery(v);
  wirePager(v);
  v.ui.newBtn.addEventListener('click', () => {
    if (location.hash !== '#/users') history.replaceState(null, '', '#/users');
    v.panel.openCreate(v.ui.newBtn);
  });
  v.panel = createPanel(panelHooks(v));

  fillSorts(v.ui, v.st);
  load(v);
  route(v, arg);

  return {
    update(id) {
      route(v, id);
    },
    unmount() {
      v.destroyed = true;
      if (v.ctrl) v.ctrl.abort();
      v.onType.cancel();
      v.panel.destroy();
      v.ui.view.remove();
    },
  };
}

/** The view's elements: head (title, count, "New user"), toolbar, table, pager. */
function buildUi() {
  const bar = buildToolbar();
  const tbl = buildTable();
  const pg = buildPager();
  const count = h('p', { id: 'user-count', class: 'count', 'aria-live': 'polite' });
  const newBtn = h('button', { type: 'button', id: 'new-user', class: 'btn btn-primary' }, icon('plus'), h('span', { text: 'New user' }));
  const alert = alertBox();
  const notice = statusBox('notice-float');
  const view = h('section', { class: 'view view-users', 'aria-labelledby': 'users-title' },
    h('div', { class: 'view-head' },
      h('div', {}, h('h1', { id: 'users-title', text: 'Users' }), count),
      newBtn),
    bar.toolbar,
    alert,
    notice,
    tbl.tableWrap,
    pg.pager,
    pg.pageHint);
  return { view, count, newBtn, alert, notice, ...bar, ...tbl, ...pg };
}

/** The search box (as you type, or at once on Enter), the filters and the sort. */
function wireQuery(v) {
  const { st, ui } = v;
  const setQuery = (q) => {
    if (q === st.q) return;
    st.q = q;
    resetPaging(st);
    load(v);
  };
  v.onType = debounce(() => setQuery(ui.search.value.trim()), 150);
  ui.search.addEventListener('input', v.onType);
  ui.search.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      v.onType.cancel();
      setQuery(ui.search.value.trim());
    }
  });
  const refilter = (apply) => () => {
    apply();
    resetPaging(st);
    load(v);
  };
  ui.statusSel.addEventListener('change', refilter(() => { st.status = ui.statusSel.value; }));
  ui.roleSel.addEventListener('change', refilter(() => { st.role = ui.roleSel.value; }));
  ui.sortSel.addEventListener('change', refilter(() => {
    if (st.q) st.searchSort = ui.sortSel.value;
    else st.listSort = ui.sortSel.value;
  }));
}

function wirePager(v) {
  const { st, ui } = v;
  const turn = () => load(v).then(() => ui.table.scrollIntoView({ block: 'nearest' }));
  ui.prev.addEventListener('click', () => {
    pageBack(st);
    turn();
  });
  ui.next.addEventListener('click', () => {
    if (pageForward(st)) turn();
  });
}

/** Opens a row's user through the route (or directly, if the route is already there). */
function openRow(v, tr) {
  tr.focus();
  const target = `#/users/${encodeURIComponent(tr.dataset.id)}`;
  if (location.hash === target) v.panel.openUser(tr.dataset.id, tr);
  else location.hash = target;
}

/** #/users/<id> opens that user, #/users/new the create form, #/users closes the panel. */
function route(v, id) {
  const { ui, panel } = v;
  if (id && id !== 'new') {
    const notice = v.pendingNotice;
    v.pendingNotice = '';
    const row = rowById(ui.tbody, id);
    const active = document.activeElement;
    const returnTo = active && active !== document.body && !active.closest('#user-panel') ? active : row || ui.search;
    panel.openUser(id, returnTo, { notice });
  } else if (id === 'new') {
    history.replaceState(null, '', '#/users');
    panel.openCreate(ui.newBtn);
  } else if (panel.isOpen) {
    panel.close({ fromRoute: true });
  }
}

/** What the panel tells the view: the table follows saves, creates and deletes. */
function panelHooks(v) {
  const { st, ui } = v;
  return {
    onSaved(user) {
      const old = rowById(ui.tbody, user.id);
      if (old) old.replaceWith(rowFor(user));
    },
    onCreated(user) {
      v.pendingNotice = 'User created.';
      resetPaging(st);
      load(v);
      location.hash = `#/users/${encodeURIComponent(user.id)}`;
      ui.notice.flash(`Created ${user.email}.`);
    },
    onDeleted(id, { email, silent } = {}) {
      removeRow(v, id);
      if (!silent && email) ui.notice.flash(`Deleted ${email}.`);
    },
    onClose(info) {
      afterClose(v, info);
    },
  };
}

/** Takes a deleted user's row off the page; its neighbour will get the focus. */
function removeRow(v, id) {
  const { st, ui } = v;
  const row = rowById(ui.tbody, id);
  if (!row) return;
  const sib = row.nextElementSibling || row.previousElementSibling;
  row.remove();
  if (sib && sib.dataset.id) v.panelReturn = sib;
  if (st.total !== null && st.total > 0) {
    st.total -= 1;
    ui.count.textContent = st.q ? plural(st.total, 'match', 'matches') : plural(st.total, 'user', 'users');
  }
  if (!ui.tbody.querySelector('tr[data-id]')) ui.tbody.append(emptyRow('No users on this page.'));
}

/**
 * After the panel closes: back to #/users (unless the route closed it), and
 * the focus to where the panel was opened from, else the user's row, else
 * the deleted row's neighbour, else the search box.
 */
function afterClose(v, { fromRoute, id, returnFocus }) {
  const { ui } = v;
  if (!fromRoute && location.hash.startsWith('#/users/')) {
    history.replaceState(null, '', '#/users');
  }
  let target = returnFocus && returnFocus !== ui.search && returnFocus.isConnected && !returnFocus.closest('#user-panel') ? returnFocus : null;
  if (!target && id) target = rowById(ui.tbody, id);
  if (!target && v.panelReturn && v.panelReturn.isConnected) target = v.panelReturn;
  v.panelReturn = null;
  (target || ui.search).focus();
}
