// Loading a page of users into the view: the search endpoint when a query is
// typed, else the list endpoint plus one cheap search for the facet counts.
// A new load aborts the one in flight; answers for an older load are dropped.

import { api, qs, isAbort } from '/admin/js/api.js';
import { clear, plural, fmtMs } from '/admin/js/dom.js';
import { fillSorts, setFacetLabels } from '/admin/js/views/users/toolbar.js';
import { rowFor, emptyRow } from '/admin/js/views/users/table.js';
import { PAGE, showSearchPaging, showListPaging } from '/admin/js/views/users/pager.js';

/** Loads the page `v.st` asks for (see users.js for the view object `v`). */
export async function load(v) {
  const { st, ui } = v;
  if (v.ctrl) v.ctrl.abort();
  v.ctrl = new AbortController();
  const signal = v.ctrl.signal;
  const my = ++v.seq;
  fillSorts(ui, st);
  setLoading(ui, true);
  ui.alert.hide();
  try {
    if (st.q) await loadSearch(v, my, signal);
    else await loadList(v, my, signal);
  } catch (e) {
    if (isAbort(e) || !current(v, my)) return;
    clear(ui.tbody).append(emptyRow(e.status === 503 ? 'Search is not available right now.' : 'Could not load users.'));
    ui.alert.show(e.detail);
    ui.count.textContent = '';
    ui.pageInfo.textContent = '';
  } finally {
    if (current(v, my)) setLoading(ui, false);
  }
}

/** True while load number `my` is the latest and the view is mounted. */
function current(v, my) {
  return my === v.seq && !v.destroyed;
}

function setLoading({ table, tableWrap, tbody, prev, next }, on) {
  tableWrap.classList.toggle('is-loading', on);
  table.setAttribute('aria-busy', on ? 'true' : 'false');
  if (on) {
    prev.disabled = true;
    next.disabled = true;
    if (!tbody.querySelector('tr')) tbody.append(emptyRow('Loading users…'));
  }
}

async function loadSearch(v, my, signal) {
  const { st, ui } = v;
  const res = await api(`/users/search${qs({
    q: st.q,
    status: st.status,
    role: st.role,
    sort: st.searchSort,
    limit: PAGE,
    offset: st.offset,
    facets: 'status,roles',
  })}`, { signal });
  if (!current(v, my)) return;
  const hits = res.hits || [];
  clear(ui.tbody);
  for (const hit of hits) ui.tbody.append(rowFor(hit.user, hit.highlights || {}));
  st.total = res.total;
  st.rows = hits.length;
  if (!st.rows) ui.tbody.append(emptyRow(st.offset ? 'No more matches.' : `No users match “${st.q}”.`));
  setFacetLabels(ui, res.facets);
  ui.count.textContent = `${plural(res.total, 'match', 'matches')} in ${fmtMs(res.took_ms)} ms`;
  showSearchPaging(ui, st);
}

async function loadList(v, my, signal) {
  const { st, ui } = v;
  const filters = { status: st.status, role: st.role };
  const listP = api(`/users${qs({ ...filters, sort: st.listSort, limit: PAGE, cursor: st.cursor })}`, { signal });
  // Facet counts and the total come from one cheap search call.
  const facetP = api(`/users/search${qs({ q: '', ...filters, facets: 'status,roles', limit: 1 })}`, { signal })
    .catch((e) => {
      if (isAbort(e)) throw e;
      return null;
    });
  const [list, facets] = await Promise.all([listP, facetP]);
  if (!current(v, my)) return;
  const items = list.items || [];
  clear(ui.tbody);
  for (const u of items) ui.tbody.append(rowFor(u));
  st.rows = items.length;
  st.next = list.next_cursor || null;
  st.total = facets ? facets.total : null;
  if (!st.rows) ui.tbody.append(emptyRow(emptyListText(st)));
  setFacetLabels(ui, facets && facets.facets);
  ui.count.textContent = st.total === null ? `${plural(st.rows, 'user', 'users')} on this page` : plural(st.total, 'user', 'users');
  showListPaging(ui, st);
}

function emptyListText(st) {
  if (st.next) return 'No matching users in this stretch; press Next to keep looking.';
  if (st.cursors.length) return 'No more users.';
  if (st.status || st.role) return 'No users match these filters.';
  return 'No users yet. Create the first one with “New user”.';
}
